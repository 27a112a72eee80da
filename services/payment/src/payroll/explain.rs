//! How a household's payment for a month was made up (`doudi payroll explain`), and its payment
//! history (`HouseholdHistory`): the roll's lines now, every instruction for the month (the
//! regular one and arrears), what each withheld and for which overpayment, and the
//! overpayments recorded.

use crate::error::Result;
use crate::funds::{Kind, Month};
use crate::instructions::store::{INSTRUCTION_COLUMNS, StoredInstruction, instruction_of};
use crate::payroll::roll;
use crate::service::PaymentService;
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Withholding {
    pub overpayment_id: i64,
    pub overpayment_month: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentLine {
    pub instruction_id: i64,
    /// The month paid for.
    pub month: String,
    pub kind: String,
    pub run_month: String,
    pub state: String,
    pub gross_fen: i64,
    pub withheld_fen: i64,
    pub amount_fen: i64,
    pub withholdings: Vec<Withholding>,
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverpaymentLine {
    pub id: i64,
    pub month: String,
    pub kind: String,
    pub amount_fen: i64,
    pub recovered_fen: i64,
    pub recorded_in_run: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollPerson {
    pub national_id: String,
    pub category: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub household_no: String,
    pub month: String,
    /// The roll's lines for the household now (IDs masked).
    pub roll_now: Vec<RollPerson>,
    pub price_subsidy_per_person_fen: i64,
    pub payments: Vec<PaymentLine>,
    pub overpayments: Vec<OverpaymentLine>,
}

impl PaymentService {
    async fn payroll_instructions(&self, household: &str, month: Option<Month>) -> Result<Vec<StoredInstruction>> {
        let sql = format!(
            "SELECT {INSTRUCTION_COLUMNS} FROM instructions WHERE month IS NOT NULL AND payee_ref = $1 \
             AND ($2 = '' OR month = $2) ORDER BY month, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(household)
            .bind(month.map(|m| m.to_string()).unwrap_or_default())
            .fetch_all(self.store.db.reads())
            .await?;
        Ok(rows.iter().map(instruction_of).collect::<Result<Vec<_>, _>>()?)
    }

    async fn withholdings_of(&self, instruction: i64) -> Result<Vec<Withholding>> {
        let rows = sqlx::query(
            "SELECT w.overpayment_id, o.month, w.amount_fen FROM withholdings w JOIN overpayments o ON o.id = w.overpayment_id \
             WHERE w.instruction_id = $1 ORDER BY w.overpayment_id",
        )
        .bind(instruction)
        .fetch_all(self.store.db.reads())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(Withholding {
                    overpayment_id: r.try_get("overpayment_id")?,
                    overpayment_month: r.try_get("month")?,
                    amount_fen: r.try_get("amount_fen")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    pub async fn household_overpayments(&self, household: &str) -> Result<Vec<OverpaymentLine>> {
        let rows = sqlx::query(
            "SELECT o.id, o.month, o.kind, o.amount_fen, o.run_month, COALESCE((SELECT CAST(SUM(w.amount_fen) AS BIGINT) FROM withholdings w \
             JOIN instructions i ON i.id = w.instruction_id WHERE w.overpayment_id = o.id AND i.state <> 'CANCELLED'), 0) \
             AS recovered FROM overpayments o WHERE o.household_no = $1 ORDER BY o.id",
        )
        .bind(household)
        .fetch_all(self.store.db.reads())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(OverpaymentLine {
                    id: r.try_get("id")?,
                    month: r.try_get("month")?,
                    kind: r.try_get("kind")?,
                    amount_fen: r.try_get("amount_fen")?,
                    recovered_fen: r.try_get("recovered")?,
                    recorded_in_run: r.try_get("run_month")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// Every payroll payment of a household, oldest month first, and its overpayments.
    pub async fn household_history(&self, household: &str) -> Result<(Vec<PaymentLine>, Vec<OverpaymentLine>)> {
        let mut payments = Vec::new();
        for i in self.payroll_instructions(household, None).await? {
            payments.push(self.payment_line(&i).await?);
        }
        Ok((payments, self.household_overpayments(household).await?))
    }

    async fn payment_line(&self, i: &StoredInstruction) -> Result<PaymentLine> {
        Ok(PaymentLine {
            instruction_id: i.id,
            month: i.month.map(|m| m.to_string()).unwrap_or_default(),
            kind: i.kind.map(Kind::as_str).unwrap_or_default().to_owned(),
            run_month: i.run_month.map(|m| m.to_string()).unwrap_or_default(),
            state: i.state.to_string(),
            gross_fen: i.gross,
            withheld_fen: i.withheld,
            amount_fen: i.amount,
            withholdings: self.withholdings_of(i.id).await?,
            purpose: i.purpose.clone(),
        })
    }

    pub async fn explain(&self, household: &str, month: Month) -> Result<Explanation> {
        let mut roll_now = Vec::new();
        let mut stream = roll::open(&self.eligibility, month).await?;
        while let Some(chunk) = stream.next_chunk().await? {
            if let Some(h) = chunk.into_iter().find(|h| h.household_no == household) {
                roll_now = h
                    .lines
                    .iter()
                    .map(|l| RollPerson {
                        // The roll sends IDs masked; they stay so here.
                        national_id: l.national_id.clone(),
                        category: doudi_proto::eligibility::v1::Category::try_from(l.category)
                            .map(|c| c.as_str_name().to_owned())
                            .unwrap_or_default(),
                        amount_fen: l.amount_fen,
                    })
                    .collect();
            }
        }
        let rules = self.month_rules_for_explain(month).await?;
        let mut payments = Vec::new();
        for i in self.payroll_instructions(household, Some(month)).await? {
            payments.push(self.payment_line(&i).await?);
        }
        let overpayments = self
            .household_overpayments(household)
            .await?
            .into_iter()
            .filter(|o| o.month == month.to_string())
            .collect();
        Ok(Explanation {
            household_no: household.to_owned(),
            month: month.to_string(),
            roll_now,
            price_subsidy_per_person_fen: rules,
            payments,
            overpayments,
        })
    }
}
