//! Changing the `protected` flag of adapters in a scenario or inventory
//! file's text, keeping every comment, order and formatting [S0.11].
//!
//! Text in, text out: no files, no clock. The command line reads and writes
//! the file; a live-cluster backend can run the same edit on the inventory
//! it holds.
//!
//! ```text
//! text ---- parse_scenario ----> Scenario ---- select ----> adapters to change
//!   |                                                            |
//!   '---- toml_edit ----> byte ranges of their `protected` <-----'
//!                                      |
//!   text with those ranges spliced <---'
//!                |
//!   edited text <---- parse_scenario, compare with the expected model
//! ```
//!
//! toml_edit only locates: the edited text is the original with a few byte
//! ranges replaced (a `protected` value) or inserted (`, protected = false`
//! at the end of an inline table, or a `protected = false` line at the end
//! of a `[[vm.adapters]]` table), so every other byte, line endings
//! included, stays as it was. The edited text is parsed again and compared
//! with the expected model before it is returned, so a caller never gets
//! text that means something else.

use crate::model::{Adapter, Scenario, Vm};
use crate::parse::{listing, parse_scenario, InputError};
use std::fmt;
use std::ops::Range;
use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

/// One adapter that [`set_protected`] was asked to change, changed or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterChange {
    pub vm: String,
    pub switch: String,
    /// Twelve upper-case hex digits, as the model stores it.
    pub mac: String,
    /// `protected` (`ClusterMonitored`) before the edit.
    pub before: bool,
    /// `protected` after the edit.
    pub after: bool,
}

impl AdapterChange {
    /// Whether the edit changed this adapter's flag.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Why adapters could not be selected or changed. A failed edit returns no
/// text: the caller has nothing to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    /// The text is not a valid scenario to begin with.
    Invalid(InputError),
    /// No VM of that name; `known` lists the VMs with the likeliest match
    /// (see [`listing`]), empty when the file has none.
    UnknownVm {
        file: String,
        vm: String,
        known: String,
    },
    /// No adapter at all: VM `vm` has none, or when `vm` is `None` no VM
    /// of the file has any, so no switch filter can match.
    NoAdapters { file: String, vm: Option<String> },
    /// No adapter on that switch, of `vm` when given, else of any VM;
    /// `known` lists the switches that do have adapters with the likeliest
    /// match.
    UnknownSwitch {
        file: String,
        vm: Option<String>,
        switch: String,
        known: String,
    },
    /// The edit would have produced text that does not mean the expected
    /// scenario: a bug in haven, reported rather than written.
    Internal(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Invalid(error) => write!(f, "{error}"),
            EditError::UnknownVm { file, vm, known } if known.is_empty() => {
                write!(f, "no VM `{vm}` in {file}; the file has no VMs")
            }
            EditError::UnknownVm { file, vm, known } => {
                write!(f, "no VM `{vm}` in {file}; VMs: {known}")
            }
            EditError::NoAdapters { file, vm: Some(vm) } => {
                write!(f, "VM `{vm}` in {file} has no adapters")
            }
            EditError::NoAdapters { file, vm: None } => {
                write!(f, "no VM in {file} has adapters")
            }
            EditError::UnknownSwitch {
                file,
                vm: Some(vm),
                switch,
                known,
            } => write!(
                f,
                "VM `{vm}` in {file} has no adapter on switch `{switch}`; its switches: {known}"
            ),
            EditError::UnknownSwitch {
                file,
                vm: None,
                switch,
                known,
            } => write!(
                f,
                "no adapter on switch `{switch}` in {file}; switches with adapters: {known}"
            ),
            EditError::Internal(why) => write!(
                f,
                "internal error: {why}; nothing was changed, please report this bug"
            ),
        }
    }
}

impl std::error::Error for EditError {}

/// The adapters that `vm` and `switch` select, VMs in file order, adapters
/// in file order: all of them when both are `None`. `file` only names the
/// file in messages.
///
/// # Errors
///
/// A filter that matches nothing: [`EditError::UnknownVm`] when no VM has
/// that name, [`EditError::UnknownSwitch`] when no adapter (of that VM)
/// is on that switch (both list the valid names and the likeliest match),
/// [`EditError::NoAdapters`] when there is no adapter to filter.
///
/// # Example
///
/// ```
/// use haven_core::edit::select;
/// use haven_core::parse::parse_scenario;
///
/// let text = "[[node]]\nname = \"A\"\nmemory_mb = 8192\n\
///             switches = [ { name = \"Corp\", uplink = \"eth1\" } ]\n\
///             nics = [ { name = \"eth1\", network = \"Corp\" } ]\n\
///             [[network]]\nname = \"Corp\"\n\
///             [[vm]]\nname = \"VM1\"\nnode = \"A\"\nmemory_mb = 1024\n\
///             adapters = [ { switch = \"Corp\", mac = \"00155D867239\" } ]\n";
/// let scenario = parse_scenario("one.toml", text).unwrap();
/// let all = select(&scenario, "one.toml", None, None).unwrap();
/// assert_eq!(all[0].1.mac, "00155D867239");
/// let error = select(&scenario, "one.toml", Some("VM2"), None).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "no VM `VM2` in one.toml; VMs: VM1 (did you mean `VM1`?)"
/// );
/// ```
pub fn select<'s>(
    scenario: &'s Scenario,
    file: &str,
    vm: Option<&str>,
    switch: Option<&str>,
) -> Result<Vec<(&'s Vm, &'s Adapter)>, EditError> {
    let vms = &scenario.cluster.vms;
    let vms: Vec<&Vm> = match vm {
        None => vms.iter().collect(),
        Some(name) => match vms.iter().find(|v| v.name == name) {
            Some(found) => vec![found],
            None => {
                let known: Vec<&str> = vms.iter().map(|v| v.name.as_str()).collect();
                return Err(EditError::UnknownVm {
                    file: file.to_owned(),
                    vm: name.to_owned(),
                    known: if known.is_empty() {
                        String::new()
                    } else {
                        listing(name, &known)
                    },
                });
            }
        },
    };
    let all = vms
        .iter()
        .flat_map(|&v| v.adapters.iter().map(move |a| (v, a)));
    let selected: Vec<_> = all
        .clone()
        .filter(|(_, a)| on_switch(switch, &a.switch))
        .collect();
    if !selected.is_empty() || (vm.is_none() && switch.is_none()) {
        return Ok(selected);
    }
    let mut known: Vec<&str> = Vec::new();
    for (_, adapter) in all {
        if !known.contains(&adapter.switch.as_str()) {
            known.push(&adapter.switch);
        }
    }
    let (file, vm) = (file.to_owned(), vm.map(str::to_owned));
    match switch {
        // `--vm` alone matches nothing only when the VM has no adapters.
        Some(switch) if !known.is_empty() => Err(EditError::UnknownSwitch {
            file,
            vm,
            known: listing(switch, &known),
            switch: switch.to_owned(),
        }),
        _ => Err(EditError::NoAdapters { file, vm }),
    }
}

/// Whether an adapter on switch `name` passes the filter `switch` (`None`
/// lets all pass).
fn on_switch(switch: Option<&str>, name: &str) -> bool {
    // Not `is_none_or`: the workspace supports Rust 1.80.
    match switch {
        Some(s) => s == name,
        None => true,
    }
}

/// Sets `protected` of every adapter of VM `vm` (only those on `switch` when
/// given) in the scenario `text`, and returns the edited text with one
/// [`AdapterChange`] per selected adapter, in file order. `file` only names
/// the file in messages.
///
/// Only the `protected` values that change are touched; where an adapter has
/// no `protected` key (it defaults to true [S0.3]) the key is added at the
/// end of its table. Adapters may be inline tables in `adapters = [ ... ]`
/// or `[[vm.adapters]]` tables. When nothing changes the text is returned
/// as it was, byte for byte.
///
/// # Errors
///
/// [`EditError::Invalid`] when `text` is not a valid scenario; the errors of
/// [`select`] when `vm` or `switch` matches nothing; [`EditError::Internal`]
/// if the edited text would not parse back to the expected scenario.
///
/// # Example
///
/// ```
/// use haven_core::edit::set_protected;
///
/// let text = "[[node]]\nname = \"A\"\nmemory_mb = 8192\n\
///             switches = [ { name = \"Corp\", uplink = \"eth1\" } ]\n\
///             nics = [ { name = \"eth1\", network = \"Corp\" } ]\n\
///             [[network]]\nname = \"Corp\"\n\
///             [[vm]]\nname = \"VM1\"\nnode = \"A\"\nmemory_mb = 1024\n\
///             adapters = [ { switch = \"Corp\", mac = \"00155D867239\" } ] # one\n";
/// let (edited, changes) = set_protected("one.toml", text, "VM1", Some("Corp"), false).unwrap();
/// assert_eq!(
///     edited,
///     text.replace("\"00155D867239\" }", "\"00155D867239\", protected = false }")
/// );
/// assert!(changes[0].before && !changes[0].after);
/// ```
pub fn set_protected(
    file: &str,
    text: &str,
    vm: &str,
    switch: Option<&str>,
    protected: bool,
) -> Result<(String, Vec<AdapterChange>), EditError> {
    let scenario = parse_scenario(file, text).map_err(EditError::Invalid)?;
    let changes: Vec<AdapterChange> = select(&scenario, file, Some(vm), switch)?
        .into_iter()
        .map(|(v, a)| AdapterChange {
            vm: v.name.clone(),
            switch: a.switch.clone(),
            mac: a.mac.clone(),
            before: a.protected,
            after: protected,
        })
        .collect();
    if !changes.iter().any(AdapterChange::changed) {
        return Ok((text.to_owned(), changes));
    }
    let edited = edit_document(text, &scenario, vm, switch, protected)?;
    check_edit(file, &edited, scenario, vm, switch, protected)?;
    Ok((edited, changes))
}

/// The toml_edit part of [`set_protected`]: the text with the flags set.
///
/// toml_edit only *locates* the values (its spans are byte ranges of
/// `text`); the result is `text` with those few ranges replaced or text
/// inserted, so no other byte can change, not even line endings (toml_edit
/// writes `\n` where a file had `\r\n` when it prints a document).
fn edit_document(
    text: &str,
    scenario: &Scenario,
    vm: &str,
    switch: Option<&str>,
    protected: bool,
) -> Result<String, EditError> {
    let internal = |why: &str| EditError::Internal(why.to_owned());
    let model = scenario
        .cluster
        .vm(vm)
        .ok_or_else(|| internal("the selected VM vanished"))?;
    let document = ImDocument::parse(text)
        .map_err(|_| internal("toml_edit refuses a file that the parser accepted"))?;
    let table = vm_table(document.as_table(), vm)
        .ok_or_else(|| internal("the VM's table was not found in the file"))?;
    let adapters = adapter_tables(table)
        .filter(|tables| tables.len() == model.adapters.len())
        .ok_or_else(|| internal("the VM's adapters were not found in the file"))?;
    let mut splices = Vec::new();
    for (table, adapter) in adapters.into_iter().zip(&model.adapters) {
        if on_switch(switch, &adapter.switch) && adapter.protected != protected {
            let splice = table
                .set_protected(text, protected)
                .ok_or_else(|| internal("an adapter's position in the file is unknown"))?;
            splices.push(splice);
        }
    }
    // From the end, so that each range still means the original bytes.
    splices.sort_by_key(|splice| std::cmp::Reverse(splice.range.start));
    let mut edited = text.to_owned();
    for splice in splices {
        if !edited.is_char_boundary(splice.range.start)
            || !edited.is_char_boundary(splice.range.end)
        {
            return Err(internal("toml_edit gave a position inside a character"));
        }
        edited.replace_range(splice.range, &splice.text);
    }
    Ok(edited)
}

/// Replace the bytes `range` of the original text by `text` (an insertion
/// when the range is empty).
struct Splice {
    range: Range<usize>,
    text: String,
}

/// Parses the edited text and compares it with the scenario as it should
/// now be: the edit changed exactly the selected flags and nothing else.
fn check_edit(
    file: &str,
    edited: &str,
    mut expected: Scenario,
    vm: &str,
    switch: Option<&str>,
    protected: bool,
) -> Result<(), EditError> {
    for v in expected.cluster.vms.iter_mut().filter(|v| v.name == vm) {
        for a in &mut v.adapters {
            if on_switch(switch, &a.switch) {
                a.protected = protected;
            }
        }
    }
    // A key added as a line of its own moves the steps below it: their
    // lines (kept for messages) may differ, nothing else may.
    let lineless = |scenario: &mut Scenario| {
        scenario.steps.iter_mut().for_each(|step| step.line = 0);
    };
    lineless(&mut expected);
    match parse_scenario(file, edited).map(|mut parsed| {
        lineless(&mut parsed);
        parsed
    }) {
        Ok(parsed) if parsed == expected => Ok(()),
        Ok(_) => Err(EditError::Internal(
            "the edited file would describe another scenario".to_owned(),
        )),
        Err(error) => Err(EditError::Internal(format!(
            "the edited file would not be valid ({error})"
        ))),
    }
}

/// The table of VM `name`: a `[[vm]]` table, or an inline table of a
/// `vm = [ ... ]` array.
fn vm_table<'d>(root: &'d Table, name: &str) -> Option<TableRef<'d>> {
    let named = |value: Option<&Value>| value.and_then(Value::as_str) == Some(name);
    match root.get("vm")? {
        Item::ArrayOfTables(tables) => tables
            .iter()
            .find(|t| named(t.get("name").and_then(Item::as_value)))
            .map(TableRef::Table),
        Item::Value(Value::Array(array)) => array
            .iter()
            .filter_map(Value::as_inline_table)
            .find(|t| named(t.get("name")))
            .map(TableRef::Inline),
        _ => None,
    }
}

/// The adapter tables of a VM table in file order, or `None` when its
/// `adapters` has a shape the parser would not have accepted. A VM without
/// `adapters` has none.
fn adapter_tables(vm: TableRef<'_>) -> Option<Vec<TableRef<'_>>> {
    let adapters = match vm {
        TableRef::Table(table) => match table.get("adapters") {
            None => return Some(Vec::new()),
            Some(Item::ArrayOfTables(tables)) => {
                return Some(tables.iter().map(TableRef::Table).collect())
            }
            Some(item) => item.as_value()?,
        },
        TableRef::Inline(table) => match table.get("adapters") {
            None => return Some(Vec::new()),
            Some(value) => value,
        },
    };
    adapters
        .as_array()?
        .iter()
        .map(|value| value.as_inline_table().map(TableRef::Inline))
        .collect()
}

/// A table of the document, standard (`[[vm]]`, `[[vm.adapters]]`) or
/// inline (`{ switch = "Corp", ... }`): a key is added to them differently.
#[derive(Clone, Copy)]
enum TableRef<'d> {
    Table(&'d Table),
    Inline(&'d InlineTable),
}

impl TableRef<'_> {
    /// The splice that sets `protected`: its value replaced in place
    /// (whitespace and comment around it stay), or the key added after the
    /// table's last value. `None` when toml_edit gave no position.
    fn set_protected(self, text: &str, protected: bool) -> Option<Splice> {
        let existing = match self {
            TableRef::Table(table) => table.get("protected").and_then(Item::as_value),
            TableRef::Inline(table) => table.get("protected"),
        };
        if let Some(value) = existing {
            return Some(Splice {
                range: value.span()?,
                text: protected.to_string(),
            });
        }
        match self {
            TableRef::Table(table) => {
                let values = table.iter().filter_map(|(_, item)| item.as_value());
                Some(append_line(text, last_value(values)?, protected))
            }
            TableRef::Inline(table) => {
                let end = last_value(table.iter().map(|(_, value)| value))?.end;
                // `{ switch = "Corp", mac = "00155D867239" }` reads
                // `{ switch = "Corp", mac = "00155D867239", protected = false }`.
                Some(Splice {
                    range: end..end,
                    text: format!(", protected = {protected}"),
                })
            }
        }
    }
}

/// The span of the value that ends last in the file.
fn last_value<'d>(values: impl Iterator<Item = &'d Value>) -> Option<Range<usize>> {
    let spans: Option<Vec<Range<usize>>> = values.map(Value::span).collect();
    spans?.into_iter().max_by_key(|span| span.end)
}

/// Adds `protected = BOOL` as a line of its own after the line where the
/// table's last value ends, indented like that line and with its line
/// ending (`\n` or `\r\n`).
fn append_line(text: &str, last: Range<usize>, protected: bool) -> Splice {
    let line_start = text
        .get(..last.start)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |newline| newline + 1);
    let indent: String = text
        .get(line_start..)
        .unwrap_or_default()
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let line = format!("{indent}protected = {protected}");
    let after = text.get(last.end..).unwrap_or_default();
    match after.find('\n') {
        Some(newline) => {
            let crlf = after.get(..newline).is_some_and(|l| l.ends_with('\r'));
            let end = if crlf { "\r\n" } else { "\n" };
            let at = last.end + newline + 1;
            Splice {
                range: at..at,
                text: format!("{line}{end}"),
            }
        }
        // The last line has no line ending: the new line gets none either.
        None => Splice {
            range: text.len()..text.len(),
            text: format!("\n{line}"),
        },
    }
}

/// The source system's settings ([`crate::model::Settings::classic`])
/// written into a scenario file's `[settings]` table, everything else kept:
/// for running a file "as the source system would" on a real cluster.
///
/// # Errors
/// The text is not a valid scenario.
pub fn with_classic_settings(file: &str, text: &str) -> Result<String, EditError> {
    parse_scenario(file, text).map_err(EditError::Invalid)?;
    let internal = |why: &str| EditError::Internal(why.to_owned());
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|_| internal("toml_edit refuses a file that the parser accepted"))?;
    let settings = doc
        .entry("settings")
        .or_insert_with(|| Item::Table(Table::new()));
    let Some(table) = settings.as_table_mut() else {
        return Err(internal("`settings` is not a table"));
    };
    table.insert("detection", toml_edit::value("poll"));
    table.insert("poll_interval_s", toml_edit::value(60));
    table.insert("hold_down_ms", toml_edit::value(0));
    table.insert("migration_auth", toml_edit::value("authority"));
    Ok(doc.to_string())
}
