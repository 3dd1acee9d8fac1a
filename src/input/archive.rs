//! Zip archives read in place (SPEC §2): nested zips included, entry names never used as paths
//! on disk, and limits against zip bombs checked before inflating (from the headers) and while
//! inflating (counting the bytes that come out, since headers can lie).

use super::discover::{sniff_bytes, Discovered, Skipped, Sniffed, SNIFF_BYTES};
use super::source::{Progress, Source};
use super::Input;
use std::io::{self, Read, Seek, Write};
use std::sync::Arc;

/// Limits on what a zip may make hvtriage inflate.
#[derive(Debug, Clone)]
pub struct ZipLimits {
    /// Largest uncompressed entry read.
    pub max_entry_bytes: u64,
    /// Largest uncompressed / compressed ratio of an entry, and of a whole archive tree
    /// against the outer archive's size (so nested zips cannot multiply their ratios).
    pub max_ratio: u64,
    /// Entries up to this size are never refused for their ratio: a tiny entry's ratio says
    /// nothing (a 4 KiB run of zeroes compresses 500 to 1 and harms no one).
    pub ratio_floor_bytes: u64,
    /// How deep zips may nest (a zip of per-node zips is depth 2).
    pub max_depth: usize,
    /// Entries read per archive; the rest are reported and left.
    pub max_entries: usize,
    /// Bytes of inflated entries kept in memory per case; beyond, entries go to anonymous
    /// temporary files.
    pub memory_budget_bytes: u64,
    /// Largest single entry kept in memory.
    pub max_memory_entry_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entry_bytes: 4 << 30,
            max_ratio: 200,
            ratio_floor_bytes: 1 << 20,
            max_depth: 8,
            max_entries: 100_000,
            memory_budget_bytes: 256 << 20,
            max_memory_entry_bytes: 64 << 20,
        }
    }
}

/// What is left to inflate for one outermost archive and its nested ones.
struct Budget {
    /// Bytes the whole tree may still inflate (ratio limit over the outer archive's size).
    tree_bytes: u64,
}

/// Reads a zip found on disk: its entries become inputs or skipped files of `found`.
pub(super) fn walk_file(
    path: &std::path::Path,
    display: &str,
    (limits, progress): (&ZipLimits, &Progress),
    held: &mut Held,
    found: &mut Discovered,
) {
    let opened = std::fs::File::open(path).and_then(|f| f.metadata().map(|m| (f, m.len())));
    let (file, len) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            skip(
                found,
                display,
                format!("zip archive cannot be read ({err})"),
            );
            return;
        }
    };
    let mut budget = Budget {
        tree_bytes: len
            .saturating_mul(limits.max_ratio)
            .saturating_add(limits.ratio_floor_bytes),
    };
    let mut ctx = Walk {
        limits,
        progress,
        budget: &mut budget,
        held,
        found,
    };
    ctx.archive(io::BufReader::new(file), display, 1);
}

/// What the zip entries of one case hold: bytes in memory, and one anonymous temporary file
/// that every entry too big for memory is appended to. One file, not one per entry: a
/// bundle of thousands of logs keeps one descriptor open, whatever `ulimit -n` is.
#[derive(Default)]
pub(super) struct Held {
    memory_bytes: u64,
    spill: Option<Arc<std::fs::File>>,
    spill_len: u64,
}

impl Held {
    /// The temporary file, and where the next entry starts in it.
    fn spill(&mut self) -> io::Result<(Arc<std::fs::File>, u64)> {
        if self.spill.is_none() {
            self.spill = Some(Arc::new(tempfile::tempfile()?));
        }
        let file = self.spill.clone().ok_or(io::ErrorKind::Other)?;
        Ok((file, self.spill_len))
    }
}

struct Walk<'a> {
    limits: &'a ZipLimits,
    progress: &'a Progress,
    budget: &'a mut Budget,
    held: &'a mut Held,
    found: &'a mut Discovered,
}

impl Walk<'_> {
    fn archive<R: Read + Seek>(&mut self, mut reader: R, display: &str, depth: usize) {
        let mut archive = match zip::ZipArchive::new(&mut reader) {
            Ok(archive) if archive.has_duplicate_names() => {
                // The directory maps each name to one entry: the others would be lost.
                drop(archive);
                self.stream(reader, display, depth, "it holds entries of the same name");
                return;
            }
            Ok(archive) => archive,
            Err(err) => {
                // No central directory (a zip cut short): its entries' own headers still
                // lead from one to the next.
                self.stream(
                    reader,
                    display,
                    depth,
                    &format!("its directory cannot be read ({err}); it may be cut short"),
                );
                return;
            }
        };
        let count = archive.len();
        if count > self.limits.max_entries {
            skip(
                self.found,
                display,
                format!(
                    "zip archive holds {count} entries: only the first {} were read; extract it and pass the folder",
                    self.limits.max_entries
                ),
            );
        }
        // Sorted by name, so output never depends on the order entries were added.
        let mut order: Vec<(String, usize)> = (0..count.min(self.limits.max_entries))
            .filter_map(|i| archive.name_for_index(i).map(|n| (entry_name(n), i)))
            .collect();
        order.sort();
        for (name, index) in order {
            let entry_display = format!("{display}!{name}");
            self.entry(&mut archive, index, &entry_display, depth);
        }
    }

    fn entry<R: Read + Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        index: usize,
        display: &str,
        depth: usize,
    ) {
        let (size, compressed, encrypted, is_dir) = match archive.by_index_data(index) {
            Ok(e) => (e.size(), e.compressed_size(), e.encrypted(), e.is_dir()),
            Err(err) => {
                skip(
                    self.found,
                    display,
                    format!("zip entry cannot be read ({err})"),
                );
                return;
            }
        };
        if is_dir {
            return;
        }
        if encrypted {
            skip(
                self.found,
                display,
                "encrypted zip entry skipped: hvtriage takes no passwords; extract it and pass the file".into(),
            );
            return;
        }
        if let Err(why) = self.check_header(size, compressed) {
            skip(self.found, display, why);
            return;
        }
        let mut file = match archive.by_index(index) {
            Ok(file) => file,
            Err(err) => {
                skip(
                    self.found,
                    display,
                    format!("zip entry cannot be read ({err}); extract it and pass the file"),
                );
                return;
            }
        };
        self.take(&mut file, compressed, display, depth);
    }

    /// Reads a zip entry by the local headers alone, from the start of the archive: every
    /// entry is kept, whole ones read and the one a cut goes through read up to it. `why`
    /// says why the directory was not used.
    fn stream<R: Read + Seek>(&mut self, mut reader: R, display: &str, depth: usize, why: &str) {
        let mut names: std::collections::BTreeMap<String, usize> = Default::default();
        let mut read = 0usize;
        let stopped = reader
            .seek(io::SeekFrom::Start(0))
            .err()
            .map(|e| e.to_string());
        let stopped = stopped.or_else(|| loop {
            if read >= self.limits.max_entries {
                break Some(format!("{read} entries read, the limit"));
            }
            let mut file = match zip::read::read_zipfile_from_stream(&mut reader) {
                Ok(Some(file)) => file,
                Ok(None) => break None,
                Err(err) => break Some(err.to_string()),
            };
            read += 1;
            let name = entry_name(file.name());
            let seen = names.entry(name.clone()).or_default();
            *seen += 1;
            let entry_display = if *seen > 1 {
                format!("{display}!{name} ({})", *seen)
            } else {
                format!("{display}!{name}")
            };
            if file.is_dir() {
                continue;
            }
            if file.encrypted() {
                skip(
                    self.found,
                    &entry_display,
                    "encrypted zip entry skipped: hvtriage takes no passwords; extract it and pass the file".into(),
                );
                continue;
            }
            let (size, compressed) = (file.size(), file.compressed_size());
            if let Err(why) = self.check_header(size, compressed) {
                skip(self.found, &entry_display, why);
                continue;
            }
            self.take(&mut file, compressed, &entry_display, depth);
        });
        let how = match stopped {
            None => format!("{read} entries read from their own headers"),
            Some(err) => {
                format!("{read} entries read from their own headers, then it stopped ({err})")
            }
        };
        skip(
            self.found,
            display,
            format!("zip archive read entry by entry because {why}: {how}; check it against the original"),
        );
    }

    /// Sniffs and inflates one entry and makes it an input (or a skipped file).
    fn take<F: Read>(&mut self, file: &mut F, compressed: u64, display: &str, depth: usize) {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let head_read = file.take(SNIFF_BYTES as u64).read_to_end(&mut head);
        if let (Err(err), true) = (&head_read, head.len() < 8) {
            skip(
                self.found,
                display,
                format!("zip entry cannot be inflated ({err}): it is damaged or its header lies; extract it with another tool to see what is left"),
            );
            return;
        }
        let sniffed = sniff_bytes(&head);
        if let Sniffed::Other(why) | Sniffed::Broken(why) = sniffed {
            // Not a log: left without inflating the rest (a collection also holds dumps, traces).
            self.found.skipped.push(Skipped {
                path: display.to_string(),
                reason: why,
                explicit: false,
            });
            return;
        }
        let cap = self.cap(compressed);
        let inflated = match head_read {
            Ok(_) => self.inflate(file, head, &cap),
            Err(err) => Inflated::partial(head, err),
        };
        self.use_entry(inflated, sniffed, display, depth);
    }

    /// The limits the entry's headers already break, as the sentence that says so.
    fn check_header(&self, size: u64, compressed: u64) -> Result<(), String> {
        let l = self.limits;
        if size > l.max_entry_bytes {
            return Err(format!(
                "zip entry is {size} bytes uncompressed, over the limit of {} bytes: skipped; extract it and pass the file",
                l.max_entry_bytes
            ));
        }
        if size > l.ratio_floor_bytes && size / compressed.max(1) > l.max_ratio {
            return Err(format!(
                "zip entry would inflate {} times ({compressed} to {size} bytes), over the limit of {}: refused as a possible zip bomb",
                size / compressed.max(1),
                l.max_ratio
            ));
        }
        Ok(())
    }

    /// The most bytes the entry may inflate to, and what to say when it tries more.
    fn cap(&self, compressed: u64) -> Cap {
        let l = self.limits;
        let by_ratio = compressed
            .saturating_mul(l.max_ratio)
            .max(l.ratio_floor_bytes);
        let mut cap = Cap {
            bytes: l.max_entry_bytes,
            why: format!(
                "zip entry inflates past the limit of {} bytes: skipped; extract it and pass the file",
                l.max_entry_bytes
            ),
        };
        if by_ratio < cap.bytes {
            cap = Cap {
                bytes: by_ratio,
                why: format!(
                    "zip entry inflates more than {} times its {compressed} compressed bytes: refused as a possible zip bomb",
                    l.max_ratio
                ),
            };
        }
        if self.budget.tree_bytes < cap.bytes {
            cap = Cap {
                bytes: self.budget.tree_bytes,
                why: format!(
                    "zip archive and the archives inside it inflate more than {} times its size: refused as a possible zip bomb",
                    l.max_ratio
                ),
            };
        }
        cap
    }

    /// Inflates the rest of an entry, counting every byte against `cap`; into memory while
    /// the case's memory budget allows, else into an anonymous temporary file.
    fn inflate(&mut self, reader: &mut dyn Read, head: Vec<u8>, cap: &Cap) -> Inflated {
        let memory_left = self
            .limits
            .memory_budget_bytes
            .saturating_sub(self.held.memory_bytes)
            .min(self.limits.max_memory_entry_bytes);
        let mut sink = Sink::Memory(head);
        let mut buf = vec![0u8; 64 << 10];
        let mut error = None;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    error = Some(err);
                    break;
                }
            };
            if sink.len() + n as u64 > cap.bytes {
                self.budget.tree_bytes = self.budget.tree_bytes.saturating_sub(sink.len());
                return Inflated::Refused(cap.why.clone());
            }
            self.progress.add(n as u64);
            if let Err(err) = sink.write(&buf[..n], memory_left, self.held) {
                error = Some(err);
                break;
            }
        }
        self.budget.tree_bytes = self.budget.tree_bytes.saturating_sub(sink.len());
        match sink.into_source(self.held) {
            Ok((source, in_memory)) => {
                if in_memory {
                    self.held.memory_bytes += source_len(&source);
                }
                Inflated::Read { source, error }
            }
            Err(err) => Inflated::Refused(format!(
                "zip entry could not be stored in a temporary file ({err}); free disk space or extract it"
            )),
        }
    }

    fn use_entry(&mut self, inflated: Inflated, sniffed: Sniffed, display: &str, depth: usize) {
        let (source, error) = match inflated {
            Inflated::Refused(why) => {
                skip(self.found, display, why);
                return;
            }
            Inflated::Read { source, error } => (source, error),
        };
        let mut notes = Vec::new();
        if let Some(err) = error {
            notes.push(if err.raw_os_error().is_some() {
                // The machine's limit or disk, not the entry: say so, not "damaged".
                format!("zip entry could not be inflated whole ({err}): a limit or error of this machine, not damage in the zip; the bytes before it were read — free disk space or raise the limit and run again")
            } else {
                format!("zip entry is damaged ({err}); the bytes before the damage were read")
            });
        }
        match sniffed {
            Sniffed::Zip if depth >= self.limits.max_depth => skip(
                self.found,
                display,
                format!(
                    "zip archives nest deeper than {} levels: not read; extract the outer ones",
                    self.limits.max_depth
                ),
            ),
            Sniffed::Zip => {
                for note in notes {
                    skip(self.found, display, note);
                }
                self.nested(source, display, depth + 1);
            }
            Sniffed::Log(format) => self.found.inputs.push(Input {
                display: display.to_string(),
                source,
                format,
                notes,
            }),
            Sniffed::Other(_) | Sniffed::Broken(_) => {}
        }
    }

    fn nested(&mut self, source: Source, display: &str, depth: usize) {
        match source {
            Source::Memory(bytes) => self.archive(io::Cursor::new(bytes), display, depth),
            Source::Temp { file, offset, len } => self.archive(
                io::BufReader::new(super::source::Slice::new(file, offset, len)),
                display,
                depth,
            ),
            Source::File(_) => {}
        }
    }
}

/// The most an entry may inflate to.
struct Cap {
    bytes: u64,
    why: String,
}

enum Inflated {
    Read {
        source: Source,
        /// What stopped the inflation early (a damaged entry), if anything.
        error: Option<io::Error>,
    },
    Refused(String),
}

impl Inflated {
    fn partial(head: Vec<u8>, err: io::Error) -> Self {
        Inflated::Read {
            source: Source::Memory(head.into()),
            error: Some(err),
        }
    }
}

/// Where inflated bytes go: memory first, the case's temporary file once they outgrow
/// `memory_left` (appended after the entries already there).
enum Sink {
    Memory(Vec<u8>),
    Spilled {
        file: Arc<std::fs::File>,
        offset: u64,
        len: u64,
    },
}

impl Sink {
    fn len(&self) -> u64 {
        match self {
            Sink::Memory(v) => v.len() as u64,
            Sink::Spilled { len, .. } => *len,
        }
    }

    fn write(&mut self, bytes: &[u8], memory_left: u64, held: &mut Held) -> io::Result<()> {
        if let Sink::Memory(v) = self {
            if (v.len() + bytes.len()) as u64 <= memory_left {
                v.extend_from_slice(bytes);
                return Ok(());
            }
            let (file, offset) = held.spill()?;
            append(&file, v, held)?;
            *self = Sink::Spilled {
                file,
                offset,
                len: v.len() as u64,
            };
        }
        if let Sink::Spilled { file, len, .. } = self {
            append(file, bytes, held)?;
            *len += bytes.len() as u64;
        }
        Ok(())
    }

    /// The source, and whether it is held in memory.
    fn into_source(self, held: &mut Held) -> io::Result<(Source, bool)> {
        Ok(match self {
            Sink::Memory(v) => (Source::Memory(v.into()), true),
            Sink::Spilled { file, offset, len } => {
                (&*file).flush()?;
                // The next entry starts after this one, whatever was written past it.
                held.spill_len = held.spill_len.max(offset + len);
                (Source::Temp { file, offset, len }, false)
            }
        })
    }
}

/// Appends to the case's temporary file (only discovery writes it, one entry at a time).
fn append(file: &std::fs::File, bytes: &[u8], held: &mut Held) -> io::Result<()> {
    let mut writer = file;
    writer.seek(io::SeekFrom::Start(held.spill_len))?;
    writer.write_all(bytes)?;
    held.spill_len += bytes.len() as u64;
    Ok(())
}

fn source_len(source: &Source) -> u64 {
    match source {
        Source::Memory(bytes) => bytes.len() as u64,
        _ => 0,
    }
}

/// An entry's name as reports show it: `/` separators, control characters replaced (the name
/// comes from the archive and is only ever shown, never used as a path).
fn entry_name(name: zip::result::ZipResult<std::borrow::Cow<'_, str>>) -> String {
    let name = name.map_or_else(|_| "(unreadable name)".to_string(), |n| n.into_owned());
    name.replace('\\', "/")
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A warning about the zip or an entry of it: always shown, since what was in it is lost.
fn skip(found: &mut Discovered, display: &str, reason: String) {
    found.skipped.push(Skipped {
        path: display.to_string(),
        reason,
        explicit: true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_inflate(reader: &mut dyn Read, cap_bytes: u64) -> Inflated {
        let limits = ZipLimits::default();
        let mut budget = Budget {
            tree_bytes: u64::MAX,
        };
        let mut held = Held::default();
        let mut found = Discovered::default();
        let progress = Progress::new();
        let mut walk = Walk {
            limits: &limits,
            progress: &progress,
            budget: &mut budget,
            held: &mut held,
            found: &mut found,
        };
        let cap = Cap {
            bytes: cap_bytes,
            why: "too big".into(),
        };
        walk.inflate(reader, Vec::new(), &cap)
    }

    #[test]
    fn inflating_stops_at_the_cap_whatever_the_headers_said() {
        let mut endless = io::repeat(0).take(10 << 20);
        assert!(
            matches!(walk_inflate(&mut endless, 1 << 20), Inflated::Refused(w) if w == "too big")
        );
        let mut small = io::repeat(1).take(1000);
        match walk_inflate(&mut small, 1 << 20) {
            Inflated::Read { source, error } => {
                assert!(error.is_none());
                assert_eq!(source_len(&source), 1000);
            }
            Inflated::Refused(why) => panic!("refused: {why}"),
        }
    }

    #[test]
    fn entry_names_are_shown_not_trusted() {
        assert_eq!(entry_name(Ok("a\\b\n/../c".into())), "a/b?/../c");
    }
}
