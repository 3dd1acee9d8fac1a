//! Where an input's bytes live: a file on disk, or a zip entry inflated into memory or into an
//! anonymous temporary file. Readers see only [`ByteSource`], so a zip entry goes through the
//! same code as a file (positioned reads, so chunks can be read in parallel).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where one input is read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// A zip entry inflated into memory.
    Memory(Arc<[u8]>),
    /// A zip entry too big to keep in memory: `len` bytes at `offset` of the case's anonymous
    /// temporary file (deleted by the system when closed; its name never comes from the entry).
    Temp {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

/// `len` bytes at `offset` of a shared file: one zip entry of the case's temporary file.
#[derive(Debug, Clone)]
pub struct Slice {
    file: Arc<File>,
    offset: u64,
    len: u64,
    /// Where `Read` is (`ByteSource` reads do not move it).
    pos: u64,
}

impl Slice {
    pub fn new(file: Arc<File>, offset: u64, len: u64) -> Self {
        Slice {
            file,
            offset,
            len,
            pos: 0,
        }
    }
}

impl ByteSource for Slice {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        if end > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        file_read_at(&self.file, buf, self.offset + offset)
    }
}

impl io::Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        ByteSource::read_at(self, &mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for Slice {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let pos = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = pos;
        Ok(pos)
    }
}

/// Bytes that can be read at any offset, from several threads at once.
pub trait ByteSource: Sync {
    /// The length in bytes.
    fn len(&self) -> u64;
    /// Whether it holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`.
    ///
    /// # Errors
    /// `UnexpectedEof` when fewer bytes than `buf` holds are left, or the I/O error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        let bytes = self.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl ByteSource for Arc<[u8]> {
    fn len(&self) -> u64 {
        ByteSource::len(&**self)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        ByteSource::read_at(&**self, buf, offset)
    }
}

impl ByteSource for File {
    fn len(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        file_read_at(self, buf, offset)
    }
}

/// An opened source: what a reader holds while it reads.
pub enum Opened {
    File(File),
    Memory(Arc<[u8]>),
    Temp(Slice),
}

impl Opened {
    /// The bytes, whatever holds them.
    pub fn bytes(&self) -> &dyn ByteSource {
        match self {
            Opened::File(file) => file,
            Opened::Memory(bytes) => bytes,
            Opened::Temp(slice) => slice,
        }
    }
}

impl Source {
    /// Opens the source for reading.
    ///
    /// # Errors
    /// The I/O error of opening a file.
    pub fn open(&self) -> io::Result<Opened> {
        Ok(match self {
            Source::File(path) => Opened::File(File::open(path)?),
            Source::Memory(bytes) => Opened::Memory(bytes.clone()),
            Source::Temp { file, offset, len } => {
                Opened::Temp(Slice::new(file.clone(), *offset, *len))
            }
        })
    }

    /// Reads all of it, when it is at most `max_bytes` long (a configuration file is).
    ///
    /// # Errors
    /// The I/O error, or `InvalidData` when it is longer than `max_bytes`.
    pub fn read_all(&self, max_bytes: u64) -> io::Result<Vec<u8>> {
        let opened = self.open()?;
        let bytes = opened.bytes();
        let len = bytes.len();
        if len > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{len} bytes, more than the {max_bytes} an XML export is read up to"),
            ));
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| io::ErrorKind::OutOfMemory)?];
        bytes.read_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// Counts the bytes read, for progress bars: the library adds, whoever shows progress reads.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `bytes` read.
    pub fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(unix)]
fn file_read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn file_read_at(file: &File, buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let n = file.seek_read(&mut buf[done..], offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_read_at_offsets_and_refuse_reads_past_the_end() {
        let bytes: &[u8] = b"0123456789";
        let mut buf = [0u8; 3];
        bytes.read_at(&mut buf, 7).unwrap();
        assert_eq!(&buf, b"789");
        assert!(bytes.read_at(&mut buf, 8).is_err());
        assert!(bytes.read_at(&mut buf, u64::MAX).is_err());
    }
}
