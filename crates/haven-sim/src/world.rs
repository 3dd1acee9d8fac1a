//! The simulated world: physical links (with bonds), nodes, where VMs run,
//! and migrations in flight with their bandwidth. It is the ground truth the
//! engine is checked against, so it keeps its own state and never asks the
//! engine what is true.

use haven_core::model::{Cluster, MigrationAuth, Millis, Scenario};
use haven_core::topology::{NicIdx, NodeId, Topology, VmId};
use haven_core::MigrationId;
use std::collections::BTreeMap;

/// A migration the world is carrying out.
#[derive(Clone, Debug)]
pub struct Flight {
    pub vm: VmId,
    pub from: NodeId,
    pub to: NodeId,
    pub started_at: Millis,
    /// Fixed duration (`migration_s`), or `None` for the bandwidth model.
    pub fixed_ms: Option<Millis>,
    /// Megabits still to copy (bandwidth model).
    pub remaining_mbit: f64,
    /// Current share of the links, in Mbit/s (bandwidth model).
    pub rate_mbps: f64,
}

/// The world's state at one instant.
#[derive(Clone, Debug)]
pub struct World {
    pub topo: Topology,
    pub limit: u32,
    pub auth: MigrationAuth,
    pub bandwidth_mbps: u64,
    /// Per node, per physical port name (plain NICs, bond members and bonds
    /// themselves): carrier as the cable / switch port gives it.
    pub ports: Vec<BTreeMap<String, bool>>,
    pub node_up: Vec<bool>,
    pub owner: Vec<NodeId>,
    pub running: Vec<bool>,
    /// Per VM, per adapter.
    pub protected: Vec<Vec<bool>>,
    /// Change only through [`World::add_flight`] / [`World::remove_flight`],
    /// which keep the per-node counts below in step.
    pub flights: BTreeMap<MigrationId, Flight>,
    /// When the flight rates were last brought up to date.
    pub progressed_at: Millis,
    /// Per node: flights it takes part in.
    flights_at: Vec<u32>,
    /// Per node: memory of the VMs it owns, and of those migrating to it.
    used_mb: Vec<u64>,
    incoming_mb: Vec<u64>,
    /// Per node: the VMs it owns. Change owners through [`World::move_vm`].
    vms_on: Vec<Vec<VmId>>,
}

impl World {
    pub fn new(scenario: &Scenario) -> World {
        let cluster: &Cluster = &scenario.cluster;
        let topo = Topology::new(cluster);
        let ports = topo
            .nodes
            .iter()
            .map(|node| {
                let mut ports = BTreeMap::new();
                for nic in &node.nics {
                    ports.insert(nic.name.clone(), true);
                    for member in &nic.members {
                        ports.insert(member.clone(), true);
                    }
                }
                ports
            })
            .collect();
        let mut used_mb = vec![0; topo.nodes.len()];
        let mut vms_on = vec![Vec::new(); topo.nodes.len()];
        for vm in topo.vm_ids() {
            let home = topo.vm(vm).home.0 as usize;
            used_mb[home] += topo.vm(vm).memory_mb;
            vms_on[home].push(vm);
        }
        World {
            flights_at: vec![0; topo.nodes.len()],
            incoming_mb: vec![0; topo.nodes.len()],
            used_mb,
            vms_on,
            limit: cluster.settings.max_concurrent_migrations,
            auth: cluster.settings.migration_auth,
            bandwidth_mbps: cluster.settings.migration_bandwidth_mbps,
            ports,
            node_up: vec![true; topo.nodes.len()],
            owner: topo.vms.iter().map(|v| v.home).collect(),
            running: vec![true; topo.vms.len()],
            protected: topo
                .vms
                .iter()
                .map(|v| v.initially_protected.clone())
                .collect(),
            flights: BTreeMap::new(),
            progressed_at: 0,
            topo,
        }
    }

    /// Carrier of a NIC as the host sees it: a bond has carrier while it is
    /// itself up and any member is up [S0.8].
    pub fn nic_up(&self, node: NodeId, nic: NicIdx) -> bool {
        let info = self.topo.nic(node, nic);
        let ports = &self.ports[node.0 as usize];
        let own = ports.get(&info.name).copied().unwrap_or(true);
        own && (info.members.is_empty() || info.members.iter().any(|m| ports[m]))
    }

    /// The carrier of every NIC of `node`, for comparing before and after a
    /// port changes.
    pub fn nic_states(&self, node: NodeId) -> Vec<bool> {
        (0..self.topo.node(node).nics.len())
            .map(|i| self.nic_up(node, NicIdx(i as u16)))
            .collect()
    }

    /// H1 as it really is: a running VM with a protected adapter on a switch
    /// whose uplink has no carrier on its node.
    pub fn really_impaired(&self, vm: VmId) -> bool {
        let v = vm.0 as usize;
        if !self.running[v] {
            return false;
        }
        let node = self.owner[v];
        let info = self.topo.vm(vm);
        info.adapters
            .iter()
            .zip(&self.protected[v])
            .any(|(a, &p)| p && !self.switch_works(node, a.switch))
    }

    fn switch_works(&self, node: NodeId, switch: haven_core::topology::SwitchName) -> bool {
        match self.topo.node(node).switches.get(&switch) {
            Some(&nic) => self.nic_up(node, nic),
            None => false,
        }
    }

    /// Networks the host of `node` can use right now.
    fn host_networks(&self, node: NodeId) -> Vec<haven_core::topology::NetId> {
        let info = self.topo.node(node);
        (0..info.nics.len())
            .map(|i| NicIdx(i as u16))
            .filter(|&i| self.topo.nic(node, i).host_usable && self.nic_up(node, i))
            .map(|i| self.topo.nic(node, i).net)
            .collect()
    }

    /// H9: the host reaches an `authority` network.
    pub fn reaches_authority(&self, node: NodeId) -> bool {
        (self.host_networks(node).into_iter()).any(|n| self.topo.network(n).authority)
    }

    /// H10: the host reaches a `control` or `migration` network.
    pub fn has_control_path(&self, node: NodeId) -> bool {
        self.host_networks(node).into_iter().any(|n| {
            let net = self.topo.network(n);
            net.control || net.migration
        })
    }

    /// Migrations `node` takes part in.
    pub fn in_flight(&self, node: NodeId) -> u32 {
        self.flights_at[node.0 as usize]
    }

    /// Memory free on `node`: owned VMs and incoming migrations count.
    pub fn free_mb(&self, node: NodeId) -> u64 {
        let n = node.0 as usize;
        let taken = self.used_mb[n] + self.incoming_mb[n];
        self.topo.node(node).memory_mb.saturating_sub(taken)
    }

    /// The VMs `node` owns (running or stopped with it).
    pub fn vms_on(&self, node: NodeId) -> &[VmId] {
        &self.vms_on[node.0 as usize]
    }

    pub fn add_flight(&mut self, id: MigrationId, flight: Flight) {
        self.flights_at[flight.from.0 as usize] += 1;
        self.flights_at[flight.to.0 as usize] += 1;
        self.incoming_mb[flight.to.0 as usize] += self.topo.vm(flight.vm).memory_mb;
        self.flights.insert(id, flight);
    }

    pub fn remove_flight(&mut self, id: MigrationId) -> Option<Flight> {
        let flight = self.flights.remove(&id)?;
        self.flights_at[flight.from.0 as usize] -= 1;
        self.flights_at[flight.to.0 as usize] -= 1;
        self.incoming_mb[flight.to.0 as usize] -= self.topo.vm(flight.vm).memory_mb;
        Some(flight)
    }

    /// The VM now runs on `to`; its old node's copy is gone.
    pub fn move_vm(&mut self, vm: VmId, to: NodeId) {
        let from = self.owner[vm.0 as usize];
        let memory = self.topo.vm(vm).memory_mb;
        self.used_mb[from.0 as usize] -= memory;
        self.used_mb[to.0 as usize] += memory;
        self.vms_on[from.0 as usize].retain(|&v| v != vm);
        self.vms_on[to.0 as usize].push(vm);
        self.owner[vm.0 as usize] = to;
    }

    /// H3, checked independently of the engine: why `to` cannot receive `vm`
    /// from `from` now, if it cannot.
    pub fn why_ineligible(&self, vm: VmId, from: NodeId, to: NodeId) -> Option<String> {
        if from == to {
            return Some("destination is the source".into());
        }
        if !self.node_up[to.0 as usize] {
            return Some("destination is down".into());
        }
        if !self.has_control_path(to) {
            return Some("destination has no control path".into());
        }
        let info = self.topo.vm(vm);
        for (a, &p) in info.adapters.iter().zip(&self.protected[vm.0 as usize]) {
            let name = self.topo.switch_name(a.switch);
            if !self.topo.node(to).switches.contains_key(&a.switch) {
                return Some(format!("destination has no switch {name}"));
            }
            if p && !self.switch_works(to, a.switch) {
                return Some(format!("switch {name} has no working uplink there"));
            }
        }
        if self.free_mb(to) < info.memory_mb {
            return Some("destination lacks memory".into());
        }
        let ours = self.host_networks(from);
        let shared = (self.host_networks(to).into_iter())
            .any(|n| self.topo.network(n).migration && ours.contains(&n));
        if !shared {
            return Some("no shared working migration network".into());
        }
        None
    }

    /// Brings every flight's copied amount up to `now` at its current rate.
    pub fn progress(&mut self, now: Millis) {
        let elapsed_s = now.saturating_sub(self.progressed_at) as f64 / 1000.0;
        for f in self.flights.values_mut() {
            if f.fixed_ms.is_none() {
                f.remaining_mbit = (f.remaining_mbit - f.rate_mbps * elapsed_s).max(0.0);
            }
        }
        self.progressed_at = now;
    }

    /// Shares each node's migration link equally among its flights: a flight
    /// goes as fast as the busier of its two ends allows.
    pub fn rebalance(&mut self) {
        let bw = self.bandwidth_mbps as f64;
        let counts: Vec<u32> = self.topo.node_ids().map(|n| self.in_flight(n)).collect();
        for f in self.flights.values_mut() {
            let busiest = counts[f.from.0 as usize]
                .max(counts[f.to.0 as usize])
                .max(1);
            f.rate_mbps = bw / f64::from(busiest);
        }
    }

    /// When `f` completes at its current rate.
    pub fn completes_at(&self, f: &Flight) -> Millis {
        match f.fixed_ms {
            Some(ms) => f.started_at + ms,
            None => {
                let ms = (f.remaining_mbit * 1000.0 / f.rate_mbps).ceil();
                // Rounding may leave a sliver below a millisecond.
                let ms = if f.remaining_mbit <= 1e-9 {
                    0.0
                } else {
                    ms.max(1.0)
                };
                self.progressed_at + ms as Millis
            }
        }
    }

    /// The first flight to complete, and when.
    pub fn next_completion(&self) -> Option<(Millis, MigrationId)> {
        (self.flights.iter())
            .map(|(&id, f)| (self.completes_at(f), id))
            .min()
    }
}
