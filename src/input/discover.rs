//! Finds the files of a case: folders walked recursively in sorted order, symlinks not
//! followed, every file recognized by its content (SPEC §2). Only regular files are ever
//! opened: a FIFO, socket or device is listed as skipped, never read.

use super::archive::{self, ZipLimits};
use super::source::{Progress, Source};
use super::{Format, Input};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The namespace every Windows Event XML element carries.
const EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// How many bytes of a file are enough to recognize it.
pub(super) const SNIFF_BYTES: usize = 4096;

/// A file that was found but is not an input.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
    /// Named on the command line (a warning) rather than met in a folder (a note).
    pub explicit: bool,
}

/// The inputs of a case and what was left out.
#[derive(Debug, Default)]
pub struct Discovered {
    pub inputs: Vec<Input>,
    pub skipped: Vec<Skipped>,
}

/// Walks every path (zips included) and sorts what it finds into inputs and skipped files;
/// the bytes inflated from zips are added to `progress`.
pub fn discover(paths: &[PathBuf], limits: &ZipLimits, progress: &Progress) -> Discovered {
    let mut walk = Walker {
        limits,
        progress,
        held: archive::Held::default(),
        found: Discovered::default(),
    };
    for path in paths {
        walk.path(path);
    }
    walk.found
}

/// The state of one discovery: the zip limits and what zip entries hold so far.
struct Walker<'a> {
    limits: &'a ZipLimits,
    progress: &'a Progress,
    /// What zip entries of the case hold: memory, and the one temporary file.
    held: archive::Held,
    found: Discovered,
}

impl Walker<'_> {
    fn path(&mut self, path: &Path) {
        let found = &mut self.found;
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) => {
                found.skipped.push(Skipped {
                    path: path.display().to_string(),
                    reason: format!("cannot be read ({err}); check the path"),
                    explicit: true,
                });
                return;
            }
        };
        if meta.is_dir() {
            self.walk(path, path);
        } else if meta.is_file() {
            let display = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            self.classify(path, display, true);
        } else {
            // Opening a FIFO for reading waits for a writer, forever: name it, never open it.
            found.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: format!(
                    "{}; name the exported log files or their folder",
                    not_regular(&meta.file_type())
                ),
                explicit: true,
            });
        }
    }

    fn walk(&mut self, root: &Path, dir: &Path) {
        let mut entries: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(err) => {
                self.found.skipped.push(Skipped {
                    path: relative(root, dir),
                    reason: format!("folder cannot be read ({err})"),
                    explicit: false,
                });
                return;
            }
        };
        entries.sort();
        for path in entries {
            // symlink_metadata: a link is neither followed nor read, so a case cannot loop.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                self.found.skipped.push(Skipped {
                    path: relative(root, &path),
                    reason: "symbolic link, not followed".into(),
                    explicit: false,
                });
            } else if meta.is_dir() {
                self.walk(root, &path);
            } else if meta.is_file() {
                self.classify(&path, relative(root, &path), false);
            } else {
                self.found.skipped.push(Skipped {
                    path: relative(root, &path),
                    reason: not_regular(&meta.file_type()),
                    explicit: false,
                });
            }
        }
    }

    fn classify(&mut self, path: &Path, display: String, explicit: bool) {
        let found = &mut self.found;
        match sniff(path) {
            Ok(Sniffed::Log(format)) => found.inputs.push(Input {
                display,
                source: Source::File(path.to_path_buf()),
                format,
                notes: Vec::new(),
            }),
            Ok(Sniffed::Zip) => archive::walk_file(
                path,
                &display,
                (self.limits, self.progress),
                &mut self.held,
                found,
            ),
            Ok(Sniffed::Other(reason)) => found.skipped.push(Skipped {
                path: display,
                reason,
                explicit,
            }),
            Ok(Sniffed::Broken(reason)) => found.skipped.push(Skipped {
                path: display,
                reason,
                explicit: true,
            }),
            Err(reason) => found.skipped.push(Skipped {
                path: display,
                reason,
                explicit,
            }),
        }
    }
}

/// Why a file that is neither a folder nor a regular file is not read: `not a regular file
/// (FIFO)`.
fn not_regular(kind: &std::fs::FileType) -> String {
    format!("not a regular file ({})", special_kind(kind))
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "special file"
}

/// The path as reports show it: relative to the folder named on the command line.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.to_string_lossy().replace('\\', "/")
}

/// What the first bytes of a file or zip entry say it is.
pub(super) enum Sniffed {
    Log(Format),
    Zip,
    /// Not an input, and why (one sentence, for the skipped list).
    Other(String),
    /// Named as a log but not one (an empty or overwritten `.evtx`): a loss, always a warning.
    Broken(String),
}

/// Whether `path` is an existing regular file that holds an event log or a zip, or is named
/// `.evtx` (a damaged log is still the customer's log): a file no output may replace. Only a
/// regular file is opened, so a FIFO never blocks.
pub fn holds_a_log(path: &Path) -> bool {
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    regular
        && matches!(
            sniff(path),
            Ok(Sniffed::Log(_) | Sniffed::Zip | Sniffed::Broken(_))
        )
}

/// Recognizes a file by its first bytes.
fn sniff(path: &Path) -> Result<Sniffed, String> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|err| format!("cannot be read ({err})"))?;
    let sniffed = sniff_bytes(&head);
    let named_evtx = path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("evtx"));
    // A name is never trusted, but it says what the user expected: say why it is not read.
    if named_evtx && matches!(sniffed, Sniffed::Other(_)) {
        let why = if head.is_empty() {
            "empty file (0 bytes) named .evtx: nothing to read; collect the log again".to_string()
        } else {
            "named .evtx but is not an EVTX file (no ElfFile signature): damaged or not a log; export the log again".to_string()
        };
        return Ok(Sniffed::Broken(why));
    }
    Ok(sniffed)
}

/// Recognizes content by its first bytes (at most [`SNIFF_BYTES`]).
pub(super) fn sniff_bytes(head: &[u8]) -> Sniffed {
    if head.starts_with(b"ElfFile\0") {
        Sniffed::Log(Format::Evtx)
    } else if head.starts_with(b"PK\x03\x04") {
        Sniffed::Zip
    } else if is_event_xml(head) {
        Sniffed::Log(Format::Xml)
    } else if super::clusterlog::sniff(head) {
        Sniffed::Log(Format::ClusterLog)
    } else if crate::config::sniff(head) {
        Sniffed::Log(Format::Config)
    } else if head.is_empty() {
        Sniffed::Other("empty file".into())
    } else {
        Sniffed::Other("not an event log (neither EVTX nor Event XML)".into())
    }
}

/// Event XML as `wevtutil qe /f:xml` or Event Viewer's "Save as XML" writes it.
fn is_event_xml(head: &[u8]) -> bool {
    // UTF-16 too: `wevtutil qe /f:xml > x.xml` in Windows PowerShell 5.1 writes it.
    let text = super::xml::decode(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let starts_like_xml =
        text.starts_with("<?xml") || text.starts_with("<Events") || text.starts_with("<Event");
    starts_like_xml && text.contains(EVENT_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_xml_is_recognized_with_or_without_a_root() {
        let one = format!("<Event xmlns=\"{EVENT_NS}\"><System/></Event>");
        assert!(is_event_xml(one.as_bytes()));
        let rooted =
            format!("\u{feff}<?xml version=\"1.0\"?>\n<Events><Event xmlns=\"{EVENT_NS}\">");
        assert!(is_event_xml(rooted.as_bytes()));
        assert!(!is_event_xml(b"<?xml version=\"1.0\"?><html/>"));
        assert!(!is_event_xml(b"Event log export"));
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(one.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert!(is_event_xml(&utf16le), "UTF-16 LE with a BOM");
        let bare_be: Vec<u8> = one.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(is_event_xml(&bare_be), "UTF-16 BE without a BOM");
    }
}
