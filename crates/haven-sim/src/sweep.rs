//! Seeded random scenarios: random topologies with bonds, link flaps, node
//! faults and unprotect steps, each run with its invariants checked. One
//! `u64` seed reproduces a scenario and its run (STYLE.md 5).

use crate::{simulate, SimError};
use haven_core::model::{
    Adapter, Cluster, Detection, MigrationAuth, Network, Nic, Node, Priority, Scenario, Settings,
    Step, StepAction, Switch, Vm,
};

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(1, 100) <= percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

const VM_SWITCHES: [&str; 3] = ["Corp", "Storage", "Backup"];

/// A random scenario of 2–20 nodes, derived from `seed` alone.
pub fn random_scenario(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let settings = random_settings(&mut rng);
    let networks = vec![
        network("Mgmt", true, false, true),
        network("Private", false, true, false),
        network("Corp", false, false, false),
        network("Storage", false, false, false),
        network("Backup", false, false, false),
    ];
    let node_count = rng.range(2, 20) as usize;
    let nodes: Vec<Node> = (0..node_count).map(|i| random_node(&mut rng, i)).collect();
    let mut vms = Vec::new();
    for node in &nodes {
        let mut free = node.memory_mb;
        for _ in 0..rng.range(0, 6) {
            let memory_mb = *rng.pick(&[512, 1024, 2048, 4096, 8192]);
            if memory_mb > free {
                break;
            }
            free -= memory_mb;
            let index = vms.len();
            vms.push(random_vm(&mut rng, node, index, memory_mb));
        }
    }
    let steps = random_steps(&mut rng, &nodes, &vms);
    Scenario {
        name: format!("random-{seed}"),
        cluster: Cluster {
            settings,
            networks,
            nodes,
            vms,
        },
        steps,
    }
}

fn network(name: &str, control: bool, migration: bool, authority: bool) -> Network {
    Network {
        name: name.into(),
        control,
        migration,
        authority,
    }
}

fn random_settings(rng: &mut Rng) -> Settings {
    let poll = rng.chance(25);
    Settings {
        max_concurrent_migrations: rng.range(1, 3) as u32,
        detection: if poll {
            Detection::Poll
        } else {
            Detection::Event
        },
        poll_interval_ms: rng.range(1, 60) * 1000,
        hold_down_ms: if rng.chance(30) {
            rng.range(1, 2000)
        } else {
            0
        },
        migration_auth: if rng.chance(30) {
            MigrationAuth::Authority
        } else {
            MigrationAuth::Certificate
        },
        retry_backoff_ms: rng.range(1, 20) * 1000,
        retry_max: rng.range(1, 4) as u32,
        migration_bandwidth_mbps: *rng.pick(&[1000, 10_000, 25_000]),
        reroute_mid_flight: !rng.chance(20),
    }
}

fn random_node(rng: &mut Rng, index: usize) -> Node {
    let name = format!("n{index:02}");
    let mut nics = vec![nic("eth0", "Mgmt", &[])];
    if rng.chance(85) {
        nics.push(nic("eth1", "Private", &[]));
    }
    let mut switches = Vec::new();
    for (i, sw) in VM_SWITCHES.iter().enumerate() {
        if !rng.chance(85) {
            continue;
        }
        let port = if rng.chance(25) {
            let (a, b) = (format!("p{i}a"), format!("p{i}b"));
            nics.push(nic(&format!("bond{i}"), sw, &[&a, &b]));
            format!("bond{i}")
        } else {
            let port = format!("v{i}");
            nics.push(nic(&port, sw, &[]));
            port
        };
        switches.push(Switch {
            name: sw.to_string(),
            uplink: port,
            share_with_host: false,
        });
    }
    // Sometimes the host shares its only management NIC with a switch, the
    // wiring of seed 001.
    if rng.chance(15) {
        switches.push(Switch {
            name: "Mgmt".into(),
            uplink: "eth0".into(),
            share_with_host: true,
        });
    }
    Node {
        name,
        memory_mb: rng.range(4, 32) * 1024,
        nics,
        switches,
    }
}

fn nic(name: &str, network: &str, members: &[&str]) -> Nic {
    Nic {
        name: name.into(),
        network: network.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

fn random_vm(rng: &mut Rng, node: &Node, index: usize, memory_mb: u64) -> Vm {
    let mut adapters = Vec::new();
    for sw in &node.switches {
        if rng.chance(70) {
            adapters.push(Adapter {
                switch: sw.name.clone(),
                mac: format!("00155D{:04X}{:02X}", index, adapters.len()),
                protected: rng.chance(80),
            });
        }
    }
    Vm {
        name: format!("vm{index:03}"),
        node: node.name.clone(),
        memory_mb,
        priority: *rng.pick(&[Priority::Low, Priority::Medium, Priority::High]),
        migration_ms: rng.chance(20).then(|| rng.range(100, 30_000)),
        adapters,
    }
}

fn random_steps(rng: &mut Rng, nodes: &[Node], vms: &[Vm]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = 0;
    // What was pulled or stopped, so that most link_up / node_up steps
    // undo a fault (flaps and recoveries) rather than repeat a no-op.
    let mut pulled: Vec<(String, String)> = Vec::new();
    let mut stopped: Vec<String> = Vec::new();
    for _ in 0..rng.range(1, 40) {
        at += rng.range(0, 5000);
        let node = rng.pick(nodes);
        let ports: Vec<String> = node
            .nics
            .iter()
            .flat_map(|n| std::iter::once(n.name.clone()).chain(n.members.iter().cloned()))
            .collect();
        let action = match rng.range(0, 9) {
            0..=3 => {
                let nic = rng.pick(&ports).clone();
                pulled.push((node.name.clone(), nic.clone()));
                StepAction::LinkDown {
                    node: node.name.clone(),
                    nic,
                }
            }
            4..=6 if !pulled.is_empty() => {
                let i = rng.range(0, pulled.len() as u64 - 1) as usize;
                let (node, nic) = pulled.swap_remove(i);
                StepAction::LinkUp { node, nic }
            }
            4..=6 => StepAction::LinkUp {
                node: node.name.clone(),
                nic: rng.pick(&ports).clone(),
            },
            7 if !vms.is_empty() => {
                let vm = rng.pick(vms);
                match vm.adapters.is_empty() {
                    true => continue,
                    false => StepAction::SetProtected {
                        vm: vm.name.clone(),
                        switch: rng.pick(&vm.adapters).switch.clone(),
                        protected: rng.chance(50),
                    },
                }
            }
            8 if rng.chance(50) => {
                stopped.push(node.name.clone());
                StepAction::NodeDown {
                    node: node.name.clone(),
                }
            }
            _ if !stopped.is_empty() => StepAction::NodeUp {
                node: stopped.swap_remove(0),
            },
            _ => continue,
        };
        steps.push(Step {
            at_ms: at,
            line: 0,
            action,
        });
    }
    steps
}

/// Runs `count` random scenarios from seed `first` on, returning the first
/// failure. Each scenario runs with its own seed as the simulation seed.
pub fn sweep(first: u64, count: u64) -> Result<u64, SimError> {
    let mut events = 0;
    for seed in first..first + count {
        let report = simulate(&random_scenario(seed), seed)?;
        events += report.events.len() as u64;
    }
    Ok(events)
}
