//! A new leader's engine, rebuilt from what the coordination store holds
//! alone (SPEC H12; DESIGN "A new leader rebuilds Engine state from etcd
//! alone"): the inventory, where each VM runs now, the migrations under
//! way, which nodes are members, their links, and the protection overrides.
//!
//! This is pure: the caller reads the store (see `store`, feature `etcd`)
//! into a [`Snapshot`] and carries out the actions the rebuilt engine
//! returns.

use haven_core::model::Millis;
use haven_core::parse::{parse_scenario, InputError};
use haven_core::{Action, Engine, EngineError, Input, MigrationId};
use std::collections::{BTreeMap, BTreeSet};

/// What the store holds, as plain data.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The inventory file's text (`haven cluster init`).
    pub inventory: String,
    /// VM -> the node that owns it now.
    pub owners: BTreeMap<String, String>,
    /// Migrations under way (intents), by id.
    pub in_flight: Vec<InFlight>,
    /// Nodes whose membership is alive.
    pub members: BTreeSet<String>,
    /// Node -> NIC -> carrier, as each node published it.
    pub links: BTreeMap<String, BTreeMap<String, bool>>,
    /// (VM, switch) -> protected, overriding the inventory (H11).
    pub protection: BTreeMap<(String, String), bool>,
    /// The leader key's revision: this leader's migration ids start above
    /// every id a predecessor could have used.
    pub leader_revision: i64,
    /// The largest migration id the store remembers (intents and results):
    /// ids start above it too, so a rebuild within one leadership never
    /// reuses an id whose old result is still stored.
    pub max_used_id: u64,
}

/// A migration the store says is under way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub id: u64,
    pub vm: String,
    pub from: String,
    pub to: String,
}

/// Why a snapshot cannot become an engine.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("the stored inventory is not valid: {0}")]
    Inventory(#[from] InputError),
    #[error("the stored state does not fit the inventory: {0}")]
    State(#[from] EngineError),
}

/// The engine of a leader taking over at `now`, and the actions it asks
/// for right away (migrations for VMs impaired while nobody led).
///
/// # Errors
/// The inventory does not parse, or the owners, links, migrations or
/// overrides name things it does not have.
pub fn rebuild(
    snapshot: &Snapshot,
    now: Millis,
    seed: u64,
) -> Result<(Engine, Vec<Action>), RebuildError> {
    let mut scenario = parse_scenario("inventory", &snapshot.inventory)?;
    for vm in &mut scenario.cluster.vms {
        if let Some(owner) = snapshot.owners.get(&vm.name) {
            if scenario.cluster.nodes.iter().any(|n| &n.name == owner) {
                vm.node = owner.clone();
            }
        }
    }
    let mut engine = Engine::new(&scenario.cluster, seed);
    let fenced = (snapshot.leader_revision.max(0) as u64) << 32;
    engine.first_migration_id(fenced.max(snapshot.max_used_id.saturating_add(1)));
    // Migrations first: their VMs must not be queued for a second one.
    for m in &snapshot.in_flight {
        engine.adopt_migration(now, MigrationId(m.id), &m.vm, &m.from, &m.to)?;
    }
    // A node without a live membership has no agent: nothing can be moved
    // to it. Its VMs are not known to be down (QEMU outlives its agent), so
    // it is not `NodeDown`; intents from it wait for its agent's return.
    for node in &scenario.cluster.nodes {
        if !snapshot.members.contains(&node.name) {
            let node = node.name.clone();
            engine.handle(
                now,
                Input::SetDraining {
                    node,
                    draining: true,
                },
            )?;
        }
    }
    // Configuration before facts: an adapter unprotected while nobody led
    // must not make its VM move when the links are replayed.
    for ((vm, switch), &protected) in &snapshot.protection {
        let (vm, switch) = (vm.clone(), switch.clone());
        engine.handle(
            now,
            Input::SetProtected {
                vm,
                switch,
                protected,
            },
        )?;
    }
    for (node, nics) in &snapshot.links {
        for (nic, &up) in nics {
            // Bond members are published for the record; the engine knows
            // a bond by its own carrier.
            if is_member(&scenario.cluster, node, nic) {
                continue;
            }
            let (node, nic) = (node.clone(), nic.clone());
            engine.handle(now, Input::LinkChanged { node, nic, up })?;
        }
    }
    let actions = engine.take_actions();
    Ok((engine, actions))
}

/// Whether `nic` is a NIC (plain or bond) of `node` in `cluster`, as the
/// engine knows NICs; a bond member is not.
pub fn is_nic(cluster: &haven_core::model::Cluster, node: &str, nic: &str) -> bool {
    cluster
        .node(node)
        .is_some_and(|n| n.nics.iter().any(|k| k.name == nic))
}

/// Whether `port` is a member of a bond of `node` in `cluster`.
pub fn is_member(cluster: &haven_core::model::Cluster, node: &str, port: &str) -> bool {
    cluster
        .node(node)
        .is_some_and(|n| n.nics.iter().any(|k| k.members.iter().any(|m| m == port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVENTORY: &str = r#"
[[network]]
name = "Mgmt"
control = true
[[network]]
name = "Private"
migration = true
[[network]]
name = "Corp"
[[node]]
name = "A"
memory_mb = 16384
nics = [ { name = "eth0", network = "Mgmt" }, { name = "eth1", network = "Corp" }, { name = "eth2", network = "Private" } ]
switches = [ { name = "Corp", uplink = "eth1" } ]
[[node]]
name = "B"
memory_mb = 16384
nics = [ { name = "eth0", network = "Mgmt" }, { name = "eth1", network = "Corp" }, { name = "eth2", network = "Private" } ]
switches = [ { name = "Corp", uplink = "eth1" } ]
[[node]]
name = "C"
memory_mb = 16384
nics = [ { name = "eth0", network = "Mgmt" }, { name = "eth1", network = "Corp" }, { name = "eth2", network = "Private" } ]
switches = [ { name = "Corp", uplink = "eth1" } ]
[[vm]]
name = "VM1"
node = "A"
memory_mb = 1024
adapters = [ { switch = "Corp", mac = "00155D000001" } ]
[[vm]]
name = "VM2"
node = "A"
memory_mb = 1024
adapters = [ { switch = "Corp", mac = "00155D000002" } ]
[[vm]]
name = "VM3"
node = "A"
memory_mb = 1024
adapters = [ { switch = "Corp", mac = "00155D000003" } ]
"#;

    fn starts(actions: &[Action]) -> Vec<(u64, String, String, String)> {
        (actions.iter())
            .filter_map(|a| match a {
                Action::StartMigration { id, vm, from, to } => {
                    Some((id.0, vm.clone(), from.clone(), to.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Agents publish bond members too; a rebuild passes over them and
    /// judges the bond by its own carrier (H1).
    #[test]
    fn h1_a_rebuild_judges_a_bond_by_its_carrier_not_its_members() {
        let inventory = include_str!("../../../examples/bond-absorbs-failure.toml");
        let snapshot = |bond: bool| Snapshot {
            inventory: inventory.into(),
            members: ["A", "B"].map(String::from).into(),
            links: BTreeMap::from([(
                "A".into(),
                BTreeMap::from([
                    ("bond0".into(), bond),
                    ("eth3".into(), false),
                    ("eth4".into(), bond),
                ]),
            )]),
            ..Snapshot::default()
        };
        let (_, actions) = rebuild(&snapshot(true), 0, 1).unwrap();
        assert!(starts(&actions).is_empty(), "{actions:?}");
        let (_, actions) = rebuild(&snapshot(false), 0, 1).unwrap();
        let started = starts(&actions);
        assert_eq!(started.len(), 1, "{actions:?}");
        assert_eq!((started[0].2.as_str(), started[0].3.as_str()), ("A", "B"));
    }

    #[test]
    fn a_new_leader_rebuilds_owners_links_migrations_and_overrides_from_the_store() {
        let snapshot = Snapshot {
            inventory: INVENTORY.into(),
            // VM3 moved to C under the previous leader.
            owners: BTreeMap::from([
                ("VM1".into(), "A".into()),
                ("VM2".into(), "A".into()),
                ("VM3".into(), "C".into()),
            ]),
            // VM1 is being moved to B.
            in_flight: vec![InFlight {
                id: 12,
                vm: "VM1".into(),
                from: "A".into(),
                to: "B".into(),
            }],
            members: ["A", "B", "C"].map(String::from).into(),
            links: BTreeMap::from([("A".into(), BTreeMap::from([("eth1".into(), false)]))]),
            // VM2's Corp adapter was unprotected by an operator.
            protection: BTreeMap::from([(("VM2".into(), "Corp".into()), false)]),
            leader_revision: 9,
            max_used_id: 12,
        };
        let (mut engine, actions) = rebuild(&snapshot, 1_000, 1).unwrap();
        // VM1 already moves, VM2 is unprotected, VM3 is on C: nothing new.
        assert_eq!(starts(&actions), vec![]);
        let topo = engine.topology();
        let (vm3, c) = (topo.vm_id("VM3").unwrap(), topo.node_id("C").unwrap());
        assert_eq!(engine.owner(vm3), c);
        // The adopted migration is answered like any other.
        engine
            .handle(
                2_000,
                Input::MigrationCompleted {
                    id: MigrationId(12),
                },
            )
            .unwrap();
        let b = engine.topology().node_id("B").unwrap();
        assert_eq!(engine.owner(engine.topology().vm_id("VM1").unwrap()), b);
        // Re-protecting VM2 moves it, with an id above the old leaders'.
        let protect = Input::SetProtected {
            vm: "VM2".into(),
            switch: "Corp".into(),
            protected: true,
        };
        engine.handle(3_000, protect).unwrap();
        let started = starts(&engine.take_actions());
        assert_eq!(started.len(), 1);
        assert!(started[0].0 >= 9 << 32, "{started:?}");
    }

    #[test]
    fn a_rebuild_within_one_leadership_never_reuses_a_stored_id() {
        // The same leader (same revision) rebuilds after it issued ids up
        // to (9 << 32) + 5, whose results are still stored.
        let snapshot = Snapshot {
            inventory: INVENTORY.into(),
            members: ["A", "B", "C"].map(String::from).into(),
            links: BTreeMap::from([("A".into(), BTreeMap::from([("eth1".into(), false)]))]),
            leader_revision: 9,
            max_used_id: (9 << 32) + 5,
            ..Snapshot::default()
        };
        let (_, actions) = rebuild(&snapshot, 0, 1).unwrap();
        let started = starts(&actions);
        assert!(!started.is_empty());
        assert!(started.iter().all(|s| s.0 > (9 << 32) + 5), "{started:?}");
    }

    #[test]
    fn a_node_without_membership_receives_nothing_and_bad_state_is_refused() {
        let mut snapshot = Snapshot {
            inventory: INVENTORY.into(),
            members: ["A", "C"].map(String::from).into(),
            links: BTreeMap::from([("A".into(), BTreeMap::from([("eth1".into(), false)]))]),
            ..Snapshot::default()
        };
        let (_, actions) = rebuild(&snapshot, 0, 1).unwrap();
        // B is not a member: every move goes to C.
        let started = starts(&actions);
        assert!(
            !started.is_empty() && started.iter().all(|s| s.3 == "C"),
            "{started:?}"
        );
        snapshot.links.insert("Z".into(), BTreeMap::new());
        snapshot
            .links
            .insert("A".into(), BTreeMap::from([("eth9".into(), true)]));
        assert!(matches!(
            rebuild(&snapshot, 0, 1),
            Err(RebuildError::State(_))
        ));
        snapshot.inventory = "not toml [".into();
        assert!(matches!(
            rebuild(&snapshot, 0, 1),
            Err(RebuildError::Inventory(_))
        ));
    }
}
