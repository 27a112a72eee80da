//! The ideal figures `../shared/perf-ceiling` measured on this machine (its `results.tsv`), so
//! each settlement figure is printed beside its ceiling and the ratio. Run perf-ceiling `e2e`
//! back to back with the benchmark: figures of different sessions are not comparable.

use crate::load::LoadResult;
use anyhow::{Context, Result};
use std::path::Path;

/// One ideal settlement run: its database, requests in flight, throughput and p99.
#[derive(Debug, Clone, PartialEq)]
pub struct IdealRun {
    pub label: String,
    pub concurrency: usize,
    pub rps: f64,
    pub p99_ms: f64,
}

/// The e2e settlement lines of a perf-ceiling results file.
pub fn read(path: &Path) -> Result<Vec<IdealRun>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().filter_map(parse_line).collect())
}

/// A tab-separated line: `e-pg-sc_on-r1, settle, c=16, k=4, rps=3613, p50_us=4274, p99_us=8708, …`.
fn parse_line(line: &str) -> Option<IdealRun> {
    let mut fields = line.split('\t');
    let label = fields.next()?.strip_prefix("e-")?.to_owned();
    if fields.next()? != "settle" {
        return None;
    }
    let (mut concurrency, mut rps, mut p99_us) = (None, None, None);
    for field in fields {
        match field.split_once('=')? {
            ("c", v) => concurrency = v.parse().ok(),
            ("rps", v) => rps = v.parse().ok(),
            ("p99_us", v) => p99_us = v.parse::<f64>().ok(),
            _ => {}
        }
    }
    Some(IdealRun { label, concurrency: concurrency?, rps: rps?, p99_ms: p99_us? / 1000.0 })
}

/// The ideal that matches a doudi run: durable PostgreSQL (`synchronous_commit = on`), or
/// SQLite through one writer connection; the mean of its repetitions.
pub fn ideal_for(runs: &[IdealRun], backend: &str, concurrency: usize) -> Option<IdealRun> {
    let prefix = match backend {
        "postgres" => "pg-sc_on-",
        _ => "sqlite-NORMAL-pool1-",
    };
    let matching: Vec<&IdealRun> =
        runs.iter().filter(|r| r.label.starts_with(prefix) && r.concurrency == concurrency).collect();
    if matching.is_empty() {
        return None;
    }
    let n = matching.len() as f64;
    Some(IdealRun {
        label: prefix.trim_end_matches('-').to_owned(),
        concurrency,
        rps: matching.iter().map(|r| r.rps).sum::<f64>() / n,
        p99_ms: matching.iter().map(|r| r.p99_ms).sum::<f64>() / n,
    })
}

/// `name` beside its ideal: throughput ratio and p99 ratio.
pub fn print_beside(backend: &str, name: &str, measured: &LoadResult, ideal: &IdealRun) {
    println!(
        "{name}/ideal on {backend} at c={}: rps {:.0} vs {:.0} ({}) = {:.2}, p99 {:.2} vs {:.2} ms = {:.2}x",
        ideal.concurrency,
        measured.rps,
        ideal.rps,
        ideal.label,
        measured.rps / ideal.rps,
        measured.p99_us / 1000.0,
        ideal.p99_ms,
        measured.p99_us / 1000.0 / ideal.p99_ms
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_e2e_lines_and_averages_repetitions() {
        let text = "e-pg-sc_on-r1\tsettle\tc=16\tk=4\trps=3600\tp50_us=4274\tp99_us=8000\tp999_us=1\terrors=0\n\
                    e-pg-sc_on-r2\tsettle\tc=16\tk=4\trps=3800\tp50_us=4274\tp99_us=9000\tp999_us=1\terrors=0\n\
                    e-pg-sc_off-r1\tsettle\tc=16\tk=4\trps=4363\tp50_us=3270\tp99_us=8760\tp999_us=1\terrors=0\n\
                    a-direct-unpinned-r1\techo\tc=16\trps=17000\n\
                    d-pg-sc_on-r1\tpgbench -c 16\ttps=900\n";
        let runs: Vec<IdealRun> = text.lines().filter_map(parse_line).collect();
        assert_eq!(runs.len(), 3);
        let ideal = ideal_for(&runs, "postgres", 16).expect("an ideal");
        assert_eq!((ideal.rps, ideal.p99_ms), (3700.0, 8.5));
        assert_eq!(ideal_for(&runs, "postgres", 64), None);
        assert_eq!(ideal_for(&runs, "sqlite", 16), None);
    }
}
