//! The reality check against the real kernel: a node namespace with a
//! switch bridge over a veth uplink matches a small inventory, and stops
//! matching when the uplink leaves the bridge. The namespaces are made by
//! [`TestNet`], which deletes them on drop, also when the test fails. Needs
//! root and `ip`; skipped loudly without them, failed in CI.

use haven_agent::netns::{self, TestNet};
use haven_agent::reality::{check, gather, Severity};
use haven_core::parse::parse_scenario;

/// Node A: one NIC on Corp, the uplink of switch Corp, not shared with the
/// host.
const INVENTORY: &str = r#"
name = "reality"

[[network]]
name = "Corp"

[[node]]
name = "A"
memory_mb = 1024
nics = [ { name = "eth1", network = "Corp" } ]
switches = [ { name = "Corp", uplink = "eth1", share_with_host = false } ]
"#;

#[test]
fn a_node_namespace_matches_its_inventory_until_the_uplink_leaves_the_bridge() {
    let test = "a_node_namespace_matches_its_inventory_until_the_uplink_leaves_the_bridge";
    if !(netns::require(test, "root", netns::is_root())
        && netns::require(test, "the `ip` command", netns::have("ip")))
    {
        return;
    }
    let cluster = parse_scenario("reality.toml", INVENTORY)
        .expect("the inventory parses")
        .cluster;
    let mut net = TestNet::new();
    let node = net.namespace("a").unwrap();
    let fabric = net.namespace("f").unwrap();
    net.veth(&node, "eth1", &fabric, "a-eth1").unwrap();
    net.ip_in(&node, &["link", "add", "Corp", "type", "bridge"])
        .unwrap();
    net.ip_in(&node, &["link", "set", "eth1", "master", "Corp"])
        .unwrap();
    net.ip_in(&node, &["link", "set", "Corp", "up"]).unwrap();

    let local = gather(Some(&node)).unwrap();
    assert_eq!(local["Corp"].kind, "bridge", "{local:#?}");
    assert_eq!(local["eth1"].kind, "veth", "{local:#?}");
    assert_eq!(check(&cluster, "A", &local), vec![], "{local:#?}");

    net.ip_in(&node, &["link", "set", "eth1", "nomaster"])
        .unwrap();
    let local = gather(Some(&node)).unwrap();
    let findings = check(&cluster, "A", &local);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].subject, "switch Corp");
    assert_eq!(findings[0].severity, Severity::Error);
    assert_eq!(
        findings[0].message,
        "node A: switch Corp's uplink eth1 is not enslaved to bridge Corp; run \
         `ip link set eth1 master Corp`"
    );
}

#[test]
fn gather_in_a_missing_namespace_is_an_error() {
    let test = "gather_in_a_missing_namespace_is_an_error";
    if !netns::require(test, "the `ip` command", netns::have("ip")) {
        return;
    }
    let net = TestNet::new();
    let err = gather(Some(&net.name("none"))).unwrap_err();
    assert!(err.to_string().contains("ip -j"), "{err}");
}
