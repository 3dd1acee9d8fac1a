//! Every real sample log of `../shared/evtx-samples/` goes through `analyze`: no panic, exit 0,
//! every record counted (as `SOURCES.md` counts them), every loss reported.

mod common;

use serde_json::Value;

/// Records per file, as SOURCES.md gives them (evtx_dump 0.15.1 over all chunks), except
/// System2: its last chunk is cut short (64832 of 65536 bytes) and both parsers skip it, but
/// its first 90 records are whole — evtx_dump and python-evtx read all 284 once the file is
/// padded to a whole chunk, and hvtriage reads them as they are.
const RECORDS: [(&str, u64); 19] = [
    ("omerbenamram__samples__system.evtx", 1881),
    ("omerbenamram__samples__2-vss_7-System.evtx", 1160),
    ("omerbenamram__samples__sample-with-zero-data-size-event.evtx", 449),
    ("omerbenamram__samples__sample_with_a_bad_chunk_magic.evtx", 301),
    ("omerbenamram__samples__security.evtx", 2261),
    ("omerbenamram__samples__security_bad_string_cache.evtx", 2261),
    ("omerbenamram__samples__Application_no_crc32.evtx", 17),
    ("omerbenamram__samples__MSExchange_Management_wec.evtx", 1),
    ("omerbenamram__samples__sysmon.evtx", 358),
    ("omerbenamram__samples__2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx", 1910),
    ("omerbenamram__samples__post-Security.evtx", 126),
    ("omerbenamram__samples__Microsoft-Windows-HelloForBusiness%4Operational.evtx", 6),
    ("williballenthin__tests__data__system.evtx", 1601),
    ("williballenthin__tests__data__dns_log_malformed.evtx", 5),
    ("williballenthin__tests__data__issue_43.evtx", 1730),
    ("log2timeline__test_data__evtx__System.evtx", 5009),
    // SOURCES.md counts 194: both reference parsers stop at the last whole chunk. The third
    // chunk is cut short by the end of the file, but its first 90 records (ids 195..284,
    // following on) are whole, and hvtriage reads them (with a warning).
    ("log2timeline__test_data__evtx__System2.evtx", 284),
    ("Yamato-Security__EVTX-to-MITRE-Attack__TA0005-Defense_Evasion__T1070.001-Clear_Windows_event_logs__ID104-1102-Event_log_cleared.evtx", 91),
    ("Yamato-Security__EVTX-to-MITRE-Attack__Antivirus__ID1151-Defender_health_status.evtx", 455),
];

fn analyze_json(path: &std::path::Path) -> Value {
    let out = common::hvtriage()
        .arg("analyze")
        .arg(path)
        .args(["--json", "-"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_sample_is_read_with_every_record_counted() {
    let dir = common::samples();
    let on_disk = common::files(&dir, "evtx");
    assert_eq!(
        on_disk.len(),
        RECORDS.len(),
        "a sample was added or removed: update RECORDS"
    );
    for (name, records) in RECORDS {
        let json = analyze_json(&dir.join(name));
        let input = &json["inputs"][0];
        assert_eq!(input["records"], records, "{name}");
    }
}

#[test]
fn damage_is_reported_per_chunk() {
    let json = analyze_json(
        &common::samples().join("omerbenamram__samples__sample_with_a_bad_chunk_magic.evtx"),
    );
    let input = &json["inputs"][0];
    // Chunks 6 and 10 are not chunks; 1..5 are zeroed holes before chunks that hold records.
    assert_eq!(input["chunks_skipped"], 7);
    let warnings: Vec<&str> = input["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("chunk 6 skipped")),
        "{warnings:?}"
    );
    assert!(json["warnings"].as_array().unwrap().len() >= warnings.len());
}

#[test]
fn the_header_undercount_does_not_hide_records_and_intel_link_events_become_signals() {
    // The header of this file declares 3 chunks; 15 hold records.
    let json = analyze_json(&common::samples().join("omerbenamram__samples__system.evtx"));
    assert_eq!(json["inputs"][0]["records"], 1881);
    let timeline = json["timeline"].as_array().unwrap();
    let count = |signal: &str| timeline.iter().filter(|s| s["signal"] == signal).count();
    assert_eq!(count("nic_link_down"), 142);
    assert_eq!(count("nic_link_up"), 147);
    let down = timeline
        .iter()
        .find(|s| s["signal"] == "nic_link_down")
        .unwrap();
    assert_eq!(down["provider"], "e1iexpress");
    assert_eq!(down["event_id"], 27);
    assert_eq!(
        down["fields"]["adapter"],
        "Intel(R) 82574L Gigabit Network Connection"
    );
    // Kernel-Boot logs ids 27 and 32 too: none of them may become a link signal.
    assert!(timeline.iter().all(|s| s["provider"] == "e1iexpress"));
}

#[test]
fn the_early_filter_renders_only_wanted_ids() {
    let json = analyze_json(&common::samples().join("omerbenamram__samples__system.evtx"));
    let used = json["inputs"][0]["events_used"].as_u64().unwrap();
    // e1iexpress 27/32 and Kernel-Boot 27/32 share ids: both are built, only the first are kept.
    assert!((289..1881).contains(&used), "{used}");
}

fn warnings_of(name: &str) -> (Value, Vec<String>) {
    let json = analyze_json(&common::samples().join(name));
    let input = json["inputs"][0].clone();
    let warnings = input["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    (input, warnings)
}

#[test]
fn every_kind_of_real_damage_is_reported_per_file_and_chunk() {
    // Cut short: the records before the cut are read, and the cut is named.
    let (_, w) = warnings_of("log2timeline__test_data__evtx__System2.evtx");
    assert!(
        w.iter()
            .any(|w| w.contains("cut short: its last chunk (2) has only 64832 of 65536 bytes")),
        "{w:?}"
    );
    // Chunk headers without their magic: skipped, each named.
    let (input, w) = warnings_of("omerbenamram__samples__sysmon.evtx");
    assert_eq!(input["chunks_skipped"], 8);
    assert!(w
        .iter()
        .any(|w| w.contains("chunk 9 skipped: not a valid chunk")));
    // Corrupt records inside chunks that fail their checksum: counted lost, chunk named.
    let (input, w) = warnings_of(
        "omerbenamram__samples__2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
    );
    assert_eq!(input["records_lost"], 4);
    assert!(w
        .iter()
        .any(|w| w.contains("chunk 13: checksum does not match")));
    assert!(w.iter().any(|w| w.contains("chunk 13: record unreadable")));
    // A record of data size 0 in a good chunk.
    let (input, _) = warnings_of("omerbenamram__samples__sample-with-zero-data-size-event.evtx");
    assert_eq!(input["records_lost"], 1);
    // Records carved from unallocated space are used and counted in a warning.
    let (input, w) = warnings_of("williballenthin__tests__data__issue_43.evtx");
    assert_eq!(input["records"], 1730);
    assert!(
        w.iter()
            .any(|w| w.contains("40 records recovered from unallocated space of chunk(s) 22")),
        "{w:?}"
    );
}

#[test]
fn recovered_records_that_become_events_are_marked_in_the_warnings() {
    let path = common::samples().join("williballenthin__tests__data__issue_43.evtx");
    let options = hvtriage::Options {
        all: true,
        ..hvtriage::Options::default()
    };
    let rules = hvtriage::rules::RuleSet::builtin().unwrap();
    let a = hvtriage::analyze(&[path], &rules, &options).unwrap();
    let marked = a
        .warnings
        .iter()
        .find(|w| w.contains("recovered records are events of the timeline"))
        .unwrap_or_else(|| panic!("{:#?}", a.warnings));
    assert!(marked.contains("40 recovered records"), "{marked}");
    assert!(marked.contains("and 30 more"), "{marked}");
}
