//! The simulated world: bandwidth sharing, fixed durations, node faults and
//! authentication, checked through whole runs.

use haven_core::event::EventKind;
use haven_core::parse::parse_scenario;
use haven_sim::{simulate, Report};

const NETWORKS: &str = r#"
[[network]]
name = "Mgmt"
control = true
authority = true
[[network]]
name = "Private"
migration = true
[[network]]
name = "Corp"
"#;

fn node(name: &str, memory: u64) -> String {
    format!(
        "[[node]]\nname = \"{name}\"\nmemory_mb = {memory}\nnics = [\n\
         {{ name = \"eth0\", network = \"Mgmt\" }},\n\
         {{ name = \"eth1\", network = \"Corp\" }},\n\
         {{ name = \"eth2\", network = \"Private\" }} ]\n\
         switches = [ {{ name = \"Corp\", uplink = \"eth1\" }} ]\n"
    )
}

fn vm(name: &str, node: &str, memory: u64, mac: u32, extra: &str) -> String {
    format!(
        "[[vm]]\nname = \"{name}\"\nnode = \"{node}\"\nmemory_mb = {memory}\n{extra}\n\
         adapters = [ {{ switch = \"Corp\", mac = \"00155D{mac:06X}\" }} ]\n"
    )
}

fn step(at: &str, action: &str, node: &str, nic: Option<&str>) -> String {
    let nic = nic.map(|n| format!("nic = \"{n}\"\n")).unwrap_or_default();
    format!("[[step]]\nat = \"{at}\"\naction = \"{action}\"\nnode = \"{node}\"\n{nic}")
}

fn run(text: &str) -> Report {
    let scenario = parse_scenario("t.toml", text).unwrap_or_else(|e| panic!("{e}"));
    simulate(&scenario, 1).unwrap_or_else(|e| panic!("{e}"))
}

fn times(report: &Report, kind: &str) -> Vec<u64> {
    let events = report.events.iter().filter(|e| e.kind.name() == kind);
    events.map(|e| e.t_ms).collect()
}

#[test]
fn migration_s_overrides_the_bandwidth_model() {
    let text = format!(
        "{NETWORKS}{}{}{}{}",
        node("A", 65536),
        node("B", 65536),
        vm("VM1", "A", 4096, 1, "migration_s = 30"),
        step("1s", "link_down", "A", Some("eth1"))
    );
    assert_eq!(times(&run(&text), "migration_completed"), [31_000]);
}

#[test]
fn concurrent_migrations_share_the_busier_nodes_link_equally() {
    // 1 Gbit/s: a 1000 MB VM alone takes 8 s; two from A at once take 16 s;
    // when the first (shorter) ends, the second speeds up.
    let text = format!(
        "[settings]\nmigration_bandwidth_mbps = 1000\n{NETWORKS}{}{}{}{}{}{}",
        node("A", 65536),
        node("B", 65536),
        node("C", 65536),
        vm("VM1", "A", 1000, 1, ""),
        vm("VM2", "A", 2000, 2, ""),
        step("0s", "link_down", "A", Some("eth1"))
    );
    // VM1: 8000 Mbit at 500 Mbit/s = 16 s. VM2: 8000 of its 16000 Mbit by
    // then, the other 8000 at 1000 Mbit/s = 8 s more.
    assert_eq!(times(&run(&text), "migration_completed"), [16_000, 24_000]);
}

#[test]
fn node_down_stops_its_vms_and_aborts_migrations_towards_it() {
    let text = format!(
        "{NETWORKS}{}{}{}{}{}{}",
        node("A", 65536),
        node("B", 65536),
        vm("VM1", "A", 4096, 1, "migration_s = 10"),
        vm("VM2", "B", 4096, 2, ""),
        step("1s", "link_down", "A", Some("eth1")),
        step("2s", "node_down", "B", None),
    );
    let report = run(&text);
    assert_eq!(times(&report, "migration_aborted"), [2_000]);
    assert_eq!(times(&report, "vm_down"), [2_000]);
    assert_eq!(times(&report, "no_eligible_destination"), [2_000]);
    assert_eq!(report.finals["VM1"].node, "A");
    assert!(report.finals["VM1"].impaired);
    assert_eq!(report.finals["VM2"].node, "B");
    assert!(!report.finals["VM2"].running);
    // A stopped VM is not counted as network-impaired.
    assert_eq!(report.vms["VM2"].impaired_ms, 0);
}

#[test]
fn h9_authority_mode_fails_only_when_the_source_cannot_reach_the_authority() {
    let base = format!(
        "[settings]\nmigration_auth = \"authority\"\n{NETWORKS}{}{}{}",
        node("A", 65536),
        node("B", 65536),
        vm("VM1", "A", 4096, 1, ""),
    );
    // Corp fails; Mgmt (authority) still works: the migration succeeds.
    let ok = run(&format!(
        "{base}{}",
        step("1s", "link_down", "A", Some("eth1"))
    ));
    assert_eq!(ok.summary.migrations_completed, 1);
    // Mgmt went first: every try fails with authority_unreachable.
    let text = format!(
        "{base}{}{}",
        step("1s", "link_down", "A", Some("eth0")),
        step("2s", "link_down", "A", Some("eth1"))
    );
    let failed = run(&text);
    assert_eq!(failed.summary.migrations_completed, 0);
    assert!(failed.events.iter().any(|e| matches!(&e.kind,
        EventKind::MigrationFailed { cause, .. } if cause == "authority_unreachable")));
}

#[test]
fn h10_losing_every_control_path_is_reported_not_a_silent_stall() {
    let text = format!(
        "{NETWORKS}{}{}{}{}{}{}",
        node("A", 65536),
        node("B", 65536),
        vm("VM1", "A", 4096, 1, ""),
        step("1s", "link_down", "A", Some("eth0")),
        step("2s", "link_down", "A", Some("eth2")),
        step("3s", "link_down", "A", Some("eth1")),
    );
    let report = run(&text);
    let stuck: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::VmStuck { cause, .. } => Some((e.t_ms, cause.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(stuck, [(3_000, "control_unreachable")]);
}
