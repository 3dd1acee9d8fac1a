//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real sample logs of `../shared/evtx-samples/` (beside the repository), or of
/// `$HVTRIAGE_SAMPLES` when set. Missing samples fail the test: they are never skipped.
pub fn samples() -> PathBuf {
    let candidates = [
        std::env::var_os("HVTRIAGE_SAMPLES").map(PathBuf::from),
        Some(root().join("../shared/evtx-samples")),
        Some(PathBuf::from("/work/shared/evtx-samples")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("SOURCES.md").is_file())
        .expect(
            "the real samples are missing: set HVTRIAGE_SAMPLES to the shared evtx-samples folder",
        )
}

/// Every fixture case: the folders of `fixtures/` that hold an `expected.toml`.
pub fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.toml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "the fixture cases are missing");
    cases
}

/// Every file under `dir` whose name ends with `ext`, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .expect("readable folder")
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub fn hvtriage() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("hvtriage").expect("the binary is built")
}
