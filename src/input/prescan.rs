//! A scan of a chunk's raw bytes that reads, per record, only its header and the EventID among
//! its template's substitution values — so a chunk whose records no signal wants is never
//! handed to the `evtx` crate at all (SPEC §7). In a real case the events that matter are a
//! handful among millions: almost every chunk is skipped here.
//!
//! Anything not shaped as expected makes the chunk a candidate: the crate stays the only parser
//! of what is kept, and the fallback for everything odd.

use super::Wanted;

pub(super) const CHUNK_HEADER_BYTES: usize = 512;
const RECORD_MAGIC: &[u8; 4] = b"\x2a\x2a\x00\x00";
const RECORD_HEADER_BYTES: usize = 24;
/// Index of the EventID among the substitution values of Windows' System template.
const EVENT_ID_SUBSTITUTION: usize = 3;
const UINT16: u8 = 0x06;

/// What the scan of one chunk found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Whether the chunk must be read by the crate: a wanted id, or a record of another shape.
    pub read: bool,
    pub records: u64,
    /// FILETIMEs of the first and last record headers (0 when none).
    pub first_filetime: u64,
    pub last_filetime: u64,
    pub first_record_id: u64,
    pub last_record_id: u64,
}

/// A record where a chunk's walk expects one.
pub(super) struct Record<'c> {
    pub size: usize,
    pub id: u64,
    /// The header's FILETIME (when the record was written).
    pub filetime: u64,
    /// The record's BinXML: between its header and the copy of its size.
    pub binxml: &'c [u8],
}

/// The record at `at`, ending by `end`, when its magic, header and trailing size copy check
/// out (the checks the crate makes of a record it carves).
pub(super) fn record_at(chunk: &[u8], at: usize, end: usize) -> Option<Record<'_>> {
    if chunk.get(at..at + 4)? != RECORD_MAGIC {
        return None;
    }
    let size = u32_at(chunk, at + 4)? as usize;
    if size < RECORD_HEADER_BYTES + 4
        || at + size > end
        || u32_at(chunk, at + size - 4)? as usize != size
    {
        return None;
    }
    Some(Record {
        size,
        id: u64_at(chunk, at + 8)?,
        filetime: u64_at(chunk, at + 16)?,
        binxml: chunk.get(at + RECORD_HEADER_BYTES..at + size - 4)?,
    })
}

/// Scans a 64 KiB chunk. Never panics: every read is bounds-checked.
pub fn scan(chunk: &[u8], wanted: &dyn Wanted) -> Scan {
    let mut out = Scan::default();
    let Some(free) = u32_at(chunk, 48).map(|f| f as usize) else {
        out.read = true;
        return out;
    };
    let end = free.min(chunk.len());
    let mut at = CHUNK_HEADER_BYTES;
    // Records of one template share its provider: decide once per (template, event id).
    let mut decided: Vec<(usize, u16, bool)> = Vec::new();
    while at + RECORD_HEADER_BYTES <= end {
        if chunk.get(at..at + 4) != Some(RECORD_MAGIC) {
            // Not at a record: let the crate decide what the rest of the chunk is.
            out.read = true;
            return out;
        }
        let (Some(size), Some(id), Some(filetime)) = (
            u32_at(chunk, at + 4),
            u64_at(chunk, at + 8),
            u64_at(chunk, at + 16),
        ) else {
            out.read = true;
            return out;
        };
        let size = size as usize;
        if size < RECORD_HEADER_BYTES + 4 || at + size > end {
            out.read = true;
            return out;
        }
        out.records += 1;
        if out.records == 1 {
            out.first_filetime = filetime;
            out.first_record_id = id;
        }
        out.last_filetime = filetime;
        out.last_record_id = id;
        if !out.read
            && wants(
                chunk,
                at + RECORD_HEADER_BYTES,
                at + size - 4,
                wanted,
                &mut decided,
            )
        {
            out.read = true;
        }
        at += size;
    }
    out
}

/// Where one record's TemplateInstance keeps what the scan reads.
struct Shape {
    event_id: u16,
    instance: Instance,
}

/// The header of a TemplateInstance (MS-EVEN6 2.2.12): where its template is defined, and
/// where its substitution descriptors (size, type) are; the values follow them in order.
pub(super) struct Instance {
    /// Chunk offset of the template definition (its 24-byte header, then the body).
    pub definition: usize,
    /// Chunk offset of the substitution descriptors, and how many there are.
    pub descriptors: usize,
    pub count: usize,
}

/// The TemplateInstance at `start` (after a fragment header `0F 01 01 00`, when there is
/// one), its descriptors ending by `end`: they are read, not the values.
pub(super) fn instance_at(chunk: &[u8], start: usize, end: usize) -> Option<Instance> {
    let mut at = start;
    if chunk.get(start..end)?.get(..4)? == [0x0F, 1, 1, 0] {
        at += 4;
    }
    if *chunk.get(at)? != 0x0C {
        return None;
    }
    at += 2; // token, and one byte of unknown use
    at += 4; // template id
    let definition = u32_at(chunk, at)? as usize;
    at += 4;
    if definition == at {
        // Defined inline (first use in this chunk): next offset, GUID, then the body.
        let body = u32_at(chunk, at + 20)? as usize;
        at += 24 + body;
    }
    let count = u32_at(chunk, at)? as usize;
    at += 4;
    (at + count * 4 <= end).then_some(Instance {
        definition,
        descriptors: at,
        count,
    })
}

impl Instance {
    /// Value `index`: its size, its type and where it starts (past the values before it).
    pub(super) fn value(&self, chunk: &[u8], index: usize) -> Option<(usize, u8, usize)> {
        let mut at = self.descriptors + self.count * 4;
        for i in 0..index {
            at += usize::from(u16_at(chunk, self.descriptors + i * 4)?);
        }
        let descriptor = self.descriptors + index * 4;
        Some((
            usize::from(u16_at(chunk, descriptor)?),
            *chunk.get(descriptor + 2)?,
            at,
        ))
    }
}

/// Whether the record (`start..end`, chunk offsets) may be wanted: its id is, and its provider
/// is one that makes the id wanted (or cannot be told from the raw bytes).
fn wants(
    chunk: &[u8],
    start: usize,
    end: usize,
    wanted: &dyn Wanted,
    decided: &mut Vec<(usize, u16, bool)>,
) -> bool {
    let Some(shape) = shape(chunk, start, end) else {
        return true;
    };
    if !wanted.id(u32::from(shape.event_id)) {
        return false;
    }
    let Some(names) = wanted.providers(u32::from(shape.event_id)) else {
        return true;
    };
    if let Some(&(_, _, known)) = decided
        .iter()
        .find(|(d, id, _)| *d == shape.instance.definition && *id == shape.event_id)
    {
        return known;
    }
    let (answer, per_template) = provider_may_be(chunk, &shape, end, names);
    if per_template {
        decided.push((shape.instance.definition, shape.event_id, answer));
    }
    answer
}

/// Windows writes the provider name either as literal text in the template (the common
/// shape) or as substitution 14 (a string). A name found in neither place rules the record
/// out; anything unclear rules it in. The second value says whether the answer holds for
/// every record of the template (a literal name) or for this record only.
fn provider_may_be(chunk: &[u8], shape: &Shape, end: usize, names: &[Vec<u8>]) -> (bool, bool) {
    const PROVIDER_SUBSTITUTION: usize = 14;
    let instance = &shape.instance;
    if instance.count > PROVIDER_SUBSTITUTION
        && chunk.get(instance.descriptors + PROVIDER_SUBSTITUTION * 4 + 2) == Some(&0x01)
    {
        let Some((size, _, at)) = instance.value(chunk, PROVIDER_SUBSTITUTION) else {
            return (true, false);
        };
        let found = chunk
            .get(at..(at + size).min(end))
            .is_none_or(|value| contains_any(value, names));
        return (found, false);
    }
    let Some(body_size) = u32_at(chunk, instance.definition + 20) else {
        return (true, false);
    };
    let body_at = instance.definition + 24;
    let found = chunk
        .get(body_at..body_at.saturating_add(body_size as usize).min(chunk.len()))
        .is_none_or(|body| contains_any(body, names));
    (found, true)
}

/// Whether the UTF-16LE `haystack`, ASCII letters lowered, holds any of the lower-case names.
/// (Lowering bytes of non-ASCII code units can only add matches: the chunk is then read.)
fn contains_any(haystack: &[u8], names: &[Vec<u8>]) -> bool {
    let lowered: Vec<u8> = haystack.iter().map(u8::to_ascii_lowercase).collect();
    names
        .iter()
        .any(|name| !name.is_empty() && memchr::memmem::find(&lowered, name).is_some())
}

/// The shape of one record's BinXML (`start..end`), when it is Windows' single
/// TemplateInstance with a UInt16 EventID at substitution 3.
fn shape(chunk: &[u8], start: usize, end: usize) -> Option<Shape> {
    let instance = instance_at(chunk, start, end)?;
    if instance.count <= EVENT_ID_SUBSTITUTION {
        return None;
    }
    let (size, kind, value_at) = instance.value(chunk, EVENT_ID_SUBSTITUTION)?;
    if size != 2 || kind != UINT16 || value_at + 2 > end {
        return None;
    }
    Some(Shape {
        event_id: u16_at(chunk, value_at)?,
        instance,
    })
}

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
