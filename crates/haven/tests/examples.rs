//! Every example scenario, run through the `haven` binary with `--json`,
//! shows the behaviour its seed point describes.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn simulate(name: &str, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_haven"))
        .arg("simulate")
        .arg(example(name))
        .arg("--json")
        .args(extra)
        .output()
        .expect("haven runs");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

fn events<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Figure 1 [S0.9]: exactly the report SPEC section 4 shows.
#[test]
fn figure_1_moves_the_vm_to_b_exactly_as_the_spec_report_shows() {
    let report = simulate("figure-1.toml", &[]);
    let expected = json!({
      "scenario": "figure-1",
      "events": [
        {"t_ms": 10000, "kind": "link_down", "node": "A", "nic": "eth1"},
        {"t_ms": 10000, "kind": "vm_network_impaired", "vm": "VM1", "node": "A", "switch": "Corp"},
        {"t_ms": 10000, "kind": "migration_started", "vm": "VM1", "from": "A", "to": "B"},
        {"t_ms": 13277, "kind": "migration_completed", "vm": "VM1", "from": "A", "to": "B"}
      ],
      "final": {"VM1": {"node": "B", "impaired": false}},
      "vms": {"VM1": {"impaired_ms": 3277, "migrations": 1}},
      "summary": {"migrations_completed": 1, "migrations_failed": 0,
                  "migrations_cancelled": 0, "impaired_vm_ms_total": 3277,
                  "max_concurrent_per_node": 1,
                  "migrations_aborted": 0, "vms_impaired_at_end": 0}
    });
    assert_eq!(report, expected);
}

/// Figure 2 [S0.7, S0.10]: the unprotected Backup adapter's failure moves
/// nothing; the Corp failure moves the VM.
#[test]
fn figure_2_backup_failure_moves_nothing_corp_failure_moves_the_vm() {
    let report = simulate("figure-2.toml", &[]);
    let impaired = events(&report, "vm_network_impaired");
    assert_eq!(impaired.len(), 1);
    assert_eq!(impaired[0]["t_ms"], 30000);
    assert_eq!(impaired[0]["switch"], "Corp");
    let started = events(&report, "migration_started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["t_ms"], 30000);
    assert_eq!(
        report["final"]["VM1"],
        json!({"node": "B", "impaired": false})
    );
    // The Backup outage is not counted: the VM was not cut off.
    assert_eq!(report["vms"]["VM1"]["impaired_ms"], 3277);
}

/// [S0.5, S0.6]: two move at once (the limit), four wait; the link returns
/// mid-way: the four queued moves are cancelled, the two in flight complete.
#[test]
fn queue_and_recovery_cancels_queued_moves_and_completes_in_flight_ones() {
    let report = simulate("queue-and-recovery.toml", &[]);
    let started: Vec<&str> = events(&report, "migration_started")
        .iter()
        .map(|e| e["vm"].as_str().unwrap())
        .collect();
    // The high-priority VM5 goes first.
    assert_eq!(started, ["VM5", "VM1"]);
    let queued: Vec<&str> = events(&report, "migration_queued")
        .iter()
        .map(|e| e["vm"].as_str().unwrap())
        .collect();
    assert_eq!(queued, ["VM2", "VM3", "VM4", "VM6"]);
    let cancelled = events(&report, "migration_cancelled");
    assert_eq!(cancelled.len(), 4);
    assert!(cancelled
        .iter()
        .all(|e| e["t_ms"] == 15000 && e["from"] == "A"));
    let completed = events(&report, "migration_completed");
    assert_eq!(completed.len(), 2);
    // Two 8 GB VMs share A's 10 Gbit/s link: 13.108 s each.
    assert!(completed.iter().all(|e| e["t_ms"] == 23108));
    for vm in ["VM2", "VM3", "VM4", "VM6"] {
        assert_eq!(report["final"][vm]["node"], "A");
        assert_eq!(report["vms"][vm]["impaired_ms"], 5000);
    }
    assert_ne!(report["final"]["VM1"]["node"], "A");
    assert_ne!(report["final"]["VM5"]["node"], "A");
    assert_eq!(report["summary"]["max_concurrent_per_node"], 2);
    assert_eq!(report["summary"]["migrations_cancelled"], 4);
}

/// [S0.12]: with 60 s polling, VMs on the failed switch are detected at
/// different moments, up to a minute after the cable is pulled.
#[test]
fn poll_mode_detects_vms_at_staggered_moments_within_a_minute() {
    let report = simulate("poll-mode.toml", &[]);
    let mut times: Vec<u64> = events(&report, "vm_network_impaired")
        .iter()
        .map(|e| e["t_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(times.len(), 4);
    assert!(
        times.iter().all(|&t| t > 10_000 && t <= 70_000),
        "{times:?}"
    );
    times.dedup();
    assert!(times.len() > 1, "detected all at once: {times:?}");
    assert_eq!(report["summary"]["migrations_completed"], 4);
}

#[test]
fn poll_mode_phases_follow_the_seed_and_the_same_seed_gives_the_same_bytes() {
    let detection_times = |seed: &str| -> Vec<Value> {
        let report = simulate("poll-mode.toml", &["--seed", seed]);
        events(&report, "vm_network_impaired")
            .iter()
            .map(|e| e["t_ms"].clone())
            .collect()
    };
    assert_eq!(detection_times("7"), detection_times("7"));
    assert!(["1", "2", "3", "4"]
        .iter()
        .any(|s| detection_times(s) != detection_times("7")));
}

/// [S0.4]: no node can host the VM, so it stays; once one can, it moves.
#[test]
fn no_eligible_destination_keeps_the_vm_then_moves_it_when_b_recovers() {
    let report = simulate("no-eligible-destination.toml", &[]);
    let none = events(&report, "no_eligible_destination");
    assert_eq!(none.len(), 1);
    assert_eq!(none[0]["t_ms"], 10000);
    let started = events(&report, "migration_started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["t_ms"], 30000);
    assert_eq!(started[0]["to"], "B");
    assert_eq!(report["final"]["VM1"]["node"], "B");
    assert_eq!(report["vms"]["VM1"]["impaired_ms"], 30000 - 10000 + 3277);
}

/// Seed 001 [S1.1–S1.3], H9: `authority` mode and the pulled NIC was the
/// only path to the authority: every try fails and the VM is reported stuck.
#[test]
fn seed_001_authority_mode_fails_with_authority_unreachable() {
    let report = simulate("seed-001-authority.toml", &[]);
    let failed = events(&report, "migration_failed");
    assert_eq!(failed.len(), 3, "retry_max tries");
    assert!(failed
        .iter()
        .all(|e| e["cause"] == "authority_unreachable" && e["from"] == "A"));
    let times: Vec<u64> = failed.iter().map(|e| e["t_ms"].as_u64().unwrap()).collect();
    assert_eq!(times, [10_000, 20_000, 40_000], "backoff 10 s, doubling");
    let stuck = events(&report, "vm_stuck");
    assert_eq!(stuck.len(), 1);
    assert_eq!(
        report["final"]["VM1"],
        json!({"node": "A", "impaired": true})
    );
    assert_eq!(report["summary"]["migrations_completed"], 0);
}

/// H9: the same wiring with certificate authentication migrates.
#[test]
fn seed_001_certificate_mode_migrates() {
    let report = simulate("seed-001-certificate.toml", &[]);
    assert_eq!(events(&report, "migration_failed").len(), 0);
    assert_eq!(
        report["final"]["VM1"],
        json!({"node": "B", "impaired": false})
    );
}

/// [S1.4]: a second path to the authority makes `authority` mode work.
#[test]
fn seed_001_second_authority_path_migrates() {
    let report = simulate("seed-001-second-path.toml", &[]);
    assert_eq!(events(&report, "migration_failed").len(), 0);
    assert_eq!(
        report["final"]["VM1"],
        json!({"node": "B", "impaired": false})
    );
}

/// [S0.8]: a bond absorbs one member's failure; the VM moves only when the
/// last member goes.
#[test]
fn bond_absorbs_one_member_and_moves_the_vm_when_the_last_goes() {
    let report = simulate("bond-absorbs-failure.toml", &[]);
    let downs: Vec<(u64, &str)> = events(&report, "link_down")
        .iter()
        .map(|e| (e["t_ms"].as_u64().unwrap(), e["nic"].as_str().unwrap()))
        .collect();
    assert_eq!(
        downs,
        [(10_000, "eth3"), (20_000, "eth4"), (20_000, "bond0")]
    );
    let impaired = events(&report, "vm_network_impaired");
    assert_eq!(impaired.len(), 1);
    assert_eq!(impaired[0]["t_ms"], 20000);
    assert_eq!(report["final"]["VM1"]["node"], "B");
}

/// Every example, text timeline: it runs, and it is byte-identical across
/// runs with the same seed.
#[test]
fn every_example_prints_the_same_timeline_twice() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Scenario files only (examples/agent/ holds agent configurations).
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let run = || {
            Command::new(env!("CARGO_BIN_EXE_haven"))
                .arg("simulate")
                .arg(&path)
                .output()
                .unwrap()
        };
        let (a, b) = (run(), run());
        assert!(a.status.success(), "{}", path.display());
        assert!(String::from_utf8_lossy(&a.stdout).contains("summary:"));
        assert_eq!(a.stdout, b.stdout);
        count += 1;
    }
    assert!(count >= 9);
}

/// H12, a VM is never lost: a node that crashes and returns starts its VMs
/// again, and one whose network went while the node was down moves away.
#[test]
fn h12_node_crash_and_return_starts_the_vm_again_and_moves_it() {
    let report = simulate("node-crash-and-return.toml", &[]);
    let kinds: Vec<&str> = (report["events"].as_array().unwrap().iter())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "node_down",
            "vm_down",
            "link_down",
            "node_up",
            "vm_up",
            "vm_network_impaired",
            "migration_started",
            "migration_completed"
        ]
    );
    assert_eq!(events(&report, "vm_up")[0]["t_ms"], 20000);
    assert_eq!(
        report["final"]["VM1"],
        json!({"node": "B", "impaired": false})
    );
    // Down is not cut off: only the time it ran without its network counts.
    assert_eq!(report["vms"]["VM1"]["impaired_ms"], 3277);
}

/// H11 [S0.11]: an unprotected adapter's cable pulled moves nothing;
/// protecting it again takes effect at once and the VM moves.
#[test]
fn h11_protection_changed_live_moves_the_vm_only_once_protected_again() {
    let report = simulate("protection-changed-live.toml", &[]);
    let impaired = events(&report, "vm_network_impaired");
    assert_eq!(impaired.len(), 1);
    assert_eq!(impaired[0]["t_ms"], 15000);
    let changed = events(&report, "adapter_changed");
    assert_eq!(changed[0]["protected"], false);
    assert_eq!(changed[1]["protected"], true);
    assert_eq!(events(&report, "migration_started")[0]["t_ms"], 15000);
    assert_eq!(
        report["final"]["VM1"],
        json!({"node": "B", "impaired": false})
    );
}
