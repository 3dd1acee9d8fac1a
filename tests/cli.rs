//! The command line end to end: exit codes, outputs, bad input.

mod common;

use predicates::prelude::*;

fn seed() -> std::path::PathBuf {
    common::root().join("fixtures/seed-001")
}

/// Runs a command that cannot do its job: exit status 2 and one sentence on standard error,
/// which is returned.
fn fails_in_one_sentence(command: &mut assert_cmd::Command) -> String {
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn a_path_alone_means_analyze() {
    common::hvtriage()
        .arg(seed())
        .assert()
        .success()
        .stdout(predicate::str::contains("shared-nic-only-dc-path"))
        .stdout(predicate::str::contains("Host HV01 · VMs VM1, VM2"));
}

#[test]
fn options_before_the_path_still_mean_analyze() {
    let html = common::temp_dir("implicit").join("r.html");
    common::hvtriage()
        .args(["--lang", "ja", "-o"])
        .arg(&html)
        .arg(seed())
        .assert()
        .success()
        .stdout(predicate::str::contains("shared-nic-only-dc-path"));
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .contains("<html lang=\"ja\">"));
}

#[test]
fn json_on_stdout_puts_the_summary_and_warnings_on_stderr() {
    let out = common::hvtriage()
        .arg(seed())
        .args(["--json", "-", "-o"])
        .arg(common::temp_dir("json-stderr").join("r.html"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is JSON alone");
    assert_eq!(json["schema"], 1);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("CRITICAL") || err.contains("critical"),
        "{err}"
    );
    assert!(err.contains("shared-nic-only-dc-path"), "{err}");
    assert!(err.contains("HTML report written to"), "{err}");
}

#[test]
fn rules_commands_outside_the_source_tree() {
    let elsewhere = common::temp_dir("elsewhere");
    // check: the built-in rules.
    common::hvtriage()
        .current_dir(&elsewhere)
        .args(["rules", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no mistakes found"));
    // test: the fixtures are not here; one sentence, exit 2.
    let err = fails_in_one_sentence(
        common::hvtriage()
            .current_dir(&elsewhere)
            .args(["rules", "test"]),
    );
    assert!(err.contains("fixture case not found"), "{err}");
}

#[test]
fn fail_on_sets_exit_status_1() {
    common::hvtriage()
        .arg("analyze")
        .arg(seed())
        .args(["--fail-on", "critical"])
        .assert()
        .code(1);
    let second_path = common::root().join("fixtures/second-path");
    common::hvtriage()
        .arg("analyze")
        .arg(second_path)
        .args(["--fail-on", "critical"])
        .assert()
        .code(0);
}

#[test]
fn json_has_schema_1_with_exactly_its_keys() {
    let out = common::hvtriage()
        .arg("analyze")
        .arg(seed())
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "schema",
        "tool",
        "case",
        "time_zone",
        "inputs",
        "hosts",
        "coverage",
        "timeline",
        "findings",
        "warnings",
    ];
    let mut got = keys.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(json["schema"], 1);
    assert_eq!(json["case"], "seed-001");
    let entry = &json["timeline"][0];
    let mut entry_keys: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    entry_keys.sort();
    assert_eq!(
        entry_keys,
        [
            "channel",
            "event_id",
            "fields",
            "host",
            "id",
            "input",
            "provider",
            "record_id",
            "signal",
            "text",
            "time"
        ]
    );
    let finding = &json["findings"][0];
    let mut finding_keys: Vec<&str> = finding
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    finding_keys.sort();
    assert_eq!(
        finding_keys,
        [
            "cause",
            "confidence",
            "config",
            "config_evidence",
            "evidence",
            "first",
            "fix",
            "host",
            "hosts",
            "last",
            "missing",
            "rule",
            "severity",
            "title",
            "vms"
        ]
    );
    // Evidence ids point into the timeline.
    for id in finding["evidence"].as_array().unwrap() {
        let id = id.as_u64().unwrap() as usize;
        assert_eq!(json["timeline"][id]["id"], id as u64);
    }
}

#[test]
fn json_is_byte_identical_across_runs() {
    let run = || {
        common::hvtriage()
            .arg(seed())
            .args(["--json", "-"])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(run(), run());
}

#[test]
fn csv_has_one_row_per_signal() {
    let dir = std::env::temp_dir().join(format!("hvtriage-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("t.csv");
    common::hvtriage()
        .arg(seed())
        .arg("--csv")
        .arg(&csv)
        .args(["--tz", "Asia/Tokyo"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        lines.next().unwrap(),
        "time_utc,time_local,host,signal,provider,event_id,channel,record_id,input,text"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 16);
    assert!(
        rows.iter()
            .any(|r| r.contains("2026-11-20 11:14:05.123 JST") && r.contains("nic_link_down")),
        "{rows:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn timeline_prints_every_known_event_and_all_prints_every_record() {
    common::hvtriage()
        .arg("timeline")
        .arg(seed())
        .assert()
        .success()
        .stdout(predicate::function(|s: &str| s.lines().count() == 16));
    let sample = common::samples().join("omerbenamram__samples__Application_no_crc32.evtx");
    common::hvtriage()
        .args(["timeline", "--all", "--format", "jsonl"])
        .arg(sample)
        .assert()
        .success()
        .stdout(predicate::function(|s: &str| s.lines().count() == 17));
}

#[test]
fn timeline_all_says_what_it_could_not_read_on_standard_error() {
    // A log cut short: its lines on standard output, the cut on standard error.
    let sample = common::samples().join("omerbenamram__samples__Application_no_crc32.evtx");
    let bytes = std::fs::read(sample).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("Application.evtx");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let out = common::hvtriage()
        .args(["timeline", "--all", "--format", "jsonl"])
        .arg(&cut)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("hvtriage: warning: ") && stderr.contains("cut short"),
        "{stderr}"
    );
    assert!(!out.stdout.is_empty());
}

#[test]
fn nothing_readable_exits_2_with_one_sentence() {
    let dir = std::env::temp_dir().join(format!("hvtriage-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a log").unwrap();
    std::fs::write(dir.join("System.evtx"), "not a log either").unwrap();
    let err = fails_in_one_sentence(common::hvtriage().arg(&dir));
    assert!(
        err.contains("no readable event") && err.contains("System.evtx"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_path_that_does_not_exist_is_named_with_what_to_pass() {
    let err = fails_in_one_sentence(common::hvtriage().args(["analyze", "no/such/case-12345"]));
    assert!(
        err.contains("no/such/case-12345: no such file or folder; check the path"),
        "{err}"
    );
}

#[test]
fn a_foreign_file_named_explicitly_is_a_warning() {
    let dir = std::env::temp_dir().join(format!("hvtriage-foreign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let foreign = dir.join("Application.evtx");
    std::fs::write(&foreign, b"MZ\x90\x00 this is a program").unwrap();
    let out = common::hvtriage()
        .arg(seed())
        .arg(&foreign)
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = json["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("Application.evtx: skipped: named .evtx but is not an EVTX file")),
        "{warnings:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_broken_rule_file_exits_2_with_file_line_and_fix() {
    let dir = std::env::temp_dir().join(format!("hvtriage-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rule =
        std::fs::read_to_string(common::root().join("rules/dc-unreachable-cluster-wide.toml"))
            .unwrap();
    let typo = "signal = \"dc_unreachable\"";
    let line = rule[..rule.find(typo).unwrap()].lines().count() + 1;
    std::fs::write(
        dir.join("bad.toml"),
        rule.replace("id = \"dc-unreachable-cluster-wide\"", "id = \"bad\"")
            .replacen(typo, "signal = \"dc_unreachabel\"", 1),
    )
    .unwrap();
    let out = common::hvtriage()
        .arg(seed())
        .arg("--rules")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("bad.toml:{line}: unknown signal `dc_unreachabel`")),
        "{err}"
    );
    assert!(err.contains("did you mean `dc_unreachable`"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn o_writes_the_html_report_there_and_prints_its_path() {
    let dir = common::temp_dir("cli-html");
    let path = dir.join("case.html");
    common::hvtriage()
        .arg(seed())
        .arg("-o")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "HTML report written to {}",
            path.display()
        )));
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.contains("shared-nic-only-dc-path"));
    assert!(page.contains("<html lang=\"en\">"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("hvtriage"))
        .args(["timeline", "--all"])
        .arg(common::samples().join("log2timeline__test_data__evtx__System.evtx"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // stdout is dropped here: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A case whose host name and file name start like spreadsheet formulas.
fn formula_case(dir: &std::path::Path) -> std::path::PathBuf {
    let case = dir.join("case");
    common::xml_case("seed-001", &case, &|xml| {
        xml.replace(
            "HV02.contoso.local",
            "=HYPERLINK(\"http://x\").contoso.local",
        )
    });
    std::fs::rename(case.join("HV01"), case.join("@HV01")).unwrap();
    case
}

/// Checks every cell of a timeline CSV: none starts like a formula, the hostile host and file
/// name are there behind a `'`, and the numbers stay numbers.
fn assert_csv_is_safe(text: &str) {
    let rows = common::csv_cells(text);
    assert!(rows.len() > 10, "{text}");
    for row in &rows {
        for cell in row {
            assert!(!common::starts_like_a_formula(cell), "{cell:?} in {row:?}");
        }
    }
    let column = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (host, input, event_id) = (column("host"), column("input"), column("event_id"));
    let data = &rows[1..];
    assert!(data.iter().any(|r| r[host] == "'=HYPERLINK(\"HTTP://X\")"));
    assert!(data.iter().any(|r| r[input].starts_with("'@HV01/")));
    assert!(data
        .iter()
        .all(|r| r[event_id].chars().all(|c| c.is_ascii_digit())));
}

#[test]
fn csv_outputs_neutralise_cells_that_start_like_a_formula() {
    let dir = common::temp_dir("csv-formula");
    let case = formula_case(&dir);
    let csv = dir.join("t.csv");
    common::hvtriage()
        .arg(&case)
        .arg("--csv")
        .arg(&csv)
        .arg("-o")
        .arg(dir.join("r.html"))
        .assert()
        .success();
    assert_csv_is_safe(&std::fs::read_to_string(&csv).unwrap());
    let out = common::hvtriage()
        .args(["timeline", "--format", "csv"])
        .arg(&case)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_csv_is_safe(&String::from_utf8(out.stdout).unwrap());
}

/// A case made to attack the terminal: its folder's name sets the window title and rings the
/// bell (OSC, BEL), a file named explicitly clears the screen (CSI), and a VM name holds CR LF
/// and a forged `CRITICAL` line. Returns the case and the hostile file.
#[cfg(unix)]
fn terminal_attack(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let case = dir.join("case\x1b]0;owned\x07");
    common::xml_case("seed-001", &case, &|xml| {
        xml.replace("VM1", "VM1&#13;&#10;CRITICAL  Forged finding&#13;")
    });
    let bad = dir.join("bad\x1b[2J.evtx");
    std::fs::write(&bad, b"junk").unwrap();
    (case, bad)
}

/// No ESC, BEL or CR reaches the terminal, and no line starts as a forged finding.
fn assert_terminal_safe(text: &str) {
    for raw in ['\x1b', '\x07', '\r'] {
        assert!(!text.contains(raw), "raw {raw:?} printed:\n{text}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("CRITICAL  Forged")),
        "forged line:\n{text}"
    );
}

#[cfg(unix)]
#[test]
fn names_from_logs_and_files_cannot_drive_the_terminal_or_forge_a_line() {
    let dir = common::temp_dir("terminal-attack");
    let (case, bad) = terminal_attack(&dir);
    let csv = dir.join("t.csv");
    let out = common::hvtriage()
        .arg(&case)
        .arg(&bad)
        .arg("--csv")
        .arg(&csv)
        .arg("-o")
        .arg(dir.join("r.html"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_terminal_safe(&stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("CRITICAL")).count(),
        1,
        "{stdout}"
    );
    // What was hidden is shown, readably.
    for shown in [
        "case\\x1b]0;owned\\x07",
        "bad\\x1b[2J.evtx: skipped",
        "VMs VM1\\r\\nCRITICAL  Forged finding",
    ] {
        assert!(stdout.contains(shown), "{shown} not in:\n{stdout}");
    }
    // The same with --json -: the summary goes to standard error.
    let out = common::hvtriage()
        .arg(&case)
        .arg(&bad)
        .args(["--json", "-", "-o"])
        .arg(dir.join("r.html"))
        .output()
        .unwrap();
    assert_terminal_safe(&String::from_utf8(out.stderr).unwrap());
    // The timeline table, and the CSV: only its line ends are CR LF.
    let out = common::hvtriage()
        .arg("timeline")
        .arg(&case)
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert_terminal_safe(&table);
    assert_eq!(table.lines().count(), 16, "{table}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_terminal_safe(&csv.replace("\r\n", "\n"));
    assert!(csv.contains("VM1\\r\\nCRITICAL"), "{csv}");
}

#[cfg(unix)]
#[test]
fn a_fatal_sentence_naming_a_hostile_file_is_printed_visibly() {
    let dir = common::temp_dir("fatal-attack");
    let bad = dir.join("bad\x1b]0;owned\x07.evtx");
    std::fs::write(&bad, b"junk").unwrap();
    let err = fails_in_one_sentence(common::hvtriage().arg(&bad));
    assert_terminal_safe(&err);
    assert!(err.contains("bad\\x1b]0;owned\\x07.evtx"), "{err}");
}

/// Makes a FIFO at `path` (`mkfifo`, which every Unix has).
#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A FIFO is never opened (reading one waits for a writer forever): the timeout turns a
/// regression into a failure instead of a hang.
const NO_HANG: std::time::Duration = std::time::Duration::from_secs(20);

#[cfg(unix)]
#[test]
fn a_fifo_named_alone_exits_2_naming_it_without_opening_it() {
    let dir = common::temp_dir("fifo-alone");
    let fifo = dir.join("System.evtx");
    mkfifo(&fifo);
    let err = fails_in_one_sentence(common::hvtriage().arg(&fifo).timeout(NO_HANG));
    assert!(
        err.contains(&format!("{}: not a regular file (FIFO)", fifo.display())),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_named_toml_in_a_rules_folder_is_refused_unopened() {
    let dir = common::temp_dir("fifo-rules");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    mkfifo(&rules.join("trap.toml"));
    let err = fails_in_one_sentence(
        common::hvtriage()
            .args(["rules", "check"])
            .arg(&rules)
            .timeout(NO_HANG),
    );
    assert!(err.contains("trap.toml"), "{err}");
    assert!(err.contains("is not a regular file"), "{err}");
}

#[cfg(unix)]
#[test]
fn fifos_beside_logs_are_listed_as_skipped_never_read() {
    let dir = common::temp_dir("fifo-beside");
    let case = dir.join("case");
    common::xml_case("seed-001", &case, &|xml| xml.to_string());
    mkfifo(&case.join("HV01/Application.evtx"));
    let named = dir.join("pipe");
    mkfifo(&named);
    let out = common::hvtriage()
        .arg(&case)
        .arg(&named)
        .args(["--json", "-", "-o"])
        .arg(dir.join("r.html"))
        .timeout(NO_HANG)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped: Vec<String> = json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["format"] == "skipped")
        .map(|i| i["warnings"][0].as_str().unwrap().to_string())
        .collect();
    assert!(
        skipped.contains(&"HV01/Application.evtx: skipped: not a regular file (FIFO)".into()),
        "{skipped:?}"
    );
    // Named on the command line: a warning too.
    let warnings = json["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(&format!(
                "{}: skipped: not a regular file (FIFO)",
                named.display()
            ))),
        "{warnings:?}"
    );
    assert_eq!(json["findings"][0]["rule"], "shared-nic-only-dc-path");
}

#[cfg(unix)]
#[test]
fn fixture_refuses_a_fifo_as_its_input() {
    let dir = common::temp_dir("fifo-fixture");
    let fifo = dir.join("in.xml");
    mkfifo(&fifo);
    let err = fails_in_one_sentence(
        common::hvtriage()
            .arg("fixture")
            .arg(&fifo)
            .arg("-o")
            .arg(dir.join("out.evtx"))
            .timeout(NO_HANG),
    );
    assert!(err.contains("in.xml: not a regular file"), "{err}");
    assert!(!dir.join("out.evtx").exists());
}

/// seed-001 as Event XML, plus HV01's System log as EVTX: a case of the customer's own files.
fn customer_case(dir: &std::path::Path) -> std::path::PathBuf {
    let case = dir.join("case");
    common::xml_case("seed-001", &case, &|xml| xml.to_string());
    std::fs::copy(
        seed().join("HV01/System.evtx"),
        case.join("HV01/System.evtx"),
    )
    .unwrap();
    case
}

/// Runs `hvtriage` with `args` (paths relative to `dir`, run there): it must refuse with one
/// sentence holding `why`, and leave every file of `dir` as it was.
fn refuses_to_overwrite(dir: &std::path::Path, args: &[&str], why: &str) {
    let before = contents(dir);
    assert!(before.len() >= 7, "{before:?}");
    let err = fails_in_one_sentence(common::hvtriage().current_dir(dir).args(args));
    assert!(err.contains(why), "{args:?}: {err}");
    assert!(contents(dir) == before, "{args:?} changed a file");
}

/// Every regular file under `dir` (links followed to their file) with its bytes, sorted.
fn contents(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(contents(&path));
        } else if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

#[test]
fn an_output_never_overwrites_an_input_or_an_event_log() {
    let dir = common::temp_dir("output-input");
    customer_case(&dir);
    let input = "would overwrite this input of the case";
    let log = "would overwrite an existing event log or zip";
    // A file of the case, wherever the case was named from.
    refuses_to_overwrite(
        &dir,
        &["analyze", "case", "-o", "case/HV01/System.evtx"],
        log,
    );
    refuses_to_overwrite(&dir, &["case", "--csv", "case/HV01/System.xml"], log);
    refuses_to_overwrite(
        &dir,
        &["case", "--json", "./case/HV02/../HV01/System.evtx"],
        log,
    );
    // A file named as an input, even one that is no log.
    std::fs::write(dir.join("notes.txt"), "the customer's notes").unwrap();
    refuses_to_overwrite(&dir, &["case", "notes.txt", "--csv", "notes.txt"], input);
    refuses_to_overwrite(
        &dir,
        &["case/HV01/System.evtx", "-o", "case/HV01/System.evtx"],
        input,
    );
    // An event log that is not an input of this run.
    std::fs::copy(seed().join("HV02/System.evtx"), dir.join("other.log")).unwrap();
    refuses_to_overwrite(&dir, &["case", "-o", "other.log"], log);
}

#[cfg(unix)]
#[test]
fn an_output_through_a_link_or_hard_link_to_an_input_is_refused() {
    let dir = common::temp_dir("output-link");
    customer_case(&dir);
    std::os::unix::fs::symlink("case/HV01/System.evtx", dir.join("link.html")).unwrap();
    std::fs::write(dir.join("notes.txt"), "the customer's notes").unwrap();
    std::fs::hard_link(dir.join("notes.txt"), dir.join("hard.csv")).unwrap();
    refuses_to_overwrite(
        &dir,
        &["case", "-o", "link.html"],
        "would overwrite an existing event log or zip",
    );
    refuses_to_overwrite(
        &dir,
        &["case", "notes.txt", "--csv", "hard.csv"],
        "would overwrite this input of the case",
    );
}

#[test]
fn two_outputs_never_name_one_file() {
    let dir = common::temp_dir("output-same");
    customer_case(&dir);
    std::fs::create_dir(dir.join("out")).unwrap();
    refuses_to_overwrite(
        &dir,
        &["case", "-o", "r.out", "--json", "r.out"],
        "r.out: the HTML report (-o) and the JSON (--json) name the same file",
    );
    refuses_to_overwrite(
        &dir,
        &["case", "--csv", "out/r", "--json", "./out/../out/r"],
        "the JSON (--json) and the CSV (--csv) name the same file",
    );
    // Without -o the HTML report is ./hvtriage-report.html.
    refuses_to_overwrite(
        &dir,
        &["case", "--csv", "hvtriage-report.html"],
        "the HTML report (-o) and the CSV (--csv) name the same file",
    );
}

#[test]
fn a_new_report_inside_the_case_folder_is_fine_and_so_is_a_rerun() {
    let dir = common::temp_dir("output-inside");
    customer_case(&dir);
    for _ in 0..2 {
        common::hvtriage()
            .current_dir(&dir)
            .args([
                "case",
                "-o",
                "case/report.html",
                "--json",
                "case/report.json",
            ])
            .assert()
            .success();
    }
    assert!(std::fs::read_to_string(dir.join("case/report.html"))
        .unwrap()
        .contains("shared-nic-only-dc-path"));
}

#[test]
fn fixture_never_writes_over_its_own_input() {
    let dir = common::temp_dir("fixture-self");
    let xml = dir.join("in.xml");
    std::fs::copy(seed().join("HV02/System.xml"), &xml).unwrap();
    let before = std::fs::read(&xml).unwrap();
    let err = fails_in_one_sentence(
        common::hvtriage()
            .current_dir(&dir)
            .args(["fixture", "in.xml", "-o", "./in.xml"]),
    );
    assert!(err.contains("-o names the input itself"), "{err}");
    assert_eq!(std::fs::read(&xml).unwrap(), before);
}

#[test]
fn the_terminal_names_events_by_provider_and_id() {
    let out = common::hvtriage().arg(seed()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for id in [
        "NETLOGON 5719 · ",
        "FailoverClustering 1228 · ",
        "Hyper-V-HA 21502 · ",
    ] {
        assert!(text.contains(id), "{id} not in the evidence:\n{text}");
    }
    let out = common::hvtriage()
        .arg("timeline")
        .arg(seed())
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("NETLOGON 5719"));
    // Times have one width, so the columns line up.
    let widths: std::collections::BTreeSet<usize> = table
        .lines()
        .map(|l| l.split("  ").next().unwrap_or("").len())
        .collect();
    assert_eq!(widths.len(), 1, "{widths:?}");
}

#[test]
fn a_mistyped_command_is_named_not_taken_for_a_path() {
    let out = common::hvtriage()
        .args(["anlyze", "fixtures/seed-001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown command 'anlyze'"), "{err}");
    assert!(err.contains("did you mean analyze?"), "{err}");
}

#[test]
fn since_and_until_take_a_date_and_must_be_in_order() {
    let out = common::hvtriage()
        .arg("timeline")
        .arg(seed())
        .args(["--since", "2026-11-20", "--until", "2026-11-20"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("NETLOGON 5719"));
    let out = common::hvtriage()
        .arg("timeline")
        .arg(seed())
        .args(["--since", "2026-11-21", "--until", "2026-11-20"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("is after --until"));
}

#[test]
fn rules_list_shows_no_raw_placeholders() {
    let out = common::hvtriage().args(["rules", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('{'), "{text}");
    assert!(text.contains("<host>"), "{text}");
}

#[test]
fn the_terminal_summary_speaks_japanese_with_lang_ja() {
    let out = common::hvtriage()
        .arg(common::root().join("fixtures/seed-001-ja"))
        .args(["--lang", "ja", "--tz", "Asia/Tokyo"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for words in [
        "ケース",
        "原因:",
        "対処:",
        "根拠:",
        "カバレッジ:",
        "Asia/Tokyo",
        "NETLOGON 5719 · ",
    ] {
        assert!(text.contains(words), "{words} missing:\n{text}");
    }
    for english in ["Cause:", "Evidence:", "Coverage:", "No secure session"] {
        assert!(!text.contains(english), "{english} left in:\n{text}");
    }
}

/// `wevtutil qe /f:xml > x.xml` in Windows PowerShell 5.1 writes UTF-16 LE with a BOM; other
/// tools write BE or no BOM. Each is read as the event log it is.
#[test]
fn event_xml_in_utf16_of_any_byte_order_is_read() {
    let dir = common::temp_dir("utf16-xml");
    for (name, encode) in [
        ("le-bom", common::utf16le_bom as fn(&str) -> Vec<u8>),
        ("be-bare", |t: &str| {
            t.encode_utf16().flat_map(u16::to_be_bytes).collect()
        }),
    ] {
        let utf8 = dir.join(format!("{name}-utf8"));
        common::xml_case("seed-001", &utf8, &|xml| xml.to_string());
        let case = dir.join(name);
        for file in common::files(&utf8, "xml") {
            let target = case.join(file.strip_prefix(&utf8).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, encode(&std::fs::read_to_string(&file).unwrap())).unwrap();
        }
        let out = common::hvtriage()
            .arg(&case)
            .args(["--json", "-", "-o"])
            .arg(dir.join(format!("{name}.html")))
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            !json["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["format"] == "skipped" && i["path"].as_str().unwrap().ends_with(".xml")),
            "{name}: an XML log was skipped"
        );
        assert_eq!(
            json["findings"][0]["rule"], "shared-nic-only-dc-path",
            "{name}"
        );
    }
}

/// `fixture` on a file without events refuses instead of writing an empty log.
#[test]
fn fixture_of_a_file_without_events_exits_2() {
    let dir = common::temp_dir("fixture-empty");
    let input = dir.join("notes.txt");
    std::fs::write(&input, "just some notes").unwrap();
    let out = dir.join("out.evtx");
    let err = fails_in_one_sentence(
        common::hvtriage()
            .arg("fixture")
            .arg(&input)
            .arg("-o")
            .arg(&out),
    );
    assert!(err.contains("no <Event> element"), "{err}");
    assert!(!out.exists(), "no empty log is written");
}

/// "No readable event" says why nothing was read, not the first warning of a file.
#[test]
fn nothing_readable_names_why_not_a_side_warning() {
    let dir = common::temp_dir("nothing-why");
    // An EVTX header with one chunk of garbage: the file opens, no record reads.
    let sample =
        std::fs::read(common::samples().join("omerbenamram__samples__system.evtx")).unwrap();
    let mut bytes = sample[..4096 + 65536].to_vec();
    for b in &mut bytes[4096 + 512..] {
        *b = 0xA5;
    }
    std::fs::write(dir.join("System.evtx"), bytes).unwrap();
    let err = fails_in_one_sentence(common::hvtriage().arg(&dir));
    assert!(err.contains("none with a readable record"), "{err}");
    assert!(err.contains("System.evtx"), "{err}");
}
