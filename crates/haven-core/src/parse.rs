//! Scenario and inventory files (SPEC section 4) with line-precise errors.

use crate::model::Scenario;
use std::fmt;
use std::path::Path;

/// Input that cannot be used: names the file, the line (when there is one)
/// and what is wrong, in one sentence that says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// Parses a scenario from `text`; `file` is only used in messages.
pub fn parse_scenario(file: &str, text: &str) -> Result<Scenario, InputError> {
    let _ = (file, text);
    todo!()
}

/// Reads and parses a scenario file.
pub fn load_scenario(path: &Path) -> Result<Scenario, InputError> {
    let _ = path;
    todo!()
}
