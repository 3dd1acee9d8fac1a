//! haven-sim: a deterministic discrete-event simulator that drives haven's
//! engine in virtual time.
//!
//! The simulator owns a [`world::World`] (links, bonds, nodes, VMs and
//! migrations with shared bandwidth), plays a scenario's steps into it, feeds
//! every change to the [`haven_core::Engine`], carries out the engine's
//! actions, and checks the invariants of H12 after every instant. The same
//! scenario and seed always give the same [`Report`], byte for byte.

pub mod compare;
pub mod invariants;
pub mod report;
pub mod scale;
pub mod sweep;
pub mod world;

use haven_core::event::{Event, EventKind, FailureCause};
use haven_core::model::{MigrationAuth, Millis, Scenario, StepAction};
use haven_core::topology::{NicIdx, NodeId, VmId};
use haven_core::{Engine, Input, MigrationId};
use invariants::{Outcomes, Violation};
pub use report::Report;
use std::collections::BTreeMap;
use world::{Flight, World};

/// How long after its last step a scenario may keep running. Every timer
/// and retry ends long before (no time in a scenario exceeds 30 days); only
/// a migration of absurd size over a tiny link could run longer, and that
/// is reported, not cut short silently.
const HORIZON_AFTER_LAST_STEP_MS: Millis = 400 * 24 * 3600 * 1000;

/// A simulation that broke an invariant (or that the engine refused): a bug
/// in haven, reproducible with the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    pub seed: u64,
    pub violation: Violation,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant broken: {} at t={}ms: {}; you can reproduce this failure with seed={}",
            self.violation.invariant, self.violation.t_ms, self.violation.detail, self.seed
        )
    }
}

impl std::error::Error for SimError {}

/// Runs `scenario` to its end with all randomness drawn from `seed`.
///
/// # Errors
/// A broken H12 invariant, with the seed that reproduces it.
pub fn simulate(scenario: &Scenario, seed: u64) -> Result<Report, SimError> {
    let mut sim = Sim::new(scenario, seed);
    sim.run()
        .map_err(|violation| SimError { seed, violation })?;
    Ok(sim.into_report(scenario))
}

struct Sim<'a> {
    scenario: &'a Scenario,
    world: World,
    engine: Engine,
    events: Vec<Event>,
    outcomes: Outcomes,
    /// Migration failures to hand to the engine at the current instant.
    failures: Vec<(MigrationId, FailureCause)>,
    /// Aborted migrations to confirm to the engine at the current instant.
    cancels: Vec<MigrationId>,
    /// Per VM: since when it has been really impaired, if it is.
    impaired_since: Vec<Option<(Millis, NodeId)>>,
    episodes: Vec<report::Episode>,
    impaired_ms: Vec<Millis>,
    migrations: Vec<u32>,
    max_concurrent: u32,
    now: Millis,
    /// What the current instant changed, for the H12 checks after it.
    touched_vms: Vec<VmId>,
    touched_nodes: Vec<NodeId>,
}

impl<'a> Sim<'a> {
    fn new(scenario: &'a Scenario, seed: u64) -> Sim<'a> {
        let world = World::new(scenario);
        let vms = world.topo.vms.len();
        Sim {
            scenario,
            engine: Engine::new(&scenario.cluster, seed),
            world,
            events: Vec::new(),
            outcomes: Outcomes::default(),
            failures: Vec::new(),
            cancels: Vec::new(),
            impaired_since: vec![None; vms],
            episodes: Vec::new(),
            impaired_ms: vec![0; vms],
            migrations: vec![0; vms],
            max_concurrent: 0,
            now: 0,
            touched_vms: Vec::new(),
            touched_nodes: Vec::new(),
        }
    }

    /// The main loop: at each instant, completions first, then failures,
    /// then the steps of that instant, then the engine's timers.
    fn run(&mut self) -> Result<(), Violation> {
        let steps = &self.scenario.steps;
        let last_step = steps.last().map_or(0, |s| s.at_ms);
        let horizon = last_step.saturating_add(HORIZON_AFTER_LAST_STEP_MS);
        let mut next_step = 0;
        loop {
            let candidates = [
                steps.get(next_step).map(|s| s.at_ms),
                self.engine.poll_timeout(),
                self.world.next_completion().map(|(t, _)| t),
                (!self.failures.is_empty() || !self.cancels.is_empty()).then_some(self.now),
            ];
            let Some(now) = candidates.into_iter().flatten().min() else {
                break;
            };
            if now > horizon {
                return Err(Violation {
                    invariant: "the simulation settles",
                    t_ms: self.now,
                    detail: format!(
                        "still running {} days after the last step (a migration of that \
                         length? check memory_mb and migration_bandwidth_mbps)",
                        HORIZON_AFTER_LAST_STEP_MS / 86_400_000
                    ),
                });
            }
            self.now = now;
            self.world.progress(now);
            while let Some((t, id)) = self.world.next_completion() {
                if t > now {
                    break;
                }
                self.complete(id)?;
            }
            for (id, cause) in std::mem::take(&mut self.failures) {
                self.fail(id, cause)?;
            }
            for id in std::mem::take(&mut self.cancels) {
                self.input(Input::MigrationCancelled { id })?;
            }
            while steps.get(next_step).is_some_and(|s| s.at_ms == now) {
                self.step(&steps[next_step].action)?;
                next_step += 1;
            }
            self.engine.handle_timeout(now);
            self.drain()?;
            self.check()?;
        }
        // Once more over everything, then the outcome of every impairment.
        self.touched_vms = self.world.topo.vm_ids().collect();
        self.touched_nodes = self.world.topo.node_ids().collect();
        self.check()?;
        invariants::settled(&self.world, &self.outcomes, self.now)?;
        self.outcomes.finish(self.now)
    }

    fn input(&mut self, input: Input) -> Result<(), Violation> {
        let now = self.now;
        self.engine.handle(now, input).map_err(|e| Violation {
            invariant: "engine accepts the world's input",
            t_ms: now,
            detail: e.to_string(),
        })?;
        self.drain()
    }

    fn emit(&mut self, kind: EventKind) -> Result<(), Violation> {
        let event = Event {
            t_ms: self.now,
            kind,
        };
        self.outcomes.observe(&event)?;
        self.events.push(event);
        Ok(())
    }

    fn step(&mut self, action: &StepAction) -> Result<(), Violation> {
        match action {
            StepAction::LinkDown { node, nic } => self.set_port(node, nic, false),
            StepAction::LinkUp { node, nic } => self.set_port(node, nic, true),
            StepAction::SetProtected {
                vm,
                switch,
                protected,
            } => {
                let id = self.vm_id(vm);
                let sw = self.world.topo.switch_id(switch);
                let adapters = &self.world.topo.vm(id).adapters;
                for (i, a) in adapters.iter().enumerate() {
                    if Some(a.switch) == sw {
                        self.world.protected[id.0 as usize][i] = *protected;
                    }
                }
                self.input(Input::SetProtected {
                    vm: vm.clone(),
                    switch: switch.clone(),
                    protected: *protected,
                })?;
                self.track_impairment(id);
                Ok(())
            }
            StepAction::NodeDown { node } => self.node_down(node),
            StepAction::NodeUp { node } => {
                let id = self.node_id(node);
                if self.world.node_up[id.0 as usize] {
                    return Ok(());
                }
                self.world.node_up[id.0 as usize] = true;
                self.emit(EventKind::NodeUp { node: node.clone() })?;
                // Its agent starts the VMs the node owns (`vm_up`, below).
                self.input(Input::NodeUp { node: node.clone() })
            }
        }
    }

    /// A cable pulled or plugged: the port changes, and every NIC whose
    /// carrier changed with it (the port itself, or its bond) is reported.
    fn set_port(&mut self, node: &str, port: &str, up: bool) -> Result<(), Violation> {
        let id = self.node_id(node);
        let ports = &mut self.world.ports[id.0 as usize];
        if ports.get(port) == Some(&up) {
            return Ok(());
        }
        let before = self.world.nic_states(id);
        self.world.ports[id.0 as usize].insert(port.to_string(), up);
        let after = self.world.nic_states(id);
        let link = |node: String, nic: String| match up {
            true => EventKind::LinkUp { node, nic },
            false => EventKind::LinkDown { node, nic },
        };
        self.emit(link(node.to_string(), port.to_string()))?;
        for (i, (b, a)) in before.into_iter().zip(after).enumerate() {
            if b == a {
                continue;
            }
            let nic = self.world.topo.nic(id, NicIdx(i as u16)).name.clone();
            if nic != port {
                self.emit(link(node.to_string(), nic.clone()))?;
            }
            self.input(Input::LinkChanged {
                node: node.to_string(),
                nic,
                up: a,
            })?;
        }
        self.track_node(id);
        Ok(())
    }

    fn node_down(&mut self, node: &str) -> Result<(), Violation> {
        let id = self.node_id(node);
        if !self.world.node_up[id.0 as usize] {
            return Ok(());
        }
        self.world.node_up[id.0 as usize] = false;
        for vm in self.world.vms_on(id).to_vec() {
            self.world.running[vm.0 as usize] = false;
        }
        self.emit(EventKind::NodeDown {
            node: node.to_string(),
        })?;
        self.input(Input::NodeDown {
            node: node.to_string(),
        })?;
        self.track_node(id);
        Ok(())
    }

    /// Carries out the engine's actions.
    fn drain(&mut self) -> Result<(), Violation> {
        let actions = self.engine.take_actions();
        haven_core::runtime::carry_out(self, actions)
    }
}

/// The simulator answers the engine's calls as the node agent does, through
/// the same trait.
impl haven_core::runtime::World for Sim<'_> {
    type Error = Violation;

    fn start_migration(
        &mut self,
        id: MigrationId,
        vm: &str,
        from: &str,
        to: &str,
    ) -> Result<(), Violation> {
        let (vm, from, to) = (self.vm_id(vm), self.node_id(from), self.node_id(to));
        invariants::eligible_at_start(&self.world, vm, from, to, self.now)?;
        // H9: in `authority` mode the source must reach the authority now.
        if self.world.auth == MigrationAuth::Authority && !self.world.reaches_authority(from) {
            self.failures.push((id, FailureCause::AuthorityUnreachable));
        }
        let info = self.world.topo.vm(vm);
        let flight = Flight {
            vm,
            from,
            to,
            started_at: self.now,
            fixed_ms: self.scenario.cluster.vms[vm.0 as usize].migration_ms,
            remaining_mbit: info.memory_mb as f64 * 8.0,
            rate_mbps: 0.0,
        };
        self.world.progress(self.now);
        self.world.add_flight(id, flight);
        self.world.rebalance();
        let busiest = (self.world.topo.node_ids())
            .map(|n| self.world.in_flight(n))
            .max();
        self.max_concurrent = self.max_concurrent.max(busiest.unwrap_or(0));
        Ok(())
    }

    fn abort_migration(
        &mut self,
        id: MigrationId,
        _vm: &str,
        _from: &str,
        _to: &str,
    ) -> Result<(), Violation> {
        // The simulated cancel always takes effect at once: the VM stays on
        // its source, and the engine hears so at this same instant.
        self.world.progress(self.now);
        self.world.remove_flight(id);
        self.world.rebalance();
        self.cancels.push(id);
        Ok(())
    }

    fn report(&mut self, event: Event) -> Result<(), Violation> {
        // The node's agent started the VM again.
        if let EventKind::VmUp { vm, .. } = &event.kind {
            let id = self.vm_id(vm);
            self.world.running[id.0 as usize] = true;
            self.track_impairment(id);
        }
        self.outcomes.observe(&event)?;
        self.events.push(event);
        Ok(())
    }
}

impl Sim<'_> {
    fn complete(&mut self, id: MigrationId) -> Result<(), Violation> {
        let Some(flight) = self.world.remove_flight(id) else {
            return Ok(());
        };
        // The world moves the VM first: the destination runs it, the source
        // copy is gone, then the engine hears of it.
        self.world.move_vm(flight.vm, flight.to);
        self.touch(flight.vm, flight.from, flight.to);
        self.world.rebalance();
        self.migrations[flight.vm.0 as usize] += 1;
        self.input(Input::MigrationCompleted { id })?;
        self.track_impairment(flight.vm);
        Ok(())
    }

    fn fail(&mut self, id: MigrationId, cause: FailureCause) -> Result<(), Violation> {
        if self.world.remove_flight(id).is_none() {
            return Ok(()); // aborted meanwhile
        }
        self.world.rebalance();
        self.input(Input::MigrationFailed { id, cause })
    }

    /// Follows the real impairment of the VMs on `node` (SPEC: `impaired_ms`
    /// counts from the failure itself, not its detection).
    fn track_node(&mut self, node: NodeId) {
        for vm in self.world.vms_on(node).to_vec() {
            self.track_impairment(vm);
        }
    }

    fn track_impairment(&mut self, vm: VmId) {
        let v = vm.0 as usize;
        let now_impaired = self.world.really_impaired(vm);
        match (self.impaired_since[v], now_impaired) {
            (None, true) => self.impaired_since[v] = Some((self.now, self.world.owner[v])),
            (Some((since, node)), false) => {
                self.close_episode(vm, since, node, self.now);
                self.impaired_since[v] = None;
            }
            _ => {}
        }
    }

    fn close_episode(&mut self, vm: VmId, since: Millis, node: NodeId, end: Millis) {
        let v = vm.0 as usize;
        self.impaired_ms[v] += end - since;
        self.episodes.push(report::Episode {
            vm: self.world.topo.vm_name(vm).to_string(),
            node: self.world.topo.node_name(node).to_string(),
            start_ms: since,
            end_ms: end,
            migrated: self.world.owner[v] != node,
            transfer_ms: self.world.topo.vm(vm).expected_migration_ms,
        });
    }

    /// H12 for whatever the instant touched.
    fn check(&mut self) -> Result<(), Violation> {
        let vms = std::mem::take(&mut self.touched_vms);
        let nodes = std::mem::take(&mut self.touched_nodes);
        invariants::single_owner(&self.world, &self.engine, &vms, self.now)?;
        invariants::migration_limit(&self.world, &nodes, self.now)
    }

    fn touch(&mut self, vm: VmId, from: NodeId, to: NodeId) {
        self.touched_vms.push(vm);
        self.touched_nodes.extend([from, to]);
    }

    fn node_id(&self, name: &str) -> NodeId {
        self.world
            .topo
            .node_id(name)
            .expect("the parser checked node names")
    }

    fn vm_id(&self, name: &str) -> VmId {
        self.world
            .topo
            .vm_id(name)
            .expect("the parser checked VM names")
    }

    fn into_report(mut self, scenario: &Scenario) -> Report {
        let end = self.now.max(scenario.steps.last().map_or(0, |s| s.at_ms));
        for vm in self.world.topo.vm_ids() {
            if let Some((since, node)) = self.impaired_since[vm.0 as usize].take() {
                self.close_episode(vm, since, node, end);
            }
        }
        let mut vms = BTreeMap::new();
        let mut finals = BTreeMap::new();
        for vm in self.world.topo.vm_ids() {
            let v = vm.0 as usize;
            let name = self.world.topo.vm_name(vm).to_string();
            let node = self.world.topo.node_name(self.world.owner[v]).to_string();
            let impaired = self.world.really_impaired(vm);
            let running = self.world.running[v];
            finals.insert(
                name.clone(),
                report::Final {
                    node,
                    impaired,
                    running,
                },
            );
            let stats = report::VmStats {
                impaired_ms: self.impaired_ms[v],
                migrations: self.migrations[v],
            };
            vms.insert(name, stats);
        }
        let mut report = Report::new(
            scenario.name.clone(),
            self.events,
            finals,
            vms,
            self.max_concurrent,
            end,
        );
        report.episodes = self.episodes;
        report
    }
}
