//! Finds the files of a case: folders walked recursively in sorted order, symlinks not
//! followed, every file recognized by its content (SPEC §2).

use super::{Format, Input};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The namespace every Windows Event XML element carries.
const EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// How many bytes of a file are enough to recognize it.
const SNIFF_BYTES: usize = 4096;

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

/// Walks every path and sorts what it finds into inputs and skipped files.
pub fn discover(paths: &[PathBuf]) -> Discovered {
    let mut found = Discovered::default();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) => {
                found.skipped.push(Skipped {
                    path: path.display().to_string(),
                    reason: format!("cannot be read ({err}); check the path"),
                    explicit: true,
                });
                continue;
            }
        };
        if meta.is_dir() {
            walk(path, path, &mut found);
        } else {
            let display = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            classify(path, display, true, &mut found);
        }
    }
    found
}

fn walk(root: &Path, dir: &Path, found: &mut Discovered) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(err) => {
            found.skipped.push(Skipped {
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
            found.skipped.push(Skipped {
                path: relative(root, &path),
                reason: "symbolic link, not followed".into(),
                explicit: false,
            });
        } else if meta.is_dir() {
            walk(root, &path, found);
        } else if meta.is_file() {
            classify(&path, relative(root, &path), false, found);
        }
    }
}

/// The path as reports show it: relative to the folder named on the command line.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.to_string_lossy().replace('\\', "/")
}

fn classify(path: &Path, display: String, explicit: bool, found: &mut Discovered) {
    match sniff(path) {
        Ok(Some(format)) => found.inputs.push(Input {
            display,
            path: path.to_path_buf(),
            format,
        }),
        Ok(None) => found.skipped.push(Skipped {
            path: display,
            reason: "not an event log (neither EVTX nor Event XML)".into(),
            explicit,
        }),
        Err(reason) => found.skipped.push(Skipped {
            path: display,
            reason,
            explicit,
        }),
    }
}

/// Recognizes a file by its first bytes.
fn sniff(path: &Path) -> Result<Option<Format>, String> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|err| format!("cannot be read ({err})"))?;
    if head.starts_with(b"ElfFile\0") {
        return Ok(Some(Format::Evtx));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err("zip archive: zips are not read yet; extract it and pass the folder".into());
    }
    Ok(is_event_xml(&head).then_some(Format::Xml))
}

/// Event XML as `wevtutil qe /f:xml` or Event Viewer's "Save as XML" writes it.
fn is_event_xml(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    let text = text.trim_start();
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
    }
}
