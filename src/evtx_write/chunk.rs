//! Chunks (64 KiB, 512-byte header, records) and the 4 KiB file header, with the CRC32s
//! Windows stores so that readers validating checksums accept the file.

use std::collections::HashSet;

use super::binxml::{Tables, TooLarge, Writer, CHUNK_SIZE};
use super::model::EventRecord;

/// Chunk header size including the string and template tables.
const CHUNK_HEADER_SIZE: usize = 512;
/// File header block size.
pub(crate) const FILE_HEADER_SIZE: usize = 4096;
/// Largest record a chunk can hold.
pub(crate) const MAX_RECORD_SIZE: usize = CHUNK_SIZE - CHUNK_HEADER_SIZE;

/// One chunk being filled with records.
pub(crate) struct Chunk {
    data: Vec<u8>,
    tables: Tables,
    ids: HashSet<u64>,
    first_id: u64,
    last_id: u64,
    last_record_offset: u32,
}

impl Chunk {
    pub(crate) fn new() -> Self {
        Chunk {
            data: vec![0; CHUNK_HEADER_SIZE],
            tables: Tables::default(),
            ids: HashSet::new(),
            first_id: 0,
            last_id: 0,
            last_record_offset: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the record can go in this chunk without breaking readers: the `evtx` crate
    /// stops a chunk at the first record whose id is the header's last id, so ids must be
    /// unique within a chunk.
    pub(crate) fn accepts_id(&self, id: u64) -> bool {
        !self.ids.contains(&id)
    }

    /// Appends the record, or leaves the chunk unchanged and returns the record's size
    /// when it does not fit.
    pub(crate) fn try_append(&mut self, record: &EventRecord) -> Result<(), usize> {
        let saved_len = self.data.len();
        let saved_tables = self.tables.clone();
        match self.write_record(record) {
            Ok(()) if self.data.len() <= CHUNK_SIZE => {
                self.commit(record, saved_len);
                Ok(())
            }
            _ => {
                let size = self.data.len() - saved_len;
                self.data.truncate(saved_len);
                self.tables = saved_tables;
                Err(size)
            }
        }
    }

    fn commit(&mut self, record: &EventRecord, offset: usize) {
        if self.ids.is_empty() {
            self.first_id = record.record_id;
        }
        self.ids.insert(record.record_id);
        self.last_id = record.record_id;
        self.last_record_offset = u32::try_from(offset).unwrap_or(0);
    }

    /// Record: magic, size, id, FILETIME, BinXML fragment, zero padding to 8 bytes (as
    /// Windows aligns records), size copy.
    fn write_record(&mut self, record: &EventRecord) -> Result<(), TooLarge> {
        let start = self.data.len();
        self.data.extend_from_slice(b"**\0\0");
        self.data.extend_from_slice(&[0; 4]);
        self.data.extend_from_slice(&record.record_id.to_le_bytes());
        self.data.extend_from_slice(&record.filetime.to_le_bytes());
        let mut writer = Writer {
            data: &mut self.data,
            tables: &mut self.tables,
        };
        writer.fragment(&record.instance)?;
        while !(self.data.len() - start + 4).is_multiple_of(8) {
            self.data.push(0);
        }
        let size = u32::try_from(self.data.len() - start + 4).map_err(|_| TooLarge)?;
        self.data.extend_from_slice(&size.to_le_bytes());
        if let Some(slot) = self.data.get_mut(start + 4..start + 8) {
            slot.copy_from_slice(&size.to_le_bytes());
        }
        Ok(())
    }

    /// The finished 64 KiB chunk: header fields, tables, zeroed free space, CRC32s.
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut data = self.data;
        let free_space = u32::try_from(data.len()).unwrap_or(0);
        data.resize(CHUNK_SIZE, 0);
        let mut header = [0u8; CHUNK_HEADER_SIZE];
        header[..8].copy_from_slice(b"ElfChnk\0");
        // Record numbers equal record ids, as in files Windows writes.
        put_u64(&mut header, 8, self.first_id);
        put_u64(&mut header, 16, self.last_id);
        put_u64(&mut header, 24, self.first_id);
        put_u64(&mut header, 32, self.last_id);
        put_u32(&mut header, 40, 128);
        put_u32(&mut header, 44, self.last_record_offset);
        put_u32(&mut header, 48, free_space);
        let records = data
            .get(CHUNK_HEADER_SIZE..free_space as usize)
            .unwrap_or(&[]);
        put_u32(&mut header, 52, crc32fast::hash(records));
        // Flags at 120 stay 0: neither dirty nor "no CRC32".
        for (i, offset) in self.tables.string_heads.iter().enumerate() {
            put_u32(&mut header, 128 + i * 4, *offset);
        }
        for (i, offset) in self.tables.template_heads.iter().enumerate() {
            put_u32(&mut header, 384 + i * 4, *offset);
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header[..120]);
        hasher.update(&header[128..]);
        put_u32(&mut header, 124, hasher.finalize());
        data[..CHUNK_HEADER_SIZE].copy_from_slice(&header);
        data
    }
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    if let Some(slot) = buf.get_mut(at..at + 8) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
}

/// File header: `ElfFile\0`, first/last chunk number, next record id, header size 128,
/// version 3.2, block size 4096, chunk count, flags 0 (clean), CRC32 of bytes 0..120.
pub(crate) fn file_header(chunk_count: u16, next_record_id: u64) -> Vec<u8> {
    let mut header = vec![0u8; FILE_HEADER_SIZE];
    header[..8].copy_from_slice(b"ElfFile\0");
    put_u64(&mut header, 8, 0);
    put_u64(&mut header, 16, u64::from(chunk_count.saturating_sub(1)));
    put_u64(&mut header, 24, next_record_id);
    put_u32(&mut header, 32, 128);
    header[36..38].copy_from_slice(&2u16.to_le_bytes());
    header[38..40].copy_from_slice(&3u16.to_le_bytes());
    header[40..42].copy_from_slice(&4096u16.to_le_bytes());
    header[42..44].copy_from_slice(&chunk_count.to_le_bytes());
    let crc = crc32fast::hash(&header[..120]);
    put_u32(&mut header, 124, crc);
    header
}
