//! EVTX files, read chunk by chunk with the `evtx` crate. A record is rendered (as XML, then
//! read like any Event XML) only when its event id is one a signal wants; a damaged chunk
//! costs only its own records, and every loss is reported.

use super::prescan;
use super::xml::{parse_event, BadEvent};
use super::{Input, InputReport, LogSpan, RawEvent, Wanted};
use chrono::{DateTime, Utc};
use evtx::binxml::value_variant::BinXmlValue;
use evtx::{EvtxChunkData, EvtxRecord, ParserSettings};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

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
    lost: u64,
    warnings: Vec<String>,
}

/// Reads an EVTX file, its chunks in parallel.
pub fn read(index: usize, input: &Input, wanted: &dyn Wanted) -> (InputReport, Vec<RawEvent>) {
    let mut report = InputReport::new(input);
    let file = match File::open(&input.path) {
        Ok(file) => file,
        Err(err) => {
            report.warn(format!("cannot be read ({err}); skipped"));
            return (report, Vec::new());
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    check_header(&file, len, &mut report);
    let chunks = len.saturating_sub(FILE_HEADER_BYTES) / CHUNK_BYTES;
    let tail = len.saturating_sub(FILE_HEADER_BYTES) % CHUNK_BYTES;
    if tail != 0 {
        report.warn(format!(
            "file is cut short: the last {tail} bytes are not a whole chunk and were not read"
        ));
    }
    let settings = Arc::new(ParserSettings::new().num_threads(1));
    let reads: Vec<ChunkRead> = (0..chunks)
        .into_par_iter()
        .map(|n| read_chunk(index, &file, n, &settings, wanted))
        .collect();
    let mut events = Vec::new();
    let mut rest = LogSpan::default();
    // The log the file holds: that of its first rendered record (chunks are in file order).
    let primary = reads.iter().find_map(|c| c.seen.keys().next().cloned());
    for chunk in reads {
        for (key, span) in &chunk.seen {
            report.logs.entry(key.clone()).or_default().merge(span);
        }
        rest.merge(&chunk.rest);
        report.chunks_skipped += u64::from(chunk.skipped);
        report.records_lost += chunk.lost;
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
    report.events_used = events.len() as u64;
    (report, events)
}

/// Notes what the file header says that matters to a reader; the chunks are read either way.
fn check_header(file: &File, len: u64, report: &mut InputReport) {
    let mut header = vec![0u8; FILE_HEADER_BYTES as usize];
    if read_at(file, &mut header, 0).is_err() {
        report.warn("file header is cut short; no chunk could be read");
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

fn read_chunk(
    index: usize,
    file: &File,
    number: u64,
    settings: &Arc<ParserSettings>,
    wanted: &dyn Wanted,
) -> ChunkRead {
    let mut out = ChunkRead::default();
    let mut data = vec![0u8; CHUNK_BYTES as usize];
    if let Err(err) = read_at(file, &mut data, FILE_HEADER_BYTES + number * CHUNK_BYTES) {
        out.skipped = true;
        out.warnings
            .push(format!("chunk {number}: cannot be read ({err})"));
        return out;
    }
    if data.iter().all(|b| *b == 0) {
        // Space the log reserved but never wrote: not a loss.
        return out;
    }
    let mut chunk = match EvtxChunkData::new(data, false) {
        Ok(chunk) => chunk,
        Err(err) => {
            out.skipped = true;
            out.warnings
                .push(format!("chunk {number} skipped: not a valid chunk ({err})"));
            return out;
        }
    };
    chunk.number = Some(number);
    let declared = declared_records(&chunk);
    if !chunk.validate_checksum() {
        out.warnings.push(format!(
            "chunk {number}: checksum does not match; its records were read but may be damaged"
        ));
    }
    // The first chunk is always read: its records name the file's computer (the host list).
    let scan = prescan::scan(&chunk.data, wanted);
    if !scan.read && number != 0 {
        if scan.records > 0 {
            out.rest = LogSpan {
                first: Some(from_filetime(scan.first_filetime.min(scan.last_filetime))),
                last: Some(from_filetime(scan.first_filetime.max(scan.last_filetime))),
                records: scan.records,
                min_id: Some(scan.first_record_id.min(scan.last_record_id)),
                max_id: Some(scan.first_record_id.max(scan.last_record_id)),
            };
        }
        return out;
    }
    let mut parsed = match chunk.parse(settings.clone()) {
        Ok(parsed) => parsed,
        Err(err) => {
            out.skipped = true;
            out.lost = declared;
            out.warnings.push(format!(
                "chunk {number} skipped ({err}): up to {declared} records lost"
            ));
            return out;
        }
    };
    let mut errors = 0usize;
    for record in parsed.iter() {
        match record {
            Ok(record) => read_record(index, record, wanted, &mut out),
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
    out
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

fn read_record(index: usize, record: EvtxRecord, wanted: &dyn Wanted, out: &mut ChunkRead) {
    let header_time = to_chrono(record.timestamp);
    let record_id = record.event_record_id;
    // The chunk's first record is always rendered: it names the computer and channel.
    if !out.seen.is_empty() && !prefilter(&record, wanted) {
        out.rest.add(header_time, record_id);
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
            out.seen
                .entry((seen.computer, seen.channel))
                .or_default()
                .add(seen.time, seen.record_id);
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
fn prefilter(record: &EvtxRecord, wanted: &dyn Wanted) -> bool {
    let Ok(instances) = record.template_instances() else {
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

/// A FILETIME (100 ns since 1601) as a UTC time.
fn from_filetime(filetime: u64) -> DateTime<Utc> {
    const SECONDS_1601_TO_1970: i64 = 11_644_473_600;
    let seconds = (filetime / 10_000_000) as i64 - SECONDS_1601_TO_1970;
    let nanos = (filetime % 10_000_000) as u32 * 100;
    DateTime::from_timestamp(seconds, nanos).unwrap_or_default()
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let n = file.seek_read(&mut buf[done..], offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
        offset += n as u64;
    }
    Ok(())
}
