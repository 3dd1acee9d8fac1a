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
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One line of the timeline, whoever made it: a signal of an analysis, or an event that
/// `timeline --all` streams without one. The timeline's three formats write a line from this
/// alone, so both routes write the same lines.
pub struct Line<'a> {
    pub time: DateTime<Utc>,
    pub host: &'a str,
    pub signal: &'a str,
    pub provider: &'a str,
    pub event_id: u32,
    pub channel: &'a str,
    pub record_id: u64,
    pub input: usize,
    /// The input's path, as the report names it.
    pub input_path: &'a str,
    pub fields: &'a BTreeMap<String, String>,
    pub text: &'a str,
}

impl<'a> Line<'a> {
    /// The line of a signal of `a`'s timeline.
    pub fn of(s: &'a crate::signal::Signal, a: &'a crate::analysis::Analysis) -> Line<'a> {
        Line {
            time: s.time,
            host: &s.host,
            signal: &s.name,
            provider: &s.event.provider,
            event_id: s.event.event_id,
            channel: &s.event.channel,
            record_id: s.event.record_id,
            input: s.event.input,
            input_path: a.inputs.get(s.event.input).map_or("", |i| i.path.as_str()),
            fields: &s.fields,
            text: &s.text,
        }
    }
}

/// Text from a log, a file name or an upload, made safe to print on a terminal or write to
/// CSV: every control character becomes a visible escape (`\x1b`, `\r`, `\n`, `\t`, `\x07`,
/// `\u{9b}`), and so do the Unicode controls that reorder a line (U+202A–U+202E,
/// U+2066–U+2069). A VM name holding ESC or OSC sequences cannot recolour the terminal, set
/// its title or ring it, and one holding CR or LF cannot overwrite a line or forge a new one
/// (a `CRITICAL …` finding); the text stays readable. Every renderer that writes to a
/// terminal or a CSV file passes its strings through here.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// C0, DEL and C1 controls (C1 holds CSI, U+009B, which some terminals obey like `ESC [`),
/// and the bidirectional embeddings, overrides and isolates.
fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A time as RFC 3339 in UTC, with the precision the log has.
pub fn utc(t: DateTime<Utc>) -> String {
    Utc3339(t).to_string()
}

/// A time as [`utc`] writes it, written where it is displayed (no string of its own): the
/// timeline writes one per line.
pub struct Utc3339(pub DateTime<Utc>);

impl std::fmt::Display for Utc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.plain() {
            Some((b, end)) => {
                f.write_str(std::str::from_utf8(&b[..end]).map_err(|_| std::fmt::Error)?)
            }
            None => f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

impl Utc3339 {
    /// Appends the text to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self.plain() {
            Some((b, end)) => out.extend_from_slice(&b[..end]),
            None => out.extend_from_slice(
                self.0
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    .as_bytes(),
            ),
        }
    }

    /// The text and its length, unless the time is a leap second or its year is not of four
    /// digits (chrono writes those).
    fn plain(&self) -> Option<([u8; 30], usize)> {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        let nanos = t.timestamp_subsec_nanos();
        if nanos >= 1_000_000_000 || !(0..=9999).contains(&t.year()) {
            return None;
        }
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        digits(&mut b[0..4], t.year() as u32);
        digits(&mut b[5..7], t.month());
        digits(&mut b[8..10], t.day());
        let (time, len) = clock(t.num_seconds_from_midnight(), nanos);
        b[11..].copy_from_slice(&time);
        Some((b, 11 + len))
    }
}

/// `n`'s last decimal digits, as many as `out` holds.
fn digits(out: &mut [u8], mut n: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// A time of day as RFC 3339 writes it in UTC: `hh:mm:ss`, then the fraction AutoSi keeps
/// (none, or milli-, micro- or nanoseconds, whichever is exact) and `Z`; and its length.
fn clock(seconds: u32, nanos: u32) -> ([u8; 19], usize) {
    let mut b = *b"00:00:00.000000000Z";
    digits(&mut b[0..2], seconds / 3600);
    digits(&mut b[3..5], seconds / 60 % 60);
    digits(&mut b[6..8], seconds % 60);
    digits(&mut b[9..18], nanos);
    let end = match nanos {
        0 => 8,
        n if n % 1_000_000 == 0 => 12,
        n if n % 1_000 == 0 => 15,
        _ => 18,
    };
    b[end] = b'Z';
    (b, end + 1)
}

/// Writes times as [`Utc3339`] writes them, one after another, keeping the text of the last
/// one's date and second: a chunk's events share a day or two, and often a second.
#[derive(Default)]
pub struct TimeText {
    /// Days since 1970 of `date`, and its text (`2026-11-20T`).
    date: Option<(i64, [u8; 11])>,
    /// Seconds since 1970 of `second`, and its text (`2026-11-20T01:02:03`).
    second: Option<(i64, [u8; 19])>,
}

impl TimeText {
    pub fn write(&mut self, t: DateTime<Utc>, out: &mut Vec<u8>) {
        let (seconds, nanos) = (t.timestamp(), t.timestamp_subsec_nanos());
        if nanos >= 1_000_000_000 {
            // A leap second: chrono writes it.
            return Utc3339(t).write_to(out);
        }
        let second = match self.second {
            Some((known, text)) if known == seconds => text,
            _ => {
                let day = seconds.div_euclid(86_400);
                let date = match self.date {
                    Some((known, date)) if known == day => date,
                    _ => match Utc3339(t).plain() {
                        Some((text, _)) => {
                            let mut date = [0u8; 11];
                            date.copy_from_slice(&text[..11]);
                            self.date = Some((day, date));
                            date
                        }
                        None => return Utc3339(t).write_to(out),
                    },
                };
                let (time, _) = clock(seconds.rem_euclid(86_400) as u32, 0);
                let mut text = [0u8; 19];
                text[..11].copy_from_slice(&date);
                text[11..].copy_from_slice(&time[..8]);
                self.second = Some((seconds, text));
                text
            }
        };
        out.extend_from_slice(&second);
        // The fraction AutoSi keeps, and `Z`.
        let (value, width) = match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        let mut fraction = *b".000000000Z";
        digits(&mut fraction[1..=width], value);
        if width == 0 {
            out.push(b'Z');
        } else {
            fraction[width + 1] = b'Z';
            out.extend_from_slice(&fraction[..width + 2]);
        }
    }
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
/// the id (`NETLOGON 5719`, `FailoverClustering 1228`, `Hyper-V-HA 21502`). A cluster.log
/// line has no id: it is named `cluster.log` alone.
pub fn event_name(provider: &str, event_id: u32) -> String {
    if provider == crate::input::clusterlog::PROVIDER {
        return provider.to_string();
    }
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
            let case = f.case.display().to_string();
            let _ = writeln!(out, "  {}: {verdict}", visible(&case));
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

#[cfg(test)]
mod tests {
    use super::{utc, visible};
    use chrono::{DateTime, SecondsFormat};

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        let mut seconds: i64 = -62_135_596_800; // 0001-01-01
        let mut nanos: u32 = 0;
        let mut kept = super::TimeText::default();
        for _ in 0..20_000 {
            // A walk over many dates and every precision, with leap seconds and far years.
            seconds = seconds
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1)
                % 400_000_000_000;
            nanos = nanos.wrapping_mul(1_103_515_245).wrapping_add(12_345) % 2_000_000_000;
            for n in [nanos, nanos / 1000 * 1000, nanos / 1_000_000 * 1_000_000, 0] {
                // The same time a second later, and the day's next one: the date kept.
                for later in [0, 1, 86_399 - seconds.rem_euclid(86_400)] {
                    if let Some(t) = DateTime::from_timestamp(seconds + later, n) {
                        let mut text = Vec::new();
                        kept.write(t, &mut text);
                        assert_eq!(String::from_utf8(text).unwrap(), utc(t));
                    }
                }
                let Some(t) = DateTime::from_timestamp(seconds, n) else {
                    continue;
                };
                assert_eq!(utc(t), t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            }
        }
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(visible("VM1"), "VM1");
        assert_eq!(visible("ケース 1"), "ケース 1");
        assert_eq!(
            visible("VM\x1b]0;owned\x07\r\nCRITICAL\tx\x7f"),
            "VM\\x1b]0;owned\\x07\\r\\nCRITICAL\\tx\\x7f"
        );
        assert_eq!(visible("a\u{9b}2J\u{202e}b"), "a\\u{9b}2J\\u{202e}b");
    }
}
