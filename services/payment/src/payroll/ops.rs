//! A payroll run: for each month revisited (the 12 before the run's that were paid here) and the
//! run's own month, stream the roll, compare each household's kinds with what was paid, and
//! write the chunk's payments, arrears, overpayments and withholdings in one transaction.

use crate::error::{PaymentError, Result};
use crate::funds::{Fund, Kind, Month, PayeeKind, State};
use crate::instructions::store::{INSERT_ARITY, INSERT_COLUMNS, any_held, bind_new, fund_position};
use crate::instructions::{NewInstruction, PayrollPlace, held_reason};
use crate::ledger::store::{open_fund, transfer};
use crate::ledger::{FundAccounts, TransferKind};
use crate::payroll::roll::{self, DueHousehold};
use crate::payroll::rules::{Outstanding, Reconciled, reconcile, withhold};
use crate::payroll::store as payroll_store;
use crate::prices::{per_person, triggering_rise};
use crate::service::PaymentService;
use doudi_core::Bp;
use doudi_runtime::Backend;
use doudi_runtime::audit::AuditEntry;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// What a run did, in sums.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub month: String,
    pub months_revisited: Vec<String>,
    pub instructions: i64,
    pub paid_fen: i64,
    pub arrears: i64,
    pub arrears_fen: i64,
    pub overpayments: i64,
    pub overpaid_fen: i64,
    pub withheld_fen: i64,
    pub held: i64,
    pub held_fen: i64,
    pub by_kind: BTreeMap<String, i64>,
}

/// The rules of one month revisited.
struct MonthRules {
    month: Month,
    run: Month,
    price_subsidy_per_person: i64,
    policy_version: String,
    recovery_max: Bp,
}

/// A decided payment before it is written.
struct Payment {
    new: NewInstruction,
    withheld: Vec<(i64, i64)>,
}

fn seen_key(household: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    household.hash(&mut hasher);
    hasher.finish()
}

impl PaymentService {
    /// Runs the payroll of `run` (a month not after the current one, China time).
    pub async fn run_payroll(&self, run: Month, actor: &str) -> Result<RunSummary> {
        if run.first_day() > doudi_core::Date::today_china() {
            return Err(doudi_core::Violations::of(
                "month",
                "is in the future: a payroll runs for a month that has begun",
            )
            .into());
        }
        let now = doudi_runtime::now_rfc3339();
        let mut conn = self.store.db.writes().acquire().await?;
        let revisited = payroll_store::months_run(&mut conn, run.plus(-12), run).await?;
        let run_before = !payroll_store::months_run(&mut conn, run, run.plus(1)).await?.is_empty();
        // Marked first: a run killed midway is still a month paid here, revisited by later runs.
        payroll_store::mark_run(&mut conn, run, &now).await?;
        drop(conn);
        let mut summary = RunSummary {
            month: run.to_string(),
            months_revisited: revisited.iter().map(Month::to_string).collect(),
            ..Default::default()
        };
        for month in revisited.iter().copied().chain([run]) {
            let rules = self.month_rules(month, run).await?;
            let month_paid = month != run || run_before;
            self.reconcile_month(&rules, month_paid, actor, &mut summary).await?;
        }
        let mut tx = self.store.db.writes().begin().await?;
        let after = serde_json::to_value(&summary).map_err(PaymentError::internal)?;
        let key = run.to_string();
        self.store
            .audit(&mut tx, AuditEntry::new(actor, "payroll.run", "payroll", &key, serde_json::Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// The price subsidy per covered person for a month, as a run would pay it.
    pub(crate) async fn month_rules_for_explain(&self, month: Month) -> Result<i64> {
        Ok(self.month_rules(month, month).await?.price_subsidy_per_person)
    }

    async fn month_rules(&self, month: Month, run: Month) -> Result<MonthRules> {
        let version = self
            .policy
            .in_force_on(month.first_day())
            .ok_or_else(|| doudi_core::Violations::of("month", "is before the first policy version in force"))?;
        let run_version = self.policy.in_force_on(run.first_day()).unwrap_or(version);
        let mut conn = self.store.db.reads().acquire().await?;
        let index = self.price_index_in(&mut conn, month).await?;
        let price_subsidy_per_person = index
            .and_then(|i| triggering_rise(i, &version.price_subsidy))
            .and_then(|rise| per_person(version.dibao_standard_fen, rise))
            .map_or(0, |f| f.0);
        Ok(MonthRules {
            month,
            run,
            price_subsidy_per_person,
            policy_version: version.id.clone(),
            recovery_max: run_version.overpayment_recovery_max_bp,
        })
    }

    async fn reconcile_month(
        &self,
        rules: &MonthRules,
        month_paid: bool,
        actor: &str,
        summary: &mut RunSummary,
    ) -> Result<()> {
        let mut conn = self.store.db.reads().acquire().await?;
        let before =
            payroll_store::History { month_paid, overpayments: payroll_store::any_overpayment(&mut conn).await? };
        drop(conn);
        let mut stream = roll::open(&self.eligibility, rules.month).await?;
        let mut seen: HashSet<u64> = HashSet::new();
        while let Some(households) = stream.next_chunk().await? {
            seen.extend(households.iter().map(|h| seen_key(&h.household_no)));
            self.write_chunk(rules, before, &households, actor, summary).await?;
        }
        // Households paid for the month that the roll no longer carries (every member's period
        // ended, a death recorded late): nothing is due now. (None if the month was never paid.)
        if !month_paid {
            return Ok(());
        }
        let mut after = String::new();
        loop {
            let mut conn = self.store.db.reads().acquire().await?;
            let page = payroll_store::paid_households(&mut conn, rules.month, &after, 1_000).await?;
            drop(conn);
            let Some(last) = page.last().cloned() else { break };
            let gone: Vec<DueHousehold> = page
                .into_iter()
                .filter(|h| !seen.contains(&seen_key(h)))
                .map(|household_no| DueHousehold {
                    household_no,
                    account: None,
                    dibao: 0,
                    tekun: 0,
                    paid_persons: 0,
                    lines: Vec::new(),
                })
                .collect();
            if !gone.is_empty() {
                self.write_chunk(rules, before, &gone, actor, summary).await?;
            }
            after = last;
        }
        Ok(())
    }

    /// One chunk of households, in one transaction. `before` says what existed when the month's
    /// pass began: a month never paid here and a registry without overpayments need no look-ups
    /// (each household comes once in a pass, so nothing this pass writes is looked up again).
    async fn write_chunk(
        &self,
        rules: &MonthRules,
        before: payroll_store::History,
        households: &[DueHousehold],
        actor: &str,
        summary: &mut RunSummary,
    ) -> Result<()> {
        let backend = self.store.db.backend();
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let mut payments = Vec::new();
        for chunk in households.chunks(Backend::PARAMS_PER_STATEMENT / 2) {
            let batch: Vec<&str> = chunk.iter().map(|h| h.household_no.as_str()).collect();
            let paid = if before.month_paid {
                payroll_store::paid_for(&mut tx, backend, rules.month, rules.run, &batch).await?
            } else {
                HashMap::new()
            };
            let mut outstanding = if before.overpayments {
                payroll_store::outstanding_for(&mut tx, backend, &batch).await?
            } else {
                HashMap::new()
            };
            for household in chunk {
                for kind in Kind::ALL.iter().copied() {
                    let due = household.due(kind, rules.price_subsidy_per_person);
                    let had = paid.get(&(household.household_no.clone(), kind)).copied().unwrap_or_default();
                    match reconcile(due, had.paid, had.overpaid) {
                        Reconciled::Even => {}
                        // A run pays a month and kind once; a shortfall found again in the same
                        // run month is paid by the next month's run, as arrears.
                        Reconciled::Pay(_) if had.made_in_run => {}
                        Reconciled::Overpaid(amount) => {
                            let id = payroll_store::insert_overpayment(
                                &mut tx,
                                &household.household_no,
                                kind,
                                rules.month,
                                amount,
                                rules.run,
                                &now,
                            )
                            .await?;
                            outstanding
                                .entry((household.household_no.clone(), kind))
                                .or_default()
                                .push(Outstanding { overpayment_id: id, remaining: amount });
                            summary.overpayments += 1;
                            summary.overpaid_fen += amount;
                        }
                        Reconciled::Pay(gross) => {
                            let owed = outstanding.entry((household.household_no.clone(), kind)).or_default();
                            let withheld = withhold(gross, rules.recovery_max, owed);
                            payments.push(Payment {
                                new: self.payroll_instruction(rules, household, kind, gross, &withheld),
                                withheld,
                            });
                        }
                    }
                }
            }
        }
        let held = self.reserve_payments(&mut tx, rules, &payments, &now).await?;
        let need_ids = payments.iter().any(|p| !p.withheld.is_empty());
        let ids = insert_payments(&mut tx, self, &payments, &held, actor, &now, need_ids).await?;
        let withholdings: Vec<(i64, i64, i64)> = payments
            .iter()
            .zip(&ids)
            .flat_map(|(p, id)| p.withheld.iter().map(move |(o, amount)| (*id, *o, *amount)))
            .collect();
        payroll_store::insert_withholdings(&mut tx, backend, &withholdings).await?;
        tx.commit().await?;
        for (payment, held) in payments.iter().zip(&held) {
            summary.instructions += 1;
            summary.paid_fen += payment.new.amount;
            summary.withheld_fen += payment.new.withheld;
            *summary
                .by_kind
                .entry(payment.new.payroll.as_ref().map_or("", |p| p.kind.as_str()).to_owned())
                .or_default() += payment.new.amount;
            if rules.month != rules.run {
                summary.arrears += 1;
                summary.arrears_fen += payment.new.amount;
            }
            if held.is_some() {
                summary.held += 1;
                summary.held_fen += payment.new.amount;
            }
        }
        Ok(())
    }

    fn payroll_instruction(
        &self,
        rules: &MonthRules,
        household: &DueHousehold,
        kind: Kind,
        gross: i64,
        withheld: &[(i64, i64)],
    ) -> NewInstruction {
        let withheld: i64 = withheld.iter().map(|(_, w)| w).sum();
        let arrears = rules.month != rules.run;
        let purpose = if arrears {
            format!("{kind} {} arrears (payroll {})", rules.month, rules.run)
        } else {
            format!("{kind} {}", rules.month)
        };
        NewInstruction {
            source: "payroll".into(),
            source_ref: format!("{}:{}:{kind}:{}", rules.run, household.household_no, rules.month),
            fund: kind.fund(),
            budget_year: i64::from(rules.run.year),
            payee_kind: PayeeKind::Household,
            payee_ref: household.household_no.clone(),
            payee_name: String::new(),
            account: household.account.clone(),
            amount: gross - withheld,
            gross,
            withheld,
            purpose,
            reference: format!("benefit roll {} (policy {})", rules.month, rules.policy_version),
            approval_required: true,
            payroll: Some(PayrollPlace {
                household_no: household.household_no.clone(),
                kind,
                month: rules.month,
                run_month: rules.run,
            }),
        }
    }

    /// Reserves the chunk's payments fund by fund, in household order, as far as each fund's
    /// available budget goes; the rest (and all of a fund that already has held instructions)
    /// are HELD with the reason. One transfer per fund carries what was reserved.
    async fn reserve_payments(
        &self,
        tx: &mut AnyConnection,
        rules: &MonthRules,
        payments: &[Payment],
        now: &str,
    ) -> Result<Vec<Option<String>>> {
        let mut held = vec![None; payments.len()];
        let year = i64::from(rules.run.year);
        let mut funds: Vec<Fund> = payments.iter().map(|p| p.new.fund).collect();
        funds.sort();
        funds.dedup();
        for fund in funds {
            let accounts = FundAccounts::of(fund, year);
            open_fund(tx, &accounts).await?;
            let position = fund_position(tx, fund, year, true).await?;
            let queued = any_held(tx, fund, year).await?;
            let mut available = if queued { 0 } else { position.available };
            let mut reserved = 0;
            let mut holding = queued;
            for (i, payment) in payments.iter().enumerate().filter(|(_, p)| p.new.fund == fund) {
                if !holding && payment.new.amount <= available {
                    available -= payment.new.amount;
                    reserved += payment.new.amount;
                } else {
                    // The first that does not fit holds every later one too (they are released in order).
                    let queued_now = holding;
                    holding = true;
                    held[i] = Some(held_reason(
                        fund,
                        year,
                        position.budget,
                        position.committed + reserved,
                        position.paid,
                        payment.new.amount,
                        queued_now,
                    ));
                }
            }
            if reserved > 0 {
                let reference = format!("payroll:{}:{}", rules.run, rules.month);
                if !transfer(
                    tx,
                    &accounts.available,
                    &accounts.committed,
                    reserved,
                    TransferKind::Reserve,
                    &reference,
                    now,
                )
                .await?
                {
                    return Err(PaymentError::internal(
                        "a reservation within the locked available balance was refused",
                    ));
                }
            }
        }
        Ok(held)
    }
}

/// Inserts the chunk's instructions (in batches within the statement parameter limit) and, if
/// `need_ids` (withholdings refer to them), returns their ids in the payments' order.
async fn insert_payments(
    tx: &mut AnyConnection,
    service: &PaymentService,
    payments: &[Payment],
    held: &[Option<String>],
    actor: &str,
    now: &str,
    need_ids: bool,
) -> Result<Vec<i64>> {
    let backend = service.store.db.backend();
    let mut ids = Vec::with_capacity(payments.len());
    let per_statement = Backend::PARAMS_PER_STATEMENT / INSERT_ARITY;
    for (batch, held) in payments.chunks(per_statement).zip(held.chunks(per_statement)) {
        let returning = if need_ids { " RETURNING id, source_ref" } else { "" };
        let sql = format!(
            "INSERT INTO instructions ({INSERT_COLUMNS}) VALUES {}{returning}",
            backend.values_rows(batch.len(), INSERT_ARITY)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (payment, held) in batch.iter().zip(held) {
            let state = if held.is_some() { State::Held } else { payment.new.reserved_state() };
            query = bind_new(query, &service.store.cipher, &payment.new, state, held.clone(), actor, now);
        }
        if !need_ids {
            query.execute(&mut *tx).await?;
            continue;
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let mut by_ref: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for row in &rows {
            by_ref.insert(row.try_get("source_ref")?, row.try_get("id")?);
        }
        for payment in batch {
            ids.push(
                *by_ref
                    .get(&payment.new.source_ref)
                    .ok_or_else(|| PaymentError::internal("an inserted instruction has no id"))?,
            );
        }
    }
    Ok(ids)
}
