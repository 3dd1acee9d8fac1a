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

/// The most XML one `<Event>` element may take: Windows caps an event's data at 64 KB, so
/// an element bigger than this is no exported event (a flood of empty elements, a value of
/// megabytes) and is skipped with a warning instead of being parsed.
pub const MAX_EVENT_XML_BYTES: usize = 1 << 20;

/// How much of the file is decoded at a time: memory stays at about this plus one event,
/// whatever the file's size.
const BLOCK_BYTES: u64 = 4 << 20;

/// Reads an Event XML file, one `<Event>` element at a time: its size does not matter, and an
/// element that is not well-formed costs only itself.
pub fn read(
    index: usize,
    input: &Input,
    wanted: &dyn Wanted,
    progress: &Progress,
) -> (InputReport, Vec<RawEvent>) {
    let mut report = InputReport::new(input);
    let opened = match input.source.open() {
        Ok(opened) => opened,
        Err(err) => {
            report.warn(format!(
                "cannot be read ({err}); skipped: export the log as .evtx instead"
            ));
            return (report, Vec::new());
        }
    };
    let bytes = opened.bytes();
    let len = bytes.len();
    let mut head = vec![0u8; len.min(4096) as usize];
    if let Err(err) = bytes.read_at(&mut head, 0) {
        report.warn(format!("cannot be read ({err}); skipped"));
        return (report, Vec::new());
    }
    let mut decoder = encoding_of(&head).new_decoder_with_bom_removal();
    let mut stream = Elements::default();
    let mut events = Vec::new();
    let mut block = vec![0u8; BLOCK_BYTES.min(len) as usize];
    let mut offset = 0u64;
    loop {
        let n = (len - offset).min(BLOCK_BYTES) as usize;
        let last = offset + n as u64 >= len;
        if let Err(err) = bytes.read_at(&mut block[..n], offset) {
            report.warn(format!(
                "cannot be read past byte {offset} ({err}); the events before it were read"
            ));
            break;
        }
        offset += n as u64;
        progress.add(n as u64);
        let room = decoder
            .max_utf8_buffer_length(n)
            .unwrap_or(n.saturating_mul(3));
        stream.text.reserve(room);
        let _ = decoder.decode_to_string(&block[..n], &mut stream.text, last);
        while let Some(element) = stream.next_element(&mut report) {
            read_element(index, element, wanted, &mut report, &mut events);
        }
        if last {
            break;
        }
    }
    stream.finish(&mut report);
    if report.events_left_out > 0 {
        let line = super::too_many_events(events.len(), report.events_left_out);
        report.warn(line);
    }
    report.events_used = events.len() as u64;
    (report, events)
}

/// One `<Event>` element's text and the line it starts on.
struct Element {
    text: String,
    line: usize,
}

/// The decoded text not yet cut into elements, and where it is in the file.
#[derive(Default)]
struct Elements {
    text: String,
    /// How much of `text` is used up (dropped once per block, not per element).
    pos: usize,
    /// The line of `text[pos..]`'s first character, from 1.
    line: usize,
    /// Inside an element too big to keep, started on this line: drop text until its end.
    skipping: Option<usize>,
}

impl Elements {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    /// The next whole `<Event>` element of the text decoded so far, if there is one.
    fn next_element(&mut self, report: &mut InputReport) -> Option<Element> {
        let found = self.find_element(report);
        if found.is_none() {
            // Before more text is decoded: drop what is used up, once.
            self.text.drain(..self.pos);
            self.pos = 0;
        }
        found
    }

    fn find_element(&mut self, report: &mut InputReport) -> Option<Element> {
        loop {
            if let Some(line) = self.skipping {
                match self.rest().find(END_TAG) {
                    Some(end) => {
                        self.consume(end + END_TAG.len());
                        self.skipping = None;
                        report.records_lost += 1;
                        report.warn(format!(
                            "line {line}: event skipped: more than {} MiB of XML, which no exported event has",
                            MAX_EVENT_XML_BYTES >> 20
                        ));
                    }
                    None => {
                        // Keep what could be the start of the end tag.
                        let rest = self.rest();
                        let keep = rest.len().saturating_sub(END_TAG.len());
                        let keep = (0..=keep).rev().find(|&i| rest.is_char_boundary(i))?;
                        self.consume(keep);
                        return None;
                    }
                }
            }
            let start = start_of_event(self.rest())?;
            self.consume(start);
            match self.rest().find(END_TAG) {
                Some(end) if end + END_TAG.len() <= MAX_EVENT_XML_BYTES => {
                    let line = self.line.max(1);
                    let text = self.rest()[..end + END_TAG.len()].to_string();
                    self.consume(end + END_TAG.len());
                    return Some(Element { text, line });
                }
                Some(_) => self.skipping = Some(self.line.max(1)),
                None if self.rest().len() > MAX_EVENT_XML_BYTES => {
                    self.skipping = Some(self.line.max(1));
                }
                None => return None,
            }
        }
    }

    /// Uses up the next `n` bytes of the text, counting their lines.
    fn consume(&mut self, n: usize) {
        let used = &self.text.as_bytes()[self.pos..self.pos + n];
        self.line = self.line.max(1) + memchr::memchr_iter(b'\n', used).count();
        self.pos += n;
    }

    /// What is left at the end of the file: an element cut short.
    fn finish(&mut self, report: &mut InputReport) {
        let line = self.skipping.or_else(|| {
            start_of_event(self.rest()).map(|start| {
                self.consume(start);
                self.line.max(1)
            })
        });
        if let Some(line) = line {
            report.records_lost += 1;
            report.warn(format!(
                "line {line}: the file ends inside an event (cut short); the events before it were read"
            ));
        }
    }
}

const END_TAG: &str = "</Event>";

/// Where the next `<Event>` element starts (not `<EventData>`, `<EventID>`, ...).
fn start_of_event(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("<Event") {
        let at = from + at;
        match text.as_bytes().get(at + 6) {
            Some(b' ' | b'>' | b'\t' | b'\r' | b'\n' | b'/') => return Some(at),
            // The text may end inside the tag's name: wait for more.
            None => return None,
            Some(_) => from = at + 6,
        }
    }
    None
}

fn read_element(
    index: usize,
    element: Element,
    wanted: &dyn Wanted,
    report: &mut InputReport,
    events: &mut Vec<RawEvent>,
) {
    let parsed = Document::parse(&element.text)
        .map_err(|err| BadEvent(format!("not well-formed XML ({err})")))
        .and_then(|doc| parse_event(index, doc.root_element(), wanted));
    match parsed {
        Ok((seen, event)) => {
            report.saw(seen.time);
            report
                .logs
                .entry((seen.computer, seen.channel))
                .or_default()
                .add(seen.time, seen.record_id);
            if let Some(event) = event {
                if events.len() < wanted.max_events() {
                    events.push(event);
                } else {
                    report.events_left_out += 1;
                }
            }
        }
        Err(BadEvent(why)) => {
            report.records_lost += 1;
            report.warn(format!("line {}: event skipped: {why}", element.line));
        }
    }
}

/// The encoding the file's first bytes show: UTF-16 LE or BE (with or without a BOM), else
/// UTF-8 (its BOM, if any, is removed by the decoder).
fn encoding_of(head: &[u8]) -> &'static encoding_rs::Encoding {
    crate::config::utf16_encoding(head).unwrap_or(encoding_rs::UTF_8)
}

/// Text of a file in UTF-8 or UTF-16, LE or BE, with or without a BOM (what Windows
/// PowerShell 5.1's redirection writes); invalid UTF-8 is kept as replacement characters.
pub(super) fn decode(bytes: &[u8]) -> String {
    crate::config::utf16(bytes).unwrap_or_else(|| {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        String::from_utf8_lossy(bytes).into_owned()
    })
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
        computer: capped(header.computer, MAX_NAME_CHARS),
        channel: capped(header.channel, MAX_NAME_CHARS),
        record_id: header.record_id,
    };
    if !wanted.event(header.provider, header.event_id) || !wanted.time(header.time) {
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
        provider: capped(header.provider, MAX_NAME_CHARS),
        event_id: header.event_id,
        channel: seen.channel.clone(),
        computer: seen.computer.clone(),
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

/// The longest provider, channel or computer name kept (Windows names are far shorter).
pub(super) const MAX_NAME_CHARS: usize = 1024;
/// The longest data item kept (Windows allows 31,839 characters in one insertion string).
pub(super) const MAX_VALUE_CHARS: usize = 32 * 1024;
/// The most data items kept from one event.
pub(super) const MAX_ITEMS: usize = 512;

/// `text`, or its first `max` characters and a marker saying how much was cut: no value of a
/// hostile file is repeated in full into every report.
pub fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…[{} more bytes cut]", &text[..at], text.len() - at),
    }
}

/// EventData / UserData as name → value pairs, in document order.
fn data_items(container: Node) -> Vec<(String, String)> {
    let items = all_data_items(container);
    items
        .into_iter()
        .take(MAX_ITEMS)
        .map(|(name, value)| {
            (
                capped(&name, MAX_NAME_CHARS),
                capped(&value, MAX_VALUE_CHARS),
            )
        })
        .collect()
}

fn all_data_items(container: Node) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut unnamed = 0;
    if container.has_tag_name("EventData") {
        for item in container.children().filter(Node::is_element) {
            let name = item_name(item.tag_name().name(), item.attribute("Name"), &mut unnamed);
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

/// The name an EventData item is known by: a `<Data>`'s `Name`, an unnamed `<Data>` as
/// `Data[i]` (`unnamed` counts them), any other element (`<Binary>`) by its tag.
pub(super) fn item_name(tag: &str, name: Option<&str>, unnamed: &mut usize) -> String {
    match (tag, name) {
        ("Data", Some(name)) => name.to_string(),
        ("Data", None) => {
            *unnamed += 1;
            format!("Data[{}]", *unnamed - 1)
        }
        (other, _) => other.to_string(),
    }
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
    fn windows_times_parse_at_full_precision() {
        let t = parse_time("2024-05-14T01:02:33.1234567Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_700);
        assert!(parse_time("2024-05-14 01:02:33").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
