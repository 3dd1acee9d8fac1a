//! The single value every renderer reads (STYLE §6): what was read, the timeline, the
//! findings, the warnings.

use crate::input::InputReport;
use crate::rules::{Confidence, Severity};
use crate::signal::Signal;
use chrono::{DateTime, Utc};

/// One case, analyzed.
#[derive(Debug)]
pub struct Analysis {
    pub case: String,
    /// The zone times are shown in (`--tz`); everything is stored in UTC.
    pub time_zone: chrono_tz::Tz,
    pub inputs: Vec<InputReport>,
    pub hosts: Vec<Host>,
    pub coverage: Vec<Coverage>,
    pub timeline: Vec<Signal>,
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
    /// Ids of the rules that were run.
    pub rules: Vec<String>,
}

/// A host of the case: its key and the longest name it was seen under.
#[derive(Debug, Clone)]
pub struct Host {
    pub key: String,
    pub name: String,
    pub clock_offset_ms: i64,
    pub clock_basis: String,
}

/// What the case holds of one log of one host.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub host: String,
    pub channel: String,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub records: u64,
    pub record_id_gaps: u64,
    pub damaged: bool,
    pub missing: bool,
}

/// One rule matched once for one host (SPEC §4.3).
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub host: String,
    pub vms: Vec<String>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub title: String,
    pub cause: String,
    /// The fix, as steps.
    pub fix: Vec<String>,
    /// Timeline ids of the signals it used.
    pub evidence: Vec<usize>,
    /// What to collect next: evidence the rule would use that the case lacks.
    pub missing: Vec<String>,
}

impl Analysis {
    /// Records read in every input.
    pub fn records(&self) -> u64 {
        self.inputs.iter().map(|i| i.records).sum()
    }

    /// The time span every input covers together.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let first = self.inputs.iter().filter_map(|i| i.first).min()?;
        let last = self.inputs.iter().filter_map(|i| i.last).max()?;
        Some((first, last))
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}
