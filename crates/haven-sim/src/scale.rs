//! Large generated clusters for the benchmarks (`haven bench`): `nodes`
//! nodes with `vms_per_node` VMs each, and a long run of random faults.

use crate::sweep::Rng;
use haven_core::model::{
    Adapter, Cluster, Millis, Network, Nic, Node, Priority, Scenario, Settings, Step, StepAction,
    Switch, Vm,
};

/// A cluster where every node has Mgmt (control), Corp behind a switch and
/// Private (migration), and `vms_per_node` 1 GB VMs with one protected Corp
/// adapter each; nodes have room for twice their VMs.
pub fn cluster(nodes: usize, vms_per_node: usize) -> Cluster {
    let networks = vec![
        network("Mgmt", true, false),
        network("Private", false, true),
        network("Corp", false, false),
    ];
    let nodes_list: Vec<Node> = (0..nodes)
        .map(|i| Node {
            name: node_name(i),
            memory_mb: (vms_per_node as u64 * 2 + 4) * 1024,
            nics: vec![
                nic("eth0", "Mgmt"),
                nic("eth1", "Corp"),
                nic("eth2", "Private"),
            ],
            switches: vec![Switch {
                name: "Corp".into(),
                uplink: "eth1".into(),
                share_with_host: false,
            }],
        })
        .collect();
    let mut vms = Vec::with_capacity(nodes * vms_per_node);
    for n in 0..nodes {
        for j in 0..vms_per_node {
            let index = vms.len() as u64;
            vms.push(Vm {
                name: format!("vm{index:06}"),
                node: node_name(n),
                memory_mb: 1024,
                priority: [Priority::Low, Priority::Medium, Priority::High][j % 3],
                migration_ms: None,
                adapters: vec![Adapter {
                    switch: "Corp".into(),
                    mac: format!("02{index:010X}"),
                    protected: true,
                }],
            });
        }
    }
    Cluster {
        settings: Settings::default(),
        networks,
        nodes: nodes_list,
        vms,
    }
}

pub fn node_name(i: usize) -> String {
    format!("n{i:04}")
}

fn network(name: &str, control: bool, migration: bool) -> Network {
    Network {
        name: name.into(),
        control,
        migration,
        authority: control,
    }
}

fn nic(name: &str, network: &str) -> Nic {
    Nic {
        name: name.into(),
        network: network.into(),
        members: Vec::new(),
    }
}

/// `cluster(nodes, vms_per_node)` with `duration_ms` of random faults:
/// Corp links pulled and plugged back a few seconds later, now and then a
/// migration network or a whole node, from `seed`.
pub fn faults(nodes: usize, vms_per_node: usize, duration_ms: Millis, seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let mut steps = Vec::new();
    let mut at = 0;
    loop {
        at += rng.range(1, 400);
        if at >= duration_ms {
            break;
        }
        let node = node_name(rng.range(0, nodes as u64 - 1) as usize);
        let back = at + rng.range(500, 20_000);
        let (down, up) = match rng.range(0, 199) {
            0 => (
                StepAction::NodeDown { node: node.clone() },
                StepAction::NodeUp { node },
            ),
            1..=10 => link_pair(&node, "eth2"),
            _ => link_pair(&node, "eth1"),
        };
        steps.push(Step {
            at_ms: at,
            line: 0,
            action: down,
        });
        steps.push(Step {
            at_ms: back.min(duration_ms),
            line: 0,
            action: up,
        });
    }
    steps.sort_by_key(|s| s.at_ms);
    Scenario {
        name: format!("faults-{nodes}x{vms_per_node}-{seed}"),
        cluster: cluster(nodes, vms_per_node),
        steps,
    }
}

fn link_pair(node: &str, nic: &str) -> (StepAction, StepAction) {
    let (node, nic) = (node.to_string(), nic.to_string());
    (
        StepAction::LinkDown {
            node: node.clone(),
            nic: nic.clone(),
        },
        StepAction::LinkUp { node, nic },
    )
}
