//! A [`Cluster`] compiled into dense indices, so the engine and the
//! simulator answer "which switches hang off this NIC" or "does this node
//! have switch `Corp`" without searching by name.

use crate::model::{Cluster, Priority};
use std::collections::BTreeMap;

/// Index of a node in [`Topology::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// Index of a VM in [`Topology::vms`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmId(pub u32);

/// Index of a NIC (plain or bond) within its node's [`NodeInfo::nics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NicIdx(pub u16);

/// Index of a network in [`Topology::networks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetId(pub u16);

/// A switch *name*, interned cluster-wide: VMs attach to switches by name, so
/// `Corp` on node A and `Corp` on node B share one id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwitchName(pub u16);

#[derive(Clone, Debug)]
pub struct NetworkInfo {
    pub name: String,
    pub control: bool,
    pub migration: bool,
    pub authority: bool,
}

#[derive(Clone, Debug)]
pub struct NicInfo {
    pub name: String,
    pub net: NetId,
    /// Bond members; empty for a plain NIC.
    pub members: Vec<String>,
    /// The host may send its own traffic through this NIC: it is not a
    /// switch uplink, or it is one with `share_with_host`.
    pub host_usable: bool,
    /// Switches whose uplink this NIC is.
    pub switches: Vec<SwitchName>,
}

#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub memory_mb: u64,
    pub nics: Vec<NicInfo>,
    /// Switch name -> uplink NIC.
    pub switches: BTreeMap<SwitchName, NicIdx>,
}

#[derive(Clone, Debug)]
pub struct AdapterInfo {
    pub switch: SwitchName,
    pub mac: String,
}

#[derive(Clone, Debug)]
pub struct VmInfo {
    pub name: String,
    pub memory_mb: u64,
    pub priority: Priority,
    /// Where it runs at the start.
    pub home: NodeId,
    /// Expected migration duration on an idle link (queue order, H5).
    pub expected_migration_ms: u64,
    pub adapters: Vec<AdapterInfo>,
    /// The `protected` flags at the start, one per adapter.
    pub initially_protected: Vec<bool>,
}

/// The static, indexed form of a cluster.
#[derive(Clone, Debug)]
pub struct Topology {
    pub networks: Vec<NetworkInfo>,
    pub nodes: Vec<NodeInfo>,
    pub vms: Vec<VmInfo>,
    pub switch_names: Vec<String>,
    node_by_name: BTreeMap<String, NodeId>,
    vm_by_name: BTreeMap<String, VmId>,
    switch_by_name: BTreeMap<String, SwitchName>,
}

/// Milliseconds to copy `memory_mb` over `bandwidth_mbps` (rounded up).
pub fn transfer_ms(memory_mb: u64, bandwidth_mbps: u64) -> u64 {
    (memory_mb * 8_000).div_ceil(bandwidth_mbps.max(1))
}

impl Topology {
    /// Compiles a cluster that the parser accepted. Names a cluster refers to
    /// must exist (the parser guarantees it); a dangling reference is a bug
    /// and panics.
    pub fn new(cluster: &Cluster) -> Topology {
        let networks: Vec<NetworkInfo> = cluster
            .networks
            .iter()
            .map(|n| NetworkInfo {
                name: n.name.clone(),
                control: n.control,
                migration: n.migration,
                authority: n.authority,
            })
            .collect();
        let net_by_name: BTreeMap<&str, NetId> = cluster
            .networks
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), NetId(i as u16)))
            .collect();
        let mut switch_by_name = BTreeMap::new();
        let mut switch_names = Vec::new();
        let mut intern = |name: &str| -> SwitchName {
            *switch_by_name.entry(name.to_string()).or_insert_with(|| {
                switch_names.push(name.to_string());
                SwitchName((switch_names.len() - 1) as u16)
            })
        };
        let mut nodes = Vec::new();
        for node in &cluster.nodes {
            let mut nics: Vec<NicInfo> = node
                .nics
                .iter()
                .map(|nic| NicInfo {
                    name: nic.name.clone(),
                    net: net_by_name[nic.network.as_str()],
                    members: nic.members.clone(),
                    host_usable: true,
                    switches: Vec::new(),
                })
                .collect();
            let mut switches = BTreeMap::new();
            for sw in &node.switches {
                let id = intern(&sw.name);
                let nic = node
                    .nics
                    .iter()
                    .position(|n| n.name == sw.uplink)
                    .expect("parser checked the uplink");
                nics[nic].switches.push(id);
                nics[nic].host_usable &= sw.share_with_host;
                switches.insert(id, NicIdx(nic as u16));
            }
            nodes.push(NodeInfo {
                name: node.name.clone(),
                memory_mb: node.memory_mb,
                nics,
                switches,
            });
        }
        let node_by_name: BTreeMap<String, NodeId> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), NodeId(i as u32)))
            .collect();
        let bandwidth = cluster.settings.migration_bandwidth_mbps;
        let vms: Vec<VmInfo> = cluster
            .vms
            .iter()
            .map(|vm| VmInfo {
                name: vm.name.clone(),
                memory_mb: vm.memory_mb,
                priority: vm.priority,
                home: node_by_name[&vm.node],
                expected_migration_ms: vm
                    .migration_ms
                    .unwrap_or_else(|| transfer_ms(vm.memory_mb, bandwidth)),
                adapters: vm
                    .adapters
                    .iter()
                    .map(|a| AdapterInfo {
                        switch: intern(&a.switch),
                        mac: a.mac.clone(),
                    })
                    .collect(),
                initially_protected: vm.adapters.iter().map(|a| a.protected).collect(),
            })
            .collect();
        let vm_by_name = vms
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.clone(), VmId(i as u32)))
            .collect();
        Topology {
            networks,
            nodes,
            vms,
            switch_names,
            node_by_name,
            vm_by_name,
            switch_by_name,
        }
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).copied()
    }

    pub fn vm_id(&self, name: &str) -> Option<VmId> {
        self.vm_by_name.get(name).copied()
    }

    pub fn switch_id(&self, name: &str) -> Option<SwitchName> {
        self.switch_by_name.get(name).copied()
    }

    /// The NIC (plain or bond) called `name` on `node`; bond members are not
    /// NICs of their own here.
    pub fn nic_idx(&self, node: NodeId, name: &str) -> Option<NicIdx> {
        self.node(node)
            .nics
            .iter()
            .position(|n| n.name == name)
            .map(|i| NicIdx(i as u16))
    }

    pub fn node(&self, id: NodeId) -> &NodeInfo {
        &self.nodes[id.0 as usize]
    }

    pub fn vm(&self, id: VmId) -> &VmInfo {
        &self.vms[id.0 as usize]
    }

    pub fn nic(&self, node: NodeId, nic: NicIdx) -> &NicInfo {
        &self.node(node).nics[nic.0 as usize]
    }

    pub fn network(&self, id: NetId) -> &NetworkInfo {
        &self.networks[id.0 as usize]
    }

    pub fn node_name(&self, id: NodeId) -> &str {
        &self.node(id).name
    }

    pub fn vm_name(&self, id: VmId) -> &str {
        &self.vm(id).name
    }

    pub fn switch_name(&self, id: SwitchName) -> &str {
        &self.switch_names[id.0 as usize]
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    pub fn vm_ids(&self) -> impl Iterator<Item = VmId> {
        (0..self.vms.len() as u32).map(VmId)
    }
}
