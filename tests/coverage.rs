//! Coverage: per host and log, span, records, record-id gaps, missing logs; and optional
//! evidence is asked for only when the log that would hold it is not in the case.

mod common;

use hvtriage::rules::RuleSet;
use hvtriage::{analyze, Options};

fn case_with(edit: impl Fn(&str) -> String) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hvtriage-coverage-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let src = common::root().join("fixtures/seed-001");
    for host in ["HV01", "HV02"] {
        for xml in common::files(&src.join(host), "xml") {
            let to = dir.join(host).join(xml.file_name().unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            let text = std::fs::read_to_string(&xml).unwrap();
            let text = if host == "HV01" && xml.ends_with("System.xml") {
                edit(&text)
            } else {
                text
            };
            std::fs::write(to, text).unwrap();
        }
    }
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn logs_are_covered_per_host_and_a_missing_one_is_listed() {
    let rules = RuleSet::builtin().unwrap();
    // HV01's logs, and of HV02 only its System log.
    let case = common::root().join("fixtures/seed-001");
    let a = analyze(
        &[case.join("HV01"), case.join("HV02/System.evtx")],
        &rules,
        &Options::default(),
    )
    .unwrap();
    let get = |host: &str, log: &str| {
        a.coverage
            .iter()
            .find(|c| c.host == host && c.channel == log)
            .unwrap()
    };
    let system = get("HV01", "System");
    assert_eq!(system.records, 2508, "the .evtx and its .xml count once");
    assert_eq!(system.record_id_gaps, 0);
    assert!(!system.missing && !system.damaged);
    assert!(get("HV02", "Microsoft-Windows-Hyper-V-High-Availability-Admin").missing);
}

#[test]
fn records_removed_from_a_log_are_gaps() {
    let dir = case_with(|text| {
        let lines: Vec<&str> = text.lines().collect();
        // Five events from the middle of the day.
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !(1000..1005).contains(i))
            .map(|(_, l)| *l)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let rules = RuleSet::builtin().unwrap();
    let a = analyze(std::slice::from_ref(&dir), &rules, &Options::default()).unwrap();
    let system = a
        .coverage
        .iter()
        .find(|c| c.host == "HV01" && c.channel == "System")
        .unwrap();
    assert_eq!(system.record_id_gaps, 5);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn optional_evidence_absent_from_a_collected_log_is_not_asked_for() {
    // Without 1228 in HV01's System log, which covers the moment: it did not happen.
    let dir = case_with(|text| {
        text.lines()
            .filter(|l| !l.contains("<EventID>1228<"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let rules = RuleSet::builtin().unwrap();
    let a = analyze(std::slice::from_ref(&dir), &rules, &Options::default()).unwrap();
    let f = a
        .findings
        .iter()
        .find(|f| f.rule == "shared-nic-only-dc-path")
        .unwrap();
    // Only the host's configuration (no collector output in this case) is asked for.
    assert!(
        f.missing.iter().all(|m| m.contains("Collect-HvTriage.ps1")),
        "{:?}",
        f.missing
    );
    assert!(
        !f.missing.iter().any(|m| m.contains("1228")),
        "{:?}",
        f.missing
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `--since`/`--until` leave records far outside the window unread (never rendered), yet
/// coverage still counts every record of every log, and the timeline holds only the window.
#[test]
fn a_time_window_reads_less_and_covers_the_same() {
    use chrono::TimeZone;
    let case = common::root().join("fixtures/seed-001");
    let rules = hvtriage::rules::RuleSet::builtin().unwrap();
    let all = hvtriage::analyze(
        std::slice::from_ref(&case),
        &rules,
        &hvtriage::Options::default(),
    )
    .unwrap();
    let since = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
    let until = chrono::Utc
        .with_ymd_and_hms(2026, 11, 20, 2, 30, 0)
        .unwrap();
    let options = hvtriage::Options {
        since: Some(since),
        until: Some(until),
        ..hvtriage::Options::default()
    };
    let window = hvtriage::analyze(&[case], &rules, &options).unwrap();
    let records = |a: &hvtriage::analysis::Analysis| -> Vec<(String, String, u64)> {
        a.coverage
            .iter()
            .map(|c| (c.host.clone(), c.channel.clone(), c.records))
            .collect()
    };
    assert_eq!(records(&window), records(&all));
    assert!(!window.timeline.is_empty());
    assert!(window
        .timeline
        .iter()
        .all(|s| s.at >= since && s.at <= until));
    assert!(window.timeline.len() < all.timeline.len());
    // The seed-001 finding lies inside the window.
    assert!(window
        .findings
        .iter()
        .any(|f| f.rule == "shared-nic-only-dc-path"));
}
