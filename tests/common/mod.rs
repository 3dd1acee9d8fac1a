//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real sample logs of `../shared/evtx-samples/` (beside the repository), or of
/// `$HVTRIAGE_SAMPLES` when set. Missing samples fail the test: they are never skipped.
pub fn samples() -> PathBuf {
    let candidates = [
        std::env::var_os("HVTRIAGE_SAMPLES").map(PathBuf::from),
        Some(root().join("../shared/evtx-samples")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("SOURCES.md").is_file())
        .expect(
            "the real samples are missing: set HVTRIAGE_SAMPLES to the shared evtx-samples folder",
        )
}

/// Every fixture case: the folders of `fixtures/` that hold an `expected.toml`.
pub fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.toml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "the fixture cases are missing");
    cases
}

/// Every file under `dir` whose name ends with `ext`, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .expect("readable folder")
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A fixture case's logs of one format (`xml` or `evtx`) with the inputs that are neither
/// (cluster logs, host configuration), without the case's own README and expectations.
pub fn case_inputs(case: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = files(case, ext);
    let mut stack = vec![case.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable folder").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if !(name.ends_with(".xml")
                || name.ends_with(".evtx")
                || name == "README.md"
                || name == "expected.toml")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The binary, run in a scratch folder so the default `./hvtriage-report.html` of an
/// `analyze` lands there and not in the repository.
pub fn hvtriage() -> assert_cmd::Command {
    let scratch = std::env::temp_dir().join(format!("hvtriage-cwd-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let mut cmd = assert_cmd::Command::cargo_bin("hvtriage").expect("the binary is built");
    cmd.current_dir(scratch);
    cmd
}

/// A case of `n` signals on four hosts, built directly as an `Analysis`: most are one
/// cluster interface reported unreachable every 3 s (repeats that fold), one in five is a
/// migration of a different VM every 10 s (entries that do not fold), and one finding whose
/// evidence is the last three migrations, so the table's row limit would drop it were
/// evidence not always kept.
pub fn big_analysis(n: usize) -> hvtriage::analysis::Analysis {
    use hvtriage::analysis::{Analysis, Finding, Host};
    use hvtriage::input::{InputReport, RawEvent};
    use hvtriage::rules::{Confidence, Severity};
    use hvtriage::signal::Signal;
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .expect("a valid time")
        .with_timezone(&chrono::Utc);
    let hosts = ["HV01", "HV02", "HV03", "HV04"];
    let mut timeline: Vec<Signal> = (0..n)
        .map(|i| {
            let host = hosts[i % 4];
            let (name, text, ms) = if i % 5 == 4 {
                let vm = format!("VM{i:05}");
                (
                    "migration_started",
                    format!("Live migration of {vm} from {host} to HV09 started"),
                    (i as i64) * 10_000,
                )
            } else {
                (
                    "cluster_interface_unreachable",
                    format!("Cluster network interface {host} - Storage is unreachable"),
                    (i as i64 / 4) * 3_000,
                )
            };
            let time = start + chrono::Duration::milliseconds(ms);
            Signal {
                id: 0,
                name: name.to_string(),
                time,
                at: time,
                host: host.to_string(),
                fields: [("vm".to_string(), format!("VM{i:05}"))].into(),
                text,
                text_ja: None,
                event: RawEvent {
                    input: i % 4,
                    record_id: 1000 + i as u64,
                    time,
                    provider: "Microsoft-Windows-FailoverClustering".into(),
                    event_id: 1126,
                    channel: "System".into(),
                    computer: format!("{host}.contoso.local"),
                    data: vec![("NodeName".into(), host.into())],
                },
            }
        })
        .collect();
    timeline.sort_by_key(|s| (s.time, s.event.record_id));
    for (id, s) in timeline.iter_mut().enumerate() {
        s.id = id;
    }
    let evidence: Vec<usize> = timeline
        .iter()
        .filter(|s| s.name == "migration_started")
        .map(|s| s.id)
        .rev()
        .take(3)
        .collect();
    let last = timeline.last().map_or(start, |s| s.time);
    Analysis {
        case: "big".into(),
        time_zone: chrono_tz::UTC,
        lang: "en".into(),
        inputs: hosts
            .iter()
            .map(|h| InputReport {
                path: format!("{h}/System.evtx"),
                format: "evtx".into(),
                records: (n / 4) as u64,
                ..Default::default()
            })
            .collect(),
        hosts: hosts
            .iter()
            .map(|h| Host {
                key: h.to_string(),
                name: format!("{h}.contoso.local"),
                clock_offset_ms: 0,
                clock_basis: String::new(),
            })
            .collect(),
        coverage: Vec::new(),
        findings: vec![Finding {
            rule: "big-case".into(),
            severity: Severity::Error,
            confidence: Confidence::High,
            host: "HV01".into(),
            hosts: vec!["HV01".into()],
            vms: vec!["VM1".into()],
            first: start,
            last,
            title: "A finding at the end of a long day".into(),
            cause: "cause".into(),
            fix: vec!["fix".into()],
            evidence,
            missing: Vec::new(),
            config: None,
            config_evidence: Vec::new(),
        }],
        configs: Vec::new(),
        timeline,
        warnings: Vec::new(),
        rules: vec!["big-case".into()],
    }
}

/// A fresh, empty folder under the system's temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    // One folder per call: tests of one binary run at once, and may ask for the same name.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("hvtriage-{name}-{}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
    dir
}

/// Writes the Event XML files of the fixture case `fixture` into `to` (same layout, no
/// `.evtx`), each edited by `edit`: a case with hostile names, built without a fixture of its
/// own.
pub fn xml_case(fixture: &str, to: &Path, edit: &dyn Fn(&str) -> String) {
    let from = root().join("fixtures").join(fixture);
    for file in files(&from, "xml") {
        let target = to.join(file.strip_prefix(&from).expect("under the fixture"));
        std::fs::create_dir_all(target.parent().expect("a file has a folder"))
            .expect("the temporary folder is writable");
        let text = std::fs::read_to_string(&file).expect("fixture XML is UTF-8");
        std::fs::write(&target, edit(&text)).expect("the temporary folder is writable");
    }
}

/// The cells of RFC 4180 CSV text (quoted cells may hold `,`, `""` and line breaks).
pub fn csv_cells(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// Whether a spreadsheet would read this CSV cell as a formula (OWASP's list of first
/// characters).
pub fn starts_like_a_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `text` as UTF-16 LE with a BOM: what Windows PowerShell 5.1's `>` and `Export-Clixml` write.
pub fn utf16le_bom(text: &str) -> Vec<u8> {
    [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect()
}
