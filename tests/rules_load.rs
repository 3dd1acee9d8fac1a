//! Every mistake SPEC §4.1 lists in a rule file is refused at load with file, line and fix.

use hvtriage::rules::load::{load, LoadError};
use hvtriage::rules::{RuleSet, BUILTIN_SIGNALS};

const GOOD: &str = r#"id = "test-rule"
severity = "error"
window = "10m"

[[step]]
name = "down"
signal = "nic_link_down"

[[step]]
name = "failure"
signal = "migration_failed"
where.hresult = { code = "0x8009030E" }
source_is_host_of = "down"
after = { step = "down", within = "5m" }

[text.en]
title = "Test on {host}"
cause = "{down.adapter} went down before {vms} failed"
fix = ["Fix {host}"]
"#;

fn load_one(text: &str) -> Result<RuleSet, LoadError> {
    let signals = (
        "rules/signals.toml".to_string(),
        BUILTIN_SIGNALS.to_string(),
    );
    load(
        &[signals],
        &[("my/rule.toml".to_string(), text.to_string())],
    )
}

fn refused(text: &str) -> LoadError {
    load_one(text).expect_err("the mistake must be refused")
}

#[test]
fn a_good_rule_loads() {
    let set = load_one(GOOD).unwrap();
    assert_eq!(set.rules.len(), 1);
    assert_eq!(set.rules[0].window_ms, 600_000);
}

#[test]
fn an_unknown_signal_names_its_line_and_the_closest_signal() {
    let e = refused(&GOOD.replace("signal = \"nic_link_down\"", "signal = \"nic_link_dwn\""));
    assert_eq!((e.file.as_str(), e.line), ("my/rule.toml", 7));
    assert!(e.message.contains("unknown signal `nic_link_dwn`"), "{e}");
    assert!(e.fix.contains("did you mean `nic_link_down`"), "{e}");
}

#[test]
fn an_unknown_field_lists_the_fields_there_are() {
    let e = refused(&GOOD.replace("where.hresult", "where.hresul"));
    assert_eq!(e.line, 12, "{e}");
    assert!(
        e.message.contains("`hresul`") && e.fix.contains("hresult"),
        "{e}"
    );
}

#[test]
fn a_bad_regex_is_refused() {
    let e = refused(&GOOD.replace("{ code = \"0x8009030E\" }", "{ regex = \"(unclosed\" }"));
    assert_eq!(e.line, 12, "{e}");
    assert!(e.message.contains("bad regex"), "{e}");
}

#[test]
fn a_bad_duration_says_how_to_write_one() {
    let e = refused(&GOOD.replace("within = \"5m\"", "within = \"5 minutes\""));
    assert_eq!(e.line, 14, "{e}");
    assert!(e.fix.contains("90s, 10m, 2h"), "{e}");
    let e = refused(&GOOD.replace("window = \"10m\"", "window = \"10\""));
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn a_placeholder_nothing_fills_is_refused() {
    let e = refused(&GOOD.replace("{down.adapter}", "{down.speed}"));
    assert_eq!(e.line, 18, "{e}");
    assert!(e.message.contains("{down.speed}"), "{e}");
    // With a default, it is fine.
    load_one(&GOOD.replace("{down.adapter}", "{down.speed|the link}")).unwrap();
}

#[test]
fn a_duplicate_id_names_both_files() {
    let signals = (
        "rules/signals.toml".to_string(),
        BUILTIN_SIGNALS.to_string(),
    );
    let e = load(
        &[
            signals,
            ("a.toml".into(), GOOD.into()),
            ("b.toml".into(), GOOD.into()),
        ],
        &[],
    )
    .unwrap_err();
    assert_eq!(e.file, "b.toml");
    assert!(e.message.contains("also used by a.toml"), "{e}");
}

#[test]
fn a_relation_to_a_later_or_unknown_step_is_refused() {
    let e = refused(&GOOD.replace("after = { step = \"down\"", "after = { step = \"failure\""));
    assert_eq!(e.line, 14, "{e}");
    assert!(e.message.contains("no earlier step named `failure`"), "{e}");
}

#[test]
fn unknown_keys_and_severities_are_refused() {
    let e = refused(&GOOD.replace("severity = \"error\"", "severity = \"fatal\""));
    assert_eq!(e.line, 2, "{e}");
    let e = refused(&GOOD.replace("window = \"10m\"", "window = \"10m\"\ncolour = \"red\""));
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("colour"), "{e}");
}

#[test]
fn a_rule_from_a_folder_replaces_the_built_in_one() {
    let builtin = RuleSet::builtin().unwrap();
    let n = builtin.rules.len();
    let dir = std::env::temp_dir().join(format!("hvtriage-replace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mine.toml"),
        GOOD.replace("test-rule", "dc-unreachable-cluster-wide"),
    )
    .unwrap();
    let set = RuleSet::with_dir(&dir).unwrap();
    assert_eq!(set.rules.len(), n);
    assert_eq!(
        set.get("dc-unreachable-cluster-wide").unwrap().file,
        dir.join("mine.toml").display().to_string()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_host_must_name_a_signal_of_a_later_step() {
    let stray = GOOD.replace(
        "source_is_host_of = \"down\"",
        "source_is_host_of = \"down\"\nevery_host = [\"nic_link_up\"]",
    );
    let err = refused(&stray).to_string();
    assert!(err.contains("my/rule.toml:"), "{err}");
    assert!(err.contains("every_host names `nic_link_up`"), "{err}");
    let first = GOOD.replace(
        "signal = \"nic_link_down\"",
        "signal = \"nic_link_down\"\nevery_host = [\"nic_link_down\"]",
    );
    let err = refused(&first).to_string();
    assert!(err.contains("put every_host on a later step"), "{err}");
}

#[test]
fn peer_of_needs_a_migration_step_and_no_other_host_relation() {
    let twice = GOOD.replace(
        "source_is_host_of = \"down\"",
        "source_is_host_of = \"down\"\n[[step]]\nname = \"late\"\nsignal = \"nic_link_up\"\nsame_host = \"down\"\npeer_of = \"failure\"",
    );
    let err = refused(&twice).to_string();
    assert!(err.contains("more than one of same_host"), "{err}");
    let not_migration = GOOD.replace(
        "source_is_host_of = \"down\"",
        "source_is_host_of = \"down\"\n[[step]]\nname = \"late\"\nsignal = \"nic_link_up\"\npeer_of = \"down\"",
    );
    let err = refused(&not_migration).to_string();
    assert!(
        err.contains("peer_of reads the `peer` or `destination` field of step `down`"),
        "{err}"
    );
}

#[test]
fn a_confidence_ceiling_is_medium_or_high() {
    let wrong = GOOD.replacen("[[step]]", "confidence = \"low\"\n\n[[step]]", 1);
    let err = refused(&wrong).to_string();
    assert!(err.contains("unknown confidence \"low\""), "{err}");
    let medium = GOOD.replacen("[[step]]", "confidence = \"medium\"\n\n[[step]]", 1);
    let set = load_one(&medium).unwrap_or_else(|e| panic!("{e}"));
    let rule = set
        .rules
        .iter()
        .find(|r| r.file == "my/rule.toml")
        .expect("the rule");
    assert_eq!(rule.ceiling, hvtriage::rules::Confidence::Medium);
}
