//! `index.html` of a batch: one row per case, sortable by clicking a column heading (a tiny
//! inline script; without JavaScript the table stays in its order, worst case first).
//! Self-contained: no external resource, a Content-Security-Policy that allows only its own
//! inline style and script, and every string escaped.

use super::Row;
use crate::report;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::fmt::Write as _;

/// What the index adds to the reports' style sheet (`report::html::STYLE`).
const STYLE: &str = "th{cursor:pointer;user-select:none}\
td.n{text-align:right;font-variant-numeric:tabular-nums}td:first-child,td.t{white-space:nowrap}\
td.failed{color:var(--critical)}\
.rule{color:var(--muted);font-size:.9em;white-space:nowrap}\
header.top p.summary{margin:0;color:#dde1e7}\
@media print{th{cursor:auto}header.top{background:#fff;color:#000}}";

/// Sorts the table by the clicked column: numbers and severities by their `data-sort` key.
const SCRIPT: &str = "document.querySelectorAll('th').forEach(function(th,i){\
th.addEventListener('click',function(){\
var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),\
up=th.getAttribute('aria-sort')!=='ascending';\
th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});\
th.setAttribute('aria-sort',up?'ascending':'descending');\
rows.sort(function(a,b){var x=a.cells[i].dataset.sort||a.cells[i].textContent,\
y=b.cells[i].dataset.sort||b.cells[i].textContent,\
c=(isNaN(x)||isNaN(y))?x.localeCompare(y):x-y;return up?c:-c});\
rows.forEach(function(r){tb.appendChild(r)})})});";

/// The page's own words, in English or Japanese (`--lang`).
struct Words {
    lang: &'static str,
    title: &'static str,
    columns: [&'static str; 7],
    /// `{cases}`, `{found}`, `{failed}`.
    summary: &'static str,
    not_analyzed: &'static str,
    on: &'static str,
    no_finding: &'static str,
}

const EN: Words = Words {
    lang: "en",
    title: "Batch index",
    columns: [
        "Case",
        "Hosts",
        "Time span (UTC)",
        "Top finding",
        "Findings",
        "Warnings",
        "Reports",
    ],
    summary: "{cases} cases, {found} with findings, {failed} not analyzed. Click a column heading to sort.",
    not_analyzed: "not analyzed: ",
    on: "on",
    no_finding: "no finding",
};

const JA: Words = Words {
    lang: "ja",
    title: "一括診断の一覧",
    columns: [
        "ケース",
        "ホスト",
        "ログの期間 (UTC)",
        "最重要の診断結果",
        "診断結果",
        "警告",
        "レポート",
    ],
    summary: "ケース {cases} 件 (診断結果あり {found} 件、解析できなかったもの {failed} 件)。列見出しをクリックすると並べ替えます。",
    not_analyzed: "解析できませんでした: ",
    on: "ホスト",
    no_finding: "診断結果なし",
};

fn words(lang: &str) -> &'static Words {
    match lang {
        "ja" => &JA,
        _ => &EN,
    }
}

/// The whole page, in `lang` (`en` or `ja`).
pub(super) fn html(rows: &[Row], lang: &str) -> String {
    let w = words(lang);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">",
        w.lang
    );
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>hvtriage — {}: {}</title>", w.title, rows.len());
    let _ = writeln!(
        out,
        "<style>{}{STYLE}</style></head><body>",
        report::html::STYLE
    );
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let summary = w
        .summary
        .replace("{cases}", &rows.len().to_string())
        .replace(
            "{found}",
            &rows.iter().filter(|r| r.findings > 0).count().to_string(),
        )
        .replace("{failed}", &failed.to_string());
    let _ = writeln!(
        out,
        "<header class=\"top\"><p class=\"tool\">hvtriage</p><h1>{}</h1>\n<p class=\"summary\">{summary}</p></header>\n<main>",
        w.title
    );
    out.push_str("<div class=\"wide\"><table><thead><tr>");
    for c in w.columns {
        let _ = write!(out, "<th scope=\"col\">{c}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str(&table_row(row, w));
    }
    out.push_str("</tbody></table></div>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">hvtriage {}</p></main>\n<script>{SCRIPT}</script>\n</body></html>",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn table_row(r: &Row, w: &Words) -> String {
    let span = match (r.first, r.last) {
        (Some(a), Some(b)) => format!(
            "{} →<br>{}",
            text(&report::short(a, chrono_tz::UTC)),
            text(&report::short(b, chrono_tz::UTC))
        ),
        _ => String::new(),
    };
    let span_key = r.first.map(report::utc).unwrap_or_default();
    format!(
        "<tr><td>{}</td><td>{}</td><td class=\"t\" data-sort=\"{}\">{}</td>{}<td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
        case_cell(r),
        text(&r.hosts.join(", ")),
        attr(&span_key),
        span,
        top_cell(r, w),
        r.findings,
        r.warnings,
        links(r),
    )
}

/// The case's name, linked to its HTML report when it has one.
fn case_cell(r: &Row) -> String {
    match r.reports.iter().find(|p| p.ends_with(".html")) {
        Some(page) => format!("<a href=\"{}\">{}</a>", attr(&href(page)), text(&r.case)),
        None => text(&r.case).into_owned(),
    }
}

/// The top finding (severity, rule, host), or why the case was not analyzed.
fn top_cell(r: &Row, w: &Words) -> String {
    if let Some(error) = &r.error {
        return format!(
            "<td data-sort=\"9\" class=\"failed\">{}{}</td>",
            w.not_analyzed,
            text(error)
        );
    }
    match &r.top_finding {
        Some(t) => format!(
            "<td data-sort=\"{}\"><span class=\"sev {}\">{}</span> {} <span class=\"rule\">({}, {} {})</span></td>",
            t.severity as u8,
            t.severity.as_str(),
            report::i18n::words(w.lang).severity_name(t.severity),
            text(&t.title),
            text(&t.rule),
            w.on,
            text(&if t.hosts.is_empty() {
                t.host.clone()
            } else {
                t.hosts.join(", ")
            }),
        ),
        None => format!("<td data-sort=\"8\">{}</td>", w.no_finding),
    }
}

fn links(r: &Row) -> String {
    r.reports
        .iter()
        .map(|path| {
            let label = path.rsplit('/').next().unwrap_or(path);
            format!("<a href=\"{}\">{}</a>", attr(&href(path)), text(label))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A relative link: each path segment percent-encoded, so a case named `a#b` or `x?y` links
/// to its own folder.
fn href(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_percent_encoded_per_segment() {
        assert_eq!(href("a b#1/report.json"), "a%20b%231/report.json");
        assert_eq!(
            href("ケース/report.csv"),
            "%E3%82%B1%E3%83%BC%E3%82%B9/report.csv"
        );
    }
}
