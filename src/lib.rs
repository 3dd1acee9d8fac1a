//! hvtriage reads the Windows event logs collected from the nodes of a Hyper-V failover
//! cluster, puts the events that matter on one timeline, and names the root cause of what went
//! wrong, with the evidence and the fix.
//!
//! Data moves one way:
//!
//! ```text
//! paths ──discover──▶ inputs ──read+filter──▶ raw events ──normalize──▶ signals ──sort+dedupe──▶ timeline
//!                                                                                               │
//!                                       renderers ◀── Analysis ◀── findings ◀──correlate────────┘
//!                               (terminal, JSON, CSV, HTML+SVG)
//! ```
//!
//! `timeline --all` (every record, no rules) takes a shorter way, [`stream`]: each chunk's
//! events become finished timeline lines on the thread that read them, and the lines are
//! merged in time order into the output, never held as signals.
//!
//! # Example
//! ```
//! use hvtriage::{analyze, Options, rules::RuleSet};
//! let rules = RuleSet::builtin().unwrap();
//! let case = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/seed-001"));
//! let analysis = analyze(&[case], &rules, &Options::default()).unwrap();
//! assert_eq!(analysis.findings[0].rule, "shared-nic-only-dc-path");
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod batch;
pub mod clock;
pub mod config;
pub mod coverage;
pub mod evtx_write;
pub mod input;
pub mod ja;
pub mod migration;
pub mod outputs;
pub mod report;
pub mod rules;
pub mod signal;
pub mod stream;
pub mod timeline;

use analysis::{Analysis, Host};
use chrono::{DateTime, Utc};
use input::{Everything, InputReport, Wanted};
use rayon::prelude::*;
use rules::RuleSet;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How to analyze a case.
#[derive(Debug, Clone)]
pub struct Options {
    /// The case's name in reports; by default the folder or file named.
    pub case: Option<String>,
    pub time_zone: chrono_tz::Tz,
    /// Language of rule texts (`en`, `ja`).
    pub lang: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keep every record, not only known events (`timeline --all`).
    pub all: bool,
    /// Correct each host's clock by its estimated offset before rules compare times.
    pub correct_clocks: bool,
    /// Limits on what zips may make hvtriage inflate (SPEC §2).
    pub zip_limits: input::ZipLimits,
    /// Counts the bytes read, for whoever shows progress (`batch`).
    pub progress: input::Progress,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            case: None,
            time_zone: chrono_tz::UTC,
            lang: "en".into(),
            since: None,
            until: None,
            all: false,
            correct_clocks: true,
            zip_limits: input::ZipLimits::default(),
            progress: input::Progress::default(),
        }
    }
}

/// The most signals one case keeps: memory and the rules' work stay bounded on a flood.
pub const MAX_SIGNALS: usize = 100_000;

/// Why a case could not be analyzed at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no readable event in {paths}: {why}; pass the folder or files of exported event logs (.evtx or Event XML)")]
    NothingReadable { paths: String, why: String },
    #[error("{paths}: no such file or folder; check the path (a folder of exported event logs, .evtx or Event XML files, or a zip)")]
    NotFound { paths: String },
}

impl Error {
    /// The sentence in the report's language (`ja`, else English), the readers' reasons
    /// within it too.
    pub fn in_lang(&self, lang: &str) -> String {
        match (lang, self) {
            ("ja", Error::NothingReadable { paths, why }) => format!(
                "{paths} に読み取れるイベントがありません: {}。エクスポートしたイベント ログ (.evtx または Event XML) のフォルダーかファイルを指定してください",
                ja::say(why)
            ),
            ("ja", Error::NotFound { paths }) => format!(
                "{paths}: ファイルまたはフォルダーがありません。パスを確認してください (エクスポートしたイベント ログのフォルダー、.evtx または Event XML ファイル、zip)"
            ),
            _ => self.to_string(),
        }
    }
}

/// Analyzes one case: reads every path, builds the timeline, runs the rules.
///
/// # Errors
/// [`Error::NotFound`] when no path exists, [`Error::NothingReadable`] when no input holds a
/// readable event.
pub fn analyze(paths: &[PathBuf], rules: &RuleSet, options: &Options) -> Result<Analysis, Error> {
    let found = input::discover(paths, &options.zip_limits, &options.progress);
    let inner: &dyn Wanted = if options.all {
        &Everything
    } else {
        &rules.catalogue
    };
    let windowed = input::Windowed::new(inner, options.since, options.until);
    let wanted: &dyn Wanted = &windowed;
    let read: Vec<(InputReport, Vec<input::RawEvent>)> = found
        .inputs
        .par_iter()
        .enumerate()
        .map(|(i, inp)| input::read(i, inp, wanted, &options.progress))
        .collect();
    let mut configs = Vec::new();
    let read: Vec<(InputReport, Vec<input::RawEvent>)> = read
        .into_iter()
        .zip(&found.inputs)
        .map(|(done, inp)| {
            if inp.format != input::Format::Config {
                return done;
            }
            let (report, config) = input::read_config(inp, &options.progress);
            configs.push(config);
            (report, Vec::new())
        })
        .collect();
    let configs = config::by_host(configs);
    let mut inputs = Vec::new();
    let mut warnings = Vec::new();
    let mut signals = Vec::new();
    let mut signals_left_out = 0u64;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (report, events) in read {
        warnings.extend(report.warnings.iter().cloned());
        for computer in report.computers().filter(|c| !c.is_empty()) {
            let name = names.entry(timeline::host_key(computer)).or_default();
            if computer.len() > name.len() {
                *name = computer.to_string();
            }
        }
        for event in events {
            if options.all {
                signals.push(signal::Signal::raw(event));
            } else if signals.len() < MAX_SIGNALS {
                signals.extend(rules.catalogue.signals_of(&event));
            } else {
                signals_left_out += 1;
            }
        }
        inputs.push(report);
    }
    if inputs
        .iter()
        .filter(|i| i.format != "config")
        .all(|i| i.records == 0)
    {
        return Err(nothing_readable(paths, &found.skipped, &inputs));
    }
    for skipped in &found.skipped {
        let line = format!("{}: skipped: {}", skipped.path, skipped.reason);
        if skipped.explicit {
            warnings.push(line.clone());
        }
        inputs.push(InputReport {
            path: skipped.path.clone(),
            format: "skipped".into(),
            warnings: vec![line],
            ..Default::default()
        });
    }
    if signals_left_out > 0 {
        warnings.push(format!(
            "this case holds more than {MAX_SIGNALS} events the rules read (a real case holds a few thousand): {signals_left_out} were left out of the timeline and the findings; narrow the time range with --since/--until"
        ));
    }
    if !options.all {
        migration::join(&mut signals, &rules.catalogue);
    }
    let clocks = clock::estimate(&signals, &rules.catalogue);
    if options.correct_clocks {
        clock::correct(&mut signals, &clocks);
    }
    signals.retain(|s| {
        options.since.is_none_or(|t| s.at >= t) && options.until.is_none_or(|t| s.at <= t)
    });
    let timeline = timeline::build(signals);
    let mut coverage = coverage::build(&inputs, &rules.catalogue.logs);
    coverage::add_configs(&mut coverage, &configs);
    let findings = if options.all {
        Vec::new()
    } else {
        let mut findings = rules::matcher::correlate(rules, &timeline, &coverage, &options.lang);
        config::apply(&mut findings, rules, &configs, &timeline, &options.lang);
        findings
    };
    Ok(Analysis {
        case: options.case.clone().unwrap_or_else(|| case_name(paths)),
        time_zone: options.time_zone,
        lang: options.lang.clone(),
        inputs,
        hosts: names
            .into_iter()
            .map(|(key, name)| {
                let clock = clocks.get(&key);
                Host {
                    clock_offset_ms: clock.map_or(0, |c| c.offset_ms),
                    clock_basis: clock.map_or_else(
                        || "no known event of this host".to_string(),
                        |c| c.basis.clone(),
                    ),
                    key,
                    name,
                }
            })
            .collect(),
        coverage,
        timeline,
        findings,
        configs,
        warnings,
        rules: rules.rules.iter().map(|r| r.id.clone()).collect(),
    })
}

pub(crate) fn nothing_readable(
    paths_given: &[PathBuf],
    skipped: &[input::Skipped],
    inputs: &[InputReport],
) -> Error {
    let paths = paths_given
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if inputs.is_empty() && paths_given.iter().all(|p| !p.exists()) {
        return Error::NotFound { paths };
    }
    let logs: Vec<&InputReport> = inputs.iter().filter(|i| i.format != "config").collect();
    let why = if let Some(first) = logs.first() {
        // Why nothing was read, not whatever was warned first (a checksum note, say).
        let state = match (first.chunks_skipped, first.records_lost) {
            (0, 0) => "it holds no record".to_string(),
            (0, lost) => format!("{lost} record(s) could not be read"),
            (chunks, 0) => format!("{chunks} chunk(s) could not be read"),
            (chunks, lost) => {
                format!("{chunks} chunk(s) and {lost} record(s) could not be read")
            }
        };
        let others = if skipped.is_empty() {
            String::new()
        } else {
            format!("; {} other file(s) skipped", skipped.len())
        };
        format!(
            "{} log file(s) opened, none with a readable record (first: {}: {state}){others}",
            logs.len(),
            first.path
        )
    } else if inputs.is_empty() && skipped.is_empty() {
        "no files found".to_string()
    } else if inputs.is_empty() {
        let first = &skipped[0];
        format!(
            "{} file(s) skipped (first: {}: {})",
            skipped.len(),
            first.path,
            first.reason
        )
    } else {
        "the logs hold no records".to_string()
    };
    Error::NothingReadable { paths, why }
}

/// The case's name: the last component of the first path.
fn case_name(paths: &[PathBuf]) -> String {
    paths
        .first()
        .and_then(|p| p.canonicalize().ok().or_else(|| Some(p.clone())))
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "case".into())
}
