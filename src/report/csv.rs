//! CSV (SPEC §5.3): the timeline, one row per signal, RFC 4180 quoting.

use super::{local, utc};
use crate::analysis::Analysis;

const HEADER: [&str; 10] = [
    "time_utc",
    "time_local",
    "host",
    "signal",
    "provider",
    "event_id",
    "channel",
    "record_id",
    "input",
    "text",
];

/// The timeline as CSV text (CRLF line ends, as RFC 4180 and spreadsheets expect).
pub fn render(a: &Analysis) -> String {
    let mut out = row(HEADER.iter().map(|s| (*s).to_string()));
    for s in &a.timeline {
        let input = a
            .inputs
            .get(s.event.input)
            .map_or_else(String::new, |i| i.path.clone());
        out.push_str(&row([
            utc(s.time),
            local(s.time, a.time_zone),
            s.host.clone(),
            s.name.clone(),
            s.event.provider.clone(),
            s.event.event_id.to_string(),
            s.event.channel.clone(),
            s.event.record_id.to_string(),
            input,
            s.text.clone(),
        ]));
    }
    out
}

fn row(cells: impl IntoIterator<Item = String>) -> String {
    let mut line = cells
        .into_iter()
        .map(|c| quote(&c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Quotes a cell when it holds a comma, quote or line break; doubles quotes inside.
pub fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn cells_are_quoted_only_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }
}
