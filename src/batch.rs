//! `hvtriage batch`: a queue of cases (every immediate sub-folder and `.zip` of a folder),
//! analyzed in parallel, each into its own report folder, plus an index and summaries with one
//! row per case (SPEC §5.5). One bad case never stops the others: it becomes a row that says
//! why.

pub mod cache;
mod index;
mod progress;

use crate::analysis::Analysis;
use crate::input::Progress;
use crate::rules::{RuleSet, Severity};
use crate::{analyze, report, Options};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The files written for each case, relative to its folder in the output.
pub const CASE_HTML: &str = "report.html";
pub const CASE_JSON: &str = "report.json";
pub const CASE_CSV: &str = "report.csv";

/// The files a batch writes at the top of its output, which no case folder may be named.
const RESERVED: [&str; 4] = [
    "index.html",
    "summary.json",
    "summary.csv",
    cache::STATE_DIR,
];

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Cases analyzed at once (threads of the pool every case shares).
    pub jobs: usize,
    /// Show progress bars on standard error (only when it is a terminal).
    pub progress: bool,
    /// Analyze every case again, whatever the stamps of an earlier run say.
    pub force: bool,
    /// `(k, n)`: run only the cases whose place in the sorted queue is k modulo n.
    pub shard: Option<(usize, usize)>,
    /// A hash of the rule set ([`RuleSet::fingerprint`]): results of other rules are not reused.
    pub rules_fingerprint: u64,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            jobs: 1,
            progress: false,
            force: false,
            shard: None,
            rules_fingerprint: 0,
        }
    }
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
    #[error("{dirs}: no case a batch analyzed (no stamps in .hvtriage/); pass the output folders of `hvtriage batch`")]
    NoStamps { dirs: String },
}

/// One case of the queue.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name in the index, and its folder in the output.
    pub name: String,
    pub path: PathBuf,
}

/// The most severe finding of a case.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Taken from an earlier run's stamp: the case's files had not changed.
    #[serde(skip)]
    pub reused: bool,
}

impl Row {
    fn worst(&self) -> Option<Severity> {
        self.top_finding.as_ref().map(|t| t.severity)
    }
}

/// The cases of `dir`: its immediate sub-folders and `.zip` files, sorted by name, each with
/// an output folder name no other case and no summary file has. A batch's own output (`out`,
/// or any folder holding a batch's stamps or index and summary) is not a case, even inside
/// the queue.
///
/// # Errors
/// [`BatchError::Unreadable`] when `dir` cannot be listed, [`BatchError::NoCase`] when it
/// holds no case.
pub fn cases(dir: &Path, out: &Path) -> Result<Vec<Case>, BatchError> {
    let entries = std::fs::read_dir(dir).map_err(|err| BatchError::Unreadable {
        dir: dir.display().to_string(),
        err,
    })?;
    let out = std::fs::canonicalize(out).ok();
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_case(p) && !is_output(p, out.as_deref()))
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

/// Whether a folder is a batch's output rather than a case.
fn is_output(path: &Path, out: Option<&Path>) -> bool {
    out.is_some_and(|out| std::fs::canonicalize(path).is_ok_and(|p| p == out))
        || path.join(cache::STATE_DIR).is_dir()
        || (path.join("summary.json").is_file() && path.join("index.html").is_file())
}

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
    let all = cases(dir, out)?;
    std::fs::create_dir_all(out).map_err(|err| output_error(out, err))?;
    let in_shard = |i: usize| batch.shard.is_none_or(|(k, n)| i % n == k);
    let mine: Vec<&Case> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| in_shard(*i))
        .map(|(_, c)| c)
        .collect();
    let others = all
        .iter()
        .enumerate()
        .filter(|(i, _)| !in_shard(*i))
        .map(|(_, c)| c);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(batch.jobs.max(1))
        .build()
        .map_err(|e| BatchError::Threads {
            jobs: batch.jobs,
            why: e.to_string(),
        })?;
    let key = cache::key(options, batch.rules_fingerprint);
    // Rows of the cases other shards run, as far as their stamps in `out` say.
    let theirs: Vec<Row> = others
        .filter_map(|case| cache::load(out, &case.name))
        .filter(|stamp| stamp.key == key)
        .map(|stamp| Row {
            reused: true,
            ..stamp.row
        })
        .collect();
    let done = std::sync::Mutex::new(Progressive {
        rows: theirs,
        written: std::time::Instant::now(),
    });
    let bars = progress::Bars::new(mine.len(), batch.progress);
    bars.while_running(|| {
        pool.install(|| {
            mine.par_iter().enumerate().for_each(|(index, case)| {
                let counter = Progress::new();
                let bar = bars.start(index, &case.name, counter.clone());
                let row = run_case(case, out, rules, options, batch, &key, counter);
                bars.finish(index, bar);
                let mut done = done
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                done.rows.push(row);
                // An interrupted batch still leaves an index of what is complete.
                if done.written.elapsed() >= INDEX_EVERY {
                    let mut rows = done.rows.clone();
                    sort_rows(&mut rows);
                    let _ = write_summaries(out, &rows, &options.lang);
                    done.written = std::time::Instant::now();
                }
            });
        });
    });
    let mut rows = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .rows;
    sort_rows(&mut rows);
    write_summaries(out, &rows, &options.lang)?;
    Ok(rows)
}

/// How often a running batch rewrites its index from the cases done so far.
const INDEX_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The rows done so far and when the index was last written.
struct Progressive {
    rows: Vec<Row>,
    written: std::time::Instant,
}

/// `hvtriage index`: the rows of every case the batches writing into `dirs` analyzed (their
/// stamps), with links relative to `out`, written as one index and summary into `out`.
///
/// # Errors
/// [`BatchError::NoStamps`] when no folder holds a stamp, [`BatchError::Output`] when `out`
/// cannot be written.
pub fn merge(dirs: &[PathBuf], out: &Path, lang: &str) -> Result<Vec<Row>, BatchError> {
    std::fs::create_dir_all(out).map_err(|err| output_error(out, err))?;
    let base = std::fs::canonicalize(out).map_err(|err| output_error(out, err))?;
    let mut rows: Vec<Row> = Vec::new();
    for dir in dirs {
        let prefix = std::fs::canonicalize(dir)
            .map(|d| relative(&base, &d))
            .unwrap_or_default();
        for row in cache::stamps(dir) {
            let row = Row {
                reports: row.reports.iter().map(|r| join_link(&prefix, r)).collect(),
                ..row
            };
            if !rows
                .iter()
                .any(|r| r.case == row.case && r.reports == row.reports)
            {
                rows.push(row);
            }
        }
    }
    if rows.is_empty() {
        return Err(BatchError::NoStamps {
            dirs: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    sort_rows(&mut rows);
    write_summaries(out, &rows, lang)?;
    Ok(rows)
}

/// The path from folder `base` to `target`, both absolute, with `/` (`../shard-1`), or the
/// target itself when they share no root.
fn relative(base: &Path, target: &Path) -> String {
    let b: Vec<_> = base.components().collect();
    let t: Vec<_> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target.to_string_lossy().replace('\\', "/");
    }
    std::iter::repeat_n("..".to_string(), b.len() - common)
        .chain(
            t[common..]
                .iter()
                .map(|c| c.as_os_str().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn join_link(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    }
}

/// Worst finding first (what to look at first), then by name.
fn sort_rows(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        let rank = |r: &Row| r.worst().map_or(u8::MAX, |s| s as u8);
        rank(a).cmp(&rank(b)).then_with(|| a.case.cmp(&b.case))
    });
}

/// One case: its row from an earlier run when its files did not change, else analyzed and
/// its reports written; whatever goes wrong is its row's error.
fn run_case(
    case: &Case,
    out: &Path,
    rules: &RuleSet,
    options: &Options,
    batch: &BatchOptions,
    key: &str,
    counter: Progress,
) -> Row {
    let files = cache::files(&case.path);
    if !batch.force {
        if let Some(row) = cache::reuse(out, &case.name, &case.path, key, &files) {
            return Row {
                reused: true,
                ..row
            };
        }
    }
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
    let dir = out.join(&case.name);
    let row = match analyzed {
        Ok(Ok(analysis)) => match write_case(&analysis, &dir) {
            Ok(reports) => row_of(&case.name, &analysis, reports),
            // Not remembered: the next run tries to write it again.
            Err(err) => return failed_row(&case.name, err.to_string()),
        },
        Ok(Err(err)) => {
            // Reports of an earlier run of this case no longer stand.
            for file in [CASE_HTML, CASE_JSON, CASE_CSV] {
                let _ = std::fs::remove_file(dir.join(file));
            }
            failed_row(&case.name, err.in_lang(&options.lang))
        }
        Err(_) => {
            return failed_row(
                &case.name,
                if options.lang == "ja" {
                    "このケースの読み取り中に hvtriage が内部エラーで停止しました。他のケースには影響しません。ケースのファイルを添えて報告してください".into()
                } else {
                    "hvtriage stopped on an internal error while reading this case; the other cases are not affected — please report it with the case's files".into()
                },
            )
        }
    };
    let stamp = cache::Stamp {
        key: key.to_string(),
        content: cache::content(&case.path, &files),
        files,
        row,
    };
    cache::save(out, &case.name, &stamp);
    stamp.row
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
        crate::outputs::write_atomic(&path, text.as_bytes())
            .map_err(|err| output_error(&path, err))?;
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
        reused: false,
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
        reused: false,
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
        crate::outputs::write_atomic(&path, text.as_bytes())
            .map_err(|err| output_error(&path, err))?;
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
        let names: Vec<String> = cases(tmp.path(), &tmp.path().join("out"))
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["a", "a.zip", "b", "index.html-2"]);
    }

    #[test]
    fn links_between_output_folders_are_relative() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(relative(&p("/q/out"), &p("/q/out")), "");
        assert_eq!(relative(&p("/q/out"), &p("/q/shard-1")), "../shard-1");
        assert_eq!(relative(&p("/q/out"), &p("/q/out/part")), "part");
        assert_eq!(
            join_link("../s1", "case/report.html"),
            "../s1/case/report.html"
        );
        assert_eq!(join_link("", "case/report.html"), "case/report.html");
    }
}
