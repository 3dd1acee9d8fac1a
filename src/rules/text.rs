//! Rule texts: title, cause, fix and "what to collect next", with `{placeholders}` filled from
//! the signals a finding matched.

use std::collections::BTreeMap;

/// A rule's words in one language.
#[derive(Debug, Clone)]
pub struct Text {
    pub title: String,
    /// The title at medium confidence: what was seen, not what it would mean.
    pub title_medium: Option<String>,
    pub cause: String,
    /// The cause as said at medium confidence, when the rule has a medium form: it must not
    /// state as fact what the missing evidence would show.
    pub cause_medium: Option<String>,
    /// The fix as steps.
    pub fix: Vec<String>,
    /// What would confirm or complete the finding, by step name (or a form's collect key).
    pub collect: BTreeMap<String, String>,
}

/// The placeholder names of a text, without braces (`{link.adapter|the NIC}` →
/// `link.adapter|the NIC`).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push(rest[open + 1..open + close].to_string());
        rest = &rest[open + close + 1..];
    }
    out
}

/// Fills every placeholder with `lookup`; `{name|default}` falls back to its default, and a
/// value nothing gives shows as `?`.
pub fn fill(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &rest[open + 1..open + close];
        let (name, default) = match inner.split_once('|') {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => out.push_str(default.unwrap_or("?")),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_or_fall_back() {
        let text = "NIC {link.adapter|behind the switch} on {host}: {missing}";
        assert_eq!(
            placeholders(text),
            ["link.adapter|behind the switch", "host", "missing"]
        );
        let filled = fill(text, |name| (name == "host").then(|| "HV01".to_string()));
        assert_eq!(filled, "NIC behind the switch on HV01: ?");
    }
}
