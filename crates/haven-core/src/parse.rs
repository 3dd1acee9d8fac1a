//! Scenario and inventory files (SPEC section 4) with line-precise errors.
//!
//! Parsing runs in three phases; each refuses bad input before the next one
//! runs, so later phases can trust what earlier ones checked:
//!
//! ```text
//! text ---- toml ----> Tree ---- shape ----> Raw* ---- references ----> Scenario
//!        (syntax)            (keys, types,          (unique names,
//!                             enums, times,          known references,
//!                             MACs)                  memory fits)
//! ```
//!
//! 1. **Syntax.** toml turns the text into a `Tree`: plain TOML values that
//!    keep the byte span of every value, so any later check can name a line.
//! 2. **Shape.** Each table is read into a `Raw*` struct: unknown and missing
//!    keys, wrong types, bad enum values, malformed times and MACs.
//! 3. **References.** Names must be unique, every reference must resolve and
//!    each node's VMs must fit in its memory.
//!
//! Phases 2 and 3 record every problem with its byte position and report the
//! first one in file order, so the message does not depend on the order in
//! which the checks happen to run.

use crate::model::{
    Adapter, Cluster, Detection, MigrationAuth, Millis, Network, Nic, Node, Priority, Scenario,
    Settings, Step, StepAction, Switch, Vm,
};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use toml::Spanned;

/// Files larger than this are refused unread: the inventory of a real
/// cluster of thousands of VMs stays far below it, so a bigger file is the
/// wrong file (a disk image, a log) and reading it would only waste memory.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// No time in a scenario (a step's `at`, a hold-down, a backoff, a poll
/// interval, a migration) may exceed 30 days: it bounds every sum of times
/// far below overflow and keeps every simulation finite.
pub const MAX_TIME_MS: Millis = 30 * 24 * 3_600_000;

/// At most this many valid names are listed in one message.
const MAX_LISTED: usize = 12;

/// Longer words get no "did you mean": they are no typo, and the edit
/// distance costs the product of the lengths.
const MAX_SUGGESTED_LEN: usize = 64;

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

/// A reference to a name the cluster does not define: a NIC on an unknown
/// network, a switch with an unknown uplink, a VM on an unknown node, an
/// adapter on a switch its node lacks (rule V6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dangling {
    pub line: usize,
    pos: usize,
    pub message: String,
    pub subject: Subject,
}

/// What a finding is about; each part when it applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub node: Option<String>,
    pub switch: Option<String>,
    pub nic: Option<String>,
    pub vm: Option<String>,
}

/// A file read for `validate`: a scenario, or the dangling references that
/// keep it from being one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lenient {
    Valid(Box<Scenario>),
    Dangling(Vec<Dangling>),
}

/// Like [`parse_scenario`], but references to unknown names are returned as
/// [`Lenient::Dangling`] (for rule V6) instead of failing.
///
/// # Errors
/// Every other problem [`parse_scenario`] refuses.
pub fn parse_lenient(file: &str, text: &str) -> Result<Lenient, InputError> {
    parse_with(file, text, true)
}

/// Reads a file and parses it with [`parse_lenient`].
///
/// # Errors
/// As [`load_scenario`], less dangling references.
pub fn load_lenient(path: &Path) -> Result<Lenient, InputError> {
    let text = load_text(path)?;
    parse_lenient(&path.display().to_string(), &text)
}

/// Parses a scenario from `text`; `file` is only used in messages, and its
/// stem names the scenario when the text gives no top-level `name`.
///
/// # Errors
///
/// Any input that is not a valid scenario (SPEC section 4): bad TOML syntax,
/// unknown or missing keys, wrong types or values, duplicate names or MACs,
/// references to things that do not exist, VMs that do not fit their node, a
/// cluster without nodes. The error is the first problem in file order, with
/// its line.
///
/// # Example
///
/// ```
/// use haven_core::parse::parse_scenario;
///
/// let text = "[[node]]\nname = \"A\"\nmemory_mb = 65536\n";
/// let scenario = parse_scenario("examples/one-node.toml", text).unwrap();
/// assert_eq!(scenario.name, "one-node");
/// assert_eq!(scenario.cluster.nodes[0].memory_mb, 65536);
///
/// let typo = "[[node]]\nnmae = \"A\"\nmemory_mb = 65536\n";
/// let error = parse_scenario("one-node.toml", typo).unwrap_err();
/// assert_eq!(error.line, Some(2));
/// assert!(error.to_string().starts_with("one-node.toml:2: unknown key `nmae` in [[node]]"));
/// ```
pub fn parse_scenario(file: &str, text: &str) -> Result<Scenario, InputError> {
    match parse_with(file, text, false)? {
        Lenient::Valid(scenario) => Ok(*scenario),
        // Strict parsing turned every dangling reference into an error.
        Lenient::Dangling(d) => Err(InputError {
            file: file.to_owned(),
            line: d.first().map(|d| d.line),
            message: d.first().map_or_else(String::new, |d| d.message.clone()),
        }),
    }
}

fn parse_with(file: &str, text: &str, lenient: bool) -> Result<Lenient, InputError> {
    let sink = Sink::new(text);
    let checked = read_tree(text)
        .and_then(|tree| sink.settle(read_scenario(tree, &sink)))
        .and_then(|raw| {
            check(&raw, &sink);
            if !lenient {
                sink.dangling_are_issues();
            }
            sink.settle(Ok(raw))
        });
    let raw = checked.map_err(|(pos, message)| InputError {
        file: file.to_owned(),
        line: Some(sink.line(pos)),
        message,
    })?;
    let mut dangling = sink.dangling.take();
    if dangling.is_empty() {
        return Ok(Lenient::Valid(Box::new(raw.into_model(file_stem(file)))));
    }
    dangling.sort_by_key(|d| d.pos);
    Ok(Lenient::Dangling(dangling))
}

/// Reads and parses a scenario file; the path names it in messages.
///
/// # Errors
///
/// The file cannot be read (no line then), is larger than 16 MiB, is not
/// UTF-8, or is not a valid scenario (see [`parse_scenario`]).
pub fn load_scenario(path: &Path) -> Result<Scenario, InputError> {
    let text = load_text(path)?;
    parse_scenario(&path.display().to_string(), &text)
}

/// Reads a scenario file's text without parsing it, for a caller that edits
/// the text (see [`crate::edit`]); the path names it in messages.
///
/// # Errors
///
/// The file cannot be read (no line then), is larger than 16 MiB, or is not
/// UTF-8.
pub fn load_text(path: &Path) -> Result<String, InputError> {
    let file = path.display().to_string();
    let fail = |line, message| InputError {
        file: file.clone(),
        line,
        message,
    };
    let bytes = read_bounded(path).map_err(|message| fail(None, message))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = line_of(e.as_bytes(), e.utf8_error().valid_up_to());
        fail(
            Some(line),
            "the file is not UTF-8 text; save it as UTF-8".to_owned(),
        )
    })
}

/// Reads at most [`MAX_FILE_BYTES`], refusing bigger files.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let mib = MAX_FILE_BYTES >> 20;
        return Err(format!(
            "the file is larger than {mib} MiB; a scenario is far smaller, check the path"
        ));
    }
    Ok(bytes)
}

/// `examples/figure-1.toml` -> `figure-1`.
fn file_stem(file: &str) -> String {
    Path::new(file).file_stem().map_or_else(
        || file.to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    )
}

/// The 1-based line holding byte `pos` of `bytes` (the last line when `pos`
/// is past the end).
pub fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes.iter().take(pos).filter(|&&b| b == b'\n').count() + 1
}

// ---------------------------------------------------------------------------
// Problems: recorded with their byte position, reported first in file order.

/// A problem in the input: its byte position and the message.
type Issue = (usize, String);

/// Proof that a problem was recorded in the [`Sink`]: a reader that fails
/// returns it instead of a message, so no failure goes unreported.
#[derive(Debug)]
struct Reported;

/// Collects the problems of a phase.
struct Sink {
    /// The byte position of every `\n`, so that turning a position into a
    /// line takes a binary search, not a scan: every step needs its line.
    newlines: Vec<usize>,
    /// A `Cell` rather than a `RefCell`: readers share the sink while nested
    /// inside each other, and `take`/`set` cannot panic.
    issues: Cell<Vec<Issue>>,
    /// References to names the cluster does not define (rule V6): errors
    /// for `simulate`, findings for `validate`.
    dangling: Cell<Vec<Dangling>>,
}

impl Sink {
    fn new(text: &str) -> Self {
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n');
        Sink {
            newlines: newlines.map(|(pos, _)| pos).collect(),
            issues: Cell::new(Vec::new()),
            dangling: Cell::new(Vec::new()),
        }
    }

    fn dangle(&self, pos: usize, message: String, subject: Subject) {
        let mut dangling = self.dangling.take();
        dangling.push(Dangling {
            line: self.line(pos),
            pos,
            message,
            subject,
        });
        self.dangling.set(dangling);
    }

    /// Strict parsing: dangling references are problems like any other.
    fn dangling_are_issues(&self) {
        let mut issues = self.issues.take();
        issues.extend(self.dangling.take().into_iter().map(|d| (d.pos, d.message)));
        self.issues.set(issues);
    }

    fn report(&self, pos: usize, message: String) -> Reported {
        let mut issues = self.issues.take();
        issues.push((pos, message));
        self.issues.set(issues);
        Reported
    }

    /// The 1-based line holding byte `pos`.
    fn line(&self, pos: usize) -> usize {
        self.newlines.partition_point(|&newline| newline < pos) + 1
    }

    /// The outcome of a phase: its value, or its first problem in file order
    /// (the first recorded among problems at the same position).
    fn settle<T>(&self, outcome: Result<T, Reported>) -> Result<T, Issue> {
        let issues = self.issues.take();
        let first = issues.iter().min_by_key(|(pos, _)| *pos).cloned();
        self.issues.set(issues);
        match (first, outcome) {
            (Some(issue), _) => Err(issue),
            (None, Ok(value)) => Ok(value),
            // `Reported` is only made by `report`, so this cannot happen;
            // still, no input may make the parser panic.
            (None, Err(Reported)) => Err((
                0,
                "internal error: input refused without a reason; please report this bug".to_owned(),
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// Phase 1, syntax: TOML text to a tree of spanned values.

/// A TOML value that keeps the byte span of every value inside it.
#[derive(Debug)]
enum Tree {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Spanned<Tree>>),
    Table(Table),
}

/// Keys have no span of their own here (toml gives none to dotted keys);
/// messages about a key point at its value, which starts on the key's line.
type Table = BTreeMap<String, Spanned<Tree>>;

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Str(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Tree, E> {
        // toml integers are i64; this only guards the conversion.
        i64::try_from(v)
            .map(Tree::Int)
            .map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Float(v))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut table = Table::new();
        while let Some((key, value)) = map.next_entry()? {
            table.insert(key, value);
        }
        Ok(Tree::Table(table))
    }
}

/// Parses the text into a [`Tree`], or says where the syntax is wrong.
fn read_tree(text: &str) -> Result<Tree, Issue> {
    toml::from_str::<Tree>(text).map_err(|spanned| {
        let pos = spanned.span().map_or(0, |span| span.start);
        // toml gives no span to tables made by dotted keys (`a.b = 1`) or by
        // `[a.b]` headers, and dates are maps in disguise, so a tree of
        // spanned values refuses them even in valid TOML. Parsing again
        // without spans tells a syntax error from those.
        match text.parse::<toml::Table>() {
            Err(syntax) => (
                syntax.span().map_or(pos, |span| span.start),
                format!("not a valid TOML file: {}", one_line(syntax.message())),
            ),
            Ok(_) => (
                pos,
                "unsupported TOML: a scenario has no dates, dotted keys (`a.b = 1`) or \
                 `[a.b]` headers; write each key inside its own table"
                    .to_owned(),
            ),
        }
    })
}

/// toml's messages span several lines; ours are one sentence.
fn one_line(message: &str) -> String {
    message.trim().lines().collect::<Vec<_>>().join("; ")
}

// ---------------------------------------------------------------------------
// Phase 2, shape: trees to raw structs that keep the spans of names.

/// A table's name in messages and the keys it may hold.
struct Kind {
    name: &'static str,
    keys: &'static [&'static str],
}

const TOP: Kind = Kind {
    name: "the top-level table",
    keys: &["name", "settings", "network", "node", "vm", "step"],
};
const SETTINGS: Kind = Kind {
    name: "[settings]",
    keys: &[
        "max_concurrent_migrations",
        "detection",
        "poll_interval_s",
        "hold_down_ms",
        "migration_auth",
        "retry_backoff_s",
        "retry_max",
        "migration_bandwidth_mbps",
    ],
};
const NETWORK: Kind = Kind {
    name: "[[network]]",
    keys: &["name", "control", "migration", "authority"],
};
const NODE: Kind = Kind {
    name: "[[node]]",
    keys: &["name", "memory_mb", "nics", "switches"],
};
const NIC: Kind = Kind {
    name: "NIC",
    keys: &["name", "network", "members"],
};
const SWITCH: Kind = Kind {
    name: "switch",
    keys: &["name", "uplink", "share_with_host"],
};
const VM: Kind = Kind {
    name: "[[vm]]",
    keys: &[
        "name",
        "node",
        "memory_mb",
        "priority",
        "migration_s",
        "adapters",
    ],
};
const ADAPTER: Kind = Kind {
    name: "adapter",
    keys: &["switch", "mac", "protected"],
};
const STEP: Kind = Kind {
    name: "[[step]]",
    keys: &["at", "action", "node", "nic", "vm", "switch", "protected"],
};

const DETECTIONS: &[(&str, Detection)] = &[("event", Detection::Event), ("poll", Detection::Poll)];
const AUTHS: &[(&str, MigrationAuth)] = &[
    ("certificate", MigrationAuth::Certificate),
    ("authority", MigrationAuth::Authority),
];
const PRIORITIES: &[(&str, Priority)] = &[
    ("high", Priority::High),
    ("medium", Priority::Medium),
    ("low", Priority::Low),
];
const ACTIONS: &[(&str, Action)] = &[
    ("link_down", Action::LinkDown),
    ("link_up", Action::LinkUp),
    ("set_protected", Action::SetProtected),
    ("node_down", Action::NodeDown),
    ("node_up", Action::NodeUp),
];

/// The `action` of a step, before its other keys are read.
#[derive(Clone, Copy)]
enum Action {
    LinkDown,
    LinkUp,
    SetProtected,
    NodeDown,
    NodeUp,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::LinkDown => "link_down",
            Action::LinkUp => "link_up",
            Action::SetProtected => "set_protected",
            Action::NodeDown => "node_down",
            Action::NodeUp => "node_up",
        }
    }

    /// The keys a step with this action takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Action::LinkDown | Action::LinkUp => &["at", "action", "node", "nic"],
            Action::SetProtected => &["at", "action", "vm", "switch", "protected"],
            Action::NodeDown | Action::NodeUp => &["at", "action", "node"],
        }
    }
}

/// What a bare number means for a time key: SPEC section 4 counts `at` and
/// `*_ms` keys in milliseconds and `*_s` keys in seconds.
#[derive(Clone, Copy)]
enum Bare {
    Millis,
    Seconds,
    /// `migration_s` also takes fractions of a second (`12.5`).
    FractionalSeconds,
}

impl Bare {
    /// The accepted bare form, for messages.
    fn form(self) -> &'static str {
        match self {
            Bare::Millis => "an integer of milliseconds",
            Bare::Seconds => "an integer of seconds",
            Bare::FractionalSeconds => "a number of seconds",
        }
    }
}

struct RawScenario {
    name: Option<String>,
    settings: Settings,
    networks: Vec<RawNetwork>,
    nodes: Vec<RawNode>,
    vms: Vec<RawVm>,
    steps: Vec<RawStep>,
}

struct RawNetwork {
    name: Spanned<String>,
    control: bool,
    migration: bool,
    authority: bool,
}

struct RawNode {
    name: Spanned<String>,
    memory_mb: u64,
    nics: Vec<RawNic>,
    switches: Vec<RawSwitch>,
}

struct RawNic {
    name: Spanned<String>,
    network: Spanned<String>,
    members: Vec<Spanned<String>>,
}

struct RawSwitch {
    name: Spanned<String>,
    uplink: Spanned<String>,
    share_with_host: bool,
}

struct RawVm {
    name: Spanned<String>,
    node: Spanned<String>,
    /// Spanned to point at the VM that overflows its node.
    memory_mb: Spanned<u64>,
    priority: Priority,
    migration_ms: Option<Millis>,
    adapters: Vec<RawAdapter>,
}

struct RawAdapter {
    switch: Spanned<String>,
    /// Already normalised: twelve upper-case hex digits.
    mac: Spanned<String>,
    protected: bool,
}

struct RawStep {
    at_ms: Millis,
    line: usize,
    action: RawAction,
}

enum RawAction {
    Link {
        up: bool,
        node: Spanned<String>,
        nic: Spanned<String>,
    },
    SetProtected {
        vm: Spanned<String>,
        switch: Spanned<String>,
        protected: bool,
    },
    Node {
        up: bool,
        node: Spanned<String>,
    },
}

/// A read function for one kind of table.
type ReadFn<'a, T> = fn(&mut Fields<'a>) -> Result<T, Reported>;

/// The entries of one table, taken key by key. Every getter records its own
/// problem, so a reader calls all of them before using `?` on any result:
/// that reports every problem of the table, not only the first one read.
struct Fields<'a> {
    sink: &'a Sink,
    /// The table in messages: `[[vm]] `VM1``, `NIC 2 of [[node]] `A``.
    label: String,
    /// Where the table starts: its header, or its `{`.
    pos: usize,
    /// The keys the table may hold.
    keys: &'static [&'static str],
    entries: Table,
}

impl<'a> Fields<'a> {
    /// Reports every key that `keys` does not list: typos must not be
    /// silently ignored.
    fn known_keys(&self) -> Result<(), Reported> {
        let mut outcome = Ok(());
        for (key, value) in &self.entries {
            if !self.keys.contains(&key.as_str()) {
                let message = format!(
                    "unknown key `{key}` in {}; expected one of: {}",
                    self.label,
                    listing(key, self.keys)
                );
                outcome = Err(self.sink.report(value.span().start, message));
            }
        }
        outcome
    }

    /// Reads a key that must be present.
    fn req<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&Self, &str, Spanned<Tree>) -> Result<T, Reported>,
    ) -> Result<T, Reported> {
        match self.entries.remove(key) {
            Some(value) => read(self, key, value),
            // `known_keys` already reported the typo, with this key as its
            // "did you mean": a second message would only hide the first.
            None if self.misspelt(key) => Err(Reported),
            None => Err(self.sink.report(
                self.pos,
                format!(
                    "missing required key `{key}` in {}; add `{key} = ...` to it",
                    self.label
                ),
            )),
        }
    }

    /// Whether an unknown key of the table looks like a typo of `key`.
    fn misspelt(&self, key: &str) -> bool {
        self.entries
            .keys()
            .any(|k| !self.keys.contains(&k.as_str()) && likely(k, &[key]).is_some())
    }

    /// Reads a key that may be absent.
    fn opt<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&Self, &str, Spanned<Tree>) -> Result<T, Reported>,
    ) -> Result<Option<T>, Reported> {
        self.entries
            .remove(key)
            .map(|value| read(self, key, value))
            .transpose()
    }

    fn flag_or(&mut self, key: &str, default: bool) -> Result<bool, Reported> {
        Ok(self.opt(key, Fields::flag)?.unwrap_or(default))
    }

    /// Reads an optional sub-table such as `[settings]`.
    fn table<T>(
        &mut self,
        key: &str,
        kind: &Kind,
        read: ReadFn<'a, T>,
    ) -> Result<Option<T>, Reported> {
        let Some(value) = self.entries.remove(key) else {
            return Ok(None);
        };
        let pos = value.span().start;
        match value.into_inner() {
            Tree::Table(entries) => self.nested(kind, 0, "", pos, entries, read).map(Some),
            other => Err(self.wrong(key, pos, &other, "a table")),
        }
    }

    /// Reads an optional array of tables (`[[vm]]`, `nics = [{..}]`),
    /// reporting the problems of every entry rather than of the first bad one.
    fn tables<T>(
        &mut self,
        key: &str,
        kind: &Kind,
        owner: &str,
        read: ReadFn<'a, T>,
    ) -> Result<Vec<T>, Reported> {
        let Some(value) = self.entries.remove(key) else {
            return Ok(Vec::new());
        };
        let pos = value.span().start;
        let items = match value.into_inner() {
            Tree::Array(items) => items,
            other => return Err(self.wrong(key, pos, &other, "an array of tables")),
        };
        let outcomes: Vec<_> = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let pos = item.span().start;
                match item.into_inner() {
                    Tree::Table(entries) => self.nested(kind, index, owner, pos, entries, read),
                    other => Err(self.wrong(key, pos, &other, "an array of tables")),
                }
            })
            .collect();
        outcomes.into_iter().collect()
    }

    fn nested<T>(
        &self,
        kind: &Kind,
        index: usize,
        owner: &str,
        pos: usize,
        entries: Table,
        read: ReadFn<'a, T>,
    ) -> Result<T, Reported> {
        let mut fields = Fields {
            sink: self.sink,
            label: label(kind.name, index, owner, &entries),
            pos,
            keys: kind.keys,
            entries,
        };
        let known = fields.known_keys();
        let value = read(&mut fields);
        known.and(value)
    }

    /// Reports every key left that a step with `action` does not take.
    fn only(&self, action: Action) -> Result<(), Reported> {
        let mut outcome = Ok(());
        for (key, value) in &self.entries {
            if !action.keys().contains(&key.as_str()) {
                let message = format!(
                    "key `{key}` does not belong to a `{}` step, which takes only: {}; remove it",
                    action.name(),
                    action.keys().join(", ")
                );
                outcome = Err(self.sink.report(value.span().start, message));
            }
        }
        outcome
    }

    /// Reports a value of the wrong kind.
    fn wrong(&self, key: &str, pos: usize, found: &Tree, expected: &str) -> Reported {
        let message = format!(
            "`{key}` in {} must be {expected}, found {}",
            self.label,
            shown(found)
        );
        self.sink.report(pos, message)
    }

    /// A name or a reference to one: a non-blank string.
    fn name(&self, key: &str, value: Spanned<Tree>) -> Result<Spanned<String>, Reported> {
        let span = value.span();
        match value.into_inner() {
            Tree::Str(name) if !name.trim().is_empty() => Ok(Spanned::new(span, name)),
            other => Err(self.wrong(key, span.start, &other, "a non-empty string")),
        }
    }

    fn names(&self, key: &str, value: Spanned<Tree>) -> Result<Vec<Spanned<String>>, Reported> {
        let pos = value.span().start;
        match value.into_inner() {
            Tree::Array(items) => {
                let names: Vec<_> = items.into_iter().map(|n| self.name(key, n)).collect();
                names.into_iter().collect()
            }
            other => Err(self.wrong(key, pos, &other, "an array of names")),
        }
    }

    fn flag(&self, key: &str, value: Spanned<Tree>) -> Result<bool, Reported> {
        match value.get_ref() {
            Tree::Bool(flag) => Ok(*flag),
            other => Err(self.wrong(key, value.span().start, other, "true or false")),
        }
    }

    /// A count or a size: an integer of at least 1.
    fn count(&self, key: &str, value: Spanned<Tree>) -> Result<Spanned<u64>, Reported> {
        match value.get_ref() {
            Tree::Int(n) if *n >= 1 => Ok(Spanned::new(value.span(), n.unsigned_abs())),
            other => Err(self.wrong(key, value.span().start, other, "an integer of at least 1")),
        }
    }

    fn count_u32(&self, key: &str, value: Spanned<Tree>) -> Result<u32, Reported> {
        let count = match value.get_ref() {
            Tree::Int(n) => u32::try_from(*n).ok().filter(|&n| n >= 1),
            _ => None,
        };
        count.ok_or_else(|| {
            let expected = "an integer from 1 to 4294967295";
            self.wrong(key, value.span().start, value.get_ref(), expected)
        })
    }

    /// One of the names of `options`.
    fn choice<T: Copy>(
        &self,
        key: &str,
        value: Spanned<Tree>,
        options: &[(&str, T)],
    ) -> Result<T, Reported> {
        let given = match value.get_ref() {
            Tree::Str(given) => given.as_str(),
            _ => "",
        };
        if let Some((_, option)) = options.iter().find(|(name, _)| *name == given) {
            return Ok(*option);
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let message = format!(
            "`{key}` in {} is {}; expected one of: {}",
            self.label,
            shown(value.get_ref()),
            listing(given, &names)
        );
        Err(self.sink.report(value.span().start, message))
    }

    fn time(&self, key: &str, value: Spanned<Tree>, bare: Bare) -> Result<Millis, Reported> {
        let pos = value.span().start;
        let millis = match (value.get_ref(), bare) {
            (Tree::Str(text), _) => parse_duration(text),
            (Tree::Int(n), Bare::Millis) => u64::try_from(*n).ok(),
            (Tree::Int(n), _) => u64::try_from(*n).ok().and_then(|s| s.checked_mul(1000)),
            (Tree::Float(seconds), Bare::FractionalSeconds) => float_seconds(*seconds),
            _ => None,
        };
        if let Some(ms) = millis.filter(|&ms| ms > MAX_TIME_MS) {
            let days = MAX_TIME_MS / 86_400_000;
            let message = format!(
                "`{key}` in {} is {} h, longer than haven's limit of {days} days for any time \
                 in a scenario; use a shorter time",
                self.label,
                ms / 3_600_000
            );
            return Err(self.sink.report(pos, message));
        }
        millis.ok_or_else(|| {
            let message = format!(
                "`{key}` in {} is not a valid time: {}; write a number with a unit and no \
                 space, like \"500ms\", \"10s\", \"1.5s\", \"2m\" or \"1h\", or {}",
                self.label,
                shown(value.get_ref()),
                bare.form()
            );
            self.sink.report(value.span().start, message)
        })
    }

    /// A time that must not be zero: a zero poll interval would spin, and a
    /// migration always takes time.
    fn positive_time(
        &self,
        key: &str,
        value: Spanned<Tree>,
        bare: Bare,
    ) -> Result<Millis, Reported> {
        let pos = value.span().start;
        match self.time(key, value, bare)? {
            0 => Err(self.sink.report(
                pos,
                format!("`{key}` in {} must be more than zero", self.label),
            )),
            millis => Ok(millis),
        }
    }

    fn mac(&self, key: &str, value: Spanned<Tree>) -> Result<Spanned<String>, Reported> {
        let span = value.span();
        let mac = match value.get_ref() {
            Tree::Str(text) => normalize_mac(text),
            _ => None,
        };
        let message = match mac {
            Some(mac) if is_unicast(&mac) => return Ok(Spanned::new(span, mac)),
            Some(_) => format!(
                "`{key}` in {} is {}, which is not a unicast address (multicast or all \
                 zeros); give the adapter a unicast MAC (even first byte)",
                self.label,
                shown(value.get_ref())
            ),
            None => format!(
                "`{key}` in {} is not a MAC address: {}; write 12 hex digits, optionally \
                 in pairs separated by `:` or `-`, like \"00:15:5D:86:72:39\"",
                self.label,
                shown(value.get_ref())
            ),
        };
        Err(self.sink.report(span.start, message))
    }
}

/// A table in messages: by name when it has one, else by position among its
/// siblings (top-level tables by their header alone: the line says which).
fn label(kind: &str, index: usize, owner: &str, entries: &Table) -> String {
    match entries.get("name").map(Spanned::get_ref) {
        Some(Tree::Str(name)) => format!("{kind} `{name}`{owner}"),
        _ if owner.is_empty() => kind.to_owned(),
        _ => format!("{kind} {}{owner}", index + 1),
    }
}

/// A value as the user wrote it, short enough for a message.
fn shown(value: &Tree) -> String {
    match value {
        Tree::Str(text) if text.chars().count() > 40 => {
            format!("{:?}...", text.chars().take(40).collect::<String>())
        }
        Tree::Str(text) => format!("{text:?}"),
        Tree::Int(n) => n.to_string(),
        Tree::Float(x) => x.to_string(),
        Tree::Bool(flag) => flag.to_string(),
        Tree::Array(_) => "an array".to_owned(),
        Tree::Table(_) => "a table".to_owned(),
    }
}

fn read_scenario(tree: Tree, sink: &Sink) -> Result<RawScenario, Reported> {
    // toml's root is always a table.
    let Tree::Table(entries) = tree else {
        return Err(sink.report(0, "the file must be a TOML table".to_owned()));
    };
    let mut top = Fields {
        sink,
        label: TOP.name.to_owned(),
        pos: 0,
        keys: TOP.keys,
        entries,
    };
    let known = top.known_keys();
    let name = top.opt("name", Fields::name);
    let settings = top.table("settings", &SETTINGS, read_settings);
    let networks = top.tables("network", &NETWORK, "", read_network);
    let nodes = top.tables("node", &NODE, "", read_node);
    let vms = top.tables("vm", &VM, "", read_vm);
    let steps = top.tables("step", &STEP, "", read_step);
    known?;
    Ok(RawScenario {
        name: name?.map(Spanned::into_inner),
        settings: settings?.unwrap_or_default(),
        networks: networks?,
        nodes: nodes?,
        vms: vms?,
        steps: steps?,
    })
}

fn read_settings(f: &mut Fields<'_>) -> Result<Settings, Reported> {
    let defaults = Settings::default();
    let max = f.opt("max_concurrent_migrations", Fields::count_u32);
    let detection = f.opt("detection", |f, k, v| f.choice(k, v, DETECTIONS));
    let poll = f.opt("poll_interval_s", |f, k, v| {
        f.positive_time(k, v, Bare::Seconds)
    });
    let hold_down = f.opt("hold_down_ms", |f, k, v| f.time(k, v, Bare::Millis));
    let auth = f.opt("migration_auth", |f, k, v| f.choice(k, v, AUTHS));
    let backoff = f.opt("retry_backoff_s", |f, k, v| f.time(k, v, Bare::Seconds));
    let retry_max = f.opt("retry_max", Fields::count_u32);
    let bandwidth = f.opt("migration_bandwidth_mbps", Fields::count);
    Ok(Settings {
        max_concurrent_migrations: max?.unwrap_or(defaults.max_concurrent_migrations),
        detection: detection?.unwrap_or(defaults.detection),
        poll_interval_ms: poll?.unwrap_or(defaults.poll_interval_ms),
        hold_down_ms: hold_down?.unwrap_or(defaults.hold_down_ms),
        migration_auth: auth?.unwrap_or(defaults.migration_auth),
        retry_backoff_ms: backoff?.unwrap_or(defaults.retry_backoff_ms),
        retry_max: retry_max?.unwrap_or(defaults.retry_max),
        migration_bandwidth_mbps: bandwidth?
            .map_or(defaults.migration_bandwidth_mbps, Spanned::into_inner),
        ..defaults
    })
}

fn read_network(f: &mut Fields<'_>) -> Result<RawNetwork, Reported> {
    let name = f.req("name", Fields::name);
    let control = f.flag_or("control", false);
    let migration = f.flag_or("migration", false);
    let authority = f.flag_or("authority", false);
    Ok(RawNetwork {
        name: name?,
        control: control?,
        migration: migration?,
        authority: authority?,
    })
}

fn read_node(f: &mut Fields<'_>) -> Result<RawNode, Reported> {
    let owner = format!(" of {}", f.label);
    let name = f.req("name", Fields::name);
    let memory_mb = f.req("memory_mb", Fields::count);
    let nics = f.tables("nics", &NIC, &owner, read_nic);
    let switches = f.tables("switches", &SWITCH, &owner, read_switch);
    Ok(RawNode {
        name: name?,
        memory_mb: memory_mb?.into_inner(),
        nics: nics?,
        switches: switches?,
    })
}

fn read_nic(f: &mut Fields<'_>) -> Result<RawNic, Reported> {
    let name = f.req("name", Fields::name);
    let network = f.req("network", Fields::name);
    let members = f.opt("members", Fields::names);
    let members = match members {
        // An empty list is most likely a bond whose ports were forgotten:
        // refuse it rather than silently make a plain NIC.
        Ok(Some(members)) if members.is_empty() => Err(f.sink.report(
            f.pos,
            format!(
                "`members` of {} is empty; list the bond's ports or remove `members`",
                f.label
            ),
        )),
        other => other.map(Option::unwrap_or_default),
    };
    Ok(RawNic {
        name: name?,
        network: network?,
        members: members?,
    })
}

fn read_switch(f: &mut Fields<'_>) -> Result<RawSwitch, Reported> {
    let name = f.req("name", Fields::name);
    let uplink = f.req("uplink", Fields::name);
    let share_with_host = f.flag_or("share_with_host", false);
    Ok(RawSwitch {
        name: name?,
        uplink: uplink?,
        share_with_host: share_with_host?,
    })
}

fn read_vm(f: &mut Fields<'_>) -> Result<RawVm, Reported> {
    let owner = format!(" of {}", f.label);
    let name = f.req("name", Fields::name);
    let node = f.req("node", Fields::name);
    let memory_mb = f.req("memory_mb", Fields::count);
    let priority = f.opt("priority", |f, k, v| f.choice(k, v, PRIORITIES));
    let migration_ms = f.opt("migration_s", |f, k, v| {
        f.positive_time(k, v, Bare::FractionalSeconds)
    });
    let adapters = f.tables("adapters", &ADAPTER, &owner, read_adapter);
    Ok(RawVm {
        name: name?,
        node: node?,
        memory_mb: memory_mb?,
        priority: priority?.unwrap_or(Priority::Medium),
        migration_ms: migration_ms?,
        adapters: adapters?,
    })
}

fn read_adapter(f: &mut Fields<'_>) -> Result<RawAdapter, Reported> {
    let switch = f.req("switch", Fields::name);
    let mac = f.req("mac", Fields::mac);
    // Protected by default [S0.3].
    let protected = f.flag_or("protected", true);
    Ok(RawAdapter {
        switch: switch?,
        mac: mac?,
        protected: protected?,
    })
}

fn read_step(f: &mut Fields<'_>) -> Result<RawStep, Reported> {
    let at_ms = f.req("at", |f, k, v| f.time(k, v, Bare::Millis));
    let action = f
        .req("action", |f, k, v| f.choice(k, v, ACTIONS))
        .and_then(|action| read_action(f, action));
    Ok(RawStep {
        at_ms: at_ms?,
        line: f.sink.line(f.pos),
        action: action?,
    })
}

fn read_action(f: &mut Fields<'_>, action: Action) -> Result<RawAction, Reported> {
    let stray = f.only(action);
    let read = match action {
        Action::LinkDown | Action::LinkUp => {
            let node = f.req("node", Fields::name);
            let nic = f.req("nic", Fields::name);
            node.and_then(|node| {
                Ok(RawAction::Link {
                    up: matches!(action, Action::LinkUp),
                    node,
                    nic: nic?,
                })
            })
        }
        Action::SetProtected => {
            let vm = f.req("vm", Fields::name);
            let switch = f.req("switch", Fields::name);
            let protected = f.req("protected", Fields::flag);
            vm.and_then(|vm| {
                Ok(RawAction::SetProtected {
                    vm,
                    switch: switch?,
                    protected: protected?,
                })
            })
        }
        Action::NodeDown | Action::NodeUp => {
            f.req("node", Fields::name).map(|node| RawAction::Node {
                up: matches!(action, Action::NodeUp),
                node,
            })
        }
    };
    stray.and(read)
}

/// `"500ms"`, `"10s"`, `"1.5s"`, `"2m"`, `"1h"`: digits with at most one
/// decimal point, then a unit; the result must be whole milliseconds.
fn parse_duration(text: &str) -> Option<Millis> {
    let unit_at = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(unit_at);
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    scaled(number, unit_ms)
}

/// `number * unit_ms` in exact integer arithmetic (no float rounding), or
/// `None` when it is malformed, overflows or is not whole milliseconds.
fn scaled(number: &str, unit_ms: u64) -> Option<Millis> {
    let (whole, fraction) = match number.split_once('.') {
        Some((_, "")) => return None,
        Some(parts) => parts,
        None => (number, ""),
    };
    // `parse` would accept a sign; the digits were checked by the caller,
    // the dot by `split_once`, so only a second dot is left to refuse.
    if whole.is_empty() || fraction.contains('.') || fraction.len() > 9 {
        return None;
    }
    let whole_ms = whole.parse::<u64>().ok()?.checked_mul(unit_ms)?;
    if fraction.is_empty() {
        return Some(whole_ms);
    }
    let scale = 10u64.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    let fraction_ms = fraction.parse::<u64>().ok()?.checked_mul(unit_ms)?;
    if fraction_ms % scale != 0 {
        return None;
    }
    whole_ms.checked_add(fraction_ms / scale)
}

/// Seconds as a float (`migration_s = 12.5`), rounded to milliseconds.
fn float_seconds(seconds: f64) -> Option<Millis> {
    let millis = (seconds * 1000.0).round();
    // The bound keeps the cast exact; `u64::MAX as f64` would round up.
    (millis.is_finite() && (0.0..9.0e18).contains(&millis)).then_some(millis as u64)
}

/// Twelve hex digits, bare or in six pairs all separated by `:` or all by
/// `-`; returns them upper-case without separators.
fn normalize_mac(text: &str) -> Option<String> {
    let digits = match text.chars().find(|c| !c.is_ascii_hexdigit()) {
        None => text.to_owned(),
        Some(separator @ (':' | '-')) => {
            let pairs: Vec<&str> = text.split(separator).collect();
            if pairs.len() != 6 || pairs.iter().any(|pair| pair.len() != 2) {
                return None;
            }
            pairs.concat()
        }
        Some(_) => return None,
    };
    let valid = digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| digits.to_ascii_uppercase())
}

/// A vNIC needs a unicast address: the low bit of the first byte is the
/// multicast bit, and all zeros is no address at all.
fn is_unicast(mac: &str) -> bool {
    let first = mac.get(..2).and_then(|b| u8::from_str_radix(b, 16).ok());
    first.is_some_and(|b| b & 1 == 0) && mac.bytes().any(|b| b != b'0')
}

// ---------------------------------------------------------------------------
// Phase 3, references: unique names, known references, memory that fits.

fn check(raw: &RawScenario, sink: &Sink) {
    if raw.nodes.is_empty() {
        let message = "the cluster has no nodes; add at least one [[node]] with `name` and \
                       `memory_mb`";
        sink.report(0, message.to_owned());
    }
    let networks = raw.networks.iter().map(|n| &n.name);
    unique(
        sink,
        networks,
        "network",
        "give each [[network]] its own name",
    );
    unique(
        sink,
        raw.nodes.iter().map(|n| &n.name),
        "node",
        "give each [[node]] its own name",
    );
    unique(
        sink,
        raw.vms.iter().map(|v| &v.name),
        "VM",
        "give each [[vm]] its own name",
    );
    for node in &raw.nodes {
        check_node(sink, node, &raw.networks);
    }
    for vm in &raw.vms {
        check_vm(sink, vm, &raw.nodes);
    }
    check_macs(sink, &raw.vms);
    check_memory(sink, &raw.nodes, &raw.vms);
    for step in &raw.steps {
        check_step(sink, step, raw);
    }
}

/// Reports every repeat of a name already used.
fn unique<'r>(
    sink: &Sink,
    names: impl IntoIterator<Item = &'r Spanned<String>>,
    what: &str,
    fix: &str,
) {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names {
        match first.entry(name.get_ref()) {
            Entry::Vacant(slot) => {
                slot.insert(name.span().start);
            }
            Entry::Occupied(slot) => {
                let message = format!(
                    "duplicate {what} name `{}` (first defined on line {}); {fix}",
                    name.get_ref(),
                    sink.line(*slot.get())
                );
                sink.report(name.span().start, message);
            }
        }
    }
}

fn check_node(sink: &Sink, node: &RawNode, networks: &[RawNetwork]) {
    check_nic_names(sink, node);
    let known = names(networks.iter().map(|n| &n.name));
    for nic in &node.nics {
        let network = nic.network.get_ref();
        if !known.contains(&network.as_str()) {
            let head = format!(
                "NIC `{}` of node `{}` is on unknown network `{network}`",
                nic.name.get_ref(),
                node.name.get_ref()
            );
            let none = "define it with a [[network]] table";
            let message = unknown(head, network, &known, none);
            let subject = Subject {
                node: Some(node.name.get_ref().clone()),
                nic: Some(nic.name.get_ref().clone()),
                ..Subject::default()
            };
            sink.dangle(nic.network.span().start, message, subject);
        }
    }
    let fix = format!(
        "each switch of node `{}` needs its own name",
        node.name.get_ref()
    );
    unique(sink, node.switches.iter().map(|s| &s.name), "switch", &fix);
    for switch in &node.switches {
        check_uplink(sink, node, switch);
    }
}

/// NICs, bonds and bond members share one namespace per node (a step may
/// name any of them), and a port belongs to at most one bond, once.
fn check_nic_names(sink: &Sink, node: &RawNode) {
    // Each name's first position, and the bond it is a member of.
    let mut seen: BTreeMap<&str, (usize, Option<&str>)> = BTreeMap::new();
    for nic in &node.nics {
        let bond = Some(nic.name.get_ref().as_str());
        let own = std::iter::once((&nic.name, None));
        for (name, member_of) in own.chain(nic.members.iter().map(|m| (m, bond))) {
            match seen.entry(name.get_ref()) {
                Entry::Vacant(slot) => {
                    slot.insert((name.span().start, member_of));
                }
                Entry::Occupied(slot) => {
                    let (first, first_bond) = *slot.get();
                    let line = sink.line(first);
                    let message = match (member_of, first_bond) {
                        (Some(_), Some(first_bond)) => format!(
                            "port `{}` is already a member of bond `{first_bond}` (line \
                             {line}); list each port in one bond only, once",
                            name.get_ref()
                        ),
                        _ => format!(
                            "duplicate NIC name `{}` in node `{}` (first used on line \
                             {line}); NICs, bonds and bond members of a node need distinct names",
                            name.get_ref(),
                            node.name.get_ref()
                        ),
                    };
                    sink.report(name.span().start, message);
                }
            }
        }
    }
}

/// An uplink is a NIC or a bond of the node; a bond member is enslaved to its
/// bond, so a bridge cannot take it.
fn check_uplink(sink: &Sink, node: &RawNode, switch: &RawSwitch) {
    let uplink = switch.uplink.get_ref();
    if node.nics.iter().any(|nic| nic.name.get_ref() == uplink) {
        return;
    }
    let (switch_name, node_name) = (switch.name.get_ref(), node.name.get_ref());
    let bond = node
        .nics
        .iter()
        .find(|nic| nic.members.iter().any(|m| m.get_ref() == uplink));
    let message = match bond {
        Some(bond) => format!(
            "switch `{switch_name}` of node `{node_name}` has uplink `{uplink}`, a member of \
             bond `{0}`; use the bond `{0}` as the uplink",
            bond.name.get_ref()
        ),
        None => {
            let head = format!(
                "switch `{switch_name}` of node `{node_name}` has unknown uplink `{uplink}`"
            );
            let known = names(node.nics.iter().map(|nic| &nic.name));
            unknown(head, uplink, &known, "add the NIC to the node's `nics`")
        }
    };
    let subject = Subject {
        node: Some(node_name.clone()),
        switch: Some(switch_name.clone()),
        nic: Some(uplink.clone()),
        ..Subject::default()
    };
    sink.dangle(switch.uplink.span().start, message, subject);
}

fn check_vm(sink: &Sink, vm: &RawVm, nodes: &[RawNode]) {
    let (vm_name, node_name) = (vm.name.get_ref(), vm.node.get_ref());
    let Some(node) = nodes.iter().find(|n| n.name.get_ref() == node_name) else {
        let head = format!("VM `{vm_name}` is on unknown node `{node_name}`");
        let known = names(nodes.iter().map(|n| &n.name));
        let message = unknown(head, node_name, &known, "define it with a [[node]] table");
        let subject = Subject {
            node: Some(node_name.clone()),
            vm: Some(vm_name.clone()),
            ..Subject::default()
        };
        sink.dangle(vm.node.span().start, message, subject);
        return;
    };
    let known = names(node.switches.iter().map(|s| &s.name));
    for adapter in &vm.adapters {
        let switch = adapter.switch.get_ref();
        if !known.contains(&switch.as_str()) {
            let head = format!(
                "VM `{vm_name}` has an adapter on switch `{switch}`, which its node \
                 `{node_name}` does not have"
            );
            let none = format!("add the switch to node `{node_name}`");
            let message = unknown(head, switch, &known, &none);
            let subject = Subject {
                node: Some(node_name.clone()),
                switch: Some(switch.clone()),
                vm: Some(vm_name.clone()),
                ..Subject::default()
            };
            sink.dangle(adapter.switch.span().start, message, subject);
        }
    }
}

/// MACs must be unique across the cluster: two vNICs with one MAC break L2
/// forwarding for both, wherever they run.
fn check_macs(sink: &Sink, vms: &[RawVm]) {
    let mut owner: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for vm in vms {
        for adapter in &vm.adapters {
            let pos = adapter.mac.span().start;
            match owner.entry(adapter.mac.get_ref()) {
                Entry::Vacant(slot) => {
                    slot.insert((vm.name.get_ref(), pos));
                }
                Entry::Occupied(slot) => {
                    let (first_vm, first) = *slot.get();
                    let message = format!(
                        "MAC `{}` is already used by VM `{first_vm}` (line {}); give every \
                         adapter its own MAC",
                        adapter.mac.get_ref(),
                        sink.line(first)
                    );
                    sink.report(pos, message);
                }
            }
        }
    }
}

/// The VMs a node starts with must fit in its memory; the first VM (in file
/// order) that does not is reported, once per node.
fn check_memory(sink: &Sink, nodes: &[RawNode], vms: &[RawVm]) {
    let mut used: BTreeMap<&str, u64> = BTreeMap::new();
    for vm in vms {
        let Some(node) = nodes.iter().find(|n| n.name == vm.node) else {
            continue;
        };
        let total = used.entry(node.name.get_ref()).or_default();
        let before = *total;
        *total = total.saturating_add(*vm.memory_mb.get_ref());
        if before <= node.memory_mb && *total > node.memory_mb {
            let message = format!(
                "VM `{}` does not fit on node `{}`: with it the node's VMs need {} MiB of its \
                 {} MiB; lower `memory_mb` or start the VM on another node",
                vm.name.get_ref(),
                node.name.get_ref(),
                *total,
                node.memory_mb
            );
            sink.report(vm.memory_mb.span().start, message);
        }
    }
}

fn check_step(sink: &Sink, step: &RawStep, raw: &RawScenario) {
    match &step.action {
        RawAction::Link { up, node, nic } => {
            let action = if *up { "link_up" } else { "link_down" };
            if let Some(node) = step_node(sink, &raw.nodes, node, action) {
                check_step_nic(sink, node, nic, action);
            }
        }
        RawAction::Node { up, node } => {
            let action = if *up { "node_up" } else { "node_down" };
            step_node(sink, &raw.nodes, node, action);
        }
        RawAction::SetProtected { vm, switch, .. } => check_step_vm(sink, &raw.vms, vm, switch),
    }
}

/// The node a step names, or `None` after reporting it unknown.
fn step_node<'r>(
    sink: &Sink,
    nodes: &'r [RawNode],
    name: &Spanned<String>,
    action: &str,
) -> Option<&'r RawNode> {
    let found = nodes.iter().find(|n| n.name == *name);
    if found.is_none() {
        let head = format!("unknown node `{}` in a `{action}` step", name.get_ref());
        let known = names(nodes.iter().map(|n| &n.name));
        let message = unknown(
            head,
            name.get_ref(),
            &known,
            "define it with a [[node]] table",
        );
        sink.report(name.span().start, message);
    }
    found
}

/// A link step may pull a plain NIC, a bond or one bond member.
fn check_step_nic(sink: &Sink, node: &RawNode, nic: &Spanned<String>, action: &str) {
    let ports = node
        .nics
        .iter()
        .flat_map(|n| std::iter::once(&n.name).chain(&n.members));
    let known = names(ports);
    if known.contains(&nic.get_ref().as_str()) {
        return;
    }
    let head = format!(
        "node `{}` has no NIC, bond or bond member `{}` for this `{action}` step",
        node.name.get_ref(),
        nic.get_ref()
    );
    let message = unknown(head, nic.get_ref(), &known, "add it to the node's `nics`");
    sink.report(nic.span().start, message);
}

fn check_step_vm(sink: &Sink, vms: &[RawVm], vm: &Spanned<String>, switch: &Spanned<String>) {
    let Some(found) = vms.iter().find(|v| v.name == *vm) else {
        let head = format!("unknown VM `{}` in a `set_protected` step", vm.get_ref());
        let known = names(vms.iter().map(|v| &v.name));
        let message = unknown(head, vm.get_ref(), &known, "define it with a [[vm]] table");
        sink.report(vm.span().start, message);
        return;
    };
    let mut known = names(found.adapters.iter().map(|a| &a.switch));
    known.dedup();
    if !known.contains(&switch.get_ref().as_str()) {
        let head = format!(
            "VM `{}` has no adapter on switch `{}` for this `set_protected` step",
            vm.get_ref(),
            switch.get_ref()
        );
        let message = unknown(head, switch.get_ref(), &known, "the VM has no adapters");
        sink.report(switch.span().start, message);
    }
}

fn names<'r>(spanned: impl IntoIterator<Item = &'r Spanned<String>>) -> Vec<&'r str> {
    spanned
        .into_iter()
        .map(|name| name.get_ref().as_str())
        .collect()
}

// ---------------------------------------------------------------------------
// Messages: valid names and the likeliest one.

/// `{head}; use one of: a, b (did you mean `b`?)`, or `{head}; {none}` when
/// there is nothing to choose from.
fn unknown(head: String, given: &str, known: &[&str], none: &str) -> String {
    if known.is_empty() {
        return format!("{head}; {none}");
    }
    format!("{head}; use one of: {}", listing(given, known))
}

/// The valid names (at most `MAX_LISTED`) and the one `given` most likely
/// misspells: `a, b, c (did you mean `b`?)`.
pub fn listing(given: &str, known: &[&str]) -> String {
    let mut list = known
        .iter()
        .take(MAX_LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if known.len() > MAX_LISTED {
        list.push_str(", ...");
    }
    match likely(given, known) {
        Some(name) => format!("{list} (did you mean `{name}`?)"),
        None => list,
    }
}

/// The known name `given` most likely misspells, if one is close enough to
/// help: equal but for case, a prefix either way (`poll` for `polling`), or
/// at most one edit per three letters (`name` for `nmae`) but fewer than
/// its letters. A tie gives no
/// suggestion: `eth9` is as close to `eth0` as to `eth1`, and a guess would
/// mislead.
pub fn likely<'k>(given: &str, known: &[&'k str]) -> Option<&'k str> {
    if given.is_empty() || given.chars().count() > MAX_SUGGESTED_LEN {
        return None;
    }
    let given = given.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for &name in known {
        let Some(distance) = closeness(&given, &name.to_lowercase()) else {
            continue;
        };
        match best {
            Some((least, _)) if distance > least => {}
            Some((least, first)) if distance == least => tied |= first != name,
            _ => (best, tied) = (Some((distance, name)), false),
        }
    }
    best.filter(|_| !tied).map(|(_, name)| name)
}

/// The edit distance from `given` to `candidate` when it is close enough to
/// suggest (see [`likely`]); both lower-case.
fn closeness(given: &str, candidate: &str) -> Option<usize> {
    let distance = edit_distance(given, candidate);
    let shorter = given.chars().count().min(candidate.chars().count());
    let prefix = shorter >= 3 && (given.starts_with(candidate) || candidate.starts_with(given));
    // Below the length too: any one-letter name is one edit from `B`.
    let length = candidate.chars().count();
    let near = distance <= (length / 3).max(1) && distance < length;
    (near || prefix).then_some(distance)
}

/// Optimal string alignment distance: inserting, deleting or replacing a
/// character, or swapping two neighbours (`nmae` -> `name`), costs one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // `d[i * width + j]`: the distance between the first `i` chars of `a`
    // and the first `j` of `b`. `get` keeps it panic-free.
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |d: &[usize], i: usize, j: usize| d.get(i * width + j).copied().unwrap_or(0);
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let cost = if i == 0 || j == 0 {
                i.max(j)
            } else {
                let replace = usize::from(a.get(i - 1) != b.get(j - 1));
                let mut best = (at(&d, i - 1, j) + 1)
                    .min(at(&d, i, j - 1) + 1)
                    .min(at(&d, i - 1, j - 1) + replace);
                let swapped =
                    i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1);
                if swapped {
                    best = best.min(at(&d, i - 2, j - 2) + 1);
                }
                best
            };
            if let Some(cell) = d.get_mut(i * width + j) {
                *cell = cost;
            }
        }
    }
    at(&d, a.len(), b.len())
}

// ---------------------------------------------------------------------------
// Checked raw structs to the model.

impl RawScenario {
    fn into_model(self, default_name: String) -> Scenario {
        let mut steps: Vec<Step> = self.steps.into_iter().map(Step::from).collect();
        // A stable sort: steps at the same time keep their file order.
        steps.sort_by_key(|step| step.at_ms);
        Scenario {
            name: self.name.unwrap_or(default_name),
            cluster: Cluster {
                settings: self.settings,
                networks: self.networks.into_iter().map(Network::from).collect(),
                nodes: self.nodes.into_iter().map(Node::from).collect(),
                vms: self.vms.into_iter().map(Vm::from).collect(),
            },
            steps,
        }
    }
}

impl From<RawNetwork> for Network {
    fn from(raw: RawNetwork) -> Self {
        Network {
            name: raw.name.into_inner(),
            control: raw.control,
            migration: raw.migration,
            authority: raw.authority,
        }
    }
}

impl From<RawNode> for Node {
    fn from(raw: RawNode) -> Self {
        Node {
            name: raw.name.into_inner(),
            memory_mb: raw.memory_mb,
            nics: raw.nics.into_iter().map(Nic::from).collect(),
            switches: raw.switches.into_iter().map(Switch::from).collect(),
        }
    }
}

impl From<RawNic> for Nic {
    fn from(raw: RawNic) -> Self {
        Nic {
            name: raw.name.into_inner(),
            network: raw.network.into_inner(),
            members: raw.members.into_iter().map(Spanned::into_inner).collect(),
        }
    }
}

impl From<RawSwitch> for Switch {
    fn from(raw: RawSwitch) -> Self {
        Switch {
            name: raw.name.into_inner(),
            uplink: raw.uplink.into_inner(),
            share_with_host: raw.share_with_host,
        }
    }
}

impl From<RawVm> for Vm {
    fn from(raw: RawVm) -> Self {
        Vm {
            name: raw.name.into_inner(),
            node: raw.node.into_inner(),
            memory_mb: raw.memory_mb.into_inner(),
            priority: raw.priority,
            migration_ms: raw.migration_ms,
            adapters: raw.adapters.into_iter().map(Adapter::from).collect(),
        }
    }
}

impl From<RawAdapter> for Adapter {
    fn from(raw: RawAdapter) -> Self {
        Adapter {
            switch: raw.switch.into_inner(),
            mac: raw.mac.into_inner(),
            protected: raw.protected,
        }
    }
}

impl From<RawStep> for Step {
    fn from(raw: RawStep) -> Self {
        let action = match raw.action {
            RawAction::Link { up, node, nic } => {
                let (node, nic) = (node.into_inner(), nic.into_inner());
                if up {
                    StepAction::LinkUp { node, nic }
                } else {
                    StepAction::LinkDown { node, nic }
                }
            }
            RawAction::SetProtected {
                vm,
                switch,
                protected,
            } => StepAction::SetProtected {
                vm: vm.into_inner(),
                switch: switch.into_inner(),
                protected,
            },
            RawAction::Node { up, node } => {
                let node = node.into_inner();
                if up {
                    StepAction::NodeUp { node }
                } else {
                    StepAction::NodeDown { node }
                }
            }
        };
        Step {
            at_ms: raw.at_ms,
            line: raw.line,
            action,
        }
    }
}
