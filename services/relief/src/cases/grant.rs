//! A grant, in one transaction: the case's step (a conditional update, so two deciders cannot
//! both grant), the household's yearly limits (a conditional update of its year's row), the
//! relief budget (a conditional update), the grant's record, and its payment instruction in the
//! outbox — all of it, or nothing. The relay then delivers the instruction to the payment
//! service, once (its key is the grant).

use crate::budget::draw;
use crate::cases::{CaseState, StoredCase};
use crate::error::{ReliefError, Result};
use crate::limits::{self, Authority, YearUse};
use crate::service::ReliefService;
use doudi_core::Date;
use doudi_core::pii::BankAccount;
use doudi_proto::payment::v1 as ppb;
use doudi_runtime::audit::AuditEntry;
use prost::Message;
use sqlx::{AnyConnection, Row};

/// The outbox topic of a grant's payment instruction.
pub const GRANT_TOPIC: &str = "relief.grant";

/// Who is paid.
#[derive(Debug, Clone)]
pub struct Payee {
    /// HOUSEHOLD (reference: the household number) or ACCOUNT (reference: the case).
    pub kind: ppb::PayeeKind,
    pub reference: String,
    pub name: String,
    pub account: BankAccount,
}

/// What the paperwork becomes with this grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paperwork {
    Unchanged,
    /// The emergency path: documents and the county's record due by this day.
    DueBy(Date),
    /// The county's record: done today (late if after the due day).
    Done {
        on: Date,
        late: bool,
    },
}

#[derive(Debug, Clone)]
pub struct GrantDecision<'a> {
    pub case: &'a StoredCase,
    /// The state the case is in now (as stored) and the one it moves to.
    pub from: CaseState,
    pub to: CaseState,
    /// 0: no money with this step (a county record without a top-up).
    pub amount: i64,
    pub authority: Authority,
    pub emergency: bool,
    pub special_approval: Option<String>,
    pub payee: Option<Payee>,
    pub decided_on: Date,
    pub standard: i64,
    pub paperwork: Paperwork,
    pub actor: &'a str,
    pub note: &'a str,
}

impl ReliefService {
    pub(crate) async fn decide(&self, d: GrantDecision<'_>) -> Result<()> {
        let now = doudi_runtime::now_rfc3339();
        let year = i64::from(d.decided_on.year());
        let case = d.case;
        let mut tx = self.store.db.writes().begin().await?;
        let (due, done, late) = match d.paperwork {
            Paperwork::Unchanged => (case.paperwork_due.clone(), case.paperwork_done_on.clone(), case.paperwork_late),
            Paperwork::DueBy(day) => (Some(day.to_string()), None, false),
            Paperwork::Done { on, late } => (case.paperwork_due.clone(), Some(on.to_string()), late),
        };
        let grant_year = if case.granted_fen > 0 { case.grant_year } else { Some(year) };
        let moved = sqlx::query(
            "UPDATE cases SET state = $1, granted_fen = granted_fen + $2, grant_year = $3, paperwork_due = $4, \
             paperwork_done_on = $5, paperwork_late = $6, special_approval = COALESCE($7, special_approval) \
             WHERE id = $8 AND state = $9 AND granted_fen = $10",
        )
        .bind(d.to.as_str())
        .bind(d.amount)
        .bind(grant_year)
        .bind(due)
        .bind(done)
        .bind(i64::from(late))
        .bind(d.special_approval.clone())
        .bind(case.id)
        .bind(d.from.as_str())
        .bind(case.granted_fen)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Err(ReliefError::WrongState {
                id: case.id,
                state: "changed meanwhile".into(),
                wanted: "another decision came first; read the case again".into(),
            });
        }
        crate::cases::store::event(&mut tx, case.id, d.actor, d.from, d.to, d.note, &now).await?;
        if d.amount > 0 {
            // A top-up counts in the year of the case's first grant, with it.
            let grant_year = grant_year.unwrap_or(year);
            let special = d.authority == Authority::Special;
            count_for_household(&mut tx, case, grant_year, d.amount, d.standard, special).await?;
            draw(&mut tx, grant_year, d.amount).await?;
            let payee = d.payee.as_ref().ok_or_else(|| ReliefError::Internal("a grant without a payee".into()))?;
            let part: i64 = sqlx::query(
                "INSERT INTO grants (case_id, part, amount_fen, standard_fen, year, decided_on, decided_by, authority, emergency) \
                 SELECT $1, COALESCE(MAX(part), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM grants WHERE case_id = $1 \
                 RETURNING part",
            )
            .bind(case.id)
            .bind(d.amount)
            .bind(d.standard)
            .bind(grant_year)
            .bind(d.decided_on.to_string())
            .bind(d.actor)
            .bind(d.authority.as_str())
            .bind(i64::from(d.emergency))
            .fetch_one(&mut *tx)
            .await?
            .try_get("part")?;
            let key = format!("case:{}:grant:{part}", case.id);
            let instruction = ppb::SubmitInstructionRequest {
                source: crate::SERVICE_NAME.into(),
                source_ref: key.clone(),
                fund: ppb::FundName::Relief as i32,
                budget_year: i32::try_from(grant_year).unwrap_or_default(),
                payee: Some(ppb::Payee {
                    kind: payee.kind as i32,
                    reference: payee.reference.clone(),
                    name: payee.name.clone(),
                    account: payee.account.expose().to_owned(),
                }),
                amount_fen: d.amount,
                purpose: format!("temporary relief 临时救助, case {}", case.id),
                reference: format!("relief case {} grant {part}", case.id),
            };
            self.store.enqueue(&mut tx, GRANT_TOPIC, &key, &instruction.encode_to_vec(), &now).await?;
        }
        let after = serde_json::json!({"state": d.to.as_str(), "amountFen": d.amount, "authority": d.authority.as_str(),
            "standardFen": d.standard, "emergency": d.emergency, "specialApproval": d.special_approval});
        let key = case.id.to_string();
        let before = serde_json::json!({"state": d.from.as_str(), "grantedFen": case.granted_fen});
        self.store.audit(&mut tx, AuditEntry::new(d.actor, "relief.decide", "case", &key, before, after)).await?;
        tx.commit().await?;
        if d.amount > 0 {
            self.wake_relay();
        }
        Ok(())
    }
}

/// Adds the grant to the household's year, within the yearly limits unless specially approved.
/// The update is conditional on the limits, so two grants decided at once cannot pass them
/// together; the check before it says which limit and by how much.
async fn count_for_household(
    conn: &mut AnyConnection,
    case: &StoredCase,
    year: i64,
    amount: i64,
    standard: i64,
    special: bool,
) -> Result<()> {
    let new_grant = case.granted_fen == 0;
    let used = year_use(conn, &case.household_key, year).await?;
    if !special {
        limits::within_year(standard, used, amount, new_grant)?;
    }
    let grants = i64::from(new_grant);
    let ceiling = limits::STANDARDS_PER_YEAR * standard;
    let counted = sqlx::query(
        "INSERT INTO household_years (household_key, year, grants, granted_fen) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (household_key, year) DO UPDATE SET grants = household_years.grants + $3, \
         granted_fen = household_years.granted_fen + $4 \
         WHERE $5 = 1 OR ((household_years.grants + $3 <= $6) AND (household_years.granted_fen + $4 <= $7)) \
         RETURNING grants",
    )
    .bind(&case.household_key)
    .bind(year)
    .bind(grants)
    .bind(amount)
    .bind(i64::from(special))
    .bind(limits::GRANTS_PER_YEAR)
    .bind(ceiling)
    .fetch_optional(&mut *conn)
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    let used = year_use(conn, &case.household_key, year).await?;
    Err(limits::within_year(standard, used, amount, new_grant).err().unwrap_or_else(|| ReliefError::WrongState {
        id: case.id,
        state: "over the household's yearly limits".into(),
        wanted: "another grant to the household came first".into(),
    }))
}

pub(crate) async fn year_use(conn: &mut AnyConnection, household_key: &str, year: i64) -> Result<YearUse> {
    let row = sqlx::query("SELECT grants, granted_fen FROM household_years WHERE household_key = $1 AND year = $2")
        .bind(household_key)
        .bind(year)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => YearUse { grants: r.try_get("grants")?, fen: r.try_get("granted_fen")? },
        None => YearUse::default(),
    })
}
