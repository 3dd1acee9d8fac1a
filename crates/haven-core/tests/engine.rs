//! Engine tests, one or more per rule of SPEC section 2, each asserting the
//! exact actions the engine asks for (STYLE.md 2).

use haven_core::event::{Event, EventKind, FailureCause};
use haven_core::parse::parse_scenario;
use haven_core::{Action, Engine, Input, MigrationId};

/// A cluster where every node has eth0 on Mgmt (control, authority), eth1
/// behind switch Corp, eth2 on Private (migration) and eth3 behind switch
/// Backup. `nodes` are `(name, memory_mb)`; `vms` are TOML `[[vm]]` bodies
/// without the header.
fn cluster(settings: &str, nodes: &[(&str, u64)], vms: &[&str]) -> String {
    let mut s = format!(
        "[settings]\n{settings}\n\
         [[network]]\nname = \"Mgmt\"\ncontrol = true\nauthority = true\n\
         [[network]]\nname = \"Private\"\nmigration = true\n\
         [[network]]\nname = \"Corp\"\n\
         [[network]]\nname = \"Backup\"\n"
    );
    for (name, memory) in nodes {
        s += &format!(
            "[[node]]\nname = \"{name}\"\nmemory_mb = {memory}\nnics = [\n\
             {{ name = \"eth0\", network = \"Mgmt\" }},\n\
             {{ name = \"eth1\", network = \"Corp\" }},\n\
             {{ name = \"eth2\", network = \"Private\" }},\n\
             {{ name = \"eth3\", network = \"Backup\" }},\n]\n\
             switches = [ {{ name = \"Corp\", uplink = \"eth1\" }}, {{ name = \"Backup\", uplink = \"eth3\" }} ]\n"
        );
    }
    for vm in vms {
        s += &format!("[[vm]]\n{vm}\n");
    }
    s
}

/// `name` on `node` with `memory` MB and a protected Corp adapter.
fn vm(name: &str, node: &str, memory: u64) -> String {
    let mac: String = format!(
        "{:0>12}",
        name.bytes().map(|b| format!("{b:02X}")).collect::<String>()
    );
    format!(
        "name = \"{name}\"\nnode = \"{node}\"\nmemory_mb = {memory}\n\
         adapters = [ {{ switch = \"Corp\", mac = \"{}\" }} ]",
        &mac[mac.len() - 12..]
    )
}

fn engine(toml: &str) -> Engine {
    let scenario = parse_scenario("test.toml", toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    Engine::new(&scenario.cluster, 1)
}

fn handle(e: &mut Engine, now: u64, input: Input) -> Vec<Action> {
    e.handle(now, input).expect("input accepted");
    e.take_actions()
}

fn link(node: &str, nic: &str, up: bool) -> Input {
    Input::LinkChanged {
        node: node.into(),
        nic: nic.into(),
        up,
    }
}

fn report(t_ms: u64, kind: EventKind) -> Action {
    Action::Report(Event { t_ms, kind })
}

fn impaired(t: u64, vm: &str, node: &str, switch: &str) -> Action {
    report(
        t,
        EventKind::VmNetworkImpaired {
            vm: vm.into(),
            node: node.into(),
            switch: switch.into(),
        },
    )
}

/// The StartMigration action and its report.
fn start(t: u64, id: u64, vm: &str, from: &str, to: &str) -> [Action; 2] {
    [
        Action::StartMigration {
            id: MigrationId(id),
            vm: vm.into(),
            from: from.into(),
            to: to.into(),
        },
        report(
            t,
            EventKind::MigrationStarted {
                vm: vm.into(),
                from: from.into(),
                to: to.into(),
            },
        ),
    ]
}

fn queued(t: u64, vm: &str, from: &str) -> Action {
    report(
        t,
        EventKind::MigrationQueued {
            vm: vm.into(),
            from: from.into(),
        },
    )
}

fn completed(t: u64, vm: &str, from: &str, to: &str) -> Action {
    report(
        t,
        EventKind::MigrationCompleted {
            vm: vm.into(),
            from: from.into(),
            to: to.into(),
        },
    )
}

fn restored(t: u64, vm: &str, node: &str) -> Action {
    report(
        t,
        EventKind::VmNetworkRestored {
            vm: vm.into(),
            node: node.into(),
        },
    )
}

fn cancelled(t: u64, vm: &str, from: &str, reason: &str) -> Action {
    report(
        t,
        EventKind::MigrationCancelled {
            vm: vm.into(),
            from: from.into(),
            reason: reason.into(),
        },
    )
}

fn concat<const N: usize>(parts: [Vec<Action>; N]) -> Vec<Action> {
    parts.into_iter().flatten().collect()
}

// ---- H1 -----------------------------------------------------------------

#[test]
fn h1_protected_uplink_down_impairs_the_vm_and_moves_it() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    let actions = handle(&mut e, 10_000, link("A", "eth1", false));
    let expected = concat([
        vec![impaired(10_000, "VM1", "A", "Corp")],
        start(10_000, 1, "VM1", "A", "B").to_vec(),
    ]);
    assert_eq!(actions, expected);
    let done = handle(
        &mut e,
        13_277,
        Input::MigrationCompleted { id: MigrationId(1) },
    );
    assert_eq!(done, vec![completed(13_277, "VM1", "A", "B")]);
    let vm = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm), e.topology().node_id("B").unwrap());
    assert!(!e.is_impaired(vm));
}

#[test]
fn h1_unprotected_adapter_never_impairs_the_vm() {
    let backup = "name = \"VM1\"\nnode = \"A\"\nmemory_mb = 1024\nadapters = [\n\
                  { switch = \"Corp\", mac = \"00155D000001\" },\n\
                  { switch = \"Backup\", mac = \"00155D000002\", protected = false } ]";
    let mut e = engine(&cluster("", &[("A", 65536), ("B", 65536)], &[backup]));
    assert_eq!(handle(&mut e, 1_000, link("A", "eth3", false)), vec![]);
    // A link that carries no switch impairs nobody either.
    assert_eq!(handle(&mut e, 2_000, link("A", "eth0", false)), vec![]);
    // The protected one does.
    let actions = handle(&mut e, 3_000, link("A", "eth1", false));
    assert_eq!(actions[0], impaired(3_000, "VM1", "A", "Corp"));
}

#[test]
fn h1_repeated_link_reports_change_nothing() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    assert_eq!(handle(&mut e, 0, link("A", "eth1", true)), vec![]);
    assert_eq!(handle(&mut e, 5, link("A", "eth1", false)).len(), 3);
    assert_eq!(handle(&mut e, 6, link("A", "eth1", false)), vec![]);
}

// ---- H2 -----------------------------------------------------------------

#[test]
fn h2_hold_down_ignores_a_flap_shorter_than_the_hold() {
    let toml = cluster(
        "hold_down_ms = 500",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    );
    let mut e = engine(&toml);
    assert_eq!(handle(&mut e, 1_000, link("A", "eth1", false)), vec![]);
    assert_eq!(e.poll_timeout(), Some(1_500));
    assert_eq!(handle(&mut e, 1_300, link("A", "eth1", true)), vec![]);
    e.handle_timeout(1_500);
    assert_eq!(e.take_actions(), vec![]);
}

#[test]
fn h2_hold_down_detects_a_link_that_stays_down() {
    let toml = cluster(
        "hold_down_ms = 500",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    );
    let mut e = engine(&toml);
    assert_eq!(handle(&mut e, 1_000, link("A", "eth1", false)), vec![]);
    e.handle_timeout(1_499);
    assert_eq!(e.take_actions(), vec![]);
    e.handle_timeout(1_500);
    let expected = concat([
        vec![impaired(1_500, "VM1", "A", "Corp")],
        start(1_500, 1, "VM1", "A", "B").to_vec(),
    ]);
    assert_eq!(e.take_actions(), expected);
}

#[test]
fn h2_hold_down_restarts_when_the_link_flaps_again() {
    let toml = cluster(
        "hold_down_ms = 500",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    );
    let mut e = engine(&toml);
    handle(&mut e, 1_000, link("A", "eth1", false));
    handle(&mut e, 1_200, link("A", "eth1", true));
    handle(&mut e, 1_400, link("A", "eth1", false));
    e.handle_timeout(1_500); // the first hold-down is stale
    assert_eq!(e.take_actions(), vec![]);
    e.handle_timeout(1_900);
    assert_eq!(e.take_actions()[0], impaired(1_900, "VM1", "A", "Corp"));
}

#[test]
fn h2_poll_detection_staggers_vms_within_one_interval() {
    let vms: Vec<String> = (1..=6).map(|i| vm(&format!("VM{i}"), "A", 1024)).collect();
    let vms: Vec<&str> = vms.iter().map(String::as_str).collect();
    let toml = cluster(
        "detection = \"poll\"\npoll_interval_s = 60\nmax_concurrent_migrations = 10",
        &[("A", 65536), ("B", 65536)],
        &vms,
    );
    let mut e = engine(&toml);
    assert_eq!(handle(&mut e, 10_000, link("A", "eth1", false)), vec![]);
    let mut detected = Vec::new();
    while let Some(t) = e.poll_timeout() {
        e.handle_timeout(t);
        for a in e.take_actions() {
            if let Action::Report(Event {
                t_ms,
                kind: EventKind::VmNetworkImpaired { .. },
            }) = a
            {
                detected.push(t_ms);
            }
        }
    }
    assert_eq!(detected.len(), 6);
    assert!(
        detected.iter().all(|&t| t > 10_000 && t <= 70_000),
        "{detected:?}"
    );
    detected.dedup();
    assert!(detected.len() > 1, "all VMs detected at once: {detected:?}");
}

#[test]
fn h2_poll_phases_follow_the_seed() {
    let vms: Vec<String> = (1..=4).map(|i| vm(&format!("VM{i}"), "A", 1024)).collect();
    let vms: Vec<&str> = vms.iter().map(String::as_str).collect();
    let toml = cluster(
        "detection = \"poll\"\nmax_concurrent_migrations = 10",
        &[("A", 65536), ("B", 65536)],
        &vms,
    );
    let scenario = parse_scenario("t.toml", &toml).unwrap();
    // The moments the VMs detect the failure, as a sorted set: a seed must
    // change the phases themselves, not merely which VM gets which.
    let detections = |seed| {
        let mut e = Engine::new(&scenario.cluster, seed);
        e.handle(0, link("A", "eth1", false)).unwrap();
        let mut times = Vec::new();
        while let Some(t) = e.poll_timeout() {
            e.handle_timeout(t);
            times.extend(e.take_actions().into_iter().filter_map(|a| match a {
                Action::Report(Event {
                    t_ms,
                    kind: EventKind::VmNetworkImpaired { .. },
                }) => Some(t_ms),
                _ => None,
            }));
        }
        times.sort_unstable();
        times
    };
    assert_eq!(detections(7), detections(7));
    assert_eq!(detections(7).len(), 4);
    assert_ne!(detections(1), detections(2));
    assert_ne!(detections(2), detections(3));
}

// ---- H3 -----------------------------------------------------------------

#[test]
fn h3_destination_needs_a_switch_for_every_adapter() {
    let two = "name = \"VM1\"\nnode = \"A\"\nmemory_mb = 1024\nadapters = [\n\
               { switch = \"Corp\", mac = \"00155D000001\" },\n\
               { switch = \"Backup\", mac = \"00155D000002\", protected = false } ]";
    let mut toml = cluster("", &[("A", 65536), ("B", 65536)], &[two]);
    // C has more memory but no Backup switch.
    toml += "[[node]]\nname = \"C\"\nmemory_mb = 131072\nnics = [\n\
             { name = \"eth0\", network = \"Mgmt\" },\n{ name = \"eth1\", network = \"Corp\" },\n\
             { name = \"eth2\", network = \"Private\" } ]\n\
             switches = [ { name = \"Corp\", uplink = \"eth1\" } ]\n";
    let mut e = engine(&toml);
    let actions = handle(&mut e, 0, link("A", "eth1", false));
    assert_eq!(actions[1..], start(0, 1, "VM1", "A", "B"));
}

#[test]
fn h3_destination_needs_working_protected_uplinks() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 32768)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("B", "eth1", false));
    let actions = handle(&mut e, 10, link("A", "eth1", false));
    assert_eq!(actions[1..], start(10, 1, "VM1", "A", "C"));
}

#[test]
fn h3_destination_needs_memory_counting_migrations_in_flight() {
    // B has room for one 6 GB VM, not two; C for one more.
    let mut e = engine(&cluster(
        "max_concurrent_migrations = 4",
        &[("A", 65536), ("B", 8192), ("C", 8000)],
        &[
            &vm("VM1", "A", 6144),
            &vm("VM2", "A", 6144),
            &vm("VM3", "A", 6144),
        ],
    ));
    let actions = handle(&mut e, 0, link("A", "eth1", false));
    let starts: Vec<&Action> = actions
        .iter()
        .filter(|a| matches!(a, Action::StartMigration { .. }))
        .collect();
    assert_eq!(starts.len(), 2, "{actions:?}");
    assert_eq!(*starts[0], start(0, 1, "VM1", "A", "B")[0]);
    assert_eq!(*starts[1], start(0, 2, "VM2", "A", "C")[0]);
    assert!(actions.contains(&report(
        0,
        EventKind::NoEligibleDestination {
            vm: "VM3".into(),
            node: "A".into()
        }
    )));
}

#[test]
fn h3_destination_needs_a_shared_working_migration_network() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("B", "eth2", false));
    let actions = handle(&mut e, 10, link("A", "eth1", false));
    assert_eq!(actions[1..], start(10, 1, "VM1", "A", "C"));
}

#[test]
fn h3_draining_node_receives_nothing() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 1024 * 8)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(
        &mut e,
        0,
        Input::SetDraining {
            node: "B".into(),
            draining: true,
        },
    );
    let actions = handle(&mut e, 10, link("A", "eth1", false));
    assert_eq!(actions[1..], start(10, 1, "VM1", "A", "C"));
}

#[test]
fn h3_no_eligible_destination_is_reported_once_and_re_evaluated_when_the_cluster_changes() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("B", "eth1", false));
    let actions = handle(&mut e, 10, link("A", "eth1", false));
    let none = report(
        10,
        EventKind::NoEligibleDestination {
            vm: "VM1".into(),
            node: "A".into(),
        },
    );
    assert_eq!(actions, vec![impaired(10, "VM1", "A", "Corp"), none]);
    // An unrelated change: re-evaluated, still nowhere to go, not reported again.
    assert_eq!(handle(&mut e, 20, link("B", "eth3", false)), vec![]);
    let actions = handle(&mut e, 30, link("B", "eth1", true));
    assert_eq!(actions, start(30, 1, "VM1", "A", "B"));
}

// ---- H4 -----------------------------------------------------------------

#[test]
fn h4_prefers_fewest_incoming_then_most_free_memory_then_name() {
    let mut e = engine(&cluster(
        "max_concurrent_migrations = 3",
        &[("A", 65536), ("D", 32768), ("C", 32768), ("B", 16384)],
        &[
            &vm("VM1", "A", 1024),
            &vm("VM2", "A", 1024),
            &vm("VM3", "A", 1024),
        ],
    ));
    let actions = handle(&mut e, 0, link("A", "eth1", false));
    let targets: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::StartMigration { to, .. } => Some(to.clone()),
            _ => None,
        })
        .collect();
    // C and D tie on memory: C by name; then D (no incoming yet); then B,
    // the only node with nothing incoming.
    assert_eq!(targets, ["C", "D", "B"]);
}

#[test]
fn h4_choice_is_deterministic() {
    let toml = cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 65536)],
        &[&vm("VM1", "A", 1024), &vm("VM2", "A", 1024)],
    );
    let run = || {
        let mut e = engine(&toml);
        handle(&mut e, 0, link("A", "eth1", false))
    };
    assert_eq!(run(), run());
}

// ---- H5 -----------------------------------------------------------------

#[test]
fn h5_limit_counts_source_and_destination_and_the_queue_follows_priority() {
    let low = "name = \"VM1\"\nnode = \"A\"\nmemory_mb = 1024\npriority = \"low\"\n\
               adapters = [ { switch = \"Corp\", mac = \"00155D000001\" } ]";
    let high = "name = \"VM9\"\nnode = \"A\"\nmemory_mb = 1024\npriority = \"high\"\n\
                adapters = [ { switch = \"Corp\", mac = \"00155D000009\" } ]";
    let big = vm("VM2", "A", 8192);
    let small = vm("VM3", "A", 2048);
    let mut e = engine(&cluster(
        "max_concurrent_migrations = 1",
        &[("A", 65536), ("B", 65536), ("C", 65536)],
        &[low, &big, &small, high],
    ));
    let actions = handle(&mut e, 0, link("A", "eth1", false));
    // High first; then medium by expected migration time (VM3 before VM2);
    // low last. A may take part in one migration only.
    let expected = concat([
        ["VM1", "VM2", "VM3", "VM9"]
            .map(|v| impaired(0, v, "A", "Corp"))
            .to_vec(),
        start(0, 1, "VM9", "A", "B").to_vec(),
        vec![
            queued(0, "VM3", "A"),
            queued(0, "VM2", "A"),
            queued(0, "VM1", "A"),
        ],
    ]);
    assert_eq!(actions, expected);
    assert_eq!(e.queue_len(), 3);
    // B is busy as a destination too: the next one goes to C.
    let actions = handle(
        &mut e,
        100,
        Input::MigrationCompleted { id: MigrationId(1) },
    );
    let expected = concat([
        vec![completed(100, "VM9", "A", "B")],
        start(100, 2, "VM3", "A", "C").to_vec(),
    ]);
    assert_eq!(actions, expected);
    let a = e.topology().node_id("A").unwrap();
    assert_eq!(e.in_flight(a), 1);
}

// ---- H6 -----------------------------------------------------------------

#[test]
fn h6_recovery_cancels_queued_moves_but_not_migrations_in_flight() {
    let mut e = engine(&cluster(
        "max_concurrent_migrations = 1",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 1024), &vm("VM2", "A", 1024)],
    ));
    let actions = handle(&mut e, 0, link("A", "eth1", false));
    assert_eq!(actions.last(), Some(&queued(0, "VM2", "A")));
    let actions = handle(&mut e, 500, link("A", "eth1", true));
    assert_eq!(
        actions,
        vec![
            cancelled(500, "VM2", "A", "network_restored"),
            restored(500, "VM2", "A")
        ]
    );
    // VM1 is still migrating, and completes.
    let actions = handle(
        &mut e,
        800,
        Input::MigrationCompleted { id: MigrationId(1) },
    );
    assert_eq!(actions, vec![completed(800, "VM1", "A", "B")]);
    assert_eq!(e.queue_len(), 0);
}

// ---- H7 -----------------------------------------------------------------

#[test]
fn h7_destination_losing_its_network_aborts_and_re_routes() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 32768)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    let actions = handle(&mut e, 1_000, link("B", "eth1", false));
    let abort = Action::AbortMigration {
        id: MigrationId(1),
        vm: "VM1".into(),
        from: "A".into(),
        to: "B".into(),
    };
    let aborted = report(
        1_000,
        EventKind::MigrationAborted {
            vm: "VM1".into(),
            from: "A".into(),
            to: "B".into(),
            reason: "destination_network_down".into(),
        },
    );
    assert_eq!(actions, vec![abort, aborted]);
    // Slots and memory stay taken until the world confirms the cancel.
    let b = e.topology().node_id("B").unwrap();
    assert_eq!(e.in_flight(b), 1);
    let actions = handle(
        &mut e,
        1_050,
        Input::MigrationCancelled { id: MigrationId(1) },
    );
    assert_eq!(actions, start(1_050, 2, "VM1", "A", "C"));
    assert_eq!(e.in_flight(b), 0);
    // Once confirmed, the id is forgotten: a late answer for it is refused.
    let late = e.handle(1_100, Input::MigrationCompleted { id: MigrationId(1) });
    assert!(late.is_err());
    let vm = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm), e.topology().node_id("A").unwrap());
}

/// A cancel can lose the race with the migration's completion: the engine
/// then applies the completion (the VM is on the destination, which lost
/// its network), and H1 takes it from there.
#[test]
fn h7_a_completion_that_wins_the_race_with_the_abort_is_applied() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 32768)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    handle(&mut e, 1_000, link("B", "eth1", false));
    let actions = handle(
        &mut e,
        1_010,
        Input::MigrationCompleted { id: MigrationId(1) },
    );
    let vm = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm), e.topology().node_id("B").unwrap());
    let expected = concat([
        vec![
            completed(1_010, "VM1", "A", "B"),
            impaired(1_010, "VM1", "B", "Corp"),
        ],
        start(1_010, 2, "VM1", "B", "C").to_vec(),
    ]);
    assert_eq!(actions, expected);
    // A cancel confirmation for it now is refused: it is over.
    assert!(e
        .handle(1_020, Input::MigrationCancelled { id: MigrationId(1) })
        .is_err());
}

#[test]
fn h7_destination_node_down_aborts_and_the_vm_keeps_running_on_the_source() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    let actions = handle(&mut e, 1_000, Input::NodeDown { node: "B".into() });
    assert!(matches!(actions[0], Action::AbortMigration { .. }));
    let actions = handle(
        &mut e,
        1_000,
        Input::MigrationCancelled { id: MigrationId(1) },
    );
    assert_eq!(
        actions[0],
        report(
            1_000,
            EventKind::NoEligibleDestination {
                vm: "VM1".into(),
                node: "A".into()
            }
        )
    );
    let actions = handle(&mut e, 2_000, Input::NodeUp { node: "B".into() });
    assert_eq!(actions, start(2_000, 2, "VM1", "A", "B"));
}

// ---- H8 -----------------------------------------------------------------

#[test]
fn h8_failure_backs_off_doubles_prefers_another_destination_then_gives_up() {
    let mut e = engine(&cluster(
        "retry_backoff_s = 10\nretry_max = 3",
        &[("A", 65536), ("B", 65536), ("C", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    let fail = |e: &mut Engine, t, id| {
        let cause = FailureCause::DestinationUnreachable;
        handle(
            e,
            t,
            Input::MigrationFailed {
                id: MigrationId(id),
                cause,
            },
        )
    };
    let actions = handle(&mut e, 0, link("A", "eth1", false));
    assert_eq!(actions[1..], start(0, 1, "VM1", "A", "B"));
    let failed = |t, to: &str| {
        report(
            t,
            EventKind::MigrationFailed {
                vm: "VM1".into(),
                from: "A".into(),
                to: to.into(),
                cause: "destination_unreachable".into(),
            },
        )
    };
    assert_eq!(fail(&mut e, 100, 1), vec![failed(100, "B")]);
    assert_eq!(e.poll_timeout(), Some(10_100));
    e.handle_timeout(10_100);
    assert_eq!(e.take_actions(), start(10_100, 2, "VM1", "A", "C"));
    assert_eq!(fail(&mut e, 10_200, 2), vec![failed(10_200, "C")]);
    assert_eq!(e.poll_timeout(), Some(30_200), "the backoff doubles");
    e.handle_timeout(30_200);
    assert_eq!(e.take_actions(), start(30_200, 3, "VM1", "A", "B"));
    let stuck = report(
        30_300,
        EventKind::VmStuck {
            vm: "VM1".into(),
            node: "A".into(),
            cause: "destination_unreachable (3 tries)".into(),
        },
    );
    assert_eq!(fail(&mut e, 30_300, 3), vec![failed(30_300, "B"), stuck]);
    assert_eq!(e.poll_timeout(), None);
    // The VM never left A; the impairment ends in place when the link returns.
    let vm = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm), e.topology().node_id("A").unwrap());
    assert_eq!(
        handle(&mut e, 40_000, link("A", "eth1", true)),
        vec![restored(40_000, "VM1", "A")]
    );
}

#[test]
fn h8_recovery_during_backoff_cancels_the_retry() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    let cause = FailureCause::Timeout;
    handle(
        &mut e,
        50,
        Input::MigrationFailed {
            id: MigrationId(1),
            cause,
        },
    );
    let actions = handle(&mut e, 60, link("A", "eth1", true));
    assert_eq!(
        actions,
        vec![
            cancelled(60, "VM1", "A", "network_restored"),
            restored(60, "VM1", "A")
        ]
    );
    e.handle_timeout(10_050);
    assert_eq!(e.take_actions(), vec![]);
}

// ---- H9 -----------------------------------------------------------------

#[test]
fn h9_authority_failure_is_reported_with_its_cause() {
    let mut e = engine(&cluster(
        "migration_auth = \"authority\"\nretry_max = 1",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    let cause = FailureCause::AuthorityUnreachable;
    let actions = handle(
        &mut e,
        0,
        Input::MigrationFailed {
            id: MigrationId(1),
            cause,
        },
    );
    let EventKind::MigrationFailed { cause, .. } = (match &actions[0] {
        Action::Report(ev) => ev.kind.clone(),
        other => panic!("{other:?}"),
    }) else {
        panic!("{actions:?}")
    };
    assert_eq!(cause, "authority_unreachable");
}

// ---- H10 ----------------------------------------------------------------

#[test]
fn h10_a_node_with_no_control_path_reports_control_unreachable() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    // Mgmt (control) goes: Private (migration) still carries coordination.
    assert_eq!(handle(&mut e, 0, link("A", "eth0", false)), vec![]);
    handle(&mut e, 10, link("A", "eth2", false));
    let actions = handle(&mut e, 20, link("A", "eth1", false));
    let stuck = report(
        20,
        EventKind::VmStuck {
            vm: "VM1".into(),
            node: "A".into(),
            cause: "control_unreachable".into(),
        },
    );
    assert_eq!(actions, vec![impaired(20, "VM1", "A", "Corp"), stuck]);
    // A path comes back: the VM is moved.
    let actions = handle(&mut e, 30, link("A", "eth2", true));
    assert_eq!(actions, start(30, 1, "VM1", "A", "B"));
}

// ---- H11 ----------------------------------------------------------------

#[test]
fn h11_unprotecting_the_failed_adapter_cancels_the_queued_move() {
    let mut e = engine(&cluster(
        "max_concurrent_migrations = 1",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 1024), &vm("VM2", "A", 1024)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    let set = Input::SetProtected {
        vm: "VM2".into(),
        switch: "Corp".into(),
        protected: false,
    };
    let actions = handle(&mut e, 10, set);
    let changed = report(
        10,
        EventKind::AdapterChanged {
            vm: "VM2".into(),
            switch: "Corp".into(),
            protected: false,
        },
    );
    assert_eq!(
        actions,
        vec![
            changed,
            cancelled(10, "VM2", "A", "adapter_unprotected"),
            restored(10, "VM2", "A")
        ]
    );
}

#[test]
fn h11_protecting_an_adapter_on_a_failed_switch_takes_effect_at_once() {
    let unprotected = "name = \"VM1\"\nnode = \"A\"\nmemory_mb = 1024\n\
                       adapters = [ { switch = \"Corp\", mac = \"00155D000001\", protected = false } ]";
    let mut e = engine(&cluster(
        "detection = \"poll\"",
        &[("A", 65536), ("B", 65536)],
        &[unprotected],
    ));
    assert_eq!(handle(&mut e, 0, link("A", "eth1", false)), vec![]);
    let set = Input::SetProtected {
        vm: "VM1".into(),
        switch: "Corp".into(),
        protected: true,
    };
    let actions = handle(&mut e, 10, set);
    assert_eq!(actions[1], impaired(10, "VM1", "A", "Corp"));
}

#[test]
fn h11_unknown_names_are_refused_and_change_nothing() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    let bad = Input::SetProtected {
        vm: "VM1".into(),
        switch: "Backup".into(),
        protected: false,
    };
    assert!(e.handle(0, bad).is_err());
    assert!(e.handle(0, link("A", "eth9", false)).is_err());
    assert!(e.handle(0, Input::NodeDown { node: "Z".into() }).is_err());
    assert_eq!(e.take_actions(), vec![]);
}

// ---- H12 ----------------------------------------------------------------

#[test]
fn h12_node_down_stops_its_vms_and_they_stay_owned_by_it() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, link("A", "eth1", false));
    let actions = handle(&mut e, 10, Input::NodeDown { node: "A".into() });
    assert!(matches!(actions[0], Action::AbortMigration { .. }));
    assert_eq!(
        actions.last(),
        Some(&report(
            10,
            EventKind::VmDown {
                vm: "VM1".into(),
                node: "A".into()
            }
        ))
    );
    let vm = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm), e.topology().node_id("A").unwrap());
    let b = e.topology().node_id("B").unwrap();
    // B's slot is held until the world confirms the cancel.
    assert_eq!(e.in_flight(b), 1);
    let actions = handle(&mut e, 20, Input::MigrationCancelled { id: MigrationId(1) });
    assert_eq!(actions, vec![]);
    assert_eq!(e.in_flight(b), 0);
}

#[test]
fn h12_a_node_back_starts_its_vms_again_and_one_still_cut_off_moves() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    ));
    handle(&mut e, 0, Input::NodeDown { node: "A".into() });
    let vm = e.topology().vm_id("VM1").unwrap();
    // Stopped: a cable pulled under it impairs nothing.
    assert_eq!(handle(&mut e, 5, link("A", "eth1", false)), vec![]);
    assert!(!e.is_impaired(vm));
    let actions = handle(&mut e, 10, Input::NodeUp { node: "A".into() });
    let up = report(
        10,
        EventKind::VmUp {
            vm: "VM1".into(),
            node: "A".into(),
        },
    );
    let [intent, started] = start(10, 1, "VM1", "A", "B");
    assert_eq!(
        actions,
        vec![up, impaired(10, "VM1", "A", "Corp"), intent, started]
    );
    assert_eq!(e.owner(vm), e.topology().node_id("A").unwrap());
    // A second `node_up` starts nothing twice.
    assert_eq!(
        handle(&mut e, 20, Input::NodeUp { node: "A".into() }),
        vec![]
    );
}

/// A node back while the migration out of it is not settled: its VM
/// waits, as the migration may yet land (never twice). Found by the
/// property test: a second migration of it made a node's memory negative.
#[test]
fn h12_a_node_back_mid_migration_starts_the_vm_only_once_the_migration_ends() {
    let setup = || {
        let mut e = engine(&cluster(
            "",
            &[("A", 65536), ("B", 65536)],
            &[&vm("VM1", "A", 4096)],
        ));
        handle(&mut e, 0, link("A", "eth1", false));
        handle(&mut e, 10, Input::NodeDown { node: "A".into() });
        assert_eq!(
            handle(&mut e, 20, Input::NodeUp { node: "A".into() }),
            vec![]
        );
        e
    };
    let vm_up = report(
        30,
        EventKind::VmUp {
            vm: "VM1".into(),
            node: "A".into(),
        },
    );
    // The cancel settles it on A: it starts there, and moves (A's Corp is
    // still down).
    let mut e = setup();
    let actions = handle(&mut e, 30, Input::MigrationCancelled { id: MigrationId(1) });
    let [intent, started] = start(30, 2, "VM1", "A", "B");
    let expected = vec![vm_up, impaired(30, "VM1", "A", "Corp"), intent, started];
    assert_eq!(actions, expected);
    // The migration won the race: it runs on B and is not started on A.
    let mut e = setup();
    let actions = handle(&mut e, 30, Input::MigrationCompleted { id: MigrationId(1) });
    assert_eq!(actions, vec![completed(30, "VM1", "A", "B")]);
    let vm = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm), e.topology().node_id("B").unwrap());
    // Running on B: a cable pulled there impairs it.
    let actions = handle(&mut e, 40, link("B", "eth1", false));
    assert!(
        actions.contains(&impaired(40, "VM1", "B", "Corp")),
        "{actions:?}"
    );
}

/// A real-time caller may hand the engine an input from after a timer's due
/// time before it calls `handle_timeout`: the timer fires first, and no
/// event goes back in time (found by review: this panicked in debug).
#[test]
fn h2_a_due_timer_fires_before_a_later_input_and_time_never_runs_backwards() {
    let toml = cluster(
        "detection = \"poll\"",
        &[("A", 65536), ("B", 65536)],
        &[&vm("VM1", "A", 4096)],
    );
    let mut e = engine(&toml);
    handle(&mut e, 1_000, link("A", "eth1", false));
    let due = e.poll_timeout().expect("a poll is armed");
    handle(&mut e, due - 100, link("A", "eth1", true));
    let mut actions = handle(&mut e, due + 2, link("A", "eth1", false));
    e.handle_timeout(due + 3);
    actions.extend(e.take_actions());
    // An input from the past is taken as now.
    actions.extend(handle(&mut e, 5, link("B", "eth3", false)));
    let times: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Report(ev) => Some(ev.t_ms),
            _ => None,
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

/// H12 across a leader change: a new leader's engine takes over a
/// migration already under way instead of starting a second one, and its
/// own migration ids start above its predecessors'.
#[test]
fn h12_a_new_leader_adopts_a_migration_in_flight_and_never_starts_it_twice() {
    let mut e = engine(&cluster(
        "",
        &[("A", 65536), ("B", 65536), ("C", 65536)],
        &[&vm("VM1", "A", 4096), &vm("VM2", "A", 4096)],
    ));
    e.first_migration_id(1 << 32);
    e.adopt_migration(5, MigrationId(7), "VM1", "A", "B")
        .unwrap();
    // The same migration cannot be adopted twice, nor from the wrong node.
    assert!(e
        .adopt_migration(5, MigrationId(7), "VM2", "A", "C")
        .is_err());
    assert!(e
        .adopt_migration(5, MigrationId(8), "VM2", "B", "C")
        .is_err());
    let b = e.topology().node_id("B").unwrap();
    assert_eq!(e.in_flight(b), 1);
    // A's Corp is down (that is why VM1 was moving): only VM2 is new.
    let actions = handle(&mut e, 10, link("A", "eth1", false));
    let expected = concat([
        vec![impaired(10, "VM2", "A", "Corp")],
        start(10, 1 << 32, "VM2", "A", "C").to_vec(),
    ]);
    assert_eq!(actions, expected);
    let actions = handle(&mut e, 20, Input::MigrationCompleted { id: MigrationId(7) });
    assert_eq!(actions, vec![completed(20, "VM1", "A", "B")]);
    let vm1 = e.topology().vm_id("VM1").unwrap();
    assert_eq!(e.owner(vm1), b);
}
