//! `timeline --all`: every record of a case, in time order, written as it is read rather than
//! held as signals (SPEC §7).
//!
//! First every chunk of every EVTX file is walked for the earliest event time it holds
//! (`EvtxFile::times`: the records' times alone, without their texts), and the chunks are read
//! in that order, in parallel. Each chunk's events become one block of encoded lines on the
//! thread that read it (the line already written in the chosen format, behind the key that
//! orders it), sorted there. No chunk still to be read holds an event before the earliest time
//! of the first of them, so every line before that time goes out as soon as it is read, and
//! its block's memory serves the next chunk: a case is written as it is read, in the memory
//! of the chunks in flight. Other inputs (Event XML, cluster.log), and chunks whose times
//! cannot be known ahead, are read first.
//!
//! When lines wait past a budget (chunks that cover long spans of time), the rest is gathered
//! instead: blocks are merged into sorted runs in temporary files, and the runs merged into
//! the output at the end. Either way repeats of one event (one record in two files) are
//! dropped, and the lines numbered. Memory is the budget, however large the case.

use crate::input::evtx::{Chunk as ReadChunk, EvtxFile};
use crate::input::{self, ChunkSink, EventRef, InputReport, RawEvent, Wanted};
use crate::report::{self, Line};
use crate::{signal, timeline, Error, Options};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};

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

/// Chunks read in parallel between two looks at what may be written.
const WINDOW_CHUNKS: usize = 64;

/// A chunk to read, and the earliest event time it may hold (`None`: unknown, any time).
struct Unit {
    file: usize,
    chunk: u64,
    earliest: Option<DateTime<Utc>>,
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
    out: &mut (dyn Write + Send),
) -> Result<Streamed, StreamError> {
    let found = input::discover(paths, &options.zip_limits, &options.progress);
    let input_paths: Vec<String> = found.inputs.iter().map(|i| i.display.clone()).collect();
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
    let mut merger = Merger {
        writer,
        held: Vec::new(),
        held_bytes: 0,
        batch: Vec::new(),
        budget,
        gathered: None,
        failed: None,
    };
    let sink = Sink {
        format,
        time_zone: options.time_zone,
        since: options.since,
        until: options.until,
        input_paths: &input_paths,
        incoming: Mutex::default(),
    };
    let windowed = input::Windowed::new(&sink, options.since, options.until);
    let (evtx, others): (Vec<_>, Vec<_>) = found
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, inp)| inp.format != input::Format::Config)
        .partition(|(_, inp)| inp.format == input::Format::Evtx);
    // Inputs other than EVTX files are read whole, first.
    let mut read: Vec<(usize, InputReport)> = others
        .par_iter()
        .map(|(i, inp)| (*i, input::read(*i, inp, &windowed, &options.progress).0))
        .collect();
    let mut files: Vec<(usize, EvtxFile)> = Vec::new();
    for (i, inp) in evtx {
        match EvtxFile::open(i, inp) {
            Ok(file) => files.push((i, file)),
            Err(report) => read.push((i, *report)),
        }
    }
    // Each chunk's earliest event, then the chunks in that order.
    let every: Vec<(usize, u64)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, (_, file))| (0..file.chunks()).map(move |n| (f, n)))
        .collect();
    let mut units: Vec<Unit> = every
        .into_par_iter()
        .map(|(file, chunk)| Unit {
            file,
            chunk,
            earliest: files[file].1.times(chunk).map(|(first, _)| first),
        })
        .collect();
    units.sort_by_key(|u| (u.earliest, u.file, u.chunk));
    let mut chunks: Vec<Vec<Option<ReadChunk>>> = files
        .iter()
        .map(|(_, f)| (0..f.chunks()).map(|_| None).collect())
        .collect();
    // While a window of chunks is read, the lines the windows before it allow are written.
    let mut bound = Bound::Nothing;
    for (w, window) in units.chunks(WINDOW_CHUNKS).enumerate() {
        let (done, ()) = rayon::join(
            || {
                window
                    .par_iter()
                    .map(|u| {
                        let chunk = files[u.file].1.read(u.chunk, &windowed, &options.progress);
                        (u.file, u.chunk, chunk)
                    })
                    .collect::<Vec<_>>()
            },
            || merger.write_before(bound, &sink),
        );
        for (file, n, chunk) in done {
            chunks[file][n as usize] = Some(chunk);
        }
        if merger.failed.is_some() {
            // The output is gone (a closed pipe): nothing more to read for it.
            break;
        }
        // No chunk left to read holds an event before the next one's earliest.
        bound = match units.get((w + 1) * WINDOW_CHUNKS) {
            None => Bound::All,
            Some(Unit {
                earliest: Some(t), ..
            }) => Bound::Before(t.timestamp(), t.timestamp_subsec_nanos()),
            Some(_) => Bound::Nothing,
        };
    }
    for ((i, file), chunks) in files.into_iter().zip(chunks) {
        let (report, _) = file.finish(chunks.into_iter().flatten().collect());
        read.push((i, report));
    }
    read.sort_by_key(|(i, _)| *i);
    let read: Vec<InputReport> = read.into_iter().map(|(_, r)| r).collect();
    merger.write_before(Bound::All, &sink);
    if let Some(err) = merger.failed.take() {
        return Err(StreamError::Io(err));
    }
    if read.iter().all(|i| i.records == 0) {
        return Err(crate::nothing_readable(paths, &found.skipped, &read).into());
    }
    let mut streamed = Streamed::default();
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
    streamed.runs = merger.finish(&sink)?;
    streamed.lines = merger.writer.id as u64;
    Ok(streamed)
}

/// Up to where lines may be written: no chunk left to read holds an event before it.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// Lines of times before (seconds, nanoseconds).
    Before(i64, u32),
    /// None yet: a chunk left to read may hold any time.
    Nothing,
    /// All: every chunk is read.
    All,
}

impl Bound {
    fn admits(self, entry: &[u8]) -> bool {
        match self {
            Bound::Before(seconds, nanos) => time_of(entry) < (seconds, nanos),
            Bound::Nothing => false,
            Bound::All => true,
        }
    }
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
    incoming: Mutex<Incoming>,
}

/// Blocks read and not yet taken by the [`Merger`], and the memory of blocks written.
#[derive(Default)]
struct Incoming {
    blocks: Vec<Block>,
    pool: Vec<Vec<u8>>,
    /// The line writers of chunks read before, with the parts of lines they keep: a log's
    /// chunks repeat the same few providers.
    writers: Vec<report::json::RawLines>,
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
        let (bytes, json) = {
            let mut incoming = self.incoming();
            (
                incoming.pool.pop(),
                incoming.writers.pop().unwrap_or_default(),
            )
        };
        Chunk {
            sink: self,
            block: Block {
                // Room for a chunk's lines from the start: no copies as it grows, and pages
                // never written are never taken.
                bytes: bytes.unwrap_or_else(|| Vec::with_capacity(BLOCK_BYTES)),
                starts: Vec::new(),
            },
            text: String::new(),
            line: String::new(),
            computer: String::new(),
            host: String::new(),
            json,
        }
    }

    fn incoming(&self) -> MutexGuard<'_, Incoming> {
        self.incoming.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The blocks read and not yet written, and where lines go.
struct Merger<'w> {
    writer: Writer<'w>,
    /// The blocks read and not yet written, each from its next line.
    held: Vec<Cursor>,
    held_bytes: usize,
    /// The lines one `write_before` writes, put in order there.
    batch: Vec<Pending>,
    budget: usize,
    /// Past the budget: everything not yet written, gathered in sorted runs.
    gathered: Option<Store>,
    failed: Option<io::Error>,
}

impl Merger<'_> {
    /// Takes the blocks read since the last time.
    fn take(&mut self, sink: &Sink) {
        let blocks = std::mem::take(&mut sink.incoming().blocks);
        for block in blocks {
            self.add(block, sink);
        }
    }

    /// Takes a finished block: held, or past the budget gathered.
    fn add(&mut self, block: Block, sink: &Sink) {
        if block.starts.is_empty() {
            recycle(block.bytes, sink);
            return;
        }
        if let Some(store) = &mut self.gathered {
            store.add(block, self.budget, &mut self.failed);
            return;
        }
        self.held_bytes += block.bytes.len();
        self.held.push(Cursor::new(block));
        if self.held_bytes > self.budget {
            // Lines wait for chunks read later; the rest of the case is gathered instead.
            let mut store = Store::default();
            for cursor in std::mem::take(&mut self.held) {
                store.add(cursor.rest(), usize::MAX, &mut self.failed);
            }
            self.held_bytes = 0;
            if self.failed.is_none() {
                if let Err(err) = store.spill() {
                    self.failed = Some(err);
                }
            }
            self.gathered = Some(store);
        }
    }

    /// Writes every line read before `bound`, in order: each held block's lines before it,
    /// one sorted run per block, merged by one stable sort (the logs of several hosts
    /// interleave line by line; one log's blocks follow one another, and the sort finds
    /// them already in order).
    fn write_before(&mut self, bound: Bound, sink: &Sink) {
        self.take(sink);
        if self.failed.is_some() || self.gathered.is_some() {
            return;
        }
        // Blocks by their next line, so that runs that do not overlap come in order.
        self.held.sort_by(|a, b| order_entries(a.key(), b.key()));
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        for (at, cursor) in self.held.iter_mut().enumerate() {
            let before = cursor.next;
            for &start in &cursor.block.starts[before..] {
                let entry = &cursor.block.bytes[start as usize..];
                if !bound.admits(entry) {
                    break;
                }
                let (seconds, nanos) = time_of(entry);
                batch.push(Pending {
                    seconds,
                    nanos,
                    block: at,
                    start,
                });
                cursor.next += 1;
            }
        }
        let held = &self.held;
        let bytes = |p: &Pending| &held[p.block].block.bytes[p.start as usize..];
        batch.sort_by(|a, b| {
            (a.seconds, a.nanos)
                .cmp(&(b.seconds, b.nanos))
                .then_with(|| order_entries(bytes(a), bytes(b)))
        });
        for p in &batch {
            let cursor = &self.held[p.block];
            if let Err(err) = self.writer.line(cursor.block.entry(p.start)) {
                self.failed = Some(err);
                return;
            }
        }
        self.batch = batch;
        // Blocks written whole give their memory to chunks read later.
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].next < self.held[i].block.starts.len() {
                i += 1;
                continue;
            }
            let done = self.held.swap_remove(i);
            self.held_bytes -= done.block.bytes.len();
            recycle(done.block.bytes, sink);
        }
    }

    /// Writes the rest; how many sorted runs the case took.
    fn finish(&mut self, sink: &Sink) -> io::Result<usize> {
        self.write_before(Bound::All, sink);
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        let mut runs = 0;
        if let Some(mut store) = self.gathered.take() {
            store.spill()?;
            runs = store.runs.len();
            merge_runs(std::mem::take(&mut store.runs), &mut self.writer)?;
        }
        self.writer.flush()?;
        Ok(runs)
    }
}

/// Keeps a written block's memory for a chunk read later.
fn recycle(mut bytes: Vec<u8>, sink: &Sink) {
    let mut incoming = sink.incoming();
    if incoming.pool.len() < WINDOW_CHUNKS * 2 && bytes.capacity() <= BLOCK_BYTES * 4 {
        bytes.clear();
        incoming.pool.push(bytes);
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
    json: report::json::RawLines,
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
        if sink.format == Format::Jsonl {
            let block = &mut self.block;
            let start = block.begin(
                event.time,
                event.record_id,
                event.input,
                &self.host,
                event.channel,
            );
            self.json.write(
                &report::json::RawLine {
                    time: event.time,
                    host: &self.host,
                    provider: event.provider,
                    event_id: event.event_id,
                    channel: event.channel,
                    record_id: event.record_id,
                    input: event.input,
                    values: event.firsts,
                },
                &mut block.bytes,
            );
            block.end(start);
            return;
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
        let start = block.begin(l.time, l.record_id, l.input, l.host, l.channel);
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
            sink,
            mut block,
            json,
            ..
        } = *self;
        block.sort();
        let mut incoming = sink.incoming();
        incoming.blocks.push(block);
        incoming.writers.push(json);
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
    /// Starts an entry: its key, host and channel; the line follows.
    fn begin(
        &mut self,
        time: DateTime<Utc>,
        record_id: u64,
        input: usize,
        host: &str,
        channel: &str,
    ) -> usize {
        let start = self.bytes.len();
        let host = &host.as_bytes()[..host.len().min(usize::from(u16::MAX))];
        let channel = &channel.as_bytes()[..channel.len().min(usize::from(u16::MAX))];
        let mut head = [0u8; HEAD];
        head[..8].copy_from_slice(&time.timestamp().to_le_bytes());
        head[8..12].copy_from_slice(&time.timestamp_subsec_nanos().to_le_bytes());
        head[12..20].copy_from_slice(&record_id.to_le_bytes());
        head[20..24].copy_from_slice(&(input as u32).to_le_bytes());
        head[24..26].copy_from_slice(&(host.len() as u16).to_le_bytes());
        head[26..28].copy_from_slice(&(channel.len() as u16).to_le_bytes());
        // The line's length (28..32) is written when it ends.
        let b = &mut self.bytes;
        b.extend_from_slice(&head);
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
        let order = |a: &u32, b: &u32| order_entries(&bytes[*a as usize..], &bytes[*b as usize..]);
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
        // A fixed-size head: each field is read at a known place, without a bounds check.
        let head: &[u8; HEAD] = e[..HEAD].try_into().expect("an entry starts with its head");
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([head[at], head[at + 1]]));
        let u32_at =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let u64_at = |at: usize| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
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

/// An entry's time: (seconds, nanoseconds).
fn time_of(e: &[u8]) -> (i64, u32) {
    let head: &[u8; 12] = e[..12].try_into().expect("an entry starts with its time");
    let [s0, s1, s2, s3, s4, s5, s6, s7, n0, n1, n2, n3] = *head;
    (
        i64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
        u32::from_le_bytes([n0, n1, n2, n3]),
    )
}

/// The timeline's order (`timeline::build`): time, host, channel, record id, input. `a` and
/// `b` are entries, or a block's bytes from an entry's start on: only the key, host and
/// channel are read.
fn order_entries(a: &[u8], b: &[u8]) -> Ordering {
    let by_time = time_of(a).cmp(&time_of(b));
    if by_time != Ordering::Equal {
        return by_time;
    }
    let (x, y) = (Head::of(a), Head::of(b));
    Ordering::Equal
        .then_with(|| x.host(a).cmp(y.host(b)))
        .then_with(|| x.channel(a).cmp(y.channel(b)))
        .then(x.record_id.cmp(&y.record_id))
        .then(x.input.cmp(&y.input))
}

/// Whether `b` is a repeat of `a`: one event (time, host, channel whatever its case, record
/// id) read from two inputs.
fn repeats(a: &[u8], b: &[u8]) -> bool {
    if time_of(a) != time_of(b) {
        return false;
    }
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
fn merge_blocks(
    blocks: Vec<Block>,
    mut emit: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut heap: BinaryHeap<Cursor> = blocks
        .into_iter()
        .filter(|b| !b.starts.is_empty())
        .map(Cursor::new)
        .collect();
    while let Some(mut cursor) = heap.pop() {
        loop {
            emit(cursor.entry())?;
            if !cursor.advance() {
                break;
            }
            if heap.peek().is_some_and(|other| cursor < *other) {
                heap.push(cursor);
                break;
            }
        }
    }
    Ok(())
}

/// A sorted block and where its next entry is, ordered by that entry so that a
/// `BinaryHeap` gives the least first.
struct Cursor {
    block: Block,
    /// The index in the block's `starts` of its next entry.
    next: usize,
}

impl Cursor {
    /// A cursor at the first entry of a block that has one.
    fn new(block: Block) -> Cursor {
        Cursor { block, next: 0 }
    }

    fn entry(&self) -> &[u8] {
        self.block.entry(self.block.starts[self.next])
    }

    /// The block's bytes from the next entry on: what orders it, without finding its end.
    fn key(&self) -> &[u8] {
        &self.block.bytes[self.block.starts[self.next] as usize..]
    }

    /// Moves to the next entry; `false` past the last.
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next < self.block.starts.len()
    }

    /// The block without the entries already taken.
    fn rest(mut self) -> Block {
        self.block.starts.drain(..self.next);
        self.block
    }
}

impl PartialEq for Cursor {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Cursor {}

impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cursor {
    fn cmp(&self, other: &Self) -> Ordering {
        order_entries(other.key(), self.key())
    }
}

/// A line to write: its time, its block (an index into the held ones) and where it starts
/// there.
struct Pending {
    seconds: i64,
    nanos: u32,
    block: usize,
    start: u32,
}

/// Blocks in memory and the runs already in temporary files.
#[derive(Default)]
struct Store {
    blocks: Vec<Block>,
    bytes: usize,
    runs: Vec<File>,
}

impl Store {
    /// Adds a block; past `budget`, the blocks go to a sorted run (a failure to write it is
    /// kept in `failed`).
    fn add(&mut self, block: Block, budget: usize, failed: &mut Option<io::Error>) {
        self.bytes += block.bytes.len();
        self.blocks.push(block);
        if self.bytes > budget && failed.is_none() {
            if let Err(err) = self.spill() {
                *failed = Some(err);
            }
        }
    }

    /// Writes the blocks, merged, to a temporary file as one sorted run.
    fn spill(&mut self) -> io::Result<()> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let mut file = BufWriter::with_capacity(WRITE_BYTES, tempfile::tempfile()?);
        merge_blocks(std::mem::take(&mut self.blocks), |entry| {
            file.write_all(entry)
        })?;
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        io::Seek::rewind(&mut file)?;
        self.runs.push(file);
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
    out: &'w mut (dyn Write + Send),
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
