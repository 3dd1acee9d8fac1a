//! EVTX files, read chunk by chunk with the `evtx` crate. A record is rendered (as XML, then
//! read like any Event XML) only when its event id is one a signal wants; a damaged chunk
//! costs only its own records, and every loss is reported.

use super::source::{ByteSource, Opened, Progress};
use super::xml::{parse_event, BadEvent, Seen};
use super::{prescan, template};
use super::{EventRef, Input, InputReport, LogSpan, RawEvent, Wanted};
use chrono::{DateTime, Utc};
use evtx::binxml::value_variant::BinXmlValue;
use evtx::binxml::BinXmlTemplateValues;
use evtx::{EvtxChunkData, EvtxRecord, ParserSettings};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};

const FILE_HEADER_BYTES: u64 = 4096;
const CHUNK_BYTES: u64 = 65536;
/// Index of the EventID among the substitution values of Windows' System template.
const EVENT_ID_SUBSTITUTION: usize = 3;
/// How many record errors of one chunk are spelled out; the rest are counted.
const RECORD_ERRORS_SHOWN: usize = 3;

/// What one chunk gave.
#[derive(Default)]
struct ChunkRead {
    /// Records rendered, by (computer, channel).
    seen: BTreeMap<(String, String), LogSpan>,
    /// Records counted without rendering (header only).
    rest: LogSpan,
    events: Vec<RawEvent>,
    skipped: bool,
    /// The chunk is all zeroes (space reserved, or wiped).
    zeroed: bool,
    lost: u64,
    /// Records carved from the chunk's unallocated space (`recover_records`).
    recovered: u64,
    /// Record ids of the recovered records kept as events: they are marked in the warnings.
    recovered_events: Vec<u64>,
    warnings: Vec<String>,
}

impl ChunkRead {
    /// Counts a rendered record for its computer and channel.
    fn see(&mut self, computer: &str, channel: &str, time: DateTime<Utc>, record_id: u64) {
        // A chunk's records are nearly always of one computer and channel: no key is built.
        let last = self
            .seen
            .iter_mut()
            .next_back()
            .filter(|((c, ch), _)| c == computer && ch == channel);
        match last {
            Some((_, span)) => span.add(time, record_id),
            None => self
                .seen
                .entry((computer.to_string(), channel.to_string()))
                .or_default()
                .add(time, record_id),
        }
    }

    fn see_event(&mut self, seen: Seen) {
        self.see(&seen.computer, &seen.channel, seen.time, seen.record_id);
    }

    fn records(&self) -> u64 {
        self.rest.records + self.seen.values().map(|s| s.records).sum::<u64>()
    }
}

/// Where a chunk header keeps its tables of string and template offsets (64 and 32 slots).
const CACHE_TABLES: std::ops::Range<usize> = 128..512;

/// Chunk buffers a file keeps for its next chunks (as many as threads read at once, and more).
const KEPT_BUFFERS: usize = 16;

/// Chunks read in parallel before their events are counted against the input's limit.
const WINDOW_CHUNKS: u64 = 64;

/// Reads an EVTX file, its chunks in parallel.
pub fn read(
    index: usize,
    input: &Input,
    wanted: &dyn Wanted,
    progress: &Progress,
) -> (InputReport, Vec<RawEvent>) {
    let file = match EvtxFile::open(index, input) {
        Ok(file) => file,
        Err(report) => return (*report, Vec::new()),
    };
    let chunks = file.chunks();
    // Chunks are read in parallel a window at a time, and events past the input's limit are
    // counted and dropped as each window is done: memory stays bounded, and which events are
    // kept (the first in file order) does not depend on the threads.
    let mut reads: Vec<Chunk> = Vec::with_capacity(chunks.min(1 << 16) as usize);
    let (mut kept, limit) = (0usize, wanted.max_events());
    let mut left_out = 0u64;
    for window in (0..chunks).step_by(WINDOW_CHUNKS as usize) {
        let mut part: Vec<Chunk> = (window..(window + WINDOW_CHUNKS).min(chunks))
            .into_par_iter()
            .map(|n| file.read(n, wanted, progress))
            .collect();
        for Chunk(chunk) in &mut part {
            let room = limit - kept;
            if chunk.events.len() > room {
                left_out += (chunk.events.len() - room) as u64;
                chunk.events.truncate(room);
                chunk.events.shrink_to_fit();
            }
            kept += chunk.events.len();
        }
        reads.extend(part);
    }
    let (mut report, events) = file.finish(reads);
    report.events_left_out += left_out;
    if report.events_left_out > 0 {
        let line = super::too_many_events(events.len(), report.events_left_out);
        report.warn(line);
    }
    (report, events)
}

/// An EVTX file opened to be read a chunk at a time, its chunks in any order and on any
/// thread (`timeline --all` reads every file's chunks in time order); [`EvtxFile::finish`]
/// adds up what they gave.
pub struct EvtxFile {
    index: usize,
    opened: Opened,
    report: InputReport,
    whole: u64,
    tail: u64,
    settings: Arc<ParserSettings>,
    known: Arc<template::Known>,
    /// Chunk buffers read into before, for the next chunks.
    buffers: Mutex<Vec<Vec<u8>>>,
    /// The chunks whose checksum [`EvtxFile::times`] found to match: read again, they are not
    /// checked a second time.
    matched: Vec<AtomicBool>,
}

/// What one chunk gave, for [`EvtxFile::finish`].
pub struct Chunk(ChunkRead);

impl EvtxFile {
    /// Opens the file and reads its header.
    ///
    /// # Errors
    /// The input's report, saying why, when it cannot be opened.
    pub fn open(index: usize, input: &Input) -> Result<EvtxFile, Box<InputReport>> {
        let mut report = InputReport::new(input);
        let opened = match input.source.open() {
            Ok(opened) => opened,
            Err(err) => {
                report.warn(format!("cannot be read ({err}); skipped"));
                return Err(Box::new(report));
            }
        };
        let len = opened.bytes().len();
        check_header(opened.bytes(), len, &mut report);
        let (whole, tail) = (
            len.saturating_sub(FILE_HEADER_BYTES) / CHUNK_BYTES,
            len.saturating_sub(FILE_HEADER_BYTES) % CHUNK_BYTES,
        );
        Ok(EvtxFile {
            index,
            opened,
            report,
            whole,
            tail,
            settings: Arc::new(ParserSettings::new().num_threads(1).recover_records(true)),
            known: Arc::new(template::Known::default()),
            buffers: Mutex::default(),
            matched: (0..whole + u64::from(tail != 0))
                .map(|_| AtomicBool::new(false))
                .collect(),
        })
    }

    /// A buffer to read a chunk into: one read into before, or a new one.
    fn buffer(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// Keeps a buffer for the next chunk.
    fn keep(&self, buffer: Vec<u8>) {
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        if buffers.len() < KEPT_BUFFERS {
            buffers.push(buffer);
        }
    }

    /// How many chunks it holds; a cut-short last chunk is read too: the records before the
    /// cut are whole.
    pub fn chunks(&self) -> u64 {
        self.whole + u64::from(self.tail != 0)
    }

    /// Reads chunk `number`; its events go to `wanted.take` first.
    pub fn read(&self, number: u64, wanted: &dyn Wanted, progress: &Progress) -> Chunk {
        let matched = usize::try_from(number)
            .ok()
            .and_then(|n| self.matched.get(n))
            .is_some_and(|m| m.load(AtomicOrdering::Relaxed));
        let (mut chunk, buffer) = self.read_chunk(number, wanted, self.buffer(), matched);
        if let Some(buffer) = buffer {
            self.keep(buffer);
        }
        wanted.take(&mut chunk.events);
        progress.add(CHUNK_BYTES);
        Chunk(chunk)
    }

    /// The earliest and latest event times of chunk `number`, read from its records without
    /// the rest of their events: `None` unless every record is read the way [`EvtxFile::read`]
    /// reads a sound chunk's, or when the chunk holds no record.
    pub fn times(&self, number: u64) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let data = self.chunk_bytes(number, self.buffer()).ok()?;
        let chunk = EvtxChunkData::new(data, false).ok()?;
        let matched = chunk.validate_checksum();
        if let Some(m) = usize::try_from(number)
            .ok()
            .and_then(|n| self.matched.get(n))
        {
            m.store(matched, AtomicOrdering::Relaxed);
        }
        let times = if !matched || slack_holds_records(&chunk.data) {
            None
        } else {
            let end = (chunk.header.free_space_offset as usize).min(chunk.data.len());
            template::chunk_times(
                &chunk.data,
                end,
                chunk.header.last_event_record_id,
                &mut template::Shapes::sharing(&self.known),
            )
        };
        self.keep(chunk.data);
        times
    }

    /// The input's report, and its events in file order, from what its chunks gave (in file
    /// order).
    pub fn finish(mut self, chunks: Vec<Chunk>) -> (InputReport, Vec<RawEvent>) {
        if self.tail != 0 {
            self.report.warn(format!(
                "file is cut short: its last chunk ({}) has only {} of {CHUNK_BYTES} bytes; the records before the cut were read",
                self.whole, self.tail
            ));
        }
        let events = merge(
            &mut self.report,
            chunks.into_iter().map(|Chunk(c)| c).collect(),
        );
        (self.report, events)
    }
}

/// Adds up what the chunks gave, in file order.
fn merge(report: &mut InputReport, reads: Vec<ChunkRead>) -> Vec<RawEvent> {
    let last_used = reads.iter().rposition(|c| c.records() > 0);
    let mut events = Vec::new();
    let mut rest = LogSpan::default();
    // The log the file holds: that of its first rendered record (chunks are in file order).
    let primary = reads.iter().find_map(|c| c.seen.keys().next().cloned());
    let mut recovered_in = Vec::new();
    let mut recovered_events = Vec::new();
    for (number, chunk) in reads.into_iter().enumerate() {
        // Zeroes before the last chunk that holds records are a hole in the log, not
        // space it never used.
        if chunk.zeroed && last_used.is_some_and(|last| number < last) {
            report.chunks_skipped += 1;
            report.warn(format!(
                "chunk {number} is all zeroes although later chunks hold records: it was wiped or never written, and any records it held are lost"
            ));
        }
        for (key, span) in &chunk.seen {
            report.logs.entry(key.clone()).or_default().merge(span);
        }
        rest.merge(&chunk.rest);
        report.chunks_skipped += u64::from(chunk.skipped);
        report.records_lost += chunk.lost;
        if chunk.recovered > 0 {
            report.recovered += chunk.recovered;
            recovered_in.push(number.to_string());
            recovered_events.extend(chunk.recovered_events);
        }
        for w in chunk.warnings {
            report.warn(w);
        }
        events.extend(chunk.events);
    }
    let mut total = rest.clone();
    for span in report.logs.values() {
        total.merge(span);
    }
    report.records = total.records;
    report.first = total.first;
    report.last = total.last;
    if let Some(key) = primary {
        report.logs.entry(key).or_default().merge(&rest);
    }
    if report.recovered > 0 {
        report.warn(format!(
            "{} records recovered from unallocated space of chunk(s) {} (deleted or overwritten records; they may be older than the live ones)",
            report.recovered,
            recovered_in.join(", ")
        ));
    }
    if !recovered_events.is_empty() {
        report.warn(recovered_used(&recovered_events));
    }
    report.events_used = events.len() as u64;
    events
}

/// Notes what the file header says that matters to a reader; the chunks are read either way.
fn check_header(bytes: &dyn ByteSource, len: u64, report: &mut InputReport) {
    let mut header = vec![0u8; FILE_HEADER_BYTES as usize];
    if bytes.read_at(&mut header, 0).is_err() {
        report.warn(format!(
            "file header is cut short ({len} of {FILE_HEADER_BYTES} bytes); no chunk could be read"
        ));
        return;
    }
    let flags = u32::from_le_bytes([header[120], header[121], header[122], header[123]]);
    if flags & 1 != 0 {
        // Normal for a log copied while in use: the chunks, not the header, are the truth.
        report.warn("file header is marked dirty (copied while open); all chunks were read");
    }
    if len < FILE_HEADER_BYTES + CHUNK_BYTES {
        report.warn("file holds no whole chunk");
    }
}

impl EvtxFile {
    /// Reads chunk `number` into `buffer`; `matched`: its checksum was found to match
    /// before.
    fn read_chunk(
        &self,
        number: u64,
        wanted: &dyn Wanted,
        buffer: Vec<u8>,
        matched: bool,
    ) -> (ChunkRead, Option<Vec<u8>>) {
        let mut out = ChunkRead::default();
        let data = match self.chunk_bytes(number, buffer) {
            Ok(data) => data,
            Err(err) => {
                out.skipped = true;
                out.warnings
                    .push(format!("chunk {number}: cannot be read ({err})"));
                return (out, None);
            }
        };
        if data.iter().all(|b| *b == 0) {
            // Space the log reserved but never wrote, unless later chunks hold records: the
            // caller decides, seeing them all.
            out.zeroed = true;
            return (out, Some(data));
        }
        let mut chunk = match EvtxChunkData::new(data, false) {
            Ok(chunk) => chunk,
            Err(err) => {
                out.skipped = true;
                out.warnings
                    .push(format!("chunk {number} skipped: not a valid chunk ({err})"));
                return (out, None);
            }
        };
        self.read_chunk_data(number, &mut chunk, wanted, matched, &mut out);
        (out, Some(chunk.data))
    }

    /// Reads a chunk's records into `out`.
    fn read_chunk_data(
        &self,
        number: u64,
        chunk: &mut EvtxChunkData,
        wanted: &dyn Wanted,
        matched: bool,
        out: &mut ChunkRead,
    ) {
        let (index, settings, known) = (self.index, &self.settings, &self.known);
        chunk.number = Some(number);
        let declared = declared_records(chunk);
        // A file read twice (`timeline --all`) is the same file: a checksum that matched the
        // first time is not worked out again.
        let checksum_ok = matched || chunk.validate_checksum();
        if !checksum_ok {
            out.warnings.push(format!(
                "chunk {number}: checksum does not match; its records were read but may be damaged"
            ));
        }
        // The first chunk is always read: its records name the file's computer (the host list).
        let scan = prescan::scan(&chunk.data, wanted);
        // A chunk whose records all fall outside --since/--until is counted like one of no
        // wanted event (its first and last records bound it: a log is written in time order).
        let (a, b) = (
            from_filetime(scan.first_filetime),
            from_filetime(scan.last_filetime),
        );
        let in_time = scan.records == 0 || wanted.overlaps(a.min(b), a.max(b));
        if (!scan.read || !in_time) && number != 0 && !slack_holds_records(&chunk.data) {
            if scan.records > 0 {
                out.rest = LogSpan {
                    first: Some(from_filetime(scan.first_filetime.min(scan.last_filetime))),
                    last: Some(from_filetime(scan.first_filetime.max(scan.last_filetime))),
                    records: scan.records,
                    min_id: Some(scan.first_record_id.min(scan.last_record_id)),
                    max_id: Some(scan.first_record_id.max(scan.last_record_id)),
                };
            }
            return;
        }
        // A sound chunk is read straight from its bytes, without the crate's tables of its
        // strings and templates (`read_direct` looks names and templates up where records
        // point).
        if checksum_ok && !slack_holds_records(&chunk.data) {
            if let Some(direct) = read_direct(index, chunk, known, wanted) {
                out.seen = direct.seen;
                out.rest = direct.rest;
                out.events = direct.events;
                return;
            }
        }
        // The chunk header's tables of string and template offsets are only caches of what the
        // records point at themselves: when one damaged slot stops the chunk, it is read again
        // with the tables cleared (its records then look their names and templates up directly).
        let mut cleared: Option<EvtxChunkData>;
        let mut first_error = None;
        let parsed = match chunk.parse(settings.clone()) {
            Ok(parsed) => Ok(parsed),
            Err(err) => {
                first_error = Some(err.to_string());
                let mut data = chunk.data.clone();
                data[CACHE_TABLES].fill(0);
                cleared = EvtxChunkData::new(data, false).ok();
                match cleared.as_mut() {
                    Some(again) => again.parse(settings.clone()).map_err(|e| e.to_string()),
                    None => Err(err.to_string()),
                }
            }
        };
        let mut parsed = match parsed {
            Ok(parsed) => {
                if let Some(err) = &first_error {
                    out.warnings.push(format!(
                    "chunk {number}: its table of strings and templates is damaged ({err}); read again without it"
                ));
                }
                parsed
            }
            Err(err) => {
                out.skipped = true;
                out.lost = declared;
                out.warnings.push(format!(
                    "chunk {number} skipped ({}): up to {declared} records lost",
                    first_error.unwrap_or(err)
                ));
                return;
            }
        };
        let mut errors = 0usize;
        let mut shapes = template::Shapes::sharing(known);
        for record in parsed.iter() {
            match record {
                Ok(record) if record.recovered => read_recovered(index, record, wanted, out),
                Ok(record) => read_record(index, record, wanted, Some(&mut shapes), out),
                Err(err) => {
                    errors += 1;
                    if errors <= RECORD_ERRORS_SHOWN {
                        out.warnings
                            .push(format!("chunk {number}: record unreadable ({err})"));
                    }
                }
            }
        }
        if errors > RECORD_ERRORS_SHOWN {
            out.warnings.push(format!(
                "chunk {number}: {} more unreadable records",
                errors - RECORD_ERRORS_SHOWN
            ));
        }
        // A chunk header's record range is stale in a dirty log, so only records that failed
        // to read count as lost.
        out.lost += errors as u64;
    }
}

/// Reads a sound chunk's records straight from their bytes: each record's header, then its
/// template instance (`template::read_bytes`), as the crate's iterator would walk them (from
/// the chunk header to the free space, or the header's last record). `None` when any record
/// is not of the plain shape, or the walk does not end where the crate's would: the crate's
/// iterator then reads the whole chunk.
fn read_direct(
    index: usize,
    chunk: &EvtxChunkData,
    known: &Arc<template::Known>,
    wanted: &dyn Wanted,
) -> Option<ChunkRead> {
    let data = chunk.data.as_slice();
    let end = (chunk.header.free_space_offset as usize).min(data.len());
    let mut out = ChunkRead::default();
    let mut shapes = template::Shapes::sharing(known);
    let mut scratch = template::Scratch::default();
    let mut sink = wanted.sink();
    let mut at = prescan::CHUNK_HEADER_BYTES;
    while at < end {
        let record = prescan::record_at(data, at, end)?;
        at += record.size;
        let header_time = from_filetime(record.filetime);
        let first = out.seen.is_empty();
        if !first && !wanted.time(header_time) {
            out.rest.add(header_time, record.id);
        } else {
            let view =
                template::view_bytes(data, record.binxml, &mut shapes, &mut scratch, wanted)?;
            if view.record_id != record.id {
                return None;
            }
            out.see(view.computer, view.channel, view.time, view.record_id);
            if let (true, Some(sink)) = (view.wanted, sink.as_mut()) {
                let (firsts, n) = super::first_values(view.values());
                sink.event(&EventRef {
                    input: index,
                    record_id: view.record_id,
                    time: view.time,
                    provider: view.provider,
                    event_id: view.event_id,
                    channel: view.channel,
                    computer: view.computer,
                    firsts: &firsts[..n],
                });
            } else {
                out.events.extend(view.event(index));
            }
        }
        if record.id == chunk.header.last_event_record_id {
            break;
        }
    }
    if at != end && data[at..end].iter().any(|b| *b != 0) {
        return None;
    }
    if let Some(sink) = sink {
        sink.finish();
    }
    Some(out)
}

/// How many records the chunk header says it holds (0 when the header makes no sense).
fn declared_records(chunk: &EvtxChunkData) -> u64 {
    let h = &chunk.header;
    if h.last_event_record_id >= h.first_event_record_id {
        (h.last_event_record_id - h.first_event_record_id + 1).min(CHUNK_BYTES / 28)
    } else {
        0
    }
}

/// Reads one record: through its template (`shapes`) when it has the plain shape, else
/// rendered to Event XML by the crate and parsed back.
fn read_record(
    index: usize,
    record: EvtxRecord,
    wanted: &dyn Wanted,
    shapes: Option<&mut template::Shapes>,
    out: &mut ChunkRead,
) {
    let header_time = to_chrono(record.timestamp);
    let record_id = record.event_record_id;
    // The chunk's first record is always read: it names the computer and channel.
    let first = out.seen.is_empty();
    if !first && !wanted.time(header_time) {
        out.rest.add(header_time, record_id);
        return;
    }
    let instances = record.template_instances().ok();
    if !first && !prefilter(instances.as_deref(), wanted) {
        out.rest.add(header_time, record_id);
        return;
    }
    let direct = instances
        .as_deref()
        .zip(shapes)
        .and_then(|(instances, shapes)| template::read(&record, instances, shapes, index, wanted));
    if let Some((seen, event)) = direct {
        out.see_event(seen);
        out.events.extend(event);
        return;
    }
    let xml = match record.into_xml() {
        Ok(xml) => xml.data,
        Err(err) => {
            out.rest.add(header_time, record_id);
            out.lost += 1;
            out.warnings
                .push(format!("record {record_id} cannot be rendered ({err})"));
            return;
        }
    };
    let parsed = roxmltree::Document::parse(&xml)
        .map_err(|err| BadEvent(err.to_string()))
        .and_then(|doc| parse_event(index, doc.root_element(), wanted));
    match parsed {
        Ok((seen, event)) => {
            out.see_event(seen);
            out.events.extend(event);
        }
        Err(BadEvent(why)) => {
            out.rest.add(header_time, record_id);
            out.lost += 1;
            out.warnings
                .push(format!("record {record_id} skipped: {why}"));
        }
    }
}

/// The early filter: decides from the substitution values alone whether a record may be
/// wanted. A record of another shape is always a candidate: the full test comes after.
fn prefilter(instances: Option<&[BinXmlTemplateValues]>, wanted: &dyn Wanted) -> bool {
    let Some(instances) = instances else {
        return true;
    };
    match instances
        .first()
        .and_then(|t| t.values.get(EVENT_ID_SUBSTITUTION))
    {
        Some(BinXmlValue::UInt16Type(id)) => wanted.id(u32::from(*id)),
        _ => true,
    }
}

fn to_chrono(t: evtx::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32).unwrap_or_default()
}

/// A FILETIME (100 ns since 1601) as a UTC time (1970 for one past what `DateTime` holds).
fn from_filetime(filetime: u64) -> DateTime<Utc> {
    super::filetime_utc(filetime).unwrap_or_default()
}

impl EvtxFile {
    /// The bytes of chunk `number`; a chunk cut short by the end of the file (its length
    /// when opened) is padded with zeroes (which read as free space), so the records before
    /// the cut are still read. `buffer` (a chunk's size, or empty) is read into.
    fn chunk_bytes(&self, number: u64, mut buffer: Vec<u8>) -> std::io::Result<Vec<u8>> {
        let offset = FILE_HEADER_BYTES + number * CHUNK_BYTES;
        let available = match number.cmp(&self.whole) {
            std::cmp::Ordering::Less => CHUNK_BYTES,
            std::cmp::Ordering::Equal => self.tail,
            std::cmp::Ordering::Greater => 0,
        } as usize;
        buffer.resize(CHUNK_BYTES as usize, 0);
        let bytes = self.opened.bytes();
        let available = match bytes.read_at(&mut buffer[..available], offset) {
            Ok(()) => available,
            Err(_) => {
                // Shorter than when it was opened: what is still there is read.
                let left = bytes.len().saturating_sub(offset).min(CHUNK_BYTES) as usize;
                bytes.read_at(&mut buffer[..left], offset)?;
                left
            }
        };
        buffer[available..].fill(0);
        Ok(buffer)
    }
}

/// Whether the unallocated space of a chunk (after its free-space offset) holds what looks
/// like a record: a deleted or overwritten record that `recover_records` may carve, so the
/// chunk cannot be ruled out by the scan of its live records alone.
fn slack_holds_records(data: &[u8]) -> bool {
    let free = data
        .get(48..52)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    data.get(free.max(512)..)
        .is_some_and(|slack| slack.windows(4).any(|w| w == b"\x2a\x2a\x00\x00"))
}

/// A record carved from unallocated space: used like a live one when it parses, but counted
/// apart (it is not one of the log's live records).
fn read_recovered(index: usize, record: EvtxRecord, wanted: &dyn Wanted, out: &mut ChunkRead) {
    let record_id = record.event_record_id;
    let mut carved = ChunkRead {
        seen: out.seen.clone(),
        ..Default::default()
    };
    // Carved bytes may point at anything: the crate renders them, never the template reader.
    read_record(index, record, wanted, None, &mut carved);
    // Noise that looked like a record is not a loss: only what parsed is kept.
    if carved.lost == 0 {
        out.recovered += 1;
        if !carved.events.is_empty() {
            out.recovered_events.push(record_id);
        }
        out.events.extend(carved.events);
    }
}

/// How many record ids of recovered events a warning names; the rest are counted.
const RECOVERED_IDS_SHOWN: usize = 10;

/// The warning that marks the recovered records which became events: a reader of the timeline
/// must know that evidence came from unallocated space.
fn recovered_used(ids: &[u64]) -> String {
    let shown: Vec<String> = ids
        .iter()
        .take(RECOVERED_IDS_SHOWN)
        .map(u64::to_string)
        .collect();
    let more = ids.len().saturating_sub(RECOVERED_IDS_SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} recovered records are events of the timeline (record ids {}{more}): weigh them as possibly stale",
        ids.len(),
        shown.join(", ")
    )
}
