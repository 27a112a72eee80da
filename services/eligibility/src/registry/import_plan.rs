//! What an import changes: each valid row against what the registry holds for it (new
//! households, persons and periods; a moved place, a new account, a renamed person, a period's
//! end), or why it cannot apply. Pure; the store writes the plan.

use crate::coverage::rules::CategoryPeriod;
use crate::registry::csv::LineError;
use crate::registry::import::ImportRow;
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, Date, NationalId, Relation};
use std::collections::HashMap;

/// What the registry holds for the persons and households a file names.
#[derive(Debug, Default)]
pub struct Existing {
    pub households: HashMap<String, ExistingHousehold>,
    pub persons: HashMap<NationalId, ExistingPerson>,
}

#[derive(Debug, Clone)]
pub struct ExistingHousehold {
    pub id: i64,
    pub township: String,
    pub village: String,
    pub bank_account: Option<BankAccount>,
}

#[derive(Debug, Clone)]
pub struct ExistingPerson {
    pub id: i64,
    pub household_no: String,
    pub name: PersonName,
    pub relation: Relation,
    pub periods: Vec<ExistingPeriod>,
}

#[derive(Debug, Clone, Copy)]
pub struct ExistingPeriod {
    pub id: i64,
    pub period: CategoryPeriod,
}

/// A change to a record that exists, recorded in the audit trail with before and after.
#[derive(Debug, Clone)]
pub enum Change {
    HouseholdPlace {
        household_id: i64,
        household_no: String,
        before: (String, String),
        after: (String, String),
    },
    HouseholdAccount {
        household_id: i64,
        household_no: String,
        before: Option<BankAccount>,
        after: Option<BankAccount>,
    },
    PersonName {
        person_id: i64,
        national_id: NationalId,
        before: PersonName,
        after: PersonName,
    },
    PersonRelation {
        person_id: i64,
        national_id: NationalId,
        before: Relation,
        after: Relation,
    },
    PeriodEnd {
        period_id: i64,
        national_id: NationalId,
        category: Category,
        from: Date,
        before: Option<Date>,
        after: Date,
    },
}

#[derive(Debug, Default)]
pub struct ImportPlan {
    /// The rows that apply; the lists below are positions in it.
    pub rows: Vec<ImportRow>,
    /// First row of each household to create (its head's row: its place and account).
    pub new_households: Vec<usize>,
    /// First row of each person to create.
    pub new_persons: Vec<usize>,
    pub new_periods: Vec<usize>,
    pub changes: Vec<Change>,
    pub unchanged_rows: usize,
    pub errors: Vec<LineError>,
}

impl ImportPlan {
    /// The rows at `positions`.
    pub fn rows_at<'a>(&'a self, positions: &'a [usize]) -> impl Iterator<Item = &'a ImportRow> + 'a {
        positions.iter().map(|&i| &self.rows[i])
    }
}

/// Decides what each valid row does against `existing`. Rows that cannot apply become errors.
pub fn plan(rows: Vec<ImportRow>, existing: &Existing) -> ImportPlan {
    let mut plan = ImportPlan::default();
    let mut accepted = Vec::with_capacity(rows.len());
    for row in rows {
        match row_conflict(&row, existing) {
            Some(error) => plan.errors.push(error),
            None => accepted.push(row),
        }
    }
    // A new household needs its head among the rows that remain.
    let head_rows: HashMap<&str, usize> = accepted
        .iter()
        .enumerate()
        .filter(|(_, r)| r.relation == Relation::Head)
        .map(|(i, r)| (r.household_no.as_str(), i))
        .collect();
    let mut seen_households = std::collections::HashSet::new();
    let mut seen_persons = std::collections::HashSet::new();
    for (i, row) in accepted.iter().enumerate() {
        let known = existing.households.get(&row.household_no);
        let head = head_rows.get(row.household_no.as_str()).map(|&h| &accepted[h]);
        if known.is_none() && head.is_none() {
            plan.errors.push(LineError::new(
                row.line,
                "household_no",
                "a new household needs a valid HEAD row in the file",
            ));
            continue;
        }
        if seen_households.insert(row.household_no.as_str()) {
            match known {
                None => plan.new_households.push(head_rows[row.household_no.as_str()]),
                Some(h) => {
                    if (h.township.as_str(), h.village.as_str()) != (row.township.as_str(), row.village.as_str()) {
                        plan.changes.push(Change::HouseholdPlace {
                            household_id: h.id,
                            household_no: row.household_no.clone(),
                            before: (h.township.clone(), h.village.clone()),
                            after: (row.township.clone(), row.village.clone()),
                        });
                    }
                    if let Some(head) = head
                        && head.bank_account.is_some()
                        && head.bank_account != h.bank_account
                    {
                        plan.changes.push(Change::HouseholdAccount {
                            household_id: h.id,
                            household_no: row.household_no.clone(),
                            before: h.bank_account.clone(),
                            after: head.bank_account.clone(),
                        });
                    }
                }
            }
        }
        if seen_persons.insert(&row.national_id) {
            match existing.persons.get(&row.national_id) {
                None => plan.new_persons.push(i),
                Some(p) => {
                    if p.name != row.name {
                        plan.changes.push(Change::PersonName {
                            person_id: p.id,
                            national_id: row.national_id.clone(),
                            before: p.name.clone(),
                            after: row.name.clone(),
                        });
                    }
                    if p.relation != row.relation {
                        plan.changes.push(Change::PersonRelation {
                            person_id: p.id,
                            national_id: row.national_id.clone(),
                            before: p.relation,
                            after: row.relation,
                        });
                    }
                }
            }
        }
        let same_key = existing.persons.get(&row.national_id).and_then(|p| {
            p.periods.iter().find(|e| e.period.category == row.category && e.period.from == row.effective_from)
        });
        match same_key {
            None => plan.new_periods.push(i),
            Some(e) if e.period.to == row.effective_to => plan.unchanged_rows += 1,
            Some(e) => plan.changes.push(Change::PeriodEnd {
                period_id: e.id,
                national_id: row.national_id.clone(),
                category: row.category,
                from: row.effective_from,
                before: e.period.to,
                after: row.effective_to.unwrap_or_else(|| unreachable!("reopening is refused in row_conflict")),
            }),
        }
    }
    plan.errors.sort_by_key(|e| e.line);
    plan.rows = accepted;
    plan
}

/// Why a row cannot apply to what the registry holds, if it cannot.
fn row_conflict(row: &ImportRow, existing: &Existing) -> Option<LineError> {
    let person = existing.persons.get(&row.national_id)?;
    if person.household_no != row.household_no {
        return Some(LineError::new(
            row.line,
            "household_no",
            format!(
                "this person is registered in household {}; a move is a registry change, not an import",
                person.household_no
            ),
        ));
    }
    for e in person.periods.iter().filter(|e| e.period.category == row.category) {
        if e.period.from == row.effective_from {
            if e.period.to.is_some() && row.effective_to.is_none() {
                let to = e.period.to.map(|d| d.to_string()).unwrap_or_default();
                return Some(LineError::new(
                    row.line,
                    "effective_to",
                    format!("the period was closed on {to}; an import does not reopen it"),
                ));
            }
        } else if e.period.overlaps(&row.period()) {
            return Some(LineError::new(
                row.line,
                "effective_from",
                format!("overlaps the registered {} period from {}", row.category, e.period.from),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::import::parse_file;
    use crate::registry::import::test_rows::{file, id, row, today};

    #[test]
    fn plan_against_the_registry() {
        let text = file(&[
            row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "2016-06-30", "6228480012345678"),
            row("H1", 2, "SPOUSE", "DIBAO_1", "2015-01-01", "", ""),
            row("H1", 3, "CHILD", "DIBAO_1", "2015-01-01", "", ""),
            row("H1", 4, "CHILD", "DIBAO_1", "2015-03-01", "", ""),
            row("H9", 9, "CHILD", "TEKUN", "2015-01-01", "", ""),
        ]);
        let parsed = parse_file(&text, today()).unwrap();
        let period = |id, category, from: &str, to: Option<&str>| ExistingPeriod {
            id,
            period: CategoryPeriod { category, from: from.parse().unwrap(), to: to.map(|t| t.parse().unwrap()) },
        };
        let person = |seq: u32, relation, periods| {
            (
                NationalId::parse_on(&id(seq), today()).unwrap(),
                ExistingPerson {
                    id: i64::from(seq),
                    household_no: "H1".into(),
                    name: PersonName::parse(&format!("张{seq}")).unwrap(),
                    relation,
                    periods,
                },
            )
        };
        let existing = Existing {
            households: [(
                "H1".to_string(),
                ExistingHousehold { id: 1, township: "城关镇".into(), village: "东村".into(), bank_account: None },
            )]
            .into(),
            persons: [
                person(1, Relation::Head, vec![period(10, Category::Dibao1, "2015-01-01", None)]),
                person(2, Relation::Spouse, vec![period(20, Category::Dibao1, "2015-01-01", None)]),
                person(3, Relation::Child, vec![period(30, Category::Dibao1, "2015-01-01", Some("2015-12-31"))]),
                person(4, Relation::Child, vec![period(40, Category::Dibao1, "2015-01-01", None)]),
            ]
            .into(),
        };
        let plan = plan(parsed.rows, &existing);
        let errors: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "line 4: effective_to: the period was closed on 2015-12-31; an import does not reopen it",
                "line 5: effective_from: overlaps the registered DIBAO_1 period from 2015-01-01",
                "line 6: household_no: a new household needs a valid HEAD row in the file",
            ]
        );
        assert_eq!(plan.unchanged_rows, 1);
        assert!(plan.new_households.is_empty() && plan.new_persons.is_empty() && plan.new_periods.is_empty());
        assert!(matches!(
            &plan.changes[..],
            [Change::HouseholdAccount { .. }, Change::PeriodEnd { period_id: 10, before: None, .. }]
        ));
    }
}
