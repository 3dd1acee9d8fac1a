//! `haven simulate --compare classic`: the same scenario under haven's
//! settings and under the source system's behaviour, side by side.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn path(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    p.to_str().unwrap().to_string()
}

fn compare(rel: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["simulate", &path(rel), "--compare", "classic"])
        .args(extra)
        .output()
        .unwrap()
}

fn json(rel: &str) -> Value {
    let out = compare(rel, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_holds_both_reports_each_in_the_simulate_schema() {
    let both = json("examples/figure-1.toml");
    let alone: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_haven"))
            .args(["simulate", &path("examples/figure-1.toml"), "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(both["haven"], alone);
    let mut keys: Vec<&String> = both.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["classic", "haven"]);
    for k in ["scenario", "events", "final", "vms", "summary"] {
        assert!(both["classic"].get(k).is_some(), "classic lacks {k}");
    }
}

#[test]
fn classic_detects_by_polling_and_is_at_least_10x_slower_on_a_pulled_nic() {
    let both = json("bench/single-nic-40-vms.toml");
    let h = both["haven"]["summary"]["impaired_vm_ms_total"]
        .as_u64()
        .unwrap();
    let c = both["classic"]["summary"]["impaired_vm_ms_total"]
        .as_u64()
        .unwrap();
    assert!(c >= 10 * h, "classic {c} ms vs haven {h} ms");
    // haven detects every VM at the pull; classic over the next minute.
    let detected = |r: &Value| -> Vec<u64> {
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "vm_network_impaired")
            .map(|e| e["t_ms"].as_u64().unwrap())
            .collect()
    };
    assert!(detected(&both["haven"]).iter().all(|&t| t == 10_000));
    let classic = detected(&both["classic"]);
    assert_eq!(classic.len(), 40);
    assert!(classic.iter().all(|&t| t > 10_000 && t <= 70_000));
}

#[test]
fn classic_fails_the_seed_001_wiring_that_haven_handles() {
    let both = json("bench/seed-001-10-nodes.toml");
    assert_eq!(both["haven"]["summary"]["migrations_completed"], 5);
    assert_eq!(both["haven"]["summary"]["migrations_failed"], 0);
    let classic = &both["classic"];
    assert_eq!(classic["summary"]["migrations_completed"], 0);
    let causes: Vec<&Value> = classic["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "migration_failed")
        .map(|e| &e["cause"])
        .collect();
    assert!(!causes.is_empty() && causes.iter().all(|c| *c == "authority_unreachable"));
}

#[test]
fn text_shows_the_table_the_floor_and_the_ratio() {
    let out = compare("bench/single-nic-40-vms.toml", &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "impaired VM time",
        "per-VM cut off, p99",
        "migrations cancelled",
        "VMs left impaired",
        "floor (instant detection",
        "above the floor",
        "classic / haven impaired VM time",
    ] {
        assert!(text.contains(needle), "missing {needle}: {text}");
    }
    let flapping = String::from_utf8(compare("bench/flapping-link.toml", &[]).stdout).unwrap();
    assert!(flapping.contains("floor: n/a"), "{flapping}");
}

#[test]
fn every_bench_scenario_compares() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let rel = format!("bench/{}", p.file_name().unwrap().to_str().unwrap());
            assert!(compare(&rel, &[]).status.success(), "{rel}");
            n += 1;
        }
    }
    // The five incident scenarios and figure-1-128mb (the lab measurement).
    assert_eq!(n, 6);
}
