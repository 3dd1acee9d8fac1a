//! The terminal summary (SPEC §5.1): the case, what was read, then each finding. Every string
//! that comes from a log, a file name or the case goes through [`visible`] first: a log must
//! not be able to drive the terminal or forge a line of this summary.

use super::{short, visible};
use crate::analysis::{Analysis, Finding};
use crate::rules::Severity;
use std::fmt::Write as _;

/// Colours, or none (`NO_COLOR`, or output that is not a terminal).
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(self, s: Severity) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::Error => "31",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        self.paint(code, &s.as_str().to_uppercase())
    }
}

/// The summary's own words, in the report's language.
struct Words {
    case: &'static str,
    read: &'static str,
    records: &'static str,
    hosts: &'static str,
    skipped: &'static str,
    clock: &'static str,
    timeline: &'static str,
    warnings: &'static str,
    warning: &'static str,
    more: &'static str,
    no_cause: &'static str,
    no_events: &'static str,
    confidence: &'static str,
    host: &'static str,
    vms: &'static str,
    cause: &'static str,
    fix: &'static str,
    evidence: &'static str,
    collect: &'static str,
    coverage: &'static str,
    not_collected: &'static str,
    ids_missing: &'static str,
    damaged: &'static str,
    objects: &'static str,
}

const EN: Words = Words {
    case: "hvtriage — case",
    read: "Read {n} file(s)",
    records: "records",
    hosts: "host(s)",
    skipped: "Skipped {n} file(s) that are not event logs (listed in the reports).",
    clock: "Clock of",
    timeline: "Timeline: {n} signal(s).",
    warnings: "Warnings:",
    warning: "warning:",
    more: "… and {n} more warnings (all are in the HTML report's case section and in --json)",
    no_cause: "No known root cause found. Read the timeline (hvtriage timeline) for what happened.",
    no_events: "These logs hold no Hyper-V or failover-cluster events: check what was collected.",
    confidence: "confidence",
    host: "Host",
    vms: "VMs",
    cause: "Cause:",
    fix: "Fix:  ",
    evidence: "Evidence:",
    collect: "Collect next:",
    coverage: "Coverage:",
    not_collected: "not collected",
    ids_missing: "record ids missing",
    damaged: "damaged",
    objects: "objects (adapters, switches, routes: a snapshot of when it was collected)",
};

const JA: Words = Words {
    case: "hvtriage — ケース",
    read: "{n} 個のファイルを読み込みました",
    records: "レコード",
    hosts: "ホスト",
    skipped: "イベント ログではない {n} 個のファイルをスキップしました (レポートに一覧があります)。",
    clock: "時刻のずれ",
    timeline: "タイムライン: {n} 件のシグナル。",
    warnings: "警告:",
    warning: "警告:",
    more: "… ほか {n} 件の警告 (すべて HTML レポートの「ケース」と --json にあります)",
    no_cause: "既知の根本原因は見つかりませんでした。何が起きたかはタイムライン (hvtriage timeline) で確認してください。",
    no_events: "このログには Hyper-V やフェールオーバー クラスターのイベントがありません。採取されたログを確認してください。",
    confidence: "確度",
    host: "ホスト",
    vms: "仮想マシン",
    cause: "原因:",
    fix: "対処: ",
    evidence: "根拠:",
    collect: "次に収集:",
    coverage: "カバレッジ:",
    not_collected: "採取されていません",
    ids_missing: "個のレコード ID が欠落",
    damaged: "破損",
    objects: "個のオブジェクト (アダプター、スイッチ、ルート: 採取時点の構成)",
};

fn words(lang: &str) -> &'static Words {
    if lang == "ja" {
        &JA
    } else {
        &EN
    }
}

/// The summary as text.
pub fn render(a: &Analysis, style: Style) -> String {
    let mut out = String::new();
    let tz = a.time_zone;
    let w = words(&a.lang);
    let _ = writeln!(
        out,
        "{} {}",
        style.paint("1", w.case),
        style.paint("1", &visible(&a.case))
    );
    let read = a.inputs.iter().filter(|i| i.format != "skipped").count();
    let skipped = a.inputs.len() - read;
    let hosts: Vec<_> = a.hosts.iter().map(|h| visible(&h.key)).collect();
    let _ = write!(
        out,
        "{}, {} {}, {} {} ({})",
        w.read.replace("{n}", &read.to_string()),
        a.records(),
        w.records,
        hosts.len(),
        w.hosts,
        hosts.join(", ")
    );
    if let Some((first, last)) = a.span() {
        let _ = write!(
            out,
            ", {} → {} {}",
            short(first, tz),
            short(last, tz),
            tz.name()
        );
    }
    let _ = writeln!(out);
    if skipped > 0 {
        let _ = writeln!(out, "{}", w.skipped.replace("{n}", &skipped.to_string()));
    }
    for h in a.hosts.iter().filter(|h| h.clock_offset_ms != 0) {
        let _ = writeln!(
            out,
            "{} {}: {:+.1} s ({}).",
            w.clock,
            visible(&h.key),
            h.clock_offset_ms as f64 / 1000.0,
            visible(&crate::ja::in_lang(&a.lang, &h.clock_basis))
        );
    }
    let _ = writeln!(
        out,
        "{} {} {}.",
        w.timeline.replace("{n}", &a.timeline.len().to_string()),
        w.warnings,
        a.warnings.len()
    );
    coverage(&mut out, a);
    for w in a.warnings.iter().take(5) {
        let _ = writeln!(
            out,
            "  {} {}",
            style.paint("33", words(&a.lang).warning),
            visible(&crate::ja::in_lang(&a.lang, w))
        );
    }
    if a.warnings.len() > 5 {
        let _ = writeln!(
            out,
            "  {}",
            words(&a.lang)
                .more
                .replace("{n}", &(a.warnings.len() - 5).to_string())
        );
    }
    let _ = writeln!(out);
    let w = words(&a.lang);
    if a.findings.is_empty() && !a.has_cluster_events() {
        let _ = writeln!(out, "{} ({})", w.no_events, visible(&a.logs_seen()));
    } else if a.findings.is_empty() {
        let _ = writeln!(out, "{}", w.no_cause);
    }
    for f in &a.findings {
        finding(&mut out, a, f, style);
    }
    out
}

fn finding(out: &mut String, a: &Analysis, f: &Finding, style: Style) {
    let tz = a.time_zone;
    let w = words(&a.lang);
    let _ = writeln!(
        out,
        "{}  {}  [{}, {} {}]",
        style.severity(f.severity),
        style.paint("1", &visible(&f.title)),
        visible(&f.rule),
        w.confidence,
        f.confidence.as_str()
    );
    let vms = if f.vms.is_empty() {
        "-".to_string()
    } else {
        visible(&f.vms.join(", ")).into_owned()
    };
    let _ = writeln!(
        out,
        "  {} {} · {} {vms} · {} → {} {}",
        w.host,
        visible(&if f.hosts.len() > 1 {
            f.hosts.join(", ")
        } else {
            f.host.clone()
        }),
        w.vms,
        short(f.first, tz),
        short(f.last, tz),
        tz.name()
    );
    let _ = writeln!(out, "  {} {}", w.cause, visible(&f.cause));
    for (i, step) in f.fix.iter().enumerate() {
        let label = if i == 0 { w.fix } else { "      " };
        let _ = writeln!(out, "  {label}{}. {}", i + 1, visible(step));
    }
    let _ = writeln!(out, "  {}", w.evidence);
    for &id in &f.evidence {
        if let Some(s) = a.timeline.get(id) {
            let _ = writeln!(
                out,
                "    #{id:<5} {} {}  {:<8} {} · {}",
                short(s.time, tz),
                tz.name(),
                visible(&s.host),
                visible(&super::event_name(&s.event.provider, s.event.event_id)),
                visible(s.text_in(&a.lang))
            );
        }
    }
    for m in &f.missing {
        let _ = writeln!(out, "  {} {}", style.paint("33", w.collect), visible(m));
    }
    let _ = writeln!(out);
}

/// The merged timeline as a table, one line per signal; with `--tz`, local time beside UTC.
pub fn timeline(a: &Analysis) -> String {
    let mut out = String::new();
    for s in &a.timeline {
        timeline_line(&super::Line::of(s, a), a.time_zone, &mut out);
    }
    out
}

/// One line of the timeline: UTC, the time in `time_zone` (unless UTC), host, event, signal
/// and text in columns.
pub fn timeline_line(l: &super::Line, time_zone: chrono_tz::Tz, out: &mut String) {
    let _ = write!(out, "{}  ", fixed_utc(l.time));
    if time_zone != chrono_tz::UTC {
        let _ = write!(out, "{}  ", super::local(l.time, time_zone));
    }
    let _ = writeln!(
        out,
        "{:<10} {:<28} {:<30} {}",
        visible(l.host),
        visible(&super::event_name(l.provider, l.event_id)),
        visible(l.signal),
        visible(l.text)
    );
}

/// A UTC time with milliseconds always shown, so the columns of a table line up.
fn fixed_utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One line per host and log: records and span, or what is missing, damaged or has gaps.
fn coverage(out: &mut String, a: &Analysis) {
    if a.coverage.is_empty() {
        return;
    }
    let w = words(&a.lang);
    let _ = writeln!(out, "{}", w.coverage);
    for c in &a.coverage {
        let _ = write!(
            out,
            "  {:<10} {:<52} ",
            visible(&c.host),
            visible(&c.channel)
        );
        if c.missing {
            let _ = writeln!(out, "{}", w.not_collected);
            continue;
        }
        if c.channel == crate::coverage::CONFIGURATION {
            let _ = writeln!(out, "{:>8} {}", c.records, w.objects);
            continue;
        }
        let _ = write!(out, "{:>8} {}", c.records, w.records);
        if let (Some(first), Some(last)) = (c.first, c.last) {
            let _ = write!(
                out,
                "  {} → {}",
                short(first, a.time_zone),
                short(last, a.time_zone)
            );
        }
        if c.record_id_gaps > 0 {
            let _ = write!(out, "  {} {}", c.record_id_gaps, w.ids_missing);
        }
        if c.damaged {
            let _ = write!(out, "  {}", w.damaged);
        }
        let _ = writeln!(out);
    }
}
