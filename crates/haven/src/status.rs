//! `haven status`: the live cluster at a glance — nodes and their links,
//! VMs with owner and impairment, the queue and the migrations under way.
#![cfg_attr(not(feature = "etcd"), allow(dead_code))]

use crate::input_error;
use crate::live::ClusterArgs;
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// The cluster as `status` reports it.
#[derive(Serialize, Debug, Default)]
pub struct Status {
    pub cluster: String,
    pub leader: Option<String>,
    pub nodes: Vec<NodeStatus>,
    pub vms: Vec<VmStatus>,
    /// Impaired VMs waiting for a migration, by name.
    pub queue: Vec<String>,
    pub migrations: Vec<MigrationStatus>,
}

#[derive(Serialize, Debug)]
pub struct NodeStatus {
    pub name: String,
    /// Its agent holds a live membership.
    pub agent: bool,
    /// NIC → carrier, as its agent last published (empty without an agent).
    pub links: BTreeMap<String, bool>,
    pub vms: Vec<String>,
    /// Where its wiring differs from the inventory, as its agent found.
    pub findings: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct VmStatus {
    pub name: String,
    pub owner: String,
    /// A protected adapter's network is down on its owner (H1).
    pub impaired: bool,
    /// The switches whose adapters are protected.
    pub protected: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct MigrationStatus {
    pub id: u64,
    pub vm: String,
    pub from: String,
    pub to: String,
    /// `intent` (written, not begun), `running` (the source began),
    /// `aborting` (the leader asked the source to stop).
    pub phase: String,
}

#[cfg(not(feature = "etcd"))]
pub fn run(args: Args) -> ExitCode {
    let _ = args;
    input_error(crate::live::NO_ETCD)
}

#[cfg(feature = "etcd")]
pub fn run(args: Args) -> ExitCode {
    use crate::live::{connect, runtime, Unreachable};
    let read = runtime().block_on(async {
        let store = connect(&args.cluster).await?;
        let state = store
            .state()
            .await
            .map_err(|e| Unreachable::Store(e.to_string()))?;
        let name = store
            .prefix()
            .trim_matches('/')
            .trim_start_matches("haven/")
            .to_string();
        Ok((name, state))
    });
    let (name, state) = match read {
        Ok(read) => read,
        Err(Unreachable::Input(message)) => return input_error(message),
        Err(Unreachable::Store(message)) => {
            eprintln!("haven: {message}");
            return ExitCode::FAILURE;
        }
    };
    let status = match status_of(&name, &state) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("haven: {message}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("status encodes")
        );
    } else {
        print!("{}", to_text(&status));
    }
    ExitCode::SUCCESS
}

/// The status of cluster `name` from its stored state.
///
/// # Errors
/// No inventory is stored, or it does not parse.
#[cfg(feature = "etcd")]
pub fn status_of(name: &str, state: &haven_agent::store::State) -> Result<Status, String> {
    let text = state.inventory.as_deref().ok_or_else(|| {
        format!("cluster {name} has no inventory; store one with `haven cluster init`")
    })?;
    let cluster = haven_core::parse::parse_scenario("inventory", text)
        .map_err(|e| format!("the stored inventory is not valid: {e}"))?
        .cluster;
    let nodes = (cluster.nodes.iter())
        .map(|n| {
            let member = state.members.get(&n.name);
            NodeStatus {
                name: n.name.clone(),
                agent: member.is_some(),
                links: state.links.get(&n.name).cloned().unwrap_or_default(),
                vms: member.map(|m| m.vms.clone()).unwrap_or_default(),
                findings: member.map(|m| m.findings.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let mut vms = Vec::new();
    for vm in &cluster.vms {
        let protected: Vec<String> = (vm.adapters.iter())
            .filter(|a| state.is_protected(&vm.name, a))
            .map(|a| a.switch.clone())
            .collect();
        vms.push(VmStatus {
            name: vm.name.clone(),
            impaired: state.is_impaired(&cluster, vm),
            owner: state.owner_of(vm).to_string(),
            protected,
        });
    }
    let queue = (vms.iter())
        .filter(|v| v.impaired && !state.intents.contains_key(&v.name))
        .map(|v| v.name.clone())
        .collect();
    let migrations = (state.intents.values())
        .map(|i| MigrationStatus {
            id: i.id,
            vm: i.vm.clone(),
            from: i.from.clone(),
            to: i.to.clone(),
            phase: match (state.aborts.get(&i.vm), state.running.get(&i.vm)) {
                (Some(&a), _) if a == i.id => "aborting",
                (_, Some(&r)) if r == i.id => "running",
                _ => "intent",
            }
            .into(),
        })
        .collect();
    Ok(Status {
        cluster: name.to_string(),
        leader: state.leader.as_ref().map(|(node, _)| node.clone()),
        nodes,
        vms,
        queue,
        migrations,
    })
}

/// Aligned columns, the widest cell setting each column's width.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = (row.iter().zip(&widths))
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn to_text(s: &Status) -> String {
    let mut out = format!(
        "cluster {}, leader {}\n\n",
        s.cluster,
        s.leader.as_deref().unwrap_or("(none)")
    );
    let nodes: Vec<Vec<String>> = (s.nodes.iter())
        .map(|n| {
            let links: Vec<String> = (n.links.iter())
                .map(|(nic, up)| format!("{nic} {}", if *up { "up" } else { "DOWN" }))
                .collect();
            vec![
                n.name.clone(),
                if n.agent { "up" } else { "NO AGENT" }.into(),
                links.join(", "),
                n.vms.join(", "),
            ]
        })
        .collect();
    out.push_str(&table(&["NODE", "AGENT", "LINKS", "RUNS"], &nodes));
    for finding in s.nodes.iter().flat_map(|n| &n.findings) {
        out.push_str(&format!("  {finding}\n"));
    }
    out.push('\n');
    let vms: Vec<Vec<String>> = (s.vms.iter())
        .map(|v| {
            let migration = (s.migrations.iter().find(|m| m.vm == v.name))
                .map(|m| format!("-> {} ({}, id {})", m.to, m.phase, m.id))
                .unwrap_or_default();
            vec![
                v.name.clone(),
                v.owner.clone(),
                if v.impaired { "IMPAIRED" } else { "ok" }.into(),
                v.protected.join(", "),
                migration,
            ]
        })
        .collect();
    out.push_str(&table(
        &["VM", "OWNER", "NETWORK", "PROTECTED", "MIGRATION"],
        &vms,
    ));
    out.push_str(&format!(
        "\nqueue: {}\nmigrations under way: {}\n",
        if s.queue.is_empty() {
            "(empty)".to_string()
        } else {
            s.queue.join(", ")
        },
        s.migrations.len()
    ));
    out
}
