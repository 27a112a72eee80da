//! The records of a CSV file read a block at a time, so importing a province's file holds a
//! block of it (and the chunks in flight), never the whole file.
//!
//! A block ends after a line feed outside quotes: the quote count of the file so far tells
//! which line feeds end a record (a `""` inside a quoted field counts twice). A block that is
//! cut there is well-formed CSV on its own, so `CsvRecords` reads it exactly as it would read the
//! whole text; where the file is not well-formed, the cut can only fall after the fault, which
//! `CsvRecords` then reports as it would in the whole text.
//!
//! The reader also takes the file's SHA-256 as it goes, so the import can tell whether the file
//! it sealed under a digest is the file it read.

use crate::registry::csv::{CsvRecords, LineError};
use doudi_runtime::crypto::Sha256Stream;
use std::io::Read;

/// Bytes read at a time; a block is at least this long (or the rest of the file).
pub const BLOCK_BYTES: usize = 1 << 20;

/// One record and the line it starts on, or why the file cannot be read further.
pub type Record = Result<(usize, Vec<String>), LineError>;

/// The records of a file, read `block` bytes at a time.
pub struct FileRecords<R> {
    source: R,
    block: usize,
    digest: Sha256Stream,
    /// Bytes read but not yet cut into a block; `scanned` of them have had their quotes counted.
    pending: Vec<u8>,
    scanned: usize,
    /// Whether the byte after the `scanned` ones is inside quotes.
    in_quotes: bool,
    /// Where, in `pending`, the last record that ends in the scanned bytes ends.
    boundary: usize,
    /// The line the next block starts on.
    next_line: usize,
    first_block: bool,
    at_end: bool,
    /// The current block's records, then its fault if it has one (nothing is read after it).
    records: std::vec::IntoIter<(usize, Vec<String>)>,
    fault: Option<LineError>,
    stopped: bool,
}

impl<R: Read> FileRecords<R> {
    pub fn new(source: R) -> Self {
        Self::with_block(source, BLOCK_BYTES)
    }

    /// With blocks of `block` bytes (the tests cut files in many places).
    pub fn with_block(source: R, block: usize) -> Self {
        Self {
            source,
            block: block.max(1),
            digest: Sha256Stream::default(),
            pending: Vec::new(),
            scanned: 0,
            in_quotes: false,
            boundary: 0,
            next_line: 1,
            first_block: true,
            at_end: false,
            records: Vec::new().into_iter(),
            fault: None,
            stopped: false,
        }
    }

    /// The SHA-256 (hex) of the file, once it is read to its end.
    pub fn whole_file_digest(&self) -> Option<String> {
        self.at_end.then(|| self.digest.clone().finish_hex())
    }

    /// The next block: whole records (or the rest of the file); `None` at the end.
    fn next_block(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        loop {
            if self.boundary > 0 && (self.pending.len() >= self.block || self.at_end) {
                let rest = self.pending.split_off(self.boundary);
                let block = std::mem::replace(&mut self.pending, rest);
                self.scanned -= self.boundary;
                self.boundary = 0;
                return Ok(Some(block));
            }
            if self.at_end {
                return Ok((!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending)));
            }
            self.read_more()?;
            self.count_quotes();
        }
    }

    fn read_more(&mut self) -> Result<(), LineError> {
        let had = self.pending.len();
        self.pending.resize(had + self.block, 0);
        let read = loop {
            match self.source.read(&mut self.pending[had..]) {
                Ok(read) => break read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let line = self.next_line + line_feeds(&self.pending[..had]);
                    return Err(LineError::new(line, "file", format!("cannot be read: {e}")));
                }
            }
        };
        self.pending.truncate(had + read);
        self.digest.update(&self.pending[had..]);
        self.at_end = read == 0;
        Ok(())
    }

    fn count_quotes(&mut self) {
        for (i, byte) in self.pending.iter().enumerate().skip(self.scanned) {
            match byte {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.boundary = i + 1,
                _ => {}
            }
        }
        self.scanned = self.pending.len();
    }

    /// Reads the next block's records into `records` (and its fault into `fault`).
    fn read_block(&mut self) -> Result<bool, LineError> {
        let Some(block) = self.next_block()? else { return Ok(false) };
        let line = self.next_line;
        let lines = line_feeds(&block);
        let text = String::from_utf8(block).map_err(|e| {
            let line = line + line_feeds(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
            LineError::new(line, "file", "is not UTF-8 text")
        })?;
        let records = match std::mem::take(&mut self.first_block) {
            true => CsvRecords::new(&text),
            false => CsvRecords::continuing(&text, line),
        };
        let mut read = Vec::new();
        for record in records {
            match record {
                Ok(record) => read.push(record),
                Err(fault) => {
                    self.fault = Some(fault);
                    break;
                }
            }
        }
        self.records = read.into_iter();
        self.next_line += lines;
        Ok(true)
    }
}

fn line_feeds(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

impl<R: Read> Iterator for FileRecords<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if self.stopped {
                return None;
            }
            if let Some(record) = self.records.next() {
                return Some(Ok(record));
            }
            if let Some(fault) = self.fault.take() {
                self.stopped = true;
                return Some(Err(fault));
            }
            match self.read_block() {
                Ok(true) => {}
                Ok(false) => self.stopped = true,
                Err(fault) => {
                    self.stopped = true;
                    return Some(Err(fault));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &str) -> Vec<Record> {
        CsvRecords::new(text).collect()
    }

    fn in_blocks(text: &[u8], block: usize) -> Vec<Record> {
        FileRecords::with_block(text, block).collect()
    }

    #[test]
    fn a_file_read_in_blocks_reads_as_the_whole_text() {
        let text = "\u{feff}a,b\r\n\"x, \"\"y\"\"\",z\r\n\r\n\"multi\nline\",w\n镇,村\nlast,no newline";
        for block in 1..=text.len() + 1 {
            assert_eq!(in_blocks(text.as_bytes(), block), whole(text), "blocks of {block}");
        }
    }

    #[test]
    fn faults_are_reported_where_the_whole_text_reports_them() {
        for text in ["a,b\nc,\"d\n", "a,b\nc\"d,e\nf,g\n", "a\n\"b\"c,d\ne\n", "a\n\"b\n\nc\n"] {
            for block in 1..=text.len() + 1 {
                assert_eq!(in_blocks(text.as_bytes(), block), whole(text), "{text:?} in blocks of {block}");
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_line() {
        let text = b"a,b\nc,d\ne,\xff\ng,h\n";
        let records = in_blocks(text, 4);
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], Err(LineError::new(3, "file", "is not UTF-8 text")));
    }

    #[test]
    fn the_digest_is_the_whole_file_s() {
        let text = "a,b\n\"c\nd\",e\n".repeat(1000);
        let mut records = FileRecords::with_block(text.as_bytes(), 100);
        assert_eq!(records.by_ref().take(10).count(), 10);
        assert_eq!(records.whole_file_digest(), None, "not read to its end");
        assert_eq!(records.by_ref().count(), 1990);
        assert_eq!(records.whole_file_digest(), Some(doudi_runtime::crypto::sha256_hex(text.as_bytes())));
    }

    proptest::proptest! {
        #[test]
        fn any_text_in_any_blocks_reads_as_the_whole(
            text in "[a,\"\n\r镇]{0,40}",
            block in 1usize..12,
        ) {
            proptest::prop_assert_eq!(in_blocks(text.as_bytes(), block), whole(&text));
        }
    }
}
