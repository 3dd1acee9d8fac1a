//! `hvtriage batch`: a queue of cases (every immediate sub-folder and `.zip` of a folder),
//! analyzed in parallel, each into its own report folder, plus an index and summaries with one
//! row per case (SPEC §5.5). One bad case never stops the others: it becomes a row that says
//! why.

mod index;
mod progress;

use crate::analysis::Analysis;
use crate::input::Progress;
use crate::rules::{RuleSet, Severity};
use crate::{analyze, report, Options};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The files written for each case, relative to its folder in the output.
pub const CASE_HTML: &str = "report.html";
pub const CASE_JSON: &str = "report.json";
pub const CASE_CSV: &str = "report.csv";

/// The files a batch writes at the top of its output, which no case folder may be named.
const RESERVED: [&str; 3] = ["index.html", "summary.json", "summary.csv"];

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Cases analyzed at once (threads of the pool every case shares).
    pub jobs: usize,
    /// Show progress bars on standard error (only when it is a terminal).
    pub progress: bool,
}

/// Why a batch could not run at all (a single case's failure is a row, not an error).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{dir}: the folder of cases cannot be read ({err}); check the path")]
    Unreadable { dir: String, err: std::io::Error },
    #[error("{dir}: no case found; put each case in a sub-folder or a .zip of this folder")]
    NoCase { dir: String },
    #[error("{dir}: cannot be written ({err}); check the output folder is writable")]
    Output { dir: String, err: std::io::Error },
    #[error("cannot start {jobs} worker threads ({why})")]
    Threads { jobs: usize, why: String },
}

/// One case of the queue.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name in the index, and its folder in the output.
    pub name: String,
    pub path: PathBuf,
}

/// The most severe finding of a case.
#[derive(Debug, Clone, Serialize)]
pub struct TopFinding {
    pub severity: Severity,
    pub rule: String,
    /// Its title, in the batch's language.
    pub title: String,
    pub host: String,
    /// Every host of its evidence (a cluster-wide finding has several).
    pub hosts: Vec<String>,
}

/// One row of the index and the summaries.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub case: String,
    pub hosts: Vec<String>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub top_finding: Option<TopFinding>,
    pub findings: usize,
    pub warnings: usize,
    /// Why the case could not be analyzed (no readable input), if it could not.
    pub error: Option<String>,
    /// The case's report files, relative to the output folder.
    pub reports: Vec<String>,
}

impl Row {
    fn worst(&self) -> Option<Severity> {
        self.top_finding.as_ref().map(|t| t.severity)
    }
}

/// The cases of `dir`: its immediate sub-folders and `.zip` files, sorted by name, each with
/// an output folder name no other case and no summary file has.
///
/// # Errors
/// [`BatchError::Unreadable`] when `dir` cannot be listed, [`BatchError::NoCase`] when it
/// holds no case.
pub fn cases(dir: &Path) -> Result<Vec<Case>, BatchError> {
    let entries = std::fs::read_dir(dir).map_err(|err| BatchError::Unreadable {
        dir: dir.display().to_string(),
        err,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_case(p))
        .collect();
    paths.sort();
    // Names are all decided here, before any case runs: two cases writing into one folder
    // would race under --jobs and leave two index rows linking to one report.
    let mut taken: BTreeSet<String> = RESERVED.iter().map(|r| folded(r)).collect();
    let cases: Vec<Case> = paths
        .into_iter()
        .map(|path| Case {
            name: unique_name(&path, &mut taken),
            path,
        })
        .collect();
    if cases.is_empty() {
        return Err(BatchError::NoCase {
            dir: dir.display().to_string(),
        });
    }
    Ok(cases)
}

/// The case's output name, recorded in `taken`: its name, else (`x/` beside `x.zip`) its
/// file name, else its name suffixed `-2`, `-3`, … until free.
fn unique_name(path: &Path, taken: &mut BTreeSet<String>) -> String {
    let name = case_name(path);
    let file_name = path
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    let name = [name.clone(), file_name]
        .into_iter()
        .chain((2u64..).map(|n| format!("{name}-{n}")))
        .find(|candidate| !taken.contains(&folded(candidate)))
        .unwrap_or(name);
    taken.insert(folded(&name));
    name
}

/// Names compared as a case-insensitive file system (Windows, macOS) compares them, so the
/// output folder can be copied there; non-UTF-8 bytes are already `�`, the way they are shown.
fn folded(name: &str) -> String {
    name.to_lowercase()
}

/// A sub-folder (not a link: a queue is walked, never followed out) or a `.zip` file.
fn is_case(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let zip = path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("zip"));
    meta.is_dir() || (meta.is_file() && zip)
}

fn case_name(path: &Path) -> String {
    let is_zip = path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("zip"));
    let name = if is_zip {
        path.file_stem()
    } else {
        path.file_name()
    };
    name.map_or_else(|| "case".into(), |n| n.to_string_lossy().into_owned())
}

/// Analyzes every case of `dir` into `out`, writes the index and the summaries, and returns
/// the rows (in the order of the index: worst finding first, then by name).
///
/// # Errors
/// See [`BatchError`]: only what stops the whole batch.
pub fn run(
    dir: &Path,
    out: &Path,
    rules: &RuleSet,
    options: &Options,
    batch: &BatchOptions,
) -> Result<Vec<Row>, BatchError> {
    let cases = cases(dir)?;
    std::fs::create_dir_all(out).map_err(|err| output_error(out, err))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(batch.jobs.max(1))
        .build()
        .map_err(|e| BatchError::Threads {
            jobs: batch.jobs,
            why: e.to_string(),
        })?;
    let bars = progress::Bars::new(cases.len(), batch.progress);
    let mut rows: Vec<Row> = bars.while_running(|| {
        pool.install(|| {
            cases
                .par_iter()
                .enumerate()
                .map(|(index, case)| {
                    let counter = Progress::new();
                    let bar = bars.start(index, &case.name, counter.clone());
                    let row = run_case(case, out, rules, options, counter);
                    bars.finish(index, bar);
                    row
                })
                .collect()
        })
    });
    sort_rows(&mut rows);
    write_summaries(out, &rows, &options.lang)?;
    Ok(rows)
}

/// Worst finding first (what to look at first), then by name.
fn sort_rows(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        let rank = |r: &Row| r.worst().map_or(u8::MAX, |s| s as u8);
        rank(a).cmp(&rank(b)).then_with(|| a.case.cmp(&b.case))
    });
}

/// One case: analyzed and its reports written; whatever goes wrong is its row's error.
fn run_case(case: &Case, out: &Path, rules: &RuleSet, options: &Options, counter: Progress) -> Row {
    let options = Options {
        case: Some(case.name.clone()),
        progress: counter,
        ..options.clone()
    };
    let paths = [case.path.clone()];
    // A panic is a bug in hvtriage, but it must cost only this case's row.
    let analyzed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        analyze(&paths, rules, &options)
    }));
    match analyzed {
        Ok(Ok(analysis)) => match write_case(&analysis, &out.join(&case.name)) {
            Ok(reports) => row_of(&case.name, &analysis, reports),
            Err(err) => failed_row(&case.name, err.to_string()),
        },
        Ok(Err(err)) => failed_row(&case.name, err.in_lang(&options.lang)),
        Err(_) => failed_row(
            &case.name,
            if options.lang == "ja" {
                "このケースの読み取り中に hvtriage が内部エラーで停止しました。他のケースには影響しません。ケースのファイルを添えて報告してください".into()
            } else {
                "hvtriage stopped on an internal error while reading this case; the other cases are not affected — please report it with the case's files".into()
            },
        ),
    }
}

/// Writes a case's reports into `dir`; returns their paths relative to the output folder.
fn write_case(analysis: &Analysis, dir: &Path) -> Result<Vec<String>, BatchError> {
    std::fs::create_dir_all(dir).map_err(|err| output_error(dir, err))?;
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let files = [
        (CASE_HTML, report::html::render(analysis)),
        (CASE_JSON, report::json::render(analysis)),
        (CASE_CSV, report::csv::render(analysis)),
    ];
    let mut written = Vec::new();
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|err| output_error(&path, err))?;
        written.push(format!("{name}/{file}"));
    }
    Ok(written)
}

fn row_of(name: &str, a: &Analysis, reports: Vec<String>) -> Row {
    let span = a.span();
    Row {
        case: name.to_string(),
        hosts: a.hosts.iter().map(|h| h.key.clone()).collect(),
        first: span.map(|s| s.0),
        last: span.map(|s| s.1),
        // Findings are ordered by severity, then time: the first is the top one.
        top_finding: a.findings.first().map(|f| TopFinding {
            severity: f.severity,
            rule: f.rule.clone(),
            title: f.title.clone(),
            host: f.host.clone(),
            hosts: f.hosts.clone(),
        }),
        findings: a.findings.len(),
        warnings: a.warnings.len(),
        error: None,
        reports,
    }
}

fn failed_row(name: &str, error: String) -> Row {
    Row {
        case: name.to_string(),
        hosts: Vec::new(),
        first: None,
        last: None,
        top_finding: None,
        findings: 0,
        warnings: 0,
        error: Some(error),
        reports: Vec::new(),
    }
}

fn output_error(path: &Path, err: std::io::Error) -> BatchError {
    BatchError::Output {
        dir: path.display().to_string(),
        err,
    }
}

/// `index.html`, `summary.json` and `summary.csv`.
fn write_summaries(out: &Path, rows: &[Row], lang: &str) -> Result<(), BatchError> {
    let files = [
        ("index.html", index::html(rows, lang)),
        ("summary.json", summary_json(rows)),
        ("summary.csv", summary_csv(rows)),
    ];
    for (file, text) in files {
        let path = out.join(file);
        std::fs::write(&path, text).map_err(|err| output_error(&path, err))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Summary<'a> {
    schema: u32,
    tool: &'static str,
    version: &'static str,
    cases: &'a [Row],
}

/// The rows as JSON: `{"schema": 1, …, "cases": [rows]}`, pretty-printed.
pub fn summary_json(rows: &[Row]) -> String {
    let doc = Summary {
        schema: 1,
        tool: "hvtriage",
        version: env!("CARGO_PKG_VERSION"),
        cases: rows,
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

const CSV_HEADER: [&str; 12] = [
    "case",
    "hosts",
    "first_utc",
    "last_utc",
    "top_severity",
    "top_rule",
    "top_host",
    "findings",
    "warnings",
    "error",
    "reports",
    "top_hosts",
];

/// The rows as CSV (RFC 4180, CRLF), the same columns as the index; text cells are made safe
/// for spreadsheets by [`report::csv::line`].
pub fn summary_csv(rows: &[Row]) -> String {
    use report::csv::Cell::{Number, Text};
    let mut out = report::csv::header(&CSV_HEADER);
    for r in rows {
        let top = r.top_finding.as_ref();
        out.push_str(&report::csv::line([
            Text(r.case.clone()),
            Text(r.hosts.join(" ")),
            Text(r.first.map(report::utc).unwrap_or_default()),
            Text(r.last.map(report::utc).unwrap_or_default()),
            Text(top.map_or("", |t| t.severity.as_str()).to_string()),
            Text(top.map_or_else(String::new, |t| t.rule.clone())),
            Text(top.map_or_else(String::new, |t| t.host.clone())),
            Number(r.findings as u64),
            Number(r.warnings as u64),
            Text(r.error.clone().unwrap_or_default()),
            Text(r.reports.join(" ")),
            Text(top.map_or_else(String::new, |t| t.hosts.join(" "))),
        ]));
    }
    out
}

/// Whether any case has a finding at `limit` or worse (`--fail-on`).
pub fn any_at_or_above(rows: &[Row], limit: Severity) -> bool {
    rows.iter().any(|r| r.worst().is_some_and(|s| s <= limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_sorted_and_never_clash_with_each_other_or_the_summaries() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["b", "a", "index.html"] {
            std::fs::create_dir(tmp.path().join(dir)).unwrap();
        }
        std::fs::write(tmp.path().join("a.zip"), b"").unwrap();
        std::fs::write(tmp.path().join("notes.txt"), b"").unwrap();
        let names: Vec<String> = cases(tmp.path())
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["a", "a.zip", "b", "index.html-2"]);
    }
}
