//! Event XML → [`EventRecord`]: the template Windows would use for the event and its values.
//!
//! The `<System>` template follows what Windows writes for events whose provider, channel and
//! computer are literal text in the template (verified on real System.evtx samples; all
//! System substitutions are conditional):
//!
//! | index | value | type |
//! |---|---|---|
//! | 0 | Level | UInt8 |
//! | 1 | Opcode | UInt8 |
//! | 2 | Task | UInt16 |
//! | 3 | EventID | UInt16 |
//! | 4 | EventID/@Qualifiers | UInt16 (NullType when absent) |
//! | 5 | Keywords | HexInt64 |
//! | 6 | TimeCreated/@SystemTime | FileTime |
//! | 7 | Correlation/@ActivityID | Guid (optional) |
//! | 8 | Execution/@ProcessID | UInt32 (optional) |
//! | 9 | Execution/@ThreadID | UInt32 (optional) |
//! | 10 | EventRecordID | UInt64 |
//! | 11 | Version | UInt8 |
//! | 12 | Security/@UserID | Sid (optional) |
//! | 13–17 | unused by this shape | NullType |
//! | 18 | Correlation/@RelatedActivityID | Guid (optional) |
//! | 19 | EventData / UserData content | BinXml (0x21) |
//!
//! Elements absent from the source are absent from the template (Windows' classic-provider
//! templates also lack Version/Opcode/Correlation/Execution), so absent stays absent.

use roxmltree::Node as XNode;

use super::model::{Attribute, Element, EventRecord, Instance, Node, Sub};
use super::values::{self, ty, Value};
use super::WriteError;

/// Number of substitutions in Windows' System template of this shape.
const SYSTEM_VALUE_COUNT: usize = 20;
/// Substitution index of the EventData/UserData BinXml value.
const EVENT_DATA_INDEX: u16 = 19;

/// The source text and line lookup shared by all conversions of one document.
pub(crate) struct Source<'a, 'input> {
    pub(crate) doc: &'a roxmltree::Document<'input>,
}

impl<'input> Source<'_, 'input> {
    pub(crate) fn line(&self, node: XNode) -> u32 {
        self.doc.text_pos_at(node.range().start).row
    }

    fn text(&self) -> &'input str {
        self.doc.input_text()
    }

    /// The element's qualified name as written (roxmltree only exposes local name + URI).
    fn qname(&self, node: XNode) -> String {
        let start = node.range().start.saturating_add(1);
        let rest = self.text().get(start..).unwrap_or("");
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        rest.get(..end)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| node.tag_name().name().to_owned())
    }

    /// Attribute names of the start tag in source order, namespace declarations included
    /// (roxmltree keeps those apart and unordered, but they must round-trip as attributes).
    fn raw_attribute_names(&self, node: XNode) -> Vec<&'input str> {
        let text = self.text();
        let start = node.range().start;
        let tag = text.get(start..).unwrap_or("");
        let mut names = Vec::new();
        let mut chars = tag.char_indices().skip_while(|&(_, c)| c == '<');
        // Skip the element name.
        let mut pos = loop {
            match chars.next() {
                Some((i, c)) if c.is_whitespace() || c == '>' || c == '/' => break i,
                Some(_) => {}
                None => return names,
            }
        };
        loop {
            let rest = tag.get(pos..).unwrap_or("");
            let trimmed = rest.trim_start();
            pos += rest.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('>') || trimmed.starts_with('/') {
                return names;
            }
            let Some(eq) = trimmed.find('=') else {
                return names;
            };
            names.push(trimmed.get(..eq).unwrap_or("").trim_end());
            let after_eq = trimmed.get(eq + 1..).unwrap_or("").trim_start();
            let Some(quote) = after_eq.chars().next() else {
                return names;
            };
            let value = after_eq.get(1..).unwrap_or("");
            let Some(close) = value.find(quote) else {
                return names;
            };
            let consumed = trimmed.len() - value.len() + close + 1;
            pos += consumed;
        }
    }

    /// Literal attributes (namespace declarations and ordinary ones) in source order,
    /// leaving out those named in `skip` (the ones that become substitutions).
    fn literal_attributes(&self, node: XNode, skip: &[&str]) -> Vec<Attribute> {
        let mut out = Vec::new();
        for name in self.raw_attribute_names(node) {
            if skip.contains(&name) {
                continue;
            }
            let value = if name == "xmlns" || name.starts_with("xmlns:") {
                let prefix = name.strip_prefix("xmlns:");
                node.namespaces()
                    .find(|ns| ns.name() == prefix)
                    .map(|ns| ns.uri().to_owned())
            } else {
                node.attributes()
                    .find(|a| self.text().get(a.range_qname()) == Some(name))
                    .map(|a| a.value().to_owned())
            };
            if let Some(value) = value {
                out.push(Attribute {
                    name: name.to_owned(),
                    value: Node::Text(value),
                });
            }
        }
        out
    }

    /// The value of the attribute with this qualified name, if present.
    fn attribute<'n>(&self, node: XNode<'n, 'input>, name: &str) -> Option<&'n str> {
        node.attributes()
            .find(|a| self.text().get(a.range_qname()) == Some(name))
            .map(|a| a.value())
    }

    /// An element kept as literal text in the template (Provider, Channel, Computer, …).
    fn literal_element(&self, node: XNode) -> Element {
        let mut element = Element::new(&self.qname(node));
        element.attributes = self.literal_attributes(node, &[]);
        let has_elements = node.children().any(|c| c.is_element());
        for child in node.children() {
            if child.is_element() {
                element
                    .children
                    .push(Node::Element(self.literal_element(child)));
            } else if let Some(text) = child.text().filter(|_| child.is_text()) {
                // Whitespace between elements is layout, not content.
                let layout = has_elements && text.trim().is_empty();
                if !text.is_empty() && !layout {
                    element.children.push(Node::Text(text.to_owned()));
                }
            }
        }
        element
    }
}

/// The concatenated text of an element without element children.
fn leaf_text<'a>(node: XNode<'a, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn is_event_element(node: XNode) -> bool {
    node.is_element() && node.tag_name().name() == "Event"
}

/// Deepest element nesting accepted inside one `<Event>`. Real events nest 4–6 levels;
/// the limit keeps the writer's recursion (and readers' BinXML nesting) bounded.
const MAX_DEPTH: usize = 64;

/// Rejects an `<Event>` nested deeper than [`MAX_DEPTH`], found without recursion.
fn check_depth(src: &Source, event: XNode) -> Result<(), WriteError> {
    // Pre-order walk: a parent's depth is known before its children are reached.
    let mut depths: std::collections::HashMap<roxmltree::NodeId, usize> =
        std::collections::HashMap::new();
    for node in event.descendants().filter(|n| n.is_element()) {
        let parent_depth = node
            .parent()
            .and_then(|p| depths.get(&p.id()).copied())
            .unwrap_or(0);
        let depth = parent_depth + 1;
        if depth > MAX_DEPTH {
            return Err(WriteError::TooDeep {
                line: src.line(node),
                max: MAX_DEPTH,
            });
        }
        depths.insert(node.id(), depth);
    }
    Ok(())
}

/// Converts every `<Event>` of the document (root `<Events>` or a lone `<Event>`).
pub(crate) fn convert_document(src: &Source) -> Result<Vec<EventRecord>, WriteError> {
    let root = src.doc.root_element();
    if is_event_element(root) {
        return Ok(vec![convert_event(src, root)?]);
    }
    if root.tag_name().name() != "Events" {
        return Err(WriteError::Structure {
            line: src.line(root),
            found: format!("the root element is <{}>", src.qname(root)),
        });
    }
    let mut events = Vec::new();
    for child in root.children().filter(|c| c.is_element()) {
        if !is_event_element(child) {
            return Err(WriteError::Structure {
                line: src.line(child),
                found: format!("<{}> inside <Events>", src.qname(child)),
            });
        }
        events.push(convert_event(src, child)?);
    }
    Ok(events)
}

/// What a System value's text must parse as.
#[derive(Clone, Copy)]
enum Kind {
    U8,
    U16,
    U32,
    U64,
    Hex64,
    FileTime,
    Guid,
    Sid,
}

impl Kind {
    fn type_byte(self) -> u8 {
        match self {
            Kind::U8 => ty::UINT8,
            Kind::U16 => ty::UINT16,
            Kind::U32 => ty::UINT32,
            Kind::U64 => ty::UINT64,
            Kind::Hex64 => ty::HEXINT64,
            Kind::FileTime => ty::FILETIME,
            Kind::Guid => ty::GUID,
            Kind::Sid => ty::SID,
        }
    }

    fn parse(self, text: &str) -> Result<Value, &'static str> {
        Ok(match self {
            Kind::U8 => Value::U8(values::parse_u8(text)?),
            Kind::U16 => Value::U16(values::parse_u16(text)?),
            Kind::U32 => Value::U32(values::parse_u32(text)?),
            Kind::U64 => Value::U64(values::parse_u64(text)?),
            Kind::Hex64 => Value::HexInt64(values::parse_hex64(text)?),
            Kind::FileTime => Value::FileTime(values::parse_filetime(text)?),
            Kind::Guid => Value::Guid(values::parse_guid(text)?),
            Kind::Sid => Value::Sid(values::parse_sid(text)?),
        })
    }
}

/// Collects the System substitution values while the System template is built.
struct SystemValues {
    values: Vec<Value>,
}

impl SystemValues {
    fn set(
        &mut self,
        src: &Source,
        node: XNode,
        field: &str,
        index: u16,
        kind: Kind,
        text: &str,
    ) -> Result<Sub, WriteError> {
        let value = kind.parse(text).map_err(|expected| WriteError::BadValue {
            line: src.line(node),
            field: field.to_owned(),
            value: text.to_owned(),
            expected,
        })?;
        if let Some(slot) = self.values.get_mut(usize::from(index)) {
            *slot = value;
        }
        Ok(Sub {
            index,
            value_type: kind.type_byte(),
            optional: true,
        })
    }
}

/// `<Level>4</Level>`-style element whose text is substitution `index`, as Windows writes
/// it: the element depends on its value, and the value is a conditional substitution.
fn value_element(
    src: &Source,
    node: XNode,
    sys: &mut SystemValues,
    index: u16,
    kind: Kind,
) -> Result<Element, WriteError> {
    let name = src.qname(node);
    if node.children().any(|c| c.is_element()) {
        return Err(WriteError::Structure {
            line: src.line(node),
            found: format!("<{name}> holds elements but must hold only its value"),
        });
    }
    let text = leaf_text(node);
    let sub = sys.set(src, node, &name, index, kind, &text)?;
    let mut element = Element::new(&name);
    element.dependency = index;
    if node.tag_name().name() == "EventID" {
        let qualifiers = attribute_sub(src, node, sys, "Qualifiers", 4, Kind::U16)?;
        element.attributes.push(qualifiers);
    }
    element
        .attributes
        .extend(src.literal_attributes(node, &["Qualifiers"]));
    element.children.push(Node::Sub(sub));
    Ok(element)
}

/// An attribute that is always in Windows' template as a conditional substitution: its
/// value comes from the source when present, NullType otherwise (so it disappears again).
fn attribute_sub(
    src: &Source,
    node: XNode,
    sys: &mut SystemValues,
    name: &str,
    index: u16,
    kind: Kind,
) -> Result<Attribute, WriteError> {
    let sub = match src.attribute(node, name) {
        Some(text) => {
            let field = format!("{}/@{name}", src.qname(node));
            sys.set(src, node, &field, index, kind, text)?
        }
        None => Sub {
            index,
            value_type: kind.type_byte(),
            optional: true,
        },
    };
    Ok(Attribute {
        name: name.to_owned(),
        value: Node::Sub(sub),
    })
}

/// `<TimeCreated SystemTime=".."/>`-style element whose attributes are substitutions.
fn attribute_element(
    src: &Source,
    node: XNode,
    sys: &mut SystemValues,
    subs: &[(&str, u16, Kind)],
) -> Result<Element, WriteError> {
    let mut element = src.literal_element(node);
    let names: Vec<&str> = subs.iter().map(|&(name, _, _)| name).collect();
    let mut attributes = Vec::new();
    for &(name, index, kind) in subs {
        attributes.push(attribute_sub(src, node, sys, name, index, kind)?);
    }
    attributes.extend(src.literal_attributes(node, &names));
    element.attributes = attributes;
    Ok(element)
}

fn system_child(src: &Source, node: XNode, sys: &mut SystemValues) -> Result<Element, WriteError> {
    match node.tag_name().name() {
        "EventID" => value_element(src, node, sys, 3, Kind::U16),
        "Version" => value_element(src, node, sys, 11, Kind::U8),
        "Level" => value_element(src, node, sys, 0, Kind::U8),
        "Task" => value_element(src, node, sys, 2, Kind::U16),
        "Opcode" => value_element(src, node, sys, 1, Kind::U8),
        "Keywords" => value_element(src, node, sys, 5, Kind::Hex64),
        "EventRecordID" => value_element(src, node, sys, 10, Kind::U64),
        "TimeCreated" => attribute_element(src, node, sys, &[("SystemTime", 6, Kind::FileTime)]),
        "Correlation" => attribute_element(
            src,
            node,
            sys,
            &[
                ("ActivityID", 7, Kind::Guid),
                ("RelatedActivityID", 18, Kind::Guid),
            ],
        ),
        "Execution" => attribute_element(
            src,
            node,
            sys,
            &[("ProcessID", 8, Kind::U32), ("ThreadID", 9, Kind::U32)],
        ),
        "Security" => attribute_element(src, node, sys, &[("UserID", 12, Kind::Sid)]),
        _ => Ok(src.literal_element(node)),
    }
}

fn convert_system(
    src: &Source,
    node: XNode,
    sys: &mut SystemValues,
) -> Result<Element, WriteError> {
    let mut element = src.literal_element(node);
    element.children.clear();
    for child in node.children().filter(|c| c.is_element()) {
        element
            .children
            .push(Node::Element(system_child(src, child, sys)?));
    }
    Ok(element)
}

/// Builds the nested template of EventData/UserData content: leaf element text becomes a
/// normal substitution (a string, or bytes for `<Binary>` directly in EventData), the rest
/// stays literal — the shape Windows gives these fragments.
fn data_element(
    src: &Source,
    node: XNode,
    values: &mut Vec<Value>,
    binary_allowed: bool,
) -> Result<Element, WriteError> {
    let mut element = Element::new(&src.qname(node));
    element.attributes = src.literal_attributes(node, &[]);
    let has_elements = node.children().any(|c| c.is_element());
    if !has_elements {
        let text = leaf_text(node);
        let value = if binary_allowed && node.tag_name().name() == "Binary" {
            let bytes =
                values::parse_hex_bytes(&text).map_err(|expected| WriteError::BadValue {
                    line: src.line(node),
                    field: "EventData/Binary".to_owned(),
                    value: text.clone(),
                    expected,
                })?;
            Value::Binary(bytes)
        } else {
            Value::Str(text)
        };
        element
            .children
            .push(Node::Sub(push_value(src, node, values, value)?));
        return Ok(element);
    }
    for child in node.children() {
        if child.is_element() {
            let nested = data_element(src, child, values, false)?;
            element.children.push(Node::Element(nested));
        } else if let Some(text) = child.text().filter(|_| child.is_text()) {
            if !text.trim().is_empty() {
                element.children.push(Node::Text(text.to_owned()));
            }
        }
    }
    Ok(element)
}

fn push_value(
    src: &Source,
    node: XNode,
    values: &mut Vec<Value>,
    value: Value,
) -> Result<Sub, WriteError> {
    let index = u16::try_from(values.len()).map_err(|_| WriteError::Structure {
        line: src.line(node),
        found: "more than 65535 values in one EventData/UserData".to_owned(),
    })?;
    let sub = Sub {
        index,
        value_type: value.type_byte(),
        optional: false,
    };
    values.push(value);
    Ok(sub)
}

/// `<EventData>` → its own TemplateInstance, carried as the BinXml value of index 19.
fn event_data_instance(src: &Source, node: XNode) -> Result<Instance, WriteError> {
    let mut values = Vec::new();
    let mut template = Element::new(&src.qname(node));
    template.attributes = src.literal_attributes(node, &[]);
    for child in node.children() {
        if child.is_element() {
            let item = data_element(src, child, &mut values, true)?;
            template.children.push(Node::Element(item));
        } else if let Some(text) = child.text().filter(|_| child.is_text()) {
            if !text.trim().is_empty() {
                template.children.push(Node::Text(text.to_owned()));
            }
        }
    }
    Ok(Instance { template, values })
}

/// `<UserData>` stays in the System template; its single child tree is the nested instance.
fn user_data_element(
    src: &Source,
    node: XNode,
    sys: &mut SystemValues,
) -> Result<Element, WriteError> {
    let mut element = Element::new(&src.qname(node));
    element.attributes = src.literal_attributes(node, &[]);
    let children: Vec<XNode> = node.children().filter(|c| c.is_element()).collect();
    match children.as_slice() {
        [] => Ok(element),
        [child] => {
            let mut values = Vec::new();
            let template = data_element(src, *child, &mut values, false)?;
            set_event_data(sys, Instance { template, values });
            element.dependency = EVENT_DATA_INDEX;
            element.children.push(Node::Sub(event_data_sub()));
            Ok(element)
        }
        [_, second, ..] => Err(WriteError::Structure {
            line: src.line(*second),
            found: "<UserData> holds more than one element".to_owned(),
        }),
    }
}

fn event_data_sub() -> Sub {
    Sub {
        index: EVENT_DATA_INDEX,
        value_type: ty::BINXML,
        optional: true,
    }
}

fn set_event_data(sys: &mut SystemValues, instance: Instance) {
    if let Some(slot) = sys.values.get_mut(usize::from(EVENT_DATA_INDEX)) {
        *slot = Value::BinXml(Box::new(instance));
    }
}

/// One `<Event>` → its record: System template + values, EventData/UserData nested.
fn convert_event(src: &Source, node: XNode) -> Result<EventRecord, WriteError> {
    check_depth(src, node)?;
    // Lines are computed only on error: `text_pos_at` scans from the document start.
    let line = || src.line(node);
    let mut sys = SystemValues {
        values: vec![Value::Null; SYSTEM_VALUE_COUNT],
    };
    let mut template = Element::new(&src.qname(node));
    template.attributes = src.literal_attributes(node, &[]);
    let mut seen_system = false;
    let mut seen_data: Option<XNode> = None;
    for child in node.children() {
        if !child.is_element() {
            if let Some(text) = child
                .text()
                .filter(|t| child.is_text() && !t.trim().is_empty())
            {
                template.children.push(Node::Text(text.to_owned()));
            }
            continue;
        }
        let local = child.tag_name().name();
        if matches!(local, "EventData" | "UserData") {
            if let Some(first) = seen_data {
                return Err(WriteError::Structure {
                    line: src.line(child),
                    found: format!(
                        "a second EventData/UserData in the <Event> (the first is at line {})",
                        src.line(first)
                    ),
                });
            }
            seen_data = Some(child);
        }
        match local {
            "System" => {
                seen_system = true;
                let system = convert_system(src, child, &mut sys)?;
                template.children.push(Node::Element(system));
            }
            "EventData" => {
                set_event_data(&mut sys, event_data_instance(src, child)?);
                template.dependency = EVENT_DATA_INDEX;
                template.children.push(Node::Sub(event_data_sub()));
            }
            "UserData" => {
                let user_data = user_data_element(src, child, &mut sys)?;
                template.children.push(Node::Element(user_data));
            }
            _ => template
                .children
                .push(Node::Element(src.literal_element(child))),
        }
    }
    if !seen_system {
        return Err(WriteError::Missing {
            line: line(),
            field: "<System>",
            example: "<System>…</System>",
        });
    }
    let record_id = match sys.values.get(10) {
        Some(Value::U64(id)) => *id,
        _ => {
            return Err(WriteError::Missing {
                line: line(),
                field: "<EventRecordID>",
                example: "<EventRecordID>1</EventRecordID>",
            })
        }
    };
    let filetime = match sys.values.get(6) {
        Some(Value::FileTime(t)) => *t,
        _ => {
            return Err(WriteError::Missing {
                line: line(),
                field: "<TimeCreated SystemTime=…>",
                example: "<TimeCreated SystemTime=\"2024-05-14T01:02:33.0000000Z\"/>",
            })
        }
    };
    Ok(EventRecord {
        source_pos: node.range().start,
        record_id,
        filetime,
        instance: Instance {
            template,
            values: sys.values,
        },
    })
}
