//! Damaged EVTX (SPEC §2, §6): a copy of seed-001, damaged on purpose where none of the
//! finding's evidence is, still yields the finding, and every damage is reported per file and
//! chunk. HV01/System.evtx has 16 chunks; the evidence (records 40950–40990) is in chunks 5–6.

mod common;

use hvtriage::analysis::Analysis;
use hvtriage::rules::RuleSet;
use hvtriage::{analyze, Options};
use std::path::{Path, PathBuf};

const HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// seed-001's EVTX files (not the XML they were written from, which holds the same events)
/// in a fresh temporary folder.
fn seed_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("seed-001");
    for file in common::files(&common::root().join("fixtures/seed-001"), "evtx") {
        let host = file.parent().unwrap().file_name().unwrap();
        std::fs::create_dir_all(case.join(host)).unwrap();
        std::fs::copy(&file, case.join(host).join(file.file_name().unwrap())).unwrap();
    }
    (tmp, case)
}

fn damage(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    edit(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

fn run(case: &Path) -> Analysis {
    analyze(
        &[case.to_path_buf()],
        &RuleSet::builtin().unwrap(),
        &Options::default(),
    )
    .unwrap()
}

fn system_input(a: &Analysis) -> &hvtriage::input::InputReport {
    a.inputs
        .iter()
        .find(|i| i.path == "HV01/System.evtx")
        .expect("HV01/System.evtx is an input")
}

fn assert_finding_survives(a: &Analysis) {
    assert!(
        a.findings
            .iter()
            .any(|f| f.rule == "shared-nic-only-dc-path" && f.host == "HV01"),
        "the finding was lost: {:?}",
        a.warnings
    );
}

#[test]
fn the_undamaged_copy_reads_every_record_without_a_warning() {
    let (_tmp, case) = seed_copy();
    let a = run(&case);
    assert_finding_survives(&a);
    assert_eq!(system_input(&a).records, 2508);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn a_zeroed_chunk_is_reported_and_costs_only_its_records() {
    let (_tmp, case) = seed_copy();
    damage(&case.join("HV01/System.evtx"), |b| {
        b[HEADER + 2 * CHUNK..HEADER + 3 * CHUNK].fill(0);
    });
    let a = run(&case);
    assert_finding_survives(&a);
    let input = system_input(&a);
    assert_eq!(input.chunks_skipped, 1);
    // Chunk 2 held records 40327–40491: 165 of 2508.
    assert_eq!(input.records, 2508 - 165);
    assert!(
        input
            .warnings
            .iter()
            .any(|w| w.contains("chunk 2 is all zeroes")),
        "{:?}",
        input.warnings
    );
}

#[test]
fn flipped_bytes_in_a_chunk_are_reported_by_its_checksum() {
    let (_tmp, case) = seed_copy();
    damage(&case.join("HV01/System.evtx"), |b| {
        for at in (HEADER + 9 * CHUNK + 1000..HEADER + 9 * CHUNK + 60000).step_by(4999) {
            b[at] ^= 0x5a;
        }
    });
    let a = run(&case);
    assert_finding_survives(&a);
    let input = system_input(&a);
    assert!(
        input
            .warnings
            .iter()
            .any(|w| w.contains("chunk 9: checksum does not match")),
        "{:?}",
        input.warnings
    );
}

#[test]
fn a_file_cut_short_keeps_the_records_before_the_cut() {
    let (_tmp, case) = seed_copy();
    damage(&case.join("HV01/System.evtx"), |b| {
        b.truncate(HEADER + 15 * CHUNK + 10_000)
    });
    let a = run(&case);
    assert_finding_survives(&a);
    let input = system_input(&a);
    assert!(
        input.warnings.iter().any(|w| w.contains("cut short")),
        "{:?}",
        input.warnings
    );
    // Chunks 0–14 hold 2457 records; some of chunk 15's 51 are before the cut.
    assert!((2458..2508).contains(&input.records), "{}", input.records);
}

#[test]
fn a_garbage_record_in_a_good_chunk_is_counted_lost_and_its_neighbours_read() {
    let (_tmp, case) = seed_copy();
    damage(&case.join("HV01/System.evtx"), |b| {
        // The BinXML of the chunk's second record, past its header: the chunk's CRC is not
        // fixed, like a disk's bad sector.
        let chunk = &b[HEADER + 11 * CHUNK..HEADER + 12 * CHUNK];
        let first = u32::from_le_bytes(chunk[512 + 4..512 + 8].try_into().unwrap()) as usize;
        let second = HEADER + 11 * CHUNK + 512 + first;
        b[second + 24..second + 60].fill(0xee);
    });
    let a = run(&case);
    assert_finding_survives(&a);
    let input = system_input(&a);
    assert!(input.records_lost >= 1, "{input:?}");
    assert!(
        input.warnings.iter().any(|w| w.contains("chunk 11")),
        "{:?}",
        input.warnings
    );
    assert!(input.records >= 2508 - 3, "{}", input.records);
}

#[test]
fn an_empty_file_and_a_non_log_named_evtx_are_warnings_not_failures() {
    let (_tmp, case) = seed_copy();
    std::fs::write(case.join("HV02/Application.evtx"), b"").unwrap();
    std::fs::write(case.join("HV02/Security.evtx"), b"this is not an event log").unwrap();
    let a = run(&case);
    assert_finding_survives(&a);
    let joined = a.warnings.join("\n");
    assert!(
        joined.contains("HV02/Application.evtx: skipped: empty file"),
        "{joined}"
    );
    assert!(
        joined.contains("HV02/Security.evtx: skipped: named .evtx but is not an EVTX file"),
        "{joined}"
    );
}

#[test]
fn a_dirty_header_that_undercounts_chunks_hides_nothing() {
    let (_tmp, case) = seed_copy();
    damage(&case.join("HV01/System.evtx"), |b| {
        // Header: chunk count at 42 (u16), flags at 120 (bit 0: dirty). Its CRC is not fixed.
        b[42..44].copy_from_slice(&2u16.to_le_bytes());
        b[120] |= 1;
    });
    let a = run(&case);
    assert_finding_survives(&a);
    let input = system_input(&a);
    assert_eq!(input.records, 2508);
    assert!(input.warnings.iter().any(|w| w.contains("dirty")));
}

/// seed-001 as Event XML in a fresh folder, HV01's System log edited by `edit`.
fn xml_case_with(edit: &dyn Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("seed-001");
    common::xml_case("seed-001", &case, &|xml| xml.to_string());
    let system = case.join("HV01/System.xml");
    let text = std::fs::read_to_string(&system).unwrap();
    std::fs::write(&system, edit(&text)).unwrap();
    (tmp, case)
}

fn xml_input(a: &Analysis) -> &hvtriage::input::InputReport {
    a.inputs
        .iter()
        .find(|i| i.path == "HV01/System.xml")
        .expect("HV01/System.xml is an input")
}

/// An event of megabytes of XML (25 million empty elements in the wild; a 3 MB flood here,
/// and a 2 MB `<Computer>`) is skipped with a line that says why; the events around it are read.
#[test]
fn an_event_of_megabytes_of_xml_is_skipped_and_its_neighbours_read() {
    let flood = format!(
        "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>{}</System></Event>\n",
        "<x/>".repeat(750_000)
    );
    let long_name = format!(
        "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><Provider Name=\"x\"/><EventID>1</EventID><TimeCreated SystemTime=\"2026-11-20T00:00:00Z\"/><EventRecordID>1</EventRecordID><Channel>System</Channel><Computer>{}</Computer></System></Event>\n",
        "H".repeat(2 << 20)
    );
    let (_tmp, case) = xml_case_with(&|xml| {
        // After the first event: the floods sit between real events.
        let at = xml.find("</Event>").unwrap() + "</Event>".len();
        format!("{}\n{flood}{long_name}{}", &xml[..at], &xml[at..])
    });
    let a = run(&case);
    let input = xml_input(&a);
    assert_eq!(input.records_lost, 2, "{:?}", input.warnings);
    assert!(
        input
            .warnings
            .iter()
            .filter(|w| w.contains("more than 1 MiB of XML"))
            .count()
            == 2,
        "{:?}",
        input.warnings
    );
    assert_finding_survives(&a);
}

/// One event that is not well-formed costs only itself, and a file cut inside an event keeps
/// every event before the cut.
#[test]
fn a_broken_event_or_a_cut_costs_only_that_event() {
    let (_tmp, case) = xml_case_with(&|xml| {
        let at = xml.find("<EventID").unwrap();
        let broken = format!("{}<EventID <<{}", &xml[..at], &xml[at + "<EventID".len()..]);
        // And the file ends inside its last event.
        let cut = broken.rfind("<System>").unwrap();
        broken[..cut].to_string()
    });
    let a = run(&case);
    let input = xml_input(&a);
    assert_eq!(input.records_lost, 2, "{:?}", input.warnings);
    assert!(input
        .warnings
        .iter()
        .any(|w| w.contains("event skipped: not well-formed XML")));
    assert!(input.warnings.iter().any(|w| w.contains("cut short")));
    assert!(input.records > 100, "{}", input.records);
    assert_finding_survives(&a);
}

/// A log of nothing but wanted events (a flood) keeps the first of them and says how many
/// were left out (scripts/bench_memory.sh measures its time and memory).
#[test]
fn a_flood_of_wanted_events_is_cut_at_the_limit_with_a_warning() {
    let limit = hvtriage::input::MAX_EVENTS_PER_INPUT;
    let one = |i: usize| {
        format!(
            "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><Provider Name=\"NETLOGON\"/><EventID>5719</EventID><TimeCreated SystemTime=\"2026-11-20T00:00:00Z\"/><EventRecordID>{i}</EventRecordID><Channel>System</Channel><Computer>HV01</Computer></System><EventData><Data>CONTOSO</Data><Data>%%1311</Data><Binary>5E0000C0</Binary></EventData></Event>\n"
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("flood.xml");
    let text: String = (1..=limit + 1000).map(one).collect();
    std::fs::write(&file, text).unwrap();
    let a = run(&file);
    let input = &a.inputs[0];
    assert_eq!(
        input.records as usize,
        limit + 1000,
        "every record is counted"
    );
    assert_eq!(input.events_used as usize, limit);
    assert!(
        input
            .warnings
            .iter()
            .any(|w| w.contains(&format!("the first {limit} were kept and 1000 left out"))),
        "{:?}",
        input.warnings
    );
}

/// A damaged slot of a chunk's string table (a cache of names its records also point at)
/// no longer costs the whole chunk: it is read again without the table.
#[test]
fn a_damaged_string_table_slot_costs_nothing() {
    let (_tmp, case) = seed_copy();
    let system = case.join("HV01/System.evtx");
    let whole = run(&case);
    let records = system_input(&whole).records;
    damage(&system, |bytes| {
        // Slot 0 of chunk 0's string table points at the chunk's last bytes.
        bytes[HEADER + 128..HEADER + 132].copy_from_slice(&(CHUNK as u32 - 6).to_le_bytes());
    });
    let a = run(&case);
    let input = system_input(&a);
    assert!(
        input
            .warnings
            .iter()
            .any(|w| w.contains("table of strings and templates is damaged")),
        "{:?}",
        input.warnings
    );
    assert_eq!(input.chunks_skipped, 0);
    assert_eq!(input.records, records);
    assert_finding_survives(&a);
}
