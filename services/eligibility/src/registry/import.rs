//! Import of existing recipients from a county's spreadsheet (CSV). Pure: parsing, validation
//! of every row and agreement between rows; `import_plan` decides what changes against what the
//! registry already holds, and the store applies a plan in one transaction.
//!
//! A row is identified by national ID, category and `effective_from`: the same file imported
//! twice changes nothing; a later file may close (or correct the end of) a period; nothing is
//! deleted because a later file leaves it out.

use crate::coverage::rules::CategoryPeriod;
#[cfg(test)]
use crate::registry::csv::CsvRecords;
use crate::registry::csv::LineError;
use crate::registry::csv_file::Record;
use crate::registry::household::{check_household_no, check_place};
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, Date, NationalId, Relation};
use std::collections::HashMap;

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
/// the others (the import reads a file chunk by chunk; the tests read it whole).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<LineError>,
    pub data_lines: usize,
}

/// A run of a file's records, checked: the rows valid on their own that agree with every row
/// before them in the file, and the errors of the others.
#[derive(Debug, Default)]
pub struct ParsedChunk {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<LineError>,
}

/// How many records each chunk of a file holds: the first few small, so the database starts
/// writing while the first rows are still being sealed (with chunks of 8 192 from the start, it
/// waited a quarter of a 100 000-person import for its first statement); each next one twice the
/// one before, up to `most`: large enough to fill several multi-row statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSizes {
    pub first: usize,
    pub most: usize,
}

impl ChunkSizes {
    /// Every chunk `records` long.
    pub const fn fixed(records: usize) -> Self {
        Self { first: records, most: records }
    }

    fn after(self, records: usize) -> usize {
        records.saturating_mul(2).min(self.most)
    }
}

/// The sizes an import reads a file in.
pub const CHUNK_SIZES: ChunkSizes = ChunkSizes { first: 512, most: 8192 };

/// Parses and checks a whole file as of `today`. A wrong header is an error of the file, not of
/// a row: nothing else is read.
#[cfg(test)]
pub fn parse_file(text: &str, today: Date) -> Result<ParsedFile, LineError> {
    let mut parsed = ParsedFile::default();
    parsed.data_lines = parse_in_chunks(CsvRecords::new(text), today, CHUNK_SIZES, |mut chunk| {
        parsed.rows.append(&mut chunk.rows);
        parsed.errors.append(&mut chunk.errors);
        true
    })?;
    Ok(parsed)
}

/// Parses and checks a file's records (`CsvRecords` of a text, `FileRecords` of a file) as of
/// `today`, handing them to `each` a chunk at a time (of `sizes`), in file order; stops reading
/// when `each` answers false. Answers the number of data lines. A wrong header or a record that
/// is not well-formed CSV is an error of the file: its chunks handed out so far must then be
/// thrown away.
pub fn parse_in_chunks(
    records: impl IntoIterator<Item = Record>,
    today: Date,
    sizes: ChunkSizes,
    mut each: impl FnMut(ParsedChunk) -> bool,
) -> Result<usize, LineError> {
    let mut records = records.into_iter();
    let Some(header) = records.next() else {
        return Err(LineError::new(1, "header", "the file is empty"));
    };
    let (header_line, header) = header?;
    let header: Vec<&str> = header.iter().map(|h| h.trim()).collect();
    if header != HEADER {
        return Err(LineError::new(header_line, "header", format!("must be exactly {}", HEADER.join(","))));
    }
    let (mut data_lines, mut in_chunk, mut chunk_records) = (0, 0, sizes.first.max(1));
    let mut chunk = ParsedChunk::default();
    let mut agreement = Agreement::default();
    for record in records {
        let (line, fields) = record?;
        data_lines += 1;
        match parse_row(line, &fields, today) {
            Ok(row) => match agreement.check(&row) {
                Ok(()) => chunk.rows.push(row),
                Err(e) => chunk.errors.push(e),
            },
            Err(mut errors) => chunk.errors.append(&mut errors),
        }
        in_chunk += 1;
        if in_chunk == chunk_records {
            in_chunk = 0;
            chunk_records = sizes.after(chunk_records);
            if !each(std::mem::take(&mut chunk)) {
                return Ok(data_lines);
            }
        }
    }
    if in_chunk > 0 {
        each(chunk);
    }
    Ok(data_lines)
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
/// It keeps what it compares, so rows already handed on need not be kept.
#[derive(Default)]
struct Agreement {
    persons: HashMap<NationalId, PersonSaid>,
    households: HashMap<String, HouseholdSaid>,
    heads: HashMap<String, HeadSaid>,
}

struct PersonSaid {
    line: usize,
    household_no: String,
    name: PersonName,
    relation: Relation,
    /// Every period accepted for the person, with its line.
    periods: Vec<(usize, CategoryPeriod)>,
}

struct HouseholdSaid {
    line: usize,
    township: String,
    village: String,
}

struct HeadSaid {
    line: usize,
    national_id: NationalId,
    bank_account: Option<BankAccount>,
}

impl Agreement {
    /// Checks `row` against the rows accepted before it, and accepts it if it agrees.
    fn check(&mut self, row: &ImportRow) -> Result<(), LineError> {
        let differs = |field: &str, first_line: usize, what: &str| {
            LineError::new(row.line, field, format!("differs from line {first_line} for the same {what}"))
        };
        let person = self.persons.get(&row.national_id);
        if let Some(first) = person {
            for (field, same) in [
                ("household_no", first.household_no == row.household_no),
                ("name", first.name == row.name),
                ("relation", first.relation == row.relation),
            ] {
                if !same {
                    return Err(differs(field, first.line, "person"));
                }
            }
        }
        if let Some(first) = self.households.get(&row.household_no) {
            for (field, same) in
                [("township", first.township == row.township), ("village", first.village == row.village)]
            {
                if !same {
                    return Err(differs(field, first.line, "household"));
                }
            }
        }
        if row.relation == Relation::Head
            && let Some(head) = self.heads.get(&row.household_no)
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
        let period = row.period();
        let same_category = person.into_iter().flat_map(|p| &p.periods).filter(|(_, p)| p.category == row.category);
        if let Some((line, other)) = same_category.into_iter().find(|(_, p)| p.overlaps(&period)) {
            let reason = if other.from == row.effective_from {
                format!("repeats the {} period of line {line}", row.category)
            } else {
                format!("overlaps the {} period of line {line}", row.category)
            };
            return Err(LineError::new(row.line, "effective_from", reason));
        }
        match self.persons.get_mut(&row.national_id) {
            Some(person) => person.periods.push((row.line, period)),
            None => {
                let said = PersonSaid {
                    line: row.line,
                    household_no: row.household_no.clone(),
                    name: row.name.clone(),
                    relation: row.relation,
                    periods: vec![(row.line, period)],
                };
                self.persons.insert(row.national_id.clone(), said);
            }
        }
        if !self.households.contains_key(&row.household_no) {
            let said = HouseholdSaid { line: row.line, township: row.township.clone(), village: row.village.clone() };
            self.households.insert(row.household_no.clone(), said);
        }
        if row.relation == Relation::Head && !self.heads.contains_key(&row.household_no) {
            let said = HeadSaid {
                line: row.line,
                national_id: row.national_id.clone(),
                bank_account: row.bank_account.clone(),
            };
            self.heads.insert(row.household_no.clone(), said);
        }
        Ok(())
    }
}

/// Rows of a test file, for this module's tests and the plan's.
#[cfg(test)]
pub(crate) mod test_rows {
    use super::HEADER;
    use doudi_core::Date;
    use doudi_core::national_id::synthesize;

    pub fn today() -> Date {
        "2026-11-29".parse().unwrap()
    }

    pub fn id(seq: u32) -> String {
        synthesize("360730", "1970-01-15".parse().unwrap(), seq).expose().to_owned()
    }

    pub fn file(rows: &[String]) -> String {
        doudi_testkit::csv(&HEADER, rows)
    }

    pub fn row(
        household: &str,
        seq: u32,
        relation: &str,
        category: &str,
        from: &str,
        to: &str,
        account: &str,
    ) -> String {
        format!("{household},城关镇,东村,{},张{seq},{relation},1970-01-15,{category},{from},{to},{account}", id(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::test_rows::{file, id, row, today};
    use super::*;

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
    fn chunks_of_any_size_read_as_the_whole_file() {
        let text = file(&[
            row("H1", 2, "CHILD", "DIBAO_1", "2015-01-01", "", ""),
            row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480012345678"),
            row("H1", 2, "SPOUSE", "DIBAO_1", "2016-01-01", "", ""),
            "H1,too,few".into(),
            row("H1", 1, "HEAD", "DIBAO_1", "2015-06-01", "", "6228480012345678"),
        ]);
        let whole = parse_file(&text, today()).unwrap();
        for size in [1, 2, 3] {
            let (mut rows, mut errors, mut chunks) = (Vec::new(), Vec::new(), 0);
            let lines = parse_in_chunks(CsvRecords::new(&text), today(), ChunkSizes::fixed(size), |mut chunk| {
                chunks += 1;
                rows.append(&mut chunk.rows);
                errors.append(&mut chunk.errors);
                true
            })
            .unwrap();
            assert_eq!((rows, errors, lines), (whole.rows.clone(), whole.errors.clone(), 5), "chunks of {size}");
            assert_eq!(chunks, 5usize.div_ceil(size));
        }
        assert_eq!(whole.rows.len(), 2);
        let mut lengths = Vec::new();
        parse_in_chunks(CsvRecords::new(&text), today(), ChunkSizes { first: 1, most: 2 }, |chunk| {
            lengths.push(chunk.rows.len() + chunk.errors.len());
            true
        })
        .unwrap();
        assert_eq!(lengths, [1, 2, 2], "each chunk twice the one before, up to the most");
        let bad_csv = format!("{text}H2,\"unclosed\n");
        let mut handed_out = 0;
        assert!(
            parse_in_chunks(CsvRecords::new(&bad_csv), today(), ChunkSizes::fixed(1), |_| {
                handed_out += 1;
                true
            })
            .is_err()
        );
        assert_eq!(handed_out, 5, "the chunks before a malformed record are handed out, then the file fails");
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
}
