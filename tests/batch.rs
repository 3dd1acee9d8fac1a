//! `hvtriage batch` end to end: a queue of folders and zips, one of them broken, reports per
//! case, index and summaries with one row each, exit codes of SPEC §1.

mod common;

use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A queue: seed-001 and dc-outage as folders, second-path as a zip, a broken zip, an empty
/// folder, and a file that is not a case.
fn queue() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("queue");
    for case in ["seed-001", "dc-outage"] {
        copy_dir(&common::root().join("fixtures").join(case), &q.join(case));
    }
    let mut w = zip::ZipWriter::new(std::fs::File::create(q.join("second-path.zip")).unwrap());
    for file in common::files(&common::root().join("fixtures/second-path"), "evtx") {
        let rel = file
            .strip_prefix(common::root().join("fixtures/second-path"))
            .unwrap();
        w.start_file(
            rel.to_string_lossy().replace('\\', "/"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::copy(&mut std::fs::File::open(&file).unwrap(), &mut w).unwrap();
    }
    w.finish().unwrap();
    std::fs::write(q.join("broken.zip"), b"PK\x03\x04 cut short").unwrap();
    std::fs::create_dir_all(q.join("<empty>")).unwrap();
    std::fs::write(q.join("notes.txt"), b"not a case").unwrap();
    tmp
}

/// Runs `hvtriage batch` on a fresh queue with `extra` arguments; it must succeed. Returns the
/// queue's folder (kept while it lives), the output folder and standard output.
fn batch(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = queue();
    let out = tmp.path().join("out");
    let assert = common::hvtriage()
        .arg("batch")
        .arg(tmp.path().join("queue"))
        .arg("-o")
        .arg(&out)
        .args(extra)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    (tmp, out, stdout)
}

/// The terminal line of one case of a batch.
fn case_line<'a>(stdout: &'a str, case: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(case))
        .unwrap_or_else(|| panic!("no line for {case}: {stdout}"))
}

#[test]
fn every_case_gets_a_row_and_its_reports_and_a_bad_case_stops_none() {
    let (_tmp, out, stdout) = batch(&["--jobs", "2"]);
    assert!(stdout.contains("5 cases"), "{stdout}");
    for case in ["seed-001", "dc-outage", "second-path"] {
        assert!(out.join(case).join("report.json").is_file(), "{case}");
        assert!(out.join(case).join("report.csv").is_file(), "{case}");
        let page = std::fs::read_to_string(out.join(case).join("report.html")).unwrap();
        assert!(page.contains("Content-Security-Policy"), "{case}");
        assert!(page.contains("<svg"), "{case}: the timeline picture");
    }
    // A case's page is its own report: seed-001's has its critical finding, second-path's none.
    let seed = std::fs::read_to_string(out.join("seed-001/report.html")).unwrap();
    assert!(seed.contains("<article class=\"finding critical\" id=\"finding-1\">"));
    let second = std::fs::read_to_string(out.join("second-path/report.html")).unwrap();
    assert!(!second.contains("<article class=\"finding critical\""));
    assert!(
        !out.join("broken").exists(),
        "a case that could not be read writes no report"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let rows = summary["cases"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let row = |name: &str| rows.iter().find(|r| r["case"] == name).unwrap().clone();
    assert_eq!(
        row("seed-001")["top_finding"]["rule"],
        "shared-nic-only-dc-path"
    );
    assert_eq!(row("seed-001")["top_finding"]["severity"], "critical");
    assert!(row("seed-001")["top_finding"]["title"]
        .as_str()
        .unwrap()
        .contains("only path to the domain controller"));
    // The terminal names each case with its worst finding's severity and title.
    let line = case_line(&stdout, "seed-001");
    assert!(
        line.contains("Critical") && line.contains("only path"),
        "{line}"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        index.contains("only path to the domain controller"),
        "titles in the index"
    );
    assert_eq!(row("seed-001")["top_finding"]["host"], "HV01");
    assert_eq!(
        row("dc-outage")["top_finding"]["rule"],
        "dc-unreachable-cluster-wide"
    );
    assert!(row("second-path")["hosts"].as_array().unwrap().len() >= 2);
    assert!(row("broken")["error"]
        .as_str()
        .unwrap()
        .contains("zip archive read entry by entry"));
    assert!(row("<empty>")["error"]
        .as_str()
        .unwrap()
        .contains("no files found"));
    // The worst cases come first.
    assert_eq!(rows[0]["top_finding"]["severity"], "critical");
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.starts_with("case,hosts,first_utc,last_utc,top_severity"));
}

#[test]
fn the_index_is_self_contained_escaped_and_links_each_report() {
    let (_tmp, out, _) = batch(&[]);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("&lt;empty&gt;"), "case names are escaped");
    assert!(!html.contains("<empty>"));
    assert!(html.contains("href=\"seed-001/report.json\""));
    assert!(
        html.contains("<td><a href=\"seed-001/report.html\">seed-001</a></td>"),
        "the case name links to its page"
    );
    assert!(
        html.contains("<td>&lt;empty&gt;</td>"),
        "a failed case has no link"
    );
    assert!(html.contains("shared-nic-only-dc-path"));
    for external in ["http://", "https://", "src=", "<link"] {
        assert!(!html.contains(external), "external resource: {external}");
    }
    assert_eq!(html.matches("<tr><td>").count(), 5);
}

#[test]
fn lang_ja_gives_a_japanese_index_and_japanese_case_reports() {
    let (_tmp, out, stdout) = batch(&["--lang", "ja"]);
    // The terminal: a line per case (worst severity and title, or why not), then the total.
    let seed = case_line(&stdout, "seed-001");
    assert!(
        seed.contains("重大") && seed.contains("唯一の経路"),
        "{seed}"
    );
    let broken = case_line(&stdout, "broken");
    assert!(broken.contains("解析できませんでした"), "{broken}");
    assert!(
        stdout.contains("ケース ") && stdout.contains("一覧: "),
        "{stdout}"
    );
    assert!(
        !stdout.contains("not analyzed") && !stdout.contains("with findings"),
        "{stdout}"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    // The failure reasons are Japanese sentences too.
    assert!(
        index.contains("読み取れるイベントがありません"),
        "the index's failure reason"
    );
    assert!(index.contains("<html lang=\"ja\">"));
    for words in ["ケース", "最重要の診断結果", "重大", "解析できませんでした"]
    {
        assert!(index.contains(words), "the index lacks {words:?}");
    }
    for english in [
        "Top finding",
        "not analyzed",
        "no finding",
        "Click a column",
    ] {
        assert!(!index.contains(english), "English left: {english:?}");
    }
    let page = std::fs::read_to_string(out.join("seed-001/report.html")).unwrap();
    assert!(page.contains("<html lang=\"ja\">"));
    assert!(page.contains("診断結果"));
}

#[test]
fn fail_on_applies_to_any_case_and_2_means_the_batch_could_not_run() {
    let tmp = queue();
    let queue = tmp.path().join("queue");
    common::hvtriage()
        .arg("batch")
        .arg(&queue)
        .arg("-o")
        .arg(tmp.path().join("out"))
        .args(["--fail-on", "critical", "--jobs", "1"])
        .assert()
        .code(1);
    let nothing = tmp.path().join("nothing");
    std::fs::create_dir_all(&nothing).unwrap();
    common::hvtriage()
        .arg("batch")
        .arg(&nothing)
        .arg("-o")
        .arg(tmp.path().join("out2"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no case found"));
    common::hvtriage()
        .arg("batch")
        .arg(tmp.path().join("missing"))
        .arg("-o")
        .arg(tmp.path().join("out3"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot be read"));
}

/// Folders whose names differ only in bytes that are not UTF-8 (`dup\xff`, `dup\xfe`, both
/// shown `dup�`), a folder named like a summary file and one named like its old way out:
/// every case gets its own output folder, and each row's reports are its own case's.
#[cfg(unix)]
#[test]
fn cases_whose_names_collide_get_their_own_output_folders() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("queue");
    let folders: [(&[u8], &str); 4] = [
        (b"dup\xff", "seed-001"),
        (b"dup\xfe", "dc-outage"),
        (b"index.html", "seed-001"),
        (b"index.html-case", "dc-outage"),
    ];
    for (name, case) in folders {
        let to = q.join(std::ffi::OsStr::from_bytes(name));
        copy_dir(&common::root().join("fixtures").join(case), &to);
    }
    let out = tmp.path().join("out");
    common::hvtriage()
        .arg("batch")
        .arg(&q)
        .arg("-o")
        .arg(&out)
        .args(["--jobs", "2"])
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let rows = summary["cases"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let mut names: Vec<&str> = rows.iter().map(|r| r["case"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "dup\u{fffd}",
            "dup\u{fffd}-2",
            "index.html-2",
            "index.html-case"
        ]
    );
    for row in rows {
        let name = row["case"].as_str().unwrap();
        let reports = row["reports"].as_array().unwrap();
        assert_eq!(reports[1], format!("{name}/report.json"), "{row}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(name).join("report.json")).unwrap())
                .unwrap();
        assert_eq!(
            report["case"], name,
            "the report in {name}/ is another case's"
        );
        assert_eq!(
            report["findings"][0]["rule"], row["top_finding"]["rule"],
            "{name}"
        );
    }
    // The summary files are still the batch's own.
    assert!(out.join("index.html").is_file());
}

/// Case names and host names that start like spreadsheet formulas are text in
/// `summary.csv`; the counts stay numbers.
#[test]
fn summary_csv_neutralises_cells_that_start_like_a_formula() {
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("queue");
    common::xml_case("seed-001", &q.join("=HYPERLINK(\"http:x\")"), &|xml| {
        xml.replace("HV01.contoso.local", "@SUM(1+1).contoso.local")
    });
    copy_dir(&common::root().join("fixtures/dc-outage"), &q.join("-2+3"));
    let out = tmp.path().join("out");
    common::hvtriage()
        .arg("batch")
        .arg(&q)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let rows = common::csv_cells(&text);
    assert_eq!(rows.len(), 3, "{text}");
    for row in &rows {
        for cell in row {
            assert!(!common::starts_like_a_formula(cell), "{cell:?} in {row:?}");
        }
    }
    let cases: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert!(cases.contains(&"'=HYPERLINK(\"http:x\")"), "{cases:?}");
    assert!(cases.contains(&"'-2+3"), "{cases:?}");
    assert!(
        rows[1..].iter().any(|r| r[1].starts_with("'@SUM(1+1)")),
        "{rows:?}"
    );
    // findings and warnings are counts, written as digits.
    assert!(rows[1..].iter().all(|r| r[7].parse::<u64>().is_ok()));
}

/// Runs `hvtriage batch QUEUE -o OUT` with `extra`; returns standard output.
fn run_batch(queue: &Path, out: &Path, extra: &[&str]) -> String {
    let assert = common::hvtriage()
        .arg("batch")
        .arg(queue)
        .arg("-o")
        .arg(out)
        .args(extra)
        .assert()
        .success();
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

fn summary_rows(out: &Path) -> Vec<serde_json::Value> {
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    summary["cases"].as_array().unwrap().clone()
}

#[test]
fn a_rerun_reuses_unchanged_cases_and_analyzes_changed_ones() {
    let tmp = queue();
    let q = tmp.path().join("queue");
    // The output inside the queue: never taken for a case.
    let out = q.join("reports");
    let first = run_batch(&q, &out, &[]);
    assert!(
        first.contains("5 cases") && first.contains("(0 unchanged"),
        "{first}"
    );
    let second = run_batch(&q, &out, &[]);
    assert!(
        second.contains("5 cases") && second.contains("(5 unchanged"),
        "{second}"
    );
    assert_eq!(summary_rows(&out).len(), 5);
    let row = |name: &str| {
        summary_rows(&out)
            .into_iter()
            .find(|r| r["case"] == name)
            .unwrap()
    };
    let before = row("seed-001");

    // One case changes (HV01's System log, both its copies, taken away): only it is
    // analyzed again, and its new row is in the index.
    let logs: Vec<(std::path::PathBuf, Vec<u8>)> = ["System.evtx", "System.xml"]
        .iter()
        .map(|f| q.join("seed-001/HV01").join(f))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            (p, bytes)
        })
        .collect();
    let third = run_batch(&q, &out, &[]);
    assert!(third.contains("(4 unchanged"), "{third}");
    assert_ne!(row("seed-001"), before, "the changed case's row is new");

    // Put back: changed again since the last run, so analyzed again; then written once more
    // with the same bytes (a new time at most), it is recognized by its content.
    for (path, bytes) in &logs {
        std::fs::write(path, bytes).unwrap();
    }
    let fourth = run_batch(&q, &out, &[]);
    assert!(fourth.contains("(4 unchanged"), "{fourth}");
    assert_eq!(row("seed-001"), before);
    for (path, bytes) in &logs {
        std::fs::write(path, bytes).unwrap();
    }
    let fifth = run_batch(&q, &out, &[]);
    assert!(fifth.contains("(5 unchanged"), "{fifth}");

    let forced = run_batch(&q, &out, &["--force"]);
    assert!(forced.contains("(0 unchanged"), "{forced}");
    // Every file was written whole: no temporary file is left behind.
    for entry in walk(&out) {
        assert!(!entry.ends_with(".part"), "{entry}");
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// Rows without their links, for comparing batches written into different folders.
fn unlinked(rows: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    rows.into_iter()
        .map(|mut r| {
            r["reports"] = serde_json::Value::Null;
            r
        })
        .collect()
}

#[test]
fn two_shards_merged_give_the_summary_of_one_batch() {
    let tmp = queue();
    let q = tmp.path().join("queue");
    let whole = tmp.path().join("whole");
    run_batch(&q, &whole, &[]);

    // Two processes, one output folder: the last to finish writes every case's row.
    let shared = tmp.path().join("shared");
    let zero = run_batch(&q, &shared, &["--shard", "0/2"]);
    assert!(zero.contains("3 cases"), "{zero}");
    run_batch(&q, &shared, &["--shard", "1/2"]);
    assert_eq!(summary_rows(&shared), summary_rows(&whole));

    // One folder per shard, merged by `hvtriage index`.
    let (a, b, merged) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("merged"),
    );
    run_batch(&q, &a, &["--shard", "0/2"]);
    run_batch(&q, &b, &["--shard", "1/2"]);
    common::hvtriage()
        .arg("index")
        .arg(&a)
        .arg(&b)
        .arg("-o")
        .arg(&merged)
        .assert()
        .success()
        .stdout(predicates::str::contains("5 cases"));
    let rows = summary_rows(&merged);
    assert_eq!(unlinked(rows.clone()), unlinked(summary_rows(&whole)));
    // The merged index links into the shards' folders.
    let seed = rows.iter().find(|r| r["case"] == "seed-001").unwrap();
    let link = seed["reports"][0].as_str().unwrap();
    assert!(merged.join(link).is_file(), "{link}");

    common::hvtriage()
        .args(["batch", "x", "-o", "y", "--shard", "2/2"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("K must be from 0 to N-1"));
}
