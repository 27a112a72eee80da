//! Import of existing recipients from a county's spreadsheet (CSV). Pure: parsing, validation
//! of every row, agreement between rows, and the plan of what changes against what the registry
//! already holds. The store applies a plan in one transaction.
//!
//! A row is identified by national ID, category and `effective_from`: the same file imported
//! twice changes nothing; a later file may close (or correct the end of) a period; nothing is
//! deleted because a later file leaves it out.

use super::coverage::CategoryPeriod;
use super::household::{check_household_no, check_place};
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, Date, NationalId, Relation};
use std::collections::HashMap;
use std::fmt;

pub const HEADER: [&str; 11] = [
    "household_no",
    "township",
    "village",
    "national_id",
    "name",
    "relation",
    "birth_date",
    "category",
    "effective_from",
    "effective_to",
    "bank_account",
];

/// `line N: field: reason`; line 1 is the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub field: String,
    pub reason: String,
}

impl LineError {
    pub fn new(line: usize, field: &str, reason: impl Into<String>) -> Self {
        Self { line, field: field.to_owned(), reason: reason.into() }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: usize,
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub national_id: NationalId,
    pub name: PersonName,
    pub relation: Relation,
    pub birth_date: Date,
    pub category: Category,
    pub effective_from: Date,
    pub effective_to: Option<Date>,
    pub bank_account: Option<BankAccount>,
}

impl ImportRow {
    pub fn period(&self) -> CategoryPeriod {
        CategoryPeriod { category: self.category, from: self.effective_from, to: self.effective_to }
    }
}

/// The rows of a file that are valid on their own and agree with each other, and the errors of
/// the others.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<LineError>,
    pub data_lines: usize,
}

/// Splits CSV text (RFC 4180: quoted fields, `""` escapes, CRLF or LF, a UTF-8 BOM as Excel
/// writes it) into records with the line each starts on. Blank lines are skipped.
///
/// It works on bytes: the separators are ASCII, and no byte of a multi-byte UTF-8 character is
/// ASCII, so every cut falls between characters. Unquoted fields are copied whole.
pub fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let (mut line, mut start_line, mut at) = (1usize, 1usize, 0usize);
    loop {
        // One field, starting at `at`.
        let field_line = line;
        let quoted = bytes.get(at) == Some(&b'"');
        let (field, next) = if quoted {
            let mut field = String::new();
            let mut from = at + 1;
            let mut i = from;
            loop {
                match bytes.get(i) {
                    None => return Err(LineError::new(start_line, "csv", "a quoted field is never closed")),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                        field.push_str(&text[from..=i]);
                        i += 2;
                        from = i;
                    }
                    Some(b'"') => {
                        field.push_str(&text[from..i]);
                        i += 1;
                        break;
                    }
                    Some(b'\n') => {
                        line += 1;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            match bytes.get(i) {
                None | Some(b',' | b'\n') => {}
                Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => {}
                Some(_) => return Err(LineError::new(field_line, "csv", "text after a closing quote")),
            }
            (field, i)
        } else {
            let end = bytes[at..].iter().position(|b| matches!(b, b',' | b'\n')).map_or(bytes.len(), |p| at + p);
            let field = text[at..end].strip_suffix('\r').unwrap_or(&text[at..end]);
            if field.contains('"') {
                return Err(LineError::new(line, "csv", "a quote inside an unquoted field"));
            }
            (field.to_owned(), end)
        };
        // Only a line with nothing on it is blank; `""` is a record with one empty field.
        let blank_so_far = record.is_empty() && field.is_empty() && !quoted;
        record.push(field);
        let mut next = next;
        if bytes.get(next) == Some(&b'\r') {
            next += 1;
        }
        match bytes.get(next) {
            Some(b',') => at = next + 1,
            end_of_record => {
                if !blank_so_far {
                    records.push((start_line, std::mem::take(&mut record)));
                }
                record.clear();
                if end_of_record.is_none() {
                    return Ok(records);
                }
                line += 1;
                start_line = line;
                at = next + 1;
                if at >= bytes.len() {
                    return Ok(records);
                }
            }
        }
    }
}

/// Parses and checks a whole file as of `today`. A wrong header is an error of the file, not of
/// a row: nothing else is read.
pub fn parse_file(text: &str, today: Date) -> Result<ParsedFile, LineError> {
    let records = csv_records(text)?;
    let Some(((header_line, header), data)) = records.split_first() else {
        return Err(LineError::new(1, "header", "the file is empty"));
    };
    let header: Vec<&str> = header.iter().map(|h| h.trim()).collect();
    if header != HEADER {
        return Err(LineError::new(*header_line, "header", format!("must be exactly {}", HEADER.join(","))));
    }
    let mut parsed = ParsedFile { data_lines: data.len(), ..ParsedFile::default() };
    let mut agreement = Agreement::default();
    for (line, fields) in data {
        match parse_row(*line, fields, today) {
            Ok(row) => match agreement.check(&row, &parsed.rows) {
                Ok(()) => parsed.rows.push(row),
                Err(e) => parsed.errors.push(e),
            },
            Err(mut errors) => parsed.errors.append(&mut errors),
        }
    }
    Ok(parsed)
}

fn parse_row(line: usize, fields: &[String], today: Date) -> Result<ImportRow, Vec<LineError>> {
    if fields.len() != HEADER.len() {
        return Err(vec![LineError::new(
            line,
            "csv",
            format!("has {} fields, the header has {}", fields.len(), HEADER.len()),
        )]);
    }
    let mut errors = Vec::new();
    fn keep<T, E: ToString>(errors: &mut Vec<LineError>, line: usize, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| errors.push(LineError::new(line, field, e.to_string()))).ok()
    }
    macro_rules! check {
        ($field:expr, $result:expr $(,)?) => {
            keep(&mut errors, line, $field, $result)
        };
    }
    let f = |i: usize| fields[i].trim();
    let household_no = check!("household_no", check_household_no(f(0)));
    let township = check!("township", check_place(f(1), 64));
    let village = check!("village", check_place(f(2), 64));
    let national_id = check!("national_id", NationalId::parse_on(f(3), today).map_err(|e| e.to_string()));
    let name = check!("name", PersonName::parse(f(4)).map_err(|e| e.to_string()));
    let relation = check!("relation", f(5).parse::<Relation>().map_err(|e| e.to_string()));
    let birth_date = check!("birth_date", f(6).parse::<Date>().map_err(|e| e.to_string()));
    let category = check!("category", f(7).parse::<Category>().map_err(|e| e.to_string()));
    let effective_from = check!("effective_from", f(8).parse::<Date>().map_err(|e| e.to_string()));
    let effective_to = check!(
        "effective_to",
        if f(9).is_empty() { Ok(None) } else { f(9).parse::<Date>().map(Some).map_err(|e| e.to_string()) },
    );
    let bank_account = check!(
        "bank_account",
        if f(10).is_empty() { Ok(None) } else { BankAccount::parse(f(10)).map(Some).map_err(|e| e.to_string()) },
    );
    if let (Some(id), Some(birth)) = (&national_id, birth_date)
        && id.birth_date() != birth
    {
        errors.push(LineError::new(line, "birth_date", "does not match the birth date in national_id"));
    }
    if let (Some(from), Some(Some(to))) = (effective_from, effective_to)
        && to < from
    {
        errors.push(LineError::new(line, "effective_to", "is before effective_from"));
    }
    if let (Some(relation), Some(Some(_))) = (relation, &bank_account)
        && relation != Relation::Head
    {
        errors.push(LineError::new(line, "bank_account", "only the head's rows carry the household's account"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Every field is present here: each missing one recorded an error above.
    let row = || {
        Some(ImportRow {
            line,
            household_no: household_no?,
            township: township?,
            village: village?,
            national_id: national_id?,
            name: name?,
            relation: relation?,
            birth_date: birth_date?,
            category: category?,
            effective_from: effective_from?,
            effective_to: effective_to?,
            bank_account: bank_account?,
        })
    };
    row().ok_or_else(|| vec![LineError::new(line, "csv", "row could not be read")])
}

/// What the rows accepted so far say about each person and household; a later row must agree.
/// It holds positions in the accepted rows, not copies of them.
#[derive(Default)]
struct Agreement {
    persons: HashMap<NationalId, usize>,
    households: HashMap<String, usize>,
    heads: HashMap<String, usize>,
    periods: HashMap<(NationalId, Category), Vec<usize>>,
}

impl Agreement {
    /// Checks `row` against `accepted` (the rows accepted so far); on success, `row` is about to
    /// be pushed at position `accepted.len()`.
    fn check(&mut self, row: &ImportRow, accepted: &[ImportRow]) -> Result<(), LineError> {
        let differs = |field: &str, first: &ImportRow, what: &str| {
            LineError::new(row.line, field, format!("differs from line {} for the same {what}", first.line))
        };
        if let Some(first) = self.persons.get(&row.national_id).map(|&i| &accepted[i]) {
            for (field, same) in [
                ("household_no", first.household_no == row.household_no),
                ("name", first.name == row.name),
                ("relation", first.relation == row.relation),
            ] {
                if !same {
                    return Err(differs(field, first, "person"));
                }
            }
        }
        if let Some(first) = self.households.get(&row.household_no).map(|&i| &accepted[i]) {
            for (field, same) in
                [("township", first.township == row.township), ("village", first.village == row.village)]
            {
                if !same {
                    return Err(differs(field, first, "household"));
                }
            }
        }
        if row.relation == Relation::Head
            && let Some(head) = self.heads.get(&row.household_no).map(|&i| &accepted[i])
        {
            if head.national_id != row.national_id {
                return Err(LineError::new(
                    row.line,
                    "relation",
                    format!("the household's HEAD is already the person on line {}", head.line),
                ));
            }
            if head.bank_account != row.bank_account {
                return Err(LineError::new(
                    row.line,
                    "bank_account",
                    format!("differs from line {}: the head's rows must agree", head.line),
                ));
            }
        }
        let key = (row.national_id.clone(), row.category);
        let same_category = self.periods.get(&key).into_iter().flatten().map(|&i| &accepted[i]);
        if let Some(other) = same_category.into_iter().find(|o| o.period().overlaps(&row.period())) {
            let reason = if other.effective_from == row.effective_from {
                format!("repeats the {} period of line {}", row.category, other.line)
            } else {
                format!("overlaps the {} period of line {}", row.category, other.line)
            };
            return Err(LineError::new(row.line, "effective_from", reason));
        }
        let position = accepted.len();
        self.persons.entry(row.national_id.clone()).or_insert(position);
        if !self.households.contains_key(&row.household_no) {
            self.households.insert(row.household_no.clone(), position);
        }
        if row.relation == Relation::Head && !self.heads.contains_key(&row.household_no) {
            self.heads.insert(row.household_no.clone(), position);
        }
        self.periods.entry(key).or_default().push(position);
        Ok(())
    }
}

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
    use doudi_core::national_id::synthesize;

    fn today() -> Date {
        "2026-11-29".parse().unwrap()
    }

    fn id(seq: u32) -> String {
        synthesize("360730", "1970-01-15".parse().unwrap(), seq).expose().to_owned()
    }

    fn file(rows: &[String]) -> String {
        doudi_testkit::csv(&HEADER, rows)
    }

    fn row(household: &str, seq: u32, relation: &str, category: &str, from: &str, to: &str, account: &str) -> String {
        format!("{household},城关镇,东村,{},张{seq},{relation},1970-01-15,{category},{from},{to},{account}", id(seq))
    }

    #[test]
    fn reads_quotes_bom_and_crlf() {
        let records = csv_records("\u{feff}a,b\r\n\"x, \"\"y\"\"\",z\r\n\r\n\"multi\nline\",w\n").unwrap();
        assert_eq!(records[1], (2, vec!["x, \"y\"".to_string(), "z".to_string()]));
        assert_eq!(records[2], (4, vec!["multi\nline".to_string(), "w".to_string()]));
        assert!(csv_records("a,\"b").is_err());
    }

    proptest::proptest! {
        #[test]
        fn csv_round_trips_any_fields(
            records in proptest::collection::vec(
                proptest::collection::vec("[a-z0-9,\"\n\r 张王镇村]{0,8}", 1..5), 1..6),
            crlf in proptest::bool::ANY,
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let encode = |field: &String| {
                if field.contains([',', '"', '\n', '\r']) || field.is_empty() {
                    format!("\"{}\"", field.replace('"', "\"\""))
                } else {
                    field.clone()
                }
            };
            let text: String = records
                .iter()
                .map(|r| r.iter().map(encode).collect::<Vec<_>>().join(","))
                .collect::<Vec<_>>()
                .join(newline);
            let read: Vec<Vec<String>> = csv_records(&text).unwrap().into_iter().map(|(_, r)| r).collect();
            proptest::prop_assert_eq!(read, records);
        }
    }

    #[test]
    fn every_row_error_names_line_and_field() {
        let bad_id = id(1).replace(&id(1)[17..], if id(1).ends_with('1') { "2" } else { "1" });
        let text = file(&[
            row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480012345678"),
            format!("H1,城关镇,东村,{bad_id},张一,SPOUSE,1970-01-15,DIBAO_1,2015-01-01,,"),
            row("H1", 2, "COUSIN", "DIBAO_9", "2015-13-01", "", ""),
            row("H1", 3, "CHILD", "DIBAO_1", "2015-06-01", "2015-01-01", "6228480012345678"),
            format!("H1,城关镇,东村,{},张4,CHILD,1971-01-15,DIBAO_1,2015-01-01,,", id(4)),
            "H1,too,few".into(),
        ]);
        let parsed = parse_file(&text, today()).unwrap();
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(
            errors,
            [
                "line 3: national_id: check digit does not match (GB 11643)",
                "line 4: relation: must be one of HEAD|SPOUSE|CHILD|PARENT|OTHER",
                "line 4: category: must be one of TEKUN|DIBAO_1|DIBAO_2|REGISTERED_POOR|LOW_INCOME|NONE",
                "line 4: effective_from: is not a real calendar date",
                "line 5: effective_to: is before effective_from",
                "line 5: bank_account: only the head's rows carry the household's account",
                "line 6: birth_date: does not match the birth date in national_id",
                "line 7: csv: has 3 fields, the header has 11",
            ]
        );
        assert_eq!(parse_file("a,b\n", today()).unwrap_err().field, "header");
    }

    #[test]
    fn rows_must_agree_with_each_other() {
        let text = file(&[
            row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "2015-12-31", "6228480012345678"),
            row("H1", 1, "HEAD", "LOW_INCOME", "2015-01-01", "", "6228480099999999"),
            row("H1", 2, "HEAD", "DIBAO_1", "2015-01-01", "", ""),
            row("H1", 1, "HEAD", "DIBAO_1", "2015-06-01", "", "6228480012345678"),
            row("H1", 1, "HEAD", "DIBAO_1", "2016-01-01", "", "6228480012345678"),
            row("H2", 1, "HEAD", "TEKUN", "2016-01-01", "", ""),
        ]);
        let parsed = parse_file(&text, today()).unwrap();
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "line 3: bank_account: differs from line 2: the head's rows must agree",
                "line 4: relation: the household's HEAD is already the person on line 2",
                "line 5: effective_from: overlaps the DIBAO_1 period of line 2",
                "line 7: household_no: differs from line 2 for the same person",
            ]
        );
        assert_eq!(parsed.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 6]);
    }

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
