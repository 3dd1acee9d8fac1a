//! The HTML report in a real browser: headless Chromium opens the written files from
//! `file://`, runs the page's script under its Content-Security-Policy, and the rendered DOM
//! is checked. The screenshots in `docs/` are taken here: every run writes them into a scratch
//! folder, and `HVTRIAGE_UPDATE_SCREENSHOTS=1` writes them over `docs/` (so a test run leaves
//! the working tree as it was).
//!
//! Chromium is required: without it these tests fail and say how to install it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The Chromium binary: `$HVTRIAGE_CHROMIUM`, or `chromium` / `chromium-browser` on PATH.
fn chromium() -> PathBuf {
    let candidates = [
        std::env::var_os("HVTRIAGE_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("chromium")),
        Some(PathBuf::from("chromium-browser")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "headless Chromium is needed for the browser test and was not found: install it \
             with `apt-get update && apt-get install -y chromium fonts-noto-cjk` \
             (bash scripts/test.sh does), or set HVTRIAGE_CHROMIUM to its path",
        )
}

/// Runs Chromium headless on a local file with a fresh profile and no background traffic.
fn browse(page: &Path, extra: &[String]) -> (String, Duration) {
    browse_url(page, "", extra)
}

/// The same, with a query string after the file's URL.
fn browse_url(page: &Path, query: &str, extra: &[String]) -> (String, Duration) {
    let profile = common::temp_dir(&format!(
        "chromium-{}",
        page.file_stem().unwrap_or_default().to_string_lossy()
    ));
    let started = Instant::now();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}{query}", page.display()))
        .output()
        .expect("Chromium runs");
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), took)
}

fn dump_dom(page: &Path) -> (String, Duration) {
    browse(page, &["--dump-dom".to_string()])
}

/// Where a screenshot named `name` goes: `docs/` when asked for, a scratch folder otherwise.
fn shot_path(name: &str) -> PathBuf {
    if std::env::var_os("HVTRIAGE_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        common::root().join("docs").join(name)
    } else {
        common::temp_dir(&format!("shot-{name}")).join(name)
    }
}

fn screenshot(page: &Path, png: &Path) {
    screenshot_at(page, png, "1400,1900");
}

fn screenshot_at(page: &Path, png: &Path, size: &str) {
    browse(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={size}"),
        ],
    );
    let bytes = std::fs::read(png).expect("the screenshot was written");
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        png.display()
    );
    assert!(bytes.len() > 50_000, "{} looks empty", png.display());
}

/// Writes the report of a fixture case into a scratch folder.
fn report(case: &str, name: &str, extra: &[&str]) -> PathBuf {
    let path = common::temp_dir(&format!("browser-{name}")).join(format!("{name}.html"));
    common::hvtriage()
        .arg("analyze")
        .arg(common::root().join("fixtures").join(case))
        .arg("-o")
        .arg(&path)
        .args(extra)
        .assert()
        .success();
    path
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[test]
fn english_report_renders_in_chromium() {
    let page = report("seed-001", "en", &[]);
    let (dom, _) = dump_dom(&page);
    assert!(dom.contains("<html lang=\"en\">"));
    assert_eq!(count(&dom, "<article class=\"finding critical\""), 1);
    assert!(dom.contains("shared-nic-only-dc-path"));
    assert_eq!(count(&dom, "<svg class=\"timeline\""), 1);
    assert_eq!(count(&dom, "<g class=\"lane\""), 2, "lanes HV01 and HV02");
    assert!(count(&dom, "class=\"marker") >= 10, "markers drawn");
    assert_eq!(
        count(&dom, "class=\"marker evidence\""),
        8,
        "link, 1127, both 1255s, 5719, 1228, both 21502s"
    );
    assert_eq!(count(&dom, "<tr id=\"ev-"), 16, "a row per signal");
    // The script ran under the page's CSP: it shows the filters it keeps hidden otherwise.
    assert!(
        dom.contains("<form class=\"filters\" id=\"filters\">"),
        "the filter script did not run"
    );
    screenshot(&page, &shot_path("screenshot-en.png"));
    screenshot_at(&page, &shot_path("screenshot-en-800.png"), "800,1900");
}

#[test]
fn the_filter_script_hides_other_hosts_rows_and_dims_their_markers() {
    let page = report("seed-001", "filter", &[]);
    let (dom, _) = browse_url(&page, "?host=HV02", &["--dump-dom".to_string()]);
    let hidden = dom
        .lines()
        .filter(|l| l.starts_with("<tr id=\"ev-") && l.contains(" hidden=\"\""))
        .count();
    assert_eq!(hidden, 15, "HV01's 15 rows hidden, HV02's one shown");
    assert!(dom.contains("data-host=\"HV02\" data-signal=\"migration_started\"><td"));
    assert!(
        count(&dom, "class=\"marker dim\"") >= 5,
        "HV01's markers dimmed"
    );
    // A value that is no option selects nothing: every row stays.
    let (dom, _) = browse_url(&page, "?host=%3Cscript%3E", &["--dump-dom".to_string()]);
    assert_eq!(count(&dom, " hidden=\"\""), 0);
}

#[test]
fn japanese_report_renders_in_chromium() {
    // Without a font that covers Japanese, Chromium draws every kanji as a box and the DOM
    // checks below would still pass: the font must be there (fontconfig is what Chromium asks).
    let fonts = Command::new("fc-list")
        .args([":lang=ja", "family"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        !fonts.trim().is_empty(),
        "no font covers Japanese, so the Japanese report renders as boxes: install one with \
         `apt-get install -y fonts-noto-cjk` (bash scripts/test.sh does)"
    );
    let page = report("seed-001-ja", "ja", &["--lang", "ja", "--tz", "Asia/Tokyo"]);
    let (dom, _) = dump_dom(&page);
    assert!(dom.contains("<html lang=\"ja\">"));
    assert_eq!(count(&dom, "<article class=\"finding critical\""), 1);
    assert!(dom.contains("診断結果"));
    assert!(dom.contains("会計サーバー"));
    assert!(dom.contains("Asia/Tokyo"));
    assert_eq!(count(&dom, "<g class=\"lane\""), 3, "lanes NODE01–03");
    assert!(count(&dom, "<tr id=\"ev-") >= 9);
    screenshot(&page, &shot_path("screenshot-ja.png"));
    screenshot_at(&page, &shot_path("screenshot-ja-800.png"), "800,1900");
}

#[test]
fn hostile_strings_stay_text_in_chromium() {
    let page = report("hostile", "hostile", &[]);
    let (dom, _) = dump_dom(&page);
    assert_eq!(count(&dom, "<script"), 1, "only the page's own script");
    assert_eq!(count(&dom, "<img"), 0);
    // "onerror=" may appear only inside the escaped text `&lt;img src=x onerror=…`.
    assert_eq!(
        count(&dom, "onerror="),
        count(&dom, "&lt;img src=x onerror="),
        "an onerror attribute in the DOM"
    );
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(count(&dom, "<article class=\"finding critical\""), 1);
}

/// Prints the figures `docs/PERFORMANCE.md` quotes: run with `--nocapture`.
#[test]
fn a_20000_signal_report_opens_in_seconds() {
    let analysis = common::big_analysis(20_000);
    let page = common::temp_dir("browser-big").join("big.html");
    let started = Instant::now();
    let html = hvtriage::report::html::render(&analysis);
    let render = started.elapsed();
    std::fs::write(&page, html).unwrap();
    let bytes = std::fs::metadata(&page).unwrap().len();
    let (dom, took) = dump_dom(&page);
    eprintln!(
        "20,000 signals: rendered in {:.3} s, page {bytes} bytes, Chromium --dump-dom {:.2} s",
        render.as_secs_f64(),
        took.as_secs_f64()
    );
    assert!(dom.contains("class=\"note left-out\""));
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// Measures, in Chromium, the boxes of the picture's evidence labels: how many there are, how
/// many pairs overlap, and how many stick out of the picture.
fn label_boxes(page: &Path) -> (usize, usize, usize) {
    let html = std::fs::read_to_string(page).unwrap();
    let probe = r#"<script>
(function () {
  var svg = document.querySelector("svg.timeline");
  var view = svg.viewBox.baseVal;
  var boxes = Array.prototype.map.call(document.querySelectorAll("svg.timeline text.label"), function (t) {
    var m = t.getCTM(), b = t.getBBox();
    return {x: b.x + m.e, y: b.y + m.f, w: b.width, h: b.height};
  });
  var overlaps = 0, outside = 0;
  boxes.forEach(function (a, i) {
    if (a.x < 0 || a.y < 0 || a.x + a.w > view.width || a.y + a.h > view.height) { outside += 1; }
    boxes.slice(i + 1).forEach(function (b) {
      if (a.x + a.w > b.x && b.x + b.w > a.x && a.y + a.h > b.y && b.y + b.h > a.y) { overlaps += 1; }
    });
  });
  document.body.setAttribute("data-labels", boxes.length + " " + overlaps + " " + outside);
})();
</script></body>"#;
    let probed = page.with_extension("probe.html");
    std::fs::write(&probed, html.replace("</body>", probe)).unwrap();
    let (dom, _) = dump_dom(&probed);
    let at = dom.find("data-labels=\"").expect("the probe ran") + "data-labels=\"".len();
    let numbers: Vec<usize> = dom[at..]
        .split('"')
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

#[test]
fn timeline_labels_never_overlap_or_get_cut() {
    for (case, lang) in [
        ("seed-001-long-names", "en"),
        ("seed-001-long-names", "ja"),
        ("seed-001-ja", "ja"),
        ("hostile", "en"),
        ("dc-outage", "en"),
    ] {
        let page = report(case, &format!("labels-{case}-{lang}"), &["--lang", lang]);
        let (labels, overlaps, outside) = label_boxes(&page);
        assert!(labels >= 3, "{case} ({lang}): only {labels} labels drawn");
        assert_eq!(overlaps, 0, "{case} ({lang}): labels print over each other");
        assert_eq!(
            outside, 0,
            "{case} ({lang}): labels cut at the picture's edge"
        );
    }
}

/// Prints a page to PDF in Chromium (A4 comes from the page's own `@page`), and returns the
/// PDF's pages as text (pdftotext, from poppler-utils).
fn print(page: &Path) -> Vec<String> {
    let pdf = page.with_extension("pdf");
    browse(
        page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_string(),
        ],
    );
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs: install poppler-utils (bash scripts/test.sh does)");
    assert!(out.status.success());
    let size = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let info = String::from_utf8_lossy(&size.stdout);
    assert!(info.contains("(A4)"), "not printed on A4: {info}");
    String::from_utf8_lossy(&out.stdout)
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_report_prints_on_a4_with_the_verdict_on_page_one() {
    for (case, lang, verdict_words) in [
        ("seed-001", "en", "Live migration failed: the pulled NIC"),
        ("seed-001-ja", "ja", "ライブ マイグレーション失敗"),
    ] {
        let page = report(case, &format!("print-{case}"), &["--lang", lang]);
        let pages = print(&page);
        assert!(
            pages.len() <= 4,
            "{case} ({lang}) prints on {} pages",
            pages.len()
        );
        assert!(
            pages[0].contains(verdict_words),
            "{case} ({lang}): page 1 lacks the verdict"
        );
        // The printed first page as a picture (pdftoppm), for docs/ when refreshing.
        let png = shot_path(&format!("print-{lang}-page1.png"));
        let pdf = page.with_extension("pdf");
        let prefix = png.with_extension("");
        let made = Command::new("pdftoppm")
            .args(["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"])
            .arg(&pdf)
            .arg(&prefix)
            .status()
            .expect("pdftoppm runs");
        assert!(
            made.success() && png.is_file(),
            "page 1 of {case} as a picture"
        );
        let all = pages.join("\n");
        for id in [
            "NETLOGON 5719",
            "FailoverClustering 1228",
            "Hyper-V-HA 21502",
        ] {
            assert!(all.contains(id), "{case} ({lang}): {id} is not on paper");
        }
    }
}

#[test]
fn nothing_overflows_sideways_at_800_px() {
    for (case, lang) in [("seed-001-ja", "ja"), ("seed-001", "en"), ("hostile", "en")] {
        let page = report(case, &format!("narrow-{case}"), &["--lang", lang]);
        let html = std::fs::read_to_string(&page).unwrap();
        let probe = r#"<script>
document.body.setAttribute("data-overflow",
  String(document.documentElement.scrollWidth - document.documentElement.clientWidth));
</script></body>"#;
        let probed = page.with_extension("probe.html");
        std::fs::write(&probed, html.replace("</body>", probe)).unwrap();
        let (dom, _) = browse(
            &probed,
            &[
                "--dump-dom".to_string(),
                "--window-size=800,1000".to_string(),
            ],
        );
        assert!(
            dom.contains("data-overflow=\"0\""),
            "{case} ({lang}) overflows at 800 px: {}",
            dom.split("data-overflow=\"")
                .nth(1)
                .map_or("?", |r| &r[..r.find('"').unwrap_or(0)])
        );
    }
}
