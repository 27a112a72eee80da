//! Reading a month's benefit roll from the eligibility service, chunk by chunk, as the payment
//! service's certificate (which alone receives the accounts' digits).

use crate::error::{PaymentError, Result};
use crate::funds::{Kind, Month};
use doudi_core::pii::BankAccount;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::dibao_procedure_client::DibaoProcedureClient;
use std::collections::BTreeMap;
use std::time::Duration;
use tonic::transport::Channel;

/// The whole roll may take this long to stream (100 000 households take seconds).
const ROLL_DEADLINE: Duration = Duration::from_secs(600);

/// One household of a chunk: what the roll says it is due, per kind, and its head's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueHousehold {
    pub household_no: String,
    pub account: Option<BankAccount>,
    pub dibao: i64,
    pub tekun: i64,
    /// Persons paid as TEKUN, DIBAO_1 or DIBAO_2 for the month (the price subsidy's count).
    pub paid_persons: i64,
    pub lines: Vec<pb::RollLine>,
}

impl DueHousehold {
    pub fn due(&self, kind: Kind, price_subsidy_per_person: i64) -> i64 {
        match kind {
            Kind::Dibao => self.dibao,
            Kind::Tekun => self.tekun,
            Kind::PriceSubsidy => self.paid_persons * price_subsidy_per_person,
        }
    }
}

pub struct RollStream {
    stream: tonic::Streaming<pb::BenefitRollChunk>,
    pub policy_version: String,
    done: bool,
}

pub async fn open(channel: &Channel, month: Month) -> Result<RollStream> {
    let mut request = tonic::Request::new(pb::StreamBenefitRollRequest { month: month.to_string() });
    request.set_timeout(ROLL_DEADLINE);
    let stream = DibaoProcedureClient::new(channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
        .stream_benefit_roll(request)
        .await
        .map_err(|s| PaymentError::RollUnavailable(format!("{:?}: {}", s.code(), s.message())))?
        .into_inner();
    Ok(RollStream { stream, policy_version: String::new(), done: false })
}

impl RollStream {
    /// The next chunk's households, `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<DueHousehold>>> {
        if self.done {
            return Ok(None);
        }
        let chunk = self
            .stream
            .message()
            .await
            .map_err(|s| PaymentError::RollUnavailable(format!("{:?}: {}", s.code(), s.message())))?;
        let Some(chunk) = chunk else {
            return Err(PaymentError::RollUnavailable("the roll ended without its last chunk".into()));
        };
        self.done = chunk.last;
        self.policy_version = chunk.policy_version.clone();
        let mut lines: BTreeMap<String, Vec<pb::RollLine>> = BTreeMap::new();
        for line in chunk.lines {
            lines.entry(line.household_no.clone()).or_default().push(line);
        }
        let households = chunk
            .households
            .into_iter()
            .map(|h| {
                let lines = lines.remove(&h.household_no).unwrap_or_default();
                DueHousehold {
                    account: BankAccount::parse(&h.account_number).ok(),
                    dibao: h.dibao_fen,
                    tekun: h.tekun_fen,
                    paid_persons: lines.iter().filter(|l| l.amount_fen > 0).count() as i64,
                    household_no: h.household_no,
                    lines,
                }
            })
            .collect();
        Ok(Some(households))
    }
}
