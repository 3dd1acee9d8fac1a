//! `haven validate` through the binary: report, JSON, exit status; and the
//! findings `simulate` prints before its timeline.

mod common;

use common::{example, haven};
use serde_json::Value;

#[test]
fn seed_001_is_flagged_with_v1_and_the_fix_and_exits_1() {
    let out = haven(&["validate", &example("seed-001-authority.toml")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("node A\n  error    V1  [switch Corp, nic eth0] if eth0 on A fails"),
        "{text}"
    );
    assert!(
        text.contains("fix: give A a NIC on an authority network that is not a switch uplink"),
        "{text}"
    );
    assert!(text.contains("\nnode B\n"), "grouped by node: {text}");
    assert!(
        text.trim_end().ends_with("1 error, 0 warnings, 2 info"),
        "{text}"
    );
}

#[test]
fn figure_2_passes_with_only_info_and_exits_0() {
    let out = haven(&["validate", "--file", &example("figure-2.toml")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("0 errors, 0 warnings, 2 info"), "{text}");
}

#[test]
fn json_is_an_array_of_findings_with_stable_fields() {
    let out = haven(&["validate", &example("seed-001-authority.toml"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &findings[0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["fix", "nic", "node", "rule", "severity", "switch", "vms", "what"]
    );
    assert_eq!(first["rule"], "V1");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["vms"], serde_json::json!(["VM1"]));
}

#[test]
fn unknown_names_are_v6_findings_not_a_crash() {
    let text = std::fs::read_to_string(example("figure-1.toml")).unwrap();
    let dir = std::env::temp_dir().join(format!("haven-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v6.toml");
    std::fs::write(
        &path,
        text.replace("uplink = \"eth1\"", "uplink = \"eth7\""),
    )
    .unwrap();
    let out = haven(&["validate", path.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("error    V6  [line 32, switch Corp, nic eth7]"),
        "{text}"
    );
}

#[test]
fn unusable_input_exits_2_with_the_same_message_as_simulate() {
    let out = haven(&["validate", "/nonexistent/inventory.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let sim = haven(&["simulate", "/nonexistent/inventory.toml"]);
    assert_eq!(out.stderr, sim.stderr);
}

#[test]
fn simulate_prints_the_findings_as_warnings_and_still_runs() {
    let out = haven(&["simulate", &example("seed-001-authority.toml")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("validate: V1 (error) node A: if eth0 on A fails"),
        "{text}"
    );
    assert!(text.contains("migration_failed"), "{text}");
}
