//! Does this node look like the inventory says? The agent compares its
//! local links with its node's entry in the cluster inventory (the model of
//! SPEC section 1) and reports every mismatch as a [`Finding`]: a wrong or
//! missing bridge, uplink or NIC would otherwise show up only later, as a VM
//! that does not move when its network fails, or moves when it need not.
//!
//! Two halves, so the judgement is testable without a kernel:
//!
//! - [`gather`] reads the links of this node (or of a network namespace)
//!   with `ip -j -d link show` and `ip -j addr show`; [`parse_ip_json`] turns
//!   that JSON into [`LocalLink`]s.
//! - [`check`] is pure: inventory + node name + local links in, findings
//!   out, in inventory order.
//!
//! What the inventory means on Linux (SPEC section 1, DESIGN "The lab"):
//!
//! | inventory | expected locally |
//! |---|---|
//! | NIC | a link of that name |
//! | bond NIC (`members` not empty) | a `bond` link (or a `bridge` standing in for one, on kernels without bonding) whose members are enslaved to it |
//! | switch | a Linux `bridge` named like the switch, enslaving the switch's uplink |
//! | `share_with_host = true` | a global address on the switch's bridge |
//! | `share_with_host = false` | no global address on the switch's bridge |
//!
//! Open vSwitch bridges are not recognised: a switch backed by OVS is
//! reported as not being a Linux bridge.

use haven_core::model::{Cluster, Nic, Node, Switch};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::process::Command;

/// One link of this node as the kernel reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LocalLink {
    /// The interface name (`eth1`, `Corp`).
    pub name: String,
    /// The link type as `ip -d` names it (`veth`, `bridge`, `bond`, `tun`);
    /// empty for a physical port.
    pub kind: String,
    /// The bridge or bond this link is enslaved to, if any.
    pub master: Option<String>,
    /// The link has at least one IPv4 or IPv6 address of global scope
    /// (link-local IPv6 addresses, which every link gets, do not count).
    pub has_address: bool,
    /// The administrative `UP` flag (not the carrier).
    pub admin_up: bool,
}

/// How bad a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// haven would judge this node's networks wrongly: a link it watches is
    /// missing, or VMs are not wired to the NIC the inventory names.
    Error,
    /// Works, but not as the inventory describes (for example, the host
    /// uses a switch's uplink that the inventory says it does not).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A difference between the inventory and this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is about: `node A`, `nic eth1`, `switch Corp`.
    pub subject: String,
    /// One sentence naming the node and the interface: what is wrong, and
    /// how to fix it.
    pub message: String,
    pub severity: Severity,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)
    }
}

/// The links of this machine, or of network namespace `netns`, by name.
///
/// # Errors
/// `ip` is missing, fails (an unknown namespace, for one), or prints
/// something that is not a JSON array.
pub fn gather(netns: Option<&str>) -> io::Result<BTreeMap<String, LocalLink>> {
    let links = ip_json(netns, &["-d", "link", "show"])?;
    let addrs = ip_json(netns, &["addr", "show"])?;
    parse_ip_json(&links, &addrs)
}

/// Runs `ip [-n NETNS] -j ARGS` and returns its stdout.
fn ip_json(netns: Option<&str>, args: &[&str]) -> io::Result<String> {
    let mut command = Command::new("ip");
    if let Some(ns) = netns {
        command.args(["-n", ns]);
    }
    command.arg("-j").args(args);
    let out = command
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `ip`: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip -j {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Builds [`LocalLink`]s from the JSON of `ip -j -d link show` (`links`)
/// and `ip -j addr show` (`addrs`). Unknown fields are ignored and missing
/// or mistyped ones take their defaults; entries without an `ifname` are
/// skipped. An address of a link absent from `links` is ignored.
///
/// # Errors
/// Either text is not a JSON array.
pub fn parse_ip_json(links: &str, addrs: &str) -> io::Result<BTreeMap<String, LocalLink>> {
    let mut local = BTreeMap::new();
    for entry in json_array("ip -j -d link show", links)? {
        let Some(name) = str_field(&entry, "ifname") else {
            continue;
        };
        let link = LocalLink {
            name: name.to_owned(),
            kind: entry
                .get("linkinfo")
                .and_then(|info| str_field(info, "info_kind"))
                .unwrap_or_default()
                .to_owned(),
            master: str_field(&entry, "master").map(str::to_owned),
            has_address: false,
            admin_up: has_flag(&entry, "UP"),
        };
        local.insert(link.name.clone(), link);
    }
    for entry in json_array("ip -j addr show", addrs)? {
        let Some(link) = str_field(&entry, "ifname").and_then(|name| local.get_mut(name)) else {
            continue;
        };
        link.has_address |= has_global_address(&entry);
    }
    Ok(local)
}

fn json_array(what: &str, text: &str) -> io::Result<Vec<Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Array(entries)) => Ok(entries),
        Ok(_) => Err(invalid(format!("{what}: expected a JSON array"))),
        Err(e) => Err(invalid(format!("{what}: {e}"))),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn has_flag(entry: &Value, flag: &str) -> bool {
    entry
        .get("flags")
        .and_then(Value::as_array)
        .is_some_and(|flags| flags.iter().any(|f| f.as_str() == Some(flag)))
}

fn has_global_address(entry: &Value) -> bool {
    let Some(addresses) = entry.get("addr_info").and_then(Value::as_array) else {
        return false;
    };
    addresses.iter().any(|a| {
        matches!(str_field(a, "family"), Some("inet" | "inet6"))
            && str_field(a, "scope") == Some("global")
    })
}

/// Compares node `node` of `cluster` with its local links, and returns what
/// differs, in inventory order (NICs, then switches); empty when the node
/// matches. Each missing link is reported once: a switch whose uplink is
/// missing has only the NIC's finding.
pub fn check(cluster: &Cluster, node: &str, local: &BTreeMap<String, LocalLink>) -> Vec<Finding> {
    let Some(entry) = cluster.node(node) else {
        return vec![Finding {
            subject: format!("node {node}"),
            message: format!(
                "node {node} is not in the cluster inventory; add a [[node]] named {node} or \
                 set the agent's `node` to one of the inventory's nodes"
            ),
            severity: Severity::Error,
        }];
    };
    let mut found = Vec::new();
    for nic in &entry.nics {
        check_nic(entry, nic, local, &mut found);
    }
    for switch in &entry.switches {
        check_switch(entry, switch, local, &mut found);
    }
    found
}

fn error(subject: String, message: String) -> Finding {
    Finding {
        subject,
        message,
        severity: Severity::Error,
    }
}

fn warning(subject: String, message: String) -> Finding {
    Finding {
        subject,
        message,
        severity: Severity::Warning,
    }
}

/// A NIC of the inventory: present, of the right shape, and, unless it is a
/// switch's uplink, not enslaved to a switch.
fn check_nic(
    node: &Node,
    nic: &Nic,
    local: &BTreeMap<String, LocalLink>,
    found: &mut Vec<Finding>,
) {
    let n = &node.name;
    let name = &nic.name;
    let subject = format!("nic {name}");
    let Some(link) = local.get(name) else {
        let what = if nic.is_bond() { "bond" } else { "NIC" };
        found.push(error(
            subject,
            format!(
                "node {n}: {what} {name} (network {}) does not exist; create or rename the \
                 link, or correct the node's `nics` in the inventory",
                nic.network
            ),
        ));
        return;
    };
    if nic.is_bond() {
        check_bond(node, nic, link, local, found);
    } else if matches!(link.kind.as_str(), "bond" | "bridge") {
        found.push(warning(
            subject.clone(),
            format!(
                "node {n}: NIC {name} is a {} here but the inventory lists it as a plain port; \
                 list its ports as `members` in the inventory so haven watches them",
                link.kind
            ),
        ));
    }
    let uplink_of = node.switches.iter().any(|s| s.uplink == *name);
    if let Some(master) = &link.master {
        if !uplink_of && node.switch(master).is_some() {
            found.push(error(
                subject,
                format!(
                    "node {n}: NIC {name} (network {}) is enslaved to bridge {master} although \
                     it is no switch's uplink; run `ip link set {name} nomaster`",
                    nic.network
                ),
            ));
        }
    }
}

/// A bond NIC that exists: a bond (or a bridge standing in for one) whose
/// members are all enslaved to it, and no other links.
fn check_bond(
    node: &Node,
    bond: &Nic,
    link: &LocalLink,
    local: &BTreeMap<String, LocalLink>,
    found: &mut Vec<Finding>,
) {
    let n = &node.name;
    let name = &bond.name;
    if !matches!(link.kind.as_str(), "bond" | "bridge") {
        found.push(error(
            format!("nic {name}"),
            format!(
                "node {n}: bond {name} is a {} here, not a bond; recreate it with \
                 `ip link add {name} type bond` or correct the inventory",
                kind_name(&link.kind)
            ),
        ));
    }
    for member in &bond.members {
        let subject = format!("nic {member}");
        match local.get(member) {
            None => found.push(error(
                subject,
                format!(
                    "node {n}: member {member} of bond {name} does not exist; create or rename \
                     the port, or correct the bond's `members` in the inventory"
                ),
            )),
            Some(port) if port.master.as_deref() != Some(name) => found.push(error(
                subject,
                format!(
                    "node {n}: member {member} of bond {name} is {}; run \
                     `ip link set {member} master {name}`",
                    enslaved_to(port)
                ),
            )),
            Some(_) => {}
        }
    }
    for port in local.values() {
        if port.master.as_deref() == Some(name) && !bond.members.contains(&port.name) {
            let p = &port.name;
            found.push(warning(
                format!("nic {p}"),
                format!(
                    "node {n}: {p} is enslaved to bond {name} but is not one of its members in \
                     the inventory; add {p} to the bond's `members` or run \
                     `ip link set {p} nomaster`"
                ),
            ));
        }
    }
}

/// A switch: its bridge exists, enslaves the uplink (when the uplink
/// exists: a missing one is the NIC's finding), is up, and carries a host
/// address exactly when the host shares the uplink.
fn check_switch(
    node: &Node,
    switch: &Switch,
    local: &BTreeMap<String, LocalLink>,
    found: &mut Vec<Finding>,
) {
    let n = &node.name;
    let name = &switch.name;
    let subject = format!("switch {name}");
    let Some(bridge) = local.get(name) else {
        found.push(error(
            subject,
            format!(
                "node {n}: switch {name} has no bridge named {name}; run \
                 `ip link add {name} type bridge` and enslave its uplink {}",
                switch.uplink
            ),
        ));
        return;
    };
    if bridge.kind != "bridge" {
        found.push(error(
            subject,
            format!(
                "node {n}: switch {name} is a {} here, not a Linux bridge; replace it with \
                 `ip link add {name} type bridge`",
                kind_name(&bridge.kind)
            ),
        ));
        return;
    }
    let uplink = &switch.uplink;
    if let Some(port) = local.get(uplink) {
        let wrong = match port.master.as_deref() {
            Some(master) if master == name => None,
            Some(master) => Some(format!("is enslaved to {master} instead of bridge {name}")),
            None => Some(format!("is not enslaved to bridge {name}")),
        };
        if let Some(wrong) = wrong {
            found.push(error(
                subject.clone(),
                format!(
                    "node {n}: switch {name}'s uplink {uplink} {wrong}; run \
                     `ip link set {uplink} master {name}`"
                ),
            ));
        }
    }
    if !bridge.admin_up {
        found.push(warning(
            subject.clone(),
            format!(
                "node {n}: bridge {name} of switch {name} is administratively down; \
                 run `ip link set {name} up`"
            ),
        ));
    }
    match (switch.share_with_host, bridge.has_address) {
        (true, false) => found.push(warning(
            subject,
            format!(
                "node {n}: switch {name} has share_with_host = true but bridge {name} has no \
                 global address; add the host's address with `ip addr add ADDRESS dev {name}`"
            ),
        )),
        (false, true) => found.push(warning(
            subject,
            format!(
                "node {n}: switch {name} has share_with_host = false but bridge {name} has a \
                 global address; remove it with `ip addr flush dev {name} scope global` or set \
                 share_with_host = true"
            ),
        )),
        _ => {}
    }
}

/// "not enslaved" or "enslaved to X", for messages.
fn enslaved_to(link: &LocalLink) -> String {
    match &link.master {
        None => "not enslaved".to_owned(),
        Some(master) => format!("enslaved to {master}"),
    }
}

/// A link kind for messages, after "a": the physical port has no kind of
/// its own.
fn kind_name(kind: &str) -> String {
    if kind.is_empty() {
        "physical port".to_owned()
    } else {
        format!("link of kind {kind}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_core::parse::parse_scenario;

    /// Node A: a plain port, a switch over a bond of two ports shared with
    /// the host, and a switch over a plain port not shared. Node B exists
    /// only in the inventory.
    const INVENTORY: &str = r#"
        [[network]]
        name = "Mgmt"
        control = true
        [[network]]
        name = "Corp"
        [[network]]
        name = "Backup"

        [[node]]
        name = "A"
        memory_mb = 1024
        nics = [
          { name = "eth0", network = "Mgmt" },
          { name = "bond0", network = "Corp", members = ["eth1", "eth2"] },
          { name = "eth3", network = "Backup" },
        ]
        switches = [
          { name = "Corp", uplink = "bond0", share_with_host = true },
          { name = "Backup", uplink = "eth3", share_with_host = false },
        ]

        [[node]]
        name = "B"
        memory_mb = 1024
        nics = [ { name = "eth0", network = "Mgmt" } ]
    "#;

    fn cluster() -> Cluster {
        parse_scenario("inventory.toml", INVENTORY)
            .expect("the test inventory parses")
            .cluster
    }

    fn link(name: &str, kind: &str, master: Option<&str>, has_address: bool) -> LocalLink {
        LocalLink {
            name: name.to_owned(),
            kind: kind.to_owned(),
            master: master.map(str::to_owned),
            has_address,
            admin_up: true,
        }
    }

    /// Node A exactly as the inventory describes it (the bond stood in by
    /// a bridge, as on a kernel without bonding).
    fn clean() -> BTreeMap<String, LocalLink> {
        [
            link("lo", "", None, false),
            link("eth0", "", None, true),
            link("eth1", "", Some("bond0"), false),
            link("eth2", "", Some("bond0"), false),
            link("bond0", "bridge", Some("Corp"), false),
            link("eth3", "", Some("Backup"), false),
            link("Corp", "bridge", None, true),
            link("Backup", "bridge", None, false),
            link("tap0", "tun", Some("Corp"), false),
        ]
        .into_iter()
        .map(|l| (l.name.clone(), l))
        .collect()
    }

    fn findings(local: &BTreeMap<String, LocalLink>) -> Vec<(String, Severity)> {
        check(&cluster(), "A", local)
            .into_iter()
            .map(|f| (f.subject, f.severity))
            .collect()
    }

    fn only(local: &BTreeMap<String, LocalLink>) -> Finding {
        let mut all = check(&cluster(), "A", local);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    fn edit(f: impl FnOnce(&mut BTreeMap<String, LocalLink>)) -> BTreeMap<String, LocalLink> {
        let mut local = clean();
        f(&mut local);
        local
    }

    #[test]
    fn a_node_as_the_inventory_says_has_no_findings() {
        assert_eq!(check(&cluster(), "A", &clean()), vec![]);
    }

    #[test]
    fn a_real_bond_is_accepted_too() {
        let local = edit(|l| l.get_mut("bond0").unwrap().kind = "bond".into());
        assert_eq!(check(&cluster(), "A", &local), vec![]);
    }

    #[test]
    fn a_node_missing_from_the_inventory() {
        let all = check(&cluster(), "C", &clean());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].subject, "node C");
        assert_eq!(all[0].severity, Severity::Error);
        assert!(all[0].message.contains("not in the cluster inventory"));
    }

    #[test]
    fn a_missing_nic() {
        let f = only(&edit(|l| {
            l.remove("eth0");
        }));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("nic eth0", Severity::Error)
        );
        assert_eq!(
            f.message,
            "node A: NIC eth0 (network Mgmt) does not exist; create or rename the link, or \
             correct the node's `nics` in the inventory"
        );
    }

    #[test]
    fn a_missing_uplink_is_reported_once() {
        let f = only(&edit(|l| {
            l.remove("eth3");
        }));
        assert_eq!(f.subject, "nic eth3");
    }

    #[test]
    fn a_missing_bond() {
        let local = edit(|l| {
            l.remove("bond0");
            l.get_mut("eth1").unwrap().master = None;
            l.get_mut("eth2").unwrap().master = None;
        });
        let all = check(&cluster(), "A", &local);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(all[0]
            .message
            .starts_with("node A: bond bond0 (network Corp) does not exist"));
    }

    #[test]
    fn a_bond_that_is_not_a_bond() {
        let f = only(&edit(|l| l.get_mut("bond0").unwrap().kind = "veth".into()));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("nic bond0", Severity::Error)
        );
        assert!(
            f.message
                .contains("is a link of kind veth here, not a bond"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_missing_bond_member() {
        let f = only(&edit(|l| {
            l.remove("eth2");
        }));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("nic eth2", Severity::Error)
        );
        assert!(f
            .message
            .contains("member eth2 of bond bond0 does not exist"));
    }

    #[test]
    fn a_bond_member_not_enslaved_or_enslaved_elsewhere() {
        let f = only(&edit(|l| l.get_mut("eth1").unwrap().master = None));
        assert_eq!(
            f.message,
            "node A: member eth1 of bond bond0 is not enslaved; run `ip link set eth1 master bond0`"
        );
        let f = only(&edit(|l| {
            l.get_mut("eth1").unwrap().master = Some("br9".into())
        }));
        assert!(f.message.contains("is enslaved to br9;"), "{}", f.message);
    }

    #[test]
    fn a_port_in_a_bond_that_the_inventory_does_not_list() {
        let f = only(&edit(|l| {
            l.insert("eth9".into(), link("eth9", "", Some("bond0"), false));
        }));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("nic eth9", Severity::Warning)
        );
        assert!(f.message.contains("run `ip link set eth9 nomaster`"));
    }

    #[test]
    fn an_aggregate_listed_as_a_plain_port() {
        let f = only(&edit(|l| l.get_mut("eth0").unwrap().kind = "bond".into()));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("nic eth0", Severity::Warning)
        );
        assert!(f.message.contains("is a bond here"));
    }

    #[test]
    fn a_missing_switch_bridge() {
        let f = only(&edit(|l| {
            l.remove("Backup");
            l.get_mut("eth3").unwrap().master = None;
        }));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("switch Backup", Severity::Error)
        );
        assert_eq!(
            f.message,
            "node A: switch Backup has no bridge named Backup; run `ip link add Backup type \
             bridge` and enslave its uplink eth3"
        );
    }

    #[test]
    fn a_switch_that_is_not_a_bridge() {
        let f = only(&edit(|l| {
            l.get_mut("Backup").unwrap().kind = "openvswitch".into()
        }));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("switch Backup", Severity::Error)
        );
        assert!(f
            .message
            .contains("is a link of kind openvswitch here, not a Linux bridge"));
    }

    #[test]
    fn an_uplink_not_enslaved() {
        let f = only(&edit(|l| l.get_mut("eth3").unwrap().master = None));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("switch Backup", Severity::Error)
        );
        assert_eq!(
            f.message,
            "node A: switch Backup's uplink eth3 is not enslaved to bridge Backup; run \
             `ip link set eth3 master Backup`"
        );
    }

    #[test]
    fn an_uplink_on_the_wrong_switch() {
        let f = only(&edit(|l| {
            l.get_mut("eth3").unwrap().master = Some("Corp".into())
        }));
        assert_eq!(
            f.message,
            "node A: switch Backup's uplink eth3 is enslaved to Corp instead of bridge Backup; \
             run `ip link set eth3 master Backup`"
        );
    }

    #[test]
    fn a_nic_that_is_no_uplink_enslaved_to_a_switch() {
        let f = only(&edit(|l| {
            l.get_mut("eth0").unwrap().master = Some("Corp".into())
        }));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("nic eth0", Severity::Error)
        );
        assert_eq!(
            f.message,
            "node A: NIC eth0 (network Mgmt) is enslaved to bridge Corp although it is no \
             switch's uplink; run `ip link set eth0 nomaster`"
        );
    }

    #[test]
    fn a_switch_bridge_administratively_down() {
        let f = only(&edit(|l| l.get_mut("Corp").unwrap().admin_up = false));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("switch Corp", Severity::Warning)
        );
        assert!(f.message.contains("run `ip link set Corp up`"));
    }

    #[test]
    fn host_addresses_must_follow_share_with_host() {
        let f = only(&edit(|l| l.get_mut("Corp").unwrap().has_address = false));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("switch Corp", Severity::Warning)
        );
        assert!(f
            .message
            .contains("share_with_host = true but bridge Corp has no global address"));
        let f = only(&edit(|l| l.get_mut("Backup").unwrap().has_address = true));
        assert_eq!(
            (f.subject.as_str(), f.severity),
            ("switch Backup", Severity::Warning)
        );
        assert!(f
            .message
            .contains("share_with_host = false but bridge Backup has a global"));
    }

    #[test]
    fn findings_come_in_inventory_order() {
        let local = edit(|l| {
            l.get_mut("Backup").unwrap().has_address = true;
            l.remove("eth0");
            l.get_mut("eth3").unwrap().master = None;
        });
        assert_eq!(
            findings(&local),
            vec![
                ("nic eth0".to_owned(), Severity::Error),
                ("switch Backup".to_owned(), Severity::Error),
                ("switch Backup".to_owned(), Severity::Warning),
            ]
        );
    }

    #[test]
    fn every_message_is_one_sentence_naming_the_node() {
        let local = edit(|l| {
            l.remove("eth0");
            l.get_mut("eth1").unwrap().master = None;
            l.get_mut("eth3").unwrap().master = Some("Corp".into());
            l.get_mut("Corp").unwrap().has_address = false;
        });
        let all = check(&cluster(), "A", &local);
        assert_eq!(all.len(), 4, "{all:#?}");
        for f in all {
            assert!(f.message.starts_with("node A: "), "{}", f.message);
            assert!(!f.message.contains(". "), "{}", f.message);
            assert!(!f.message.contains('\n'), "{}", f.message);
        }
    }

    #[test]
    fn a_finding_serializes_with_a_lowercase_severity() {
        let f = only(&edit(|l| l.get_mut("eth3").unwrap().master = None));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["severity"], "error");
        assert_eq!(json["subject"], "switch Backup");
        assert!(f.to_string().starts_with("error: node A: "));
    }

    #[test]
    fn ip_json_becomes_local_links() {
        let links = r#"[
            {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"]},
            {"ifindex":2,"ifname":"br0","flags":["BROADCAST","UP"],
             "linkinfo":{"info_kind":"bridge","info_data":{"stp_state":0}}},
            {"ifindex":3,"link":"v1","ifname":"v0","flags":["BROADCAST"],"master":"br0",
             "linkinfo":{"info_kind":"veth","info_slave_kind":"bridge"}},
            {"ifindex":4,"ifname":"eth0","flags":["UP"]}
        ]"#;
        let addrs = r#"[
            {"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","scope":"host"}]},
            {"ifindex":2,"ifname":"br0","addr_info":[
                {"family":"inet6","local":"fe80::1","scope":"link"},
                {"family":"inet","local":"10.0.0.1","prefixlen":24,"scope":"global"}]},
            {"ifindex":3,"ifname":"v0","addr_info":[{"family":"inet6","local":"fe80::2","scope":"link"}]},
            {"ifindex":4,"ifname":"eth0","addr_info":[{"family":"inet6","local":"2001:db8::1","scope":"global"}]}
        ]"#;
        let local = parse_ip_json(links, addrs).unwrap();
        assert_eq!(local.len(), 4);
        assert_eq!(local["lo"], link("lo", "", None, false));
        assert_eq!(local["br0"], link("br0", "bridge", None, true));
        let v0 = LocalLink {
            admin_up: false,
            ..link("v0", "veth", Some("br0"), false)
        };
        assert_eq!(local["v0"], v0);
        assert_eq!(local["eth0"], link("eth0", "", None, true));
    }

    #[test]
    fn odd_ip_json_does_not_panic() {
        let links = r#"[
            {},
            42,
            {"ifname": 7},
            {"ifname":"x","flags":"UP","master":null,"linkinfo":"bridge"},
            {"ifname":"y","flags":[1, "UP"],"linkinfo":{"info_kind":null}}
        ]"#;
        let addrs = r#"[
            {"ifname":"x","addr_info":{}},
            {"ifname":"y","addr_info":[{}, 3, {"family":"inet","scope":"global"}]},
            {"ifname":"ghost","addr_info":[{"family":"inet","scope":"global"}]}
        ]"#;
        let local = parse_ip_json(links, addrs).unwrap();
        let mut x = link("x", "", None, false);
        x.admin_up = false;
        assert_eq!(local["x"], x);
        assert_eq!(local["y"], link("y", "", None, true));
        assert_eq!(local.len(), 2);
        assert!(parse_ip_json("{}", "[]").is_err());
        assert!(parse_ip_json("[]", "not json").is_err());
        assert!(parse_ip_json("[]", "[]").unwrap().is_empty());
    }
}
