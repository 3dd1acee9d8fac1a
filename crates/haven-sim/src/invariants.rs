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

/// H12 "each VM is owned by exactly one node": for `vms`, the engine and
/// the world agree on the owner, and the owner's list holds the VM once.
pub fn single_owner(
    world: &World,
    engine: &Engine,
    vms: &[VmId],
    t_ms: u64,
) -> Result<(), Violation> {
    for &vm in vms {
        let holders = (world.topo.node_ids())
            .filter(|&n| world.vms_on(n).contains(&vm))
            .count();
        if holders != 1 {
            return Err(Violation {
                invariant: "H12 single owner",
                t_ms,
                detail: format!("VM {} is held by {holders} nodes", world.topo.vm_name(vm)),
            });
        }
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

/// H12 at the end of a run, judged from the world: every VM still cut off
/// was reported impaired and given a cause, and "no eligible destination"
/// is true of every other node.
pub fn settled(world: &World, outcomes: &Outcomes, t_ms: u64) -> Result<(), Violation> {
    for vm in world.topo.vm_ids() {
        if !world.really_impaired(vm) {
            continue;
        }
        let name = world.topo.vm_name(vm);
        let broken = |detail: String| Violation {
            invariant: "H12 impairment outcome",
            t_ms,
            detail,
        };
        match outcomes.open_cause(name) {
            None => {
                return Err(broken(format!(
                    "VM {name} is cut off but was never reported impaired"
                )))
            }
            Some(None) => {
                return Err(broken(format!(
                    "VM {name} is cut off with no cause reported"
                )))
            }
            Some(Some("no_eligible_destination")) => {
                let from = world.owner[vm.0 as usize];
                let eligible = (world.topo.node_ids())
                    .find(|&to| world.why_ineligible(vm, from, to).is_none());
                if let Some(to) = eligible {
                    return Err(broken(format!(
                        "VM {name} was left with no_eligible_destination, but {} could take it",
                        world.topo.node_name(to)
                    )));
                }
            }
            Some(Some(_)) => {}
        }
    }
    Ok(())
}

/// H12 "no node exceeds its migration limit" (H5), for `nodes`.
pub fn migration_limit(world: &World, nodes: &[NodeId], t_ms: u64) -> Result<(), Violation> {
    for &node in nodes {
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
                if ep.migrating {
                    return Err(broken("a second migration started while one is in flight"));
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

    /// The cause reported for `vm`'s open impairment: `None` when it has no
    /// open impairment, `Some(None)` when open without a cause.
    pub fn open_cause(&self, vm: &str) -> Option<Option<&str>> {
        let ep = self.episodes.get(vm).filter(|ep| ep.open)?;
        Some(ep.cause.as_deref())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t_ms: u64, kind: EventKind) -> Event {
        Event { t_ms, kind }
    }

    fn impaired(t: u64) -> Event {
        event(
            t,
            EventKind::VmNetworkImpaired {
                vm: "VM1".into(),
                node: "A".into(),
                switch: "Corp".into(),
            },
        )
    }

    fn restored(t: u64) -> Event {
        event(
            t,
            EventKind::VmNetworkRestored {
                vm: "VM1".into(),
                node: "A".into(),
            },
        )
    }

    #[test]
    fn h12_an_impairment_that_ends_twice_is_caught() {
        let mut o = Outcomes::default();
        o.observe(&impaired(1)).unwrap();
        o.observe(&restored(2)).unwrap();
        let err = o.observe(&restored(3)).unwrap_err();
        assert_eq!(err.invariant, "H12 impairment outcome");
        assert_eq!(err.t_ms, 3);
    }

    #[test]
    fn h12_an_impairment_left_waiting_silently_is_caught() {
        let mut o = Outcomes::default();
        o.observe(&impaired(1)).unwrap();
        assert!(o.finish(10).is_err());
        // Reported with a cause, it is a legitimate end state.
        let stuck = EventKind::NoEligibleDestination {
            vm: "VM1".into(),
            node: "A".into(),
        };
        o.observe(&event(2, stuck)).unwrap();
        assert!(o.finish(10).is_ok());
    }

    #[test]
    fn h12_a_cut_off_vm_that_was_never_reported_is_caught_at_the_end() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/figure-1.toml"
        ))
        .unwrap();
        let scenario = haven_core::parse::parse_scenario("t.toml", &text).unwrap();
        let mut world = World::new(&scenario);
        world.ports[0].insert("eth1".into(), false);
        let mut o = Outcomes::default();
        let err = settled(&world, &o, 9).unwrap_err();
        assert!(
            err.detail.contains("never reported impaired"),
            "{}",
            err.detail
        );
        o.observe(&impaired(1)).unwrap();
        let stuck = EventKind::NoEligibleDestination {
            vm: "VM1".into(),
            node: "A".into(),
        };
        o.observe(&event(2, stuck)).unwrap();
        // B could take VM1: the cause is false.
        let err = settled(&world, &o, 9).unwrap_err();
        assert!(err.detail.contains("B could take it"), "{}", err.detail);
    }

    #[test]
    fn h12_a_second_impairment_before_the_first_ended_is_caught() {
        let mut o = Outcomes::default();
        o.observe(&impaired(1)).unwrap();
        assert!(o.observe(&impaired(2)).is_err());
    }

    #[test]
    fn h12_migration_limit_and_eligibility_are_judged_from_the_world() {
        let scenario = haven_core::parse::parse_scenario(
            "t.toml",
            r#"
[settings]
max_concurrent_migrations = 1
[[network]]
name = "Net"
control = true
migration = true
[[node]]
name = "A"
memory_mb = 4096
nics = [ { name = "eth0", network = "Net" } ]
[[node]]
name = "B"
memory_mb = 1024
nics = [ { name = "eth0", network = "Net" } ]
[[vm]]
name = "VM1"
node = "A"
memory_mb = 2048
"#,
        )
        .unwrap();
        let mut world = World::new(&scenario);
        let (vm, a, b) = (VmId(0), NodeId(0), NodeId(1));
        // B lacks the memory.
        let err = eligible_at_start(&world, vm, a, b, 5).unwrap_err();
        assert!(err.detail.contains("memory"), "{}", err.detail);
        // Two flights on A break the limit of one.
        for id in [1, 2] {
            let flight = crate::world::Flight {
                vm,
                from: a,
                to: b,
                started_at: 0,
                fixed_ms: Some(10),
                remaining_mbit: 0.0,
                rate_mbps: 1.0,
            };
            world.add_flight(haven_core::MigrationId(id), flight);
        }
        assert_eq!(
            migration_limit(&world, &[a], 7).unwrap_err().invariant,
            "H12 migration limit"
        );
    }
}
