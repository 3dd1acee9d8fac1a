//! `haven cluster init` against a real etcd (feature `etcd`).
#![cfg(feature = "etcd")]

mod common;

use common::{example, haven};
use haven_agent::netns;
use haven_agent::store::Store;
use haven_agent::testetcd::TestEtcd;
use std::process::Command;
use std::time::Duration;

fn read_back(endpoint: &str, cluster: &str) -> (Option<String>, Vec<(String, String)>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoints = [endpoint.to_string()];
        let store = Store::connect(&endpoints, None, cluster, Duration::from_secs(5))
            .await
            .unwrap();
        let owners = store.owners().await.unwrap().into_iter().collect();
        (store.inventory().await.unwrap(), owners)
    })
}

#[test]
fn init_stores_the_validated_inventory_and_each_vms_owner_once() {
    if !netns::require(
        "init_stores...",
        "etcd (apt-get install etcd-server)",
        netns::have("etcd"),
    ) {
        return;
    }
    let etcd = TestEtcd::start();
    let url = etcd.endpoint();
    let out = haven(&[
        "cluster",
        "init",
        "--file",
        &example("figure-1.toml"),
        "--etcd",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("cluster figure-1: inventory stored (2 nodes, 1 VMs); 1 owner(s) recorded"),
        "{text}"
    );
    let (inventory, owners) = read_back(&url, "figure-1");
    let file = std::fs::read_to_string(example("figure-1.toml")).unwrap();
    assert_eq!(inventory.as_deref(), Some(file.as_str()));
    assert_eq!(owners, [("VM1".to_string(), "A".to_string())]);
    // Again: the owner already recorded is kept (it may have moved since).
    let again = haven(&[
        "cluster",
        "init",
        "--file",
        &example("figure-1.toml"),
        "--etcd",
        &url,
    ]);
    assert!(String::from_utf8(again.stdout)
        .unwrap()
        .contains("0 owner(s) recorded, 1 kept"));
}

#[test]
fn init_refuses_an_inventory_with_validation_errors_and_stores_nothing() {
    if !netns::require(
        "init_refuses...",
        "etcd (apt-get install etcd-server)",
        netns::have("etcd"),
    ) {
        return;
    }
    let etcd = TestEtcd::start();
    let url = etcd.endpoint();
    let out = haven(&[
        "cluster",
        "init",
        "--file",
        &example("seed-001-authority.toml"),
        "--etcd",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("V1") && err.contains("has validation errors"),
        "{err}"
    );
    assert_eq!(read_back(&url, "seed-001-authority"), (None, vec![]));
    // --force stores it anyway, still printing the findings.
    let out = haven(&[
        "cluster",
        "init",
        "--force",
        "--file",
        &example("seed-001-authority.toml"),
        "--etcd",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("V1"));
    let (inventory, owners) = read_back(&url, "seed-001-authority");
    assert!(inventory.is_some());
    assert_eq!(owners.len(), 1);
}

#[test]
fn init_with_an_unreachable_etcd_names_the_endpoint() {
    let out = haven(&[
        "cluster",
        "init",
        "--file",
        &example("figure-1.toml"),
        "--etcd",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

fn with_store<T>(url: &str, cluster: &str, f: impl AsyncFnOnce(Store) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoints = [url.to_string()];
        let store = Store::connect(&endpoints, None, cluster, Duration::from_secs(5))
            .await
            .unwrap();
        f(store).await
    })
}

/// `status`, `events` and `adapter` from outside the cluster
/// (`--cluster ENDPOINTS`) [S0.11], against a stored inventory with no
/// agent running: what etcd holds, and nothing invented.
#[test]
fn status_events_and_adapters_work_from_outside_with_cluster_endpoints() {
    use haven_core::event::{Event, EventKind};
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader};

    if !netns::require(
        "status_events_and_adapters...",
        "etcd (apt-get install etcd-server)",
        netns::have("etcd"),
    ) {
        return;
    }
    let etcd = TestEtcd::start();
    let url = etcd.endpoint();
    let init = haven(&[
        "cluster",
        "init",
        "--file",
        &example("figure-1.toml"),
        "--etcd",
        &url,
    ]);
    assert!(init.status.success());
    // The only cluster in etcd: found without --cluster-name.
    let status = haven(&["status", "--cluster", &url]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.starts_with("cluster figure-1, leader (none)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("A") && l.contains("NO AGENT")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("VM1") && l.contains(" A ")),
        "{text}"
    );
    // A's Corp cable is down as A's agent would publish it: VM1 impaired.
    with_store(&url, "figure-1", async |s| {
        let m = s.join("A", &Default::default(), 10).await.unwrap();
        let links = BTreeMap::from([("eth0".into(), true), ("eth1".into(), false)]);
        s.publish_links(&m, &links).await.unwrap();
        std::mem::forget(m); // keep the lease for the rest of the test
    });
    let json = haven(&["status", "--cluster", &url, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["vms"][0]["impaired"], true, "{value}");
    assert_eq!(value["queue"][0], "VM1", "{value}");
    assert_eq!(value["nodes"][0]["agent"], true, "{value}");

    // H11 from outside: the override is stored and listed.
    let set = haven(&[
        "adapter",
        "set",
        "--cluster",
        &url,
        "--vm",
        "VM1",
        "--switch",
        "Corp",
        "--protected",
        "false",
    ]);
    let out = String::from_utf8_lossy(&set.stdout);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert_eq!(
        out.trim(),
        "VM1 Corp 00155D867239: ClusterMonitored True -> False"
    );
    let list = haven(&["adapter", "list", "--cluster", &url, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["ClusterMonitored"], false, "{rows}");
    let overrides = with_store(&url, "figure-1", async |s| s.protection().await.unwrap());
    assert_eq!(overrides.get(&("VM1".into(), "Corp".into())), Some(&false));
    let bad = haven(&[
        "adapter",
        "set",
        "--cluster",
        &url,
        "--vm",
        "VM9",
        "--protected",
        "false",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("VM9"));

    // events: the stored log, then --follow streams what comes next.
    let event = |vm: &str| Event {
        t_ms: 1_795_318_818_005,
        kind: EventKind::MigrationStarted {
            vm: vm.into(),
            from: "A".into(),
            to: "B".into(),
        },
    };
    with_store(&url, "figure-1", async |s| {
        s.append_events(&[event("VM1")]).await.unwrap()
    });
    let listed = haven(&["events", "--cluster", &url]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.starts_with("     1  2026-11-22T03:40:18.005Z  migration_started"),
        "{text}"
    );
    let mut follow = Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["events", "--follow", "--json", "--cluster", &url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (first["seq"].as_u64(), first["vm"].as_str()),
        (Some(1), Some("VM1"))
    );
    with_store(&url, "figure-1", async |s| {
        s.append_events(&[event("VM2")]).await.unwrap()
    });
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(
        (second["seq"].as_u64(), second["vm"].as_str()),
        (Some(2), Some("VM2"))
    );
    assert_eq!(second["kind"], "migration_started");
}

#[test]
fn live_commands_say_how_to_reach_a_cluster() {
    // No agent configuration here and no --cluster: one sentence, exit 2.
    let out = haven(&["status", "--config", "/nonexistent/agent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/agent.toml"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = haven(&[
        "events",
        "--cluster",
        "http://127.0.0.1:9",
        "--cluster-name",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
}
