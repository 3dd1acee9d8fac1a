//! Inputs: finding the files of a case, reading them, and keeping only the records a signal
//! wants. Everything read is counted in an [`InputReport`], so nothing is lost silently.

pub mod archive;
pub mod clusterlog;
pub mod discover;
pub mod evtx;
pub mod prescan;
pub mod source;
pub mod template;
pub mod xml;

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

pub use archive::ZipLimits;
pub use discover::{discover, Discovered, Skipped};
pub use source::{Progress, Source};

/// What a file holds, decided from its first bytes, never from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Evtx,
    Xml,
    /// A host's configuration: `ipconfig /all`, or cmdlets' `ConvertTo-Json` (src/config).
    Config,
    /// A node's `cluster.log` (Get-ClusterLog).
    ClusterLog,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Xml => "xml",
            Format::Config => "config",
            Format::ClusterLog => "cluster.log",
        }
    }
}

/// One file of the case.
#[derive(Debug, Clone)]
pub struct Input {
    /// The path shown in reports: relative to the argument it came from.
    pub display: String,
    /// Where to read it.
    pub source: Source,
    pub format: Format,
    /// What discovery already found wrong with it (a damaged zip entry), for its report.
    pub notes: Vec<String>,
}

/// One event as the log wrote it, before it is normalized into a signal.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub input: usize,
    pub record_id: u64,
    pub time: DateTime<Utc>,
    pub provider: String,
    pub event_id: u32,
    pub channel: String,
    pub computer: String,
    /// EventData / UserData items in document order: named items by name, unnamed `<Data>` as
    /// `Data[i]`, `<Binary>` as `Binary` (hex), UserData leaves by element name.
    pub data: Vec<(String, String)>,
}

/// How reading one input went: what SPEC §5.2 calls an entry of `inputs`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputReport {
    pub path: String,
    pub format: String,
    pub records: u64,
    pub events_used: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub chunks_skipped: u64,
    pub records_lost: u64,
    pub warnings: Vec<String>,
    /// What the file holds per (computer, channel): the coverage of SPEC §2. An EVTX file's
    /// records that were never rendered count for the computer and channel of the records
    /// that were (an exported log holds one channel of one computer).
    #[serde(skip)]
    pub logs: BTreeMap<(String, String), LogSpan>,
    /// Records carved from unallocated chunk space (not among `records`; the warnings say
    /// how many, since the JSON schema has no key for them).
    #[serde(skip)]
    pub recovered: u64,
    /// Wanted events beyond [`Wanted::max_events`], counted and not kept (a warning says so).
    #[serde(skip)]
    pub events_left_out: u64,
}

/// The records of one log of one computer, as far as one input holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSpan {
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub records: u64,
    pub min_id: Option<u64>,
    pub max_id: Option<u64>,
}

impl LogSpan {
    pub fn add(&mut self, time: DateTime<Utc>, record_id: u64) {
        self.records += 1;
        self.widen(Some(time), Some(time), Some(record_id), Some(record_id));
    }

    pub fn merge(&mut self, other: &LogSpan) {
        self.records += other.records;
        self.widen(other.first, other.last, other.min_id, other.max_id);
    }

    fn widen(
        &mut self,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
        min_id: Option<u64>,
        max_id: Option<u64>,
    ) {
        self.first = pick(self.first, first, std::cmp::min);
        self.last = pick(self.last, last, std::cmp::max);
        self.min_id = pick(self.min_id, min_id, std::cmp::min);
        self.max_id = pick(self.max_id, max_id, std::cmp::max);
    }

    /// Record ids between the lowest and the highest that no record has: records cleared,
    /// overwritten or lost between the first and the last one the case holds.
    pub fn gaps(&self) -> u64 {
        match (self.min_id, self.max_id) {
            (Some(lo), Some(hi)) => (hi - lo + 1).saturating_sub(self.records),
            _ => 0,
        }
    }
}

fn pick<T: Copy>(a: Option<T>, b: Option<T>, f: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

impl InputReport {
    fn new(input: &Input) -> Self {
        InputReport {
            path: input.display.clone(),
            format: input.format.as_str().to_string(),
            warnings: input
                .notes
                .iter()
                .map(|n| format!("{}: {n}", input.display))
                .collect(),
            ..Default::default()
        }
    }

    /// Counts one record read and widens the time span it covers.
    fn saw(&mut self, time: DateTime<Utc>) {
        self.records += 1;
        self.first = Some(self.first.map_or(time, |t| t.min(time)));
        self.last = Some(self.last.map_or(time, |t| t.max(time)));
    }

    /// The computers the input names.
    pub fn computers(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(|(computer, _)| computer.as_str())
    }

    /// Adds a warning prefixed with the file, as every report prints it.
    fn warn(&mut self, message: impl std::fmt::Display) {
        self.warnings.push(format!("{}: {message}", self.path));
    }
}

/// Decides which records are worth building: the early filter of SPEC §7.
pub trait Wanted: Sync {
    /// A cheap first test on the event id alone (the id is all a record's substitution values
    /// tell without rendering it).
    fn id(&self, event_id: u32) -> bool;
    /// The full test, provider and id together (other providers reuse the same ids).
    fn event(&self, provider: &str, event_id: u32) -> bool;
    /// The providers that make an id wanted, as lower-case UTF-16LE bytes (how a record's
    /// template holds them), for the raw chunk scan; `None`: any provider.
    fn providers(&self, _event_id: u32) -> Option<&[Vec<u8>]> {
        None
    }
    /// The last test, on a built event: whether anything would be made of it (a text log's
    /// entries all share one provider and id, so only their contents tell).
    fn keeps(&self, _event: &RawEvent) -> bool {
        true
    }
    /// The most events one input keeps: memory stays bounded whatever a file holds.
    fn max_events(&self) -> usize {
        MAX_EVENTS_PER_INPUT
    }
    /// How many of an event's data items are read (the rest are left unread): a timeline
    /// line shows only the first values.
    fn items(&self) -> usize {
        xml::MAX_ITEMS
    }
    /// Whether an event logged at `time` may be wanted (`--since`/`--until`): records outside
    /// are counted, never rendered.
    fn time(&self, _time: DateTime<Utc>) -> bool {
        true
    }
    /// Whether events logged from `first` to `last` may hold a wanted time.
    fn overlaps(&self, _first: DateTime<Utc>, _last: DateTime<Utc>) -> bool {
        true
    }
    /// Takes events as soon as they are read, on the thread that read them (a chunk of an
    /// EVTX file at a time): what it leaves in `events` is kept. `timeline --all` streams
    /// every event out so, holding none; by default all are kept.
    fn take(&self, _events: &mut Vec<RawEvent>) {}
    /// Where a reader that reads records one by one without building events (a sound EVTX
    /// chunk) writes the events instead, when it may: one per chunk, finished once the chunk
    /// is read, dropped unfinished when the chunk must be read again another way.
    fn sink(&self) -> Option<Box<dyn ChunkSink + '_>> {
        None
    }
}

/// A FILETIME (100 ns since 1601, as EVTX record headers and values hold it) as a UTC time;
/// `None` past what `DateTime` holds.
pub(super) fn filetime_utc(ticks: u64) -> Option<DateTime<Utc>> {
    const SECONDS_1601_TO_1970: i64 = 11_644_473_600;
    let seconds = (ticks / 10_000_000) as i64 - SECONDS_1601_TO_1970;
    DateTime::from_timestamp(seconds, (ticks % 10_000_000) as u32 * 100)
}

/// `filetime_utc` for times that fall on a few days, as a chunk's records do: the date of
/// the last day asked for is kept, so only the time of day is worked out again.
#[derive(Default)]
pub(super) struct FiletimeDays(Option<(u64, chrono::NaiveDate)>);

impl FiletimeDays {
    pub(super) fn utc(&mut self, ticks: u64) -> Option<DateTime<Utc>> {
        const TICKS_PER_DAY: u64 = 86_400 * 10_000_000;
        let (day, of_day) = (ticks / TICKS_PER_DAY, ticks % TICKS_PER_DAY);
        let date = match self.0 {
            Some((known, date)) if known == day => date,
            _ => {
                let date = filetime_utc(day * TICKS_PER_DAY)?.date_naive();
                self.0 = Some((day, date));
                date
            }
        };
        let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
            (of_day / 10_000_000) as u32,
            (of_day % 10_000_000) as u32 * 100,
        )?;
        Some(date.and_time(time).and_utc())
    }
}

/// 1970-01-01 as a FILETIME.
pub(super) const FILETIME_1970: u64 = 116_444_736_000_000_000;

/// How many of an event's values a timeline line shows.
pub const FIRST_VALUES: usize = 4;

/// The first [`FIRST_VALUES`] of `values` (all a timeline line shows of an event's data), and
/// how many there are.
pub fn first_values<'a>(values: impl Iterator<Item = &'a str>) -> ([&'a str; FIRST_VALUES], usize) {
    let mut firsts = [""; FIRST_VALUES];
    let mut n = 0;
    for (slot, value) in firsts.iter_mut().zip(values) {
        *slot = value;
        n += 1;
    }
    (firsts, n)
}

/// Takes a chunk's events one by one as they are read (`Wanted::sink`).
pub trait ChunkSink {
    fn event(&mut self, event: &EventRef);
    /// The chunk is read: its events are final.
    fn finish(self: Box<Self>);
}

/// An event as a `ChunkSink` sees it: borrowed, with the values a timeline line shows.
pub struct EventRef<'a> {
    pub input: usize,
    pub record_id: u64,
    pub time: DateTime<Utc>,
    pub provider: &'a str,
    pub event_id: u32,
    pub channel: &'a str,
    pub computer: &'a str,
    /// The first data values (up to four).
    pub firsts: &'a [&'a str],
}

impl RawEvent {
    /// Hands the event to `f` as an `EventRef`.
    pub fn with_ref<T>(&self, f: impl FnOnce(&EventRef) -> T) -> T {
        let (firsts, n) = first_values(self.data.iter().map(|(_, v)| v.as_str()));
        f(&EventRef {
            input: self.input,
            record_id: self.record_id,
            time: self.time,
            provider: &self.provider,
            event_id: self.event_id,
            channel: &self.channel,
            computer: &self.computer,
            firsts: &firsts[..n],
        })
    }
}

/// Another `Wanted` limited to a span of time, widened by [`WINDOW_MARGIN_HOURS`] on each
/// side: the exact `--since`/`--until` apply after each host's clock is corrected, which
/// moves its events by the estimated offset.
pub struct Windowed<'a> {
    pub inner: &'a dyn Wanted,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// How far outside `--since`/`--until` records are still read.
pub const WINDOW_MARGIN_HOURS: i64 = 1;

impl<'a> Windowed<'a> {
    pub fn new(
        inner: &'a dyn Wanted,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Self {
        let margin = chrono::Duration::hours(WINDOW_MARGIN_HOURS);
        Windowed {
            inner,
            from: since.and_then(|t| t.checked_sub_signed(margin)),
            to: until.and_then(|t| t.checked_add_signed(margin)),
        }
    }
}

impl Wanted for Windowed<'_> {
    fn id(&self, event_id: u32) -> bool {
        self.inner.id(event_id)
    }
    fn event(&self, provider: &str, event_id: u32) -> bool {
        self.inner.event(provider, event_id)
    }
    fn providers(&self, event_id: u32) -> Option<&[Vec<u8>]> {
        self.inner.providers(event_id)
    }
    fn keeps(&self, event: &RawEvent) -> bool {
        self.inner.keeps(event)
    }
    fn max_events(&self) -> usize {
        self.inner.max_events()
    }
    fn items(&self) -> usize {
        self.inner.items()
    }
    fn time(&self, time: DateTime<Utc>) -> bool {
        self.overlaps(time, time)
    }
    fn overlaps(&self, first: DateTime<Utc>, last: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| last >= f) && self.to.is_none_or(|t| first <= t)
    }
    fn take(&self, events: &mut Vec<RawEvent>) {
        self.inner.take(events);
    }
    fn sink(&self) -> Option<Box<dyn ChunkSink + '_>> {
        self.inner.sink()
    }
}

/// The most wanted events kept from one input. A cluster's real logs hold a few thousand of
/// the events the rules read; a file with more is a flood, and the rest are counted, not kept.
pub const MAX_EVENTS_PER_INPUT: usize = 50_000;

/// The warning for an input that held more wanted events than it may keep.
pub fn too_many_events(kept: usize, left_out: u64) -> String {
    format!(
        "more events of the kinds hvtriage reads than one log of a real case holds: the first {kept} were kept and {left_out} left out; narrow the time range with --since/--until, or check what wrote this file"
    )
}

/// Accepts every record (`timeline --all`).
pub struct Everything;

impl Wanted for Everything {
    fn id(&self, _: u32) -> bool {
        true
    }
    fn event(&self, _: &str, _: u32) -> bool {
        true
    }
    /// `timeline --all` prints every record it reads.
    fn max_events(&self) -> usize {
        usize::MAX
    }
}

/// Reads one input, keeping the events `wanted` accepts; the bytes read are added to
/// `progress` as reading goes.
pub fn read(
    index: usize,
    input: &Input,
    wanted: &dyn Wanted,
    progress: &Progress,
) -> (InputReport, Vec<RawEvent>) {
    let (report, mut events) = match input.format {
        // Hands each chunk's events to `wanted.take` as it goes.
        Format::Evtx => return evtx::read(index, input, wanted, progress),
        Format::Xml => xml::read(index, input, wanted, progress),
        Format::ClusterLog => clusterlog::read(index, input, wanted, progress),
        // Read by `read_config`: a configuration holds no events.
        Format::Config => (InputReport::new(input), Vec::new()),
    };
    wanted.take(&mut events);
    (report, events)
}

/// Reads one configuration input: the host's configuration and the input's report (records:
/// the adapters, switches, routes and team members it gave).
pub fn read_config(input: &Input, progress: &Progress) -> (InputReport, crate::config::HostConfig) {
    let mut report = InputReport::new(input);
    let bytes = match input
        .source
        .read_all(crate::config::MAX_CONFIG_BYTES as u64)
    {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            report.warn(format!(
                "more than a host's configuration ({} MiB at most): not read",
                crate::config::MAX_CONFIG_BYTES >> 20
            ));
            return (report, crate::config::HostConfig::default());
        }
        Err(err) => {
            report.warn(format!("not read ({err})"));
            return (report, crate::config::HostConfig::default());
        }
    };
    progress.add(bytes.len() as u64);
    // A file named on the command line shows as its bare name: its folder is on disk.
    let parent = match &input.source {
        Source::File(path) => path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
        _ => None,
    };
    let host = folder_host(&input.display).or(parent.as_deref());
    let (config, warnings) = crate::config::read(&bytes, &input.display, host);
    report.records = (config.adapters.len()
        + config.switches.len()
        + config.routes.len()
        + config.host_vnics.len()
        + config.team_members.len()) as u64;
    report.warnings.extend(warnings);
    (report, config)
}

/// The folder a file is in (`HV01/switch.json` → `HV01`, `case.zip!HV01/x.json` → `HV01`):
/// the host of a file that names none.
fn folder_host(display: &str) -> Option<&str> {
    let inner = display.rsplit('!').next().unwrap_or(display);
    let mut parts = inner.rsplit('/');
    parts.next()?;
    parts.next().filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{Wanted, Windowed, FIRST_VALUES};

    #[test]
    fn filetime_days_give_what_filetime_utc_gives() {
        let mut days = super::FiletimeDays::default();
        let day = 86_400 * 10_000_000u64;
        let times = [
            super::FILETIME_1970,
            super::FILETIME_1970 + 1,
            super::FILETIME_1970 + day - 1,
            super::FILETIME_1970 + day,
            133_000_000_000_000_000,
            133_000_000_000_000_000 + 1234567,
            0,
            day - 1,
            u64::MAX,
        ];
        for ticks in times.into_iter().chain(times.into_iter().rev()) {
            assert_eq!(days.utc(ticks), super::filetime_utc(ticks), "{ticks}");
        }
    }

    /// Wants the first values only, as `timeline --all` does.
    struct Firsts;

    impl Wanted for Firsts {
        fn id(&self, _: u32) -> bool {
            true
        }
        fn event(&self, _: &str, _: u32) -> bool {
            true
        }
        fn max_events(&self) -> usize {
            7
        }
        fn items(&self) -> usize {
            FIRST_VALUES
        }
    }

    #[test]
    fn a_window_passes_on_what_it_wraps_wants() {
        let windowed = Windowed::new(&Firsts, None, None);
        assert_eq!(windowed.items(), FIRST_VALUES);
        assert_eq!(windowed.max_events(), 7);
    }
}
