//! The writer's in-memory form of a record: a template (the XML shape with substitution
//! slots) and the values that fill it, exactly what a BinXML TemplateInstance holds.
//!
//! Templates are kept chunk-independent (names as strings) because name and template
//! offsets differ per chunk; `binxml` lays them out for a given chunk.

use super::values::Value;

/// DependencyId of an element that depends on no substitution.
pub(crate) const NO_DEPENDENCY: u16 = 0xffff;

/// A substitution slot in a template definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Sub {
    pub(crate) index: u16,
    pub(crate) value_type: u8,
    /// Conditional (0x0E): left out when the value is NullType. Windows uses it in System.
    pub(crate) optional: bool,
}

/// Content of an element or attribute in a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
    Sub(Sub),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Attribute {
    pub(crate) name: String,
    /// Literal text or one substitution (what Windows writes in attribute values).
    pub(crate) value: Node,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Element {
    /// Qualified name as written in the source (`Data`, `auto-ns3:Foo`).
    pub(crate) name: String,
    /// Substitution index whose NullType removes this element (MS-EVEN6 2.2.12), or none.
    pub(crate) dependency: u16,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) children: Vec<Node>,
}

impl Element {
    pub(crate) fn new(name: &str) -> Self {
        Element {
            name: name.to_owned(),
            dependency: NO_DEPENDENCY,
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }
}

/// A TemplateInstance: template definition plus its substitution values.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) template: Element,
    pub(crate) values: Vec<Value>,
}

/// One event, ready to be written as a record.
#[derive(Debug, Clone)]
pub(crate) struct EventRecord {
    /// Byte offset of the `<Event>` start tag in the parsed text. The line is computed
    /// only for an error message: finding it scans the text from the start.
    pub(crate) source_pos: usize,
    pub(crate) record_id: u64,
    pub(crate) filetime: u64,
    pub(crate) instance: Instance,
}
