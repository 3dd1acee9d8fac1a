//! A report in Japanese says in Japanese what the readers, the configuration check and the
//! clock estimate write in English: every sentence of `src/ja.rs` still exists in the source,
//! and no fixture's warning, clock basis or configuration fact is left in English.

mod common;

use hvtriage::rules::RuleSet;
use hvtriage::{analyze, ja, Options};

/// Every string literal of the crate's source but `src/ja.rs`, its `{…}` written `{}`.
fn source_literals() -> Vec<String> {
    let mut out = Vec::new();
    for path in common::files(&common::root().join("src"), "rs") {
        if path.ends_with("src/ja.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('"') {
            let body = &rest[open + 1..];
            let mut end = 0;
            let bytes = body.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(body.len());
            out.push(placeholders(&body[..end]));
            rest = body.get(end + 1..).unwrap_or("");
        }
    }
    out
}

/// `text` with each `{…}` written `{}`.
fn placeholders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str("{}");
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn every_english_sentence_translated_is_still_written_in_the_source() {
    let literals = source_literals();
    let mut gone = Vec::new();
    for english in ja::english() {
        // The fixed text between the varying parts; a short piece (", ") proves nothing.
        for piece in placeholders(english).split("{}") {
            if piece.trim().len() >= 4 && !literals.iter().any(|l| l.contains(piece)) {
                gone.push(format!("{english:?}: {piece:?}"));
            }
        }
    }
    assert!(
        gone.is_empty(),
        "sentences of src/ja.rs no longer in the source (reworded? update src/ja.rs):\n{}",
        gone.join("\n")
    );
}

fn has_japanese(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
}

#[test]
fn no_fixture_leaves_a_warning_a_clock_or_a_configuration_fact_in_english() {
    let rules = RuleSet::builtin().unwrap();
    let options = Options {
        lang: "ja".into(),
        ..Options::default()
    };
    let mut english = Vec::new();
    let mut facts = 0;
    for case in common::cases() {
        let Ok(a) = analyze(std::slice::from_ref(&case), &rules, &options) else {
            continue;
        };
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let warnings = a
            .warnings
            .iter()
            .chain(a.inputs.iter().flat_map(|i| &i.warnings));
        for text in warnings.chain(a.hosts.iter().map(|h| &h.clock_basis)) {
            if ja::translate(text).is_none() {
                english.push(format!("{name}: {text}"));
            }
        }
        for fact in a.findings.iter().flat_map(|f| &f.config_evidence) {
            facts += 1;
            if !has_japanese(&fact.fact) {
                english.push(format!("{name}: {}", fact.fact));
            }
        }
    }
    assert!(
        facts >= 5,
        "the configuration fixtures give facts ({facts})"
    );
    assert!(
        english.is_empty(),
        "left in English:\n{}",
        english.join("\n")
    );
}

#[test]
fn a_case_that_cannot_be_read_says_why_in_japanese() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("System.evtx"), b"hello").unwrap();
    let out = common::hvtriage()
        .args(["analyze", "--lang", "ja", "-o"])
        .arg(dir.path().join("r.html"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("拡張子は .evtx ですが EVTX ファイルではありません"),
        "{said}"
    );
    assert!(!said.contains("not an EVTX file"), "{said}");
}
