//! The HTML report (SPEC §5.4): one self-contained page — the verdict first, the timeline
//! picture, the table of every signal, then the case (inputs, skipped files, hosts, rules).
//!
//! Safety: every string that comes from a log, a file name or a rule goes through
//! `html-escape` (element text or double-quoted attribute), never into a script, style or URL;
//! the page's only URLs are `#ev-N` anchors built from numbers. The Content-Security-Policy
//! forbids every request and every script but the page's own. The page is also well-formed
//! XML, so tests can parse it and check what it contains.

use super::i18n::{words, Words};
use super::{local, svg, utc};
use crate::analysis::{Analysis, Finding, Run};
use crate::input::InputReport;
use crate::ja;
use crate::rules::Severity;
use chrono::{DateTime, Utc};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Signals of one host, kind and text closer than this fold into one entry with a count.
pub const FOLD_WINDOW_MS: i64 = 60_000;
/// At most this many entries in the table (evidence is always kept): a page of 20,000
/// signals must still open in seconds. The CSV and `hvtriage timeline` hold everything.
pub const MAX_TABLE_ROWS: usize = 2_500;

/// The policy of the page: nothing from the network, only its own inline style and script,
/// and images only as `data:` (it has none).
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// The report as one HTML document.
pub fn render(a: &Analysis) -> String {
    let w = words(&a.lang);
    let runs = a.runs(FOLD_WINDOW_MS);
    let mut out = String::with_capacity(64 * 1024 + a.timeline.len() * 256);
    head(&mut out, a, w);
    out.push_str("<body>\n");
    header(&mut out, a, w);
    out.push_str("<main>\n");
    verdict(&mut out, a, w);
    picture(&mut out, a, &runs, w);
    table(&mut out, a, &runs, w);
    case(&mut out, a, w);
    out.push_str("</main>\n");
    let _ = writeln!(
        out,
        "<footer>hvtriage {} · {}</footer>",
        env!("CARGO_PKG_VERSION"),
        text(&a.case)
    );
    out.push_str(SCRIPT);
    out.push_str("</body>\n</html>\n");
    out
}

fn head(out: &mut String, a: &Analysis, w: &Words) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{} — {}</title>\n<style>{STYLE}</style>\n</head>\n",
        w.lang,
        text(&a.case),
        w.title
    );
}

/// The title bar: case, hosts, the time the logs cover, the zone, the version.
fn header(out: &mut String, a: &Analysis, w: &Words) {
    let tz = a.time_zone;
    let hosts: Vec<&str> = a.hosts.iter().map(|h| h.key.as_str()).collect();
    let span = a.span().map_or_else(
        || w.none.to_string(),
        |(first, last)| format!("{} → {}", when(first, tz), when(last, tz)),
    );
    let _ = write!(
        out,
        "<header class=\"top\"><p class=\"tool\">{}</p><h1>{} <span class=\"case\">{}</span></h1>",
        w.title,
        w.case,
        text(&a.case),
    );
    let mut pairs = vec![
        (w.hosts, text(&hosts.join(", ")).into_owned()),
        (w.span, text(&span).into_owned()),
        (w.time_zone, text(tz.name()).into_owned()),
        (w.version, env!("CARGO_PKG_VERSION").to_string()),
    ];
    // Warnings change what can be concluded: say at once that there are some.
    if !a.warnings.is_empty() {
        pairs.push((
            w.warnings,
            format!("<a href=\"#warnings\">{}</a>", a.warnings.len()),
        ));
    }
    facts(out, &pairs);
    out.push_str("</header>\n");
}

/// Label–value pairs in a row that wraps between pairs, never inside one. Values are HTML
/// already escaped by the caller.
fn facts(out: &mut String, pairs: &[(&str, String)]) {
    out.push_str("<dl class=\"facts\">");
    for (label, value) in pairs {
        let _ = write!(out, "<div><dt>{label}</dt><dd>{value}</dd></div>");
    }
    out.push_str("</dl>");
}

/// A moment for people: in the report's zone, with UTC beside it when the zone is another.
fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let utc_text = t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if tz == chrono_tz::UTC {
        utc_text
    } else {
        format!(
            "{} ({})",
            t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
            utc_text
        )
    }
}

fn severity_class(s: Severity) -> &'static str {
    s.as_str()
}

/// The findings, each as a card; or a card that says no known root cause was found.
fn verdict(out: &mut String, a: &Analysis, w: &Words) {
    let _ = writeln!(out, "<section id=\"verdict\"><h2>{}</h2>", w.verdict);
    if a.findings.is_empty() && !a.has_cluster_events() {
        let _ = writeln!(
            out,
            "<article class=\"finding warning\"><h3>{}</h3><p>{} {}</p></article>",
            w.no_events_title,
            w.no_events_text,
            text(&a.logs_seen())
        );
    } else if a.findings.is_empty() {
        let _ = writeln!(
            out,
            "<article class=\"finding none\"><h3>{}</h3><p>{}</p></article>",
            w.no_cause_title, w.no_cause_text
        );
    }
    for (i, f) in a.findings.iter().enumerate() {
        finding(out, a, f, i, w);
    }
    out.push_str("</section>\n");
}

fn finding(out: &mut String, a: &Analysis, f: &Finding, index: usize, w: &Words) {
    let tz = a.time_zone;
    let vms = if f.vms.is_empty() {
        "—".to_string()
    } else {
        f.vms.join(", ")
    };
    let _ = write!(
        out,
        "<article class=\"finding {sev}\" id=\"finding-{n}\"><div class=\"badges\">\
         <span class=\"sev {sev}\">{}</span><span class=\"conf\">{}: {}</span>\
         <span class=\"rule\">{}: <code>{}</code></span></div><h3>{}</h3>",
        w.severity_name(f.severity),
        w.confidence,
        w.confidence_name(f.confidence),
        w.rule,
        text(&f.rule),
        text(&f.title),
        sev = severity_class(f.severity),
        n = index + 1,
    );
    facts(
        out,
        &[
            (w.host, text(&finding_hosts(f)).into_owned()),
            (w.vms, text(&vms).into_owned()),
            (
                w.when,
                text(&format!("{} → {}", when(f.first, tz), when(f.last, tz))).into_owned(),
            ),
        ],
    );
    let _ = write!(
        out,
        "<h4>{}</h4><p class=\"cause\">{}</p><h4>{}</h4><ol class=\"fix\">",
        w.cause,
        text(&f.cause),
        w.fix
    );
    for step in &f.fix {
        let _ = write!(out, "<li>{}</li>", text(step));
    }
    let _ = write!(out, "</ol><h4>{}</h4><ul class=\"evidence\">", w.evidence);
    for s in f.evidence.iter().filter_map(|&id| a.timeline.get(id)) {
        let _ = write!(
            out,
            "<li><a href=\"#ev-{}\"><span class=\"t\">{}</span> <span class=\"h\">{}</span> <span class=\"id\">{}</span> · {}</a></li>",
            s.id,
            text(&short_time(s.time, tz)),
            text(&s.host),
            text(&super::event_name(&s.event.provider, s.event.event_id)),
            text(s.text_in(&a.lang))
        );
    }
    out.push_str("</ul>");
    host_config(out, a, f, w);
    if !f.missing.is_empty() {
        let _ = write!(out, "<h4>{}</h4><ul class=\"missing\">", w.collect_next);
        for m in &f.missing {
            let _ = write!(out, "<li>{}</li>", text(m));
        }
        out.push_str("</ul>");
    }
    out.push_str("</article>\n");
}

/// What the host's configuration says of the finding: the verdict, its facts with their files,
/// and the host's network drawn with the NIC that lost its link.
fn host_config(out: &mut String, a: &Analysis, f: &Finding, w: &Words) {
    // Without any configuration, "what to collect next" asks for it: nothing more to show.
    let Some(verdict) = f.config.as_deref().filter(|v| *v != "absent") else {
        return;
    };
    let words = w
        .config_verdicts
        .iter()
        .find(|(k, _)| *k == verdict)
        .map_or(verdict, |(_, v)| v);
    let _ = write!(
        out,
        "<h4>{}</h4><p class=\"config {}\">{}</p>",
        w.host_config,
        attr(verdict),
        text(words)
    );
    if !f.config_evidence.is_empty() {
        out.push_str("<ul class=\"config-facts\">");
        for e in &f.config_evidence {
            let _ = write!(
                out,
                "<li>{} <span class=\"file\">({})</span></li>",
                text(&e.fact),
                text(&e.input)
            );
        }
        out.push_str("</ul>");
    }
    let adapter = f
        .evidence
        .iter()
        .filter_map(|&i| a.timeline.get(i))
        .filter(|s| s.host == f.host)
        .find_map(|s| s.fields.get("adapter"));
    let config = a.configs.iter().find(|c| c.key() == f.host);
    if let Some(picture) = config
        .zip(adapter)
        .and_then(|(c, down)| super::netsvg::render(c, down))
    {
        let _ = write!(out, "<div class=\"wide\">{picture}</div>");
    }
}

/// A time in a list: the zone's clock with milliseconds, and its abbreviation.
fn short_time(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f %Z")
        .to_string()
}

/// The SVG picture and its legend.
fn picture(out: &mut String, a: &Analysis, runs: &[Run], w: &Words) {
    let _ = write!(
        out,
        "<section id=\"picture\"><h2>{}</h2><p class=\"note\">{}</p>",
        w.picture, w.picture_note
    );
    // At its own size, scrolling sideways on a narrow screen: shrunk, its labels would be
    // unreadable.
    out.push_str("<div class=\"wide\">");
    out.push_str(&svg::render(a, runs, w));
    out.push_str("</div>");
    out.push_str("<ul class=\"legend\">");
    for (family, name) in w.legend.iter().enumerate() {
        let _ = write!(out, "<li>{}{}</li>", svg::legend_icon(family), name);
    }
    let _ = writeln!(
        out,
        "<li>{}{}</li></ul></section>",
        svg::evidence_icon(),
        w.evidence_legend
    );
}

/// Which runs the table shows: every evidence run, and the others in time order up to
/// [`MAX_TABLE_ROWS`]. Returns them with how many signals were left out.
fn shown(runs: &[Run]) -> (Vec<Run>, usize) {
    let evidence = runs.iter().filter(|r| r.evidence).count();
    let mut room = MAX_TABLE_ROWS.saturating_sub(evidence);
    let mut left_out = 0;
    let mut rows = Vec::with_capacity(runs.len().min(MAX_TABLE_ROWS));
    for r in runs {
        if r.evidence || room > 0 {
            room -= usize::from(!r.evidence);
            rows.push(r.clone());
        } else {
            left_out += r.count;
        }
    }
    (rows, left_out)
}

/// The table of the timeline, with filters the script turns on.
fn table(out: &mut String, a: &Analysis, runs: &[Run], w: &Words) {
    let local_zone = a.time_zone != chrono_tz::UTC;
    let _ = write!(
        out,
        "<section id=\"events\"><h2>{} <span class=\"count\">({})</span></h2>",
        w.table,
        a.timeline.len()
    );
    filters(out, a, w);
    out.push_str("<div class=\"wide\"><table class=\"timeline\"><thead><tr>");
    // The zone's time sits under UTC in the same cell: one column fewer on a narrow page.
    let time = if local_zone {
        format!("{} / {}", w.time_utc, text(a.time_zone.name()))
    } else {
        w.time_utc.to_string()
    };
    let _ = write!(
        out,
        "<th>{time}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>\n",
        w.host, w.event, w.text, w.source
    );
    let (rows, left_out) = shown(runs);
    for run in &rows {
        row(out, a, run, local_zone, w);
    }
    out.push_str("</tbody></table></div>\n");
    if left_out > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note left-out\">{left_out} {}</p>",
            w.rows_left_out
        );
    }
    out.push_str("</section>\n");
}

/// The host and signal filters: hidden until the script shows them, so a page without
/// JavaScript shows no control that does nothing.
fn filters(out: &mut String, a: &Analysis, w: &Words) {
    let hosts: BTreeSet<&str> = a.timeline.iter().map(|s| s.host.as_str()).collect();
    let signals: BTreeSet<&str> = a.timeline.iter().map(|s| s.name.as_str()).collect();
    out.push_str("<form class=\"filters\" id=\"filters\" hidden=\"\">");
    for (id, label, values) in [
        ("f-host", w.filter_host, &hosts),
        ("f-signal", w.filter_signal, &signals),
    ] {
        let _ = write!(
            out,
            "<label>{label} <select id=\"{id}\"><option value=\"\">{}</option>",
            w.all
        );
        for v in values {
            let _ = write!(out, "<option value=\"{}\">{}</option>", attr(v), text(v));
        }
        out.push_str("</select></label> ");
    }
    out.push_str("</form>\n");
}

fn row(out: &mut String, a: &Analysis, run: &Run, local_zone: bool, w: &Words) {
    let Some(s) = a.timeline.get(run.first) else {
        return;
    };
    let class = if run.evidence {
        " class=\"evidence\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<tr id=\"ev-{}\"{class} data-host=\"{}\" data-signal=\"{}\"><td class=\"t\">{}",
        s.id,
        attr(&s.host),
        attr(&s.name),
        text(&utc(s.time))
    );
    if local_zone {
        let _ = write!(
            out,
            "<br/><span class=\"local\">{}</span>",
            text(&local(s.time, a.time_zone))
        );
    }
    let _ = write!(
        out,
        "</td><td>{}</td><td><span class=\"id\">{}</span><br/><span class=\"sig\">{}{}</span></td><td>{}",
        text(&s.host),
        text(&super::event_name(&s.event.provider, s.event.event_id)),
        svg::legend_icon(svg::family(&s.name)),
        text(&s.name),
        text(s.text_in(&a.lang))
    );
    if run.count > 1 {
        let until = a
            .timeline
            .get(run.last)
            .map_or_else(String::new, |l| utc(l.time));
        let _ = write!(
            out,
            " <span class=\"rep\">×{} {}, {} {}</span>",
            run.count,
            w.repeated,
            w.until,
            text(&until)
        );
    }
    raw(out, s, w);
    let source = a
        .inputs
        .get(s.event.input)
        .map_or("", |i: &InputReport| i.path.as_str());
    // The file's name with its record id; the whole path on hover and in the inputs table.
    let name = source.rsplit(['/', '\\', '!']).next().unwrap_or(source);
    let _ = writeln!(
        out,
        "</td><td class=\"file\" title=\"{}\">{}<br/><span class=\"num\">{} {}</span></td></tr>",
        attr(source),
        text(name),
        w.record,
        s.event.record_id
    );
}

/// The raw event behind a signal, folded away until asked for.
fn raw(out: &mut String, s: &crate::signal::Signal, w: &Words) {
    let e = &s.event;
    let _ = write!(
        out,
        "<details><summary>{}</summary><dl class=\"raw\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd>{}</dd><dt>Computer</dt><dd>{}</dd>",
        w.raw,
        w.provider,
        text(&e.provider),
        w.event_id,
        e.event_id,
        w.channel,
        text(&e.channel),
        text(&e.computer)
    );
    for (name, value) in &e.data {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", text(name), text(value));
    }
    out.push_str("</dl></details>");
}

/// What the case is made of: inputs, skipped files, warnings, hosts, zone, version, rules.
fn case(out: &mut String, a: &Analysis, w: &Words) {
    let _ = write!(
        out,
        "<section id=\"case\"><h2>{}</h2><h3>{}</h3>",
        w.the_case, w.inputs
    );
    inputs(out, a, w);
    skipped(out, a, w);
    coverage(out, a, w);
    if !a.warnings.is_empty() {
        let _ = write!(
            out,
            "<h3 id=\"warnings\">{} ({})</h3><ul class=\"warnings\">",
            w.warnings,
            a.warnings.len()
        );
        for warning in &a.warnings {
            let _ = write!(out, "<li>{}</li>", text(&ja::in_lang(&a.lang, warning)));
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<h3>{}</h3><table class=\"hosts\"><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>",
        w.hosts, w.key, w.name
    );
    for h in &a.hosts {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            text(&h.key),
            text(&h.name)
        );
    }
    out.push_str("</tbody></table>");
    facts(
        out,
        &[
            (w.time_zone, text(a.time_zone.name()).into_owned()),
            (w.version, env!("CARGO_PKG_VERSION").to_string()),
            (w.rules_used, text(&a.rules.join(", ")).into_owned()),
        ],
    );
    out.push_str("</section>\n");
}

fn inputs(out: &mut String, a: &Analysis, w: &Words) {
    let tz = a.time_zone;
    let _ = write!(
        out,
        "<table class=\"inputs\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        w.file,
        w.format,
        w.records,
        w.events_used,
        w.first,
        w.last,
        w.chunks_skipped,
        w.records_lost,
        w.warnings
    );
    let time = |t: Option<DateTime<Utc>>| t.map_or_else(String::new, |t| short_time(t, tz));
    for i in a.inputs.iter().filter(|i| i.format != "skipped") {
        let _ = write!(
            out,
            "<tr><td class=\"file\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            text(&i.path),
            text(&i.format),
            i.records,
            i.events_used,
            text(&time(i.first)),
            text(&time(i.last)),
            i.chunks_skipped,
            i.records_lost,
            text(
                &i.warnings
                    .iter()
                    .map(|w| ja::in_lang(&a.lang, w))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        );
    }
    out.push_str("</tbody></table>");
}

/// For each host and log: the span, records, gaps, damage, or that it is missing. Shown when
/// the analysis has it.
fn coverage(out: &mut String, a: &Analysis, w: &Words) {
    if a.coverage.is_empty() {
        return;
    }
    let tz = a.time_zone;
    let _ = write!(
        out,
        "<h3>{}</h3><table class=\"coverage\"><thead><tr><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        w.coverage,
        w.host,
        w.channel,
        w.first,
        w.last,
        w.records,
        w.record_id_gaps,
        w.damaged,
        w.missing_log
    );
    let time = |t: Option<DateTime<Utc>>| t.map_or_else(String::new, |t| short_time(t, tz));
    let flag = |b: bool| if b { w.yes } else { "" };
    for c in &a.coverage {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            text(&c.host),
            text(&c.channel),
            text(&time(c.first)),
            text(&time(c.last)),
            c.records,
            c.record_id_gaps,
            flag(c.damaged),
            flag(c.missing)
        );
    }
    out.push_str("</tbody></table>");
}

/// Files that are not event logs, and why each was left out.
fn skipped(out: &mut String, a: &Analysis, w: &Words) {
    let skipped: Vec<&InputReport> = a.inputs.iter().filter(|i| i.format == "skipped").collect();
    let _ = write!(out, "<h3>{} ({})</h3>", w.skipped, skipped.len());
    if skipped.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<table class=\"skipped\"><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>",
        w.file, w.why
    );
    for i in skipped {
        // The reason is kept as "PATH: skipped: WHY"; the path has its own column.
        let prefix = format!("{}: skipped: ", i.path);
        let why = i
            .warnings
            .first()
            .map(|r| ja::in_lang(&a.lang, r.strip_prefix(&prefix).unwrap_or(r)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td class=\"file\">{}</td><td>{}</td></tr>",
            text(&i.path),
            text(&why)
        );
    }
    out.push_str("</tbody></table>");
}

/// The page's look, on screen and printed. No fonts are fetched: the system's own are used,
/// with the CJK fonts Windows, macOS and Linux ship named for Japanese.
/// The reports' style sheet; the batch index uses it too, so the pages look alike.
pub(crate) const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5c6675;--line:#dde1e7;--bg:#f5f6f8;--card:#fff;--critical:#c92a2a;--error:#e8590c;--warning:#e6a100;--info:#1c7ed6}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK JP","Hiragino Sans","Yu Gothic UI",Meiryo,sans-serif}
header.top{background:#1d2330;color:#fff;padding:18px 32px 14px}
header.top h1{margin:0 0 6px;font-size:24px;font-weight:600}
header.top .case{color:#ffd43b}
header.top .tool{margin:0;color:#aab3c0;font-size:13px;letter-spacing:.04em;text-transform:uppercase}
header.top .facts dt{color:#aab3c0}
header.top a{color:#ffd43b}
main{padding:8px 32px 32px;max-width:1500px}
h2{font-size:20px;margin:26px 0 10px;border-bottom:2px solid var(--line);padding-bottom:4px}
h2 .count{color:var(--muted);font-weight:400;font-size:15px}
h3{margin:6px 0 8px;font-size:18px}
h4{margin:14px 0 4px;font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
dl.facts{display:flex;flex-wrap:wrap;gap:2px 24px;margin:4px 0}
dl.facts div{display:flex;flex-wrap:wrap;gap:0 6px;align-items:baseline}
dl.facts dt{color:var(--muted);font-size:13px}
dl.facts dt::after{content:":"}
dl.facts dd{margin:0;font-weight:600}
.finding{background:var(--card);border:1px solid var(--line);border-left:8px solid var(--info);border-radius:8px;padding:14px 20px 16px;margin:0 0 16px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.finding.critical{border-left-color:var(--critical)}
.finding.error{border-left-color:var(--error)}
.finding.warning{border-left-color:var(--warning)}
.finding.none{border-left-color:#2f9e44}
.badges{display:flex;gap:10px;align-items:center;flex-wrap:wrap;font-size:13px}
.sev{color:#fff;font-weight:700;padding:2px 10px;border-radius:99px;text-transform:uppercase;letter-spacing:.05em;background:var(--info)}
.sev.critical{background:var(--critical)}.sev.error{background:var(--error)}.sev.warning{background:var(--warning);color:#000}
.conf,.rule{color:var(--muted)}
.cause{margin:2px 0;max-width:110ch}
ol.fix{margin:2px 0;padding-left:24px;max-width:110ch}
ol.fix li{margin:3px 0}
ul.evidence{list-style:none;padding:0;margin:2px 0;font-size:14px}
ul.evidence a{color:inherit;text-decoration:none;display:block;padding:2px 6px;border-radius:4px}
ul.evidence a:hover{background:#fff3bf}
ul.evidence .t{font-family:ui-monospace,Consolas,monospace;color:var(--muted);font-size:13px}
ul.evidence .h{font-weight:600}
p.config{margin:2px 0;font-weight:600}
p.config.confirmed{color:#2b8a3e}
p.config.contradicted{color:#c92a2a}
ul.config-facts{margin:2px 0;font-size:14px}
ul.config-facts .file{color:var(--muted);font-size:12px}
svg.net{display:block;margin:6px 0;max-width:none}
svg.net .box rect{fill:#f8f9fa;stroke:#868e96;stroke-width:1.2}
svg.net .box.down rect{fill:#fff5f5;stroke:#c92a2a;stroke-width:2}
svg.net text{font-size:11px;font-weight:600;fill:#1d2330}
svg.net text.detail{font-weight:400;fill:#5c6675}
svg.net .link{stroke:#495057;stroke-width:2;fill:none}
svg.net .cut{stroke:#c92a2a;stroke-width:3;fill:none}
ul.missing{margin:2px 0;background:#fff9db;border:1px solid #ffe066;border-radius:6px;padding:6px 10px 6px 28px}
.note{color:var(--muted);font-size:13px;margin:0 0 6px}
svg.timeline{background:#fff;border:1px solid var(--line);border-radius:8px;display:block;max-width:none}
svg .lane-bg{fill:#fff}
svg .lane-bg:nth-of-type(even){fill:#f3f5f8}
svg .lane-bg{stroke:#e3e6eb;stroke-width:1}
svg .host{font-weight:700;font-size:13px;fill:#1d2330}
svg .zone,svg .date{font-size:11px;fill:#5c6675}
svg .tick{font-size:11px;fill:#5c6675;text-anchor:middle}
svg .grid{stroke:#e3e6eb;stroke-width:1}
svg .break{fill:none;stroke:#868e96;stroke-width:1.5}
svg .gap{font-size:11px;fill:#5c6675;text-anchor:middle}
svg .halo{fill:#ffe066;fill-opacity:.75;stroke:#f08c00;stroke-width:1.5}
svg .label{font-size:11px;font-weight:600;fill:#1d2330;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .label .id{font-weight:700;fill:#7b2cbf}
svg .leader{stroke:#f08c00;stroke-width:1}
svg .count{font-size:10px;fill:#5c6675}
svg a.dim{opacity:.12}
ul.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:8px 0 0;font-size:13px;color:var(--muted)}
ul.legend li{display:flex;align-items:center;gap:5px}
svg.icon{flex:none;vertical-align:-3px}
.sig{display:inline-flex;gap:4px;align-items:center;white-space:nowrap}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px;margin:4px 0 10px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;position:sticky;top:0}
td.t{font-family:ui-monospace,Consolas,monospace;white-space:nowrap;font-size:12px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.file{overflow-wrap:anywhere;min-width:10em;color:var(--muted)}
td.file .num{white-space:nowrap}
td .local{color:var(--muted)}
.id{font-weight:600;white-space:nowrap}
.wide{overflow-x:auto;max-width:100%}
table.inputs td:last-child{overflow-wrap:anywhere;min-width:16em}
@media screen{table.inputs,table.coverage{display:block;overflow-x:auto}}
tr.evidence td{background:#fff9db}
tr:target td{background:#ffe066}
.rep{color:var(--muted);font-size:12px;white-space:nowrap}
details summary{cursor:pointer;color:var(--muted);font-size:12px}
dl.raw{display:grid;grid-template-columns:max-content 1fr;gap:0 12px;margin:4px 0;font-size:12px}
dl.raw dt{color:var(--muted)}
dl.raw dd{margin:0;white-space:pre-wrap;word-break:break-word}
form.filters{margin:0 0 8px;display:flex;gap:16px;font-size:13px}
ul.warnings li{color:#a61e4d}
footer{padding:12px 32px;color:var(--muted);font-size:12px}
@media screen and (max-width:900px){
header.top{padding:12px 14px}
main{padding:8px 14px 24px}
footer{padding:12px 14px}
}
@page{size:A4;margin:12mm 11mm}
@media print{
body{background:#fff;font-size:9.5pt;line-height:1.4}
header.top{background:#fff;color:#000;border-bottom:2px solid #000;padding:0 0 4px}
header.top h1{font-size:15pt;margin:0 0 2px}
header.top .case{color:#000}
header.top .tool,header.top .facts dt{color:#555}
header.top .facts{font-size:8.5pt}
main{padding:0;max-width:none}
h2{font-size:13pt;margin:12px 0 6px;break-after:avoid}
h3,h4,.badges{break-after:avoid}
details{display:none}
.finding{box-shadow:none;padding:8px 12px;margin:0 0 10px}
.finding li,ul.evidence li{break-inside:avoid}
form.filters,.note a{display:none}
th{position:static}
a{color:inherit;text-decoration:none}
.wide{overflow:visible}
section#picture{break-inside:avoid}
svg.timeline{width:100%;height:auto}
table{font-size:8pt}
td.t{font-size:7.5pt}
td.file{min-width:0}
table.inputs,table.coverage,table.skipped,table.hosts{font-size:7pt}
table.inputs,table.coverage{table-layout:fixed}
table.inputs td,table.coverage td{white-space:normal;overflow-wrap:anywhere}
table.inputs th:nth-child(1){width:44%}
table.inputs th:nth-child(9){width:26%}
table.inputs th:nth-child(5),table.inputs td:nth-child(5),table.inputs th:nth-child(6),table.inputs td:nth-child(6){display:none}
table.coverage th:nth-child(2){width:34%}
table.inputs td:last-child{min-width:0}
tr{break-inside:avoid}
footer{display:none}
}
"#;

/// The filters. It reads only data attributes and the URL's query (into `select.value`,
/// which accepts only the options the page has), never log text, and is written without `<`
/// or `&` so the page stays well-formed XML.
const SCRIPT: &str = r#"<script>
(function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.hidden = false;
  var host = document.getElementById("f-host");
  var signal = document.getElementById("f-signal");
  function keep(h, s) {
    if (host.value !== "" ? h !== host.value : false) { return false; }
    return signal.value !== "" ? s === signal.value : true;
  }
  function apply() {
    document.querySelectorAll("tr[data-host]").forEach(function (row) {
      row.hidden = !keep(row.dataset.host, row.dataset.signal);
    });
    document.querySelectorAll("g.lane").forEach(function (lane) {
      lane.querySelectorAll("a.marker").forEach(function (m) {
        m.classList.toggle("dim", !keep(lane.dataset.host, m.dataset.signal));
      });
    });
  }
  host.addEventListener("change", apply);
  signal.addEventListener("change", apply);
  // A link may carry filters (report.html?host=HV01): values only select existing options.
  var params = new URLSearchParams(location.search);
  if (params.has("host")) { host.value = params.get("host"); }
  if (params.has("signal")) { signal.value = params.get("signal"); }
  apply();
})();
</script>
"#;

/// A finding's host, or every host of a cluster-wide finding.
fn finding_hosts(f: &crate::analysis::Finding) -> String {
    if f.hosts.len() > 1 {
        f.hosts.join(", ")
    } else {
        f.host.clone()
    }
}
