//! The link monitor against the real kernel, in network namespaces this test
//! makes (and [`TestNet`] deletes on drop, also when a test fails). Needs
//! root and `ip`; skipped loudly without them, failed in CI.

use haven_agent::link::{LinkEvent, LinkMonitor, Options};
use haven_agent::netns::{self, TestNet};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a single expected event may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to keep listening to be sure no further event comes.
const QUIET: Duration = Duration::from_millis(400);

fn can_run(test: &str) -> bool {
    netns::require(test, "root", netns::is_root())
        && netns::require(test, "the `ip` command", netns::have("ip"))
}

/// Events for `name` until [`QUIET`] passes with none for it (at least the
/// first within [`EVENT_TIMEOUT`]); events of other links are dropped.
fn events_for(monitor: &LinkMonitor, name: &str) -> Vec<bool> {
    let mut seen = Vec::new();
    let mut deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monitor.recv_timeout(left) {
            Ok(event) if event.ifname == name => {
                seen.push(event.up);
                deadline = Instant::now() + QUIET;
            }
            Ok(_) => {}
            Err(_) => return seen,
        }
    }
}

/// Waits until the monitor has `name` with carrier `up` (links just set up
/// may get carrier a moment after the first dump), then for quiet.
fn settle(monitor: &LinkMonitor, name: &str, up: bool) {
    if monitor.state().get(name) != Some(&up) {
        let events = events_for(monitor, name);
        assert_eq!(events.last(), Some(&up), "{name} settles {up}: {events:?}");
    }
    assert_eq!(monitor.state().get(name), Some(&up), "{name}");
}

/// `ip -o link show` of `link` in `ns`: its flags and state, for checks
/// independent of the monitor.
fn ip_show(ns: &str, link: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", link])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn veth_far_end_down_and_up_gives_one_event_each() {
    if !can_run("veth_far_end_down_and_up_gives_one_event_each") {
        return;
    }
    let mut net = TestNet::new();
    let a = net.namespace("a").unwrap();
    let b = net.namespace("b").unwrap();
    net.veth(&a, "near", &b, "far").unwrap();
    let monitor = LinkMonitor::spawn(Some(&a)).unwrap();
    settle(&monitor, "near", true);

    net.ip_in(&b, &["link", "set", "far", "down"]).unwrap();
    assert_eq!(events_for(&monitor, "near"), vec![false], "far end down");
    net.ip_in(&b, &["link", "set", "far", "up"]).unwrap();
    assert_eq!(events_for(&monitor, "near"), vec![true], "far end up");

    // Our own end taken down by an operator: its carrier goes too.
    net.ip_in(&a, &["link", "set", "near", "down"]).unwrap();
    assert_eq!(events_for(&monitor, "near"), vec![false], "admin down");
    net.ip_in(&a, &["link", "set", "near", "up"]).unwrap();
    assert_eq!(events_for(&monitor, "near"), vec![true], "admin up");

    // Admin-up without carrier is down.
    net.ip_in(&b, &["link", "set", "far", "down"]).unwrap();
    assert_eq!(events_for(&monitor, "near"), vec![false]);
    let shown = ip_show(&a, "near");
    assert!(
        shown.contains(",UP") && shown.contains("NO-CARRIER"),
        "{shown}"
    );
    assert_eq!(monitor.state().get("near"), Some(&false));
    assert!(monitor.failure().is_none());
}

/// A bond (or, on a kernel without bonding, a bridge, whose carrier
/// follows the same rule: up while any port has carrier) over two veths
/// whose peers are in B: the aggregate loses carrier only with its last
/// member, and the monitor trusts the kernel's carrier of the aggregate.
#[test]
fn aggregate_loses_carrier_only_with_its_last_member() {
    if !can_run("aggregate_loses_carrier_only_with_its_last_member") {
        return;
    }
    let mut net = TestNet::new();
    let a = net.namespace("a").unwrap();
    let b = net.namespace("b").unwrap();
    // miimon: the bond checks its members' carrier every 10 ms.
    let bond = [
        "link",
        "add",
        "agg0",
        "type",
        "bond",
        "mode",
        "active-backup",
        "miimon",
        "10",
    ];
    if net.ip_in(&a, &bond).is_err() {
        eprintln!(
            "NOTE: this kernel has no bonding (CONFIG_BONDING); a bridge stands in for the bond"
        );
        net.ip_in(&a, &["link", "add", "agg0", "type", "bridge"])
            .unwrap();
    }
    for (member, peer) in [("m1", "p1"), ("m2", "p2")] {
        net.veth(&a, member, &b, peer).unwrap();
        // A bond port must be down to be enslaved; the bond brings it up.
        net.ip_in(&a, &["link", "set", member, "down"]).unwrap();
        net.ip_in(&a, &["link", "set", member, "master", "agg0"])
            .unwrap();
        net.ip_in(&a, &["link", "set", member, "up"]).unwrap();
    }
    net.ip_in(&a, &["link", "set", "agg0", "up"]).unwrap();
    let monitor = LinkMonitor::spawn(Some(&a)).unwrap();
    settle(&monitor, "agg0", true);
    settle(&monitor, "m1", true);
    settle(&monitor, "m2", true);

    net.ip_in(&b, &["link", "set", "p1", "down"]).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // many miimon rounds
    let (aggregate, members) = drain(&monitor);
    assert_eq!(
        aggregate,
        Vec::<bool>::new(),
        "one member left: carrier stays"
    );
    assert_eq!(members.get("m1"), Some(&vec![false]), "{members:?}");
    assert_eq!(monitor.state().get("agg0"), Some(&true));

    net.ip_in(&b, &["link", "set", "p2", "down"]).unwrap();
    assert_eq!(
        events_for(&monitor, "agg0"),
        vec![false],
        "last member gone"
    );
    assert_eq!(monitor.state().get("agg0"), Some(&false));

    net.ip_in(&b, &["link", "set", "p1", "up"]).unwrap();
    assert_eq!(events_for(&monitor, "agg0"), vec![true], "a member is back");
    assert!(monitor.failure().is_none());
}

/// Every event until quiet: the aggregate's, and the others' by name.
fn drain(monitor: &LinkMonitor) -> (Vec<bool>, BTreeMap<String, Vec<bool>>) {
    let (mut aggregate, mut others) = (Vec::new(), BTreeMap::<String, Vec<bool>>::new());
    while let Ok(event) = monitor.recv_timeout(QUIET) {
        match event.ifname.as_str() {
            "agg0" => aggregate.push(event.up),
            name => others.entry(name.into()).or_default().push(event.up),
        }
    }
    (aggregate, others)
}

#[test]
fn first_dump_reports_existing_links() {
    if !can_run("first_dump_reports_existing_links") {
        return;
    }
    let mut net = TestNet::new();
    let a = net.namespace("a").unwrap();
    let b = net.namespace("b").unwrap();
    net.veth(&a, "live", &b, "p1").unwrap();
    net.veth(&a, "dead", &b, "p2").unwrap();
    net.ip_in(&b, &["link", "set", "p2", "down"]).unwrap();
    net.veth(&a, "off", &b, "p3").unwrap();
    net.ip_in(&a, &["link", "set", "off", "down"]).unwrap(); // admin down, peer up
    let monitor = LinkMonitor::spawn(Some(&a)).unwrap();
    settle(&monitor, "live", true);
    let state = monitor.state();
    assert_eq!(
        state.get("lo"),
        Some(&true),
        "loopback: operstate UNKNOWN with carrier"
    );
    assert_eq!(
        state.get("dead"),
        Some(&false),
        "peer already down: {state:?}"
    );
    assert_eq!(state.get("off"), Some(&false), "{state:?}");
    assert_eq!(state.len(), 4, "{state:?}");
    assert_eq!(events_for(&monitor, "dead"), Vec::<bool>::new());
    // A link that appears later is announced with its state.
    net.ip_in(
        &a,
        &[
            "link", "add", "new0", "type", "veth", "peer", "name", "new1",
        ],
    )
    .unwrap();
    net.ip_in(&a, &["link", "set", "new1", "up"]).unwrap();
    net.ip_in(&a, &["link", "set", "new0", "up"]).unwrap();
    assert_eq!(events_for(&monitor, "new0").last(), Some(&true));
    // And a deleted one goes down and is forgotten.
    net.ip_in(&a, &["link", "del", "new0"]).unwrap();
    assert_eq!(events_for(&monitor, "new0"), vec![false]);
    assert_eq!(monitor.state().get("new0"), None);
    assert_eq!(monitor.state().get("new1"), None, "its peer went with it");
}

/// A tiny receive buffer and a consumer that does not read during a burst
/// of changes: the kernel must drop notifications (ENOBUFS). After the
/// re-dump the monitor's events, applied to its first state, equal the
/// kernel's truth, and no link gets the same state twice in a row.
#[test]
fn overrun_redumps_and_reconciles() {
    if !can_run("overrun_redumps_and_reconciles") {
        return;
    }
    const LINKS: usize = 8;
    let mut net = TestNet::new();
    let a = net.namespace("a").unwrap();
    let b = net.namespace("b").unwrap();
    for i in 0..LINKS {
        net.veth(&a, &format!("x{i}"), &b, &format!("y{i}"))
            .unwrap();
    }
    let options = Options {
        rcvbuf_bytes: Some(1), // the kernel's minimum
        events_max: 1,         // the monitor stalls on the second untaken event
    };
    let monitor = LinkMonitor::spawn_with(Some(&a), options).unwrap();
    for i in 0..LINKS {
        settle(&monitor, &format!("x{i}"), true);
    }
    let mut view = monitor.state();

    // Flap every link 5 times, leaving the even ones down, with MTU changes
    // between: each is a notification without a carrier change. (Admin
    // changes here, not far-end ones: the kernel sends those at once, while
    // carrier changes pass through linkwatch, which merges quick flaps.)
    let mut batch = String::new();
    for round in 0..5 {
        for i in 0..LINKS {
            batch.push_str(&format!("link set x{i} down\nlink set x{i} mtu 1400\n"));
            if round < 4 || i % 2 == 1 {
                batch.push_str(&format!("link set x{i} up\nlink set x{i} mtu 1500\n"));
            }
        }
    }
    let file = std::env::temp_dir().join(format!("{}.batch", net.name("flaps")));
    std::fs::write(&file, batch).unwrap();
    let ran = net.ip_in(&a, &["-batch", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    ran.unwrap();

    let mut last: BTreeMap<String, bool> = BTreeMap::new();
    let mut events: Vec<LinkEvent> = Vec::new();
    while let Ok(event) = monitor.recv_timeout(Duration::from_millis(1500)) {
        events.push(event);
    }
    for event in &events {
        if let Some(&prev) = last.get(&event.ifname) {
            assert_ne!(
                prev, event.up,
                "a repeated state for {}: {events:?}",
                event.ifname
            );
        }
        last.insert(event.ifname.clone(), event.up);
        view.insert(event.ifname.clone(), event.up);
    }
    assert!(monitor.overruns() > 0, "the burst overran the socket");
    for i in 0..LINKS {
        let name = format!("x{i}");
        let truth = ip_show(&a, &name).contains("LOWER_UP");
        assert_eq!(truth, i % 2 == 1, "the kernel: {name}");
        assert_eq!(
            view.get(&name),
            Some(&truth),
            "events: {name} {events:?} state {:?} overruns {}",
            monitor.state(),
            monitor.overruns()
        );
        assert_eq!(monitor.state().get(&name), Some(&truth), "state: {name}");
    }
    assert!(monitor.failure().is_none(), "{:?}", monitor.failure());
}

#[test]
fn monitor_in_a_missing_namespace_is_an_error() {
    if !can_run("monitor_in_a_missing_namespace_is_an_error") {
        return;
    }
    let net = TestNet::new();
    let err = LinkMonitor::spawn(Some(&net.name("nowhere")))
        .err()
        .expect("fails");
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[test]
fn bench_link_measures_every_pull() {
    if !can_run("bench_link_measures_every_pull") {
        return;
    }
    let bench = haven_agent::bench::bench_link(5).unwrap();
    assert_eq!(bench.count, 5);
    assert!(bench.kernel_to_engine_p50_us > 0.0);
    assert!(bench.kernel_to_engine_max_us <= bench.change_to_engine_max_us);
    assert!(bench.change_to_engine_p50_us <= bench.change_to_engine_p99_us);
}
