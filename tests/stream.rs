//! `timeline --all` streamed (`hvtriage::stream`) writes the timeline an analysis of every
//! record gives (`analyze` with `all`, rendered by the timeline's formats), line for line, in
//! every format; and the same whether its lines fit in memory or go through sorted runs in
//! temporary files.

mod common;

use hvtriage::analysis::Analysis;
use hvtriage::report;
use hvtriage::rules::RuleSet;
use hvtriage::stream::{self, Format};
use hvtriage::{analyze, Options};
use std::path::PathBuf;

fn streamed(paths: &[PathBuf], options: &Options, format: Format, budget: usize) -> String {
    let mut out = Vec::new();
    let done = stream::timeline_all(paths, options, format, budget, &mut out)
        .unwrap_or_else(|e| panic!("{paths:?}: {e}"));
    let text = String::from_utf8(out).expect("lines are UTF-8");
    let lines = text.lines().count() - usize::from(format == Format::Csv);
    assert_eq!(done.lines as usize, lines, "{paths:?}: lines counted");
    text
}

fn rendered(analysis: &Analysis, format: Format) -> String {
    match format {
        Format::Jsonl => report::json::timeline_lines(analysis),
        Format::Csv => report::csv::render(analysis),
        Format::Text => report::terminal::timeline(analysis),
    }
}

/// Every fixture case, the real samples, and both together (one record read twice).
fn cases() -> Vec<Vec<PathBuf>> {
    let mut cases: Vec<Vec<PathBuf>> = common::cases().into_iter().map(|c| vec![c]).collect();
    cases.push(vec![common::samples()]);
    let one = common::cases()[0].clone();
    cases.push(vec![one.clone(), one]);
    cases
}

fn all(time_zone: &str) -> Options {
    Options {
        all: true,
        time_zone: time_zone.parse().expect("a zone"),
        ..Options::default()
    }
}

#[test]
fn the_streamed_timeline_is_the_analysis_timeline_in_every_format() {
    let rules = RuleSet::builtin().expect("the built-in rules load");
    let mut lines = 0;
    for paths in cases() {
        for (format, zone) in [
            (Format::Jsonl, "UTC"),
            (Format::Csv, "Asia/Tokyo"),
            (Format::Text, "Asia/Tokyo"),
        ] {
            let options = all(zone);
            let Ok(analysis) = analyze(&paths, &rules, &options) else {
                assert!(
                    stream::timeline_all(&paths, &options, format, 1 << 20, &mut Vec::new())
                        .is_err(),
                    "{paths:?}: the analysis failed, the stream did not"
                );
                continue;
            };
            let expected = rendered(&analysis, format);
            let got = streamed(&paths, &options, format, stream::MEMORY_BUDGET);
            assert!(
                got == expected,
                "{paths:?} {format:?}: the streamed timeline differs, first at line {}",
                got.lines()
                    .zip(expected.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.lines().count().min(expected.lines().count()))
            );
            lines += got.lines().count();
        }
    }
    assert!(lines > 50_000, "{lines} lines compared");
}

#[test]
fn sorted_runs_in_temporary_files_give_the_same_timeline() {
    let paths = vec![common::samples()];
    let options = all("UTC");
    let whole = streamed(&paths, &options, Format::Jsonl, stream::MEMORY_BUDGET);
    let mut out = Vec::new();
    let done = stream::timeline_all(&paths, &options, Format::Jsonl, 64 << 10, &mut out)
        .expect("the samples stream");
    assert!(
        done.runs > 10,
        "{} runs: the budget was not reached",
        done.runs
    );
    assert!(String::from_utf8(out).expect("UTF-8") == whole);
    // Read twice (its chunks' times first), a damaged chunk is still found by its checksum.
    assert!(
        done.warnings
            .iter()
            .any(|w| w.contains("chunk 13: checksum does not match")),
        "{:?}",
        done.warnings
    );
    // A window: only its lines, numbered from 0.
    let window = Options {
        since: "2016-07-01T00:00:00Z".parse().ok(),
        until: "2017-12-31T00:00:00Z".parse().ok(),
        ..all("UTC")
    };
    let some = streamed(&paths, &window, Format::Jsonl, 64 << 10);
    assert!(
        some.starts_with("{\"id\":0,"),
        "{}",
        &some[..some.len().min(80)]
    );
    let count = some.lines().count();
    assert!(
        count > 0 && count < whole.lines().count(),
        "{count} lines in the window"
    );
}

/// Event XML of `n` Service Control Manager events on `host`, the k-th at `time(k)`.
fn events(host: &str, n: usize, time: impl Fn(usize) -> i64) -> String {
    let mut xml = String::from("<Events>\n");
    for k in 0..n {
        let at = chrono::DateTime::from_timestamp(time(k), 0).expect("a time");
        xml.push_str(&format!(
            "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>\
             <Provider Name=\"Service Control Manager\"/><EventID>7036</EventID>\
             <TimeCreated SystemTime=\"{}\"/><EventRecordID>{}</EventRecordID>\
             <Channel>System</Channel><Computer>{host}</Computer></System>\
             <EventData><Data Name=\"param1\">service {k}</Data>\
             <Data Name=\"param2\">running</Data></EventData></Event>\n",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            k + 1
        ));
    }
    xml.push_str("</Events>\n");
    xml
}

#[test]
fn chunks_are_written_in_time_order_whatever_order_the_files_hold_them() {
    // One log written backwards in time (its first chunk holds its latest events), and one
    // forwards whose events fall between the first's: every chunk of both is read in the
    // order of its earliest event, and each line written once no later chunk can precede it.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let base = 1_795_000_000;
    const N: usize = 60_000;
    let backwards = events("HV01", N, |k| base + 2 * (N - k) as i64);
    let forwards = events("HV02", N, |k| base + 2 * k as i64 + 1);
    for (host, xml) in [("HV01", backwards), ("HV02", forwards)] {
        std::fs::create_dir_all(dir.path().join(host)).unwrap();
        let bytes = hvtriage::evtx_write::write_evtx(&xml).expect("the events write");
        assert!(bytes.len() > 100 * 65536, "{host}: {} bytes", bytes.len());
        std::fs::write(dir.path().join(host).join("System.evtx"), bytes).unwrap();
    }
    let paths = vec![dir.path().to_path_buf()];
    let options = all("UTC");
    let analysis = analyze(&paths, &RuleSet::builtin().unwrap(), &options).expect("it reads");
    let expected = rendered(&analysis, Format::Jsonl);
    let budget = 10 << 20;
    assert!(
        expected.len() > 2 * budget,
        "{} bytes of lines",
        expected.len()
    );
    let mut out = Vec::new();
    let done = stream::timeline_all(&paths, &options, Format::Jsonl, budget, &mut out)
        .expect("it streams");
    assert_eq!(done.runs, 0, "written as read, within the budget");
    assert_eq!(done.lines, 2 * N as u64);
    assert!(String::from_utf8(out).expect("UTF-8") == expected);
}
