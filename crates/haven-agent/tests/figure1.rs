//! Figure 1 [S0.9] for real: the engine, the netlink link monitor and the
//! QEMU world together, in network namespaces. The cable behind node A's
//! VM bridge is pulled (its fabric-side peer goes down); the monitor sees
//! the carrier go, the engine decides, the world live-migrates the guest
//! over TLS to B, and the client pinging it gets answers again.

use haven_agent::link::{LinkMonitor, NodeLinks};
use haven_agent::netns::{self, have, require};
use haven_agent::qemu::MigrationPolicy;
use haven_agent::testbed::{BCerts, Testbed, MIGRATION_IP_A, MIGRATION_IP_B};
use haven_agent::world::{Node, QemuWorld};
use haven_core::event::EventKind;
use haven_core::parse::parse_scenario;
use haven_core::runtime::carry_out;
use haven_core::{Engine, Input};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The testbed's wiring as a haven inventory: A and B each have the VM
/// bridge `br0` on their `uplink` NIC (network Corp) and the migration veth
/// `mig` (network Private).
const CLUSTER: &str = r#"
name = "figure-1-real"

[[network]]
name = "Corp"

[[network]]
name = "Private"
control = true
migration = true

[[node]]
name = "A"
memory_mb = 4096
nics = [ { name = "uplink", network = "Corp" }, { name = "mig", network = "Private" } ]
switches = [ { name = "br0", uplink = "uplink" } ]

[[node]]
name = "B"
memory_mb = 4096
nics = [ { name = "uplink", network = "Corp" }, { name = "mig", network = "Private" } ]
switches = [ { name = "br0", uplink = "uplink" } ]

[[vm]]
name = "vm1"
node = "A"
memory_mb = 128
adapters = [ { switch = "br0", mac = "52:54:00:4a:76:01" } ]
"#;

fn can_run(test: &str) -> bool {
    require(test, "root", netns::is_root())
        && require(
            test,
            "qemu-system-x86_64 (apt-get install qemu-system-x86)",
            have("qemu-system-x86_64"),
        )
        && require(test, "ip (apt-get install iproute2)", have("ip"))
        && require(test, "ping (apt-get install iputils-ping)", have("ping"))
}

#[test]
fn a_pulled_cable_moves_the_vm_to_b_and_the_client_reaches_it_again() {
    if !can_run("a_pulled_cable_moves_the_vm_to_b_and_the_client_reaches_it_again") {
        return;
    }
    let scenario = parse_scenario("figure-1-real.toml", CLUSTER).expect("inventory");
    let bed = Testbed::new(BCerts::ClusterCa).expect("testbed");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let node = |host: &haven_agent::qemu::Host, ip: &str| Node {
        host: Arc::new(host.clone()),
        migration_ip: ip.parse().expect("address"),
    };
    let nodes = BTreeMap::from([
        ("A".to_string(), node(&bed.a, MIGRATION_IP_A)),
        ("B".to_string(), node(&bed.b, MIGRATION_IP_B)),
    ]);
    let mut world = QemuWorld::new(runtime.handle().clone(), nodes, MigrationPolicy::default());
    world
        .start_vm("A", bed.vm_def("vm1", 128))
        .expect("vm1 on A");
    let source_pid = world.pid("vm1").expect("vm1 runs");
    assert!(
        bed.ping_until(Duration::from_secs(90)),
        "the guest never answered on A"
    );

    let ns_a = bed.a.netns.clone().expect("A has a namespace");
    let monitor = LinkMonitor::spawn(Some(&ns_a)).expect("link monitor in A");
    let links = NodeLinks::from_cluster(&scenario.cluster, "A").expect("node A");
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let mut engine = Engine::new(&scenario.cluster, 1);
    for input in links.initial_inputs(&monitor.state()) {
        engine.handle(now(), input).expect("initial state");
    }
    assert!(engine.take_actions().is_empty(), "A's links start up");

    let pinger = bed.pinger(Duration::from_millis(20)).expect("pinger");
    std::thread::sleep(Duration::from_millis(500));
    // Pull the cable: the fabric side of A's uplink goes down.
    let fabric = bed.net.name("fab");
    bed.net
        .ip_in(&fabric, &["link", "set", "to-a", "down"])
        .expect("pull the cable");

    let vm = engine.topology().vm_id("vm1").expect("vm1");
    let b = engine.topology().node_id("B").expect("B");
    let deadline = Instant::now() + Duration::from_secs(120);
    while engine.owner(vm) != b {
        assert!(
            Instant::now() < deadline,
            "vm1 never reached B: {:?}",
            world.events
        );
        let mut inputs: Vec<Input> = Vec::new();
        if let Ok(event) = monitor.recv_timeout(Duration::from_millis(20)) {
            inputs.extend(links.input(&event));
        }
        inputs.extend(world.answer(Duration::ZERO));
        for input in inputs {
            engine.handle(now(), input).expect("engine accepts");
        }
        engine.handle_timeout(now());
        carry_out(&mut world, engine.take_actions()).expect("world acts");
    }
    assert!(
        bed.ping_until(Duration::from_secs(30)),
        "the guest does not answer on B"
    );
    let gap_ms = pinger.stop();
    eprintln!("figure 1 for real: the client saw no answer for {gap_ms:.0} ms at most");

    let kinds: Vec<&str> = world.events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "vm_network_impaired",
            "migration_started",
            "migration_completed"
        ],
        "{:?}",
        world.events
    );
    assert!(matches!(
        &world.events[0].kind,
        EventKind::VmNetworkImpaired { node, switch, .. } if node == "A" && switch == "br0"
    ));
    // The source copy is gone; exactly one QEMU runs the VM, on B.
    assert!(
        !haven_agent::qemu::pid_alive(source_pid),
        "the source QEMU survived"
    );
    assert_eq!(bed.qemu_processes().len(), 1, "{:?}", bed.qemu_processes());
    world.stop_all();
}
