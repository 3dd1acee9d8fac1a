//! JSON (SPEC §5.2, schema 1): stable keys in a stable order.

use super::utc;
use crate::analysis::Analysis;
use serde::Serialize;
use std::collections::BTreeMap;

/// The version of the JSON layout; it changes only when a key changes meaning or goes away.
pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema: u32,
    tool: Tool,
    case: &'a str,
    time_zone: String,
    inputs: Vec<Input<'a>>,
    hosts: Vec<Host<'a>>,
    coverage: Vec<Coverage<'a>>,
    timeline: Vec<Entry<'a>>,
    findings: Vec<Finding<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Input<'a> {
    path: &'a str,
    format: &'a str,
    records: u64,
    events_used: u64,
    first: Option<String>,
    last: Option<String>,
    chunks_skipped: u64,
    records_lost: u64,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Host<'a> {
    key: &'a str,
    name: &'a str,
    clock_offset_ms: i64,
    clock_basis: &'a str,
}

#[derive(Serialize)]
struct Coverage<'a> {
    host: &'a str,
    channel: &'a str,
    first: Option<String>,
    last: Option<String>,
    records: u64,
    record_id_gaps: u64,
    damaged: bool,
    missing: bool,
}

/// A timeline entry: its number, then the line's keys.
#[derive(Serialize)]
struct Entry<'a> {
    id: usize,
    #[serde(flatten)]
    line: LineKeys<'a>,
}

/// A timeline line's keys, after `id`.
#[derive(Serialize)]
struct LineKeys<'a> {
    time: Time,
    host: &'a str,
    signal: &'a str,
    provider: &'a str,
    event_id: u32,
    channel: &'a str,
    record_id: u64,
    input: usize,
    fields: &'a BTreeMap<String, String>,
    text: &'a str,
}

impl<'a> LineKeys<'a> {
    fn of(line: &super::Line<'a>) -> Self {
        LineKeys {
            time: Time(line.time),
            host: line.host,
            signal: line.signal,
            provider: line.provider,
            event_id: line.event_id,
            channel: line.channel,
            record_id: line.record_id,
            input: line.input,
            fields: line.fields,
            text: line.text,
        }
    }
}

/// A time serialized as its text ([`super::utc`]), without a string of its own.
struct Time(chrono::DateTime<chrono::Utc>);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&super::Utc3339(self.0))
    }
}

#[derive(Serialize)]
struct Finding<'a> {
    rule: &'a str,
    severity: &'a str,
    confidence: &'a str,
    host: &'a str,
    hosts: &'a [String],
    vms: &'a [String],
    first: String,
    last: String,
    title: &'a str,
    cause: &'a str,
    fix: String,
    evidence: &'a [usize],
    missing: &'a [String],
    config: Option<&'a str>,
    config_evidence: &'a [crate::analysis::ConfigFact],
}

/// The analysis as JSON text, pretty-printed, ending in a newline.
pub fn render(a: &Analysis) -> String {
    let doc = Document {
        schema: SCHEMA,
        tool: Tool {
            name: "hvtriage",
            version: env!("CARGO_PKG_VERSION"),
        },
        case: &a.case,
        time_zone: a.time_zone.name().to_string(),
        inputs: a
            .inputs
            .iter()
            .map(|i| Input {
                path: &i.path,
                format: &i.format,
                records: i.records,
                events_used: i.events_used,
                first: i.first.map(utc),
                last: i.last.map(utc),
                chunks_skipped: i.chunks_skipped,
                records_lost: i.records_lost,
                warnings: &i.warnings,
            })
            .collect(),
        hosts: a
            .hosts
            .iter()
            .map(|h| Host {
                key: &h.key,
                name: &h.name,
                clock_offset_ms: h.clock_offset_ms,
                clock_basis: &h.clock_basis,
            })
            .collect(),
        coverage: a
            .coverage
            .iter()
            .map(|c| Coverage {
                host: &c.host,
                channel: &c.channel,
                first: c.first.map(utc),
                last: c.last.map(utc),
                records: c.records,
                record_id_gaps: c.record_id_gaps,
                damaged: c.damaged,
                missing: c.missing,
            })
            .collect(),
        timeline: a
            .timeline
            .iter()
            .map(|s| Entry {
                id: s.id,
                line: LineKeys::of(&super::Line::of(s, a)),
            })
            .collect(),
        findings: a
            .findings
            .iter()
            .map(|f| Finding {
                rule: &f.rule,
                severity: f.severity.as_str(),
                confidence: f.confidence.as_str(),
                host: &f.host,
                hosts: &f.hosts,
                vms: &f.vms,
                first: utc(f.first),
                last: utc(f.last),
                title: &f.title,
                cause: &f.cause,
                fix: f.fix.join("\n"),
                evidence: &f.evidence,
                missing: &f.missing,
                config: f.config.as_deref(),
                config_evidence: &f.config_evidence,
            })
            .collect(),
        warnings: &a.warnings,
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("plain data always serializes");
    text.push('\n');
    text
}

/// The timeline as JSON lines (`timeline --format jsonl`), one entry per line.
pub fn timeline_lines(a: &Analysis) -> String {
    let mut out = Vec::new();
    let mut entry = Vec::new();
    for s in &a.timeline {
        entry.clear();
        line_without_id(&super::Line::of(s, a), &mut entry);
        numbered(s.id, &entry, &mut out);
    }
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// A timeline line's JSON object without its `id` (given only once the timeline is in order):
/// what serde writes for `LineKeys`, written by hand because `timeline --all` writes one per
/// record (`tests::hand_written_lines_are_serdes`).
pub fn line_without_id(line: &super::Line, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"time\":\"");
    super::Utc3339(line.time).write_to(out);
    out.extend_from_slice(b"\",\"host\":");
    string(line.host, out);
    out.extend_from_slice(b",\"signal\":");
    string(line.signal, out);
    out.extend_from_slice(b",\"provider\":");
    string(line.provider, out);
    out.extend_from_slice(b",\"event_id\":");
    decimal(u64::from(line.event_id), out);
    out.extend_from_slice(b",\"channel\":");
    string(line.channel, out);
    out.extend_from_slice(b",\"record_id\":");
    decimal(line.record_id, out);
    out.extend_from_slice(b",\"input\":");
    decimal(line.input as u64, out);
    out.extend_from_slice(b",\"fields\":{");
    for (i, (key, value)) in line.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(key, out);
        out.push(b':');
        string(value, out);
    }
    out.extend_from_slice(b"},\"text\":");
    string(line.text, out);
    out.push(b'}');
}

/// `n` in decimal digits.
pub(crate) fn decimal(mut n: u64, out: &mut Vec<u8>) {
    // Written in place from the last digit.
    let count = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let start = out.len();
    out.resize(start + count, b'0');
    for d in out[start..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Whether any of the eight bytes of `word` is a control character, a quote or a backslash
/// (bit tricks: a byte less than 0x20, or equal to 0x22 or 0x5C).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0
        || zero_byte(word ^ (ONES * u64::from(b'"')))
        || zero_byte(word ^ (ONES * u64::from(b'\\')))
}

/// `s` as a JSON string, escaped as serde_json escapes it: quote, backslash and the control
/// characters, nothing else.
pub(crate) fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    escaped(s, out);
    out.push(b'"');
}

/// The inside of `s` as a JSON string (`string` without the quotes).
pub(crate) fn escaped(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    // Nearly every text needs no escaping: looked for eight bytes at a time (the last word
    // overlapping the one before it), and copied whole.
    let word = |w: &[u8]| needs_escape(u64::from_le_bytes(w.try_into().unwrap_or_default()));
    let clean = match bytes.len() {
        0..8 => !bytes.iter().any(|b| *b < 0x20 || *b == b'"' || *b == b'\\'),
        n => !bytes.chunks_exact(8).any(word) && !word(&bytes[n - 8..]),
    };
    if clean {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// An event of any kind as `timeline --all` shows it (`signal::RAW`, no fields, the text
/// `signal::raw_text` makes of its provider, id and first values).
pub struct RawLine<'a> {
    pub time: chrono::DateTime<chrono::Utc>,
    pub host: &'a str,
    pub provider: &'a str,
    pub event_id: u32,
    pub channel: &'a str,
    pub record_id: u64,
    pub input: usize,
    pub values: &'a [&'a str],
}

/// Writes [`RawLine`]s as `line_without_id` writes their lines, a chunk of them at a time: the
/// parts a chunk's events share (host, provider, channel, input) are escaped once and kept.
#[derive(Default)]
pub struct RawLines {
    /// The parts of the last few (host, provider, channel, input), the last used first.
    kept: Vec<Parts>,
    time: super::TimeText,
}

/// The parts of the lines of one host, provider, channel and input.
struct Parts {
    key: (String, String, String, usize),
    /// From after the time to the event id, from after it to the record id, and from after
    /// it into the text (the provider and a space).
    bytes: [Vec<u8>; 3],
}

/// How many [`Parts`] a [`RawLines`] keeps: a chunk's events come from a few providers.
const KEPT_PARTS: usize = 8;

impl RawLines {
    pub fn write(&mut self, line: &RawLine, out: &mut Vec<u8>) {
        let found = self.kept.iter().position(|p| {
            let (host, provider, channel, input) = &p.key;
            (provider.as_str(), host.as_str(), channel.as_str(), *input)
                == (line.provider, line.host, line.channel, line.input)
        });
        match found {
            Some(0) => {}
            Some(at) => self.kept[..=at].rotate_right(1),
            None => {
                if self.kept.len() == KEPT_PARTS {
                    self.kept.pop();
                }
                self.kept.insert(0, Parts::of(line));
            }
        }
        let parts = &self.kept[0].bytes;
        out.extend_from_slice(b"{\"time\":\"");
        self.time.write(line.time, out);
        out.extend_from_slice(&parts[0]);
        decimal(u64::from(line.event_id), out);
        out.extend_from_slice(&parts[1]);
        decimal(line.record_id, out);
        out.extend_from_slice(&parts[2]);
        decimal(u64::from(line.event_id), out);
        out.extend_from_slice(b": ");
        for (i, value) in line
            .values
            .iter()
            .take(crate::input::FIRST_VALUES)
            .enumerate()
        {
            if i > 0 {
                out.extend_from_slice(b" | ");
            }
            escaped(value, out);
        }
        out.extend_from_slice(b"\"}");
    }
}

impl Parts {
    fn of(line: &RawLine) -> Parts {
        let (mut head, mut middle, mut tail) = (Vec::new(), Vec::new(), Vec::new());
        head.extend_from_slice(b"\",\"host\":");
        string(line.host, &mut head);
        head.extend_from_slice(b",\"signal\":");
        string(crate::signal::RAW, &mut head);
        head.extend_from_slice(b",\"provider\":");
        string(line.provider, &mut head);
        head.extend_from_slice(b",\"event_id\":");
        middle.extend_from_slice(b",\"channel\":");
        string(line.channel, &mut middle);
        middle.extend_from_slice(b",\"record_id\":");
        tail.extend_from_slice(b",\"input\":");
        decimal(line.input as u64, &mut tail);
        tail.extend_from_slice(b",\"fields\":{},\"text\":\"");
        escaped(line.provider, &mut tail);
        tail.push(b' ');
        Parts {
            key: (
                line.host.to_string(),
                line.provider.to_string(),
                line.channel.to_string(),
                line.input,
            ),
            bytes: [head, middle, tail],
        }
    }
}

/// A JSON line: `{"id":N,` and the rest of the object `line_without_id` wrote.
pub fn numbered(id: usize, object: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    decimal(id as u64, out);
    out.push(b',');
    out.extend_from_slice(object.get(1..).unwrap_or_default());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn raw_lines_are_the_lines_of_raw_signals() {
        let mut raw = RawLines::default();
        let fields = BTreeMap::new();
        let lines = [
            (
                "HV01",
                "Service Control Manager",
                "System",
                0,
                vec!["a", "b \"q\""],
            ),
            ("HV01", "Service Control Manager", "System", 0, vec![]),
            (
                "HV01",
                "Service Control Manager",
                "System",
                1,
                vec!["1", "2", "3", "4", "5"],
            ),
            ("HV02", "Tab\tProvider", "Sys\\tem", 1, vec!["\u{1}"]),
            ("HV02", "Tab\tProvider", "Sys\\tem", 1, vec!["日本", ""]),
            (
                "HV01",
                "Service Control Manager",
                "System",
                1,
                vec!["kept before"],
            ),
            (
                "HV01",
                "Service Control Manager",
                "System",
                0,
                vec!["kept first"],
            ),
        ];
        for (n, (host, provider, channel, input, values)) in lines.iter().enumerate() {
            let time = Utc
                .timestamp_opt(1_700_000_000 + n as i64, 250_000_000)
                .unwrap();
            let mut text = String::new();
            crate::signal::raw_text(provider, 7036, values.iter().copied(), &mut text);
            let mut expected = Vec::new();
            line_without_id(
                &super::super::Line {
                    time,
                    host,
                    signal: crate::signal::RAW,
                    provider,
                    event_id: 7036,
                    channel,
                    record_id: n as u64,
                    input: *input,
                    input_path: "",
                    fields: &fields,
                    text: &text,
                },
                &mut expected,
            );
            let mut got = Vec::new();
            raw.write(
                &RawLine {
                    time,
                    host,
                    provider,
                    event_id: 7036,
                    channel,
                    record_id: n as u64,
                    input: *input,
                    values,
                },
                &mut got,
            );
            assert_eq!(String::from_utf8(got), String::from_utf8(expected));
        }
    }

    #[test]
    fn hand_written_lines_are_serdes() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let texts = [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "eight by eight\\ then a quote at sixteen\" and a bell\u{7}!",
            "ÿÿÿÿÿÿÿÿ ends with a tab\t",
            every_ascii.as_str(),
            "日本語 \u{7f}\u{80}\u{2028}\u{202e} 😀",
        ];
        let mut fields = BTreeMap::new();
        for (i, text) in texts.iter().enumerate() {
            for with_fields in [false, true] {
                if with_fields {
                    fields.insert(format!("key{i}\n"), (*text).to_string());
                }
                let line = super::super::Line {
                    time: Utc.timestamp_opt(1_700_000_000 + i as i64, 1234).unwrap(),
                    host: text,
                    signal: "event",
                    provider: text,
                    event_id: 7036,
                    channel: text,
                    record_id: u64::MAX,
                    input: i,
                    input_path: "",
                    fields: &fields,
                    text,
                };
                let mut hand = Vec::new();
                line_without_id(&line, &mut hand);
                let serde = serde_json::to_vec(&LineKeys::of(&line)).unwrap();
                assert_eq!(
                    String::from_utf8(hand).unwrap(),
                    String::from_utf8(serde).unwrap()
                );
            }
        }
    }

    #[test]
    fn escaping_and_digits_are_serdes_at_every_length_and_place() {
        for len in 0..20 {
            for at in 0..len {
                for c in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '/'] {
                    let text: String = (0..len).map(|i| if i == at { c } else { 'a' }).collect();
                    let mut hand = Vec::new();
                    escaped(&text, &mut hand);
                    let serde = serde_json::to_string(&text).unwrap();
                    assert_eq!(
                        String::from_utf8(hand).unwrap(),
                        serde[1..serde.len() - 1],
                        "{text:?}"
                    );
                }
            }
        }
        let mut n = 1u64;
        let mut numbers = vec![0, u64::MAX];
        while let Some(next) = n.checked_mul(10) {
            numbers.extend([n - 1, n, n + 1]);
            n = next;
        }
        for n in numbers {
            let mut hand = b"x".to_vec();
            decimal(n, &mut hand);
            assert_eq!(String::from_utf8(hand).unwrap(), format!("x{n}"));
        }
    }
}
