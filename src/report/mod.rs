//! Renderers: every one reads the same [`Analysis`](crate::analysis::Analysis) and derives
//! nothing of its own.

pub mod csv;
pub mod html;
pub mod i18n;
pub mod json;
pub mod netsvg;
pub mod svg;
pub mod terminal;

use chrono::{DateTime, SecondsFormat, Utc};

/// A time as RFC 3339 in UTC, with the precision the log has.
pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time in the report's zone, for people: `2026-11-20 10:02:03.123 JST`.
pub fn local(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f %Z")
        .to_string()
}

/// A short time for the terminal: `2026-11-20 01:02:03` in the report's zone.
pub fn short(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// An event as engineers name it: the provider without its `Microsoft-Windows-` prefix, then
/// the id (`NETLOGON 5719`, `FailoverClustering 1228`, `Hyper-V-HA 21502`).
pub fn event_name(provider: &str, event_id: u32) -> String {
    let short = provider
        .strip_prefix("Microsoft-Windows-")
        .unwrap_or(provider);
    let short = match short {
        "Hyper-V-High-Availability" => "Hyper-V-HA",
        other => other,
    };
    format!("{short} {event_id}")
}

/// `hvtriage explain RULE`: the rule's cause, fix, references and the events it needs.
pub fn explain(rule: &crate::rules::Rule, set: &crate::rules::RuleSet) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let text = &rule.text["en"];
    let _ = writeln!(
        out,
        "{} ({}, {})",
        rule.id,
        rule.severity.as_str(),
        rule.file
    );
    let _ = writeln!(out, "{}\n", text.title);
    let _ = writeln!(out, "Cause: {}\n", text.cause);
    let _ = writeln!(out, "Fix:");
    for (i, step) in text.fix.iter().enumerate() {
        let _ = writeln!(out, "  {}. {step}", i + 1);
    }
    let forms =
        std::iter::once(("high", &rule.high)).chain(rule.medium.as_ref().map(|m| ("medium", m)));
    for (confidence, form) in forms {
        let _ = writeln!(out, "\nEvents it needs ({confidence} confidence):");
        for step in &form.steps {
            let labels: Vec<String> = step
                .signals
                .iter()
                .map(|s| {
                    set.catalogue
                        .get(s)
                        .map_or_else(|| s.clone(), |d| format!("{s} ({})", d.label))
                })
                .collect();
            let optional = if step.optional { ", optional" } else { "" };
            let _ = writeln!(out, "  {}{optional}: {}", step.name, labels.join(" or "));
        }
        for absent in &form.absent {
            let host = match absent.host {
                crate::rules::AbsentHost::Other => "on any other host",
                crate::rules::AbsentHost::Same => "on the same host",
                crate::rules::AbsentHost::Any => "on any host",
            };
            let when = absent.within_ms.map_or_else(
                || "anywhere in the collected logs".to_string(),
                |ms| {
                    format!(
                        "within {} min of {}",
                        ms / 60_000,
                        form.steps[absent.of].name
                    )
                },
            );
            let _ = writeln!(
                out,
                "  and no {} {host} {when}",
                absent.signals.join(" or ")
            );
        }
    }
    if !rule.fixtures.is_empty() {
        let _ = writeln!(out, "\nProved by (hvtriage rules test):");
        for f in &rule.fixtures {
            let verdict = match &f.expect {
                Some(e) => format!("matches, {} confidence", e.confidence.as_str()),
                None => "must not match".to_string(),
            };
            let _ = writeln!(out, "  {}: {verdict}", f.case.display());
        }
    }
    if !rule.references.is_empty() {
        let _ = writeln!(out, "\nReferences:");
        for r in &rule.references {
            let _ = writeln!(out, "  {r}");
        }
    }
    out
}
