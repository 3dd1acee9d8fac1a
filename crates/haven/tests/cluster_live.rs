//! A real cluster: etcd and three `haven agent` processes in network
//! namespaces, QEMU guests, cables pulled by setting the fabric-side veth
//! down (`haven_agent::lab`). Needs root, QEMU and etcd: skipped loudly
//! without them, and required when CI=true.
#![cfg(feature = "etcd")]

use haven_agent::lab::{Lab, LabOptions, LEASE_TTL_S};
use haven_agent::netns;
use haven_agent::store::State;
use haven_core::event::{Event, EventKind};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One lab at a time: each runs QEMU guests on this machine's two cores,
/// and all use the same addresses inside their namespaces.
static ONE_LAB: Mutex<()> = Mutex::new(());

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

fn ready(test: &str) -> bool {
    netns::require(test, "root (namespaces)", netns::is_root())
        && netns::require(
            test,
            "qemu-system-x86_64",
            netns::have("qemu-system-x86_64"),
        )
        && netns::require(test, "etcd", netns::have("etcd"))
}

/// An inventory of three nodes A, B, C, each with `eth0` on Mgmt (control
/// and migration) and `eth1` on Corp behind switch Corp, and `vms` (name,
/// node, priority) of 128 MB.
fn inventory(settings: &str, vms: &[(&str, &str, &str)]) -> String {
    let mut text = format!(
        "name = \"live\"\n\n[settings]\n{settings}\n\n\
         [[network]]\nname = \"Mgmt\"\ncontrol = true\nmigration = true\nauthority = true\n\n\
         [[network]]\nname = \"Corp\"\n"
    );
    for node in ["A", "B", "C"] {
        text.push_str(&format!(
            "\n[[node]]\nname = \"{node}\"\nmemory_mb = 4096\nnics = [\n  {{ name = \"eth0\", network = \"Mgmt\" }},\n  {{ name = \"eth1\", network = \"Corp\" }},\n]\nswitches = [ {{ name = \"Corp\", uplink = \"eth1\" }} ]\n"
        ));
    }
    for (k, (name, node, priority)) in vms.iter().enumerate() {
        text.push_str(&format!(
            "\n[[vm]]\nname = \"{name}\"\nnode = \"{node}\"\nmemory_mb = 128\npriority = \"{priority}\"\nadapters = [ {{ switch = \"Corp\", mac = \"00155D8600{:02X}\" }} ]\n",
            k + 1
        ));
    }
    text
}

/// Builds the lab for `inventory`, stores it, starts the agents and waits
/// until every node is a member, one leads, and every VM runs.
fn lab(name: &str, inventory: &str) -> Lab {
    let guest = haven_agent::guest::ensure().expect("the test guest builds");
    let dir = std::env::temp_dir().join(format!("haven-live-{name}-{}", std::process::id()));
    let options = LabOptions {
        prefix: format!("hl{}", std::process::id() % 10_000),
        cluster: "live".into(),
        haven: PathBuf::from(HAVEN),
        dir: dir.clone(),
        guest,
        emulate_bandwidth: false,
    };
    let cluster = haven_core::parse::parse_scenario("inventory", inventory)
        .expect("the test inventory parses")
        .cluster;
    let (nodes, vms) = (cluster.nodes.len(), cluster.vms.len());
    let mut lab = Lab::build(&cluster, options).expect("the lab builds");
    let file = dir.join("inventory.toml");
    std::fs::write(&file, inventory).unwrap();
    lab.init_cluster(&file).expect("cluster init");
    lab.start_agents().expect("agents start");
    wait(
        &lab,
        "every node a member, a leader and every VM running",
        60,
        |s| {
            s.members.len() == nodes
                && s.leader.is_some()
                && s.members.values().map(|m| m.vms.len()).sum::<usize>() == vms
        },
    );
    lab
}

fn state(lab: &Lab) -> State {
    lab.state().expect("etcd answers in the fabric")
}

fn events(lab: &Lab) -> Vec<(u64, Event)> {
    lab.events().expect("etcd answers in the fabric")
}

/// Polls the state until `done`, at most `limit_s`; panics with the agents'
/// logs otherwise.
fn wait(lab: &Lab, what: &str, limit_s: u64, done: impl Fn(&State) -> bool) -> State {
    let deadline = Instant::now() + Duration::from_secs(limit_s);
    loop {
        let s = state(lab);
        if done(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!(
                "not within {limit_s} s: {what}\nstate: {s:#?}\n{}",
                lab.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls the event log until `done`, at most `limit_s`.
fn wait_events(
    lab: &Lab,
    what: &str,
    limit_s: u64,
    done: impl Fn(&[(u64, Event)]) -> bool,
) -> Vec<(u64, Event)> {
    let deadline = Instant::now() + Duration::from_secs(limit_s);
    loop {
        let log = events(lab);
        if done(&log) {
            return log;
        }
        if Instant::now() > deadline {
            panic!(
                "not within {limit_s} s: {what}\nevents: {:?}\n{}",
                kinds(&log),
                lab.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(log: &[(u64, Event)], kind: &str) -> usize {
    log.iter().filter(|(_, e)| e.kind.name() == kind).count()
}

fn kinds(events: &[(u64, Event)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, e)| e.kind.name().to_string())
        .collect()
}

/// Every VM's QEMU exists exactly once, where its owner says. A source
/// copy stays, paused, until its agent sees the ownership flip and quits
/// it: allow it a few seconds to go.
fn assert_runs_once(lab: &Lab, owners: &BTreeMap<String, String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let by_node = lab.qemu_by_node();
        let wrong: Vec<(&String, Vec<&String>)> = (owners.keys())
            .map(|vm| {
                let places = (by_node.iter())
                    .filter(|(_, vms)| vms.contains(vm))
                    .map(|(node, _)| node)
                    .collect();
                (vm, places)
            })
            .filter(|(vm, places)| places != &vec![&owners[*vm]])
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "VMs not running exactly on their owner: {wrong:?} (owners {owners:?}, QEMU {by_node:?})\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sequence numbers are 1, 2, 3, ...: no event lost or written twice.
fn assert_gap_free(events: &[(u64, Event)]) {
    let seqs: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected);
}

#[test]
fn h1_h3_a_pulled_cable_moves_the_vm_to_a_healthy_node_and_survives_an_etcd_restart() {
    if !ready("h1_h3_a_pulled_cable_moves_the_vm...") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = lab("move", &inventory("", &[("VM1", "A", "medium")]));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !lab.ping("VM1") {
        assert!(
            Instant::now() < deadline,
            "VM1 never answered pings\n{}",
            lab.logs()
        );
    }
    let client = lab.client_of("VM1").unwrap().to_string();
    let ip = lab.vm_ips["VM1"].to_string();
    let pinger = haven_agent::testbed::Pinger::start(&client, &ip, Duration::from_millis(20))
        .expect("ping starts");

    std::thread::sleep(Duration::from_millis(200));
    assert!(pinger.answers() > 0, "the client's pings are not answered");
    let pulled = Instant::now();
    lab.pull("A", "eth1").unwrap();
    let s = wait(&lab, "an intent to move VM1", 20, |s| {
        s.intents.contains_key("VM1")
    });
    let to_intent = pulled.elapsed();
    assert_ne!(s.intents["VM1"].to, "A");
    let s = wait(&lab, "VM1 owned by B or C", 60, |s| {
        s.owners.get("VM1").is_some_and(|o| o != "A") && s.intents.is_empty()
    });
    let to_completed = pulled.elapsed();
    let new_home = s.owners["VM1"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lab.ping("VM1") {
        assert!(
            Instant::now() < deadline,
            "VM1 unreachable after moving\n{}",
            lab.logs()
        );
    }
    let gap_ms = pinger.stop();
    assert_runs_once(&lab, &s.owners);
    eprintln!(
        "MEASURED live cluster: link down -> migration intent {} ms, -> ownership flipped {} ms, client gap {gap_ms:.0} ms",
        to_intent.as_millis(),
        to_completed.as_millis()
    );
    let log = wait_events(&lab, "the completion recorded", 10, |l| {
        count(l, "migration_completed") == 1
    });
    let order = kinds(&log);
    let at = |k: &str| {
        order
            .iter()
            .position(|n| n == k)
            .unwrap_or_else(|| panic!("no {k} in {order:?}"))
    };
    assert!(at("link_down") < at("vm_network_impaired"), "{order:?}");
    assert!(
        at("vm_network_impaired") < at("migration_started"),
        "{order:?}"
    );
    assert!(
        at("migration_started") < at("migration_completed"),
        "{order:?}"
    );

    // `haven status` and `haven events` from a node, with its configuration.
    let node_c = &lab.nodes["C"];
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", &node_c.ns, HAVEN, "status", "--config"])
        .arg(&node_c.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("VM1") && l.contains(&new_home)),
        "{text}"
    );
    assert!(text.contains("eth1 DOWN"), "{text}");

    // etcd crashes and comes back: the agents reconnect, nothing is lost
    // or written twice, and the cluster still acts.
    lab.restart_etcd().unwrap();
    wait(
        &lab,
        "three members and a leader after the etcd restart",
        30,
        |s| s.members.len() == 3 && s.leader.is_some(),
    );
    lab.pull(&new_home, "eth1").unwrap();
    let s = wait(&lab, "VM1 moved again after the etcd restart", 60, |s| {
        s.owners.get("VM1").is_some_and(|o| o != &new_home) && s.intents.is_empty()
    });
    // A's Corp is still down: the only healthy node left.
    let third = ["B", "C"].into_iter().find(|n| *n != new_home).unwrap();
    assert_eq!(s.owners["VM1"], third);
    assert_runs_once(&lab, &s.owners);
    let log = wait_events(&lab, "the second completion recorded", 10, |l| {
        count(l, "migration_completed") == 2
    });
    assert_gap_free(&log);
    assert_eq!(count(&log, "migration_started"), 2, "{:?}", kinds(&log));
    lab.down();
}

#[test]
fn h5_h6_six_vms_limit_two_queue_then_cancel_when_the_cable_returns() {
    if !ready("h5_h6_six_vms_limit_two...") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // 100 Mbit/s per migration: a guest takes seconds to move, so the
    // cable is back while four wait, as in examples/queue-and-recovery.toml.
    let vms = [
        ("VM1", "A", "medium"),
        ("VM2", "A", "medium"),
        ("VM3", "A", "medium"),
        ("VM4", "A", "medium"),
        ("VM5", "A", "high"),
        ("VM6", "A", "medium"),
    ];
    let settings = "max_concurrent_migrations = 2\nmigration_bandwidth_mbps = 200";
    let lab = lab("queue", &inventory(settings, &vms));
    lab.pull("A", "eth1").unwrap();
    wait(&lab, "two migrations under way", 20, |s| {
        s.intents.len() == 2
    });
    lab.plug("A", "eth1").unwrap();
    let s = wait(&lab, "the two migrations ended", 90, |s| {
        s.intents.is_empty()
    });
    let log = wait_events(&lab, "both completions recorded", 10, |l| {
        count(l, "migration_completed") == 2
    });
    let order = kinds(&log);
    assert_eq!(count(&log, "migration_started"), 2, "{order:?}");
    assert_eq!(count(&log, "migration_cancelled"), 4, "{order:?}");
    // H5: the high-priority VM went first.
    let first = log.iter().find_map(|(_, e)| match &e.kind {
        EventKind::MigrationStarted { vm, .. } => Some(vm.clone()),
        _ => None,
    });
    assert_eq!(first.as_deref(), Some("VM5"), "{order:?}");
    let moved = s.owners.values().filter(|o| *o != "A").count();
    assert_eq!(moved, 2, "{:?}", s.owners);
    assert_runs_once(&lab, &s.owners);
    lab.down();
}

#[test]
fn h11_h12_a_killed_leader_is_replaced_and_adapter_set_from_another_node_prevents_a_move() {
    if !ready("h11_h12_a_killed_leader...") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let vms = [
        ("VM1", "A", "medium"),
        ("VM2", "B", "medium"),
        ("VM3", "C", "medium"),
    ];
    let mut lab = lab("leader", &inventory("", &vms));
    let s = state(&lab);
    let (leader, _) = s.leader.clone().unwrap();
    // The VM of a node that is not the leader; its cable goes while the
    // cluster has no leader.
    let (vm, home) = [("VM1", "A"), ("VM2", "B"), ("VM3", "C")]
        .into_iter()
        .find(|(_, node)| *node != leader)
        .unwrap();
    let killed = Instant::now();
    lab.kill_agent(&leader).unwrap();
    lab.pull(home, "eth1").unwrap();
    let s = wait(&lab, "a new leader", 30, |s| {
        s.leader.as_ref().is_some_and(|(l, _)| *l != leader)
    });
    let takeover = killed.elapsed();
    eprintln!(
        "MEASURED leader takeover after SIGKILL: {} ms (lease TTL {LEASE_TTL_S} s)",
        takeover.as_millis()
    );
    assert!(
        takeover < Duration::from_secs(LEASE_TTL_S as u64 * 2 + 2),
        "takeover took {takeover:?}"
    );
    assert!(s.leader.is_some());
    // The new leader finishes the pending work: the VM moves, and not to
    // the node without an agent.
    let s = wait(&lab, "the VM moved by the new leader", 60, |s| {
        s.owners.get(vm).is_some_and(|o| o != home) && s.intents.is_empty()
    });
    assert_ne!(&s.owners[vm], &leader, "moved to a node without an agent");
    lab.plug(home, "eth1").unwrap();
    lab.start_agent(&leader).unwrap();
    wait(&lab, "the old leader back as a member", 30, |s| {
        s.members.len() == 3
    });
    assert_runs_once(&lab, &state(&lab).owners);

    // H11 from another node: unprotect a VM's Corp adapter on a node that
    // does not host it, then pull its cable: it stays.
    let s = state(&lab);
    let (target, target_home) = (s.owners.iter())
        .find(|(v, _)| v.as_str() != vm)
        .map(|(v, o)| (v.clone(), o.clone()))
        .unwrap();
    let other = ["A", "B", "C"]
        .into_iter()
        .find(|n| *n != target_home)
        .unwrap();
    let node = &lab.nodes[other];
    let set = std::process::Command::new("ip")
        .args([
            "netns", "exec", &node.ns, HAVEN, "adapter", "set", "--vm", &target,
        ])
        .args(["--switch", "Corp", "--protected", "false", "--config"])
        .arg(&node.config)
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}{}",
        String::from_utf8_lossy(&set.stdout),
        String::from_utf8_lossy(&set.stderr)
    );
    wait(&lab, "the adapter_changed event", 10, |_| {
        events(&lab).iter().any(|(_, e)| {
            matches!(&e.kind, EventKind::AdapterChanged { vm, protected: false, .. } if *vm == target)
        })
    });
    let before = events(&lab).len();
    lab.pull(&target_home, "eth1").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let s = state(&lab);
    assert_eq!(s.owners[&target], target_home, "an unprotected VM moved");
    assert!(!s.intents.contains_key(&target));
    let after = events(&lab);
    assert!(
        after[before..]
            .iter()
            .all(|(_, e)| e.kind.vm() != Some(target.as_str())),
        "events about {target} after it was unprotected: {:?}",
        &after[before..]
    );
    assert!(
        after[before..]
            .iter()
            .any(|(_, e)| e.kind.name() == "link_down"),
        "the pull was not seen"
    );

    // An agent checks its wiring against the inventory when it starts: a
    // switch whose uplink is not in its bridge is reported, not ignored.
    lab.stop_agent(other).unwrap();
    let ns = lab.nodes[other].ns.clone();
    netns::ip(&["-n", &ns, "link", "set", "eth1", "nomaster"]).unwrap();
    lab.start_agent(other).unwrap();
    let s = wait(&lab, "the wiring finding published", 30, |s| {
        s.members.get(other).is_some_and(|m| !m.findings.is_empty())
    });
    let findings = &s.members[other].findings;
    assert!(
        findings
            .iter()
            .any(|f| f.contains("eth1") && f.contains("Corp")),
        "{findings:?}"
    );
    let node = &lab.nodes[other];
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", &node.ns, HAVEN, "status", "--config"])
        .arg(&node.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&findings[0]), "{text}");
    lab.down();
}

/// Seed 001 for real: the pulled NIC carried the VM's network, the control
/// traffic and the only path to the authority. In `authority` mode the
/// migration fails with `authority_unreachable` (H9); in `certificate` mode
/// the VM moves. Either way node A still talks to etcd over Private (H10).
#[test]
fn h9_h10_seed_001_fails_for_want_of_the_authority_and_moves_with_certificates() {
    if !ready("h9_h10_seed_001...") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for (file, moves) in [
        ("seed-001-authority.toml", false),
        ("seed-001-certificate.toml", true),
    ] {
        let text = std::fs::read_to_string(examples.join(file)).unwrap();
        let lab = lab(file.trim_end_matches(".toml"), &text);
        lab.pull("A", "eth0").unwrap();
        if moves {
            let s = wait(&lab, "VM1 moved to B", 60, |s| {
                s.owners.get("VM1").is_some_and(|o| o == "B") && s.intents.is_empty()
            });
            assert_runs_once(&lab, &s.owners);
        } else {
            let log = wait_events(
                &lab,
                "a migration failed for want of the authority",
                30,
                |l| {
                    l.iter().any(|(_, e)| {
                    matches!(&e.kind, EventKind::MigrationFailed { cause, .. } if cause == "authority_unreachable")
                })
                },
            );
            assert_eq!(count(&log, "migration_completed"), 0, "{:?}", kinds(&log));
            let s = state(&lab);
            assert_eq!(s.owners["VM1"], "A");
            assert_runs_once(&lab, &s.owners);
        }
        lab.down();
    }
}
