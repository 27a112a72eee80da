//! The roll over gRPC: streamed in chunks of whole households, the totals in the last.

use crate::error::Result;
use crate::roll::ops::{BenefitRoll, RollLine};
use crate::service::EligibilityService;
use doudi_core::policy::PolicySet;
use doudi_proto::eligibility::v1 as pb;
use doudi_runtime::access::Caller;

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

/// The roll in chunks of whole households (their lines travel with them); totals in the last.
fn roll_chunks(roll: BenefitRoll, reveal_accounts: bool) -> Vec<pb::BenefitRollChunk> {
    let empty = || pb::BenefitRollChunk {
        month: roll.month.clone(),
        policy_version: roll.policy_version.clone(),
        ..Default::default()
    };
    let mut chunks = Vec::new();
    let mut chunk = empty();
    let mut lines = roll.lines.iter().peekable();
    let mut suspended = roll.suspended.iter().peekable();
    for household in &roll.households {
        chunk.households.push(pb::HouseholdPayment {
            household_no: household.household_no.clone(),
            account: household.account.clone().unwrap_or_default(),
            account_number: match (&household.account_number, reveal_accounts) {
                (Some(account), true) => account.expose().to_owned(),
                _ => String::new(),
            },
            dibao_fen: household.dibao_fen.0,
            tekun_fen: household.tekun_fen.0,
        });
        // Lines are ordered by household like the households: take this household's (and any
        // unpaid households' before it).
        while let Some(line) = lines.next_if(|l| l.household_no <= household.household_no) {
            chunk.lines.push(roll_line(line));
        }
        while let Some(line) = suspended.next_if(|l| l.household_no <= household.household_no) {
            chunk.suspended.push(roll_line(line));
        }
        if chunk.households.len() == ROLL_CHUNK_HOUSEHOLDS {
            chunks.push(std::mem::replace(&mut chunk, empty()));
        }
    }
    chunk.lines.extend(lines.map(roll_line));
    chunk.suspended.extend(suspended.map(roll_line));
    chunk.last = true;
    chunk.total_fen = roll.total_fen.0;
    chunk.paid_persons = roll.lines.len() as i64;
    chunk.suspended_persons = roll.suspended.len() as i64;
    chunks.push(chunk);
    chunks
}

pub async fn stream_benefit_roll(
    service: &EligibilityService,
    caller: &Caller,
    policy: &PolicySet,
    r: &pb::StreamBenefitRollRequest,
) -> Result<Vec<pb::BenefitRollChunk>> {
    // Accounts in full to the payment service's certificate only: it pays them. Staff and the
    // other services see them masked.
    let (roll, reveal) = match caller {
        Caller::Staff(staff) => (service.benefit_roll_for(staff, policy, &r.month).await?, false),
        Caller::Service(name) => {
            let roll = service.benefit_roll(policy, crate::roll::ops::parse_month(&r.month)?).await?;
            (roll, name == doudi_runtime::access::service::PAYMENT)
        }
    };
    Ok(roll_chunks(roll, reveal))
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
        let mut lines = Vec::new();
        let mut suspended = Vec::new();
        let mut households = Vec::new();
        for h in 0..2_600 {
            if h % 1_000 == 999 {
                suspended.push(line(h, true));
                continue;
            }
            lines.extend([line(h, false), line(h, false)]);
            households.push(HouseholdPayment {
                household_no: format!("H{h:05}"),
                account: None,
                account_number: None,
                dibao_fen: Fen(200),
                tekun_fen: Fen(0),
            });
        }
        let total = Fen(households.len() as i64 * 200);
        let roll = BenefitRoll {
            month: "2016-03".into(),
            policy_version: "v".into(),
            lines,
            suspended,
            households,
            total_fen: total,
        };
        let chunks = roll_chunks(roll, false);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().take(2).all(|c| c.households.len() == ROLL_CHUNK_HOUSEHOLDS && !c.last));
        for chunk in &chunks {
            let first = chunk.households.first().map(|h| h.household_no.clone()).unwrap_or_default();
            let last = chunk.households.last().map(|h| h.household_no.clone()).unwrap_or_default();
            assert_eq!(chunk.lines.len(), 2 * chunk.households.len());
            assert!(chunk.lines.iter().all(|l| l.household_no >= first && l.household_no <= last));
        }
        assert_eq!(chunks.iter().map(|c| c.suspended.len()).sum::<usize>(), 2);
        assert_eq!((chunks[2].total_fen, chunks[2].paid_persons, chunks[2].suspended_persons), (total.0, 2 * 2_598, 2));
    }
}
