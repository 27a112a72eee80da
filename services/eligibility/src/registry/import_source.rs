//! What an import reads: a text already in memory (the demo county, tests), or a file read a
//! block at a time (`doudi registry import`), so a province's file is never held whole.
//!
//! A run's periods carry the file's SHA-256 as their source, so the digest is known before the
//! first is written: a file is read twice, once for its digest and once for its records, and
//! the second reading's digest must be the first's (a file changed in between is refused).

use crate::registry::csv::{CsvRecords, LineError};
use crate::registry::csv_file::{BLOCK_BYTES, FileRecords};
use crate::registry::import::{ChunkSizes, ParsedChunk, parse_in_chunks};
use doudi_core::Date;
use doudi_runtime::crypto::{Sha256Stream, sha256_hex};
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug)]
pub enum ImportSource {
    Text(String),
    File(PathBuf),
}

impl ImportSource {
    /// The SHA-256 (hex) of everything the import will read.
    pub fn digest(&self) -> Result<String, LineError> {
        match self {
            Self::Text(text) => Ok(sha256_hex(text.as_bytes())),
            Self::File(path) => {
                let mut file = std::fs::File::open(path).map_err(unreadable)?;
                let (mut digest, mut buffer) = (Sha256Stream::default(), vec![0u8; BLOCK_BYTES]);
                loop {
                    match file.read(&mut buffer) {
                        Ok(0) => return Ok(digest.finish_hex()),
                        Ok(read) => digest.update(&buffer[..read]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(unreadable(e)),
                    }
                }
            }
        }
    }

    /// `parse_in_chunks` of its records; a file must still have the digest `digest` (of
    /// `ImportSource::digest`) once it is read to its end.
    pub fn parse(
        self,
        digest: &str,
        today: Date,
        sizes: ChunkSizes,
        each: impl FnMut(ParsedChunk) -> bool,
    ) -> Result<usize, LineError> {
        match self {
            Self::Text(text) => parse_in_chunks(CsvRecords::new(&text), today, sizes, each),
            Self::File(path) => {
                let mut records = FileRecords::new(std::fs::File::open(&path).map_err(unreadable)?);
                let data_lines = parse_in_chunks(&mut records, today, sizes, each)?;
                match records.whole_file_digest() {
                    Some(read) if read != digest => Err(LineError::new(
                        data_lines + 1,
                        "file",
                        "changed while it was being imported (it is not the file whose digest the run began with)",
                    )),
                    _ => Ok(data_lines),
                }
            }
        }
    }
}

fn unreadable(e: std::io::Error) -> LineError {
    LineError::new(1, "file", format!("cannot be read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::import::{CHUNK_SIZES, HEADER};

    fn today() -> Date {
        Date::from_ymd(2026, 12, 4).expect("date")
    }

    fn file_of(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("recipients.csv");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn rows(source: ImportSource) -> Result<(usize, usize, usize), LineError> {
        let digest = source.digest()?;
        let (mut rows, mut errors) = (0, 0);
        let lines = source.parse(&digest, today(), CHUNK_SIZES, |chunk| {
            rows += chunk.rows.len();
            errors += chunk.errors.len();
            true
        })?;
        Ok((lines, rows, errors))
    }

    #[test]
    fn a_file_and_its_text_read_alike() {
        let mut text = HEADER.join(",");
        text.push_str("\nB000001,镇1,村1,11010519491231002X,张三,HEAD,1949-12-31,TEKUN,2015-01-01,,\n");
        text.push_str("B000001,镇1,村1,not an id,李四,CHILD,1950-01-01,TEKUN,2015-01-01,,\n");
        let (_dir, path) = file_of(&text);
        assert_eq!(ImportSource::File(path.clone()).digest(), ImportSource::Text(text.clone()).digest());
        assert_eq!(rows(ImportSource::File(path)), rows(ImportSource::Text(text)));
    }

    #[test]
    fn a_file_that_changed_after_its_digest_is_refused() {
        let text = format!("{}\n", HEADER.join(","));
        let (_dir, path) = file_of(&text);
        let digest = ImportSource::File(path.clone()).digest().expect("digest");
        std::fs::write(&path, format!("{text}\n")).expect("change");
        let changed = ImportSource::File(path).parse(&digest, today(), CHUNK_SIZES, |_| true);
        assert_eq!(changed.expect_err("refused").field, "file");
    }

    #[test]
    fn a_missing_file_is_an_error_of_the_file() {
        let missing = ImportSource::File("/nonexistent/recipients.csv".into()).digest();
        assert!(missing.expect_err("missing").reason.starts_with("cannot be read"));
    }
}
