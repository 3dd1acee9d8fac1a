//! Loading rule files: TOML with spans → typed [`Rule`]s, with every mistake of SPEC §4.1
//! reported as file, line, what is wrong and what to write instead.

use super::text::{placeholders, Text};
use super::*;
use crate::signal::Catalogue;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use toml::Spanned;

/// A mistake in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub line: usize,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: the mistake is the file itself (unreadable, not a file), not a line of it.
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)?;
        }
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// Reads the `.toml` files of a folder, sorted by name.
///
/// # Errors
/// When the folder cannot be read, or holds no `.toml` file.
pub fn read_dir(dir: &std::path::Path) -> Result<Vec<(String, String)>, LoadError> {
    let fail = |message: String| LoadError {
        file: dir.display().to_string(),
        line: 0,
        message,
        fix: "pass a folder of rule files (*.toml) to --rules".into(),
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fail(format!("cannot be read ({e})")))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail("holds no rule file".into()));
    }
    paths.iter().map(|p| read_rule_file(p)).collect()
}

/// The longest rule file read: rules are a few kilobytes; more is no rule file.
const MAX_RULE_BYTES: u64 = 1 << 20;

/// One rule file's text. A FIFO, socket or device named `*.toml` is never opened (it could
/// block forever), and a file too big to be a rule is refused before it is read.
fn read_rule_file(p: &std::path::Path) -> Result<(String, String), LoadError> {
    let fail = |message: String, fix: &str| LoadError {
        file: p.display().to_string(),
        line: 0,
        message,
        fix: fix.into(),
    };
    let meta = std::fs::metadata(p)
        .map_err(|e| fail(format!("cannot be read ({e})"), "rule files are UTF-8 text"))?;
    if !meta.is_file() {
        return Err(fail(
            "is not a regular file (a pipe, socket or device)".into(),
            "remove it from the rules folder, or rename it to something other than *.toml",
        ));
    }
    if meta.len() > MAX_RULE_BYTES {
        return Err(fail(
            format!(
                "is {} bytes, more than a rule file can be ({MAX_RULE_BYTES})",
                meta.len()
            ),
            "a rule file is a few kilobytes of TOML: check that this is the right file",
        ));
    }
    std::fs::read_to_string(p)
        .map(|text| (p.display().to_string(), text))
        .map_err(|e| fail(format!("cannot be read ({e})"), "rule files are UTF-8 text"))
}

/// Loads a rule set: `builtin` files, then `extra` ones (whose rules replace built-in rules of
/// the same id, and whose `signals.toml` replaces the built-in catalogue).
///
/// # Errors
/// The first mistake found, with file, line and fix.
pub fn load(
    builtin: &[(String, String)],
    extra: &[(String, String)],
) -> Result<RuleSet, LoadError> {
    let is_catalogue = |name: &str| name.ends_with("signals.toml");
    let (file, text) = extra
        .iter()
        .chain(builtin)
        .find(|(name, _)| is_catalogue(name))
        .ok_or_else(|| LoadError {
            file: "rules/signals.toml".into(),
            line: 0,
            message: "no signal catalogue".into(),
            fix: "keep signals.toml beside the rules".into(),
        })?;
    let catalogue = Catalogue::parse(file, text)?;
    let mut rules: Vec<Rule> = Vec::new();
    for (set, files) in [(0, builtin), (1, extra)] {
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        for (file, text) in files.iter().filter(|(name, _)| !is_catalogue(name)) {
            let rule = parse_rule(file, text, &catalogue)?;
            if let Some(first) = ids.insert(rule.id.clone(), file.clone()) {
                return Err(LoadError {
                    file: file.clone(),
                    line: text.find("id").map_or(1, |at| line_of(text, at)),
                    message: format!("rule id `{}` is also used by {first}", rule.id),
                    fix: "give each rule an id of its own".into(),
                });
            }
            if set == 1 {
                rules.retain(|r| r.id != rule.id);
            }
            rules.push(rule);
        }
    }
    // What the rules were loaded from, so a cached result can tell it was made by other rules.
    let mut hasher = std::hash::DefaultHasher::new();
    for (file, text) in builtin.iter().chain(extra) {
        std::hash::Hash::hash(&(file.rsplit(['/', '\\']).next(), text), &mut hasher);
    }
    Ok(RuleSet {
        catalogue,
        rules,
        fingerprint: std::hash::Hasher::finish(&hasher),
    })
}

// ---- the file format -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: Spanned<String>,
    severity: Spanned<String>,
    window: Spanned<String>,
    #[serde(default)]
    scope: Option<Spanned<String>>,
    #[serde(default)]
    host: Option<Spanned<String>>,
    #[serde(default)]
    vms: Vec<Spanned<String>>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    seeds: Vec<String>,
    config_check: Option<Spanned<String>>,
    /// The most the rule may claim: `medium` when a fact it rests on is unverified.
    confidence: Option<Spanned<String>>,
    step: Vec<StepFile>,
    #[serde(default)]
    absent: Vec<AbsentFile>,
    #[serde(default)]
    collect: Vec<Spanned<String>>,
    #[serde(default)]
    medium: Option<FormFile>,
    text: BTreeMap<String, TextFile>,
    #[serde(default)]
    fixture: Vec<FixtureFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormFile {
    step: Vec<StepFile>,
    #[serde(default)]
    absent: Vec<AbsentFile>,
    #[serde(default)]
    collect: Vec<Spanned<String>>,
}

/// A string or a list of strings, with the span of the whole value (spans cannot reach
/// inside an untagged enum).
type OneOrMany = Spanned<OneOrManyPlain>;

/// Each name of a one-or-many value, spanned by the value.
fn each(value: &OneOrMany) -> Vec<Spanned<String>> {
    let names = match value.get_ref() {
        OneOrManyPlain::One(s) => vec![s.clone()],
        OneOrManyPlain::Many(v) => v.clone(),
    };
    names
        .into_iter()
        .map(|n| Spanned::new(value.span(), n))
        .collect()
}

type Conditions = BTreeMap<String, Spanned<ConditionFile>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: Spanned<String>,
    signal: OneOrMany,
    #[serde(default, rename = "where")]
    conditions: Conditions,
    /// Groups of conditions, any one of which must hold as a whole.
    #[serde(default)]
    where_any: Vec<Conditions>,
    same_host: Option<Spanned<String>>,
    different_host: Option<Spanned<String>>,
    peer_of: Option<Spanned<String>>,
    source_is_host_of: Option<Spanned<String>>,
    same_vm: Option<Spanned<String>>,
    different_vm: Option<Spanned<String>>,
    after: Option<WindowFile>,
    before: Option<WindowFile>,
    around: Option<WindowFile>,
    #[serde(default)]
    optional: bool,
    every_host: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    step: Spanned<String>,
    within: Spanned<String>,
    at_least: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    case: Spanned<String>,
    #[serde(default = "yes")]
    matches: bool,
    host: Option<String>,
    #[serde(default)]
    vms: Vec<String>,
    confidence: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConditionFile {
    Equals(String),
    Table(ConditionTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionTable {
    one_of: Option<Vec<String>>,
    regex: Option<String>,
    code: Option<OneOrManyPlain>,
    not_code: Option<OneOrManyPlain>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrManyPlain {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentFile {
    signal: OneOrMany,
    #[serde(default, rename = "where")]
    conditions: Conditions,
    host: Spanned<String>,
    of: Spanned<String>,
    within: Spanned<String>,
    #[serde(default)]
    same_vm: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextFile {
    title: Spanned<String>,
    title_medium: Option<Spanned<String>>,
    cause: Spanned<String>,
    cause_medium: Option<Spanned<String>>,
    fix: Vec<Spanned<String>>,
    #[serde(default)]
    collect: BTreeMap<String, Spanned<String>>,
}

// ---- checking --------------------------------------------------------------------------

/// Turns spans into lines for one file.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    catalogue: &'a Catalogue,
}

impl Checker<'_> {
    fn err<T>(&self, at: &Spanned<T>, message: String, fix: impl Into<String>) -> LoadError {
        LoadError {
            file: self.file.to_string(),
            line: line_of(self.text, at.span().start),
            message,
            fix: fix.into(),
        }
    }

    fn duration(&self, text: &Spanned<String>) -> Result<i64, LoadError> {
        parse_duration(text.get_ref()).ok_or_else(|| {
            self.err(
                text,
                format!("bad duration {:?}", text.get_ref()),
                "write a number and a unit: 90s, 10m, 2h",
            )
        })
    }

    fn signal(&self, name: &Spanned<String>) -> Result<String, LoadError> {
        if self.catalogue.get(name.get_ref()).is_some() {
            return Ok(name.get_ref().clone());
        }
        let names: Vec<&str> = self
            .catalogue
            .signals
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        Err(self.err(
            name,
            format!("unknown signal `{}`", name.get_ref()),
            format!(
                "write one of the signals of signals.toml{}",
                suggest(name.get_ref(), &names)
            ),
        ))
    }

    fn step_ref(&self, name: &Spanned<String>, earlier: &[Step]) -> Result<usize, LoadError> {
        earlier
            .iter()
            .position(|s| s.name == *name.get_ref())
            .ok_or_else(|| {
                let names: Vec<&str> = earlier.iter().map(|s| s.name.as_str()).collect();
                self.err(
                    name,
                    format!("no earlier step named `{}`", name.get_ref()),
                    format!(
                        "a relation names a step written above it{}",
                        suggest(name.get_ref(), &names)
                    ),
                )
            })
    }

    fn form(
        &self,
        steps: Vec<StepFile>,
        absent: Vec<AbsentFile>,
        collect: Vec<Spanned<String>>,
    ) -> Result<Form, LoadError> {
        let mut built: Vec<Step> = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            let name = step.name.clone();
            let s = self.step(step, &built)?;
            if i == 0 && (s.optional || !s.time.is_empty() || s.host.is_some()) {
                return Err(self.err(
                    &name,
                    format!(
                        "the first step `{}` is optional or refers to another step",
                        s.name
                    ),
                    "the first step anchors the rule: make it required, without relations",
                ));
            }
            built.push(s);
        }
        let absent = absent
            .into_iter()
            .map(|a| self.absence(a, &built))
            .collect::<Result<_, _>>()?;
        Ok(Form {
            steps: built,
            absent,
            collect: collect.into_iter().map(Spanned::into_inner).collect(),
        })
    }

    fn step(&self, file: StepFile, earlier: &[Step]) -> Result<Step, LoadError> {
        if earlier.iter().any(|s| s.name == *file.name.get_ref()) {
            return Err(self.err(
                &file.name,
                format!("two steps are named `{}`", file.name.get_ref()),
                "give each step a name of its own",
            ));
        }
        let signals: Vec<String> = each(&file.signal)
            .iter()
            .map(|s| self.signal(s))
            .collect::<Result<_, _>>()?;
        let conditions = self.conditions(file.conditions, &signals, file.name.get_ref())?;
        let any_of = file
            .where_any
            .into_iter()
            .map(|group| self.conditions(group, &signals, file.name.get_ref()))
            .collect::<Result<_, _>>()?;
        let host = match (&file.same_host, &file.different_host, &file.peer_of) {
            (Some(_), Some(d), _) | (Some(_), None, Some(d)) | (None, Some(_), Some(d)) => {
                return Err(self.err(
                    d,
                    "more than one of same_host, different_host and peer_of".into(),
                    "keep one",
                ))
            }
            (Some(s), None, None) => Some(HostRelation::Same(self.step_ref(s, earlier)?)),
            (None, Some(d), None) => Some(HostRelation::Different(self.step_ref(d, earlier)?)),
            (None, None, Some(p)) => {
                let r = self.step_ref(p, earlier)?;
                let peers = |s: &String| {
                    self.catalogue
                        .get(s)
                        .is_some_and(|d| d.has_field("peer") || d.has_field("destination"))
                };
                if !earlier[r].signals.iter().all(peers) {
                    return Err(self.err(
                        p,
                        format!(
                            "peer_of reads the `peer` or `destination` field of step `{}`, which not every signal of it has",
                            p.get_ref()
                        ),
                        "name a step of migration signals",
                    ));
                }
                Some(HostRelation::PeerOf(r))
            }
            (None, None, None) => None,
        };
        let source_is_host_of = file
            .source_is_host_of
            .as_ref()
            .map(|s| {
                self.needs_field(&signals, "source", s)?;
                self.step_ref(s, earlier)
            })
            .transpose()?;
        let vm_relation = |relation: &Option<Spanned<String>>| {
            relation
                .as_ref()
                .map(|s| {
                    self.needs_field(&signals, "vm", s)?;
                    self.step_ref(s, earlier)
                })
                .transpose()
        };
        let same_vm = vm_relation(&file.same_vm)?;
        let different_vm = vm_relation(&file.different_vm)?;
        let mut time = Vec::new();
        for (kind, window) in [
            (TimeKind::After, file.after),
            (TimeKind::Before, file.before),
            (TimeKind::Around, file.around),
        ] {
            if let Some(w) = window {
                time.push(TimeRelation {
                    step: self.step_ref(&w.step, earlier)?,
                    kind,
                    within_ms: self.duration(&w.within)?,
                    at_least_ms: w.at_least.as_ref().map_or(Ok(0), |d| self.duration(d))?,
                });
            }
        }
        let every_host = match &file.every_host {
            Some(names) if earlier.is_empty() => {
                return Err(self.err(
                    names,
                    "every_host on the first step, which anchors the rule on one signal".into(),
                    "put every_host on a later step",
                ))
            }
            Some(names) => {
                if let Some(stray) = names.get_ref().iter().find(|n| !signals.contains(n)) {
                    return Err(self.err(
                        names,
                        format!(
                            "every_host names `{stray}`, which is no signal of step `{}`",
                            file.name.get_ref()
                        ),
                        format!("name signals of the step: {}", signals.join(", ")),
                    ));
                }
                names.get_ref().clone()
            }
            None => Vec::new(),
        };
        Ok(Step {
            name: file.name.into_inner(),
            signals,
            every_host,
            conditions,
            any_of,
            host,
            source_is_host_of,
            same_vm,
            different_vm,
            time,
            optional: file.optional,
        })
    }

    fn fixture(&self, file: FixtureFile) -> Result<RuleFixture, LoadError> {
        let dir = std::path::Path::new(self.file)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let case = lexical(&dir.join(file.case.get_ref()));
        if !file.matches {
            return Ok(RuleFixture { case, expect: None });
        }
        let confidence = match file.confidence.as_ref().map(|c| c.get_ref().as_str()) {
            None | Some("high") => Confidence::High,
            Some("medium") => Confidence::Medium,
            Some(other) => {
                return Err(self.err(
                    file.confidence.as_ref().expect("matched Some"),
                    format!("unknown confidence {other:?}"),
                    "write high or medium",
                ))
            }
        };
        Ok(RuleFixture {
            case,
            expect: Some(ExpectedFinding {
                host: file.host,
                vms: file.vms,
                confidence,
            }),
        })
    }

    fn needs_field(
        &self,
        signals: &[String],
        field: &str,
        at: &Spanned<String>,
    ) -> Result<(), LoadError> {
        if signals
            .iter()
            .all(|s| self.catalogue.get(s).is_some_and(|d| d.has_field(field)))
        {
            Ok(())
        } else {
            Err(self.err(
                at,
                format!("this relation reads the `{field}` field, which not every signal of the step has"),
                format!("list only signals with a `{field}` field"),
            ))
        }
    }

    /// Field conditions of a step (or an absence) over `signals`, each with the signals it
    /// applies to: those whose definition has the field.
    fn conditions(
        &self,
        file: Conditions,
        signals: &[String],
        step: &str,
    ) -> Result<Vec<FieldCondition>, LoadError> {
        let mut conditions = Vec::new();
        for (field, cond) in file {
            if !signals
                .iter()
                .any(|s| self.catalogue.get(s).is_some_and(|d| d.has_field(&field)))
            {
                let known: Vec<&str> = signals
                    .iter()
                    .filter_map(|s| self.catalogue.get(s))
                    .flat_map(|d| d.field_names())
                    .collect();
                return Err(self.err(
                    &cond,
                    format!("no signal of step `{step}` has a field `{field}`"),
                    format!("use one of: {}", dedup(&known).join(", ")),
                ));
            }
            let applies = signals
                .iter()
                .filter(|s| self.catalogue.get(s).is_some_and(|d| d.has_field(&field)))
                .cloned()
                .collect();
            conditions.push((field, self.condition(&cond)?, applies));
        }
        Ok(conditions)
    }

    fn condition(&self, cond: &Spanned<ConditionFile>) -> Result<Condition, LoadError> {
        let table = match cond.get_ref() {
            ConditionFile::Equals(v) => return Ok(Condition::Equals(v.clone())),
            ConditionFile::Table(t) => t,
        };
        let codes = |codes: &OneOrManyPlain| -> Result<Vec<String>, LoadError> {
            let codes = match codes {
                OneOrManyPlain::One(c) => std::slice::from_ref(c),
                OneOrManyPlain::Many(cs) => cs.as_slice(),
            };
            codes
                .iter()
                .map(|c| {
                    crate::timeline::normalize_code(c).ok_or_else(|| {
                        self.err(
                            cond,
                            format!("bad code {c:?}"),
                            "write an HRESULT or NTSTATUS such as 0x80090311",
                        )
                    })
                })
                .collect()
        };
        match (&table.one_of, &table.regex, &table.code, &table.not_code) {
            (Some(vs), None, None, None) => Ok(Condition::OneOf(vs.clone())),
            (None, Some(re), None, None) => Regex::new(re).map(Condition::Regex).map_err(|e| {
                self.err(
                    cond,
                    format!("bad regex {re:?}: {e}"),
                    "write a valid regular expression (Rust regex syntax)",
                )
            }),
            (None, None, Some(c), None) => codes(c).map(Condition::Code),
            (None, None, None, Some(c)) => codes(c).map(Condition::NotCode),
            _ => Err(self.err(
                cond,
                "a condition needs exactly one of one_of, regex, code, not_code".into(),
                "write e.g. { code = \"0x80090311\" } or a plain string for equality",
            )),
        }
    }

    fn absence(&self, file: AbsentFile, steps: &[Step]) -> Result<Absence, LoadError> {
        let signals: Vec<String> = each(&file.signal)
            .iter()
            .map(|s| self.signal(s))
            .collect::<Result<_, _>>()?;
        let conditions = self.conditions(file.conditions, &signals, "absent")?;
        let host = match file.host.get_ref().as_str() {
            "same" => AbsentHost::Same,
            "other" => AbsentHost::Other,
            "any" => AbsentHost::Any,
            other => {
                return Err(self.err(
                    &file.host,
                    format!("unknown host {other:?}"),
                    "write same, other or any",
                ))
            }
        };
        let within_ms = if file.within.get_ref() == "any" {
            None
        } else {
            Some(self.duration(&file.within)?)
        };
        let of = self.step_ref(&file.of, steps)?;
        if file.same_vm {
            self.needs_field(&steps[of].signals, "vm", &file.of)?;
        }
        Ok(Absence {
            signals,
            conditions,
            host,
            of,
            within_ms,
            same_vm: file.same_vm,
        })
    }

    fn text(&self, lang: &str, file: TextFile, rule: &RuleShape) -> Result<Text, LoadError> {
        let mut strings: Vec<&Spanned<String>> = vec![&file.title, &file.cause];
        strings.extend(file.cause_medium.iter());
        strings.extend(file.title_medium.iter());
        strings.extend(file.fix.iter());
        strings.extend(file.collect.values());
        for s in &strings {
            for name in placeholders(s.get_ref()) {
                if !rule.fills(self.catalogue, &name) {
                    return Err(self.err(
                        s,
                        format!("[text.{lang}]: nothing fills the placeholder {{{name}}}"),
                        "use host, hosts, vms, time, a field of a step's signal ({field} or {step.field}), or give a default: {name|text}",
                    ));
                }
            }
        }
        for key in rule.collect_keys.iter() {
            if !file.collect.contains_key(key.get_ref()) {
                return Err(self.err(
                    key,
                    format!("[text.{lang}.collect] has no text for `{}`", key.get_ref()),
                    format!(
                        "add {} = \"what to collect, from which log\" under [text.{lang}.collect]",
                        key.get_ref()
                    ),
                ));
            }
        }
        Ok(Text {
            title: file.title.into_inner(),
            title_medium: file.title_medium.map(Spanned::into_inner),
            cause: file.cause.into_inner(),
            cause_medium: file.cause_medium.map(Spanned::into_inner),
            fix: file.fix.into_iter().map(Spanned::into_inner).collect(),
            collect: file
                .collect
                .into_iter()
                .map(|(k, v)| (k, v.into_inner()))
                .collect(),
        })
    }
}

/// What placeholders and collect keys of a rule may name.
struct RuleShape {
    /// (step name, its signals) over every form.
    steps: Vec<(String, Vec<String>)>,
    collect_keys: Vec<Spanned<String>>,
}

impl RuleShape {
    fn fills(&self, catalogue: &Catalogue, placeholder: &str) -> bool {
        let (name, default) = match placeholder.split_once('|') {
            Some((name, _)) => (name, true),
            None => (placeholder, false),
        };
        if matches!(name, "host" | "hosts" | "vms" | "time" | "first" | "last") {
            return true;
        }
        if let Some((from, to)) = name.split_once("->") {
            let known = |step: &str| self.steps.iter().any(|(n, _)| n == step);
            return known(from) && known(to);
        }
        let has = |signals: &[String], field: &str| {
            signals
                .iter()
                .any(|s| catalogue.get(s).is_some_and(|d| d.has_field(field)))
        };
        let known = match name.split_once('.') {
            Some((step, field)) => self.steps.iter().any(|(n, signals)| {
                n == step && (matches!(field, "host" | "time") || has(signals, field))
            }),
            None => self.steps.iter().any(|(_, signals)| has(signals, name)),
        };
        known
            || (default
                && name
                    .split_once('.')
                    .is_none_or(|(step, _)| self.steps.iter().any(|(n, _)| n == step)))
    }
}

fn parse_rule(file: &str, text: &str, catalogue: &Catalogue) -> Result<Rule, LoadError> {
    let parsed: RuleFile = toml::from_str(text).map_err(|err| LoadError {
        file: file.to_string(),
        line: err.span().map_or(1, |s| line_of(text, s.start)),
        message: err.message().trim().to_string(),
        fix: "see docs/RULES.md for what a rule file holds".into(),
    })?;
    let c = Checker {
        file,
        text,
        catalogue,
    };
    let severity = Severity::parse(parsed.severity.get_ref()).ok_or_else(|| {
        c.err(
            &parsed.severity,
            format!("unknown severity {:?}", parsed.severity.get_ref()),
            "write critical, error, warning or info",
        )
    })?;
    let window_ms = c.duration(&parsed.window)?;
    let scope = match parsed.scope.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("host") => Scope::Host,
        Some("cluster") => Scope::Cluster,
        Some(other) => {
            return Err(c.err(
                parsed.scope.as_ref().expect("matched Some"),
                format!("unknown scope {other:?}"),
                "write host or cluster",
            ))
        }
    };
    let mut collect_keys = parsed.collect.clone();
    if let Some(m) = &parsed.medium {
        collect_keys.extend(m.collect.iter().cloned());
    }
    let high = c.form(parsed.step, parsed.absent, parsed.collect)?;
    let medium = parsed
        .medium
        .map(|m| c.form(m.step, m.absent, m.collect))
        .transpose()?;
    for form in std::iter::once(&high).chain(medium.as_ref()) {
        for step in form.steps.iter().filter(|s| s.optional) {
            // Point at the step's own line: that is where the optional evidence is declared.
            let at = text.find(&format!("name = \"{}\"", step.name)).unwrap_or(0);
            collect_keys.push(Spanned::new(at..at, step.name.clone()));
        }
    }
    let host_step = match &parsed.host {
        Some(h) => {
            c.step_ref(h, &high.steps)?;
            h.get_ref().clone()
        }
        None => high.steps[0].name.clone(),
    };
    let all_steps: Vec<&Step> = std::iter::once(&high)
        .chain(medium.as_ref())
        .flat_map(|f| f.steps.iter())
        .collect();
    for v in &parsed.vms {
        if !all_steps.iter().any(|s| s.name == *v.get_ref()) {
            return Err(c.err(
                v,
                format!("`vms` names no step `{}`", v.get_ref()),
                "list the steps whose VMs the finding names",
            ));
        }
    }
    let shape = RuleShape {
        steps: std::iter::once(&high)
            .chain(medium.as_ref())
            .flat_map(|f| f.steps.iter().map(|s| (s.name.clone(), s.signals.clone())))
            .collect(),
        collect_keys: dedup_spanned(collect_keys),
    };
    if !parsed.text.contains_key("en") {
        return Err(c.err(
            &parsed.id,
            "no [text.en]".into(),
            "every rule has English text: add [text.en] with title, cause, fix",
        ));
    }
    let mut texts = BTreeMap::new();
    for (lang, t) in parsed.text {
        texts.insert(lang.clone(), c.text(&lang, t, &shape)?);
    }
    let fixtures = parsed
        .fixture
        .into_iter()
        .map(|f| c.fixture(f))
        .collect::<Result<_, _>>()?;
    if let Some(check) = &parsed.config_check {
        if check.get_ref() != "shared-uplink-only-path" {
            return Err(c.err(
                check,
                format!("unknown config_check {:?}", check.get_ref()),
                "write config_check = \"shared-uplink-only-path\" (the only check there is)",
            ));
        }
    }
    let ceiling = match parsed
        .confidence
        .as_ref()
        .map(|v| (v, v.get_ref().as_str()))
    {
        None | Some((_, "high")) => Confidence::High,
        Some((_, "medium")) => Confidence::Medium,
        Some((v, other)) => {
            return Err(c.err(
                v,
                format!("unknown confidence {other:?}"),
                "write confidence = \"medium\" (the most the rule may claim) or leave it out",
            ))
        }
    };
    Ok(Rule {
        id: parsed.id.into_inner(),
        file: file.to_string(),
        severity,
        window_ms,
        scope,
        host_step,
        vm_steps: parsed.vms.into_iter().map(Spanned::into_inner).collect(),
        high,
        medium,
        references: parsed.references,
        seeds: parsed.seeds,
        config_check: parsed.config_check.map(Spanned::into_inner),
        ceiling,
        text: texts,
        fixtures,
    })
}

/// `90s`, `10m`, `2h`, `500ms` → milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

fn dedup<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    names.iter().copied().filter(|n| seen.insert(*n)).collect()
}

fn dedup_spanned(keys: Vec<Spanned<String>>) -> Vec<Spanned<String>> {
    let mut seen = HashSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.get_ref().clone()))
        .collect()
}

/// ", did you mean `x`?" when a known name is close to the one written.
fn suggest(written: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(written, k), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map_or_else(String::new, |(_, k)| format!(" (did you mean `{k}`?)"))
}

/// Levenshtein distance, for "did you mean".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `rules/../fixtures/x` → `fixtures/x`, without touching the file system (the case may not
/// exist yet; `rules test` says so).
fn lexical(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
