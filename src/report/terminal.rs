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

/// The summary as text.
pub fn render(a: &Analysis, style: Style) -> String {
    let mut out = String::new();
    let tz = a.time_zone;
    let _ = writeln!(
        out,
        "{} {}",
        style.paint("1", "hvtriage — case"),
        style.paint("1", &visible(&a.case))
    );
    let read = a.inputs.iter().filter(|i| i.format != "skipped").count();
    let skipped = a.inputs.len() - read;
    let hosts: Vec<_> = a.hosts.iter().map(|h| visible(&h.key)).collect();
    let _ = write!(
        out,
        "Read {read} file(s), {} records, {} host(s) ({})",
        a.records(),
        hosts.len(),
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
        let _ = writeln!(
            out,
            "Skipped {skipped} file(s) that are not event logs (listed in the reports)."
        );
    }
    for h in a.hosts.iter().filter(|h| h.clock_offset_ms != 0) {
        let _ = writeln!(
            out,
            "Clock of {}: {:+.1} s against the reference ({}).",
            visible(&h.key),
            h.clock_offset_ms as f64 / 1000.0,
            visible(&h.clock_basis)
        );
    }
    let _ = writeln!(
        out,
        "Timeline: {} signal(s). Warnings: {}.",
        a.timeline.len(),
        a.warnings.len()
    );
    coverage(&mut out, a);
    for w in a.warnings.iter().take(5) {
        let _ = writeln!(out, "  {} {}", style.paint("33", "warning:"), visible(w));
    }
    if a.warnings.len() > 5 {
        let _ = writeln!(
            out,
            "  … and {} more warnings (see --json)",
            a.warnings.len() - 5
        );
    }
    let _ = writeln!(out);
    if a.findings.is_empty() {
        let _ = writeln!(
            out,
            "No known root cause found. Read the timeline (hvtriage timeline) for what happened."
        );
    }
    for f in &a.findings {
        finding(&mut out, a, f, style);
    }
    out
}

fn finding(out: &mut String, a: &Analysis, f: &Finding, style: Style) {
    let tz = a.time_zone;
    let _ = writeln!(
        out,
        "{}  {}  [{}, confidence {}]",
        style.severity(f.severity),
        style.paint("1", &visible(&f.title)),
        visible(&f.rule),
        f.confidence.as_str()
    );
    let vms = if f.vms.is_empty() {
        "-".to_string()
    } else {
        visible(&f.vms.join(", ")).into_owned()
    };
    let _ = writeln!(
        out,
        "  Host {} · VMs {vms} · {} → {} {}",
        visible(&if f.hosts.len() > 1 {
            f.hosts.join(", ")
        } else {
            f.host.clone()
        }),
        short(f.first, tz),
        short(f.last, tz),
        tz.name()
    );
    let _ = writeln!(out, "  Cause: {}", visible(&f.cause));
    for (i, step) in f.fix.iter().enumerate() {
        let label = if i == 0 { "  Fix:  " } else { "        " };
        let _ = writeln!(out, "{label}{}. {}", i + 1, visible(step));
    }
    let _ = writeln!(out, "  Evidence:");
    for &id in &f.evidence {
        if let Some(s) = a.timeline.get(id) {
            let _ = writeln!(
                out,
                "    #{id:<5} {}  {:<8} {} · {}",
                fixed_utc(s.time),
                visible(&s.host),
                visible(&super::event_name(&s.event.provider, s.event.event_id)),
                visible(&s.text)
            );
        }
    }
    for m in &f.missing {
        let _ = writeln!(
            out,
            "  {} {}",
            style.paint("33", "Collect next:"),
            visible(m)
        );
    }
    let _ = writeln!(out);
}

/// The merged timeline as a table, one line per signal; with `--tz`, local time beside UTC.
pub fn timeline(a: &Analysis) -> String {
    let mut out = String::new();
    let local = a.time_zone != chrono_tz::UTC;
    for s in &a.timeline {
        let _ = write!(out, "{}  ", fixed_utc(s.time));
        if local {
            let _ = write!(out, "{}  ", super::local(s.time, a.time_zone));
        }
        let _ = writeln!(
            out,
            "{:<10} {:<28} {:<30} {}",
            visible(&s.host),
            visible(&super::event_name(&s.event.provider, s.event.event_id)),
            visible(&s.name),
            visible(&s.text)
        );
    }
    out
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
    let _ = writeln!(out, "Coverage:");
    for c in &a.coverage {
        let _ = write!(
            out,
            "  {:<10} {:<52} ",
            visible(&c.host),
            visible(&c.channel)
        );
        if c.missing {
            let _ = writeln!(out, "not collected");
            continue;
        }
        let _ = write!(out, "{:>8} records", c.records);
        if let (Some(first), Some(last)) = (c.first, c.last) {
            let _ = write!(
                out,
                "  {} → {}",
                short(first, a.time_zone),
                short(last, a.time_zone)
            );
        }
        if c.record_id_gaps > 0 {
            let _ = write!(out, "  {} record ids missing", c.record_id_gaps);
        }
        if c.damaged {
            let _ = write!(out, "  damaged");
        }
        let _ = writeln!(out);
    }
}
