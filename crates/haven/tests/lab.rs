//! `haven lab`: scenario files on a real cluster on this machine, compared
//! with the simulator. Needs root, QEMU and etcd: skipped loudly without
//! them, required when CI=true. One test at a time (the lab has one fixed
//! name), and this file's tests share the machine with no other lab.
#![cfg(feature = "etcd")]

mod common;

use common::{example, haven};
use haven_agent::netns;
use std::sync::Mutex;

static ONE_LAB: Mutex<()> = Mutex::new(());

fn ready(test: &str) -> bool {
    netns::require(test, "root (namespaces)", netns::is_root())
        && netns::require(
            test,
            "qemu-system-x86_64",
            netns::have("qemu-system-x86_64"),
        )
        && netns::require(test, "etcd", netns::have("etcd"))
}

fn lab_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hvlab-"))
        .collect()
}

/// Removes the lab whatever happens to the test.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = haven(&["lab", "down"]);
    }
}

/// The same scenario files in the simulator and on the real cluster: the
/// same final placement, the same migrations and the same nodes down and
/// back, for figure 1, the queue example (H5, H6), seed 001 (H9: authority
/// fails; certificate, or a second path to the authority [S1.4], moves),
/// a node that crashes and returns (H12) and protection changed live (H11).
#[test]
fn h12_lab_compare_agrees_with_the_simulator() {
    if !ready("h12_lab_compare_agrees_with_the_simulator") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let _down = Down;
    for file in [
        "figure-1.toml",
        "queue-and-recovery.toml",
        "seed-001-authority.toml",
        "seed-001-certificate.toml",
        "seed-001-second-path.toml",
        "node-crash-and-return.toml",
        "protection-changed-live.toml",
    ] {
        let out = haven(&["lab", "compare", &example(file)]);
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{file}:\n{text}");
        assert!(
            out.status.success(),
            "{file} diverged or failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("no divergence"), "{text}");
        assert!(
            lab_namespaces().is_empty(),
            "{file} left {:?}",
            lab_namespaces()
        );
    }
}

/// By hand: up, pull, a second lab refused, down removes all of it.
#[test]
fn lab_up_pull_plug_down_and_one_lab_at_a_time() {
    if !ready("lab_up_pull_plug_down...") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let _down = Down;
    let up = haven(&["lab", "up", &example("figure-1.toml")]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(String::from_utf8_lossy(&up.stdout).starts_with("lab up: 2 nodes, 1 VMs"));
    assert_eq!(lab_namespaces().len(), 4, "{:?}", lab_namespaces());
    let again = haven(&["lab", "run", &example("figure-1.toml")]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already up") && err.contains("haven lab down"),
        "{err}"
    );
    let bad = haven(&["lab", "pull", "A", "eth9"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no NIC eth9 on node A"));
    let pull = haven(&["lab", "pull", "A", "eth1"]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let plug = haven(&["lab", "plug", "A", "eth1"]);
    assert!(plug.status.success());
    let down = haven(&["lab", "down"]);
    assert!(down.status.success());
    assert!(String::from_utf8_lossy(&down.stdout).contains("namespace hvlab-fab"));
    assert!(lab_namespaces().is_empty(), "{:?}", lab_namespaces());
    assert!(!std::path::Path::new("/run/haven-lab").exists());
    let none = haven(&["lab", "down"]);
    assert_eq!(
        String::from_utf8_lossy(&none.stdout).trim(),
        "no lab was up"
    );
    // A file that is not a scenario: one sentence with the line, exit 2.
    let nothing = haven(&["lab", "run", "/nonexistent.toml"]);
    assert_eq!(nothing.status.code(), Some(2));
}

/// Bonds (H1 with NIC teaming): one member pulled is absorbed, the last one
/// moves the VM, as in the simulator. On a kernel without the bonding
/// driver, which no package can add, the lab must refuse the file in one
/// sentence that names the fix, and build nothing.
#[test]
fn h1_lab_bond_absorbs_one_member_and_moves_on_the_last() {
    if !ready("h1_lab_bond_absorbs_one_member_and_moves_on_the_last") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let _down = Down;
    let file = example("bond-absorbs-failure.toml");
    if !haven_agent::lab::bonding_available("hvlab") {
        eprintln!(
            "NOTE h1_lab_bond_absorbs_one_member_and_moves_on_the_last: this kernel has no \
             bonding driver (CONFIG_BONDING); checking the refusal instead of the bond"
        );
        let out = haven(&["lab", "run", &file]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bond-absorbs-failure.toml")
                && err.contains("no bonding driver")
                && err.contains("modprobe bonding"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(lab_namespaces().is_empty(), "{:?}", lab_namespaces());
        return;
    }
    let out = haven(&["lab", "compare", &file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bonds diverged or failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("no divergence"), "{text}");
    assert!(lab_namespaces().is_empty(), "{:?}", lab_namespaces());
}
