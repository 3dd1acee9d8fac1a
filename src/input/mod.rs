//! Inputs: finding the files of a case, reading them, and keeping only the records a signal
//! wants. Everything read is counted in an [`InputReport`], so nothing is lost silently.

pub mod archive;
pub mod discover;
pub mod evtx;
pub mod prescan;
pub mod source;
pub mod xml;

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

pub use archive::ZipLimits;
pub use discover::{discover, Discovered, Skipped};
pub use source::{Progress, Source};

/// What a file holds, decided from its first bytes, never from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Evtx,
    Xml,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Xml => "xml",
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
    /// Every `<Computer>` the file names (for EVTX: of each chunk's first record, which
    /// costs one render per 64 KiB), so hosts with no known event still count.
    #[serde(skip)]
    pub computers: BTreeSet<String>,
    /// Records carved from unallocated chunk space (not among `records`; the warnings say
    /// how many, since the JSON schema has no key for them).
    #[serde(skip)]
    pub recovered: u64,
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
}

/// Reads one input, keeping the events `wanted` accepts; the bytes read are added to
/// `progress` as reading goes.
pub fn read(
    index: usize,
    input: &Input,
    wanted: &dyn Wanted,
    progress: &Progress,
) -> (InputReport, Vec<RawEvent>) {
    match input.format {
        Format::Evtx => evtx::read(index, input, wanted, progress),
        Format::Xml => xml::read(index, input, wanted, progress),
    }
}
