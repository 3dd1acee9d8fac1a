//! What the `haven` binary's test files share. Each test file uses part of
//! it, hence `dead_code` is allowed.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the built `haven` with `args` and returns what it did.
pub fn haven(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(args)
        .output()
        .expect("haven runs")
}

/// The path of `examples/<name>`, as a string for command lines.
pub fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    path.to_str().expect("a UTF-8 path").to_string()
}
