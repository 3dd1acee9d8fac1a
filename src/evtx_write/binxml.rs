//! BinXML serialization into a chunk, laid out the way Windows lays it out: names through
//! the chunk's common string table, template definitions inline at first use in the chunk
//! and referenced by offset afterwards, substitution arrays after each TemplateInstance.
//!
//! All offsets are chunk-relative, so the writer appends to the chunk's own buffer: its
//! length is the offset of the next byte.

use std::collections::HashMap;

use super::model::{Element, Instance, Node, Sub};
use super::values::Value;

/// A chunk is 64 KiB; nothing written may end past it.
pub(crate) const CHUNK_SIZE: usize = 0x10000;

/// BinXML tokens (MS-EVEN6 2.2.12), as the writer writes them and `input::template` reads them.
pub(crate) mod token {
    pub(crate) const END_OF_STREAM: u8 = 0x00;
    pub(crate) const OPEN_START_ELEMENT: u8 = 0x01;
    pub(crate) const CLOSE_START_ELEMENT: u8 = 0x02;
    pub(crate) const CLOSE_EMPTY_ELEMENT: u8 = 0x03;
    pub(crate) const END_ELEMENT: u8 = 0x04;
    pub(crate) const VALUE: u8 = 0x05;
    pub(crate) const ATTRIBUTE: u8 = 0x06;
    pub(crate) const TEMPLATE_INSTANCE: u8 = 0x0c;
    pub(crate) const NORMAL_SUBSTITUTION: u8 = 0x0d;
    pub(crate) const OPTIONAL_SUBSTITUTION: u8 = 0x0e;
    pub(crate) const FRAGMENT_HEADER: u8 = 0x0f;
    /// "More data follows" flag: on an element start, it has attributes; on an
    /// attribute, another attribute follows.
    pub(crate) const HAS_MORE: u8 = 0x40;
}

/// Fragment header: token, major 1, minor 1, flags 0 (as Windows writes it).
const FRAGMENT_HEADER: [u8; 4] = [token::FRAGMENT_HEADER, 1, 1, 0];

/// Something written would not fit a chunk (or a BinXML size field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

type Result<T> = std::result::Result<T, TooLarge>;

/// Per-chunk name and template tables (the 64 string and 32 template buckets of the
/// chunk header), plus lookups so each name/template is written inline only once.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    strings: HashMap<String, u32>,
    pub(crate) string_heads: [u32; 64],
    templates: HashMap<Vec<u8>, u32>,
    pub(crate) template_heads: [u32; 32],
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            strings: HashMap::new(),
            string_heads: [0; 64],
            templates: HashMap::new(),
            template_heads: [0; 32],
        }
    }
}

/// Windows' name hash (libevtx, verified on real chunks): `h = h * 65599 + code unit`
/// over the UTF-16 name, low 16 bits kept; the bucket is `hash % 64`.
pub(crate) fn name_hash(name: &str) -> u16 {
    let hash = name.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(65599).wrapping_add(u32::from(unit))
    });
    (hash & 0xffff) as u16
}

/// Chunk-independent encoding of a template, the key that identifies it in a chunk and
/// the source of its GUID (so one shape keeps one GUID in every chunk, as on Windows).
fn template_key(element: &Element) -> Vec<u8> {
    let mut key = Vec::new();
    encode_element(&mut key, element);
    key
}

fn encode_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn encode_node(out: &mut Vec<u8>, node: &Node) {
    match node {
        Node::Element(element) => encode_element(out, element),
        Node::Text(text) => {
            out.push(b'T');
            encode_str(out, text);
        }
        Node::Sub(sub) => {
            out.push(b'S');
            out.extend_from_slice(&sub.index.to_le_bytes());
            out.push(sub.value_type);
            out.push(u8::from(sub.optional));
        }
    }
}

fn encode_element(out: &mut Vec<u8>, element: &Element) {
    out.push(b'E');
    encode_str(out, &element.name);
    out.extend_from_slice(&element.dependency.to_le_bytes());
    out.extend_from_slice(&(element.attributes.len() as u64).to_le_bytes());
    for attribute in &element.attributes {
        encode_str(out, &attribute.name);
        encode_node(out, &attribute.value);
    }
    out.extend_from_slice(&(element.children.len() as u64).to_le_bytes());
    for child in &element.children {
        encode_node(out, child);
    }
}

/// A deterministic 16-byte template GUID: four CRC32s of the key with different seeds.
/// (Windows derives it from the template too; readers only use it as an identifier.)
fn template_guid(key: &[u8]) -> [u8; 16] {
    let mut guid = [0u8; 16];
    for (seed, part) in (0u32..).zip(guid.chunks_mut(4)) {
        let mut hasher = crc32fast::Hasher::new_with_initial(seed.wrapping_mul(0x9e37_79b9));
        hasher.update(key);
        part.copy_from_slice(&hasher.finalize().to_le_bytes());
    }
    guid
}

/// Appends BinXML to a chunk buffer whose length is the chunk offset of the next byte.
pub(crate) struct Writer<'a> {
    pub(crate) data: &'a mut Vec<u8>,
    pub(crate) tables: &'a mut Tables,
}

impl Writer<'_> {
    /// Chunk offset of the next byte.
    fn pos(&self) -> Result<u32> {
        if self.data.len() > CHUNK_SIZE {
            return Err(TooLarge);
        }
        u32::try_from(self.data.len()).map_err(|_| TooLarge)
    }

    fn u8(&mut self, v: u8) {
        self.data.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.data.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.data.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.data.extend_from_slice(v);
    }

    fn utf16(&mut self, text: &str) {
        for unit in text.encode_utf16() {
            self.u16(unit);
        }
    }

    /// Reserves a u32 to be filled in later by [`Writer::patch_u32`].
    fn placeholder_u32(&mut self) -> usize {
        let at = self.data.len();
        self.u32(0);
        at
    }

    fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(slot) = self.data.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn patch_u16(&mut self, at: usize, v: u16) {
        if let Some(slot) = self.data.get_mut(at..at + 2) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Bytes written since `start`, as a BinXML u32 size.
    fn size_since(&self, start: usize) -> Result<u32> {
        u32::try_from(self.data.len().saturating_sub(start)).map_err(|_| TooLarge)
    }

    /// A name reference: the offset of the name's string-table entry, with the entry
    /// itself following inline the first time the chunk uses the name.
    fn name(&mut self, name: &str) -> Result<()> {
        if let Some(&offset) = self.tables.strings.get(name) {
            self.u32(offset);
            return Ok(());
        }
        let units = u16::try_from(name.encode_utf16().count()).map_err(|_| TooLarge)?;
        let offset = self.pos()?.checked_add(4).ok_or(TooLarge)?;
        self.u32(offset);
        let hash = name_hash(name);
        let bucket = usize::from(hash % 64);
        // New entries go to the head of their bucket's chain, as on Windows.
        let next = self.tables.string_heads.get(bucket).copied().unwrap_or(0);
        self.u32(next);
        self.u16(hash);
        self.u16(units);
        self.utf16(name);
        self.u16(0);
        if let Some(head) = self.tables.string_heads.get_mut(bucket) {
            *head = offset;
        }
        self.tables.strings.insert(name.to_owned(), offset);
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<()> {
        let units = u16::try_from(text.encode_utf16().count()).map_err(|_| TooLarge)?;
        self.u8(token::VALUE);
        self.u8(super::values::ty::STRING);
        self.u16(units);
        self.utf16(text);
        Ok(())
    }

    fn substitution(&mut self, sub: &Sub) {
        self.u8(if sub.optional {
            token::OPTIONAL_SUBSTITUTION
        } else {
            token::NORMAL_SUBSTITUTION
        });
        self.u16(sub.index);
        self.u8(sub.value_type);
    }

    fn node(&mut self, node: &Node) -> Result<()> {
        match node {
            Node::Element(element) => self.element(element),
            Node::Text(text) => self.text(text),
            Node::Sub(sub) => {
                self.substitution(sub);
                Ok(())
            }
        }
    }

    /// An element of a template definition: token, DependencyId, data size, name,
    /// attribute list (with its size), then content or the empty-element close.
    fn element(&mut self, element: &Element) -> Result<()> {
        let has_attributes = !element.attributes.is_empty();
        let flag = if has_attributes { token::HAS_MORE } else { 0 };
        self.u8(token::OPEN_START_ELEMENT | flag);
        self.u16(element.dependency);
        let size_at = self.placeholder_u32();
        self.name(&element.name)?;
        if has_attributes {
            let list_at = self.placeholder_u32();
            let count = element.attributes.len();
            for (i, attribute) in element.attributes.iter().enumerate() {
                let more = if i + 1 < count { token::HAS_MORE } else { 0 };
                self.u8(token::ATTRIBUTE | more);
                self.name(&attribute.name)?;
                self.node(&attribute.value)?;
            }
            let list_size = self.size_since(list_at + 4)?;
            self.patch_u32(list_at, list_size);
        }
        if element.children.is_empty() {
            self.u8(token::CLOSE_EMPTY_ELEMENT);
        } else {
            self.u8(token::CLOSE_START_ELEMENT);
            for child in &element.children {
                self.node(child)?;
            }
            self.u8(token::END_ELEMENT);
        }
        let size = self.size_since(size_at + 4)?;
        self.patch_u32(size_at, size);
        self.pos().map(|_| ())
    }

    /// A fragment (header, TemplateInstance, end of stream): a record's BinXML, or the
    /// payload of a BinXml substitution value.
    pub(crate) fn fragment(&mut self, instance: &Instance) -> Result<()> {
        self.bytes(&FRAGMENT_HEADER);
        self.template_instance(instance)?;
        self.u8(token::END_OF_STREAM);
        self.pos().map(|_| ())
    }

    /// TemplateInstance: id, definition offset (definition inline the first time this
    /// chunk uses the template), then the substitution array.
    fn template_instance(&mut self, instance: &Instance) -> Result<()> {
        let key = template_key(&instance.template);
        let guid = template_guid(&key);
        let id = u32::from_le_bytes([guid[0], guid[1], guid[2], guid[3]]);
        self.u8(token::TEMPLATE_INSTANCE);
        self.u8(1);
        self.u32(id);
        match self.tables.templates.get(&key) {
            Some(&offset) => self.u32(offset),
            None => self.template_definition(&instance.template, key, guid, id)?,
        }
        self.substitution_array(&instance.values)
    }

    /// The definition: next-in-bucket offset, GUID, data size, then a fragment holding the
    /// template's element and an end-of-stream token.
    fn template_definition(
        &mut self,
        template: &Element,
        key: Vec<u8>,
        guid: [u8; 16],
        id: u32,
    ) -> Result<()> {
        let offset = self.pos()?.checked_add(4).ok_or(TooLarge)?;
        self.u32(offset);
        // The pointer table's bucket: Windows' choice of bucket is undocumented and
        // readers follow the offsets, so the template id picks it here.
        let bucket = (id % 32) as usize;
        let next = self.tables.template_heads.get(bucket).copied().unwrap_or(0);
        self.u32(next);
        self.bytes(&guid);
        let size_at = self.placeholder_u32();
        self.bytes(&FRAGMENT_HEADER);
        self.element(template)?;
        self.u8(token::END_OF_STREAM);
        let size = self.size_since(size_at + 4)?;
        self.patch_u32(size_at, size);
        if let Some(head) = self.tables.template_heads.get_mut(bucket) {
            *head = offset;
        }
        self.tables.templates.insert(key, offset);
        Ok(())
    }

    /// Count, then (size u16, type u8, 0) per value, then the values; sizes are patched
    /// once each value is written, because a nested fragment's size depends on the chunk.
    fn substitution_array(&mut self, values: &[Value]) -> Result<()> {
        let count = u32::try_from(values.len()).map_err(|_| TooLarge)?;
        self.u32(count);
        let descriptors_at = self.data.len();
        for value in values {
            self.bytes(&[0, 0, value.type_byte(), 0]);
        }
        for (i, value) in values.iter().enumerate() {
            let start = self.data.len();
            self.value(value)?;
            let size = u16::try_from(self.data.len() - start).map_err(|_| TooLarge)?;
            self.patch_u16(descriptors_at + i * 4, size);
            self.pos()?;
        }
        Ok(())
    }

    fn value(&mut self, value: &Value) -> Result<()> {
        match value {
            Value::Null => {}
            Value::U8(v) => self.u8(*v),
            Value::U16(v) => self.u16(*v),
            Value::U32(v) => self.u32(*v),
            Value::U64(v) | Value::HexInt64(v) | Value::FileTime(v) => self.bytes(&v.to_le_bytes()),
            Value::Guid(bytes) => self.bytes(bytes),
            Value::Sid(bytes) | Value::Binary(bytes) => self.bytes(bytes),
            Value::Str(text) => self.utf16(text),
            Value::BinXml(instance) => self.fragment(instance)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_windows() {
        // Hashes read from a real Windows chunk's string table.
        assert_eq!(name_hash("Data"), 0x6f8a);
        assert_eq!(name_hash("ThreadID"), 0x3985);
        assert_eq!(name_hash("EventSourceName"), 0xd660);
        assert_eq!(name_hash("Binary"), 0xb821);
    }
}
