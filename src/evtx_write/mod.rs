//! EVTX writer: Windows Event XML → a `.evtx` file laid out as Windows writes it, so test
//! fixtures are real EVTX files that any reader (the `evtx` crate, python-evtx, Windows)
//! parses the way it parses Windows' own logs.
//!
//! Pipeline: parse the XML (`event`) into one TemplateInstance per event (Windows'
//! System template shape, EventData/UserData as a nested instance), lay the instances out
//! as BinXML records (`binxml`) in 64 KiB chunks (`chunk`), and prefix the file header.

pub(crate) mod binxml;
mod chunk;
mod event;
mod model;
pub(crate) mod values;

use chunk::{Chunk, MAX_RECORD_SIZE};
use model::EventRecord;

/// Why Event XML could not be written as EVTX. Every variant names the line of the input
/// and says what to write instead.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The input is not well-formed XML.
    #[error("line {line}, column {column}: the input is not well-formed XML ({reason}); fix the XML there (escape `&` as `&amp;` and `<` as `&lt;` in text, close every element)")]
    Xml {
        line: u32,
        column: u32,
        reason: String,
    },
    /// The XML is well-formed but not shaped like Event XML.
    #[error("line {line}: {found}; write an <Events> root holding <Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"> elements (each with one <System> and at most one <EventData> or <UserData> holding one element), or those <Event> elements alone")]
    Structure { line: u32, found: String },
    /// A required part of `<System>` is missing.
    #[error("line {line}: this <Event> has no {field}; add {example} to its <System>")]
    Missing {
        line: u32,
        field: &'static str,
        example: &'static str,
    },
    /// A value does not parse as the type Windows stores it as.
    #[error(
        "line {line}: {field} is {value:?}, which is not {expected}; write {expected} instead"
    )]
    BadValue {
        line: u32,
        field: String,
        value: String,
        expected: &'static str,
    },
    /// Elements nested deeper than the writer accepts.
    #[error("line {line}: elements are nested more than {max} deep inside one <Event>; flatten that EventData/UserData tree")]
    TooDeep { line: u32, max: usize },
    /// The event does not fit in one 64 KiB chunk (records never span chunks).
    #[error("line {line}: this <Event> needs at least {size} bytes as a record, more than the {max} bytes a 64 KiB chunk holds; shorten its EventData/UserData text")]
    RecordTooLarge { line: u32, size: usize, max: usize },
    /// The file header counts chunks in 16 bits.
    #[error("line {line}: this <Event> would start chunk {chunk}, past the 65535 chunks an EVTX file header can count; split the input into several files")]
    TooManyChunks { line: u32, chunk: usize },
    /// Writing the output failed.
    #[error("the EVTX file cannot be written ({0}); check the disk and the path")]
    Io(String),
}

/// Writes Event XML (an `<Events>` root, or a bare sequence of `<Event xmlns=...>` elements as `wevtutil qe /f:xml` prints) as an EVTX file.
pub fn write_evtx(xml: &str) -> Result<Vec<u8>, WriteError> {
    let text = as_single_root(xml);
    let doc = roxmltree::Document::parse(&text).map_err(xml_error)?;
    let events = event::convert_document(&event::Source { doc: &doc })?;
    let line_of = |event: &EventRecord| doc.text_pos_at(event.source_pos).row;
    let chunks = fill_chunks(&events, &line_of)?;
    let chunk_count = u16::try_from(chunks.len()).map_err(|_| WriteError::TooManyChunks {
        line: events.last().map_or(1, line_of),
        chunk: chunks.len(),
    })?;
    // Next record id: one past the highest id, which is "last id + 1" for a real log.
    let next_record_id = events
        .iter()
        .map(|e| e.record_id)
        .max()
        .map_or(1, |id| id.saturating_add(1));
    let mut file = chunk::file_header(chunk_count, next_record_id);
    for chunk in chunks {
        file.extend_from_slice(&chunk);
    }
    Ok(file)
}

/// `wevtutil qe /f:xml` prints `<Event>` elements with no common root: wrap such input in
/// `<Events>` on the same line (line numbers stay right), dropping an XML declaration
/// first (blanked, not removed, so positions keep their line).
fn as_single_root(xml: &str) -> String {
    let mut text = xml.trim_start_matches('\u{feff}').to_owned();
    let lead = text.len() - text.trim_start().len();
    if text[lead..].starts_with("<?xml") {
        if let Some(end) = text[lead..].find("?>") {
            let blank: String = text[lead..lead + end + 2]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            text.replace_range(lead..lead + end + 2, &blank);
        }
    }
    if starts_with_events_root(&text) {
        text
    } else {
        format!("<Events>{text}</Events>")
    }
}

/// Whether the first element (after comments and whitespace) is `<Events>`.
fn starts_with_events_root(text: &str) -> bool {
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix("<!--") {
        match after.find("-->") {
            Some(end) => rest = after[end + 3..].trim_start(),
            None => return false,
        }
    }
    rest.strip_prefix("<Events")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c == '>' || c == '/' || c.is_whitespace())
}

fn xml_error(error: roxmltree::Error) -> WriteError {
    let pos = error.pos();
    WriteError::Xml {
        line: pos.row,
        column: pos.col,
        reason: error.to_string(),
    }
}

/// Fills chunks in order; a record that does not fit (or whose id the chunk already
/// holds) starts the next chunk.
fn fill_chunks(
    events: &[EventRecord],
    line_of: &dyn Fn(&EventRecord) -> u32,
) -> Result<Vec<Vec<u8>>, WriteError> {
    let mut done = Vec::new();
    let mut current = Chunk::new();
    for event in events {
        if !current.accepts_id(event.record_id) {
            done.push(std::mem::replace(&mut current, Chunk::new()).finish());
        }
        match current.try_append(event) {
            Ok(()) => continue,
            Err(size) if current.is_empty() => return Err(too_large(line_of(event), size)),
            Err(_) => {}
        }
        done.push(std::mem::replace(&mut current, Chunk::new()).finish());
        current
            .try_append(event)
            .map_err(|size| too_large(line_of(event), size))?;
    }
    if !current.is_empty() {
        done.push(current.finish());
    }
    Ok(done)
}

fn too_large(line: u32, size: usize) -> WriteError {
    WriteError::RecordTooLarge {
        line,
        size: size.max(MAX_RECORD_SIZE + 1),
        max: MAX_RECORD_SIZE,
    }
}

/// Writes one large EVTX file from Event XML given in parts, chunk by chunk, holding only the
/// chunk being filled: for synthetic cases of many gigabytes (the benchmark's). The file header
/// is written last, once the chunk count is known.
pub struct StreamWriter<W: std::io::Write + std::io::Seek> {
    out: W,
    current: Chunk,
    chunks: usize,
    next_record_id: u64,
}

impl<W: std::io::Write + std::io::Seek> StreamWriter<W> {
    /// Starts a file: room for its header, then chunks.
    ///
    /// # Errors
    /// [`WriteError::Io`] when the output cannot be written.
    pub fn new(mut out: W) -> Result<Self, WriteError> {
        out.write_all(&chunk::file_header(0, 1)).map_err(io_error)?;
        Ok(StreamWriter {
            out,
            current: Chunk::new(),
            chunks: 0,
            next_record_id: 1,
        })
    }

    /// Appends the events of one part of Event XML, in order.
    ///
    /// # Errors
    /// What [`write_evtx`] reports for the part (lines count within the part), or an I/O error.
    pub fn push(&mut self, xml: &str) -> Result<(), WriteError> {
        let text = as_single_root(xml);
        let doc = roxmltree::Document::parse(&text).map_err(xml_error)?;
        let events = event::convert_document(&event::Source { doc: &doc })?;
        for event in &events {
            let line = || doc.text_pos_at(event.source_pos).row;
            if !self.current.accepts_id(event.record_id) || self.current.try_append(event).is_err()
            {
                self.flush_chunk()?;
                self.current
                    .try_append(event)
                    .map_err(|size| too_large(line(), size))?;
            }
            self.next_record_id = self.next_record_id.max(event.record_id.saturating_add(1));
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), WriteError> {
        if self.current.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.current, Chunk::new()).finish();
        self.out.write_all(&chunk).map_err(io_error)?;
        self.chunks += 1;
        Ok(())
    }

    /// Writes the last chunk and the file header; returns the output.
    ///
    /// # Errors
    /// [`WriteError::TooManyChunks`] past 65535 chunks, or an I/O error.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.flush_chunk()?;
        let count = u16::try_from(self.chunks).map_err(|_| WriteError::TooManyChunks {
            line: 0,
            chunk: self.chunks,
        })?;
        self.out
            .seek(std::io::SeekFrom::Start(0))
            .map_err(io_error)?;
        self.out
            .write_all(&chunk::file_header(count, self.next_record_id))
            .map_err(io_error)?;
        self.out.flush().map_err(io_error)?;
        Ok(self.out)
    }
}

fn io_error(err: std::io::Error) -> WriteError {
    WriteError::Io(err.to_string())
}
