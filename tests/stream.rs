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
