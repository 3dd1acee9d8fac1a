//! Where a command may write: never over one of its inputs, never over an event log or zip,
//! and never two outputs into one file. `analyze case -o case/HV01/System.evtx` would
//! otherwise replace the customer's log with HTML, and `--json r -o r` would keep only one.

use crate::input::discover::holds_a_log;
use std::path::{Path, PathBuf};

/// One file a command is about to write: what it is (`the HTML report (-o)`) and where.
pub struct Output<'a> {
    pub what: &'static str,
    pub path: &'a Path,
}

/// Why an output may not be written, as one sentence naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Clash {
    #[error("{path}: {what} would overwrite this input of the case; write it to another file")]
    Input { what: &'static str, path: String },
    #[error(
        "{path}: {what} would overwrite an existing event log or zip; write it to another file"
    )]
    Log { what: &'static str, path: String },
    #[error("{path}: {first} and {second} name the same file; give each output a file of its own")]
    Same {
        first: &'static str,
        second: &'static str,
        path: String,
    },
}

/// Checks the outputs against the inputs (the paths named on the command line) and each
/// other. A new file inside an input folder is fine: what matters is what exists.
///
/// # Errors
/// The first [`Clash`] found.
pub fn check(outputs: &[Output], inputs: &[PathBuf]) -> Result<(), Clash> {
    for (i, out) in outputs.iter().enumerate() {
        let path = out.path.display().to_string();
        if inputs.iter().any(|input| same_file(out.path, input)) {
            return Err(Clash::Input {
                what: out.what,
                path,
            });
        }
        if holds_a_log(out.path) {
            return Err(Clash::Log {
                what: out.what,
                path,
            });
        }
        if let Some(first) = outputs[..i].iter().find(|o| same_output(o.path, out.path)) {
            return Err(Clash::Same {
                first: first.what,
                second: out.what,
                path,
            });
        }
    }
    Ok(())
}

/// Whether two outputs would land in one file. A device both write to (`/dev/null`) is not
/// a file either could spoil.
fn same_output(a: &Path, b: &Path) -> bool {
    let device = |p: &Path| std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir());
    same_file(a, b) && !device(a)
}

/// Whether two paths name one file: the same canonical path (links and `..` resolved, a file
/// not yet there by its folder's), or on Unix the same file by device and inode (hard links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    resolved(a) == resolved(b) || same_inode(a, b)
}

/// The canonical path; for a file that does not exist yet, its folder's canonical path and
/// its name; else the path made absolute.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

#[cfg(unix)]
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_: &Path, _: &Path) -> bool {
    false
}

/// Writes `contents` to `path` whole or not at all: into a temporary file beside it, then
/// renamed over it. An interrupted run leaves the old file (or none), never a cut one.
///
/// # Errors
/// Writing or renaming failed; the temporary file is removed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    // A link or a device (`-o /dev/stdout`) is written through, never replaced.
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
        return std::fs::write(path, contents);
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // Short enough for any file system, whatever the final name's length.
    let short: String = name.chars().take(64).collect();
    let temp = path.with_file_name(format!(
        ".{short}.{}-{}.part",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&temp, contents).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_not_there_yet_is_named_by_its_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("r.html");
        let b = tmp.path().join("sub/../r.html");
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        assert!(same_file(&a, &b));
        assert!(!same_file(&a, &tmp.path().join("r.json")));
    }

    #[test]
    fn two_outputs_may_both_be_dev_null() {
        let null = Path::new("/dev/null");
        if null.exists() {
            assert!(!same_output(null, null));
        }
    }
}
