//! What a batch remembers of each case, so a rerun on a queue that grows analyzes only what
//! is new or changed: one stamp per case in `OUT/.hvtriage/<case>.json`, written after the
//! case's reports (so an interrupted batch resumes where it stopped). A stamp holds the key
//! of what made it (hvtriage's version, the rule set, the options that change a result), the
//! case's files with their sizes and times, a hash of their contents, and the case's row.
//!
//! Unchanged sizes and times reuse the row at once; changed ones cost one read of the files
//! to hash, and reuse it when the contents are the same (a queue copied again). The hash
//! (CRC-32 of each file, with its path and size) detects change, not tampering.

use super::Row;
use crate::Options;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The folder of stamps inside a batch's output. No case gets this name (see `RESERVED`).
pub const STATE_DIR: &str = ".hvtriage";

/// How deep a case folder is walked for its files (logs sit one or two levels down).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Stamp {
    pub key: String,
    pub files: Vec<FileMeta>,
    pub content: String,
    pub row: Row,
}

/// One file of a case: its path under the case, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileMeta {
    pub path: String,
    pub size: u64,
    pub modified_ns: u128,
}

/// What must be equal for a stamp's row to stand: the build, the rules, and the options
/// that change a result.
pub(super) fn key(options: &Options, rules_fingerprint: u64) -> String {
    format!(
        "hvtriage {}; rules {rules_fingerprint:016x}; lang {}; tz {}; since {:?}; until {:?}; clock correction {}; zip limits {:?}",
        env!("CARGO_PKG_VERSION"),
        options.lang,
        options.time_zone,
        options.since,
        options.until,
        options.correct_clocks,
        options.zip_limits,
    )
}

/// The files of a case (itself when it is a zip), sorted by path.
pub(super) fn files(case: &Path) -> Vec<FileMeta> {
    let mut out = Vec::new();
    walk(case, case, 0, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(root: &Path, path: &Path, depth: usize, out: &mut Vec<FileMeta>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_file() {
        let rel = path.strip_prefix(root).unwrap_or(path);
        out.push(FileMeta {
            path: rel.to_string_lossy().replace('\\', "/"),
            size: meta.len(),
            modified_ns: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos()),
        });
    } else if meta.is_dir() && depth < MAX_DEPTH {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                walk(root, &entry.path(), depth + 1, out);
            }
        }
    }
}

/// A hash of the files' contents, with their paths and sizes (hex).
pub(super) fn content(case: &Path, files: &[FileMeta]) -> String {
    let mut all = std::hash::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let path = if f.path.is_empty() {
            case.to_path_buf()
        } else {
            case.join(&f.path)
        };
        let mut crc = crc32fast::Hasher::new();
        let mut size = 0u64;
        if let Ok(mut file) = std::fs::File::open(&path) {
            while let Ok(n) = file.read(&mut buf) {
                if n == 0 {
                    break;
                }
                crc.update(&buf[..n]);
                size += n as u64;
            }
        }
        std::hash::Hash::hash(&(&f.path, size, crc.finalize()), &mut all);
    }
    format!("{:016x}", std::hash::Hasher::finish(&all))
}

fn stamp_path(out: &Path, name: &str) -> PathBuf {
    out.join(STATE_DIR).join(format!("{name}.json"))
}

/// The stamp of a case, if a batch left one that can be read.
pub(super) fn load(out: &Path, name: &str) -> Option<Stamp> {
    let bytes = std::fs::read(stamp_path(out, name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes a case's stamp; a stamp that cannot be written only costs a new analysis next time.
pub(super) fn save(out: &Path, name: &str, stamp: &Stamp) {
    let dir = out.join(STATE_DIR);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    if let Ok(text) = serde_json::to_vec(stamp) {
        let _ = crate::outputs::write_atomic(&stamp_path(out, name), &text);
    }
}

/// The row a stamp gives when it still stands for the case: same key, its reports present,
/// and the same files (by size and time, else by content, then the stamp is refreshed).
pub(super) fn reuse(
    out: &Path,
    name: &str,
    case: &Path,
    key: &str,
    now: &[FileMeta],
) -> Option<Row> {
    let stamp = load(out, name)?;
    if stamp.key != key || !stamp.row.reports.iter().all(|r| out.join(r).is_file()) {
        return None;
    }
    if stamp.files == now {
        return Some(stamp.row);
    }
    if content(case, now) != stamp.content {
        return None;
    }
    let refreshed = Stamp {
        files: now.to_vec(),
        ..stamp
    };
    save(out, name, &refreshed);
    Some(refreshed.row)
}

/// The rows of every stamp of an output folder, by case name.
pub fn stamps(out: &Path) -> Vec<Row> {
    let Ok(entries) = std::fs::read_dir(out.join(STATE_DIR)) else {
        return Vec::new();
    };
    let mut cases: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    cases.sort();
    cases
        .iter()
        .filter_map(|case| load(out, case))
        .map(|stamp| stamp.row)
        .collect()
}
