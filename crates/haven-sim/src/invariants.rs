//! H12, checked by the simulator at every step. Each invariant is one
//! function; a broken one is a [`Violation`] that names it.

use crate::world::World;
use haven_core::event::{Event, EventKind};
use haven_core::topology::{NodeId, VmId};
use haven_core::Engine;
use std::collections::BTreeMap;

/// A broken invariant: which, when, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub t_ms: u64,
    pub detail: String,
}

/// H12 "each VM is owned by exactly one node": the engine and the world
/// agree on the owner, and no VM runs anywhere else.
pub fn single_owner(world: &World, engine: &Engine, t_ms: u64) -> Result<(), Violation> {
    for vm in world.topo.vm_ids() {
        let (w, e) = (world.owner[vm.0 as usize], engine.owner(vm));
        if w != e {
            return Err(Violation {
                invariant: "H12 single owner",
                t_ms,
                detail: format!(
                    "VM {} runs on {} but the engine has it on {}",
                    world.topo.vm_name(vm),
                    world.topo.node_name(w),
                    world.topo.node_name(e)
                ),
            });
        }
    }
    Ok(())
}

/// H12 "no node exceeds its migration limit" (H5).
pub fn migration_limit(world: &World, t_ms: u64) -> Result<(), Violation> {
    for node in world.topo.node_ids() {
        let n = world.in_flight(node);
        if n > world.limit {
            return Err(Violation {
                invariant: "H12 migration limit",
                t_ms,
                detail: format!(
                    "node {} takes part in {n} migrations, limit {}",
                    world.topo.node_name(node),
                    world.limit
                ),
            });
        }
    }
    Ok(())
}

/// H12 "no VM is sent to a node that is not eligible when it starts" (H3),
/// judged from the world's own state, not the engine's.
pub fn eligible_at_start(
    world: &World,
    vm: VmId,
    from: NodeId,
    to: NodeId,
    t_ms: u64,
) -> Result<(), Violation> {
    let mut problems = Vec::new();
    if world.owner[vm.0 as usize] != from || !world.running[vm.0 as usize] {
        problems.push("the VM does not run on the source".to_string());
    }
    problems.extend(world.why_ineligible(vm, from, to));
    if world.in_flight(from) >= world.limit || world.in_flight(to) >= world.limit {
        problems.push("a node has no free migration slot".to_string());
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(Violation {
            invariant: "H12 eligible destination",
            t_ms,
            detail: format!(
                "migration of {} from {} to {}: {}",
                world.topo.vm_name(vm),
                world.topo.node_name(from),
                world.topo.node_name(to),
                problems.join("; ")
            ),
        }),
    }
}

/// Where one VM's current impairment stands, from the reported events.
#[derive(Clone, Debug, Default)]
struct Episode {
    open: bool,
    migrating: bool,
    /// The last report that explains why it is not moving.
    cause: Option<String>,
}

/// H12 "every impairment ends in exactly one of migrated, recovered in
/// place, or reported as stuck with a cause": follows the event stream; at
/// the end, an impairment still open must have a cause reported and no
/// migration pending.
#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    episodes: BTreeMap<String, Episode>,
}

impl Outcomes {
    pub fn observe(&mut self, e: &Event) -> Result<(), Violation> {
        let Some(vm) = e.kind.vm() else {
            return Ok(());
        };
        let ep = self.episodes.entry(vm.to_string()).or_default();
        let broken = |what: &str| Violation {
            invariant: "H12 impairment outcome",
            t_ms: e.t_ms,
            detail: format!("VM {vm}: {what}"),
        };
        match &e.kind {
            EventKind::VmNetworkImpaired { .. } if ep.open => {
                return Err(broken("impaired again before its impairment ended"))
            }
            EventKind::VmNetworkImpaired { .. } => {
                *ep = Episode {
                    open: true,
                    ..Default::default()
                }
            }
            EventKind::MigrationStarted { .. } => {
                if !ep.open {
                    return Err(broken("migrated without an impairment"));
                }
                ep.migrating = true;
                ep.cause = None;
            }
            EventKind::MigrationCompleted { .. } | EventKind::VmNetworkRestored { .. } => {
                if !ep.open {
                    return Err(broken("an impairment ended twice"));
                }
                *ep = Episode::default();
            }
            EventKind::MigrationFailed { cause, .. } => {
                ep.migrating = false;
                ep.cause = Some(cause.clone());
            }
            EventKind::MigrationAborted { .. } => {
                ep.migrating = false;
                ep.cause = None;
            }
            EventKind::VmStuck { cause, .. } => ep.cause = Some(cause.clone()),
            EventKind::NoEligibleDestination { .. } => {
                ep.cause = Some("no_eligible_destination".into())
            }
            EventKind::VmDown { .. } => *ep = Episode::default(),
            _ => {}
        }
        Ok(())
    }

    /// At the end of a run: no impairment is left silently waiting.
    pub fn finish(&self, t_ms: u64) -> Result<(), Violation> {
        for (vm, ep) in &self.episodes {
            if ep.open && (ep.migrating || ep.cause.is_none()) {
                return Err(Violation {
                    invariant: "H12 impairment outcome",
                    t_ms,
                    detail: format!("VM {vm} is impaired at the end with no outcome or cause"),
                });
            }
        }
        Ok(())
    }
}
