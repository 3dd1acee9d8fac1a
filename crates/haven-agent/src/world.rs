//! The engine's actions carried out on real QEMU hosts: the same
//! [`haven_core::runtime::World`] calls the simulator answers, answered by
//! live migrations over TLS.
//!
//! ```text
//!  Engine ──StartMigration{id,vm,from,to}──▶ QemuWorld ──task──▶ to.incoming(def)
//!                                                               from_vm.migrate(to)
//!  Engine ◀──Input::MigrationCompleted{id} / MigrationFailed{id,cause}── answers()
//! ```
//!
//! Every host is reachable from this process (one machine, one namespace
//! per node: the tests and the lab). Across machines the same calls go
//! through the coordination store instead; this type is the per-node half.

use crate::qemu::{migrate_to, Destination, Host, MigrationError, MigrationPolicy, Vm, VmDef};
use haven_core::event::{Event, FailureCause};
use haven_core::runtime::World;
use haven_core::{Input, MigrationId};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;

/// A node as the world drives it: its QEMU host and the address it listens
/// on for incoming migrations (on its migration network).
pub struct Node {
    pub host: Arc<Host>,
    pub migration_ip: IpAddr,
}

/// The VMs of the cluster: the handle of each running one, and each one's
/// definition (the same on every node: switches are bridges of the same
/// name).
#[derive(Default)]
struct Placement {
    running: BTreeMap<String, Arc<Vm>>,
    /// Where each running VM is.
    node_of: BTreeMap<String, String>,
    /// VMs being migrated: their source handle, for `abort_migration`.
    moving: BTreeMap<MigrationId, Arc<Vm>>,
}

/// Carries out the engine's actions on QEMU hosts. Answers come back on
/// [`QemuWorld::answer`] as engine inputs; reports are kept in order.
pub struct QemuWorld {
    runtime: Handle,
    nodes: BTreeMap<String, Node>,
    defs: BTreeMap<String, VmDef>,
    placement: Arc<Mutex<Placement>>,
    policy: MigrationPolicy,
    /// How long a destination waits for its incoming migration.
    incoming_limit: Duration,
    port: u16,
    answers_tx: mpsc::Sender<Input>,
    answers: mpsc::Receiver<Input>,
    pub events: Vec<Event>,
}

/// The world could not take an action.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("no node `{0}` in this world")]
    UnknownNode(String),
    #[error("VM `{0}` has no definition in this world")]
    UnknownVm(String),
}

impl QemuWorld {
    /// A world over `nodes`, running its migration tasks on `runtime`.
    pub fn new(runtime: Handle, nodes: BTreeMap<String, Node>, policy: MigrationPolicy) -> Self {
        let (answers_tx, answers) = mpsc::channel();
        QemuWorld {
            runtime,
            nodes,
            defs: BTreeMap::new(),
            placement: Arc::default(),
            policy,
            incoming_limit: Duration::from_secs(120),
            port: 49_152,
            answers_tx,
            answers,
            events: Vec::new(),
        }
    }

    /// Starts (or adopts) `def` on `node` and keeps its handle.
    ///
    /// # Errors
    /// An unknown node, or QEMU could not start.
    pub fn start_vm(&mut self, node: &str, def: VmDef) -> Result<(), String> {
        let host = &self
            .nodes
            .get(node)
            .ok_or(format!("no node `{node}`"))?
            .host;
        let vm = self
            .runtime
            .block_on(host.start(&def))
            .map_err(|e| format!("cannot start {} on {node}: {e}", def.name))?;
        let mut placement = self.placement.lock().expect("placement lock");
        placement.running.insert(def.name.clone(), Arc::new(vm));
        placement.node_of.insert(def.name.clone(), node.to_string());
        self.defs.insert(def.name.clone(), def);
        Ok(())
    }

    /// The next answer for the engine, waiting at most `limit`.
    pub fn answer(&self, limit: Duration) -> Option<Input> {
        self.answers.recv_timeout(limit).ok()
    }

    /// Whether `vm` runs, and its QEMU process id.
    pub fn pid(&self, vm: &str) -> Option<i32> {
        let placement = self.placement.lock().expect("placement lock");
        placement.running.get(vm).map(|v| v.pid())
    }

    /// Stops every VM this world runs (for tests and shutdown).
    pub fn stop_all(&mut self) {
        let vms: Vec<Arc<Vm>> = {
            let mut placement = self.placement.lock().expect("placement lock");
            std::mem::take(&mut placement.running)
                .into_values()
                .collect()
        };
        for vm in vms {
            if let Ok(vm) = Arc::try_unwrap(vm) {
                let _ = self.runtime.block_on(vm.stop());
            }
        }
    }

    fn next_port(&mut self) -> u16 {
        self.port = if self.port >= 60_999 {
            49_152
        } else {
            self.port + 1
        };
        self.port
    }
}

impl World for QemuWorld {
    type Error = WorldError;

    fn start_migration(
        &mut self,
        id: MigrationId,
        vm: &str,
        from: &str,
        to: &str,
    ) -> Result<(), WorldError> {
        let port = self.next_port();
        let dest = self
            .nodes
            .get(to)
            .ok_or_else(|| WorldError::UnknownNode(to.into()))?;
        let def = (self.defs.get(vm).cloned()).ok_or_else(|| WorldError::UnknownVm(vm.into()))?;
        let listen = SocketAddr::new(dest.migration_ip, port);
        let dest_host = Arc::clone(&dest.host);
        let placement = Arc::clone(&self.placement);
        let answers = self.answers_tx.clone();
        let (policy, limit) = (self.policy.clone(), self.incoming_limit);
        // Only from where the VM really is, and one migration of a VM at a
        // time: anything else fails at once, and the VM stays put.
        let source = {
            let mut p = placement.lock().expect("placement lock");
            let here = p.node_of.get(vm).is_some_and(|n| n == from);
            let busy =
                (p.running.get(vm)).is_some_and(|r| p.moving.values().any(|m| Arc::ptr_eq(m, r)));
            let source = p.running.get(vm).filter(|_| here && !busy).cloned();
            if let Some(s) = &source {
                p.moving.insert(id, Arc::clone(s));
            }
            source
        };
        let Some(source) = source else {
            let cause = FailureCause::Hypervisor(format!(
                "{vm} does not run on {from}, or is already being migrated"
            ));
            let _ = answers.send(Input::MigrationFailed { id, cause });
            return Ok(());
        };
        let to_node = to.to_string();
        self.runtime.spawn(async move {
            let outcome = migrate(&dest_host, &def, listen, &source, &policy, limit).await;
            let mut p = placement.lock().expect("placement lock");
            p.moving.remove(&id);
            let input = match outcome {
                Ok(arrived) => {
                    // The source copy is gone: the destination's handle
                    // replaces it.
                    p.running.insert(def.name.clone(), Arc::new(arrived));
                    p.node_of.insert(def.name.clone(), to_node);
                    Input::MigrationCompleted { id }
                }
                // The abort took effect: the VM runs on its source.
                Err(MigrationError::Cancelled) => Input::MigrationCancelled { id },
                Err(e) => Input::MigrationFailed {
                    id,
                    cause: e
                        .cause()
                        .cloned()
                        .unwrap_or(FailureCause::Hypervisor(e.to_string())),
                },
            };
            let _ = answers.send(input);
        });
        Ok(())
    }

    fn abort_migration(
        &mut self,
        id: MigrationId,
        _vm: &str,
        _from: &str,
        _to: &str,
    ) -> Result<(), WorldError> {
        let source = {
            let p = self.placement.lock().expect("placement lock");
            p.moving.get(&id).cloned()
        };
        if let Some(source) = source {
            // The task answers: MigrationCancelled if the cancel took
            // effect, MigrationCompleted if the migration won the race.
            self.runtime.spawn(async move {
                let _ = source.cancel().await;
            });
        }
        Ok(())
    }

    fn report(&mut self, event: Event) -> Result<(), WorldError> {
        self.events.push(event);
        Ok(())
    }
}

/// One live migration: the destination waits, the source sends, and the
/// destination's handle comes back once it runs the VM (the source copy is
/// quit only then; see [`crate::qemu::migrate_to`]).
async fn migrate(
    dest: &Host,
    def: &VmDef,
    listen: SocketAddr,
    source: &Vm,
    policy: &MigrationPolicy,
    limit: Duration,
) -> Result<Vm, MigrationError> {
    let failed = |e: crate::qemu::VmError| MigrationError::Failed {
        cause: e.cause(),
        detail: e.to_string(),
    };
    let incoming = dest.incoming(def, listen).await.map_err(failed)?;
    let target = Destination {
        addr: listen,
        tls_hostname: None,
    };
    let (arrived, _) = migrate_to(source, incoming, &target, policy, limit, |_| {}).await?;
    Ok(arrived)
}
