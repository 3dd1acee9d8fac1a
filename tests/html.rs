//! The HTML report as written to disk: safe against hostile log strings, in both languages,
//! and bounded in size for big cases.

mod common;

use hvtriage::report::html;

const HOSTILE: [&str; 4] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</style>",
    "javascript:alert(1)",
];

/// Runs `hvtriage analyze CASE -o DIR/report.html EXTRA…` and returns the written page.
fn report(case: &str, extra: &[&str]) -> String {
    report_of(&common::root().join("fixtures").join(case), extra)
}

fn report_of(input: &std::path::Path, extra: &[&str]) -> String {
    let name = input
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('/', "-");
    let dir = common::temp_dir(&format!("html-{name}"));
    let path = dir.join("report.html");
    common::hvtriage()
        .arg("analyze")
        .arg(input)
        .arg("-o")
        .arg(&path)
        .args(extra)
        .assert()
        .success();
    std::fs::read_to_string(&path).expect("the report was written")
}

fn parse(page: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, options)
        .unwrap_or_else(|e| panic!("the page is not well-formed: {e}"))
}

#[test]
fn hostile_strings_are_text_never_markup() {
    let page = report("hostile", &[]);
    let doc = parse(&page);
    let elements: Vec<_> = doc.descendants().filter(|n| n.is_element()).collect();
    let named = |name: &str| {
        elements
            .iter()
            .filter(|n| n.tag_name().name().eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(named("script"), 1, "only the page's own script");
    assert_eq!(named("style"), 1, "only the page's own style");
    for tag in [
        "img",
        "iframe",
        "object",
        "embed",
        "link",
        "base",
        "foreignObject",
    ] {
        assert_eq!(named(tag), 0, "a <{tag}> element came from the logs");
    }
    let script = elements
        .iter()
        .find(|n| n.has_tag_name("script"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(!script.contains("alert"), "log text inside the script");
    for node in &elements {
        for a in node.attributes() {
            let name = a.name().to_ascii_lowercase();
            assert!(!name.starts_with("on"), "event handler attribute {name}");
            if matches!(name.as_str(), "href" | "src" | "action" | "formaction") {
                assert!(
                    a.value().starts_with("#ev-") || a.value() == "#warnings",
                    "a URL from the logs: {name}={:?}",
                    a.value()
                );
            }
        }
    }
    let text: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    for s in HOSTILE {
        assert!(text.contains(s), "{s:?} is not shown as text");
    }
    assert!(text.contains("HV01</STYLE>"), "the host key is shown");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<img"));
    assert_eq!(page.matches("</style>").count(), 1);
    assert_eq!(page.matches("<script").count(), 1);
}

#[test]
fn the_page_forbids_every_request_and_foreign_script() {
    let page = report("seed-001", &[]);
    let doc = parse(&page);
    let csp = doc
        .descendants()
        .find(|n| n.attribute("http-equiv") == Some("Content-Security-Policy"))
        .and_then(|n| n.attribute("content"))
        .expect("a CSP meta element");
    assert_eq!(csp, html::CSP);
    assert!(csp.starts_with("default-src 'none'"));
    assert!(page.contains("@media print{"), "a print style");
    for url in ["http://", "https://", "//fonts", "@import", "url("] {
        assert!(!page.contains(url), "the page refers to {url}");
    }
}

#[test]
fn english_report_has_verdict_picture_table_and_case() {
    let page = report("seed-001", &[]);
    let doc = parse(&page);
    let root = doc.root_element();
    assert_eq!(root.attribute("lang"), Some("en"));
    let with_class = |class: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .count()
    };
    assert_eq!(with_class("finding critical"), 1);
    assert_eq!(with_class("lane"), 2, "one lane per host");
    assert_eq!(
        with_class("marker evidence"),
        8,
        "every evidence event ringed"
    );
    let rows = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr") && n.attribute("data-host").is_some())
        .count();
    assert_eq!(rows, 16, "a row per signal of seed-001");
    // Every evidence link of the card lands on a row of the table.
    for link in doc
        .descendants()
        .filter_map(|n| n.attribute("href"))
        .filter(|h| h.starts_with("#ev-"))
    {
        let id = &link[1..];
        assert!(
            doc.descendants().any(|n| n.attribute("id") == Some(id)),
            "{link} has no row"
        );
    }
    for words in [
        "Verdict",
        "Skipped files (2)",
        "README.md",
        "Rules used",
        "dc-unreachable-cluster-wide, destination-cannot-host",
        "HV01/System.evtx",
    ] {
        assert!(page.contains(words), "the page lacks {words:?}");
    }
}

#[test]
fn japanese_report_speaks_japanese_and_shows_tokyo_time() {
    let page = report("seed-001-ja", &["--lang", "ja", "--tz", "Asia/Tokyo"]);
    let doc = parse(&page);
    assert_eq!(doc.root_element().attribute("lang"), Some("ja"));
    for words in [
        "診断結果",
        "根拠となるイベント",
        "対処",
        "タイムライン",
        "日時 (UTC) / Asia/Tokyo",
        "09:41:17",
        "JST",
        "会計サーバー",
        // The signals' own lines, in the table and the evidence list.
        "NETLOGON",
        "のライブ マイグレーションがホスト NODE02 で失敗しました",
        "NIC のリンクが切断されました",
    ] {
        assert!(page.contains(words), "the page lacks {words:?}");
    }
    for english in [
        "Verdict",
        "What happened",
        "Skipped files",
        "Live migration of",
        "NIC link down:",
    ] {
        assert!(!page.contains(english), "English left: {english:?}");
    }
}

#[test]
fn missing_evidence_is_asked_for() {
    let page = report("seed-001-no-link", &[]);
    assert!(page.contains("What to collect next"));
    assert!(
        page.contains("HV01&#x27;s whole System log") || page.contains("HV01's whole System log")
    );
}

#[test]
fn no_finding_gives_a_clear_no_known_root_cause_card() {
    let page = report("netlogon-other-status", &[]);
    assert!(page.contains("class=\"finding none\""));
    assert!(page.contains("No known root cause"));
}

#[test]
fn logs_without_any_cluster_event_say_so_instead_of_no_root_cause() {
    let page = report_of(
        &common::samples().join("omerbenamram__samples__security.evtx"),
        &[],
    );
    assert!(!page.contains("class=\"finding none\""), "a green card");
    assert!(page.contains("These logs hold no Hyper-V or failover-cluster events"));
    assert!(page.contains("check what was collected"));
    assert!(page.contains(": Security"), "the logs seen are named");
}

#[test]
fn a_case_of_20000_signals_gives_a_bounded_page_that_keeps_its_evidence() {
    let analysis = common::big_analysis(20_000);
    let page = html::render(&analysis);
    let rows = page.matches("<tr id=\"ev-").count();
    assert!(rows <= html::MAX_TABLE_ROWS, "{rows} rows");
    for id in &analysis.findings[0].evidence {
        assert!(
            page.contains(&format!("<tr id=\"ev-{id}\" class=\"evidence\"")),
            "evidence row {id} was dropped"
        );
    }
    assert!(page.contains("class=\"note left-out\""));
    assert!(page.contains("×"), "repeats are folded with a count");
    assert!(page.len() < 3_000_000, "{} bytes", page.len());
    // Twice the signals, about the same page: the size is bounded, not proportional.
    let double = html::render(&common::big_analysis(40_000));
    assert!(
        double.len() < page.len() * 5 / 4,
        "{} bytes for 40,000 signals, {} for 20,000",
        double.len(),
        page.len()
    );
    parse(&page);
}

#[test]
fn analyze_writes_the_report_to_the_default_path_and_says_where() {
    let dir = common::temp_dir("html-default");
    common::hvtriage()
        .current_dir(&dir)
        .arg(common::root().join("fixtures/seed-001"))
        .assert()
        .success()
        .stdout(predicates::str::ends_with(
            "HTML report written to hvtriage-report.html\n",
        ));
    let page = std::fs::read_to_string(dir.join("hvtriage-report.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
}

#[test]
fn json_on_stdout_stays_pure_while_the_report_is_written() {
    let dir = common::temp_dir("html-json");
    let out = common::hvtriage()
        .current_dir(&dir)
        .arg(common::root().join("fixtures/seed-001"))
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON alone");
    assert_eq!(json["schema"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("hvtriage-report.html"));
    assert!(dir.join("hvtriage-report.html").is_file());
}

#[test]
fn an_unwritable_report_path_exits_2_naming_it() {
    common::hvtriage()
        .arg(common::root().join("fixtures/seed-001"))
        .args(["-o", "/nonexistent-folder/report.html"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/nonexistent-folder/report.html"));
}

#[test]
fn runs_fold_repeats_of_one_text_and_never_fold_evidence() {
    let analysis = common::big_analysis(2_000);
    let runs = analysis.runs(html::FOLD_WINDOW_MS);
    let total: usize = runs.iter().map(|r| r.count).sum();
    assert_eq!(total, analysis.timeline.len(), "every signal is in one run");
    let evidence = analysis.evidence_ids();
    for r in &runs {
        let (first, last) = (&analysis.timeline[r.first], &analysis.timeline[r.last]);
        assert_eq!((&first.host, &first.name), (&last.host, &last.name));
        assert_eq!(first.text, last.text, "only the same text folds");
        if evidence.contains(&r.first) {
            assert!(r.evidence && r.count == 1, "evidence stands alone");
        }
    }
    // 1,600 repeats of four texts fold to a handful; 400 distinct migrations stay apart.
    assert!(runs.len() < 420, "{} runs", runs.len());
    assert!(runs.len() >= 400, "{} runs", runs.len());
}

#[test]
fn coverage_is_shown_when_the_analysis_has_it() {
    let mut analysis = common::big_analysis(10);
    assert!(!html::render(&analysis).contains("class=\"coverage\""));
    analysis.coverage.push(hvtriage::analysis::Coverage {
        host: "HV01".into(),
        channel: "Microsoft-Windows-FailoverClustering/Operational".into(),
        first: None,
        last: None,
        records: 0,
        record_id_gaps: 3,
        damaged: false,
        missing: true,
    });
    let page = html::render(&analysis);
    assert!(page.contains("class=\"coverage\""));
    assert!(page.contains("<td>Microsoft-Windows-FailoverClustering/Operational</td>"));
    assert!(page.contains("<td class=\"num\">3</td><td></td><td>yes</td>"));
}

#[test]
fn warnings_are_counted_at_the_top_and_listed_in_the_case() {
    let mut analysis = common::big_analysis(10);
    assert!(!html::render(&analysis).contains("href=\"#warnings\""));
    analysis.warnings.push(
        "HV02/System.evtx: chunk 3 of 9 skipped (bad checksum): up to 101 records lost".into(),
    );
    let page = html::render(&analysis);
    assert!(page.contains("<a href=\"#warnings\">1</a>"));
    assert!(page.contains("<h3 id=\"warnings\">Warnings (1)</h3>"));
    assert!(page.contains("<li>HV02/System.evtx: chunk 3 of 9 skipped"));
}

#[test]
fn odd_analyses_render_without_panicking() {
    // No signal at all, one signal, evidence pointing past the timeline, and times centuries
    // apart (a FILETIME of 1601 beside one of 9999 in a damaged log).
    let empty = common::big_analysis(0);
    assert!(html::render(&empty).contains("</html>"));
    let mut one = common::big_analysis(1);
    one.findings[0].evidence.push(99_999);
    assert!(html::render(&one).contains("<tr id=\"ev-0\""));
    let mut far = common::big_analysis(6);
    let ancient = chrono::DateTime::parse_from_rfc3339("1601-01-01T00:00:00Z").unwrap();
    let future = chrono::DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").unwrap();
    far.timeline[0].time = ancient.with_timezone(&chrono::Utc);
    far.timeline[5].time = future.with_timezone(&chrono::Utc);
    far.time_zone = chrono_tz::Asia::Tokyo;
    let page = html::render(&far);
    parse(&page);
    assert!(page.contains("1601-01-01"));
}

#[test]
fn the_verdict_shows_the_hosts_configuration_and_its_network() {
    let confirmed = report("seed-001-config", &[]);
    assert!(
        confirmed.contains("confirmed by the host&#x27;s configuration")
            || confirmed.contains("confirmed by the host's configuration")
    );
    assert_eq!(confirmed.matches("<svg class=\"net\"").count(), 1);
    assert!(
        confirmed.contains("class=\"box down\""),
        "the NIC that lost its link is marked"
    );
    let contradicted = report("seed-001-config-second-path", &[]);
    assert!(contradicted.contains("<p class=\"config contradicted\">"));
    assert!(
        contradicted.contains("Management"),
        "the second path is drawn"
    );
    let absent = report("seed-001", &[]);
    assert!(!absent.contains("<p class=\"config"));
    assert!(absent.contains("Collect-HvTriage.ps1"));
    assert!(!absent.contains("<svg class=\"net\""));
}
