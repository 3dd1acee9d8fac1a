//! `cluster.log`, as `Get-ClusterLog` writes it for one node: header lines, then one line per
//! entry, `pid.tid::YYYY/MM/DD-HH:MM:SS.mmm LEVEL [COMPONENT] text`, in UTC unless
//! `-UseLocalTime` was given (the header says which). A line without that prefix continues
//! the entry before it. Each entry of the components the signal catalogue reads becomes a raw
//! event of provider `cluster.log` with the items `Level`, `Component` and `Text`, so rules use
//! it like any event.

use super::source::Progress;
use super::{Input, InputReport, RawEvent, Wanted};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// The provider and channel its entries get.
pub const PROVIDER: &str = "cluster.log";
/// Components whose entries are kept (the rest of a cluster log is read and counted only).
const COMPONENTS: [&str; 6] = ["RES", "RCM", "NM", "NETFT", "IM", "RHS"];
/// Bytes read at a time: a cluster log of hundreds of MB is never held whole.
const BLOCK_BYTES: usize = 8 << 20;
/// The longest entry text kept (continuation lines included).
const MAX_TEXT_CHARS: usize = 4_096;

/// Whether the start of a file is a cluster log.
pub fn sniff(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    text.lines()
        .take(40)
        .any(|l| l.contains("[===Cluster") || prefix(l.as_bytes()).is_some())
}

/// The times of a cluster log: UTC, or the node's local time with its offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Utc,
    /// Local time; minutes to subtract to get UTC (`None`: the header did not say).
    Local(Option<i64>),
}

/// Reads a cluster log, keeping the entries `wanted` accepts.
pub fn read(
    index: usize,
    input: &Input,
    wanted: &dyn Wanted,
    progress: &Progress,
) -> (InputReport, Vec<RawEvent>) {
    let mut report = InputReport::new(input);
    let host = host_of(&input.display);
    let opened = match input.source.open() {
        Ok(o) => o,
        Err(err) => {
            report.warn(format!("cannot be read ({err})"));
            return (report, Vec::new());
        }
    };
    let bytes = opened.bytes();
    let mut reader = Lines {
        limit: wanted.max_events(),
        ..Lines::default()
    };
    let mut offset = 0u64;
    let mut buf = vec![0u8; BLOCK_BYTES];
    let keep = wanted.event(PROVIDER, 0);
    while offset < bytes.len() {
        let n = usize::try_from((bytes.len() - offset).min(BLOCK_BYTES as u64)).unwrap_or(0);
        if let Err(err) = bytes.read_at(&mut buf[..n], offset) {
            report.warn(format!(
                "read stopped at byte {offset} ({err}): the rest is not read"
            ));
            break;
        }
        offset += n as u64;
        progress.add(n as u64);
        reader.feed(&buf[..n], offset >= bytes.len(), |line| {
            entry(line, keep, wanted, &mut report, &host, index)
        });
    }
    let events = reader.events;
    if reader.left_out > 0 {
        report.events_left_out = reader.left_out;
        report.warn(super::too_many_events(events.len(), reader.left_out));
    }
    if let Some(Clock::Local(offset)) = reader.clock {
        report.warn(match offset {
            Some(m) => format!("times are the node's local time (UTC {m:+} minutes, from its header): converted to UTC"),
            None => "times are the node's local time (Get-ClusterLog -UseLocalTime) and the header gives no offset: read as UTC; collect it again without -UseLocalTime".to_string(),
        });
    }
    report.events_used = events.len() as u64;
    (report, events)
}

/// What one line did: the reader keeps the entries and the clock the header declared.
#[derive(Default)]
struct Lines {
    /// The end of the previous block that was no whole line yet.
    rest: Vec<u8>,
    events: Vec<RawEvent>,
    /// The most entries kept ([`Wanted::max_events`]); those past it are counted here.
    limit: usize,
    left_out: u64,
    clock: Option<Clock>,
    /// Lines seen (header and continuations too).
    line: u64,
    /// Entries seen: an entry's record id, so continuation lines leave no gap.
    entries: u64,
    /// Whether the last entry was kept (its continuation lines join it).
    last_kept: bool,
}

impl Lines {
    fn feed(
        &mut self,
        block: &[u8],
        last: bool,
        mut on_entry: impl FnMut(Entry) -> Option<RawEvent>,
    ) {
        let mut data = std::mem::take(&mut self.rest);
        data.extend_from_slice(block);
        let mut start = 0;
        while let Some(end) = memchr::memchr(b'\n', &data[start..]) {
            self.line(&data[start..start + end], &mut on_entry);
            start += end + 1;
        }
        if last {
            if start < data.len() {
                let tail = data[start..].to_vec();
                self.line(&tail, &mut on_entry);
            }
        } else {
            self.rest = data[start..].to_vec();
        }
    }

    fn line(&mut self, raw: &[u8], on_entry: &mut impl FnMut(Entry) -> Option<RawEvent>) {
        self.line += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match prefix(raw) {
            Some((time, rest)) => {
                // The header came first: local times become UTC here.
                let time = match self.clock {
                    Some(Clock::Local(Some(m))) => time - chrono::Duration::minutes(m),
                    _ => time,
                };
                let (level, component, text) = split_entry(rest);
                self.entries += 1;
                let entry = Entry {
                    line: self.entries,
                    time,
                    level,
                    component,
                    text,
                };
                match on_entry(entry) {
                    Some(_) if self.events.len() >= self.limit => {
                        self.left_out += 1;
                        self.last_kept = false;
                    }
                    Some(event) => {
                        self.events.push(event);
                        self.last_kept = true;
                    }
                    None => self.last_kept = false,
                }
            }
            None if self.clock.is_none() && self.line < 200 => {
                self.clock = header_clock(&String::from_utf8_lossy(raw)).or(self.clock);
                self.last_kept = false;
            }
            None if self.last_kept => {
                // A continuation of the kept entry before it.
                if let Some(text) = self.events.last_mut().and_then(|e| e.data.last_mut()) {
                    if text.1.chars().count() < MAX_TEXT_CHARS {
                        text.1.push(' ');
                        text.1.push_str(String::from_utf8_lossy(raw).trim());
                    }
                }
            }
            None => {}
        }
    }
}

/// One entry of the log, before it is kept or not.
struct Entry<'a> {
    line: u64,
    time: DateTime<Utc>,
    level: &'a str,
    component: &'a str,
    text: &'a str,
}

fn entry(
    e: Entry,
    keep: bool,
    wanted: &dyn Wanted,
    report: &mut InputReport,
    host: &str,
    index: usize,
) -> Option<RawEvent> {
    report.saw(e.time);
    report
        .logs
        .entry((host.to_string(), PROVIDER.to_string()))
        .or_default()
        .add(e.time, e.line);
    // `timeline --all` wants every id, even one no event has: then every entry is kept.
    let wanted_component = COMPONENTS.contains(&e.component) || wanted.id(u32::MAX);
    if !keep || !wanted_component {
        return None;
    }
    let event = RawEvent {
        input: index,
        record_id: e.line,
        time: e.time,
        provider: PROVIDER.into(),
        event_id: 0,
        channel: PROVIDER.into(),
        computer: host.to_string(),
        data: vec![
            ("Level".into(), e.level.to_string()),
            ("Component".into(), e.component.to_string()),
            ("Text".into(), e.text.chars().take(MAX_TEXT_CHARS).collect()),
        ],
    };
    wanted.keeps(&event).then_some(event)
}

/// `00000d4c.00001b2c::2026/11/20-02:14:07.523 INFO  [NM] text` → the time and the rest.
fn prefix(line: &[u8]) -> Option<(DateTime<Utc>, &str)> {
    let at = memchr::memmem::find(line.get(..24)?, b"::")?;
    let head = line.get(..at)?;
    let ids = head.iter().all(|b| b.is_ascii_hexdigit() || *b == b'.');
    if !ids || !head.contains(&b'.') {
        return None;
    }
    let stamp = std::str::from_utf8(line.get(at + 2..at + 25)?).ok()?;
    let time = NaiveDateTime::parse_from_str(stamp, "%Y/%m/%d-%H:%M:%S%.3f").ok()?;
    let rest = std::str::from_utf8(line.get(at + 25..)?).ok()?;
    Some((Utc.from_utc_datetime(&time), rest))
}

/// ` INFO  [NM] text` → (`INFO`, `NM`, `text`); an entry without a component has `""`.
fn split_entry(rest: &str) -> (&str, &str, &str) {
    let rest = rest.trim_start();
    let (level, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let after = after.trim_start();
    match after.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((component, text)) => (level, component.trim(), text.trim()),
        None => (level, "", after.trim()),
    }
}

/// What a header line says of the log's clock.
fn header_clock(line: &str) -> Option<Clock> {
    let lower = line.to_ascii_lowercase();
    if lower.contains("generated using")
        && lower.contains("local time")
        && !lower.contains("coordinated universal time")
    {
        return Some(Clock::Local(offset_minutes(&lower)));
    }
    if lower.contains("generated using")
        && (lower.contains("coordinated universal time") || lower.contains("(utc)"))
    {
        return Some(Clock::Utc);
    }
    None
}

/// "... the time zone offset of this machine is 540 minutes ..." → 540 (local − UTC).
fn offset_minutes(lower: &str) -> Option<i64> {
    let at = lower.find("offset")?;
    let words = lower[at..].split_whitespace();
    words
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit() && c != '-' && c != '+'))
        .find_map(|w| w.parse::<i64>().ok())
        .filter(|m| m.abs() <= 14 * 60)
}

/// The node of a cluster log: the file's name before `_cluster` (`HV01_cluster.log`, as
/// Get-ClusterLog and GetLogs name it), else the folder it is in.
fn host_of(display: &str) -> String {
    let inner = display.rsplit('!').next().unwrap_or(display);
    let file = inner.rsplit('/').next().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    for sep in ["_cluster", "-cluster"] {
        if let Some(node) = stem.to_ascii_lowercase().find(sep).map(|at| &stem[..at]) {
            if !node.is_empty() {
                return node.to_string();
            }
        }
    }
    super::folder_host(display).unwrap_or("cluster").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_its_time_level_component_and_text() {
        let line = b"00000d4c.00001b2c::2026/11/20-02:14:07.523 INFO  [NM] Received request from client address HV02.";
        let (time, rest) = prefix(line).unwrap();
        assert_eq!(time.to_rfc3339(), "2026-11-20T02:14:07.523+00:00");
        assert_eq!(
            split_entry(rest),
            ("INFO", "NM", "Received request from client address HV02.")
        );
        assert!(prefix(b"    continued text").is_none());
        assert!(prefix(b"zz::2026").is_none());
    }

    #[test]
    fn the_header_says_utc_or_local_time_with_its_offset() {
        assert_eq!(
            header_clock("The logs were generated using Coordinated Universal Time (UTC). 'Get-ClusterLog -UseLocalTime' will generate in local time."),
            Some(Clock::Utc)
        );
        assert_eq!(
            header_clock("The logs were generated using local time; the time zone offset of this machine is 540 minutes."),
            Some(Clock::Local(Some(540)))
        );
        assert_eq!(header_clock("[===Cluster ===]"), None);
    }

    #[test]
    fn the_node_is_the_file_name_prefix_or_the_folder() {
        assert_eq!(host_of("case/H16N1_cluster.log"), "H16N1");
        assert_eq!(host_of("HV01/cluster.log"), "HV01");
        assert_eq!(host_of("a.zip!HV02/cluster.log"), "HV02");
    }
}
