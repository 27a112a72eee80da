//! The roll over gRPC: streamed in chunks of whole households, the totals in the last.

use crate::error::Result;
use crate::roll::ops::{HouseholdRoll, RollBuilder, RollLine};
use crate::service::EligibilityService;
use crate::staff::rules::Scope;
use doudi_core::policy::PolicySet;
use doudi_proto::eligibility::v1 as pb;
use doudi_runtime::access::Caller;
use std::sync::Arc;

/// Households per chunk of a streamed roll.
const ROLL_CHUNK_HOUSEHOLDS: usize = 1_000;

fn roll_line(line: &RollLine) -> pb::RollLine {
    pb::RollLine {
        household_no: line.household_no.clone(),
        national_id: line.national_id.clone(),
        category: pb::Category::from(line.decision.category) as i32,
        amount_fen: line.decision.amount.0,
        review_due: line.decision.suspended_since_due.map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// Gathers finished households into chunks of `ROLL_CHUNK_HOUSEHOLDS` paid households (their lines
/// travel with them); the last chunk carries the totals.
pub struct Chunker {
    chunk: pb::BenefitRollChunk,
    reveal_accounts: bool,
    total_fen: i64,
    paid_persons: i64,
    suspended_persons: i64,
}

impl Chunker {
    pub fn new(month: String, policy_version: String, reveal_accounts: bool) -> Self {
        let chunk = pb::BenefitRollChunk { month, policy_version, ..Default::default() };
        Self { chunk, reveal_accounts, total_fen: 0, paid_persons: 0, suspended_persons: 0 }
    }

    fn empty(&self) -> pb::BenefitRollChunk {
        pb::BenefitRollChunk {
            month: self.chunk.month.clone(),
            policy_version: self.chunk.policy_version.clone(),
            ..Default::default()
        }
    }

    /// Adds a household; returns a full chunk to send.
    pub fn add(&mut self, household: HouseholdRoll) -> Option<pb::BenefitRollChunk> {
        if let Some(h) = &household.payment {
            self.chunk.households.push(pb::HouseholdPayment {
                household_no: h.household_no.clone(),
                account: h.account.clone().unwrap_or_default(),
                account_number: match (&h.account_number, self.reveal_accounts) {
                    (Some(account), true) => account.expose().to_owned(),
                    _ => String::new(),
                },
                dibao_fen: h.dibao_fen.0,
                tekun_fen: h.tekun_fen.0,
            });
        }
        self.total_fen += household.lines.iter().map(|l| l.decision.amount.0).sum::<i64>();
        self.paid_persons += household.lines.len() as i64;
        self.suspended_persons += household.suspended.len() as i64;
        self.chunk.lines.extend(household.lines.iter().map(roll_line));
        self.chunk.suspended.extend(household.suspended.iter().map(roll_line));
        if self.chunk.households.len() == ROLL_CHUNK_HOUSEHOLDS {
            let next = self.empty();
            return Some(std::mem::replace(&mut self.chunk, next));
        }
        None
    }

    pub fn finish(mut self) -> pb::BenefitRollChunk {
        self.chunk.last = true;
        self.chunk.total_fen = self.total_fen;
        self.chunk.paid_persons = self.paid_persons;
        self.chunk.suspended_persons = self.suspended_persons;
        self.chunk
    }
}

/// Chunks the database does not hold back: at most this many wait for a slow reader.
const CHUNKS_IN_FLIGHT: usize = 2;

pub type ChunkStream = tokio_stream::wrappers::ReceiverStream<Result<pb::BenefitRollChunk, tonic::Status>>;

/// The roll as a stream: households are built from the rows as the database returns them and
/// sent a chunk at a time, so neither side holds the whole registry.
pub async fn stream_benefit_roll(
    service: &EligibilityService,
    caller: &Caller,
    policy: &Arc<PolicySet>,
    r: &pb::StreamBenefitRollRequest,
) -> Result<ChunkStream> {
    // Accounts in full to the payment service's certificate only: it pays them. Staff and the
    // other services see them masked.
    let reveal = match caller {
        Caller::Staff(staff) => {
            staff.county_only("read the county's benefit roll")?;
            false
        }
        Caller::Service(name) => name == doudi_runtime::access::service::PAYMENT,
    };
    let first_day = crate::roll::ops::parse_month(&r.month)?;
    // Checked before the stream starts, so a bad month is an error of the call itself.
    let version = RollBuilder::new(service, policy, first_day)?.policy_version().to_owned();
    let month = format!("{:04}-{:02}", first_day.year(), first_day.month());
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let (service, policy) = (service.clone(), policy.clone());
    tokio::spawn(async move {
        let produced = produce(&service, &policy, first_day, Chunker::new(month, version, reveal), &tx).await;
        if let Err(e) = produced {
            let _ = tx.send(Err(tonic::Status::from(e))).await;
        }
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

async fn produce(
    service: &EligibilityService,
    policy: &PolicySet,
    first_day: doudi_core::Date,
    mut chunker: Chunker,
    tx: &tokio::sync::mpsc::Sender<Result<pb::BenefitRollChunk, tonic::Status>>,
) -> Result<()> {
    use futures_util::TryStreamExt;
    let mut builder = RollBuilder::new(service, policy, first_day)?;
    let mut rows = std::pin::pin!(service.store().roll_rows(first_day));
    while let Some(row) = rows.try_next().await? {
        if let Some(chunk) = builder.push(row)?.and_then(|h| chunker.add(h))
            && tx.send(Ok(chunk)).await.is_err()
        {
            // The caller went away: stop reading.
            return Ok(());
        }
    }
    if let Some(chunk) = builder.finish()?.and_then(|h| chunker.add(h)) {
        let _ = tx.send(Ok(chunk)).await;
    }
    let _ = tx.send(Ok(chunker.finish())).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roll::ops::HouseholdPayment;
    use crate::roll::rules::RollDecision;
    use doudi_core::{Category, Fen};

    fn line(household: usize, suspended: bool) -> RollLine {
        RollLine {
            household_no: format!("H{household:05}"),
            national_id: "360730********0001".into(),
            decision: RollDecision {
                category: Category::Dibao2,
                amount: Fen(if suspended { 0 } else { 100 }),
                suspended_since_due: suspended.then(|| "2016-01-01".parse().unwrap()),
            },
        }
    }

    #[test]
    fn chunks_keep_each_household_with_its_lines() {
        // 2 598 paid households of two persons, and a suspended-only household as each 1 000th.
        let mut chunker = Chunker::new("2016-03".into(), "v".into(), false);
        let mut chunks = Vec::new();
        for h in 0..2_600 {
            let household = if h % 1_000 == 999 {
                HouseholdRoll { payment: None, lines: Vec::new(), suspended: vec![line(h, true)] }
            } else {
                let payment = HouseholdPayment {
                    household_no: format!("H{h:05}"),
                    account: Some("****0001".into()),
                    account_number: Some(doudi_core::pii::BankAccount::parse("6228480000000001").unwrap()),
                    dibao_fen: Fen(200),
                    tekun_fen: Fen(0),
                };
                HouseholdRoll {
                    payment: Some(payment),
                    lines: vec![line(h, false), line(h, false)],
                    suspended: Vec::new(),
                }
            };
            chunks.extend(chunker.add(household));
        }
        chunks.push(chunker.finish());
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().take(2).all(|c| c.households.len() == ROLL_CHUNK_HOUSEHOLDS && !c.last));
        for chunk in &chunks {
            let first = chunk.households.first().map(|h| h.household_no.clone()).unwrap_or_default();
            let last = chunk.households.last().map(|h| h.household_no.clone()).unwrap_or_default();
            assert_eq!(chunk.lines.len(), 2 * chunk.households.len());
            assert!(chunk.lines.iter().all(|l| l.household_no >= first && l.household_no <= last));
            // Not revealed: staff and other services see accounts masked only.
            assert!(chunk.households.iter().all(|h| h.account_number.is_empty() && h.account == "****0001"));
        }
        assert_eq!(chunks.iter().map(|c| c.suspended.len()).sum::<usize>(), 2);
        assert_eq!(
            (chunks[2].total_fen, chunks[2].paid_persons, chunks[2].suspended_persons),
            (2_598 * 200, 2 * 2_598, 2)
        );
    }
}
