//! The rule language at work on small hand-made timelines: every relation, absence, optional
//! evidence, the medium form and how matches become findings.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hvtriage::input::RawEvent;
use hvtriage::rules::load::load;
use hvtriage::rules::matcher::correlate;
use hvtriage::rules::{Confidence, RuleSet, BUILTIN_SIGNALS};
use hvtriage::signal::Signal;
use std::collections::BTreeMap;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn signal(name: &str, seconds: i64, host: &str, fields: &[(&str, &str)]) -> Signal {
    Signal {
        id: 0,
        name: name.into(),
        time: at(seconds),
        at: at(seconds),
        host: host.into(),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        text: name.into(),
        text_ja: None,
        event: RawEvent {
            input: 0,
            record_id: seconds as u64,
            time: at(seconds),
            provider: "test".into(),
            event_id: 1,
            channel: "System".into(),
            computer: host.into(),
            data: Vec::new(),
        },
    }
}

fn timeline(mut signals: Vec<Signal>) -> Vec<Signal> {
    signals.sort_by_key(|s| s.time);
    for (i, s) in signals.iter_mut().enumerate() {
        s.id = i;
    }
    signals
}

fn rules(body: &str) -> RuleSet {
    rules_with_text(body, "")
}

fn rules_with_text(body: &str, text: &str) -> RuleSet {
    let text = format!(
        "id = \"t\"\nseverity = \"error\"\nwindow = \"10m\"\n{body}\n[text.en]\ntitle = \"t on {{host}}\"\ncause = \"c\"\nfix = [\"f\"]\n{text}"
    );
    let signals = (
        "rules/signals.toml".to_string(),
        BUILTIN_SIGNALS.to_string(),
    );
    load(&[signals], &[("t.toml".into(), text)]).unwrap_or_else(|e| panic!("{e}"))
}

fn failed(seconds: i64, host: &str, vm: &str, code: &str) -> Signal {
    signal(
        "migration_failed",
        seconds,
        host,
        &[
            ("vm", vm),
            ("source", host),
            ("hresult", code),
            ("side", "source"),
        ],
    )
}

const DOWN_THEN_FAIL: &str = r#"
[[step]]
name = "down"
signal = "nic_link_down"

[[step]]
name = "failure"
signal = "migration_failed"
source_is_host_of = "down"
after = { step = "down", within = "5m" }
"#;

#[test]
fn after_counts_from_the_earlier_step_and_only_forward() {
    let set = rules(DOWN_THEN_FAIL);
    let hit = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(299, "HV01", "VM1", "0x1"),
    ]);
    assert_eq!(correlate(&set, &hit, &[], "en").len(), 1);
    let late = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(301, "HV01", "VM1", "0x1"),
    ]);
    assert!(correlate(&set, &late, &[], "en").is_empty());
    let before = timeline(vec![
        failed(0, "HV01", "VM1", "0x1"),
        signal("nic_link_down", 10, "HV01", &[]),
    ]);
    assert!(correlate(&set, &before, &[], "en").is_empty());
}

#[test]
fn the_migration_source_must_be_the_host_of_the_step() {
    let set = rules(DOWN_THEN_FAIL);
    let other = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(20, "HV02", "VM1", "0x1"),
    ]);
    assert!(correlate(&set, &other, &[], "en").is_empty());
}

#[test]
fn before_and_around_windows() {
    let before = rules(
        r#"
[[step]]
name = "failure"
signal = "migration_failed"
[[step]]
name = "down"
signal = "nic_link_down"
before = { step = "failure", within = "1m" }
"#,
    );
    let t = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(50, "HV01", "VM1", "0x1"),
    ]);
    assert_eq!(correlate(&before, &t, &[], "en").len(), 1);
    let t = timeline(vec![
        signal("nic_link_down", 100, "HV01", &[]),
        failed(50, "HV01", "VM1", "0x1"),
    ]);
    assert!(correlate(&before, &t, &[], "en").is_empty());
    let around = rules(
        r#"
[[step]]
name = "failure"
signal = "migration_failed"
[[step]]
name = "down"
signal = "nic_link_down"
around = { step = "failure", within = "1m" }
"#,
    );
    let t = timeline(vec![
        signal("nic_link_down", 100, "HV01", &[]),
        failed(50, "HV01", "VM1", "0x1"),
    ]);
    assert_eq!(correlate(&around, &t, &[], "en").len(), 1);
}

#[test]
fn same_and_different_host() {
    let body = |relation: &str| {
        format!(
            "[[step]]\nname = \"a\"\nsignal = \"dc_unreachable\"\n[[step]]\nname = \"b\"\nsignal = \"dc_unreachable\"\n{relation} = \"a\"\naround = {{ step = \"a\", within = \"1m\" }}\n"
        )
    };
    let t = timeline(vec![
        signal("dc_unreachable", 0, "HV01", &[]),
        signal("dc_unreachable", 5, "HV02", &[]),
    ]);
    assert!(!correlate(&rules(&body("different_host")), &t, &[], "en").is_empty());
    assert!(correlate(&rules(&body("same_host")), &t, &[], "en").is_empty());
}

#[test]
fn peer_of_is_the_other_end_of_the_migration() {
    let set = rules_with_text(
        "[[step]]\nname = \"failure\"\nsignal = \"migration_failed\"\n[[step]]\nname = \"policy\"\nsignal = \"group_policy_failed\"\npeer_of = \"failure\"\naround = { step = \"failure\", within = \"1h\" }\n",
        "[text.en.collect]\n",
    );
    let failure = |peer: &[(&str, &str)]| {
        let mut fields = vec![("vm", "VM1"), ("hresult", "0x8007274C")];
        fields.extend_from_slice(peer);
        signal("migration_failed", 60, "HV01", &fields)
    };
    let on = |host: &str| signal("group_policy_failed", 0, host, &[("file", "Registry.pol")]);
    let hit = timeline(vec![on("HV02"), failure(&[("peer", "HV02")])]);
    let found = correlate(&set, &hit, &[], "en");
    assert_eq!(found.len(), 1);
    // Without a `peer`, the migration's destination is the other end.
    let lent = timeline(vec![on("HV02"), failure(&[("destination", "HV02")])]);
    assert_eq!(correlate(&set, &lent, &[], "en").len(), 1);
    let source = timeline(vec![on("HV01"), failure(&[("peer", "HV02")])]);
    assert!(correlate(&set, &source, &[], "en").is_empty());
    let unknown = timeline(vec![on("HV02"), failure(&[])]);
    assert!(correlate(&set, &unknown, &[], "en").is_empty());
}

#[test]
fn not_code_holds_when_no_code_of_the_signal_is_listed() {
    let set = rules(
        "[[step]]\nname = \"failure\"\nsignal = \"migration_failed\"\nwhere.hresult = { not_code = [\"0x8007000E\"] }\n",
    );
    let with = |fields: &[(&str, &str)]| {
        let t = timeline(vec![signal("migration_failed", 0, "HV01", fields)]);
        correlate(&set, &t, &[], "en").len()
    };
    assert_eq!(with(&[("hresult", "0x80004005")]), 1);
    assert_eq!(with(&[("hresult", "0x8007000E")]), 0);
    // A listed code anywhere in the message's codes counts too.
    assert_eq!(
        with(&[
            ("hresult", "0x80004005"),
            ("codes", "0x80004005 0x8007000E")
        ]),
        0
    );
    assert_eq!(
        with(&[]),
        1,
        "a failure without a code is not explained by the list"
    );
}

#[test]
fn a_medium_ceiling_caps_the_full_form() {
    let set = rules(
        "confidence = \"medium\"\n[[step]]\nname = \"failure\"\nsignal = \"migration_failed\"\n",
    );
    let t = timeline(vec![failed(0, "HV01", "VM1", "0x1")]);
    let found = correlate(&set, &t, &[], "en");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].confidence, Confidence::Medium);
}

#[test]
fn same_vm() {
    let set = rules(
        r#"
[[step]]
name = "start"
signal = "migration_started"
[[step]]
name = "failure"
signal = "migration_failed"
same_vm = "start"
after = { step = "start", within = "1m" }
"#,
    );
    let started = signal(
        "migration_started",
        0,
        "HV01",
        &[("vm", "VM1"), ("source", "HV01")],
    );
    let t = timeline(vec![started.clone(), failed(10, "HV01", "VM2", "0x1")]);
    assert!(correlate(&set, &t, &[], "en").is_empty());
    let t = timeline(vec![started, failed(10, "HV01", "VM1", "0x1")]);
    assert_eq!(correlate(&set, &t, &[], "en")[0].vms, ["VM1"]);
}

#[test]
fn field_conditions_equals_one_of_regex_and_code() {
    for (condition, hits) in [
        ("where.side = \"SOURCE\"", true),
        (
            "where.side = { one_of = [\"destination\", \"source\"] }",
            true,
        ),
        ("where.vm = { regex = \"^VM[0-9]$\" }", true),
        ("where.hresult = { code = \"-2146893039\" }", true),
        (
            "where.hresult = { code = [\"0x8009030E\", \"0x8009030D\"] }",
            false,
        ),
        ("where.vm = { regex = \"^DB\" }", false),
    ] {
        let set = rules(&format!(
            "[[step]]\nname = \"f\"\nsignal = \"migration_failed\"\n{condition}\n"
        ));
        let t = timeline(vec![failed(0, "HV01", "VM1", "0x80090311")]);
        assert_eq!(
            !correlate(&set, &t, &[], "en").is_empty(),
            hits,
            "{condition}"
        );
    }
}

#[test]
fn absence_on_other_same_or_any_host() {
    let body = |host: &str, within: &str| {
        format!("[[step]]\nname = \"dc\"\nsignal = \"dc_unreachable\"\n[[absent]]\nsignal = \"nic_link_down\"\nhost = \"{host}\"\nof = \"dc\"\nwithin = \"{within}\"\n")
    };
    let t = timeline(vec![
        signal("dc_unreachable", 0, "HV01", &[]),
        signal("nic_link_down", 3000, "HV02", &[]),
    ]);
    assert!(correlate(&rules(&body("other", "any")), &t, &[], "en").is_empty());
    assert!(
        !correlate(&rules(&body("other", "10m")), &t, &[], "en").is_empty(),
        "outside the window"
    );
    assert!(
        !correlate(&rules(&body("same", "any")), &t, &[], "en").is_empty(),
        "another host"
    );
    assert!(correlate(&rules(&body("any", "1h")), &t, &[], "en").is_empty());
}

#[test]
fn optional_evidence_missing_is_listed_as_what_to_collect() {
    let text = DOWN_THEN_FAIL.to_string()
        + "[[step]]\nname = \"dc\"\nsignal = \"dc_unreachable\"\nsame_host = \"down\"\noptional = true\n";
    let set = rules_with_text(
        &text,
        "[text.en.collect]
dc = \"System log of {host}\"
",
    );
    let t = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(20, "HV01", "VM1", "0x1"),
    ]);
    let findings = correlate(&set, &t, &[], "en");
    assert_eq!(findings[0].missing, ["System log of HV01"]);
    let t = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        signal("dc_unreachable", 10, "HV01", &[]),
        failed(20, "HV01", "VM1", "0x1"),
    ]);
    let findings = correlate(&set, &t, &[], "en");
    assert!(findings[0].missing.is_empty());
    assert_eq!(findings[0].evidence.len(), 3);
}

#[test]
fn matches_further_apart_than_the_window_are_separate_findings() {
    let set = rules(DOWN_THEN_FAIL);
    let t = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(20, "HV01", "VM1", "0x1"),
        signal("nic_link_down", 60, "HV01", &[]),
        failed(80, "HV01", "VM2", "0x1"),
        signal("nic_link_down", 3600, "HV01", &[]),
        failed(3620, "HV01", "VM3", "0x1"),
    ]);
    let findings = correlate(&set, &t, &[], "en");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].vms, ["VM1", "VM2"]);
    assert_eq!(findings[1].vms, ["VM3"]);
    assert_eq!(findings[0].title, "t on HV01");
}

#[test]
fn a_finding_spans_one_window_from_its_first_match_however_the_matches_chain() {
    let set = rules(DOWN_THEN_FAIL);
    // A match every 6 minutes: each within the window of the previous one, but the third is
    // more than the 10-minute window after the first.
    let t = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(20, "HV01", "VM1", "0x1"),
        signal("nic_link_down", 360, "HV01", &[]),
        failed(380, "HV01", "VM2", "0x1"),
        signal("nic_link_down", 720, "HV01", &[]),
        failed(740, "HV01", "VM3", "0x1"),
    ]);
    let findings = correlate(&set, &t, &[], "en");
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0].vms, ["VM1", "VM2"]);
    assert_eq!(findings[1].vms, ["VM3"]);
}

#[test]
fn the_medium_form_only_where_the_full_form_did_not_hold() {
    let set = rules(
        &(DOWN_THEN_FAIL.to_string()
            + r#"
[medium]
[[medium.step]]
name = "failure"
signal = "migration_failed"
"#),
    );
    let full = timeline(vec![
        signal("nic_link_down", 0, "HV01", &[]),
        failed(20, "HV01", "VM1", "0x1"),
    ]);
    let findings = correlate(&set, &full, &[], "en");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].confidence, Confidence::High);
    let weak = timeline(vec![failed(20, "HV01", "VM1", "0x1")]);
    assert_eq!(
        correlate(&set, &weak, &[], "en")[0].confidence,
        Confidence::Medium
    );
}

#[test]
fn a_condition_applies_only_to_the_signals_of_the_step_that_have_the_field() {
    let set = rules(
        r#"
[[step]]
name = "failure"
signal = ["migration_failed", "destination_switch_missing"]
where.hresult = { code = "0x8007000E" }
"#,
    );
    let switch = timeline(vec![signal(
        "destination_switch_missing",
        0,
        "HV01",
        &[("vm", "VM1"), ("switch", "Corp"), ("host", "HV02")],
    )]);
    assert_eq!(correlate(&set, &switch, &[], "en").len(), 1);
    let memory = timeline(vec![failed(0, "HV01", "VM1", "0x8007000E")]);
    assert_eq!(correlate(&set, &memory, &[], "en").len(), 1);
    let other_code = timeline(vec![failed(0, "HV01", "VM1", "0x8007274C")]);
    assert!(correlate(&set, &other_code, &[], "en").is_empty());
    // A signal that has the field but did not fill it does not pass the condition.
    let no_code = timeline(vec![signal(
        "migration_failed",
        0,
        "HV01",
        &[("vm", "VM1")],
    )]);
    assert!(correlate(&set, &no_code, &[], "en").is_empty());
}

#[test]
fn every_host_signals_count_only_when_every_host_logged_one() {
    let set = rules(
        r#"
[[step]]
name = "critical"
signal = "vm_critical_network"

[[step]]
name = "down"
signal = ["cluster_network_down", "nic_link_down"]
every_host = ["nic_link_down"]
around = { step = "critical", within = "10m" }
"#,
    );
    let critical = || signal("vm_critical_network", 40, "HV01", &[("vm", "VM1")]);
    let link = |host: &str| signal("nic_link_down", 0, host, &[("adapter", "NIC2")]);
    let idle = |host: &str| signal("nic_link_up", 500, host, &[("adapter", "NIC9")]);
    let everywhere = timeline(vec![link("HV01"), link("HV02"), critical()]);
    assert_eq!(correlate(&set, &everywhere, &[], "en").len(), 1);
    // HV03 is in the case (it logged something) but kept its link.
    let two_of_three = timeline(vec![link("HV01"), link("HV02"), critical(), idle("HV03")]);
    assert!(correlate(&set, &two_of_three, &[], "en").is_empty());
    // The cluster's own word is enough, from one node.
    let cluster = timeline(vec![
        signal("cluster_network_down", 5, "HV02", &[("network", "Corp")]),
        critical(),
        idle("HV03"),
    ]);
    assert_eq!(correlate(&set, &cluster, &[], "en").len(), 1);
}
