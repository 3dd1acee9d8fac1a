//! Event XML: files exported with `wevtutil qe /f:xml` or Event Viewer, and the XML the `evtx`
//! crate renders for each record an EVTX file holds. Both go through [`parse_event`].

use super::source::Progress;
use super::{Input, InputReport, RawEvent, Wanted};
use chrono::{DateTime, Utc};
use roxmltree::{Document, Node};

/// What an `<Event>` element says about itself, before its data is read.
struct Header<'a> {
    provider: &'a str,
    event_id: u32,
    record_id: u64,
    time: DateTime<Utc>,
    channel: &'a str,
    computer: &'a str,
}

/// Why an `<Event>` element could not be used.
#[derive(Debug)]
pub struct BadEvent(pub String);

/// Largest Event XML file read: it is parsed whole, and its tree takes several times its size.
pub const MAX_XML_BYTES: u64 = 1 << 30;

/// Reads an Event XML file.
pub fn read(
    index: usize,
    input: &Input,
    wanted: &dyn Wanted,
    progress: &Progress,
) -> (InputReport, Vec<RawEvent>) {
    let mut report = InputReport::new(input);
    let text = match input.source.read_all(MAX_XML_BYTES) {
        Ok(bytes) => {
            progress.add(bytes.len() as u64);
            decode(&bytes)
        }
        Err(err) => {
            report.warn(format!(
                "cannot be read ({err}); skipped: export the log as .evtx instead"
            ));
            return (report, Vec::new());
        }
    };
    let wrapped = wrap(&text);
    let doc = match Document::parse(&wrapped) {
        Ok(doc) => doc,
        Err(err) => {
            report.warn(format!(
                "not well-formed XML ({err}); nothing in it was read — export the log again"
            ));
            return (report, Vec::new());
        }
    };
    let mut events = Vec::new();
    for node in doc.descendants().filter(|n| n.has_tag_name("Event")) {
        match parse_event(index, node, wanted) {
            Ok((seen, event)) => {
                report.saw(seen.time);
                report
                    .logs
                    .entry((seen.computer, seen.channel))
                    .or_default()
                    .add(seen.time, seen.record_id);
                events.extend(event);
            }
            Err(BadEvent(why)) => {
                report.records_lost += 1;
                let line = doc.text_pos_at(node.range().start).row;
                report.warn(format!("line {line}: event skipped: {why}"));
            }
        }
    }
    report.events_used = events.len() as u64;
    (report, events)
}

/// Text of a file in UTF-8 or UTF-16, LE or BE, with or without a BOM (what Windows
/// PowerShell 5.1's redirection writes); invalid UTF-8 is kept as replacement characters.
pub(super) fn decode(bytes: &[u8]) -> String {
    crate::config::utf16(bytes).unwrap_or_else(|| {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        String::from_utf8_lossy(bytes).into_owned()
    })
}

/// `wevtutil qe /f:xml` prints a bare sequence of `<Event>` elements, which is not a document:
/// give it one root. The XML declaration, if any, must stay first.
fn wrap(text: &str) -> String {
    let body = match text.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, body)| body),
        None => text,
    };
    format!("<hvtriage-root>{body}</hvtriage-root>")
}

/// What every event tells, wanted or not: its time and its computer.
pub struct Seen {
    pub time: DateTime<Utc>,
    pub computer: String,
    pub channel: String,
    pub record_id: u64,
}

/// Reads one `<Event>` element. Returns what every event tells (every event is counted) and
/// the event when `wanted` accepts it; data items are only read for wanted events.
pub fn parse_event(
    input: usize,
    node: Node,
    wanted: &dyn Wanted,
) -> Result<(Seen, Option<RawEvent>), BadEvent> {
    let header = header(node)?;
    let seen = Seen {
        time: header.time,
        computer: header.computer.to_string(),
        channel: header.channel.to_string(),
        record_id: header.record_id,
    };
    if !wanted.event(header.provider, header.event_id) {
        return Ok((seen, None));
    }
    let data = node
        .children()
        .find(|n| n.has_tag_name("EventData") || n.has_tag_name("UserData"))
        .map(data_items)
        .unwrap_or_default();
    let event = RawEvent {
        input,
        record_id: header.record_id,
        time: header.time,
        provider: header.provider.to_string(),
        event_id: header.event_id,
        channel: header.channel.to_string(),
        computer: header.computer.to_string(),
        data,
    };
    Ok((seen, Some(event)))
}

fn header<'a>(event: Node<'a, 'a>) -> Result<Header<'a>, BadEvent> {
    let system = child(event, "System").ok_or_else(|| BadEvent("no <System> element".into()))?;
    let provider = child(system, "Provider")
        .and_then(|p| {
            p.attribute("Name")
                .or_else(|| p.attribute("EventSourceName"))
        })
        .unwrap_or("");
    let event_id = child_text(system, "EventID")
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| BadEvent("no numeric <EventID>".into()))?;
    let record_id = child_text(system, "EventRecordID")
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| BadEvent("no numeric <EventRecordID>".into()))?;
    let time = child(system, "TimeCreated")
        .and_then(|t| t.attribute("SystemTime"))
        .ok_or_else(|| BadEvent("no <TimeCreated SystemTime>".into()))?;
    let time = parse_time(time).ok_or_else(|| BadEvent(format!("bad SystemTime {time:?}")))?;
    Ok(Header {
        provider,
        event_id,
        record_id,
        time,
        channel: child_text(system, "Channel").unwrap_or(""),
        computer: child_text(system, "Computer").unwrap_or(""),
    })
}

/// `SystemTime` as Windows writes it: RFC 3339 in UTC, up to 9 fraction digits. Some tools
/// write a space instead of `T` or leave out the `Z`.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let fixed = text.replacen(' ', "T", 1);
    let fixed = if fixed.ends_with('Z') {
        fixed
    } else {
        fixed + "Z"
    };
    DateTime::parse_from_rfc3339(&fixed)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn child<'a>(node: Node<'a, 'a>, name: &str) -> Option<Node<'a, 'a>> {
    node.children().find(|n| n.has_tag_name(name))
}

fn child_text<'a>(node: Node<'a, 'a>, name: &str) -> Option<&'a str> {
    child(node, name).map(|n| n.text().unwrap_or(""))
}

/// EventData / UserData as name → value pairs, in document order.
fn data_items(container: Node) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut unnamed = 0;
    if container.has_tag_name("EventData") {
        for item in container.children().filter(Node::is_element) {
            let name = match (item.tag_name().name(), item.attribute("Name")) {
                ("Data", Some(name)) => name.to_string(),
                ("Data", None) => {
                    unnamed += 1;
                    format!("Data[{}]", unnamed - 1)
                }
                (other, _) => other.to_string(),
            };
            items.push((name, text_of(item)));
        }
    } else {
        for leaf in container
            .descendants()
            .filter(|n| n.is_element() && !n.children().any(|c| c.is_element()))
        {
            items.push((leaf.tag_name().name().to_string(), text_of(leaf)));
        }
    }
    items
}

/// All text of an element (a message can be split by entities into several text nodes).
fn text_of(node: Node) -> String {
    node.descendants()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Everything;
    use super::*;

    const NETLOGON: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="NETLOGON"/><EventID Qualifiers="0">5719</EventID><Level>2</Level><TimeCreated SystemTime="2024-05-14T01:02:33.000000000Z"/><EventRecordID>48211</EventRecordID><Channel>System</Channel><Computer>HV01.contoso.local</Computer><Security/></System><EventData><Data>CONTOSO</Data><Data>%%1311</Data><Binary>5E0000C0</Binary></EventData></Event>"#;

    #[test]
    fn unnamed_data_and_binary_are_named_by_position() {
        let doc = Document::parse(NETLOGON).unwrap();
        let (_, event) = parse_event(0, doc.root_element(), &Everything).unwrap();
        let event = event.unwrap();
        assert_eq!(event.provider, "NETLOGON");
        assert_eq!(event.event_id, 5719);
        assert_eq!(event.record_id, 48211);
        assert_eq!(event.computer, "HV01.contoso.local");
        let names: Vec<_> = event.data.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(
            names,
            ["Data[0]=CONTOSO", "Data[1]=%%1311", "Binary=5E0000C0"]
        );
    }

    #[test]
    fn a_bare_sequence_of_events_gets_a_root() {
        let two = format!("<?xml version=\"1.0\"?>{NETLOGON}\n{NETLOGON}");
        let wrapped = wrap(&two);
        let doc = Document::parse(&wrapped).unwrap();
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("Event"))
                .count(),
            2
        );
    }

    #[test]
    fn windows_times_parse_at_full_precision() {
        let t = parse_time("2024-05-14T01:02:33.1234567Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_700);
        assert!(parse_time("2024-05-14 01:02:33").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
