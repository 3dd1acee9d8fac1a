//! PowerShell objects written with `Export-Clixml` (CLIXML, the serialization of [MS-PSRP]
//! section 2.2.5): what Microsoft's GetLogs collector leaves as `<Node>-NetInfoPerHost.xml`,
//! or any cmdlet's output exported that way. Objects become the same JSON values
//! `ConvertTo-Json` gives, so one reader serves both (`psjson`).
//!
//! The format, as a reader needs it: a root `<Objs>` of `<Obj RefId="N">` elements; an object's
//! properties in `<Props>` (or `<MS>`, members added to it), each named by `N="…"` and typed:
//! `<S>` string, `<I32>`/`<I64>`/`<U32>`/`<Db>`… numbers, `<B>` boolean, `<DT>` date-time,
//! `<G>` GUID, `<Nil/>`; a list is an `<Obj>` holding `<LST>` or `<IE>`; an enum is an `<Obj>`
//! with `<ToString>` and its number; an object written before is `<Ref RefId="N"/>`.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// The namespace of CLIXML's elements.
const NS: &str = "http://schemas.microsoft.com/powershell/2004/04";

/// How deep objects are followed (Export-Clixml's own default depth is 2).
const MAX_DEPTH: usize = 16;

/// Whether a text is CLIXML.
pub fn looks_like(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let t = t
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>"))
        .map_or(t, |(_, body)| body.trim_start());
    t.starts_with("<Objs") && t.contains(NS)
}

/// Whether the start of a CLIXML text is events (GetLogs' `<Node>_<Log>.XML`: Get-WinEvent's
/// objects, beside the `.evtx` it also exports), not configuration.
pub fn holds_events(head: &str) -> bool {
    head.contains("N=\"ProviderName\"") || head.contains("N=\"LevelDisplayName\"")
}

/// The top-level objects of a CLIXML text, as JSON values.
pub fn values(text: &str) -> Result<Vec<Value>, String> {
    let doc = roxmltree::Document::parse(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("not well-formed CLIXML ({e})"))?;
    let root = doc.root_element();
    // Every <Obj RefId> of the document, for <Ref>s to what was written before.
    let by_ref: HashMap<&str, roxmltree::Node> = root
        .descendants()
        .filter(|n| n.has_tag_name("Obj"))
        .filter_map(|n| n.attribute("RefId").map(|r| (r, n)))
        .collect();
    Ok(root
        .children()
        .filter(roxmltree::Node::is_element)
        .map(|n| value(n, &by_ref, 0))
        .collect())
}

fn value(node: roxmltree::Node, refs: &HashMap<&str, roxmltree::Node>, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let text = || node.text().unwrap_or("").to_string();
    match node.tag_name().name() {
        "S" | "C" | "DT" | "TS" | "G" | "URI" | "Version" | "XD" | "SBK" | "ToString" => {
            Value::String(text())
        }
        "B" => Value::Bool(text().trim().eq_ignore_ascii_case("true")),
        "I32" | "I64" | "I16" | "U32" | "U64" | "U16" | "By" | "SB" => text()
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
        "Db" | "Sg" | "D" => text()
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number),
        "Ref" => node
            .attribute("RefId")
            .and_then(|r| refs.get(r))
            .map_or(Value::Null, |o| value(*o, refs, depth + 1)),
        "Obj" => object(node, refs, depth),
        _ => Value::Null,
    }
}

/// An `<Obj>`: a list, an object of properties, or an enum or other value shown as text.
fn object(node: roxmltree::Node, refs: &HashMap<&str, roxmltree::Node>, depth: usize) -> Value {
    let child = |name: &str| node.children().find(|c| c.has_tag_name(name));
    if let Some(list) = ["LST", "IE", "STK", "QUE"].iter().find_map(|n| child(n)) {
        return Value::Array(
            list.children()
                .filter(roxmltree::Node::is_element)
                .map(|c| value(c, refs, depth + 1))
                .collect(),
        );
    }
    let mut props = Map::new();
    for group in node
        .children()
        .filter(|c| c.has_tag_name("Props") || c.has_tag_name("MS"))
    {
        for p in group.children().filter(roxmltree::Node::is_element) {
            if let Some(name) = p.attribute("N") {
                props.insert(name.to_string(), value(p, refs, depth + 1));
            }
        }
    }
    if !props.is_empty() {
        return Value::Object(props);
    }
    // An enum: its name (what ConvertTo-Json of PowerShell 7 writes), else its value.
    if let Some(shown) = child("ToString") {
        return Value::String(shown.text().unwrap_or("").to_string());
    }
    node.children()
        .filter(roxmltree::Node::is_element)
        .find(|c| !c.has_tag_name("TN") && !c.has_tag_name("TNRef"))
        .map_or(Value::Null, |c| value(c, refs, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_lists_enums_and_refs_become_json() {
        let text = format!(
            r#"<Objs Version="1.1.0.1" xmlns="{NS}">
  <Obj RefId="0"><TN RefId="0"><T>Microsoft.HyperV.PowerShell.VMSwitch</T></TN>
    <Props><S N="Name">Corp</S><B N="AllowManagementOS">true</B>
      <Obj N="SwitchType" RefId="1"><TN RefId="1"><T>VMSwitchType</T></TN><ToString>External</ToString><I32>2</I32></Obj>
      <Obj N="Ports" RefId="2"><LST><I32>1</I32><I32>2</I32></LST></Obj>
      <Nil N="Notes" />
    </Props>
  </Obj>
  <Ref RefId="0" />
</Objs>"#
        );
        assert!(looks_like(&text));
        let values = values(&text).unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0]["Name"], "Corp");
        assert_eq!(values[0]["AllowManagementOS"], true);
        assert_eq!(values[0]["SwitchType"], "External");
        assert_eq!(values[0]["Ports"], serde_json::json!([1, 2]));
        assert_eq!(values[1], values[0], "a reference is the object it names");
    }
}
