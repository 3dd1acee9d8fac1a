//! Topology rules V1–V6 (SPEC section 6): wiring that would make haven's
//! protection fail or stall, found before a cable is ever pulled.
//!
//! Every rule follows from the model (networks' flags, which NIC is whose
//! uplink, which adapters are protected), never from names.

use crate::model::{Cluster, MigrationAuth};
use crate::parse::Dangling;
use crate::topology::{NicIdx, NodeId, SwitchName, Topology};
use serde::Serialize;
use std::collections::BTreeSet;

/// How bad a finding is. Ordered so that errors sort first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Protection will fail: `haven validate` exits 1.
    Error,
    /// Protection may stall or cannot help some VMs.
    Warning,
    /// Worth knowing; nothing breaks.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding: the rule, how bad, what it concerns, what would happen and
/// the fix. The JSON field names are stable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub node: Option<String>,
    pub switch: Option<String>,
    pub nic: Option<String>,
    pub vms: Vec<String>,
    /// One sentence: what would happen.
    pub what: String,
    /// One sentence: how to fix it.
    pub fix: String,
    /// The line of the file, when the finding points at one (V6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// Checks `cluster` against V1–V5 (V6, unknown names, is found while
/// parsing: see [`dangling_findings`]). Findings are grouped by node in
/// file order, errors first within a node; cluster-wide ones come last.
pub fn validate(cluster: &Cluster) -> Vec<Finding> {
    let topo = Topology::new(cluster);
    let check = Check {
        cluster,
        topo: &topo,
    };
    let mut findings = Vec::new();
    for node in topo.node_ids() {
        let mut of_node = Vec::new();
        check.v1_authority_path(node, &mut of_node);
        check.v2_switch_nowhere_else(node, &mut of_node);
        check.v3_migration_and_control(node, &mut of_node);
        check.v4_single_nic_uplink(node, &mut of_node);
        of_node.sort_by_key(|f| (f.severity, f.rule));
        findings.extend(of_node);
    }
    check.v5_memory(&mut findings);
    findings
}

/// V6: each dangling reference the lenient parser found, as an error.
pub fn dangling_findings(dangling: &[Dangling]) -> Vec<Finding> {
    dangling
        .iter()
        .map(|d| Finding {
            rule: "V6",
            severity: Severity::Error,
            node: d.subject.node.clone(),
            switch: d.subject.switch.clone(),
            nic: d.subject.nic.clone(),
            vms: d.subject.vm.iter().cloned().collect(),
            what: format!("{}.", first_clause(&d.message)),
            fix: format!("{}.", fix_clause(&d.message)),
            line: Some(d.line),
        })
        .collect()
}

/// The parser's messages read "what is wrong; how to fix it".
fn first_clause(message: &str) -> &str {
    message.split_once("; ").map_or(message, |(what, _)| what)
}

fn fix_clause(message: &str) -> &str {
    message
        .split_once("; ")
        .map_or("correct the name", |(_, fix)| fix)
}

/// "VM1", "VM1 and VM2", "VM1, VM2 and VM3".
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

struct Check<'a> {
    cluster: &'a Cluster,
    topo: &'a Topology,
}

impl Check<'_> {
    fn finding(&self, rule: &'static str, severity: Severity, node: NodeId) -> Finding {
        Finding {
            rule,
            severity,
            node: Some(self.topo.node_name(node).to_string()),
            switch: None,
            nic: None,
            vms: Vec::new(),
            what: String::new(),
            fix: String::new(),
            line: None,
        }
    }

    /// NICs the host itself can use on networks that pass `flag`.
    fn host_paths(&self, node: NodeId, flag: impl Fn(NicIdx) -> bool) -> Vec<NicIdx> {
        (0..self.topo.node(node).nics.len() as u16)
            .map(NicIdx)
            .filter(|&i| self.topo.nic(node, i).host_usable && flag(i))
            .collect()
    }

    fn authority_paths(&self, node: NodeId) -> Vec<NicIdx> {
        self.host_paths(node, |i| {
            self.topo.network(self.topo.nic(node, i).net).authority
        })
    }

    fn control_paths(&self, node: NodeId) -> Vec<NicIdx> {
        self.host_paths(node, |i| {
            let net = self.topo.network(self.topo.nic(node, i).net);
            net.control || net.migration
        })
    }

    /// VMs placed on `node` with a protected adapter on `switch`.
    fn protected_vms(&self, node: NodeId, switch: SwitchName) -> Vec<String> {
        let name = self.topo.switch_name(switch);
        let on_node = |vm: &&crate::model::Vm| vm.node == self.topo.node_name(node);
        (self.cluster.vms.iter().filter(on_node))
            .filter(|vm| vm.adapters.iter().any(|a| a.protected && a.switch == name))
            .map(|vm| vm.name.clone())
            .collect()
    }

    /// Switches that `nic` is the uplink of, with the protected VMs on each.
    fn protected_behind(&self, node: NodeId, nic: NicIdx) -> Vec<(SwitchName, Vec<String>)> {
        (self.topo.nic(node, nic).switches.iter())
            .map(|&sw| (sw, self.protected_vms(node, sw)))
            .filter(|(_, vms)| !vms.is_empty())
            .collect()
    }

    /// V1 [S1.2, S1.4]: one NIC both carries protected VMs and is the
    /// host's only path to the authority, so pulling it triggers migrations
    /// that cannot be authenticated.
    fn v1_authority_path(&self, node: NodeId, out: &mut Vec<Finding>) {
        let name = self.topo.node_name(node);
        let authority = self.cluster.settings.migration_auth == MigrationAuth::Authority;
        let paths = self.authority_paths(node);
        if paths.is_empty() {
            if authority {
                let mut f = self.finding("V1", Severity::Error, node);
                f.what = format!(
                    "{name} reaches no authority network, so in `authority` mode every live \
                     migration from it fails with authority_unreachable."
                );
                f.fix = format!(
                    "give {name} a NIC on an authority network, or set migration_auth = \
                     \"certificate\"."
                );
                out.push(f);
            }
            return;
        }
        let [only] = paths[..] else {
            return; // a second path survives any single failure [S1.4]
        };
        let behind = self.protected_behind(node, only);
        if behind.is_empty() {
            return;
        }
        let nic = self.topo.nic(node, only).name.clone();
        let network = &self.topo.network(self.topo.nic(node, only).net).name;
        let vms: Vec<String> = behind.iter().flat_map(|(_, v)| v.clone()).collect();
        let switches: Vec<String> = (behind.iter())
            .map(|(sw, _)| self.topo.switch_name(*sw).to_string())
            .collect();
        let lose = format!(
            "if {nic} on {name} fails, {} lose{} {}",
            and_list(&vms),
            if vms.len() == 1 { "s" } else { "" },
            and_list(&switches)
        );
        let their = if vms.len() == 1 { "its" } else { "their" };
        let last_control = self.control_paths(node) == [only];
        let mut f = if authority {
            let mut f = self.finding("V1", Severity::Error, node);
            f.what = format!(
                "{lose} and {name} loses its only path to the authority network {network}: \
                 {their} live migration cannot be authenticated (authority_unreachable)."
            );
            f.fix = format!(
                "give {name} a NIC on an authority network that is not a switch uplink (or a \
                 second path to it, preferred with route metrics), or set migration_auth = \
                 \"certificate\" [S1.4]."
            );
            f
        } else if last_control {
            let mut f = self.finding("V1", Severity::Warning, node);
            f.what = format!(
                "{lose} and {name} loses its only control path: haven cannot tell it to \
                 migrate them (control_unreachable), though certificate authentication needs \
                 no authority."
            );
            f.fix = format!(
                "give {name} a second NIC on a control or migration network that is not this \
                 switch's uplink."
            );
            f
        } else {
            let mut f = self.finding("V1", Severity::Info, node);
            f.what = format!(
                "{nic} is {name}'s only path to the authority network {network} and carries \
                 protected VMs; harmless with certificate authentication, but in `authority` \
                 mode {lose} and {their} migration could not be authenticated."
            );
            f.fix = "keep migration_auth = \"certificate\", or add a second authority path \
                     before switching to `authority` [S1.4]."
                .to_string();
            f
        };
        f.nic = Some(nic);
        f.switch = switches.first().cloned();
        f.vms = vms;
        out.push(f);
    }

    /// V2: a protected switch no other node has: its VMs can never move.
    fn v2_switch_nowhere_else(&self, node: NodeId, out: &mut Vec<Finding>) {
        let name = self.topo.node_name(node);
        for &sw in self.topo.node(node).switches.keys() {
            let vms = self.protected_vms(node, sw);
            if vms.is_empty() {
                continue;
            }
            let elsewhere = (self.topo.node_ids())
                .any(|other| other != node && self.topo.node(other).switches.contains_key(&sw));
            if elsewhere {
                continue;
            }
            let switch = self.topo.switch_name(sw).to_string();
            let mut f = self.finding("V2", Severity::Warning, node);
            f.what = format!(
                "no other node has a switch {switch}, so if it fails on {name}, {} can never \
                 move (no_eligible_destination).",
                and_list(&vms)
            );
            f.fix = format!(
                "add a switch named {switch} with its own uplink to another node, or make \
                 these adapters unprotected."
            );
            f.switch = Some(switch);
            f.vms = vms;
            out.push(f);
        }
    }

    /// V3: no migration network at all, or a single control path (H10).
    fn v3_migration_and_control(&self, node: NodeId, out: &mut Vec<Finding>) {
        let name = self.topo.node_name(node);
        let migration = self.host_paths(node, |i| {
            self.topo.network(self.topo.nic(node, i).net).migration
        });
        if migration.is_empty() {
            let mut f = self.finding("V3", Severity::Error, node);
            f.what = format!(
                "{name} has no NIC on a migration network: its VMs can never be live-migrated \
                 away and it can receive none."
            );
            f.fix = format!("give {name} a NIC on a network with migration = true.");
            out.push(f);
        }
        let control = self.control_paths(node);
        if let [only] = control[..] {
            let nic = self.topo.nic(node, only).name.clone();
            let mut f = self.finding("V3", Severity::Warning, node);
            f.what = format!(
                "{nic} is {name}'s only control path: if it fails, {name} is cut off from \
                 coordination and its impaired VMs are reported control_unreachable (H10)."
            );
            f.fix = format!("give {name} a second NIC on a control or migration network.");
            f.nic = Some(nic);
            out.push(f);
        } else if control.is_empty() {
            let mut f = self.finding("V3", Severity::Error, node);
            f.what = format!(
                "{name} has no control path at all: haven can never tell it to migrate (H10)."
            );
            f.fix = format!("give {name} a NIC on a control or migration network.");
            out.push(f);
        }
    }

    /// V4 [S0.8]: a protected switch on a single NIC, where a bond would
    /// absorb the failure of one port without any migration.
    fn v4_single_nic_uplink(&self, node: NodeId, out: &mut Vec<Finding>) {
        let name = self.topo.node_name(node);
        let protected: BTreeSet<&str> = (self.cluster.vms.iter())
            .flat_map(|vm| vm.adapters.iter().filter(|a| a.protected))
            .map(|a| a.switch.as_str())
            .collect();
        for (&sw, &nic) in &self.topo.node(node).switches {
            let switch = self.topo.switch_name(sw);
            let info = self.topo.nic(node, nic);
            if !protected.contains(switch) || !info.members.is_empty() {
                continue;
            }
            let mut f = self.finding("V4", Severity::Info, node);
            f.what = format!(
                "switch {switch} on {name} hangs off the single NIC {}: one pulled cable \
                 moves every VM with a protected adapter on it.",
                info.name
            );
            f.fix = "make the uplink a bond of two ports (members = [..]) so one port's failure \
                     is absorbed without a migration [S0.8]."
                .to_string();
            f.switch = Some(switch.to_string());
            f.nic = Some(info.name.clone());
            out.push(f);
        }
    }

    /// V5: a VM bigger than every other node: it can never move.
    fn v5_memory(&self, out: &mut Vec<Finding>) {
        for vm in &self.cluster.vms {
            let largest_elsewhere = (self.cluster.nodes.iter())
                .filter(|n| n.name != vm.node)
                .map(|n| n.memory_mb)
                .max()
                .unwrap_or(0);
            if largest_elsewhere >= vm.memory_mb {
                continue;
            }
            out.push(Finding {
                rule: "V5",
                severity: Severity::Warning,
                node: Some(vm.node.clone()),
                switch: None,
                nic: None,
                vms: vec![vm.name.clone()],
                what: format!(
                    "{} needs {} MB but no other node has that much memory ({} MB at most): \
                     it can never move.",
                    vm.name, vm.memory_mb, largest_elsewhere
                ),
                fix: format!(
                    "give another node at least {} MB, or shrink {}.",
                    vm.memory_mb, vm.name
                ),
                line: None,
            });
        }
    }
}
