//! Zips read in place (SPEC §2): a case zipped whole or as a zip of per-node zips, limits on
//! entry size and compression ratio (from the headers and while inflating), encrypted and
//! damaged entries — each a warning naming the zip and entry, the rest of the case still read.

mod common;

use hvtriage::analysis::Analysis;
use hvtriage::input::ZipLimits;
use hvtriage::rules::RuleSet;
use hvtriage::{analyze, Options};
use std::io::Write;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// A zip of `(name, bytes)` entries, deflated or stored.
fn zip_of(entries: &[(String, Vec<u8>)], method: CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    for (name, bytes) in entries {
        w.start_file(name.as_str(), options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The EVTX files of a fixture case, as `(path inside the case, bytes)`.
fn case_entries(case: &str, under: &str) -> Vec<(String, Vec<u8>)> {
    let root = common::root().join("fixtures").join(case);
    common::files(&root.join(under), "evtx")
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn analyze_with(path: &Path, limits: ZipLimits) -> Analysis {
    let options = Options {
        zip_limits: limits,
        ..Options::default()
    };
    analyze(
        &[path.to_path_buf()],
        &RuleSet::builtin().unwrap(),
        &options,
    )
    .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn has_finding(a: &Analysis) -> bool {
    a.findings
        .iter()
        .any(|f| f.rule == "shared-nic-only-dc-path" && f.host == "HV01")
}

fn warning_with(a: &Analysis, needle: &str) -> String {
    a.warnings
        .iter()
        .find(|w| w.contains(needle))
        .cloned()
        .unwrap_or_else(|| panic!("no warning contains {needle:?}: {:#?}", a.warnings))
}

/// Sets the "encrypted" flag of every entry, in the local and the central headers.
fn mark_encrypted(zip: &mut [u8]) {
    let mut at = 0;
    while at + 10 <= zip.len() {
        if zip[at..].starts_with(b"PK\x03\x04") {
            zip[at + 6] |= 1;
        } else if zip[at..].starts_with(b"PK\x01\x02") {
            zip[at + 8] |= 1;
        }
        at += 1;
    }
}

#[test]
fn a_zipped_case_gives_the_finding_with_entry_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = write(
        tmp.path(),
        "case.zip",
        &zip_of(&case_entries("seed-001", ""), CompressionMethod::Deflated),
    );
    let a = analyze_with(&zip, ZipLimits::default());
    assert!(has_finding(&a));
    assert!(a
        .inputs
        .iter()
        .any(|i| i.path == "case.zip!HV01/System.evtx"));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn a_zip_of_per_node_zips_is_read_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes: Vec<(String, Vec<u8>)> = ["HV01", "HV02"]
        .iter()
        .map(|host| {
            let inner = zip_of(&case_entries("seed-001", host), CompressionMethod::Deflated);
            (format!("{host}.zip"), inner)
        })
        .collect();
    let zip = write(
        tmp.path(),
        "outer.zip",
        &zip_of(&nodes, CompressionMethod::Stored),
    );
    let a = analyze_with(&zip, ZipLimits::default());
    assert!(has_finding(&a));
    assert!(
        a.inputs
            .iter()
            .any(|i| i.path == "outer.zip!HV01.zip!HV01/System.evtx"),
        "{:?}",
        a.inputs.iter().map(|i| &i.path).collect::<Vec<_>>()
    );
}

#[test]
fn an_entry_over_the_size_limit_is_refused_and_the_rest_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = case_entries("seed-001", "");
    entries.push(("HV03/big.evtx".into(), vec![7u8; 3 << 20]));
    let zip = write(
        tmp.path(),
        "case.zip",
        &zip_of(&entries, CompressionMethod::Stored),
    );
    let limits = ZipLimits {
        max_entry_bytes: 2 << 20,
        ..ZipLimits::default()
    };
    let a = analyze_with(&zip, limits);
    assert!(has_finding(&a));
    let w = warning_with(&a, "case.zip!HV03/big.evtx");
    assert!(w.contains("over the limit of 2097152 bytes"), "{w}");
}

#[test]
fn a_high_ratio_entry_is_refused_as_a_zip_bomb() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = case_entries("seed-001", "");
    // 16 MiB of one byte deflates about 1000 to 1.
    let mut bomb = b"ElfFile\0".to_vec();
    bomb.resize(16 << 20, 0);
    entries.push(("HV03/bomb.evtx".into(), bomb));
    let zip = write(
        tmp.path(),
        "case.zip",
        &zip_of(&entries, CompressionMethod::Deflated),
    );
    let a = analyze_with(&zip, ZipLimits::default());
    assert!(has_finding(&a));
    let w = warning_with(&a, "case.zip!HV03/bomb.evtx");
    assert!(w.contains("zip bomb"), "{w}");
}

#[test]
fn a_header_that_lies_about_the_size_is_caught_while_inflating() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bomb = b"ElfFile\0".to_vec();
    bomb.resize(16 << 20, 0);
    let mut zip = zip_of(
        &[("bomb.evtx".to_string(), bomb)],
        CompressionMethod::Deflated,
    );
    // Uncompressed size: offset 22 of the local header, 24 of the central one. Say 1000.
    for (sig, offset) in [(&b"PK\x03\x04"[..], 22), (&b"PK\x01\x02"[..], 24)] {
        let at = zip.windows(4).position(|w| w == sig).unwrap();
        zip[at + offset..at + offset + 4].copy_from_slice(&1000u32.to_le_bytes());
    }
    let mut entries = case_entries("seed-001", "");
    entries.push(("liar.zip".into(), zip));
    let path = write(
        tmp.path(),
        "case.zip",
        &zip_of(&entries, CompressionMethod::Stored),
    );
    let a = analyze_with(&path, ZipLimits::default());
    assert!(has_finding(&a));
    // Whether the reader stops at the declared size or the counter stops it, no more than the
    // limit was inflated and the entry is named in a warning.
    let w = warning_with(&a, "case.zip!liar.zip!bomb.evtx");
    assert!(w.contains("zip bomb") || w.contains("header lies"), "{w}");
}

#[test]
fn nested_zips_cannot_multiply_their_ratios() {
    let tmp = tempfile::tempdir().unwrap();
    // Each level inflates about 150 times (under 200), three levels deep.
    let mut level = vec![(String::from("a.evtx"), {
        let mut v = b"ElfFile\0".to_vec();
        v.resize(2 << 20, 0);
        v
    })];
    for depth in 0..3 {
        let bytes = zip_of(&level, CompressionMethod::Deflated);
        level = (0..8)
            .map(|i| (format!("d{depth}-{i}.zip"), bytes.clone()))
            .collect();
    }
    let mut entries = case_entries("seed-001", "");
    entries.extend(level);
    let path = write(
        tmp.path(),
        "case.zip",
        &zip_of(&entries, CompressionMethod::Deflated),
    );
    let a = analyze_with(&path, ZipLimits::default());
    assert!(has_finding(&a));
    warning_with(&a, "zip bomb");
}

#[test]
fn encrypted_entries_are_reported_as_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut secret = zip_of(&case_entries("seed-001", "HV02"), CompressionMethod::Stored);
    mark_encrypted(&mut secret);
    let mut entries = case_entries("seed-001", "HV01");
    entries.push(("HV02.zip".into(), secret));
    let path = write(
        tmp.path(),
        "case.zip",
        &zip_of(&entries, CompressionMethod::Stored),
    );
    let a = analyze_with(&path, ZipLimits::default());
    let w = warning_with(&a, "case.zip!HV02.zip!HV02/System.evtx");
    assert!(w.contains("encrypted"), "{w}");
    assert!(a
        .inputs
        .iter()
        .any(|i| i.path == "case.zip!HV01/System.evtx" && i.records > 0));
}

#[test]
fn a_damaged_zip_beside_good_logs_is_a_warning() {
    let (tmp, case) = {
        let tmp = tempfile::tempdir().unwrap();
        let case = tmp.path().join("case");
        std::fs::create_dir_all(&case).unwrap();
        (tmp, case)
    };
    let good = zip_of(&case_entries("seed-001", ""), CompressionMethod::Deflated);
    write(&case, "logs.zip", &good);
    write(&case, "cut.zip", &good[..good.len() / 2]);
    let a = analyze_with(&case, ZipLimits::default());
    assert!(has_finding(&a));
    // Cut in half: what is whole of it is read from the entries' own headers, and it says so.
    let w = warning_with(&a, "read entry by entry");
    assert!(w.starts_with("cut.zip"), "{w}");
    drop(tmp);
}

#[test]
fn entries_past_the_memory_budget_are_read_from_anonymous_temporary_files() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = write(
        tmp.path(),
        "case.zip",
        &zip_of(&case_entries("seed-001", ""), CompressionMethod::Deflated),
    );
    let limits = ZipLimits {
        memory_budget_bytes: 0,
        ..ZipLimits::default()
    };
    let found = hvtriage::input::discover(
        std::slice::from_ref(&zip),
        &limits,
        &hvtriage::input::Progress::new(),
    );
    assert!(found
        .inputs
        .iter()
        .all(|i| matches!(i.source, hvtriage::input::Source::Temp { .. })));
    // Nothing named after an entry was created beside the zip.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let a = analyze_with(&zip, limits);
    assert!(has_finding(&a));
}

/// Open descriptors of this process.
#[cfg(target_os = "linux")]
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Entries past the memory budget all go into one temporary file: a bundle of hundreds of
/// logs keeps one descriptor open (one per entry ran out of `ulimit -n` and lost records).
#[cfg(target_os = "linux")]
#[test]
fn entries_past_the_memory_budget_share_one_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    // The small logs (Hyper-V's), so that the test is about the number of entries.
    let seed: Vec<(String, Vec<u8>)> = case_entries("seed-001", "")
        .into_iter()
        .filter(|(name, _)| !name.ends_with("System.evtx"))
        .collect();
    let mut entries = Vec::new();
    for copy in 0..150 {
        for (name, bytes) in &seed {
            entries.push((format!("copy-{copy}/{name}"), bytes.clone()));
        }
    }
    let zip = write(
        tmp.path(),
        "many.zip",
        &zip_of(&entries, CompressionMethod::Deflated),
    );
    let limits = ZipLimits {
        memory_budget_bytes: 0,
        ..ZipLimits::default()
    };
    let before = open_files();
    let found = hvtriage::input::discover(&[zip], &limits, &hvtriage::input::Progress::new());
    let held = open_files().saturating_sub(before);
    assert_eq!(found.inputs.len(), entries.len(), "{:?}", found.skipped);
    // Other tests run beside this one: a few of their files may be open too.
    assert!(
        held < 40,
        "{held} descriptors held for {} entries",
        entries.len()
    );
    // And every entry reads back whole from its place in the shared file.
    let mut total = 0;
    let rules = RuleSet::builtin().unwrap();
    for input in &found.inputs {
        let (report, _) = hvtriage::input::read(
            0,
            input,
            &rules.catalogue,
            &hvtriage::input::Progress::new(),
        );
        assert_eq!(report.chunks_skipped, 0, "{}", input.display);
        total += report.records;
    }
    let one: u64 = seed
        .iter()
        .map(|(name, bytes)| {
            let path = write(tmp.path(), &name.replace('/', "_"), bytes);
            analyze_with(&path, ZipLimits::default()).inputs[0].records
        })
        .sum();
    assert_eq!(total, one * 150);
}

/// A zip cut short has no central directory: its whole entries are still read from their
/// own headers, and the warning says the zip was read that way.
#[test]
fn a_zip_cut_short_keeps_its_whole_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = zip_of(&case_entries("seed-001", ""), CompressionMethod::Deflated);
    // Cut inside the last entry's data: the directory and that entry's end are gone.
    let cut = &whole[..whole.len() * 9 / 10];
    let zip = write(tmp.path(), "cut.zip", cut);
    let a = analyze_with(&zip, ZipLimits::default());
    let read = a
        .inputs
        .iter()
        .filter(|i| i.format == "evtx" && i.records > 0)
        .count();
    assert!(
        read >= 4,
        "{:?}",
        a.inputs.iter().map(|i| &i.path).collect::<Vec<_>>()
    );
    assert!(!warning_with(&a, "read entry by entry").is_empty());
}

/// Two entries of one name are two logs: neither is dropped.
#[test]
fn entries_of_the_same_name_are_both_read() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = case_entries("seed-001", "");
    let system = |host: &str| {
        seed.iter()
            .find(|(n, _)| n == &format!("{host}/System.evtx"))
            .unwrap()
            .1
            .clone()
    };
    let entries = vec![
        ("logs/System.evtx".to_string(), system("HV01")),
        ("logs/System.evtx".to_string(), system("HV02")),
    ];
    let zip = write(tmp.path(), "dup.zip", &zip_of_duplicates(&entries));
    let a = analyze_with(&zip, ZipLimits::default());
    let paths: Vec<&str> = a
        .inputs
        .iter()
        .filter(|i| i.format == "evtx")
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["dup.zip!logs/System.evtx", "dup.zip!logs/System.evtx (2)"],
        "{paths:?}"
    );
    let hosts: Vec<&str> = a.hosts.iter().map(|h| h.key.as_str()).collect();
    assert!(
        hosts.contains(&"HV01") && hosts.contains(&"HV02"),
        "{hosts:?}"
    );
}

/// A zip with two entries of one name (the writer refuses that, so the second name is
/// patched in after).
fn zip_of_duplicates(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let renamed: Vec<(String, Vec<u8>)> = entries
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| (format!("{}{i}", &name[..name.len() - 1]), bytes.clone()))
        .collect();
    let mut bytes = zip_of(&renamed, CompressionMethod::Deflated);
    for (i, (name, _)) in entries.iter().enumerate() {
        let patched = format!("{}{i}", &name[..name.len() - 1]);
        let mut at = 0;
        while let Some(pos) = find(&bytes[at..], patched.as_bytes()) {
            bytes[at + pos..at + pos + name.len()].copy_from_slice(name.as_bytes());
            at += pos + name.len();
        }
    }
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
