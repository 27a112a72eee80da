//! Reading a county's CSV file: RFC 4180 records with the line each starts on, and the
//! `line N: field: reason` error every check of a county's file answers with.
//!
//! Hand-written rather than the `csv` crate: that reader is lenient by design (an unclosed
//! quote, a quote inside an unquoted field or text after a closing quote are read as data), and
//! a county's file that is not well-formed must be refused, not guessed at (ARCHITECTURE.md).

use std::fmt;

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

/// Splits CSV text (RFC 4180: quoted fields, `""` escapes, CRLF or LF, a UTF-8 BOM as Excel
/// writes it) into records with the line each starts on. Blank lines are skipped.
pub fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, LineError> {
    CsvRecords::new(text).collect()
}

/// The records of CSV text one at a time, so a large file is read as it is used. After an
/// error it yields nothing more: a file that is not well-formed is not read further.
///
/// It works on bytes: the separators are ASCII, and no byte of a multi-byte UTF-8 character is
/// ASCII, so every cut falls between characters. Unquoted fields are copied whole.
pub struct CsvRecords<'a> {
    text: &'a str,
    /// Where the next record starts; `None` once the text is used up or refused.
    at: Option<usize>,
    line: usize,
}

impl<'a> CsvRecords<'a> {
    pub fn new(text: &'a str) -> Self {
        Self::continuing(text.strip_prefix('\u{feff}').unwrap_or(text), 1)
    }

    /// The records of a part of a file that starts a record on line `line` (no mark to strip).
    pub fn continuing(text: &'a str, line: usize) -> Self {
        Self { text, at: (!text.is_empty()).then_some(0), line }
    }

    /// The record starting at `at`, and where the next one starts (`None`: the end).
    fn record(&mut self, mut at: usize) -> Result<(Vec<String>, Option<usize>), LineError> {
        let (text, bytes) = (self.text, self.text.as_bytes());
        let start_line = self.line;
        let mut record: Vec<String> = Vec::new();
        loop {
            // One field, starting at `at`.
            let field_line = self.line;
            let quoted = bytes.get(at) == Some(&b'"');
            let (field, mut next) = if quoted {
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
                            self.line += 1;
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
                    return Err(LineError::new(self.line, "csv", "a quote inside an unquoted field"));
                }
                (field.to_owned(), end)
            };
            record.push(field);
            if bytes.get(next) == Some(&b'\r') {
                next += 1;
            }
            match bytes.get(next) {
                Some(b',') => at = next + 1,
                None => return Ok((record, None)),
                Some(_) => {
                    self.line += 1;
                    let next = next + 1;
                    return Ok((record, (next < bytes.len()).then_some(next)));
                }
            }
        }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = Result<(usize, Vec<String>), LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let at = self.at.take()?;
            let line = self.line;
            match self.record(at) {
                Err(e) => return Some(Err(e)),
                Ok((record, next)) => {
                    self.at = next;
                    // Only a line with nothing on it is blank; `""` is a record with one empty field.
                    let blank = record.len() == 1 && record[0].is_empty() && self.text.as_bytes()[at] != b'"';
                    if !blank {
                        return Some(Ok((line, record)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
