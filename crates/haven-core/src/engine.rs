//! The protected-network engine: rules H1–H12 of SPEC section 2.
//!
//! ```text
//!   Input (link changed, node down/up,          Action (start / abort a
//!   adapter changed, migration completed   ──▶  migration, report an
//!   / failed)        + handle_timeout(now)      event) + poll_timeout()
//! ```
//!
//! A VM's life, as the engine sees it:
//!
//! ```text
//! Healthy ---- protected uplink down (after hold-down / at its poll) ----> Impaired
//! Impaired: Waiting ---- slot and eligible destination ----> Migrating
//!           Waiting ---- link back / unprotected ----> Healthy   (cancelled, H6/H11)
//!           Migrating ---- completed ----> Healthy on the destination
//!           Migrating ---- destination ineligible ----> Waiting   (aborted, H7)
//!           Migrating ---- failed ----> Backoff ---- timer ----> Waiting   (H8)
//!           Migrating ---- failed, tries used up ----> Stuck ---- link back ----> Healthy
//! any ---- node down ----> Down (the VM stopped with its node)
//! ```

use crate::event::{Event, EventKind, FailureCause};
use crate::model::{Cluster, Detection, Millis, Settings};
use crate::topology::{NicIdx, NodeId, SwitchName, Topology, VmId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Each adapter's switch and whether it is protected: what decides a VM's
/// candidate destinations besides its source.
type AdapterSignature = Vec<(SwitchName, bool)>;

/// Identifies one migration attempt, from [`Action::StartMigration`] to the
/// [`Input::MigrationCompleted`] or [`Input::MigrationFailed`] that ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MigrationId(pub u64);

/// What the world tells the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The carrier of a NIC or bond changed (for a bond: the bond's own
    /// carrier, which is up while any member is up).
    LinkChanged { node: String, nic: String, up: bool },
    /// The node left the cluster: its VMs stopped.
    NodeDown { node: String },
    /// The node is back (its VMs are not).
    NodeUp { node: String },
    /// A draining node may not receive VMs (H3).
    SetDraining { node: String, draining: bool },
    /// Every adapter of `vm` on `switch` becomes (un)protected (H11).
    SetProtected {
        vm: String,
        switch: String,
        protected: bool,
    },
    /// The destination runs the VM now; the source's copy is gone.
    MigrationCompleted { id: MigrationId },
    /// The migration stopped; the VM still runs on its source.
    MigrationFailed {
        id: MigrationId,
        cause: FailureCause,
    },
    /// An [`Action::AbortMigration`] took effect: the migration stopped and
    /// the VM runs on its source. (If the migration completed first, answer
    /// [`Input::MigrationCompleted`] instead: the engine applies it.)
    MigrationCancelled { id: MigrationId },
}

/// What the engine asks of the world. Each variant says what the runtime
/// must do and what it must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Live-migrate `vm` from `from` to `to`. The runtime must answer with
    /// exactly one [`Input::MigrationCompleted`] or [`Input::MigrationFailed`]
    /// carrying `id`, unless the engine aborts it first.
    StartMigration {
        id: MigrationId,
        vm: String,
        from: String,
        to: String,
    },
    /// Cancel migration `id`: the VM must keep running on `from`. Answer
    /// with [`Input::MigrationCancelled`] once it has stopped, or with
    /// [`Input::MigrationCompleted`] if it completed before the cancel took
    /// effect; until then the engine keeps its slots and memory reserved.
    AbortMigration {
        id: MigrationId,
        vm: String,
        from: String,
        to: String,
    },
    /// Report an event to operators (timeline, event stream).
    Report(Event),
}

/// Input the engine cannot apply; the engine's state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("unknown node `{0}`")]
    UnknownNode(String),
    #[error("node `{node}` has no NIC `{nic}`")]
    UnknownNic { node: String, nic: String },
    #[error("unknown VM `{0}`")]
    UnknownVm(String),
    #[error("VM `{vm}` has no adapter on switch `{switch}`")]
    UnknownAdapter { vm: String, switch: String },
    #[error("no migration {0:?} is in flight")]
    UnknownMigration(MigrationId),
}

/// The protected-network engine.
///
/// The caller *must*:
/// 1. feed every change of the world through [`Engine::handle`], in time
///    order, with `now` never going backwards;
/// 2. call [`Engine::handle_timeout`] once `now` reaches
///    [`Engine::poll_timeout`];
/// 3. after each of those calls, drain [`Engine::poll_action`] and carry out
///    every action, answering each [`Action::StartMigration`] later with
///    exactly one completion or failure.
///
/// The engine never assumes an action succeeded and never reads a clock.
#[derive(Clone, Debug)]
pub struct Engine {
    topo: Topology,
    settings: Settings,
    /// Per node, per NIC: carrier and when it last changed.
    links: Vec<Vec<Link>>,
    nodes: Vec<NodeState>,
    vms: Vec<VmState>,
    /// Impaired VMs waiting for a migration, in H5 order.
    queue: BTreeSet<QueueKey>,
    migrations: BTreeMap<MigrationId, Migration>,
    timers: BTreeSet<(Millis, Timer)>,
    next_migration: u64,
    actions: VecDeque<Action>,
    /// Something changed that may let any waiting VM start (a link or node
    /// came back, a migration ended, an adapter changed): the next dispatch
    /// looks at the whole queue.
    grew: bool,
    /// The latest time seen: inputs with an earlier `now` are taken as now.
    last_now: Millis,
    /// VMs that entered the queue since the last dispatch; when nothing
    /// grew, only they can start, so dispatch looks at them alone.
    fresh: BTreeSet<QueueKey>,
    vm_name_rank: Vec<u32>,
    node_name_rank: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
struct Link {
    up: bool,
    since: Millis,
}

#[derive(Clone, Debug)]
struct NodeState {
    up: bool,
    draining: bool,
    /// Memory of the VMs it owns.
    used_mb: u64,
    /// Memory of the VMs migrating towards it (H3).
    reserved_mb: u64,
    /// Migrations it takes part in, as source or destination (H5).
    in_flight: u32,
    /// Migrations towards it (H4).
    incoming: u32,
    vms: BTreeSet<VmId>,
    /// H10: a host-usable NIC with carrier on a control or migration
    /// network (kept up to date on every link change).
    control: bool,
    /// Networks with `migration` it reaches now (H3).
    migration_nets: Vec<crate::topology::NetId>,
}

#[derive(Clone, Debug)]
struct VmState {
    owner: NodeId,
    running: bool,
    protected: Vec<bool>,
    /// Poll mode: this VM checks its switches at `phase_ms + k * interval`.
    phase_ms: Millis,
    poll_armed: Option<Millis>,
    life: Life,
}

#[derive(Clone, Debug)]
enum Life {
    Healthy,
    Impaired(Impairment),
}

#[derive(Clone, Debug)]
struct Impairment {
    detected_at: Millis,
    /// Failed tries so far (H8).
    tries: u32,
    /// Destinations that failed: tried last (H8).
    avoid: BTreeSet<NodeId>,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// In the queue; the payload is what was last reported about why it waits.
    Waiting(Wait),
    Migrating(MigrationId),
    Backoff {
        until: Millis,
    },
    /// Tries used up: waits for the impairment to end in place.
    Stuck,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Nothing reported yet.
    New,
    Slots,
    NoDestination,
    ControlUnreachable,
}

#[derive(Clone, Copy, Debug)]
struct Migration {
    vm: VmId,
    from: NodeId,
    to: NodeId,
    /// Asked to stop: what to do once the world says it has.
    aborting: Option<AfterAbort>,
}

/// What an aborted migration turns into once the world confirms it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterAbort {
    /// H7: queue the VM again for another destination.
    Reroute,
    /// The classic profile: a failed try (H8) with this cause.
    Fail(Ineligible),
    /// The source went down with the VM: nothing more to do.
    Drop,
}

/// H5 order: priority (high first), detection time, expected migration time
/// (shortest first), name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    priority: Reverse<crate::model::Priority>,
    detected_at: Millis,
    expected_ms: u64,
    name_rank: u32,
    vm: VmId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Event mode: the link must still be down since `since`.
    HoldDown {
        node: NodeId,
        nic: NicIdx,
        since: Millis,
    },
    /// Poll mode: the VM checks its switches.
    Poll { vm: VmId },
    /// H8: the VM may try again.
    Backoff { vm: VmId },
}

/// Why a node cannot receive a VM (H3), or why an in-flight migration is
/// aborted (H7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ineligible {
    Down,
    Draining,
    NoControlPath,
    MissingSwitch,
    SwitchUplinkDown,
    NoMemory,
    NoMigrationNetwork,
}

impl Ineligible {
    fn reason(self) -> &'static str {
        match self {
            Ineligible::Down => "destination_down",
            Ineligible::Draining => "destination_draining",
            Ineligible::NoControlPath => "destination_unreachable",
            Ineligible::MissingSwitch => "destination_missing_switch",
            Ineligible::SwitchUplinkDown => "destination_network_down",
            Ineligible::NoMemory => "destination_out_of_memory",
            Ineligible::NoMigrationNetwork => "migration_network_down",
        }
    }
}

/// A mixing function (SplitMix64) so per-VM poll phases follow from one seed.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn ranks<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let names: Vec<&str> = names.collect();
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| names[i]);
    let mut rank = vec![0; names.len()];
    for (r, i) in order.into_iter().enumerate() {
        rank[i] = r as u32;
    }
    rank
}

impl Engine {
    /// An engine for `cluster` with every link up, every node up and every VM
    /// running on its `node`. `seed` fixes the poll phases (H2).
    pub fn new(cluster: &Cluster, seed: u64) -> Engine {
        let topo = Topology::new(cluster);
        let settings = cluster.settings.clone();
        let links = topo
            .nodes
            .iter()
            .map(|n| vec![Link { up: true, since: 0 }; n.nics.len()])
            .collect();
        let mut nodes: Vec<NodeState> = topo
            .nodes
            .iter()
            .map(|_| NodeState {
                up: true,
                draining: false,
                used_mb: 0,
                reserved_mb: 0,
                in_flight: 0,
                incoming: 0,
                vms: BTreeSet::new(),
                control: false,
                migration_nets: Vec::new(),
            })
            .collect();
        let interval = settings.poll_interval_ms.max(1);
        let vms = topo
            .vm_ids()
            .map(|id| {
                let info = topo.vm(id);
                let home = &mut nodes[info.home.0 as usize];
                home.used_mb += info.memory_mb;
                home.vms.insert(id);
                VmState {
                    owner: info.home,
                    running: true,
                    protected: info.initially_protected.clone(),
                    phase_ms: splitmix64(splitmix64(seed).wrapping_add(u64::from(id.0))) % interval,
                    poll_armed: None,
                    life: Life::Healthy,
                }
            })
            .collect();
        let vm_name_rank = ranks(topo.vms.iter().map(|v| v.name.as_str()));
        let node_name_rank = ranks(topo.nodes.iter().map(|n| n.name.as_str()));
        let mut engine = Engine {
            topo,
            settings,
            links,
            nodes,
            vms,
            queue: BTreeSet::new(),
            migrations: BTreeMap::new(),
            timers: BTreeSet::new(),
            next_migration: 1,
            actions: VecDeque::new(),
            grew: false,
            last_now: 0,
            fresh: BTreeSet::new(),
            vm_name_rank,
            node_name_rank,
        };
        for node in engine.topo.node_ids() {
            engine.refresh_paths(node);
        }
        engine
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Applies one change of the world at `now`.
    ///
    /// # Errors
    /// A name the cluster does not have, or a migration that is not in
    /// flight; the engine is then unchanged.
    pub fn handle(&mut self, now: Millis, input: Input) -> Result<(), EngineError> {
        self.check_input(&input)?;
        // Time never runs backwards here, and timers that fell due before
        // this input fire first, so events stay in time order whatever the
        // caller's loop looks like.
        let now = now.max(self.last_now);
        self.fire_due(now);
        self.last_now = now;
        match input {
            Input::LinkChanged { node, nic, up } => {
                let n = self.node_id(&node)?;
                let i = self
                    .topo
                    .nic_idx(n, &nic)
                    .ok_or(EngineError::UnknownNic { node, nic })?;
                self.link_changed(now, n, i, up);
            }
            Input::NodeDown { node } => {
                let n = self.node_id(&node)?;
                self.node_down(now, n);
            }
            Input::NodeUp { node } => {
                let n = self.node_id(&node)?;
                self.node_up(now, n);
            }
            Input::SetDraining { node, draining } => {
                let n = self.node_id(&node)?;
                self.nodes[n.0 as usize].draining = draining;
                self.check_in_flight(now, |m| m.to == n);
                self.grew |= !draining;
            }
            Input::SetProtected {
                vm,
                switch,
                protected,
            } => self.set_protected(now, &vm, &switch, protected),
            Input::MigrationCompleted { id } => self.migration_completed(now, id),
            Input::MigrationFailed { id, cause } => self.migration_failed(now, id, cause),
            Input::MigrationCancelled { id } => self.migration_cancelled(now, id),
        }
        self.dispatch_if_dirty(now);
        Ok(())
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        let now = now.max(self.last_now);
        self.fire_due(now);
        self.last_now = now;
        self.dispatch_if_dirty(now);
    }

    /// Fires the timers due at or before `now`, each at its own time.
    fn fire_due(&mut self, now: Millis) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.fire(at.max(self.last_now), timer);
        }
    }

    /// Refuses an input that names something the cluster does not have, or
    /// a migration not in flight, before anything changes (STYLE.md 9).
    fn check_input(&self, input: &Input) -> Result<(), EngineError> {
        match input {
            Input::LinkChanged { node, nic, .. } => {
                let n = self.node_id(node)?;
                self.topo
                    .nic_idx(n, nic)
                    .map(|_| ())
                    .ok_or(EngineError::UnknownNic {
                        node: node.clone(),
                        nic: nic.clone(),
                    })
            }
            Input::NodeDown { node } | Input::NodeUp { node } | Input::SetDraining { node, .. } => {
                self.node_id(node).map(|_| ())
            }
            Input::SetProtected { vm, switch, .. } => {
                let id = (self.topo.vm_id(vm)).ok_or_else(|| EngineError::UnknownVm(vm.clone()))?;
                let sw = self.topo.switch_id(switch);
                let has = (self.topo.vm(id).adapters.iter()).any(|a| Some(a.switch) == sw);
                has.then_some(())
                    .ok_or_else(|| EngineError::UnknownAdapter {
                        vm: vm.clone(),
                        switch: switch.clone(),
                    })
            }
            Input::MigrationCompleted { id } | Input::MigrationFailed { id, .. } => {
                match self.migrations.contains_key(id) {
                    true => Ok(()),
                    false => Err(EngineError::UnknownMigration(*id)),
                }
            }
            Input::MigrationCancelled { id } => {
                match self
                    .migrations
                    .get(id)
                    .is_some_and(|m| m.aborting.is_some())
                {
                    true => Ok(()),
                    false => Err(EngineError::UnknownMigration(*id)),
                }
            }
        }
    }

    /// When [`Engine::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Every pending action, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        self.actions.drain(..).collect()
    }

    /// The node that owns `vm` (where it runs, or ran before its node went
    /// down).
    pub fn owner(&self, vm: VmId) -> NodeId {
        self.vms[vm.0 as usize].owner
    }

    /// Whether the engine has detected `vm` as impaired and not yet seen the
    /// impairment end.
    pub fn is_impaired(&self, vm: VmId) -> bool {
        matches!(self.vms[vm.0 as usize].life, Life::Impaired(_))
    }

    /// Migrations `node` takes part in now.
    pub fn in_flight(&self, node: NodeId) -> u32 {
        self.nodes[node.0 as usize].in_flight
    }

    /// VMs waiting in the queue.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Takes over a migration already under way in the world (a new leader
    /// rebuilding its state): its slots and memory are taken and the VM is
    /// treated as impaired and migrating, so nothing else is started for
    /// it; answer it like any other. Call before feeding link states, so
    /// the VM is not queued for a second migration.
    ///
    /// # Errors
    /// An unknown VM or node, a VM not owned by `from`, `from == to`, or an
    /// id already in use; the engine is then unchanged.
    pub fn adopt_migration(
        &mut self,
        now: Millis,
        id: MigrationId,
        vm: &str,
        from: &str,
        to: &str,
    ) -> Result<(), EngineError> {
        let v = (self.topo.vm_id(vm)).ok_or_else(|| EngineError::UnknownVm(vm.to_string()))?;
        let (src, dst) = (self.node_id(from)?, self.node_id(to)?);
        if self.owner(v) != src || src == dst || self.migrations.contains_key(&id) {
            return Err(EngineError::UnknownMigration(id));
        }
        if matches!(self.vms[v.0 as usize].life, Life::Impaired(_)) {
            // Adopted migrations come first, before any impairment is known.
            return Err(EngineError::UnknownMigration(id));
        }
        let m = Migration {
            vm: v,
            from: src,
            to: dst,
            aborting: None,
        };
        self.migrations.insert(id, m);
        let memory = self.topo.vm(v).memory_mb;
        self.nodes[src.0 as usize].in_flight += 1;
        let state = &mut self.nodes[dst.0 as usize];
        state.in_flight += 1;
        state.incoming += 1;
        state.reserved_mb += memory;
        self.vms[v.0 as usize].life = Life::Impaired(Impairment {
            detected_at: now,
            tries: 0,
            avoid: BTreeSet::new(),
            stage: Stage::Migrating(id),
        });
        self.next_migration = self.next_migration.max(id.0 + 1);
        self.last_now = self.last_now.max(now);
        Ok(())
    }

    /// Makes every migration id this engine hands out from now on at least
    /// `first`: a new leader starts above every id its predecessors used
    /// (e.g. from its fencing revision), since intents are matched by id.
    pub fn first_migration_id(&mut self, first: u64) {
        self.next_migration = self.next_migration.max(first);
    }

    fn node_id(&self, name: &str) -> Result<NodeId, EngineError> {
        self.topo
            .node_id(name)
            .ok_or_else(|| EngineError::UnknownNode(name.to_string()))
    }

    fn report(&mut self, now: Millis, kind: EventKind) {
        self.actions
            .push_back(Action::Report(Event { t_ms: now, kind }));
    }

    fn dispatch_if_dirty(&mut self, now: Millis) {
        if self.grew || !self.fresh.is_empty() {
            self.dispatch(now);
        }
    }

    /// Puts an impaired VM in the queue.
    fn enqueue(&mut self, vm: VmId) {
        let key = self.queue_key(vm);
        self.queue.insert(key);
        self.fresh.insert(key);
    }

    // ---- world changes -------------------------------------------------

    fn link_changed(&mut self, now: Millis, node: NodeId, nic: NicIdx, up: bool) {
        let link = &mut self.links[node.0 as usize][nic.0 as usize];
        if link.up == up {
            return; // a repeated report changes nothing
        }
        *link = Link { up, since: now };
        self.refresh_paths(node);
        // A link going down never lets a waiting VM start.
        self.grew |= up;
        let affected = self.vms_behind(node, nic);
        match self.settings.detection {
            Detection::Event if !up && self.settings.hold_down_ms > 0 => {
                let at = now.saturating_add(self.settings.hold_down_ms);
                let since = now;
                self.timers
                    .insert((at, Timer::HoldDown { node, nic, since }));
            }
            Detection::Event => {
                for vm in affected {
                    self.reconcile(now, vm, "network_restored");
                }
            }
            Detection::Poll => {
                for vm in affected {
                    self.arm_poll(now, vm);
                }
            }
        }
        // H7: a destination (or the shared migration network) may be gone.
        self.check_in_flight(now, |m| m.to == node || m.from == node);
    }

    /// Running VMs on `node` with an adapter on a switch whose uplink is
    /// `nic`.
    fn vms_behind(&self, node: NodeId, nic: NicIdx) -> Vec<VmId> {
        let switches = &self.topo.nic(node, nic).switches;
        if switches.is_empty() {
            return Vec::new();
        }
        self.nodes[node.0 as usize]
            .vms
            .iter()
            .copied()
            .filter(|&vm| {
                self.topo
                    .vm(vm)
                    .adapters
                    .iter()
                    .any(|a| switches.contains(&a.switch))
            })
            .collect()
    }

    fn node_down(&mut self, now: Millis, node: NodeId) {
        let n = node.0 as usize;
        if !self.nodes[n].up {
            return;
        }
        self.nodes[n].up = false;
        // H7: migrations towards it go back to the queue.
        self.check_in_flight(now, |m| m.to == node);
        // Migrations out of it die with the source VM.
        let outgoing: Vec<MigrationId> = self
            .migrations
            .iter()
            .filter(|(_, m)| m.from == node)
            .map(|(&id, _)| id)
            .collect();
        for id in outgoing {
            self.request_abort(now, id, Some("source_down"), AfterAbort::Drop);
        }
        let vms: Vec<VmId> = self.nodes[n].vms.iter().copied().collect();
        for vm in vms {
            self.stop_vm(now, vm);
        }
    }

    /// The node is back: it may receive VMs again, and its agent starts
    /// the VMs it owns that stopped with it.
    fn node_up(&mut self, now: Millis, node: NodeId) {
        let n = node.0 as usize;
        self.grew = true;
        if self.nodes[n].up {
            return;
        }
        self.nodes[n].up = true;
        let vms: Vec<VmId> = self.nodes[n].vms.iter().copied().collect();
        for vm in vms {
            self.start_vm(now, vm);
        }
    }

    /// The VM runs again on its owner; detection looks at it as at any
    /// running VM (H1, H2). Not while a migration of it is unsettled (its
    /// source died mid-way): it may yet land on the destination, and a VM
    /// never runs twice; it starts when that migration ends on the source.
    fn start_vm(&mut self, now: Millis, vm: VmId) {
        let v = vm.0 as usize;
        if self.vms[v].running || self.migrations.values().any(|m| m.vm == vm) {
            return;
        }
        self.vms[v].running = true;
        let node = self.topo.node_name(self.vms[v].owner).to_string();
        let name = self.topo.vm_name(vm).to_string();
        self.report(now, EventKind::VmUp { vm: name, node });
        match self.settings.detection {
            Detection::Event => self.reconcile(now, vm, "network_restored"),
            Detection::Poll => self.arm_poll(now, vm),
        }
    }

    /// The VM stopped with its node: it leaves the queue and its timers.
    fn stop_vm(&mut self, now: Millis, vm: VmId) {
        let v = vm.0 as usize;
        if !self.vms[v].running {
            return;
        }
        self.vms[v].running = false;
        if let Life::Impaired(_) = self.vms[v].life {
            self.queue.remove(&self.queue_key(vm));
        }
        self.vms[v].life = Life::Healthy;
        let node = self.topo.node_name(self.vms[v].owner).to_string();
        let name = self.topo.vm_name(vm).to_string();
        self.report(now, EventKind::VmDown { vm: name, node });
    }

    fn set_protected(&mut self, now: Millis, vm_name: &str, switch: &str, protected: bool) {
        // `check_input` refused unknown names before anything changed.
        let (Some(vm), Some(sw)) = (self.topo.vm_id(vm_name), self.topo.switch_id(switch)) else {
            return;
        };
        let adapters: Vec<usize> = (self.topo.vm(vm).adapters.iter().enumerate())
            .filter(|(_, a)| a.switch == sw)
            .map(|(i, _)| i)
            .collect();
        let state = &mut self.vms[vm.0 as usize];
        if adapters.iter().all(|&i| state.protected[i] == protected) {
            return;
        }
        for i in adapters {
            state.protected[i] = protected;
        }
        self.report(
            now,
            EventKind::AdapterChanged {
                vm: vm_name.to_string(),
                switch: switch.to_string(),
                protected,
            },
        );
        self.grew = true;
        // H11: at once, whatever the detection mode.
        self.reconcile(now, vm, "adapter_unprotected");
        // H7: a switch that just became protected may be down at the
        // destination.
        self.check_in_flight(now, |m| m.vm == vm);
    }

    // ---- detection (H1, H2) --------------------------------------------

    /// The first protected switch of `vm` whose uplink is down on its node,
    /// as detection sees it at `now`: in event mode a link counts once it has
    /// stayed down for `hold_down_ms`; poll mode looks at the link as it is.
    fn sense(&self, now: Millis, vm: VmId) -> Option<SwitchName> {
        let state = &self.vms[vm.0 as usize];
        let hold = match self.settings.detection {
            Detection::Event => self.settings.hold_down_ms,
            Detection::Poll => 0,
        };
        let node = self.topo.node(state.owner);
        let links = &self.links[state.owner.0 as usize];
        let adapters = &self.topo.vm(vm).adapters;
        adapters
            .iter()
            .zip(&state.protected)
            .filter(|(_, &p)| p)
            .map(|(a, _)| a.switch)
            .find(|sw| match node.switches.get(sw) {
                Some(nic) => {
                    let link = links[nic.0 as usize];
                    !link.up && now.saturating_sub(link.since) >= hold
                }
                None => true,
            })
    }

    /// Brings the VM's life in line with what detection sees now.
    fn reconcile(&mut self, now: Millis, vm: VmId, recovery_reason: &str) {
        if !self.vms[vm.0 as usize].running {
            return;
        }
        let sensed = self.sense(now, vm);
        match (&self.vms[vm.0 as usize].life, sensed) {
            (Life::Healthy, Some(sw)) => self.impair(now, vm, sw),
            (Life::Impaired(imp), None) if !matches!(imp.stage, Stage::Migrating(_)) => {
                self.recover(now, vm, recovery_reason)
            }
            _ => {}
        }
    }

    // Healthy ---- detected ----> Impaired(Waiting)
    fn impair(&mut self, now: Millis, vm: VmId, sw: SwitchName) {
        let imp = Impairment {
            detected_at: now,
            tries: 0,
            avoid: BTreeSet::new(),
            stage: Stage::Waiting(Wait::New),
        };
        self.vms[vm.0 as usize].life = Life::Impaired(imp);
        self.enqueue(vm);
        let node = self.topo.node_name(self.owner(vm)).to_string();
        let kind = EventKind::VmNetworkImpaired {
            vm: self.topo.vm_name(vm).to_string(),
            node,
            switch: self.topo.switch_name(sw).to_string(),
        };
        self.report(now, kind);
    }

    // Impaired ---- link back / unprotected ----> Healthy (H6)
    fn recover(&mut self, now: Millis, vm: VmId, reason: &str) {
        let Life::Impaired(imp) = &self.vms[vm.0 as usize].life else {
            return;
        };
        let cancel = match imp.stage {
            Stage::Waiting(wait) => {
                self.queue.remove(&self.queue_key(vm));
                wait == Wait::Slots
            }
            Stage::Backoff { .. } => true,
            Stage::Stuck | Stage::Migrating(_) => false,
        };
        self.vms[vm.0 as usize].life = Life::Healthy;
        let name = self.topo.vm_name(vm).to_string();
        let node = self.topo.node_name(self.owner(vm)).to_string();
        if cancel {
            let kind = EventKind::MigrationCancelled {
                vm: name.clone(),
                from: node.clone(),
                reason: reason.to_string(),
            };
            self.report(now, kind);
        }
        self.report(now, EventKind::VmNetworkRestored { vm: name, node });
    }

    /// Poll mode: make sure the VM looks at its switches at its next tick.
    fn arm_poll(&mut self, now: Millis, vm: VmId) {
        let interval = self.settings.poll_interval_ms.max(1);
        let state = &mut self.vms[vm.0 as usize];
        let offset = (state.phase_ms + interval - now % interval) % interval;
        let at = now.saturating_add(if offset == 0 { interval } else { offset });
        if state.poll_armed.is_some_and(|armed| armed <= at) {
            return;
        }
        if let Some(old) = state.poll_armed.replace(at) {
            self.timers.remove(&(old, Timer::Poll { vm }));
        }
        self.timers.insert((at, Timer::Poll { vm }));
    }

    fn fire(&mut self, now: Millis, timer: Timer) {
        match timer {
            Timer::HoldDown { node, nic, since } => {
                let link = self.links[node.0 as usize][nic.0 as usize];
                if !link.up && link.since == since {
                    for vm in self.vms_behind(node, nic) {
                        self.reconcile(now, vm, "network_restored");
                    }
                }
            }
            Timer::Poll { vm } => {
                self.vms[vm.0 as usize].poll_armed = None;
                self.reconcile(now, vm, "network_restored");
            }
            Timer::Backoff { vm } => self.retry(now, vm),
        }
    }

    // Backoff ---- timer ----> Waiting
    fn retry(&mut self, now: Millis, vm: VmId) {
        let Life::Impaired(imp) = &mut self.vms[vm.0 as usize].life else {
            return;
        };
        if imp.stage != (Stage::Backoff { until: now }) {
            return; // a stale timer: the VM moved on meanwhile
        }
        imp.stage = Stage::Waiting(Wait::New);
        self.enqueue(vm);
    }

    // ---- placement (H3, H4, H5) ----------------------------------------

    fn queue_key(&self, vm: VmId) -> QueueKey {
        let info = self.topo.vm(vm);
        let detected_at = match &self.vms[vm.0 as usize].life {
            Life::Impaired(imp) => imp.detected_at,
            Life::Healthy => 0,
        };
        QueueKey {
            priority: Reverse(info.priority),
            detected_at,
            expected_ms: info.expected_migration_ms,
            name_rank: self.vm_name_rank[vm.0 as usize],
            vm,
        }
    }

    /// Starts every queued migration that may start now, in queue order.
    fn dispatch(&mut self, now: Millis) {
        let limit = self.settings.max_concurrent_migrations;
        let queued: Vec<QueueKey> = match std::mem::take(&mut self.grew) {
            true => self.queue.iter().copied().collect(),
            false => (self.fresh.iter().copied())
                .filter(|k| self.queue.contains(k))
                .collect(),
        };
        self.fresh.clear();
        // Candidate destinations per (source, adapters): starting a
        // migration changes memory and slots, never the other H3 checks.
        let mut memo: BTreeMap<(NodeId, AdapterSignature), Vec<NodeId>> = BTreeMap::new();
        for key in queued {
            let vm = key.vm;
            let src = self.owner(vm);
            let wait = if !self.has_control_path(src) {
                Wait::ControlUnreachable
            } else if self.nodes[src.0 as usize].in_flight >= limit {
                Wait::Slots
            } else {
                let group = (src, self.adapter_signature(vm));
                if !memo.contains_key(&group) {
                    memo.insert(group.clone(), self.candidates(vm, src));
                }
                match self.choose_destination(vm, &memo[&group]) {
                    Ok(dst) => {
                        self.start(now, key, dst);
                        continue;
                    }
                    Err(wait) => wait,
                }
            };
            self.set_wait(now, vm, wait);
        }
    }

    /// H3 + H4: the best eligible destination with a free slot among
    /// `candidates` (the nodes that pass every H3 check but memory), or why
    /// the VM must wait.
    fn choose_destination(&self, vm: VmId, candidates: &[NodeId]) -> Result<NodeId, Wait> {
        let limit = self.settings.max_concurrent_migrations;
        let Life::Impaired(imp) = &self.vms[vm.0 as usize].life else {
            return Err(Wait::NoDestination);
        };
        let memory = self.topo.vm(vm).memory_mb;
        let mut best = None;
        let mut any_eligible = false;
        for &dst in candidates {
            let free = self.free_mb(dst);
            if free < memory {
                continue;
            }
            any_eligible = true;
            let state = &self.nodes[dst.0 as usize];
            if state.in_flight >= limit {
                continue;
            }
            let key = (
                imp.avoid.contains(&dst),
                state.incoming,
                Reverse(free),
                self.node_name_rank[dst.0 as usize],
            );
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, dst));
            }
        }
        match best {
            Some((_, dst)) => Ok(dst),
            None if any_eligible => Err(Wait::Slots),
            None => Err(Wait::NoDestination),
        }
    }

    /// Nodes that could receive `vm` from `src` if they had the memory
    /// (H3 less memory). VMs with the same source and the same adapters
    /// share the answer, so one dispatch computes it once per such group.
    fn candidates(&self, vm: VmId, src: NodeId) -> Vec<NodeId> {
        (self.topo.node_ids())
            .filter(|&dst| dst != src && self.ineligible(vm, src, dst, false).is_none())
            .collect()
    }

    /// What decides [`Engine::candidates`] besides the source: each
    /// adapter's switch and whether it is protected.
    fn adapter_signature(&self, vm: VmId) -> AdapterSignature {
        let protected = &self.vms[vm.0 as usize].protected;
        let adapters = self.topo.vm(vm).adapters.iter();
        adapters
            .zip(protected)
            .map(|(a, &p)| (a.switch, p))
            .collect()
    }

    fn free_mb(&self, node: NodeId) -> u64 {
        let state = &self.nodes[node.0 as usize];
        let total = self.topo.node(node).memory_mb;
        total.saturating_sub(state.used_mb + state.reserved_mb)
    }

    /// Why `dst` cannot receive `vm` from `src` (H3), if it cannot.
    /// `check_memory` is off for an in-flight migration, whose memory is
    /// already reserved.
    fn ineligible(
        &self,
        vm: VmId,
        src: NodeId,
        dst: NodeId,
        check_memory: bool,
    ) -> Option<Ineligible> {
        let state = &self.nodes[dst.0 as usize];
        let node = self.topo.node(dst);
        if !state.up {
            return Some(Ineligible::Down);
        }
        if state.draining {
            return Some(Ineligible::Draining);
        }
        if !self.has_control_path(dst) {
            return Some(Ineligible::NoControlPath);
        }
        let vm_state = &self.vms[vm.0 as usize];
        for (adapter, &protected) in self.topo.vm(vm).adapters.iter().zip(&vm_state.protected) {
            let Some(nic) = node.switches.get(&adapter.switch) else {
                return Some(Ineligible::MissingSwitch);
            };
            if protected && !self.links[dst.0 as usize][nic.0 as usize].up {
                return Some(Ineligible::SwitchUplinkDown);
            }
        }
        if check_memory && self.free_mb(dst) < self.topo.vm(vm).memory_mb {
            return Some(Ineligible::NoMemory);
        }
        if !self.share_migration_network(src, dst) {
            return Some(Ineligible::NoMigrationNetwork);
        }
        None
    }

    /// Host-usable NICs of `node` with carrier, as their networks.
    fn working_networks(&self, node: NodeId) -> impl Iterator<Item = crate::topology::NetId> + '_ {
        let links = &self.links[node.0 as usize];
        self.topo
            .node(node)
            .nics
            .iter()
            .zip(links)
            .filter(|(nic, link)| nic.host_usable && link.up)
            .map(|(nic, _)| nic.net)
    }

    /// Recomputes what the host of `node` reaches after its links changed,
    /// so eligibility checks need not walk its NICs.
    fn refresh_paths(&mut self, node: NodeId) {
        let mut control = false;
        let mut migration_nets = Vec::new();
        for net in self.working_networks(node) {
            let info = self.topo.network(net);
            control |= info.control || info.migration;
            if info.migration && !migration_nets.contains(&net) {
                migration_nets.push(net);
            }
        }
        let state = &mut self.nodes[node.0 as usize];
        state.control = control;
        state.migration_nets = migration_nets;
    }

    /// H10: the node can still be reached for coordination.
    fn has_control_path(&self, node: NodeId) -> bool {
        self.nodes[node.0 as usize].control
    }

    fn share_migration_network(&self, a: NodeId, b: NodeId) -> bool {
        let theirs = &self.nodes[b.0 as usize].migration_nets;
        (self.nodes[a.0 as usize].migration_nets.iter()).any(|net| theirs.contains(net))
    }

    /// Reports why the VM waits, once per change of reason.
    fn set_wait(&mut self, now: Millis, vm: VmId, wait: Wait) {
        let Life::Impaired(imp) = &mut self.vms[vm.0 as usize].life else {
            return;
        };
        if imp.stage == Stage::Waiting(wait) {
            return;
        }
        imp.stage = Stage::Waiting(wait);
        let name = self.topo.vm_name(vm).to_string();
        let node = self.topo.node_name(self.owner(vm)).to_string();
        let kind = match wait {
            Wait::New => return,
            Wait::Slots => EventKind::MigrationQueued {
                vm: name,
                from: node,
            },
            Wait::NoDestination => EventKind::NoEligibleDestination { vm: name, node },
            Wait::ControlUnreachable => EventKind::VmStuck {
                vm: name,
                node,
                cause: "control_unreachable".to_string(),
            },
        };
        self.report(now, kind);
    }

    // Waiting ---- slot and destination ----> Migrating
    fn start(&mut self, now: Millis, key: QueueKey, dst: NodeId) {
        let vm = key.vm;
        let src = self.owner(vm);
        let id = MigrationId(self.next_migration);
        self.next_migration += 1;
        self.queue.remove(&key);
        let m = Migration {
            vm,
            from: src,
            to: dst,
            aborting: None,
        };
        self.migrations.insert(id, m);
        let memory = self.topo.vm(vm).memory_mb;
        self.nodes[src.0 as usize].in_flight += 1;
        let to = &mut self.nodes[dst.0 as usize];
        to.in_flight += 1;
        to.incoming += 1;
        to.reserved_mb += memory;
        if let Life::Impaired(imp) = &mut self.vms[vm.0 as usize].life {
            imp.stage = Stage::Migrating(id);
        }
        let (vm, from, to) = self.names(vm, src, dst);
        self.actions.push_back(Action::StartMigration {
            id,
            vm: vm.clone(),
            from: from.clone(),
            to: to.clone(),
        });
        self.report(now, EventKind::MigrationStarted { vm, from, to });
    }

    fn names(&self, vm: VmId, from: NodeId, to: NodeId) -> (String, String, String) {
        (
            self.topo.vm_name(vm).to_string(),
            self.topo.node_name(from).to_string(),
            self.topo.node_name(to).to_string(),
        )
    }

    // ---- migration outcomes (H6, H7, H8) -------------------------------

    /// Forgets migration `id` and frees its slots and reservation.
    fn end_migration(&mut self, id: MigrationId) -> Migration {
        let m = self.migrations.remove(&id).expect("caller checked the id");
        let memory = self.topo.vm(m.vm).memory_mb;
        self.nodes[m.from.0 as usize].in_flight -= 1;
        let to = &mut self.nodes[m.to.0 as usize];
        to.in_flight -= 1;
        to.incoming -= 1;
        to.reserved_mb -= memory;
        self.grew = true;
        m
    }

    /// Asks the world to stop migration `id` (reporting `reason` when
    /// given). Its slots and memory stay taken until the world answers:
    /// a cancel can lose the race with the migration's completion.
    // Migrating ---- abort ----> Aborting ---- cancelled ----> per `after`
    fn request_abort(
        &mut self,
        now: Millis,
        id: MigrationId,
        reason: Option<&str>,
        after: AfterAbort,
    ) {
        let m = self.migrations.get_mut(&id).expect("caller checked the id");
        if m.aborting.is_some() {
            return;
        }
        m.aborting = Some(after);
        let m = *m;
        let (vm, from, to) = self.names(m.vm, m.from, m.to);
        self.actions.push_back(Action::AbortMigration {
            id,
            vm: vm.clone(),
            from: from.clone(),
            to: to.clone(),
        });
        if let Some(reason) = reason {
            let reason = reason.to_string();
            let kind = EventKind::MigrationAborted {
                vm,
                from,
                to,
                reason,
            };
            self.report(now, kind);
        }
    }

    /// The world confirmed an abort (or the migration failed while one was
    /// asked for): the VM is on its source.
    fn migration_cancelled(&mut self, now: Millis, id: MigrationId) {
        let m = self.end_migration(id);
        match m.aborting {
            Some(AfterAbort::Fail(why)) => {
                self.failed(now, m, format!("destination_lost: {}", why.reason()))
            }
            // Its source died; if the node is back, the VM starts there.
            Some(AfterAbort::Drop) if self.nodes[m.from.0 as usize].up => self.start_vm(now, m.vm),
            Some(AfterAbort::Drop) => {}
            Some(AfterAbort::Reroute) | None => {
                if let Life::Impaired(imp) = &mut self.vms[m.vm.0 as usize].life {
                    imp.avoid.insert(m.to);
                    imp.stage = Stage::Waiting(Wait::New);
                    self.enqueue(m.vm);
                }
                // The VM may have recovered while it was migrating.
                self.reconcile(now, m.vm, "network_restored");
            }
        }
    }

    /// H7: aborts the in-flight migrations selected by `which` whose
    /// destination is no longer eligible, and queues their VMs again.
    fn check_in_flight(&mut self, now: Millis, which: impl Fn(&Migration) -> bool) {
        let doomed: Vec<(MigrationId, Ineligible)> = self
            .migrations
            .iter()
            .filter(|(_, m)| m.aborting.is_none() && which(m))
            .filter_map(|(&id, m)| Some((id, self.ineligible(m.vm, m.from, m.to, false)?)))
            .collect();
        for (id, why) in doomed {
            match self.settings.reroute_mid_flight {
                true => self.request_abort(now, id, Some(why.reason()), AfterAbort::Reroute),
                false => self.lose_destination(now, id, why),
            }
        }
    }

    /// Without re-routing (the classic profile): a migration whose
    /// destination lost a VM network runs on and lands there; one whose
    /// destination is gone, or unreachable over the migration network,
    /// fails like any other failure (H8) once stopped.
    fn lose_destination(&mut self, now: Millis, id: MigrationId, why: Ineligible) {
        if matches!(why, Ineligible::Down | Ineligible::NoMigrationNetwork) {
            self.request_abort(now, id, None, AfterAbort::Fail(why));
        }
    }

    // Migrating ---- completed ----> Healthy on the destination
    fn migration_completed(&mut self, now: Millis, id: MigrationId) {
        let m = self.end_migration(id);
        let memory = self.topo.vm(m.vm).memory_mb;
        let from = &mut self.nodes[m.from.0 as usize];
        from.used_mb -= memory;
        from.vms.remove(&m.vm);
        let to = &mut self.nodes[m.to.0 as usize];
        to.used_mb += memory;
        to.vms.insert(m.vm);
        let state = &mut self.vms[m.vm.0 as usize];
        state.owner = m.to;
        state.life = Life::Healthy;
        // The destination runs it, even if its source died meanwhile.
        state.running = true;
        let (vm, from, to) = self.names(m.vm, m.from, m.to);
        self.report(now, EventKind::MigrationCompleted { vm, from, to });
        // Its new node may have lost a network meanwhile.
        self.reconcile(now, m.vm, "network_restored");
    }

    // Migrating ---- failed ----> Backoff | Stuck | Healthy (recovered)
    fn migration_failed(&mut self, now: Millis, id: MigrationId, cause: FailureCause) {
        if self.migrations[&id].aborting.is_some() {
            // It failed while being cancelled: the VM is on its source,
            // as a cancel would have left it.
            self.migration_cancelled(now, id);
            return;
        }
        let m = self.end_migration(id);
        self.failed(now, m, cause.to_string());
    }

    /// Reports a failed migration and backs off, or gives up after
    /// `retry_max` tries (H8).
    fn failed(&mut self, now: Millis, m: Migration, cause: String) {
        let (vm, from, to) = self.names(m.vm, m.from, m.to);
        let kind = EventKind::MigrationFailed {
            vm: vm.clone(),
            from: from.clone(),
            to,
            cause: cause.clone(),
        };
        self.report(now, kind);
        let (retry_max, backoff) = (self.settings.retry_max, self.settings.retry_backoff_ms);
        let Life::Impaired(imp) = &mut self.vms[m.vm.0 as usize].life else {
            return;
        };
        imp.tries += 1;
        imp.avoid.insert(m.to);
        if imp.tries >= retry_max {
            imp.stage = Stage::Stuck;
            let cause = format!("{cause} ({} tries)", imp.tries);
            self.report(
                now,
                EventKind::VmStuck {
                    vm,
                    node: from,
                    cause,
                },
            );
        } else {
            let until = now.saturating_add(backoff.saturating_mul(1u64 << (imp.tries - 1).min(20)));
            imp.stage = Stage::Backoff { until };
            self.timers.insert((until, Timer::Backoff { vm: m.vm }));
        }
        self.reconcile(now, m.vm, "network_restored");
    }
}
