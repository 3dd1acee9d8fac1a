//! Rules: which signals, in what relation, mean which root cause (SPEC §4). Rules are data:
//! one TOML file per rule, embedded at build time, checked at load.

pub mod load;
pub mod matcher;
pub mod proof;
pub mod text;

use crate::signal::Catalogue;
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The embedded `rules/signals.toml`.
pub const BUILTIN_SIGNALS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/signals.toml"));

/// The signal catalogue and the rules that read it.
#[derive(Debug)]
pub struct RuleSet {
    pub catalogue: Catalogue,
    pub rules: Vec<Rule>,
    /// A hash of every file the set was loaded from (names and texts): the same rules give
    /// the same value within one build of hvtriage.
    pub fingerprint: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "critical" => Some(Severity::Critical),
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
        }
    }
}

/// Whether a finding belongs to one host or to the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Host,
    Cluster,
}

/// One rule, checked and typed.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub file: String,
    pub severity: Severity,
    /// Matches of the rule on one host closer than this are one finding.
    pub window_ms: i64,
    pub scope: Scope,
    /// The step whose host is the finding's host.
    pub host_step: String,
    /// The steps whose VMs are the finding's VMs (empty: every step).
    pub vm_steps: Vec<String>,
    pub high: Form,
    pub medium: Option<Form>,
    pub references: Vec<String>,
    pub seeds: Vec<String>,
    /// A check of the hosts' configuration that confirms or contradicts the cause
    /// (`shared-uplink-only-path`), see `src/config`.
    pub config_check: Option<String>,
    /// The most the rule may claim (`confidence = "medium"` when a fact it rests on is
    /// unverified); its full form then matches at this confidence.
    pub ceiling: Confidence,
    /// Texts by language (`en` always).
    pub text: BTreeMap<String, text::Text>,
    /// The cases that prove the rule (SPEC §6.4): where it must match, and where it must not.
    pub fixtures: Vec<RuleFixture>,
}

/// One fixture case a rule names.
#[derive(Debug, Clone)]
pub struct RuleFixture {
    /// The case folder, relative to the rule file's folder as written, resolved.
    pub case: std::path::PathBuf,
    /// `None`: the rule must not match the case.
    pub expect: Option<ExpectedFinding>,
}

/// What a positive fixture's finding must be.
#[derive(Debug, Clone)]
pub struct ExpectedFinding {
    pub host: Option<String>,
    pub vms: Vec<String>,
    pub confidence: Confidence,
}

/// A set of steps and absences that together mean the cause, at one confidence.
#[derive(Debug)]
pub struct Form {
    pub steps: Vec<Step>,
    pub absent: Vec<Absence>,
    /// Keys of `collect` texts shown as "what to collect next" whenever this form matches.
    pub collect: Vec<String>,
}

#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub signals: Vec<String>,
    /// Signals of the step that count only together: when the step binds nothing but these,
    /// they must come from every host of the case (a link down on every node).
    pub every_host: Vec<String>,
    /// Field conditions, each with the step's signals it applies to: those whose definition
    /// has the field (in a step of several signals, the others match on their name alone).
    pub conditions: Vec<FieldCondition>,
    /// Groups of conditions (`where_any`): when there are any, one group must hold whole.
    pub any_of: Vec<Vec<FieldCondition>>,
    pub host: Option<HostRelation>,
    /// The migration's source is the host of that step.
    pub source_is_host_of: Option<usize>,
    pub same_vm: Option<usize>,
    pub different_vm: Option<usize>,
    pub time: Vec<TimeRelation>,
    pub optional: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum HostRelation {
    Same(usize),
    Different(usize),
    /// The host at the other end of that step's migration (its `peer`, else `destination`).
    PeerOf(usize),
}

#[derive(Debug, Clone, Copy)]
pub struct TimeRelation {
    pub step: usize,
    pub kind: TimeKind,
    pub within_ms: i64,
    /// The signals must also be at least this far apart (0: no minimum).
    pub at_least_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    After,
    Before,
    Around,
}

/// A condition on one field, with the signals it applies to (those that have the field).
pub type FieldCondition = (String, Condition, Vec<String>);

#[derive(Debug)]
pub enum Condition {
    Equals(String),
    OneOf(Vec<String>),
    Regex(Regex),
    Code(Vec<String>),
    /// None of these codes: neither the field nor the signal's `codes` holds one (a signal
    /// without any code passes).
    NotCode(Vec<String>),
}

/// "And no signal X on (other | the same | any) host within D of step S."
#[derive(Debug)]
pub struct Absence {
    pub signals: Vec<String>,
    /// Field conditions a signal must meet to count (a 5719 with one status).
    pub conditions: Vec<FieldCondition>,
    pub host: AbsentHost,
    pub of: usize,
    /// `None`: at any time in the collected logs.
    pub within_ms: Option<i64>,
    /// Only a signal about the same VM as step `of` counts.
    pub same_vm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbsentHost {
    Same,
    Other,
    Any,
}

impl Condition {
    pub fn holds(&self, value: &str) -> bool {
        match self {
            Condition::Equals(v) => value.eq_ignore_ascii_case(v),
            Condition::OneOf(vs) => vs.iter().any(|v| value.eq_ignore_ascii_case(v)),
            Condition::Regex(re) => re.is_match(value),
            // A value may hold several codes (the `codes` of a message), space-separated.
            Condition::Code(codes) => any_code(codes, value),
            Condition::NotCode(codes) => !any_code(codes, value),
        }
    }
}

/// Whether a value (one code, or several space-separated) holds one of `codes`.
fn any_code(codes: &[String], value: &str) -> bool {
    value
        .split_whitespace()
        .any(|v| codes.iter().any(|c| c == v))
}

impl RuleSet {
    /// The built-in catalogue and rules.
    ///
    /// # Errors
    /// Never for a tested build; the error names the embedded file and line.
    pub fn builtin() -> Result<RuleSet, load::LoadError> {
        load::load(&builtin_files(), &[])
    }

    /// The built-in rules, with the rules of `dir` added: a rule with a built-in id replaces
    /// it, and a `signals.toml` there replaces the catalogue.
    ///
    /// # Errors
    /// A [`load::LoadError`] with file, line and the fix.
    pub fn with_dir(dir: &std::path::Path) -> Result<RuleSet, load::LoadError> {
        load::load(&builtin_files(), &load::read_dir(dir)?)
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

fn builtin_files() -> Vec<(String, String)> {
    BUILTIN_FILES
        .iter()
        .map(|(name, text)| (format!("rules/{name}"), (*text).to_string()))
        .collect()
}
