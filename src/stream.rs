//! `timeline --all`: every record of a case, in time order, written as it is read rather than
//! held as signals (SPEC §7).
//!
//! Each chunk's events become one block of encoded lines on the thread that read it (the line
//! already written in the chosen format, behind the key that orders it), sorted there. Blocks
//! wait in memory up to a budget; past it they are merged into one sorted run in a temporary
//! file. At the end the blocks, or the runs, are merged into the output: repeats of one event
//! (one record in two files) are dropped, and the lines numbered. Memory is the budget, however
//! large the case.

use crate::input::{self, ChunkSink, EventRef, InputReport, RawEvent, Wanted};
use crate::report::{self, Line};
use crate::{signal, timeline, Error, Options};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::Mutex;

/// How the lines are written: the formats of `timeline --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Jsonl,
}

/// Encoded lines held in memory before they go to a temporary file as one sorted run.
pub const MEMORY_BUDGET: usize = 128 << 20;

/// What streaming the timeline read and wrote.
#[derive(Debug, Default)]
pub struct Streamed {
    pub inputs: Vec<InputReport>,
    pub warnings: Vec<String>,
    /// Lines written (repeats of one event dropped).
    pub lines: u64,
    /// Sorted runs written to temporary files (0: the timeline fit in `budget`).
    pub runs: usize,
}

/// Why streaming stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Case(#[from] Error),
    /// Writing the output or a temporary run failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads every input of `paths` and writes every event, in time order, to `out`, holding at
/// most about `budget` bytes of lines in memory.
///
/// # Errors
/// [`StreamError::Case`] when nothing is readable (nothing is written then),
/// [`StreamError::Io`] when `out` or a temporary file cannot be written.
pub fn timeline_all(
    paths: &[std::path::PathBuf],
    options: &Options,
    format: Format,
    budget: usize,
    out: &mut dyn Write,
) -> Result<Streamed, StreamError> {
    let found = input::discover(paths, &options.zip_limits, &options.progress);
    let input_paths: Vec<String> = found.inputs.iter().map(|i| i.display.clone()).collect();
    let sink = Sink {
        format,
        time_zone: options.time_zone,
        since: options.since,
        until: options.until,
        input_paths: &input_paths,
        budget,
        store: Mutex::new(Store::default()),
    };
    let windowed = input::Windowed::new(&sink, options.since, options.until);
    let read: Vec<InputReport> = found
        .inputs
        .par_iter()
        .enumerate()
        .filter(|(_, inp)| inp.format != input::Format::Config)
        .map(|(i, inp)| input::read(i, inp, &windowed, &options.progress).0)
        .collect();
    let mut store = sink
        .store
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(err) = store.failed.take() {
        return Err(StreamError::Io(err));
    }
    if read.iter().all(|i| i.records == 0) {
        return Err(crate::nothing_readable(paths, &found.skipped, &read).into());
    }
    let mut streamed = Streamed {
        runs: store.runs.len(),
        ..Streamed::default()
    };
    for report in read {
        streamed.warnings.extend(report.warnings.iter().cloned());
        streamed.inputs.push(report);
    }
    for skipped in &found.skipped {
        if skipped.explicit {
            streamed
                .warnings
                .push(format!("{}: skipped: {}", skipped.path, skipped.reason));
        }
    }
    let mut writer = Writer {
        out,
        format,
        id: 0,
        last: Vec::new(),
        buf: Vec::with_capacity(WRITE_BYTES * 2),
    };
    if format == Format::Csv {
        writer
            .buf
            .extend_from_slice(report::csv::timeline_header().as_bytes());
    }
    if store.runs.is_empty() {
        merge_blocks(&store.blocks, |entry| writer.line(entry))?;
    } else {
        store.spill()?;
        streamed.runs = store.runs.len();
        merge_runs(std::mem::take(&mut store.runs), &mut writer)?;
    }
    writer.flush()?;
    streamed.lines = writer.id as u64;
    Ok(streamed)
}

/// Bytes of lines gathered before they are written out.
const WRITE_BYTES: usize = 1 << 16;

/// The `Wanted` of `timeline --all`: takes every event, and turns each chunk's into a block.
struct Sink<'a> {
    format: Format,
    time_zone: chrono_tz::Tz,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    input_paths: &'a [String],
    budget: usize,
    store: Mutex<Store>,
}

impl Wanted for Sink<'_> {
    fn id(&self, _: u32) -> bool {
        true
    }
    fn event(&self, _: &str, _: u32) -> bool {
        true
    }
    fn max_events(&self) -> usize {
        usize::MAX
    }
    fn items(&self) -> usize {
        input::FIRST_VALUES
    }
    fn take(&self, events: &mut Vec<RawEvent>) {
        if events.is_empty() {
            return;
        }
        let mut chunk = self.chunk();
        for event in events.drain(..) {
            event.with_ref(|e| chunk.event(e));
        }
        Box::new(chunk).finish();
    }
    fn sink(&self) -> Option<Box<dyn ChunkSink + '_>> {
        Some(Box::new(self.chunk()))
    }
}

impl Sink<'_> {
    fn chunk(&self) -> Chunk<'_> {
        Chunk {
            sink: self,
            block: Block {
                // Room for a chunk's lines from the start: no copies as it grows, and pages
                // never written are never taken.
                bytes: Vec::with_capacity(BLOCK_BYTES),
                starts: Vec::new(),
            },
            text: String::new(),
            line: String::new(),
            computer: String::new(),
            host: String::new(),
        }
    }

    /// Adds a finished block; past the budget, the blocks go to a sorted run.
    fn add(&self, block: Block) {
        if block.starts.is_empty() {
            return;
        }
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        store.bytes += block.bytes.len();
        store.blocks.push(block);
        if store.bytes > self.budget && store.failed.is_none() {
            if let Err(err) = store.spill() {
                store.failed = Some(err);
            }
        }
    }
}

/// One chunk's events becoming a block, with the buffers each line reuses.
struct Chunk<'s> {
    sink: &'s Sink<'s>,
    block: Block,
    text: String,
    line: String,
    /// The last computer seen and its host key.
    computer: String,
    host: String,
}

impl ChunkSink for Chunk<'_> {
    fn event(&mut self, event: &EventRef) {
        let sink = self.sink;
        if sink.since.is_some_and(|t| event.time < t) || sink.until.is_some_and(|t| event.time > t)
        {
            return;
        }
        if event.computer != self.computer {
            self.computer.clear();
            self.computer.push_str(event.computer);
            self.host = timeline::host_key(event.computer);
        }
        self.text.clear();
        signal::raw_text(
            event.provider,
            event.event_id,
            event.firsts.iter().copied(),
            &mut self.text,
        );
        let fields = BTreeMap::new();
        let l = Line {
            time: event.time,
            host: &self.host,
            signal: signal::RAW,
            provider: event.provider,
            event_id: event.event_id,
            channel: event.channel,
            record_id: event.record_id,
            input: event.input,
            input_path: sink.input_paths.get(event.input).map_or("", String::as_str),
            fields: &fields,
            text: &self.text,
        };
        let block = &mut self.block;
        let start = block.begin(&l);
        match sink.format {
            Format::Jsonl => report::json::line_without_id(&l, &mut block.bytes),
            Format::Csv => block
                .bytes
                .extend_from_slice(report::csv::timeline_line(&l, sink.time_zone).as_bytes()),
            Format::Text => {
                self.line.clear();
                report::terminal::timeline_line(&l, sink.time_zone, &mut self.line);
                block.bytes.extend_from_slice(self.line.as_bytes());
            }
        }
        block.end(start);
    }

    fn finish(self: Box<Self>) {
        let Chunk {
            sink, mut block, ..
        } = *self;
        block.sort();
        sink.add(block);
    }
}

/// Encoded lines, each: the key that orders it (seconds, nanoseconds, record id, input, the
/// lengths of host, channel and line), then host, channel and the line itself.
#[derive(Default)]
struct Block {
    bytes: Vec<u8>,
    /// Where each entry starts, in order once the block is sorted.
    starts: Vec<u32>,
}

const HEAD: usize = 32;

/// What a block reserves: about three times the lines of a full chunk of records.
const BLOCK_BYTES: usize = 256 << 10;

impl Block {
    /// Starts an entry for `l`: its key, host and channel; the line follows.
    fn begin(&mut self, l: &Line) -> usize {
        let start = self.bytes.len();
        let b = &mut self.bytes;
        b.extend_from_slice(&l.time.timestamp().to_le_bytes());
        b.extend_from_slice(&l.time.timestamp_subsec_nanos().to_le_bytes());
        b.extend_from_slice(&l.record_id.to_le_bytes());
        b.extend_from_slice(&(l.input as u32).to_le_bytes());
        let host = &l.host.as_bytes()[..l.host.len().min(usize::from(u16::MAX))];
        let channel = &l.channel.as_bytes()[..l.channel.len().min(usize::from(u16::MAX))];
        b.extend_from_slice(&(host.len() as u16).to_le_bytes());
        b.extend_from_slice(&(channel.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(host);
        b.extend_from_slice(channel);
        start
    }

    /// Ends the entry begun at `start`: the line's length goes into its key.
    fn end(&mut self, start: usize) {
        let head = Head::of(&self.bytes[start..]);
        let line = self.bytes.len() - start - HEAD - head.host - head.channel;
        self.bytes[start + 28..start + 32].copy_from_slice(&(line as u32).to_le_bytes());
        self.starts.push(start as u32);
    }

    /// Puts the entries in the timeline's order; a chunk's records nearly always are already.
    fn sort(&mut self) {
        let bytes = &self.bytes;
        let entry = |start: u32| {
            let rest = &bytes[start as usize..];
            &rest[..Head::of(rest).len()]
        };
        let order = |a: &u32, b: &u32| order_entries(entry(*a), entry(*b));
        if !self
            .starts
            .is_sorted_by(|a, b| order(a, b) != Ordering::Greater)
        {
            self.starts.sort_by(order);
        }
    }

    fn entry(&self, start: u32) -> &[u8] {
        let rest = &self.bytes[start as usize..];
        &rest[..Head::of(rest).len()]
    }
}

/// The fixed part of an entry.
struct Head {
    seconds: i64,
    nanos: u32,
    record_id: u64,
    input: u32,
    host: usize,
    channel: usize,
    line: usize,
}

impl Head {
    fn of(e: &[u8]) -> Head {
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([e[at], e[at + 1]]));
        let u32_at = |at: usize| u32::from_le_bytes([e[at], e[at + 1], e[at + 2], e[at + 3]]);
        let u64_at = |at: usize| {
            u64::from_le_bytes(e[at..at + 8].try_into().expect("eight bytes are eight"))
        };
        Head {
            seconds: u64_at(0) as i64,
            nanos: u32_at(8),
            record_id: u64_at(12),
            input: u32_at(20),
            host: u16_at(24),
            channel: u16_at(26),
            line: u32_at(28) as usize,
        }
    }

    fn len(&self) -> usize {
        HEAD + self.host + self.channel + self.line
    }

    fn host<'e>(&self, e: &'e [u8]) -> &'e [u8] {
        &e[HEAD..HEAD + self.host]
    }

    fn channel<'e>(&self, e: &'e [u8]) -> &'e [u8] {
        &e[HEAD + self.host..HEAD + self.host + self.channel]
    }

    fn line<'e>(&self, e: &'e [u8]) -> &'e [u8] {
        &e[HEAD + self.host + self.channel..self.len()]
    }
}

/// The timeline's order (`timeline::build`): time, host, channel, record id, input.
fn order_entries(a: &[u8], b: &[u8]) -> Ordering {
    let (x, y) = (Head::of(a), Head::of(b));
    (x.seconds, x.nanos)
        .cmp(&(y.seconds, y.nanos))
        .then_with(|| x.host(a).cmp(y.host(b)))
        .then_with(|| x.channel(a).cmp(y.channel(b)))
        .then(x.record_id.cmp(&y.record_id))
        .then(x.input.cmp(&y.input))
}

/// Whether `b` is a repeat of `a`: one event (time, host, channel whatever its case, record
/// id) read from two inputs.
fn repeats(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (Head::of(a), Head::of(b));
    (x.seconds, x.nanos, x.record_id) == (y.seconds, y.nanos, y.record_id)
        && x.host(a) == y.host(b)
        && (x.channel(a) == y.channel(b)
            || String::from_utf8_lossy(x.channel(a)).to_lowercase()
                == String::from_utf8_lossy(y.channel(b)).to_lowercase())
}

/// Gives every entry of `blocks` (each sorted) to `emit` in the timeline's order. A block's
/// entries go out in a row for as long as they come before every other block's next one: a
/// log's chunks follow one another in time, so nearly every block goes out whole, one heap
/// step for all its entries.
fn merge_blocks(blocks: &[Block], mut emit: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut heap: BinaryHeap<Cursor> = blocks
        .iter()
        .enumerate()
        .filter_map(|(block, b)| {
            Some(Cursor {
                entry: b.entry(*b.starts.first()?),
                block,
                next: 1,
            })
        })
        .collect();
    while let Some(mut cursor) = heap.pop() {
        let block = &blocks[cursor.block];
        loop {
            emit(cursor.entry)?;
            let Some(start) = block.starts.get(cursor.next) else {
                break;
            };
            cursor.entry = block.entry(*start);
            cursor.next += 1;
            if heap.peek().is_some_and(|other| cursor < *other) {
                heap.push(cursor);
                break;
            }
        }
    }
    Ok(())
}

/// A block's next entry in [`merge_blocks`], ordered so that a `BinaryHeap` gives the least
/// first (ties: the block added first).
struct Cursor<'b> {
    entry: &'b [u8],
    block: usize,
    /// The index in the block's `starts` of the entry after `entry`.
    next: usize,
}

impl PartialEq for Cursor<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Cursor<'_> {}

impl PartialOrd for Cursor<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cursor<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        order_entries(other.entry, self.entry).then(other.block.cmp(&self.block))
    }
}

/// Blocks in memory and the runs already in temporary files.
#[derive(Default)]
struct Store {
    blocks: Vec<Block>,
    bytes: usize,
    runs: Vec<File>,
    failed: Option<io::Error>,
}

impl Store {
    /// Writes the blocks, merged, to a temporary file as one sorted run.
    fn spill(&mut self) -> io::Result<()> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let mut file = BufWriter::with_capacity(WRITE_BYTES, tempfile::tempfile()?);
        merge_blocks(&self.blocks, |entry| file.write_all(entry))?;
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        io::Seek::rewind(&mut file)?;
        self.runs.push(file);
        self.blocks.clear();
        self.bytes = 0;
        Ok(())
    }
}

/// One run's next entry, ordered so that a `BinaryHeap` gives the least first.
struct Next {
    entry: Vec<u8>,
    run: usize,
}

impl PartialEq for Next {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Next {}

impl PartialOrd for Next {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Next {
    fn cmp(&self, other: &Self) -> Ordering {
        order_entries(&other.entry, &self.entry).then(other.run.cmp(&self.run))
    }
}

/// Reads the next entry of a run into `entry`; `false` at its end.
fn read_entry(run: &mut impl Read, entry: &mut Vec<u8>) -> io::Result<bool> {
    entry.resize(HEAD, 0);
    match run.read_exact(&mut entry[..HEAD]) {
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        other => other?,
    }
    let len = Head::of(entry).len();
    entry.resize(len, 0);
    run.read_exact(&mut entry[HEAD..])?;
    Ok(true)
}

/// Merges the sorted runs into the output.
fn merge_runs(runs: Vec<File>, writer: &mut Writer) -> io::Result<()> {
    let mut readers: Vec<BufReader<File>> = runs
        .into_iter()
        .map(|f| BufReader::with_capacity(WRITE_BYTES, f))
        .collect();
    let mut heap = BinaryHeap::new();
    for (run, reader) in readers.iter_mut().enumerate() {
        let mut entry = Vec::new();
        if read_entry(reader, &mut entry)? {
            heap.push(Next { entry, run });
        }
    }
    while let Some(mut next) = heap.pop() {
        writer.line(&next.entry)?;
        if read_entry(&mut readers[next.run], &mut next.entry)? {
            heap.push(next);
        }
    }
    Ok(())
}

/// Writes entries' lines in order: numbered (JSON lines), repeats dropped.
struct Writer<'w> {
    out: &'w mut dyn Write,
    format: Format,
    id: usize,
    /// The last entry written, to know a repeat.
    last: Vec<u8>,
    buf: Vec<u8>,
}

impl Writer<'_> {
    fn line(&mut self, entry: &[u8]) -> io::Result<()> {
        if !self.last.is_empty() && repeats(&self.last, entry) {
            return Ok(());
        }
        let head = Head::of(entry);
        let line = head.line(entry);
        match self.format {
            Format::Jsonl => report::json::numbered(self.id, line, &mut self.buf),
            Format::Csv | Format::Text => self.buf.extend_from_slice(line),
        }
        self.id += 1;
        // Its key, host and channel: all a repeat is known by.
        self.last.clear();
        self.last
            .extend_from_slice(&entry[..HEAD + head.host + head.channel]);
        if self.buf.len() >= WRITE_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}
