//! No input makes hvtriage panic, hang or use unbounded memory (SPEC §6.1): thousands of
//! mutated inputs (bit flips, truncations, swapped, zeroed and duplicated chunks, duplicated
//! records, garbage and nested-bomb zips) made from the fixtures and the real samples, each
//! analyzed in-process on its own thread under a time limit.
//!
//! The seed is fixed, so a failure names a case that fails again. A longer run:
//! `HVTRIAGE_MUTATIONS=200000 cargo test --release --test mutations` (docs/PERFORMANCE.md).

mod common;

use hvtriage::rules::RuleSet;
use hvtriage::{analyze, Options};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cases in the normal test run (a debug build does them in well under two minutes).
const DEFAULT_MUTATIONS: u64 = 4000;
/// Longest one case may take in a debug build before it counts as a hang.
const CASE_LIMIT: Duration = Duration::from_secs(20);
/// The process's peak resident memory may not pass this, whatever the inputs.
const MAX_RSS_BYTES: u64 = 1 << 30;
const HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One original input: its bytes and the file name it is written under.
struct Original {
    name: String,
    bytes: Vec<u8>,
}

fn corpus() -> Vec<Original> {
    let root = common::root().join("fixtures/seed-001");
    let samples = common::samples();
    let mut files: Vec<PathBuf> = vec![
        root.join("HV01/Microsoft-Windows-Hyper-V-High-Availability-Admin.evtx"),
        root.join("HV01/Microsoft-Windows-Hyper-V-VMMS-Admin.evtx"),
        root.join("HV01/System.evtx"),
        root.join("HV01/Microsoft-Windows-Hyper-V-VMMS-Admin.xml"),
    ];
    for name in [
        "omerbenamram__samples__Application_no_crc32.evtx",
        "omerbenamram__samples__MSExchange_Management_wec.evtx",
        "omerbenamram__samples__Microsoft-Windows-HelloForBusiness%4Operational.evtx",
        "omerbenamram__samples__sample_with_a_bad_chunk_magic.evtx",
        "omerbenamram__samples__sample-with-zero-data-size-event.evtx",
        "log2timeline__test_data__evtx__System2.evtx",
        "williballenthin__tests__data__dns_log_malformed.evtx",
    ] {
        files.push(samples.join(name));
    }
    let mut corpus: Vec<Original> = files
        .iter()
        .map(|p| Original {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        })
        .collect();
    let small: Vec<(String, Vec<u8>)> = corpus
        .iter()
        .filter(|o| o.bytes.len() <= 70_000)
        .map(|o| (o.name.clone(), o.bytes.clone()))
        .collect();
    corpus.push(Original {
        name: "case.zip".into(),
        bytes: zip_of(&small, zip::CompressionMethod::Deflated),
    });
    corpus.push(Original {
        name: "bomb.zip".into(),
        bytes: nested_bomb(),
    });
    corpus.extend(generated_shapes(&root));
    corpus
}

/// The shapes an adversarial run found, generated here rather than committed: an Event XML
/// flood (one event of over a megabyte of empty elements between real events), Event XML in
/// UTF-16, a zip fanning out into hundreds of entries, and a zip whose entries share a name.
fn generated_shapes(seed: &Path) -> Vec<Original> {
    let xml = std::fs::read_to_string(seed.join("HV01/Microsoft-Windows-Hyper-V-VMMS-Admin.xml"))
        .unwrap();
    let at = xml.find("</Event>").unwrap() + "</Event>".len();
    let flood = format!(
        "{}\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>{}</System></Event>\n{}",
        &xml[..at],
        "<x/>".repeat(300_000),
        &xml[at..]
    );
    let utf16 = common::utf16le_bom(&xml);
    let one_event = xml[..at].to_string().into_bytes();
    let fanout: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("node-{i}/VMMS.xml"), one_event.clone()))
        .collect();
    let mut dup = zip_of(
        &[
            ("logs/a.xml0".to_string(), one_event.clone()),
            ("logs/a.xml1".to_string(), xml.clone().into_bytes()),
        ],
        zip::CompressionMethod::Deflated,
    );
    for from in [b"logs/a.xml0", b"logs/a.xml1"] {
        let mut i = 0;
        while let Some(p) = dup[i..].windows(from.len()).position(|w| w == from) {
            // The zip writer refuses one name twice: give both the same name after.
            dup[i + p..i + p + from.len()].copy_from_slice(b"logs/a.xmlx");
            i += p + from.len();
        }
    }
    vec![
        Original {
            name: "flood.xml".into(),
            bytes: flood.into_bytes(),
        },
        Original {
            name: "utf16.xml".into(),
            bytes: utf16,
        },
        Original {
            name: "fanout.zip".into(),
            bytes: zip_of(&fanout, zip::CompressionMethod::Deflated),
        },
        Original {
            name: "dup.zip".into(),
            bytes: dup,
        },
    ]
}

fn zip_of(entries: &[(String, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        w.start_file(name.as_str(), options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Zips of zips of a megabyte of zeroes behind an EVTX signature: each level compresses
/// well, together they would inflate to far more than the archive's size allows.
fn nested_bomb() -> Vec<u8> {
    let mut zero = b"ElfFile\0".to_vec();
    zero.resize(1 << 20, 0);
    let mut level = vec![("z.evtx".to_string(), zero)];
    for depth in 0..3 {
        let bytes = zip_of(&level, zip::CompressionMethod::Deflated);
        level = (0..6)
            .map(|i| (format!("{depth}-{i}.zip"), bytes.clone()))
            .collect();
    }
    zip_of(&level, zip::CompressionMethod::Deflated)
}

/// What was done to the bytes, for the failure message.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let len = bytes.len();
    let chunks = len.saturating_sub(HEADER) / CHUNK;
    match rng.below(9) {
        0 | 1 => {
            let flips = 1 + rng.below(64);
            for _ in 0..flips {
                let at = rng.below(len);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            format!("{flips} bit flips")
        }
        2 => {
            let at = rng.below(len + 1);
            bytes.truncate(at);
            format!("truncated at {at}")
        }
        3 if chunks >= 2 => {
            let (a, b) = (rng.below(chunks), rng.below(chunks));
            for i in 0..CHUNK {
                bytes.swap(HEADER + a * CHUNK + i, HEADER + b * CHUNK + i);
            }
            format!("chunks {a} and {b} swapped")
        }
        4 if chunks >= 1 => {
            let a = rng.below(chunks);
            bytes[HEADER + a * CHUNK..HEADER + (a + 1) * CHUNK].fill(0);
            format!("chunk {a} zeroed")
        }
        5 if chunks >= 2 => {
            let (a, b) = (rng.below(chunks), rng.below(chunks));
            let copy = bytes[HEADER + a * CHUNK..HEADER + (a + 1) * CHUNK].to_vec();
            bytes[HEADER + b * CHUNK..HEADER + (b + 1) * CHUNK].copy_from_slice(&copy);
            format!("chunk {a} copied over chunk {b}")
        }
        6 => {
            // A record (or any run of bytes) duplicated elsewhere in the file.
            let size = 24 + rng.below(600);
            let from = rng.below(len.saturating_sub(size));
            let to = rng.below(len.saturating_sub(size));
            let copy = bytes[from..(from + size).min(len)].to_vec();
            let end = (to + copy.len()).min(len);
            bytes[to..end].copy_from_slice(&copy[..end - to]);
            format!("{size} bytes at {from} duplicated at {to}")
        }
        7 => {
            let at = rng.below(len);
            let size = rng.below(4096).min(len - at.min(len));
            for b in &mut bytes[at..at + size] {
                *b = rng.next() as u8;
            }
            format!("{size} random bytes at {at}")
        }
        _ => {
            // Sizes and offsets: set a random u32 to an extreme.
            let at = rng.below(len.saturating_sub(4));
            let value = [0u32, 1, 0xFFFF_FFFF, 0x8000_0000, 65536, 65535][rng.below(6)];
            if at + 4 <= len {
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            format!("u32 at {at} set to {value:#x}")
        }
    }
}

/// Runs one case on its own thread: `Err` when it panics or passes the time limit.
fn run_case(path: PathBuf, rules: Arc<RuleSet>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&path, &rules)));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(CASE_LIMIT) {
        Ok(Ok(checked)) => checked,
        Ok(Err(_)) => Err("panicked".into()),
        Err(_) => Err(format!("took more than {CASE_LIMIT:?}")),
    }
}

/// Analyzes one file and checks what no input may break: counts that add up.
fn check(path: &Path, rules: &RuleSet) -> Result<(), String> {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let analysis = match analyze(&[path.to_path_buf()], rules, &Options::default()) {
        Ok(analysis) => analysis,
        // Nothing readable is a clear error, not a failure; its reason is said in Japanese too.
        Err(hvtriage::Error::NothingReadable { why, .. }) => {
            return match hvtriage::ja::translate(&why) {
                Some(_) => Ok(()),
                None => Err(format!("reason not in src/ja.rs: {why}")),
            };
        }
        Err(_) => return Ok(()),
    };
    for warning in analysis
        .warnings
        .iter()
        .chain(analysis.inputs.iter().flat_map(|i| &i.warnings))
    {
        if hvtriage::ja::translate(warning).is_none() {
            return Err(format!("warning not in src/ja.rs: {warning}"));
        }
    }
    for input in &analysis.inputs {
        // A record takes at least 28 bytes: more records than that is double counting. Zip
        // entries may inflate, up to the ratio limit.
        let most = len.saturating_mul(200) / 28 + 1;
        if input.records > most {
            return Err(format!("{}: {} records counted", input.path, input.records));
        }
        if input.events_used > input.records + input.recovered {
            return Err(format!("{}: more events than records", input.path));
        }
    }
    Ok(())
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn no_mutated_input_panics_hangs_or_grows_memory() {
    let count: u64 = std::env::var("HVTRIAGE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MUTATIONS);
    let corpus = corpus();
    let rules = Arc::new(RuleSet::builtin().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut slowest = (Duration::ZERO, String::new());
    for case in 0..count {
        let original = &corpus[rng.below(corpus.len())];
        let mut bytes = original.bytes.clone();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(3) {
            what.push(mutate(&mut rng, &mut bytes));
        }
        let path = tmp.path().join(format!("{case}-{}", original.name));
        std::fs::write(&path, &bytes).unwrap();
        let one = Instant::now();
        if let Err(why) = run_case(path.clone(), rules.clone()) {
            panic!(
                "case {case} ({}: {}): {why}",
                original.name,
                what.join(", ")
            );
        }
        if one.elapsed() > slowest.0 {
            slowest = (one.elapsed(), format!("case {case} ({})", original.name));
        }
        let _ = std::fs::remove_file(&path);
    }
    let peak = peak_rss_bytes();
    eprintln!(
        "{count} mutated inputs in {:.1?}; slowest {:.1?} ({}); peak RSS {} MiB",
        started.elapsed(),
        slowest.0,
        slowest.1,
        peak.map_or(0, |p| p >> 20)
    );
    if let Some(peak) = peak {
        assert!(peak < MAX_RSS_BYTES, "peak RSS {peak} bytes");
    }
}

/// Files that are not regular files (a FIFO, a device, links that loop or lead nowhere)
/// beside a log are listed and never opened: the run ends, with the log read.
#[cfg(unix)]
#[test]
fn non_regular_files_beside_a_log_are_never_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    std::fs::create_dir_all(&case).unwrap();
    let seed = common::root().join("fixtures/seed-001/HV01/System.evtx");
    std::fs::copy(&seed, case.join("System.evtx")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(case.join("Application.evtx"))
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", case.join("zero.evtx")).unwrap();
    std::os::unix::fs::symlink(case.join("loop-b"), case.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(case.join("loop-a"), case.join("loop-b")).unwrap();
    std::os::unix::fs::symlink(case.join("gone"), case.join("dangling.evtx")).unwrap();
    let rules = Arc::new(RuleSet::builtin().unwrap());
    let path = case.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(analyze(&[path], &rules, &Options::default()).map(|a| a.inputs));
    });
    let inputs = rx
        .recv_timeout(CASE_LIMIT)
        .expect("the run ends")
        .expect("the log is read");
    let read = inputs.iter().find(|i| i.path == "System.evtx").unwrap();
    assert!(read.records > 0);
    for name in ["Application.evtx", "zero.evtx"] {
        assert!(
            inputs
                .iter()
                .any(|i| i.format == "skipped" && i.path == name),
            "{name} is listed as skipped: {:?}",
            inputs
                .iter()
                .map(|i| (&i.path, &i.format))
                .collect::<Vec<_>>()
        );
    }
}
