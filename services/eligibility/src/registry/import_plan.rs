//! What an import changes: each valid row against what the registry holds for it (new
//! households, persons and periods; a moved place, a new account, a renamed person, a period's
//! end), or why it cannot apply. Pure; the store writes the plan.

use crate::coverage::rules::CategoryPeriod;
use crate::registry::csv::LineError;
use crate::registry::import::ImportRow;
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, Date, NationalId, Relation};
use std::collections::{HashMap, HashSet};

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

/// Decides what each valid row of a whole file does against `existing`, in one chunk (the
/// import plans chunk by chunk; the tests plan a file whole). Rows that cannot apply become
/// errors.
#[cfg(test)]
pub fn plan(rows: Vec<ImportRow>, existing: &Existing) -> ImportPlan {
    let mut planner = Planner::default();
    let mut plan = planner.plan_chunk(rows, existing);
    plan.errors.extend(planner.finish());
    plan.errors.sort_by_key(|e| e.line);
    plan
}

/// Plans a file a chunk at a time, in file order, with what earlier chunks decided. A new
/// household is created by its HEAD's row; its other rows wait for that row (it may come later
/// in the file) and, if it never comes, become errors when the file ends (`finish`).
#[derive(Debug, Default)]
pub struct Planner {
    /// Households seen in an applying row (their place compared, or created).
    seen_households: HashSet<String>,
    /// Existing households whose head's account was compared.
    accounts_compared: HashSet<String>,
    created_households: HashSet<String>,
    seen_persons: HashSet<NationalId>,
    /// Rows of new households whose HEAD row has not come yet.
    waiting: HashMap<String, Vec<ImportRow>>,
}

impl Planner {
    /// What the rows of one chunk do; `existing` holds what the registry held for them before
    /// the import began.
    pub fn plan_chunk(&mut self, rows: Vec<ImportRow>, existing: &Existing) -> ImportPlan {
        let mut plan = ImportPlan::default();
        for row in rows {
            if let Some(error) = row_conflict(&row, existing) {
                plan.errors.push(error);
                continue;
            }
            let new_household = !existing.households.contains_key(&row.household_no);
            if new_household && !self.created_households.contains(&row.household_no) {
                if row.relation != Relation::Head {
                    self.waiting.entry(row.household_no.clone()).or_default().push(row);
                    continue;
                }
                self.created_households.insert(row.household_no.clone());
                plan.new_households.push(plan.rows.len());
                let waiting = self.waiting.remove(&row.household_no).unwrap_or_default();
                for row in std::iter::once(row).chain(waiting) {
                    self.apply(row, existing, &mut plan);
                }
                continue;
            }
            self.apply(row, existing, &mut plan);
        }
        plan
    }

    /// The rows still waiting for their household's HEAD when the file ends, as errors.
    pub fn finish(self) -> Vec<LineError> {
        let mut errors: Vec<LineError> = self
            .waiting
            .into_values()
            .flatten()
            .map(|row| LineError::new(row.line, "household_no", "a new household needs a valid HEAD row in the file"))
            .collect();
        errors.sort_by_key(|e| e.line);
        errors
    }

    /// Adds what `row` changes to `plan`: its household is registered or created by now.
    fn apply(&mut self, row: ImportRow, existing: &Existing, plan: &mut ImportPlan) {
        if let Some(h) = existing.households.get(&row.household_no) {
            if !self.seen_households.contains(&row.household_no) {
                self.seen_households.insert(row.household_no.clone());
                if (h.township.as_str(), h.village.as_str()) != (row.township.as_str(), row.village.as_str()) {
                    plan.changes.push(Change::HouseholdPlace {
                        household_id: h.id,
                        household_no: row.household_no.clone(),
                        before: (h.township.clone(), h.village.clone()),
                        after: (row.township.clone(), row.village.clone()),
                    });
                }
            }
            if row.relation == Relation::Head && !self.accounts_compared.contains(&row.household_no) {
                self.accounts_compared.insert(row.household_no.clone());
                if row.bank_account.is_some() && row.bank_account != h.bank_account {
                    plan.changes.push(Change::HouseholdAccount {
                        household_id: h.id,
                        household_no: row.household_no.clone(),
                        before: h.bank_account.clone(),
                        after: row.bank_account.clone(),
                    });
                }
            }
        }
        let position = plan.rows.len();
        let known = existing.persons.get(&row.national_id);
        if !self.seen_persons.contains(&row.national_id) {
            self.seen_persons.insert(row.national_id.clone());
            match known {
                None => plan.new_persons.push(position),
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
        let same_key = known.and_then(|p| {
            p.periods.iter().find(|e| e.period.category == row.category && e.period.from == row.effective_from)
        });
        match same_key {
            None => plan.new_periods.push(position),
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
        plan.rows.push(row);
    }
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

    #[test]
    fn a_households_rows_wait_for_its_head_in_a_later_chunk() {
        let text = file(&[
            row("H1", 2, "CHILD", "DIBAO_1", "2015-01-01", "", ""),
            row("H2", 3, "CHILD", "DIBAO_1", "2015-01-01", "", ""),
            row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480012345678"),
        ]);
        let rows = parse_file(&text, today()).unwrap().rows;
        let mut planner = Planner::default();
        let mut chunks = rows.into_iter().map(|row| planner.plan_chunk(vec![row], &Existing::default()));
        let (first, second, third) = (chunks.next().unwrap(), chunks.next().unwrap(), chunks.next().unwrap());
        assert!(first.rows.is_empty() && second.rows.is_empty(), "members wait for their HEAD");
        let lines: Vec<usize> = third.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 2], "the HEAD creates the household, then its waiting member follows");
        assert_eq!((third.new_households, third.new_persons, third.new_periods), (vec![0], vec![0, 1], vec![0, 1]));
        let errors: Vec<String> = planner.finish().iter().map(ToString::to_string).collect();
        assert_eq!(errors, ["line 3: household_no: a new household needs a valid HEAD row in the file"]);
    }
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
