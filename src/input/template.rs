//! A record's event read straight from its template's substitution values, without rendering
//! it to Event XML and parsing that back (SPEC §7: `timeline --all` reads every record).
//!
//! Windows writes nearly every record as one TemplateInstance: a template, defined once per
//! chunk, and the record's own values. This module reads the values from the record's bytes,
//! and the template's definition once per chunk (MS-EVEN6 2.2.12: elements, attributes, text
//! and substitution tokens) to learn which value lands where `xml::parse_event` looks: the
//! provider, EventID, EventRecordID, TimeCreated, Channel, Computer and the EventData /
//! UserData items. The event it gives is the one the XML route gives for the same record
//! (`tests/template.rs` compares both on every record of the real samples and the fixtures).
//!
//! Anything outside the plain shape (a template this reader does not follow, nested
//! templates, arrays, embedded BinXML, an element left out by its DependencyId, an optional
//! value inside an attribute, text that is not valid UTF-16) gives `None`, and the caller
//! renders that record through the crate as before.

use super::prescan::{instance_at, u16_at, u32_at, Instance};
use super::xml::{item_name, Seen, MAX_ITEMS, MAX_NAME_CHARS, MAX_VALUE_CHARS};
use super::{RawEvent, Wanted};
use crate::evtx_write::binxml::token;
use crate::evtx_write::values::ty;
use chrono::{DateTime, Utc};
use evtx::binxml::value_variant::{BinXmlValue, FileTime};
use evtx::binxml::BinXmlTemplateValues;
use evtx::EvtxRecord;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A piece of an element's text or of an attribute's value.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    /// A substitution: its value array (0: the record's, k: the k-th embedded fragment's)
    /// and its index there.
    Sub {
        at: Slot,
        optional: bool,
    },
}

/// The most value arrays a record is read from: its own, and its embedded fragments'.
const MAX_ARRAYS: usize = 8;

/// Where a value is: (array, index).
type Slot = (usize, usize);

/// An element of a template definition.
#[derive(Debug, Default, Clone)]
struct Element {
    name: String,
    attributes: Vec<(String, Vec<Piece>)>,
    children: Vec<Child>,
    /// The substitution whose NullType value leaves the element out (MS-EVEN6 DependencyId).
    dependency: Option<Slot>,
}

#[derive(Debug, Clone)]
enum Child {
    Element(Element),
    Piece(Piece),
}

/// Where the fields `parse_event` reads come from, for one template.
#[derive(Debug)]
pub struct Shape {
    provider: Option<Vec<Piece>>,
    event_id: Vec<Piece>,
    record_id: Vec<Piece>,
    time: Vec<Piece>,
    channel: Vec<Piece>,
    computer: Vec<Piece>,
    /// EventData / UserData items in document order, named as `parse_event` names them.
    data: Vec<(String, Vec<Piece>)>,
    /// Substitutions whose NullType value would leave an element out.
    dependencies: Vec<Slot>,
    /// Optional substitutions inside attributes: empty, the crate may leave the attribute out.
    optional_in_attributes: Vec<Slot>,
    /// The texts of provider, computer and channel when they are literal text in the
    /// template (as in Windows' System templates), written once.
    literal: [Option<String>; 3],
}

/// A record's template and the templates of the fragments embedded in its values (classic
/// providers write EventData so): the definition offset, and (value index, definition
/// offset) per fragment.
type Key = (u32, Vec<(usize, u32)>);

/// Hashes the small numbers that key a chunk's templates (definition offsets, value indexes),
/// looked up for every record, by FxHash's multiply and rotate rather than SipHash. The keys
/// come from the file: one crafted to collide them slows only its own chunk's lookups (a
/// chunk holds a few thousand records at most).
#[derive(Default, Clone, Copy)]
struct Mix(u64);

impl Mix {
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|b| self.add(u64::from(*b)));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

type Mixed = BuildHasherDefault<Mix>;

/// One chunk's templates (`None`: not followed here), and the shapes of the records made
/// of them.
#[derive(Default)]
pub struct Shapes {
    trees: HashMap<u32, Option<Element>, Mixed>,
    /// Where each key's shape is in `built`.
    shapes: HashMap<Key, usize, Mixed>,
    built: Vec<Option<Arc<Shape>>>,
    /// The last record's templates, and where their shape is in `built`: most records repeat
    /// them. Its key's room serves the next record's.
    last: (Key, Option<usize>),
    /// The shapes the file's other chunks built.
    known: Option<Arc<Known>>,
}

impl Shapes {
    /// A chunk's shapes, sharing what is built with the other chunks of its file.
    pub fn sharing(known: &Arc<Known>) -> Shapes {
        Shapes {
            known: Some(Arc::clone(known)),
            ..Shapes::default()
        }
    }

    /// The shape of `key`'s templates: built from the chunk's definitions, unless another
    /// chunk of the file built it already.
    fn shape(&mut self, chunk: &[u8], key: &Key) -> Option<Arc<Shape>> {
        let Some(known) = &self.known else {
            return build(chunk, key, &mut self.trees).map(Arc::new);
        };
        let Some(id) = identity(chunk, key) else {
            return build(chunk, key, &mut self.trees).map(Arc::new);
        };
        if let Some(shape) = known.lock().get(&id) {
            return shape.clone();
        }
        let shape = build(chunk, key, &mut self.trees).map(Arc::new);
        known.lock().insert(id, shape.clone());
        shape
    }
}

/// Shapes built by one file's chunks, by their templates' identities (GUID and size).
#[derive(Default)]
pub struct Known(Mutex<HashMap<Identity, Option<Arc<Shape>>>>);

impl Known {
    fn lock(&self) -> MutexGuard<'_, HashMap<Identity, Option<Arc<Shape>>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What names a template in every chunk of a file: its GUID and the size of its definition
/// (MS-EVEN6 2.2.12, TemplateDefinition), the record's template, then (value index,
/// template) per embedded fragment. MS-EVEN6 puts a GUID in every template definition but
/// does not say that a chunk defining the same template again gives it the same GUID; that
/// it does is what the real samples show (`tests/template.rs` reads them with shapes shared so, and no
/// event differs from the XML route's), and what the fixtures' writer does.
type Identity = (([u8; 16], u32), Vec<(usize, ([u8; 16], u32))>);

/// The identity of `key`'s templates; `None` when a definition is out of the chunk or has no
/// GUID (such a template is built in each chunk, as a writer other than Windows may reuse a
/// blank GUID).
fn identity(chunk: &[u8], key: &Key) -> Option<Identity> {
    let of = |offset: u32| -> Option<([u8; 16], u32)> {
        let at = offset as usize;
        let guid: [u8; 16] = chunk.get(at + 4..at + 20)?.try_into().ok()?;
        (guid != [0; 16]).then_some((guid, u32_at(chunk, at + 20)?))
    };
    let fragments = key
        .1
        .iter()
        .map(|(index, offset)| Some((*index, of(*offset)?)))
        .collect::<Option<Vec<_>>>()?;
    Some((of(key.0)?, fragments))
}

/// A substitution value: its type (MS-EVEN6 2.2.18) and its bytes, those of a string cut at
/// its first NUL. `fragment` takes only values `value_text` writes as the crate does.
#[derive(Clone, Copy, Default)]
struct Value<'a> {
    kind: u8,
    bytes: &'a [u8],
}

/// What `read` gives: the record's `Seen`, and its event when `wanted` takes it.
pub type Read = (Seen, Option<RawEvent>);

/// The buffers a chunk's records are read into, one record after another: reading a record
/// allocates nothing once they have grown.
#[derive(Default)]
pub struct Scratch<'a> {
    text: String,
    /// The data items: name and value, as ranges of `text`.
    data: Vec<(Range<usize>, Range<usize>)>,
    /// The record's substitution values, then its fragments'.
    values: Vec<Value<'a>>,
    /// The record's fragments: the value they are, their template, their values.
    nested: Vec<(usize, u32, Range<usize>)>,
    /// The date of the last record's time.
    days: super::FiletimeDays,
}

/// A record read through its template, its texts in a [`Scratch`]: what `parse_event` reads
/// of its Event XML.
pub struct View<'s> {
    pub time: DateTime<Utc>,
    pub record_id: u64,
    pub event_id: u32,
    pub provider: &'s str,
    pub channel: &'s str,
    pub computer: &'s str,
    /// Whether `wanted` takes the event; its data items are read only then.
    pub wanted: bool,
    text: &'s str,
    data: &'s [(Range<usize>, Range<usize>)],
}

impl<'s> View<'s> {
    /// The data items in document order: name and value.
    pub fn data(&self) -> impl Iterator<Item = (&'s str, &'s str)> + '_ {
        self.data
            .iter()
            .map(|(name, value)| (&self.text[name.clone()], &self.text[value.clone()]))
    }

    /// The data items' values in document order.
    pub fn values(&self) -> impl Iterator<Item = &'s str> + '_ {
        self.data.iter().map(|(_, value)| &self.text[value.clone()])
    }

    pub fn seen(&self) -> Seen {
        Seen {
            time: self.time,
            computer: self.computer.to_string(),
            channel: self.channel.to_string(),
            record_id: self.record_id,
        }
    }

    /// The event, when wanted.
    pub fn event(&self, input: usize) -> Option<RawEvent> {
        self.wanted.then(|| RawEvent {
            input,
            record_id: self.record_id,
            time: self.time,
            provider: self.provider.to_string(),
            event_id: self.event_id,
            channel: self.channel.to_string(),
            computer: self.computer.to_string(),
            data: self
                .data()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        })
    }
}

/// Reads one record the crate's iterator gave through its template, from its BinXML bytes
/// (`read_bytes`), when the crate could read it as one TemplateInstance (`instances`, what
/// `EvtxRecord::template_instances` gave); else `None`, and it is rendered instead.
pub fn read(
    record: &EvtxRecord,
    instances: &[BinXmlTemplateValues],
    shapes: &mut Shapes,
    input: usize,
    wanted: &dyn Wanted,
) -> Option<Read> {
    let [_] = instances else {
        return None;
    };
    let start = usize::try_from(record.binxml_offset).ok()?;
    let binxml = record
        .chunk
        .data
        .get(start..start.checked_add(usize::try_from(record.binxml_size).ok()?)?)?;
    read_bytes(record.chunk.data, binxml, shapes, input, wanted)
}

/// Reads one record from its BinXML bytes (a slice of `chunk`, a chunk's bytes) without the crate's
/// record iterator: its one TemplateInstance's values are read here (`fragment`), and the
/// stream must end right after them. `None` for anything else: the crate reads the record.
pub fn read_bytes<'a>(
    chunk: &'a [u8],
    binxml: &'a [u8],
    shapes: &mut Shapes,
    input: usize,
    wanted: &dyn Wanted,
) -> Option<Read> {
    let mut scratch = Scratch::default();
    let view = view_bytes(chunk, binxml, shapes, &mut scratch, wanted)?;
    Some((view.seen(), view.event(input)))
}

/// `read_bytes`, into `scratch`.
pub fn view_bytes<'a, 's>(
    chunk: &'a [u8],
    binxml: &'a [u8],
    shapes: &mut Shapes,
    scratch: &'s mut Scratch<'a>,
    wanted: &dyn Wanted,
) -> Option<View<'s>> {
    scratch.values.clear();
    let (definition, end) = fragment(chunk, binxml, true, &mut scratch.values)?;
    let rest = chunk.get(end..offset_in(chunk, binxml)? + binxml.len())?;
    // What follows the stream's end is left over from an earlier record: the crate ignores it.
    if rest.first() != Some(&token::END_OF_STREAM) {
        return None;
    }
    view_instance(chunk, definition, shapes, scratch, wanted)
}

/// The earliest and latest event times of a chunk's records (`data`, its records ending by
/// `end`, the last one `last_record_id`), each read from its TimeCreated value alone: the
/// value the record's template puts there (`Shape::time`), a FILETIME. Walks the records as
/// a sound chunk's are read (`evtx::read_direct`); `None` for a record read otherwise, or for
/// no record.
pub fn chunk_times(
    data: &[u8],
    end: usize,
    last_record_id: u64,
    shapes: &mut Shapes,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut span: Option<(u64, u64)> = None;
    let mut at = super::prescan::CHUNK_HEADER_BYTES;
    let mut slots: HashMap<u32, Option<usize>, Mixed> = HashMap::default();
    while at < end {
        let record = super::prescan::record_at(data, at, end)?;
        at += record.size;
        let ticks = record_ticks(data, record.binxml, shapes, &mut slots)?;
        span = Some(span.map_or((ticks, ticks), |(a, b)| (a.min(ticks), b.max(ticks))));
        if record.id == last_record_id {
            break;
        }
    }
    if at != end && data[at..end].iter().any(|b| *b != 0) {
        return None;
    }
    let (first, last) = span?;
    Some((super::filetime_utc(first)?, super::filetime_utc(last)?))
}

/// The FILETIME of a record's TimeCreated: the value at its template's time slot (`slots`:
/// by definition offset).
fn record_ticks(
    chunk: &[u8],
    binxml: &[u8],
    shapes: &mut Shapes,
    slots: &mut HashMap<u32, Option<usize>, Mixed>,
) -> Option<u64> {
    let start = offset_in(chunk, binxml)?;
    let end = start + binxml.len();
    let instance = instance_at(chunk, start, end)?;
    let definition = u32::try_from(instance.definition).ok()?;
    let slot = *slots.entry(definition).or_insert_with(|| {
        let shape = shapes.shape(chunk, &(definition, Vec::new()))?;
        match shape.time.as_slice() {
            [Piece::Sub { at: (0, index), .. }] => Some(*index),
            _ => None,
        }
    });
    let slot = slot?;
    if slot >= instance.count {
        return None;
    }
    let (size, kind, value_at) = instance.value(chunk, slot)?;
    if kind != ty::FILETIME || size != 8 || value_at + 8 > end {
        return None;
    }
    let ticks = u64::from_le_bytes(chunk.get(value_at..value_at + 8)?.try_into().ok()?);
    (ticks >= super::FILETIME_1970).then_some(ticks)
}

/// Where `bytes`, a slice of `chunk`, starts in it.
fn offset_in(chunk: &[u8], bytes: &[u8]) -> Option<usize> {
    let start = (bytes.as_ptr() as usize).checked_sub(chunk.as_ptr() as usize)?;
    (start.checked_add(bytes.len())? <= chunk.len()).then_some(start)
}

/// Reads a template instance: the template defined at `definition`, and its values.
fn view_instance<'a, 's>(
    chunk: &'a [u8],
    definition: u32,
    shapes: &mut Shapes,
    scratch: &'s mut Scratch<'a>,
    wanted: &dyn Wanted,
) -> Option<View<'s>> {
    let Scratch {
        text: out,
        data,
        values: all_values,
        nested,
        days,
    } = scratch;
    nested.clear();
    let top = all_values.len();
    for i in 0..top {
        let Value { kind, bytes } = all_values[i];
        if kind == ty::BINXML && !bytes.is_empty() {
            let start = all_values.len();
            let (definition, _) = fragment(chunk, bytes, false, all_values)?;
            nested.push((i, definition, start..all_values.len()));
        }
    }
    let same = |key: &Key| {
        key.0 == definition
            && key.1.len() == nested.len()
            && key
                .1
                .iter()
                .zip(nested.iter())
                .all(|(a, b)| (a.0, a.1) == (b.0, b.1))
    };
    if shapes.last.1.is_none() || !same(&shapes.last.0) {
        let key = &mut shapes.last.0;
        key.0 = definition;
        key.1.clear();
        key.1.extend(nested.iter().map(|(i, d, _)| (*i, *d)));
        shapes.last.1 = Some(match shapes.shapes.get(&shapes.last.0) {
            Some(index) => *index,
            None => {
                let built = shapes.shape(chunk, &shapes.last.0.clone());
                shapes.built.push(built);
                let index = shapes.built.len() - 1;
                shapes.shapes.insert(shapes.last.0.clone(), index);
                index
            }
        });
    }
    let index = shapes.last.1?;
    let shape = shapes.built.get(index)?.as_deref()?;
    // The record's values, then each fragment's: at most a few arrays.
    let mut arrays: [&[Value]; MAX_ARRAYS] = [&[]; MAX_ARRAYS];
    arrays[0] = &all_values[..top];
    for (slot, (_, _, range)) in arrays[1..].iter_mut().zip(nested.iter()) {
        *slot = &all_values[range.clone()];
    }
    if nested.len() >= MAX_ARRAYS {
        return None;
    }
    let values = &arrays[..=nested.len()];
    // `fragment` took plain values alone: none changes the XML's structure.
    let null = |at: &Slot| value(values, *at).is_some_and(|v| v.kind == ty::NULL);
    if shape.dependencies.iter().any(null) {
        return None;
    }
    if shape
        .optional_in_attributes
        .iter()
        .any(|at| value(values, *at).is_none_or(optional_empty))
    {
        return None;
    }
    out.clear();
    data.clear();
    let event_id = number(&shape.event_id, values, out)?;
    let event_id = u32::try_from(event_id).ok()?;
    let record_id = number(&shape.record_id, values, out)?;
    let time = time(&shape.time, values, days, out)?;
    let [provider_text, computer_text, channel_text] = &shape.literal;
    let provider = match &shape.provider {
        Some(pieces) => name_text(pieces, provider_text, values, true, out)?,
        None => 0..0,
    };
    let computer = name_text(&shape.computer, computer_text, values, false, out)?;
    let channel = name_text(&shape.channel, channel_text, values, false, out)?;
    let items = MAX_ITEMS.min(wanted.items());
    let wanted = wanted.event(&out[provider.clone()], event_id) && wanted.time(time);
    if wanted {
        for (name, pieces) in shape.data.iter().take(items) {
            let start = out.len();
            out.push_str(name);
            let name = start..cap(out, start, MAX_NAME_CHARS);
            let value = capped_text(pieces, values, false, MAX_VALUE_CHARS, out)?;
            data.push((name, value));
        }
    }
    let text = out.as_str();
    Some(View {
        time,
        record_id,
        event_id,
        provider: &text[provider],
        channel: &text[channel],
        computer: &text[computer],
        wanted,
        text,
        data,
    })
}

/// A number the XML route parses from `pieces`' text: straight from the value when it is
/// the text's only piece.
fn number(pieces: &[Piece], values: &[&[Value]], out: &mut String) -> Option<u64> {
    if let [Piece::Sub { at, .. }] = pieces {
        if let Some(v) = value(values, *at) {
            if matches!(v.kind, ty::UINT16 | ty::UINT32 | ty::UINT64) {
                return Some(v.bytes.iter().rev().fold(0, |n, b| n << 8 | u64::from(*b)));
            }
        }
    }
    let start = out.len();
    let range = text_into(pieces, values, false, out)?;
    let n = out[range].trim().parse().ok();
    out.truncate(start);
    n
}

/// `text_into`, then cut to `max` characters as `capped` cuts.
fn capped_text(
    pieces: &[Piece],
    values: &[&[Value]],
    attribute: bool,
    max: usize,
    out: &mut String,
) -> Option<Range<usize>> {
    let range = text_into(pieces, values, attribute, out)?;
    Some(range.start..cap(out, range.start, max))
}

/// `capped_text` of a name (provider, computer, channel), or its text written once when it is
/// literal.
fn name_text(
    pieces: &[Piece],
    literal: &Option<String>,
    values: &[&[Value]],
    attribute: bool,
    out: &mut String,
) -> Option<Range<usize>> {
    match literal {
        Some(text) => {
            let start = out.len();
            out.push_str(text);
            Some(start..out.len())
        }
        None => capped_text(pieces, values, attribute, MAX_NAME_CHARS, out),
    }
}

/// Cuts the text of `out` from `start` to `max` characters, as `capped` does; where it ends.
fn cap(out: &mut String, start: usize, max: usize) -> usize {
    // A character is at most four bytes: a text of up to `max` bytes is never cut.
    if out.len() - start > max {
        if let Some((at, _)) = out[start..].char_indices().nth(max) {
            let cut = out.len() - start - at;
            out.truncate(start + at);
            use std::fmt::Write as _;
            let _ = write!(out, "…[{cut} more bytes cut]");
        }
    }
    out.len()
}

fn value<'a>(values: &[&[Value<'a>]], (array, index): Slot) -> Option<Value<'a>> {
    values.get(array)?.get(index).copied()
}

/// Whether UTF-16LE bytes decode (`Utf16LeSlice::to_string`'s test: even length, no unpaired
/// surrogate), without decoding them into a string.
fn utf16_decodes(bytes: &[u8]) -> bool {
    // Without a surrogate (0xD800-0xDFFF) every unit is a character: looked for four units
    // at a time (a unit whose top five bits are 11011 leaves a zero lane after the xor).
    const LANES: u64 = 0x0001_0001_0001_0001;
    let surrogates = |word: u64| {
        let y = (word & 0xF800_F800_F800_F800) ^ 0xD800_D800_D800_D800;
        y.wrapping_sub(LANES) & !y & 0x8000_8000_8000_8000 != 0
    };
    let words = bytes.chunks_exact(8);
    let rest = words.remainder();
    let surrogate = |u: &[u8]| u[1] & 0xF8 == 0xD8;
    let none = !words
        .clone()
        .any(|w| surrogates(u64::from_le_bytes(w.try_into().unwrap_or_default())))
        && !rest.chunks_exact(2).any(surrogate);
    bytes.len().is_multiple_of(2)
        && (none
            || char::decode_utf16(
                bytes
                    .chunks_exact(2)
                    .map(|u| u16::from_le_bytes([u[0], u[1]])),
            )
            .all(|c| c.is_ok()))
}

/// Whether the crate leaves an optional substitution of this value out.
fn optional_empty(value: Value) -> bool {
    match value.kind {
        ty::NULL => true,
        ty::STRING | ty::BINARY | ty::BINXML => value.bytes.is_empty(),
        _ => false,
    }
}

/// Writes to `out` the text the XML route reads for `pieces`: the values as the crate writes
/// them into XML, and as an XML parser gives them back (line ends made `\n`; in an attribute,
/// white space made spaces). `None` for a value this reader leaves to the crate.
fn text_into(
    pieces: &[Piece],
    values: &[&[Value]],
    attribute: bool,
    out: &mut String,
) -> Option<Range<usize>> {
    let start = out.len();
    // Whether anything but printable ASCII was written (only then may a tab or line end be).
    let mut other = false;
    for piece in pieces {
        match piece {
            Piece::Text(t) => other |= push_escaped_str(out, t),
            Piece::Sub { at, optional } => {
                let Some(value) = value(values, *at) else {
                    continue;
                };
                if *optional && optional_empty(value) {
                    continue;
                }
                other |= value_text(value, out)?;
            }
        }
    }
    if other && memchr::memchr3(b'\r', b'\n', b'\t', &out.as_bytes()[start..]).is_some() {
        let parsed = as_parsed(out[start..].to_string(), attribute);
        out.truncate(start);
        out.push_str(&parsed);
    }
    Some(start..out.len())
}

/// Writes the text of one value; whether it wrote anything but printable ASCII (`None`: a
/// value left to the crate).
fn value_text(value: Value, out: &mut String) -> Option<bool> {
    match value.kind {
        ty::NULL => Some(false),
        // An embedded fragment is spliced into the shape: only an empty one is left here.
        ty::BINXML => value.bytes.is_empty().then_some(false),
        ty::STRING => {
            let bytes = value.bytes;
            let start = out.len();
            out.reserve(bytes.len() / 2);
            // Printable ASCII, nearly every value, is copied a byte a unit.
            let mut rest = bytes;
            while let [low @ 0x20..0x80, 0, tail @ ..] = rest {
                out.push(char::from(*low));
                rest = tail;
            }
            if rest.is_empty() {
                return Some(false);
            }
            let units = rest
                .chunks_exact(2)
                .map(|u| u16::from_le_bytes([u[0], u[1]]));
            for c in char::decode_utf16(units) {
                match c {
                    Ok(c) => push_escaped(out, std::iter::once(c)),
                    Err(_) => {
                        out.truncate(start);
                        return None;
                    }
                }
            }
            Some(true)
        }
        ty::SID => Some(push_escaped_str(out, &sid(value.bytes)?)),
        kind => {
            plain_text(&plain_value(kind, value.bytes)?, out);
            Some(false)
        }
    }
}

/// Writes characters as the crate writes them into XML: C0 controls other than tab, line
/// feed and carriage return, and the non-characters U+FFFE / U+FFFF, become `_`. Whether it
/// wrote anything but printable ASCII.
fn push_escaped_str(out: &mut String, s: &str) -> bool {
    // Printable ASCII is written as it is.
    if s.bytes().all(|b| (0x20..0x80).contains(&b)) {
        out.push_str(s);
        false
    } else {
        push_escaped(out, s.chars());
        true
    }
}

/// The text the crate writes for a plain value that is not a string (its `Display`): numbers,
/// booleans, binary, GUIDs and hex numbers written here as `ValueRenderer` writes them, the
/// rest (times, SIDs) through `Display`.
fn plain_text(value: &BinXmlValue, out: &mut String) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let unsigned = |n: u64, out: &mut String| {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend(digits[at..].iter().map(|d| char::from(*d)));
    };
    let signed = |n: i64, out: &mut String| {
        if n < 0 {
            out.push('-');
        }
        unsigned(n.unsigned_abs(), out);
    };
    let hex = |n: u64, out: &mut String| {
        out.push_str("0x");
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            out.push(char::from(LOWER[(n >> (k * 4)) as usize & 0xF]));
        }
    };
    match value {
        BinXmlValue::Int8Type(n) => signed(i64::from(*n), out),
        BinXmlValue::Int16Type(n) => signed(i64::from(*n), out),
        BinXmlValue::Int32Type(n) => signed(i64::from(*n), out),
        BinXmlValue::Int64Type(n) => signed(*n, out),
        BinXmlValue::UInt8Type(n) => unsigned(u64::from(*n), out),
        BinXmlValue::UInt16Type(n) => unsigned(u64::from(*n), out),
        BinXmlValue::UInt32Type(n) => unsigned(u64::from(*n), out),
        BinXmlValue::UInt64Type(n) => unsigned(*n, out),
        BinXmlValue::BoolType(b) => out.push_str(if *b { "true" } else { "false" }),
        BinXmlValue::HexInt32Type(n) => hex(u64::from(*n), out),
        BinXmlValue::HexInt64Type(n) => hex(*n, out),
        BinXmlValue::BinaryType(bytes) => {
            out.reserve(bytes.len() * 2);
            for b in *bytes {
                out.push(char::from(UPPER[usize::from(b >> 4)]));
                out.push(char::from(UPPER[usize::from(b & 0xF)]));
            }
        }
        BinXmlValue::GuidType(g) => {
            // Data1-3 little-endian, then Data4 as it is: `{d1-d2-d3-d4[0..2]-d4[2..8]}`.
            const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
            out.push('{');
            for (i, at) in ORDER.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                out.push(char::from(LOWER[usize::from(g[*at] >> 4)]));
                out.push(char::from(LOWER[usize::from(g[*at] & 0xF)]));
            }
            out.push('}');
        }
        other => {
            use std::fmt::Write as _;
            let _ = write!(out, "{other}");
        }
    }
}

/// `push_escaped_str`, a character at a time.
fn push_escaped(out: &mut String, chars: impl Iterator<Item = char>) {
    for c in chars {
        let odd =
            (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}');
        out.push(if odd { '_' } else { c });
    }
}

/// What an XML parser gives back for text written raw: `\r\n` and `\r` read as `\n`, and in
/// an attribute every tab or line end read as a space.
fn as_parsed(text: String, attribute: bool) -> String {
    if !text.contains(['\r', '\n', '\t']) {
        return text;
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if attribute {
        text.replace(['\n', '\t'], " ")
    } else {
        text
    }
}

/// TimeCreated's SystemTime: straight from a FILETIME value that is the attribute's only
/// piece, else read from the text the crate writes for it.
fn time(
    pieces: &[Piece],
    values: &[&[Value]],
    days: &mut super::FiletimeDays,
    out: &mut String,
) -> Option<DateTime<Utc>> {
    if let [Piece::Sub { at, .. }] = pieces {
        if let Some(Value {
            kind: ty::FILETIME,
            bytes,
        }) = value(values, *at)
        {
            let ticks = u64::from_le_bytes(bytes.try_into().ok()?);
            if ticks >= super::FILETIME_1970 {
                return days.utc(ticks);
            }
        }
    }
    let start = out.len();
    let range = text_into(pieces, values, true, out)?;
    let time = super::xml::parse_time(&out[range]);
    out.truncate(start);
    time
}

/// The shape of a record made of the templates of `key`: the record's template with each
/// embedded fragment's template in place of its substitution.
fn build(
    chunk: &[u8],
    key: &Key,
    trees: &mut HashMap<u32, Option<Element>, Mixed>,
) -> Option<Shape> {
    let mut tree_of = |offset: u32| {
        trees
            .entry(offset)
            .or_insert_with(|| tree(chunk, offset as usize))
            .clone()
    };
    let mut root = tree_of(key.0)?;
    for (k, (index, offset)) in key.1.iter().enumerate() {
        let mut inner = tree_of(*offset)?;
        relabel(&mut inner, k + 1);
        if attribute_pieces(&root)
            .iter()
            .any(|p| matches!(p, Piece::Sub { at, .. } if *at == (0, *index)))
        {
            return None;
        }
        splice(&mut root, *index, &inner);
    }
    extract(&root)
}

/// Moves every substitution of a fragment's template to the fragment's value array.
fn relabel(e: &mut Element, array: usize) {
    let mut move_piece = |p: &mut Piece| {
        if let Piece::Sub { at, .. } = p {
            at.0 = array;
        }
    };
    for (_, pieces) in &mut e.attributes {
        pieces.iter_mut().for_each(&mut move_piece);
    }
    if let Some(d) = &mut e.dependency {
        d.0 = array;
    }
    for c in &mut e.children {
        match c {
            Child::Piece(p) => move_piece(p),
            Child::Element(inner) => relabel(inner, array),
        }
    }
}

/// Puts the fragment's element where the record's substitution `index` is.
fn splice(e: &mut Element, index: usize, inner: &Element) {
    for c in &mut e.children {
        match c {
            Child::Piece(Piece::Sub { at, .. }) if *at == (0, index) => {
                *c = Child::Element(inner.clone());
            }
            Child::Element(child) => splice(child, index, inner),
            Child::Piece(_) => {}
        }
    }
}

/// The element tree of the template defined at `offset` of the chunk, or `None` when its
/// definition holds anything but the plain tokens.
fn tree(chunk: &[u8], offset: usize) -> Option<Element> {
    let size = u32_at(chunk, offset + 20)? as usize;
    let body = chunk.get(offset + 24..(offset + 24).checked_add(size)?)?;
    let mut walk = Walk {
        chunk,
        at: offset + 24,
        end: offset + 24 + body.len(),
    };
    if walk.byte()? != token::FRAGMENT_HEADER {
        return None;
    }
    walk.at += 3;
    let root = walk.element()?;
    if walk.byte()? != token::END_OF_STREAM {
        return None;
    }
    Some(root)
}

/// A TemplateInstance (an embedded fragment, a value of BinXML type, or with `top` a
/// record's own stream; a slice of the chunk): its template's definition offset, its
/// substitution values, and where in the chunk they end, when its values are plain (MS-EVEN6
/// 2.2.12; the layout `prescan` reads too). Only a record's own values may be BinXML.
fn fragment<'a>(
    chunk: &'a [u8],
    bytes: &'a [u8],
    top: bool,
    values: &mut Vec<Value<'a>>,
) -> Option<(u32, usize)> {
    let start = offset_in(chunk, bytes)?;
    let end = start + bytes.len();
    let Instance {
        definition,
        descriptors,
        count,
    } = instance_at(chunk, start, end)?;
    if count > 4096 {
        return None;
    }
    let first = descriptors + count * 4;
    let descriptors = chunk.get(descriptors..first)?;
    // The values follow the descriptors, each taken from the front of what is left.
    let mut rest = chunk.get(first..end)?;
    values.reserve(count);
    for descriptor in descriptors.chunks_exact(4) {
        let size = usize::from(u16::from_le_bytes([descriptor[0], descriptor[1]]));
        let kind = descriptor[2];
        let (raw, after) = rest.split_at_checked(size)?;
        rest = after;
        let fits = match SIZES[usize::from(kind)] {
            ANY_SIZE => true,
            OTHER => match kind {
                ty::STRING => {
                    // The units before the first NUL, as the crate reads them; they must
                    // decode.
                    let bytes = &raw[..units_before_nul(raw) * 2];
                    if !utf16_decodes(bytes) {
                        return None;
                    }
                    values.push(Value { kind, bytes });
                    continue;
                }
                ty::BINXML => top,
                ty::SID => sid_parts(raw).is_some(),
                _ => plain_value(kind, raw).is_some(),
            },
            // 0: a type left to the crate, whatever its size.
            exact => exact != 0 && usize::from(exact) == size,
        };
        if !fits {
            return None;
        }
        values.push(Value { kind, bytes: raw });
    }
    Some((u32::try_from(definition).ok()?, end - rest.len()))
}

/// The size of a value of each type `fragment` takes (MS-EVEN6 2.2.18): `ANY_SIZE`, `OTHER`
/// (strings, SIDs, booleans and BinXML: looked at further), or the exact size; 0 for the
/// types left to the crate.
const SIZES: [u8; 256] = {
    let mut sizes = [0u8; 256];
    let exact: [(u8, u8); 12] = [
        (0x03, 1),
        (0x04, 1),
        (0x05, 2),
        (0x06, 2),
        (0x07, 4),
        (0x08, 4),
        (0x09, 8),
        (0x0A, 8),
        (0x0F, 16),
        (0x11, 8),
        (0x14, 4),
        (0x15, 8),
    ];
    let mut i = 0;
    while i < exact.len() {
        sizes[exact[i].0 as usize] = exact[i].1;
        i += 1;
    }
    sizes[ty::NULL as usize] = ANY_SIZE;
    sizes[ty::BINARY as usize] = ANY_SIZE;
    sizes[ty::STRING as usize] = OTHER;
    sizes[ty::SID as usize] = OTHER;
    sizes[0x0D] = OTHER;
    sizes[ty::BINXML as usize] = OTHER;
    sizes
};
const ANY_SIZE: u8 = 0xFF;
const OTHER: u8 = 0xFE;

/// A substitution value of a plain type other than a string or a SID from its bytes (MS-EVEN6
/// 2.2.18); `None` for the types left to the crate (floats, SYSTEMTIME, ANSI, arrays, BinXML)
/// or bytes that do not fit the type.
#[inline(always)]
fn plain_value(kind: u8, raw: &[u8]) -> Option<BinXmlValue<'_>> {
    fn le<const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
        raw.try_into().ok()
    }
    Some(match kind {
        0x00 => BinXmlValue::NullType,
        0x03 => BinXmlValue::Int8Type(i8::from_le_bytes(le(raw)?)),
        0x04 => BinXmlValue::UInt8Type(u8::from_le_bytes(le(raw)?)),
        0x05 => BinXmlValue::Int16Type(i16::from_le_bytes(le(raw)?)),
        0x06 => BinXmlValue::UInt16Type(u16::from_le_bytes(le(raw)?)),
        0x07 => BinXmlValue::Int32Type(i32::from_le_bytes(le(raw)?)),
        0x08 => BinXmlValue::UInt32Type(u32::from_le_bytes(le(raw)?)),
        0x09 => BinXmlValue::Int64Type(i64::from_le_bytes(le(raw)?)),
        0x0A => BinXmlValue::UInt64Type(u64::from_le_bytes(le(raw)?)),
        0x0D => match i32::from_le_bytes(le(raw)?) {
            0 => BinXmlValue::BoolType(false),
            1 => BinXmlValue::BoolType(true),
            _ => return None,
        },
        0x0E => BinXmlValue::BinaryType(raw),
        0x0F => BinXmlValue::GuidType(le(raw)?),
        0x11 => BinXmlValue::FileTimeType(FileTime(u64::from_le_bytes(le(raw)?))),
        0x14 => BinXmlValue::HexInt32Type(u32::from_le_bytes(le(raw)?)),
        0x15 => BinXmlValue::HexInt64Type(u64::from_le_bytes(le(raw)?)),
        _ => return None,
    })
}

/// How many UTF-16 units come before the first NUL unit (all of them without one): looked
/// for four units at a time, as a zero lane of a word.
fn units_before_nul(raw: &[u8]) -> usize {
    const LANES: u64 = 0x0001_0001_0001_0001;
    let words = raw.chunks_exact(8);
    let rest_at = raw.len() / 8 * 4;
    for (n, word) in words.enumerate() {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let zero = w.wrapping_sub(LANES) & !w & 0x8000_8000_8000_8000;
        if zero != 0 {
            // The lowest flagged lane is a zero one (a borrow only flags lanes above it).
            return n * 4 + zero.trailing_zeros() as usize / 16;
        }
    }
    raw[rest_at * 2..]
        .chunks_exact(2)
        .position(|u| u == [0, 0])
        .map_or(raw.len() / 2, |at| rest_at + at)
}

/// Where `parse_event` looks, found in the template's tree the way it looks in the XML.
fn extract(event: &Element) -> Option<Shape> {
    if event.name != "Event" {
        return None;
    }
    let system = child(event, "System")?;
    let header = |name: &str| child(system, name).map(direct_text);
    let provider = child(system, "Provider").and_then(|p| {
        attribute(p, "Name")
            .or_else(|| attribute(p, "EventSourceName"))
            .cloned()
    });
    let time = child(system, "TimeCreated").and_then(|t| attribute(t, "SystemTime"))?;
    let mut data = Vec::new();
    if let Some(container) = event.children.iter().find_map(|c| match c {
        Child::Element(e) if e.name == "EventData" || e.name == "UserData" => Some(e),
        _ => None,
    }) {
        if container.name == "EventData" {
            let mut unnamed = 0;
            for item in elements(container) {
                let name = match attribute(item, "Name") {
                    Some(pieces) => Some(literal(pieces)?),
                    None => None,
                };
                let name = item_name(&item.name, name.as_deref(), &mut unnamed);
                data.push((name, all_text(item)));
            }
        } else {
            leaves(container, &mut data);
        }
    }
    let mut dependencies = Vec::new();
    collect(event, &mut dependencies, true);
    // The attributes read: an optional one left empty may be left out by the crate.
    let read_attributes = child(system, "Provider")
        .into_iter()
        .flat_map(|p| p.attributes.iter())
        .chain(
            child(system, "TimeCreated")
                .into_iter()
                .flat_map(|t| t.attributes.iter()),
        );
    let optional_in_attributes = read_attributes
        .flat_map(|(_, pieces)| pieces.iter())
        .filter_map(|p| match p {
            Piece::Sub { at, optional: true } => Some(*at),
            _ => None,
        })
        .collect();
    let literal_of = |pieces: Option<&Vec<Piece>>, attribute: bool| {
        let pieces = pieces?;
        if !pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
            return None;
        }
        let mut text = String::new();
        capped_text(pieces, &[], attribute, MAX_NAME_CHARS, &mut text)?;
        Some(text)
    };
    let computer = header("Computer").unwrap_or_default();
    let channel = header("Channel").unwrap_or_default();
    let literal = [
        literal_of(provider.as_ref(), true),
        literal_of(Some(&computer), false),
        literal_of(Some(&channel), false),
    ];
    Some(Shape {
        provider,
        event_id: header("EventID")?,
        record_id: header("EventRecordID")?,
        time: time.clone(),
        channel,
        computer,
        data,
        dependencies,
        optional_in_attributes,
        literal,
    })
}

/// Every piece of every attribute under the element (itself included).
fn attribute_pieces(e: &Element) -> Vec<Piece> {
    let mut out: Vec<Piece> = e.attributes.iter().flat_map(|(_, v)| v.clone()).collect();
    for inner in elements(e) {
        out.extend(attribute_pieces(inner));
    }
    out
}

fn elements(e: &Element) -> impl Iterator<Item = &Element> {
    e.children.iter().filter_map(|c| match c {
        Child::Element(e) => Some(e),
        Child::Piece(_) => None,
    })
}

fn child<'e>(e: &'e Element, name: &str) -> Option<&'e Element> {
    elements(e).find(|c| c.name == name)
}

fn attribute<'e>(e: &'e Element, name: &str) -> Option<&'e Vec<Piece>> {
    e.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn literal(pieces: &[Piece]) -> Option<String> {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            Piece::Sub { .. } => None,
        })
        .collect()
}

/// The element's first text node, as roxmltree's `text()` gives it: the pieces before its
/// first child element.
fn direct_text(e: &Element) -> Vec<Piece> {
    e.children
        .iter()
        .map_while(|c| match c {
            Child::Piece(p) => Some(p.clone()),
            Child::Element(_) => None,
        })
        .collect()
}

/// All text under the element, in document order.
fn all_text(e: &Element) -> Vec<Piece> {
    let mut out = Vec::new();
    for c in &e.children {
        match c {
            Child::Piece(p) => out.push(p.clone()),
            Child::Element(inner) => out.extend(all_text(inner)),
        }
    }
    out
}

/// UserData's items: every element without child elements (itself included), in document
/// order, by its name.
fn leaves(e: &Element, out: &mut Vec<(String, Vec<Piece>)>) {
    if elements(e).next().is_none() {
        out.push((e.name.clone(), all_text(e)));
        return;
    }
    for inner in elements(e) {
        leaves(inner, out);
    }
}

fn collect(e: &Element, dependencies: &mut Vec<Slot>, root: bool) {
    // The root is always rendered (the crate clones it directly).
    if let (Some(d), false) = (e.dependency, root) {
        dependencies.push(d);
    }
    for inner in elements(e) {
        collect(inner, dependencies, false);
    }
}

/// A cursor over a template definition's tokens.
struct Walk<'c> {
    chunk: &'c [u8],
    at: usize,
    end: usize,
}

/// How deep elements may nest in a template this reader follows.
const MAX_DEPTH: usize = 32;

impl Walk<'_> {
    fn byte(&mut self) -> Option<u8> {
        if self.at >= self.end {
            return None;
        }
        let b = *self.chunk.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let v = u16_at(self.chunk, self.at)?;
        self.at += 2;
        Some(v)
    }

    fn u32(&mut self) -> Option<u32> {
        let v = u32_at(self.chunk, self.at)?;
        self.at += 4;
        Some(v)
    }

    /// A name reference: the string-table entry at its offset, skipped when inline.
    fn name(&mut self) -> Option<String> {
        let offset = self.u32()? as usize;
        let units = usize::from(u16_at(self.chunk, offset + 6)?);
        let raw = self.chunk.get(offset + 8..offset + 8 + units * 2)?;
        let name = utf16(raw)?;
        let entry = 8 + (units + 1) * 2;
        // Inline when the reference points right after itself; a template embedded in a
        // value may also carry its names inline while pointing at the same name elsewhere.
        let here = self.chunk.get(self.at + 6..self.at + 8 + units * 2);
        if offset == self.at || here == self.chunk.get(offset + 6..offset + 8 + units * 2) {
            self.at += entry;
        }
        // A prefixed name (`ns:Name`) is matched by local name in XML: not followed here.
        (!name.contains(':')).then_some(name)
    }

    fn element(&mut self) -> Option<Element> {
        self.element_at(0)
    }

    fn element_at(&mut self, depth: usize) -> Option<Element> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.byte()?;
        if start & !token::HAS_MORE != token::OPEN_START_ELEMENT {
            return None;
        }
        let dependency = self.u16()?;
        let _size = self.u32()?;
        let mut element = Element {
            name: self.name()?,
            dependency: (dependency != 0xFFFF).then_some((0, usize::from(dependency))),
            ..Element::default()
        };
        if start & token::HAS_MORE != 0 {
            let _list_size = self.u32()?;
            loop {
                let t = self.byte()?;
                if t & !token::HAS_MORE != token::ATTRIBUTE {
                    return None;
                }
                let name = self.name()?;
                let value = self.piece()?;
                element.attributes.push((name, vec![value]));
                if t & token::HAS_MORE == 0 {
                    break;
                }
            }
        }
        match self.byte()? {
            token::CLOSE_EMPTY_ELEMENT => return Some(element),
            token::CLOSE_START_ELEMENT => {}
            _ => return None,
        }
        loop {
            let t = *self.chunk.get(self.at)?;
            match t & !token::HAS_MORE {
                token::END_ELEMENT => {
                    self.at += 1;
                    return Some(element);
                }
                token::OPEN_START_ELEMENT => {
                    let inner = self.element_at(depth + 1)?;
                    element.children.push(Child::Element(inner));
                }
                _ => {
                    let piece = self.piece()?;
                    // Adjacent pieces are one text node in the XML.
                    element.children.push(Child::Piece(piece));
                }
            }
        }
    }

    /// A value token (UTF-16 text) or a substitution.
    fn piece(&mut self) -> Option<Piece> {
        match self.byte()? & !token::HAS_MORE {
            token::VALUE => {
                if self.byte()? != ty::STRING {
                    return None;
                }
                let units = usize::from(self.u16()?);
                let bytes = self.chunk.get(self.at..self.at + units * 2)?;
                self.at += units * 2;
                let text = utf16(bytes)?;
                Some(Piece::Text(text))
            }
            t @ (token::NORMAL_SUBSTITUTION | token::OPTIONAL_SUBSTITUTION) => {
                let index = usize::from(self.u16()?);
                let _type = self.byte()?;
                Some(Piece::Sub {
                    at: (0, index),
                    optional: t == token::OPTIONAL_SUBSTITUTION,
                })
            }
            _ => None,
        }
    }
}

/// A SID as text (`S-1-5-18`): revision, 48-bit big-endian authority, sub-authorities.
fn sid(raw: &[u8]) -> Option<String> {
    use std::fmt::Write as _;
    let (revision, authority, subs) = sid_parts(raw)?;
    let mut out = format!("S-{revision}-{authority}");
    for sub in subs.chunks_exact(4) {
        let _ = write!(
            out,
            "-{}",
            u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]])
        );
    }
    Some(out)
}

/// A SID's revision, identifier authority and sub-authorities (four bytes each), when its
/// bytes are one.
fn sid_parts(raw: &[u8]) -> Option<(u8, u64, &[u8])> {
    let (&revision, rest) = raw.split_first()?;
    let (&count, rest) = rest.split_first()?;
    let authority = rest
        .get(..6)?
        .iter()
        .fold(0u64, |a, b| (a << 8) | u64::from(*b));
    if authority >= 1 << 32 || rest.len() != 6 + usize::from(count) * 4 {
        return None;
    }
    Some((revision, authority, &rest[6..]))
}

fn utf16(bytes: &[u8]) -> Option<String> {
    char::decode_utf16(
        bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]])),
    )
    .collect::<Result<String, _>>()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::{fragment, plain_text, utf16_decodes, BinXmlValue, FileTime};

    fn le(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn a_string_ends_at_its_first_nul_unit() {
        for len in 0..20 {
            for nul in 0..=len {
                let mut units: Vec<u16> = (0..len).map(|i| 0x0100 + i as u16).collect();
                if nul < len {
                    units[nul] = 0;
                }
                // A zero byte in a unit that is not NUL is not an end.
                units.iter_mut().take(nul).for_each(|u| *u &= 0xFF00);
                let mut bytes = le(&units);
                assert_eq!(
                    super::units_before_nul(&bytes),
                    nul,
                    "{len} units, NUL at {nul}"
                );
                bytes.push(0);
                assert_eq!(super::units_before_nul(&bytes), nul, "an odd byte after");
            }
        }
    }

    #[test]
    fn unpaired_surrogates_are_found_wherever_they_are() {
        let pair = [0xD83D, 0xDE00];
        for at in 0..9 {
            let mut units = vec![u16::from(b'a'); 9];
            assert!(utf16_decodes(&le(&units)));
            units.splice(at..at, pair);
            assert!(utf16_decodes(&le(&units)), "a pair at {at}");
            for lone in [0xD800, 0xDBFF, 0xDC00, 0xDFFF] {
                let mut bad = vec![u16::from(b'a'); 9];
                bad[at] = lone;
                assert!(!utf16_decodes(&le(&bad)), "{lone:#x} at {at}");
            }
        }
        // Units next to the surrogates, and an odd length.
        assert!(utf16_decodes(&le(&[0xD7FF, 0xE000, 0xF800, 0x00D8, 0xD8])));
        assert!(!utf16_decodes(&[0x61, 0, 0x62]));
    }

    #[test]
    fn plain_values_are_written_as_the_crate_displays_them() {
        let guid = [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA,
            0xDC, 0xFE,
        ];
        let values = [
            BinXmlValue::Int8Type(i8::MIN),
            BinXmlValue::Int8Type(0),
            BinXmlValue::Int16Type(-300),
            BinXmlValue::Int32Type(i32::MIN),
            BinXmlValue::Int64Type(i64::MIN),
            BinXmlValue::Int64Type(i64::MAX),
            BinXmlValue::UInt8Type(255),
            BinXmlValue::UInt16Type(0),
            BinXmlValue::UInt32Type(4_294_967_295),
            BinXmlValue::UInt64Type(u64::MAX),
            BinXmlValue::SizeTType(12345),
            BinXmlValue::BoolType(true),
            BinXmlValue::BoolType(false),
            BinXmlValue::HexInt32Type(0),
            BinXmlValue::HexInt32Type(0x8009_0311),
            BinXmlValue::HexInt64Type(0x10),
            BinXmlValue::HexInt64Type(u64::MAX),
            BinXmlValue::BinaryType(&[]),
            BinXmlValue::BinaryType(&[0x00, 0x0F, 0xA5, 0xFF]),
            BinXmlValue::GuidType(guid),
            BinXmlValue::FileTimeType(FileTime(133_000_000_000_000_000)),
        ];
        for value in values {
            let mut out = String::from("x");
            plain_text(&value, &mut out);
            assert_eq!(out, format!("x{value}"), "{value:?}");
        }
    }

    /// A TemplateInstance of one value (its type and bytes), its template defined elsewhere.
    fn instance(kind: u8, value: &[u8]) -> Vec<u8> {
        let mut b = vec![0x0C, 0x01, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 0, 0, 0];
        b.extend_from_slice(&(value.len() as u16).to_le_bytes());
        b.extend_from_slice(&[kind, 0]);
        b.extend_from_slice(value);
        b
    }

    #[test]
    fn values_of_types_left_to_the_crate_are_refused_at_any_size() {
        let take = |kind: u8, value: &[u8]| {
            let b = instance(kind, value);
            fragment(&b, &b, true, &mut Vec::new()).is_some()
        };
        assert!(take(0x04, &[7]));
        assert!(take(0x08, &[1, 2, 3, 4]));
        assert!(!take(0x08, &[1, 2, 3]));
        assert!(take(0x0E, &[]));
        // Floats, ANSI, SizeT, SYSTEMTIME, unknown types and arrays: never, even empty.
        for kind in [0x02, 0x0B, 0x0C, 0x10, 0x12, 0x16, 0x22, 0x81, 0xFF] {
            assert!(!take(kind, &[]), "{kind:#x} empty");
            assert!(!take(kind, &[0; 8]), "{kind:#x}");
        }
    }
}
