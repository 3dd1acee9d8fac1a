//! `haven cluster init` against a real etcd (feature `etcd`).
#![cfg(feature = "etcd")]

use haven_agent::netns;
use haven_agent::store::Store;
use haven_agent::testetcd::TestEtcd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

fn example(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    p.to_str().unwrap().to_string()
}

fn haven(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(args)
        .output()
        .unwrap()
}

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
