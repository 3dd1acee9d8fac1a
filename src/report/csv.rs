//! CSV (SPEC §5.3): the timeline, one row per signal, RFC 4180 quoting. Every CSV hvtriage
//! writes (this one and the batch's `summary.csv`) is built from [`Cell`]s by [`line()`], so
//! every text cell is made safe for spreadsheets in one place.

use super::{local, utc, visible};
use crate::analysis::Analysis;
use std::borrow::Cow;

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

/// One cell of a CSV row.
pub enum Cell {
    /// Anything that is not a count: names, paths, times, words from a log. A log or an upload
    /// chooses these, so a spreadsheet must never take one for a formula.
    Text(String),
    /// A count or id hvtriage writes as digits (never negative, so never a formula).
    Number(u64),
}

/// The timeline as CSV text (CRLF line ends, as RFC 4180 and spreadsheets expect).
pub fn render(a: &Analysis) -> String {
    let mut out = timeline_header();
    for s in &a.timeline {
        out.push_str(&timeline_line(&super::Line::of(s, a), a.time_zone));
    }
    out
}

/// The timeline's header line.
pub fn timeline_header() -> String {
    header(&HEADER)
}

/// One line of the timeline, times in UTC and in `time_zone`.
pub fn timeline_line(l: &super::Line, time_zone: chrono_tz::Tz) -> String {
    line([
        Cell::Text(utc(l.time)),
        Cell::Text(local(l.time, time_zone)),
        Cell::Text(l.host.to_string()),
        Cell::Text(l.signal.to_string()),
        Cell::Text(l.provider.to_string()),
        Cell::Number(l.event_id.into()),
        Cell::Text(l.channel.to_string()),
        Cell::Number(l.record_id),
        Cell::Text(l.input_path.to_string()),
        Cell::Text(l.text.to_string()),
    ])
}

/// The header line of the columns `names`.
pub fn header(names: &[&str]) -> String {
    line(names.iter().map(|n| Cell::Text((*n).to_string())))
}

/// One CSV line, CRLF-terminated: text cells with their control characters made visible
/// escapes ([`visible`]: a log's CR or ESC stays readable and drives no viewer), neutralised
/// and quoted; numbers as digits.
pub fn line(cells: impl IntoIterator<Item = Cell>) -> String {
    let mut line = cells
        .into_iter()
        .map(|c| match c {
            Cell::Text(text) => quote(&neutralise(&visible(&text))),
            Cell::Number(n) => n.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The first characters that make Excel, LibreOffice or Google Sheets read a cell as a
/// formula (OWASP, "CSV Injection"): `=HYPERLINK(…)` in a host name would run on opening.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell a spreadsheet shows as text: one that starts like a formula gets a leading
/// `'` (OWASP's advice; spreadsheets hide it, and a reader sees it was added).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_START) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Quotes a cell when it holds a comma, quote or line break, or a `;` or tab (a spreadsheet
/// set to split on those would otherwise start a new cell there, which could be a formula);
/// doubles quotes inside.
pub fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r', ';', '\t']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_only_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote("a;=1+1"), "\"a;=1+1\"");
    }

    #[test]
    fn text_that_starts_like_a_formula_is_neutralised_and_numbers_are_not() {
        for formula in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(formula), format!("'{formula}"));
        }
        assert_eq!(neutralise("HV01"), "HV01");
        assert_eq!(neutralise("a=b"), "a=b");
        assert_eq!(
            line([Cell::Text("=cmd|' /C calc'!A0".into()), Cell::Number(7)]),
            "'=cmd|' /C calc'!A0,7\r\n"
        );
    }
}
