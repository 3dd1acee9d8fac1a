//! The signal catalogue (`rules/signals.toml`): which events become which signals, and how
//! their fields are read. A signal is a known event, normalized: a name, a time, a host and
//! typed fields (SPEC §3).

use crate::input::{self, RawEvent, Wanted};
use crate::rules::load::{line_of, LoadError};
use crate::rules::text::{fill, placeholders};
use crate::timeline::{all_codes, host_key, normalize_code, normalize_ntstatus_binary};
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A known event, normalized.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Position in the timeline, set once the timeline is sorted.
    pub id: usize,
    pub name: String,
    /// When the host logged it, by the host's clock.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The same moment on the case's reference clock (`time` corrected by the host's estimated
    /// clock offset): what the timeline is sorted by and the rules compare.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Host key: the first DNS label of `<Computer>`, upper case.
    pub host: String,
    pub fields: BTreeMap<String, String>,
    /// One line of text in hvtriage's own words.
    pub text: String,
    /// The same line in Japanese, when the catalogue has it.
    pub text_ja: Option<String>,
    /// The event it came from, with every data item.
    pub event: RawEvent,
}

/// The signal catalogue.
#[derive(Debug)]
pub struct Catalogue {
    pub signals: Vec<SignalDef>,
    /// The logs every host should have (coverage reports those a case lacks).
    pub logs: Vec<String>,
    /// The wanted event ids as a bitmap over 0..=65535 (EVTX ids are 16-bit): the test every
    /// record of a case goes through, so it must cost no hashing.
    ids: Vec<u64>,
    /// Event id → the providers that make it wanted, lower-case UTF-16LE.
    providers_utf16: HashMap<u32, Vec<Vec<u8>>>,
    /// (lower-case provider, event id) → the sources that read it.
    by_event: HashMap<(String, u32), Vec<(usize, usize)>>,
}

#[derive(Debug)]
pub struct SignalDef {
    pub name: String,
    pub label: String,
    /// When set, every node logs this signal about the same moment; these fields say which
    /// moment (the clock-skew estimate pairs them across hosts).
    pub shared: Vec<String>,
    /// The log (channel) that holds this signal's events, for "what to collect next".
    pub log: Option<String>,
    /// Which end of a live migration this signal is, for the clock-skew estimate: `start`
    /// (logged by the source, `destination` names the other end) or `end` (logged by the
    /// destination); both carry the VM id.
    pub clock_pair: Option<String>,
    text: String,
    text_ja: Option<String>,
    sources: Vec<Source>,
}

#[derive(Debug)]
struct Source {
    channels: Vec<String>,
    when: Vec<(FieldSpec, Regex)>,
    fields: Vec<(String, FieldSpec)>,
}

#[derive(Debug, Clone)]
struct FieldSpec {
    items: Vec<Item>,
    regexes: Vec<Regex>,
    map: Vec<(String, String)>,
    normalize: Normalize,
    value: Option<String>,
    /// The item read when neither the field's own items nor the other events of the same
    /// migration give a value (src/migration.rs).
    fallback: Option<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    Named(String),
    Position(usize),
    Last,
    Computer,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Normalize {
    #[default]
    Text,
    Code,
    /// Every code the text carries (a wrapper and its cause), space-separated, in order.
    Codes,
    /// Hexadecimal digits without `0x` (cluster.log's `status 8007054B`) as a code.
    HexCode,
    NtstatusBinary,
    Host,
    Vm,
}

// ---- the file format -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    /// The logs every host should have for the rules to see what they look for.
    #[serde(default)]
    logs: Vec<String>,
    signal: Vec<SignalFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalFile {
    name: String,
    label: String,
    text: String,
    text_ja: Option<String>,
    #[serde(default)]
    shared: Vec<String>,
    log: Option<String>,
    clock_pair: Option<String>,
    source: Vec<SourceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    provider: Vec<String>,
    event_id: Vec<u32>,
    #[serde(default)]
    channel: Vec<String>,
    #[serde(default)]
    when: Vec<WhenFile>,
    #[serde(default)]
    fields: BTreeMap<String, FieldFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenFile {
    item: Vec<String>,
    regex: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FieldFile {
    Item(String),
    Full(FieldTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldTable {
    #[serde(default)]
    item: Vec<String>,
    #[serde(default)]
    regex: Vec<String>,
    #[serde(default)]
    map: BTreeMap<String, String>,
    #[serde(default)]
    normalize: Normalize,
    value: Option<String>,
    fallback: Option<String>,
}

impl Catalogue {
    /// Loads the catalogue from the text of `signals.toml`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the file, the line and what to write instead.
    pub fn parse(file: &str, text: &str) -> Result<Catalogue, LoadError> {
        let parsed: CatalogueFile = toml::from_str(text).map_err(|err| LoadError {
            file: file.to_string(),
            line: err.span().map_or(0, |s| line_of(text, s.start)),
            message: err.message().to_string(),
            fix: "see docs/RULES.md for the format of signals.toml".into(),
        })?;
        let error = |name: &str, message: String, fix: &str| LoadError {
            file: file.to_string(),
            line: text
                .find(&format!("name = \"{name}\""))
                .map_or(0, |at| line_of(text, at)),
            message,
            fix: fix.to_string(),
        };
        let mut signals = Vec::new();
        let mut seen = HashSet::new();
        let mut ids = vec![0u64; 1024];
        let mut by_event: HashMap<(String, u32), Vec<(usize, usize)>> = HashMap::new();
        for def in parsed.signal {
            if !seen.insert(def.name.clone()) {
                return Err(error(
                    &def.name,
                    format!("signal `{}` is defined twice", def.name),
                    "give each signal a name of its own",
                ));
            }
            if let Some(ja) = &def.text_ja {
                let fields = |t: &str| -> HashSet<String> {
                    placeholders(t)
                        .into_iter()
                        .map(|p| p.split('|').next().unwrap_or_default().to_string())
                        .collect()
                };
                if !fields(ja).is_subset(&fields(&def.text)) {
                    return Err(error(
                        &def.name,
                        format!(
                            "signal `{}`: text_ja has {{placeholders}} that text lacks",
                            def.name
                        ),
                        "use in text_ja only the {field} placeholders of text",
                    ));
                }
            }
            let mut sources = Vec::new();
            for source in def.source {
                if let Some(id) = source.event_id.iter().find(|id| **id > 65535) {
                    return Err(error(
                        &def.name,
                        format!("signal `{}`: event id {id} is out of range", def.name),
                        "event ids are 0 to 65535",
                    ));
                }
                for provider in &source.provider {
                    for id in &source.event_id {
                        if let Some(word) = ids.get_mut(*id as usize / 64) {
                            *word |= 1 << (id % 64);
                        }
                        by_event
                            .entry((provider.to_lowercase(), *id))
                            .or_default()
                            .push((signals.len(), sources.len()));
                    }
                }
                sources.push(
                    Source::build(source)
                        .map_err(|m| error(&def.name, m, "write a valid regular expression"))?,
                );
            }
            if let Some(pair) = def
                .clock_pair
                .as_deref()
                .filter(|p| !["start", "end"].contains(p))
            {
                return Err(error(
                    &def.name,
                    format!("signal `{}`: clock_pair {pair:?} is neither start nor end", def.name),
                    "write clock_pair = \"start\" (the source's event) or \"end\" (the destination's)",
                ));
            }
            signals.push(SignalDef {
                name: def.name,
                label: def.label,
                shared: def.shared,
                log: def.log,
                clock_pair: def.clock_pair,
                text: def.text,
                text_ja: def.text_ja,
                sources,
            });
        }
        let mut providers_utf16: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
        for (provider, id) in by_event.keys() {
            let utf16 = provider.encode_utf16().flat_map(u16::to_le_bytes).collect();
            providers_utf16.entry(*id).or_default().push(utf16);
        }
        Ok(Catalogue {
            signals,
            logs: parsed.logs,
            ids,
            providers_utf16,
            by_event,
        })
    }

    /// The built-in catalogue, embedded in the binary.
    pub fn builtin() -> Catalogue {
        Catalogue::parse("rules/signals.toml", crate::rules::BUILTIN_SIGNALS)
            .expect("the embedded signals.toml is checked by the test suite")
    }

    pub fn get(&self, name: &str) -> Option<&SignalDef> {
        self.signals.iter().find(|s| s.name == name)
    }

    /// The signals one raw event becomes (usually none, at most a few).
    pub fn signals_of(&self, event: &RawEvent) -> Vec<Signal> {
        let key = (event.provider.to_lowercase(), event.event_id);
        let Some(sources) = self.by_event.get(&key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &(s, k) in sources {
            let def = &self.signals[s];
            let source = &def.sources[k];
            if let Some(fields) = source.read(event) {
                out.push(Signal {
                    id: 0,
                    name: def.name.clone(),
                    time: event.time,
                    at: event.time,
                    host: host_key(&event.computer),
                    text: render(&def.text, &fields),
                    text_ja: def.text_ja.as_deref().map(|t| render(t, &fields)),
                    fields,
                    event: event.clone(),
                });
            }
        }
        out
    }
}

impl Catalogue {
    /// Values of `signal`'s fields that only a fallback gives (`fallback = "@computer"`), for
    /// fields it still lacks once the migration's other events were asked.
    pub fn fallbacks(&self, signal: &Signal) -> Vec<(String, String)> {
        let Some(source) = self.source_of(signal) else {
            return Vec::new();
        };
        source
            .fields
            .iter()
            .filter(|(name, _)| !signal.fields.contains_key(name))
            .filter_map(|(name, spec)| {
                let raw = spec.fallback.as_ref()?.get(&signal.event)?;
                Some((name.clone(), spec.normalized(raw.to_string())?))
            })
            .collect()
    }

    /// Renders the signal's lines again from its fields (after they were completed).
    pub fn retext(&self, signal: &mut Signal) {
        if let Some(def) = self.get(&signal.name) {
            signal.text = render(&def.text, &signal.fields);
            signal.text_ja = def.text_ja.as_deref().map(|t| render(t, &signal.fields));
        }
    }

    fn source_of(&self, signal: &Signal) -> Option<&Source> {
        let key = (signal.event.provider.to_lowercase(), signal.event.event_id);
        self.by_event
            .get(&key)?
            .iter()
            .map(|&(s, k)| (&self.signals[s], k))
            .filter(|(def, _)| def.name == signal.name)
            .map(|(def, k)| &def.sources[k])
            .find(|source| source.applies(&signal.event))
    }
}

impl Wanted for Catalogue {
    fn id(&self, event_id: u32) -> bool {
        self.ids
            .get(event_id as usize / 64)
            .is_some_and(|word| word & (1 << (event_id % 64)) != 0)
    }
    fn event(&self, provider: &str, event_id: u32) -> bool {
        self.by_event
            .contains_key(&(provider.to_lowercase(), event_id))
    }
    fn keeps(&self, event: &RawEvent) -> bool {
        self.by_event
            .get(&(event.provider.to_lowercase(), event.event_id))
            .is_some_and(|sources| {
                sources
                    .iter()
                    .any(|&(s, k)| self.signals[s].sources[k].applies(event))
            })
    }
    fn providers(&self, event_id: u32) -> Option<&[Vec<u8>]> {
        Some(
            self.providers_utf16
                .get(&event_id)
                .map_or(&[], Vec::as_slice),
        )
    }
}

impl SignalDef {
    /// Every field name any of its sources can fill.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.sources
            .iter()
            .flat_map(|s| s.fields.iter().map(|(name, _)| name.as_str()))
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.field_names().any(|f| f == name)
    }
}

impl Source {
    fn build(file: SourceFile) -> Result<Source, String> {
        let when = file
            .when
            .into_iter()
            .map(|w| {
                let spec = FieldSpec::items(w.item);
                compile(&w.regex).map(|re| (spec, re))
            })
            .collect::<Result<_, _>>()?;
        let fields = file
            .fields
            .into_iter()
            .map(|(name, f)| FieldSpec::build(f).map(|spec| (name, spec)))
            .collect::<Result<_, _>>()?;
        Ok(Source {
            channels: file.channel,
            when,
            fields,
        })
    }

    /// Whether the source reads this event: its channel and `when` conditions.
    fn applies(&self, event: &RawEvent) -> bool {
        let channel_ok = self.channels.is_empty()
            || self
                .channels
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&event.channel));
        channel_ok
            && self
                .when
                .iter()
                .all(|(spec, re)| spec.raw(event).is_some_and(|v| re.is_match(v)))
    }

    /// The fields of a matching event, or `None` when this source does not apply to it.
    fn read(&self, event: &RawEvent) -> Option<BTreeMap<String, String>> {
        if !self.applies(event) {
            return None;
        }
        Some(
            self.fields
                .iter()
                .filter_map(|(name, spec)| spec.read(event).map(|v| (name.clone(), v)))
                .collect(),
        )
    }
}

impl FieldSpec {
    fn items(items: Vec<String>) -> FieldSpec {
        FieldSpec {
            items: items.iter().map(|i| Item::parse(i)).collect(),
            regexes: Vec::new(),
            map: Vec::new(),
            normalize: Normalize::Text,
            value: None,
            fallback: None,
        }
    }

    fn build(file: FieldFile) -> Result<FieldSpec, String> {
        let table = match file {
            FieldFile::Item(item) => return Ok(FieldSpec::items(vec![item])),
            FieldFile::Full(table) => table,
        };
        let mut spec = FieldSpec::items(table.item);
        spec.regexes = table
            .regex
            .iter()
            .map(|r| compile(r))
            .collect::<Result<_, _>>()?;
        spec.map = table.map.into_iter().collect();
        spec.normalize = table.normalize;
        spec.value = table.value;
        spec.fallback = table.fallback.as_deref().map(Item::parse);
        Ok(spec)
    }

    /// The first data item present, as written.
    fn raw<'e>(&self, event: &'e RawEvent) -> Option<&'e str> {
        self.items.iter().find_map(|item| item.get(event))
    }

    /// The value of the first present item that gives one: an item whose text no regex
    /// matches passes the turn to the next (a GUID read from the message, else from its own
    /// data item).
    fn read(&self, event: &RawEvent) -> Option<String> {
        if let Some(value) = &self.value {
            return Some(value.clone());
        }
        self.items
            .iter()
            .filter_map(|item| item.get(event))
            .find_map(|raw| self.read_from(raw))
    }

    fn read_from(&self, raw: &str) -> Option<String> {
        let picked = if self.regexes.is_empty() {
            raw.to_string()
        } else {
            self.regexes.iter().find_map(|re| {
                let caps = re.captures(raw)?;
                caps.get(1)
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str().to_string())
            })?
        };
        let mapped = self
            .map
            .iter()
            .find(|(from, _)| *from == picked)
            .map_or(picked, |(_, to)| to.clone());
        self.normalized(mapped)
    }

    fn normalized(&self, mapped: String) -> Option<String> {
        let value = match self.normalize {
            Normalize::Text => mapped.trim().to_string(),
            Normalize::Code => normalize_code(&mapped)?,
            Normalize::Codes => all_codes(&mapped).join(" "),
            Normalize::HexCode => hex_code(&mapped)?,
            Normalize::NtstatusBinary => normalize_ntstatus_binary(&mapped)?,
            Normalize::Host => host_key(&mapped),
            Normalize::Vm => vm_name(&mapped),
        };
        (!value.is_empty()).then_some(value)
    }
}

impl Item {
    fn parse(text: &str) -> Item {
        match text {
            "#last" => Item::Last,
            "@computer" => Item::Computer,
            _ => match text.strip_prefix('#').and_then(|n| n.parse().ok()) {
                Some(n) => Item::Position(n),
                None => Item::Named(text.to_string()),
            },
        }
    }

    fn get<'e>(&self, event: &'e RawEvent) -> Option<&'e str> {
        match self {
            Item::Named(name) => event
                .data
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str()),
            Item::Position(n) => event.data.get(*n).map(|(_, v)| v.as_str()),
            Item::Last => event.data.last().map(|(_, v)| v.as_str()),
            Item::Computer => Some(event.computer.as_str()),
        }
    }
}

/// `8007054B` or `0x8007054B` → `0x8007054B`; anything else is no code.
fn hex_code(text: &str) -> Option<String> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    u32::from_str_radix(digits, 16)
        .ok()
        .map(|n| format!("0x{n:08X}"))
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|err| format!("bad regex {pattern:?}: {err}"))
}

/// A VM's name without the cluster's "Virtual Machine " prefix (localized on Japanese hosts).
fn vm_name(text: &str) -> String {
    let text = text.trim();
    ["Virtual Machine ", "仮想マシン "]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// Fills `{field}` placeholders; a field the event did not give shows as `?`.
pub fn render(template: &str, fields: &BTreeMap<String, String>) -> String {
    fill(template, |name| fields.get(name).cloned())
}

impl Signal {
    /// The signal's line in the report's language (`en` when the catalogue lacks that one).
    pub fn text_in(&self, lang: &str) -> &str {
        match (lang, &self.text_ja) {
            ("ja", Some(ja)) => ja,
            _ => &self.text,
        }
    }

    /// Any record as a timeline entry (`timeline --all`): named by its provider and id.
    pub fn raw(event: RawEvent) -> Signal {
        let mut text = String::new();
        let values = event.data.iter().map(|(_, v)| v.as_str());
        raw_text(&event.provider, event.event_id, values, &mut text);
        Signal {
            id: 0,
            name: RAW.into(),
            time: event.time,
            at: event.time,
            host: host_key(&event.computer),
            fields: BTreeMap::new(),
            text,
            text_ja: None,
            event,
        }
    }
}

/// The name of a signal made of any event (`timeline --all`).
pub const RAW: &str = "event";

/// The text of a signal made of any event: `Provider Id: ` and its first four data values.
pub fn raw_text<'a>(
    provider: &str,
    event_id: u32,
    values: impl Iterator<Item = &'a str>,
    out: &mut String,
) {
    use std::fmt::Write as _;
    let _ = write!(out, "{provider} {event_id}: ");
    for (i, value) in values.take(input::FIRST_VALUES).enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(value);
    }
}
