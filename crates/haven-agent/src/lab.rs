//! A real haven cluster on one machine, built from an inventory (DESIGN
//! "The lab"): namespaces for the fabric and the nodes, veth pairs as NICs,
//! bridges as networks and switches, etcd on the control networks, one
//! `haven agent` process per node, each VM a small QEMU guest.
//!
//! ```text
//!  fabric ns:  bridge per network ──┬── f<n>-<i> ══ veth ══ <nic>  (node ns <n>)
//!              etcd on each control │                        └─ master <switch> bridge ── taps of VMs
//!              network's bridge     └── c<net> ══ veth ══ eth0 (client ns: pings the VMs)
//! ```
//!
//! A bond is a Linux bond (active-backup, MII polled every 10 ms) over one
//! veth per member, `f<n>-<i>m<k>` on the fabric side; pulling a member's
//! cable sets that peer down, pulling the bond's sets all of them down.
//!
//! Addresses: network `i` (inventory order) is `10.<60+i>.0.0/16`. Node `j`
//! has `.0.<j+1>` on each NIC of a control, migration or authority network
//! (on the switch bridge when the NIC is a switch's uplink); VM `k` has
//! `.1.<k+1>` on the network of its first adapter; the fabric has
//! `.255.253` (etcd on every control and migration network, H10; the
//! authority on every authority network, one authority), the clients
//! `.255.254`.
//!
//! Everything the lab makes is named with its prefix (namespaces,
//! directories) and removed by [`Lab::down`] or on drop: agents and QEMU
//! processes are killed, namespaces deleted, files removed.

use crate::cert::{create_ca, create_node, NodeNames};
use crate::guest::GuestImage;
use crate::netns;
use crate::qemu::RunDirGuard;
#[cfg(feature = "etcd")]
use crate::store::{State, Store, StoreError};
use haven_core::model::Cluster;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// etcd's client port on the fabric.
pub const ETCD_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;
/// The authority's port on the fabric.
pub const AUTHORITY_PORT: u16 = 7000;
/// Bounds each of the lab's own etcd calls.
#[cfg(feature = "etcd")]
const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long etcd and agents may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Lease TTL of the lab's agents: short, so takeovers are quick, but long
/// enough to move to another path when a pulled cable kills one (H10).
pub const LEASE_TTL_S: i64 = 5;

/// How to build a lab.
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// Names of namespaces start with it (at most 6 characters).
    pub prefix: String,
    /// The cluster's name in etcd.
    pub cluster: String,
    /// The `haven` binary the agents run.
    pub haven: PathBuf,
    /// Where the lab keeps its files (made; removed on drop).
    pub dir: PathBuf,
    pub guest: GuestImage,
    /// Stretch migrations to the inventory's bandwidth (agents'
    /// `emulate_migration_bandwidth`), as `haven lab` does to compare with
    /// the simulator; tests of real timings leave it off.
    pub emulate_bandwidth: bool,
}

/// One node of the lab.
pub struct LabNode {
    pub ns: String,
    pub config: PathBuf,
    pub log: PathBuf,
    agent: Option<Child>,
}

/// A running lab. Drop order matters: agents, then QEMU, then namespaces.
pub struct Lab {
    pub nodes: BTreeMap<String, LabNode>,
    etcd: Option<Child>,
    authority: Option<Child>,
    guard: Option<RunDirGuard>,
    namespaces: Vec<String>,
    pub fabric: String,
    /// A client namespace per VM network, by network name.
    pub clients: BTreeMap<String, String>,
    /// Each VM's address, by VM name.
    pub vm_ips: BTreeMap<String, Ipv4Addr>,
    /// etcd's client URLs (one per control network).
    pub etcd_endpoints: Vec<String>,
    /// The authority's addresses, one on each network flagged `authority`.
    pub authority_addrs: Vec<std::net::SocketAddr>,
    pub options: LabOptions,
    /// The fabric-side peers of each node NIC, bond and bond member:
    /// (node, nic) → names in the fabric (a bond's: its members').
    peers: BTreeMap<(String, String), Vec<String>>,
    /// Left running on drop ([`Lab::detach`]).
    detached: bool,
}

fn net_ip(i: usize, host: [u8; 2]) -> Ipv4Addr {
    Ipv4Addr::new(10, 60 + i as u8, host[0], host[1])
}

impl Lab {
    /// Builds the namespaces, links, bridges, certificates and agent
    /// configurations of `cluster`, and starts etcd (and the authority when
    /// a network is flagged `authority`). Agents are started by
    /// [`Lab::start_agents`] after the inventory is stored.
    ///
    /// # Errors
    /// The cluster does not fit the lab (see the message), or a tool failed.
    pub fn build(cluster: &Cluster, options: LabOptions) -> io::Result<Lab> {
        check_fits(cluster)?;
        let has_bonds = (cluster.nodes.iter()).any(|n| n.nics.iter().any(|nic| nic.is_bond()));
        if has_bonds {
            check_bonding(&options.prefix)?;
        }
        let _ = fs::remove_dir_all(&options.dir);
        fs::create_dir_all(&options.dir)?;
        let guard = RunDirGuard::new(options.dir.join("run"))?;
        let mut lab = Lab {
            nodes: BTreeMap::new(),
            etcd: None,
            authority: None,
            guard: Some(guard),
            namespaces: Vec::new(),
            fabric: String::new(),
            clients: BTreeMap::new(),
            vm_ips: BTreeMap::new(),
            etcd_endpoints: Vec::new(),
            authority_addrs: Vec::new(),
            options,
            peers: BTreeMap::new(),
            detached: false,
        };
        lab.fabric = lab.namespace("fab")?;
        let fabric = lab.fabric.clone();
        for (i, network) in cluster.networks.iter().enumerate() {
            let bridge = format!("n{i}");
            netns::bridge(&fabric, &bridge)?;
            let fabric_ip = net_ip(i, [255, 253]);
            // H10: coordination may use any control or migration network.
            let coordination = network.control || network.migration;
            if coordination || network.authority {
                ip(&[
                    "-n",
                    &fabric,
                    "addr",
                    "add",
                    &format!("{fabric_ip}/16"),
                    "dev",
                    &bridge,
                ])?;
            }
            if coordination {
                lab.etcd_endpoints
                    .push(format!("http://{fabric_ip}:{ETCD_PORT}"));
            }
            if network.authority {
                (lab.authority_addrs).push((IpAddr::V4(fabric_ip), AUTHORITY_PORT).into());
            }
        }
        lab.wire_clients(cluster)?;
        lab.wire_nodes(cluster)?;
        lab.certificates(cluster)?;
        lab.configs(cluster)?;
        lab.start_etcd()?;
        if !lab.authority_addrs.is_empty() {
            lab.start_authority()?;
        }
        Ok(lab)
    }

    fn namespace(&mut self, name: &str) -> io::Result<String> {
        let ns = format!("{}-{name}", self.options.prefix);
        let _ = ip(&["netns", "del", &ns]);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A client per network that some VM attaches to, and each VM's address.
    fn wire_clients(&mut self, cluster: &Cluster) -> io::Result<()> {
        let fabric = self.fabric.clone();
        for (k, vm) in cluster.vms.iter().enumerate() {
            let Some(first) = vm.adapters.first() else {
                continue;
            };
            let Some(i) = vm_network(cluster, &vm.node, &first.switch) else {
                continue;
            };
            self.vm_ips
                .insert(vm.name.clone(), net_ip(i, [1, k as u8 + 1]));
            let network = cluster.networks[i].name.clone();
            if self.clients.contains_key(&network) {
                continue;
            }
            let ns = self.namespace(&format!("c{i}"))?;
            let peer = format!("c{i}");
            // Distinct ifindexes: carrier changes are not batched.
            netns::veth_pair(&ns, "eth0", &fabric, &peer, Some((100, 900 + i as u32)))?;
            join_network(&fabric, &peer, i)?;
            let addr = format!("{}/16", net_ip(i, [255, 254]));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            self.clients.insert(network, ns);
        }
        Ok(())
    }

    fn wire_nodes(&mut self, cluster: &Cluster) -> io::Result<()> {
        let fabric = self.fabric.clone();
        for (j, node) in cluster.nodes.iter().enumerate() {
            let ns = self.namespace(&format!("n{j}"))?;
            for s in &node.switches {
                netns::bridge(&ns, &s.name)?;
            }
            for (x, nic) in node.nics.iter().enumerate() {
                let i = network_index(cluster, &nic.network);
                let peers = peers_of(cluster, &node.name, &nic.name).expect("a NIC of the node");
                if nic.is_bond() {
                    bond(&ns, &nic.name, 100 + x as u32)?;
                    for (k, (member, peer)) in nic.members.iter().zip(&peers).enumerate() {
                        let indexes = (200 + 8 * x as u32 + k as u32, member_index(j, x, k));
                        netns::veth_pair(&ns, member, &fabric, peer, Some(indexes))?;
                        join_network(&fabric, peer, i)?;
                        enslave(&ns, member, &nic.name)?;
                        let key = (node.name.clone(), member.clone());
                        self.peers.insert(key, vec![peer.clone()]);
                    }
                    ip(&["-n", &ns, "link", "set", &nic.name, "up"])?;
                } else {
                    let indexes = (100 + x as u32, 1000 + 32 * j as u32 + x as u32);
                    netns::veth_pair(&ns, &nic.name, &fabric, &peers[0], Some(indexes))?;
                    join_network(&fabric, &peers[0], i)?;
                }
                self.peers
                    .insert((node.name.clone(), nic.name.clone()), peers);
                let network = &cluster.networks[i];
                let uplink_of = node.switches.iter().find(|s| s.uplink == nic.name);
                let host_ip = format!("{}/16", net_ip(i, [0, j as u8 + 1]));
                match uplink_of {
                    Some(s) => {
                        ip(&["-n", &ns, "link", "set", &nic.name, "master", &s.name])?;
                        // The host uses a switch's uplink only when shared.
                        if s.share_with_host {
                            ip(&["-n", &ns, "addr", "add", &host_ip, "dev", &s.name])?;
                        }
                    }
                    None if network.control || network.migration || network.authority => {
                        ip(&["-n", &ns, "addr", "add", &host_ip, "dev", &nic.name])?;
                    }
                    None => {}
                }
            }
            self.nodes.insert(
                node.name.clone(),
                LabNode {
                    ns,
                    config: self.options.dir.join(format!("{}.toml", node.name)),
                    log: self.options.dir.join(format!("{}.log", node.name)),
                    agent: None,
                },
            );
        }
        Ok(())
    }

    /// The networks node `node` itself has an address on: its plain NICs,
    /// and the uplinks of switches shared with the host.
    fn host_networks(cluster: &Cluster, node: usize) -> Vec<usize> {
        let n = &cluster.nodes[node];
        (n.nics.iter())
            .filter(|nic| {
                (n.switches.iter())
                    .find(|s| s.uplink == nic.name)
                    .is_none_or(|s| s.share_with_host)
            })
            .map(|nic| network_index(cluster, &nic.network))
            .collect()
    }

    /// The node's address on its first migration network (or control).
    fn migration_ip(cluster: &Cluster, node: usize) -> Option<Ipv4Addr> {
        let nets = Lab::host_networks(cluster, node);
        let pick = |want: fn(&haven_core::model::Network) -> bool| {
            (nets.iter())
                .find(|&&i| want(&cluster.networks[i]))
                .map(|&i| net_ip(i, [0, node as u8 + 1]))
        };
        pick(|n| n.migration).or_else(|| pick(|n| n.control))
    }

    fn certificates(&self, cluster: &Cluster) -> io::Result<()> {
        let ca = self.options.dir.join("ca");
        create_ca(&ca, "haven lab CA").map_err(io::Error::other)?;
        for (j, node) in cluster.nodes.iter().enumerate() {
            let ips = Lab::migration_ip(cluster, j)
                .map(IpAddr::V4)
                .into_iter()
                .collect();
            let names = NodeNames {
                node: node.name.clone(),
                ips,
                dns: Vec::new(),
            };
            let out = self.options.dir.join("tls").join(&node.name);
            create_node(&ca, &names, &out).map_err(io::Error::other)?;
        }
        Ok(())
    }

    fn configs(&self, cluster: &Cluster) -> io::Result<()> {
        for (j, node) in cluster.nodes.iter().enumerate() {
            let lab_node = &self.nodes[&node.name];
            let migration = Lab::migration_ip(cluster, j).ok_or_else(|| {
                io::Error::other(format!(
                    "node {} has no NIC on a migration or control network; the lab needs one for its migrations",
                    node.name
                ))
            })?;
            // etcd on each control or migration network this node has a
            // NIC on: any one left is a path (H10).
            let endpoints: Vec<String> = (Lab::host_networks(cluster, j).into_iter())
                .filter(|&i| cluster.networks[i].control || cluster.networks[i].migration)
                .map(|i| format!("\"http://{}:{ETCD_PORT}\"", net_ip(i, [255, 253])))
                .collect();
            let mut text = format!(
                "cluster = \"{}\"\nnode = \"{}\"\netcd = [{}]\nrun_dir = \"{}\"\ntls_dir = \"{}\"\nmigration_address = \"{migration}\"\nnetns = \"{}\"\nlease_ttl_s = {LEASE_TTL_S}\n",
                self.options.cluster,
                node.name,
                endpoints.join(", "),
                self.options.dir.join("run").join(&node.name).display(),
                self.options.dir.join("tls").join(&node.name).display(),
                lab_node.ns,
            );
            if !self.authority_addrs.is_empty() {
                let addrs: Vec<String> = (self.authority_addrs.iter())
                    .map(|a| format!("\"{a}\""))
                    .collect();
                let _ = writeln!(text, "authority = [{}]", addrs.join(", "));
            }
            if self.options.emulate_bandwidth {
                text.push_str("emulate_migration_bandwidth = true\n");
            }
            let _ = write!(
                text,
                "\n[qemu]\naccel = \"tcg\"\nkernel = \"{}\"\ninitrd = \"{}\"\ncmdline = \"console=ttyS0 quiet panic=-1\"\n\n[qemu.append]\n",
                self.options.guest.kernel.display(),
                self.options.guest.initrd.display()
            );
            for (vm, addr) in &self.vm_ips {
                let _ = writeln!(text, "{vm} = \"haven.ip={addr}/16\"");
            }
            fs::write(&lab_node.config, text)?;
        }
        Ok(())
    }

    fn start_etcd(&mut self) -> io::Result<()> {
        let data = self.options.dir.join("etcd");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.options.dir.join("etcd.log"))?;
        let peer = format!("http://127.0.0.1:{ETCD_PEER_PORT}");
        let clients = self.etcd_endpoints.join(",");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.fabric,
                "etcd",
                "--name",
                "lab",
                "--data-dir",
            ])
            .arg(&data)
            .args(["--listen-client-urls", &clients])
            .args(["--advertise-client-urls", &clients])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("lab={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot start etcd: {e}; install it with `apt-get install etcd-server`"
                ))
            })?;
        self.etcd = Some(child);
        self.wait_etcd()
    }

    /// Waits until etcd accepts connections in the fabric.
    pub fn wait_etcd(&self) -> io::Result<()> {
        let endpoint = self.etcd_endpoints.first().cloned().unwrap_or_default();
        let addr: std::net::SocketAddr = endpoint
            .trim_start_matches("http://")
            .parse()
            .map_err(io::Error::other)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let up = netns::run_in(&self.fabric, move || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })?;
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "etcd did not listen on {endpoint} within {START_TIMEOUT:?}; see {}",
                    self.options.dir.join("etcd.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills etcd (as a crash) and starts it again on the same data.
    ///
    /// # Errors
    /// It did not come back.
    pub fn restart_etcd(&mut self) -> io::Result<()> {
        kill(&mut self.etcd);
        self.start_etcd()
    }

    fn start_authority(&mut self) -> io::Result<()> {
        let log = fs::File::create(self.options.dir.join("authority.log"))?;
        let mut command = Command::new(&self.options.haven);
        command.args(["authority", "serve", "--netns", &self.fabric]);
        for addr in &self.authority_addrs {
            command.arg("--listen").arg(addr.to_string());
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.authority = Some(child);
        Ok(())
    }

    /// Runs `haven ARGS` in the fabric namespace (e.g. `cluster init`).
    ///
    /// # Errors
    /// It could not run or failed; its output is in the message.
    pub fn haven_in_fabric(&self, args: &[&str]) -> io::Result<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.fabric])
            .arg(&self.options.haven)
            .args(args)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "haven {} failed: {}{}",
                args.join(" "),
                text,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(text)
    }

    /// Stores `inventory` (the file's text) in etcd.
    ///
    /// # Errors
    /// As [`Lab::haven_in_fabric`].
    pub fn init_cluster(&self, inventory: &Path) -> io::Result<String> {
        let endpoints = self.etcd_endpoints.join(",");
        let file = inventory.display().to_string();
        self.haven_in_fabric(&[
            "cluster",
            "init",
            "--force",
            "--file",
            &file,
            "--etcd",
            &endpoints,
            "--cluster-name",
            &self.options.cluster,
        ])
    }

    /// Starts every node's agent.
    ///
    /// # Errors
    /// An agent could not be started.
    pub fn start_agents(&mut self) -> io::Result<()> {
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for node in names {
            self.start_agent(&node)?;
        }
        Ok(())
    }

    /// Starts `node`'s agent (its log appends to `<dir>/<node>.log`).
    ///
    /// # Errors
    /// Unknown node, or the process could not start.
    pub fn start_agent(&mut self, node: &str) -> io::Result<()> {
        let haven = self.options.haven.clone();
        let n = self.node_mut(node)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)?;
        let child = Command::new(haven)
            .arg("agent")
            .arg("--config")
            .arg(&n.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        n.agent = Some(child);
        Ok(())
    }

    /// Kills `node`'s agent with SIGKILL (as a crash); its VMs keep running.
    ///
    /// # Errors
    /// Unknown node.
    pub fn kill_agent(&mut self, node: &str) -> io::Result<()> {
        kill(&mut self.node_mut(node)?.agent);
        Ok(())
    }

    /// Stops `node`'s agent with SIGTERM (it leaves the cluster) and waits.
    ///
    /// # Errors
    /// Unknown node.
    pub fn stop_agent(&mut self, node: &str) -> io::Result<()> {
        if let Some(mut child) = self.node_mut(node)?.agent.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    fn node_mut(&mut self, node: &str) -> io::Result<&mut LabNode> {
        self.nodes
            .get_mut(node)
            .ok_or_else(|| io::Error::other(format!("the lab has no node {node}")))
    }

    /// Pulls `node`'s cable of `nic`: sets the fabric-side peer down, so
    /// the node sees its carrier go.
    ///
    /// # Errors
    /// Unknown node or NIC, or `ip` failed.
    pub fn pull(&self, node: &str, nic: &str) -> io::Result<()> {
        self.set_peer(node, nic, "down")
    }

    /// Plugs the cable back in.
    ///
    /// # Errors
    /// As [`Lab::pull`].
    pub fn plug(&self, node: &str, nic: &str) -> io::Result<()> {
        self.set_peer(node, nic, "up")
    }

    fn set_peer(&self, node: &str, nic: &str, state: &str) -> io::Result<()> {
        let peers = self
            .peers
            .get(&(node.to_string(), nic.to_string()))
            .ok_or_else(|| io::Error::other(format!("the lab has no NIC {nic} on node {node}")))?;
        set_links(&self.fabric, peers, state)
    }

    /// One ping of `vm` from its network's client, waiting at most a second.
    pub fn ping(&self, vm: &str) -> bool {
        let (Some(ip), Some(client)) = (self.vm_ips.get(vm), self.client_of(vm)) else {
            return false;
        };
        Command::new("ip")
            .args([
                "netns",
                "exec",
                client,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                &ip.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The client namespace that reaches `vm`.
    pub fn client_of(&self, vm: &str) -> Option<&str> {
        let ip = self.vm_ips.get(vm)?;
        let i = usize::from(ip.octets()[1]) - 60;
        self.clients
            .iter()
            .find(|(_, ns)| ns.ends_with(&format!("-c{i}")))
            .map(|(_, ns)| ns.as_str())
    }

    /// The agents' logs, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, node) in &self.nodes {
            let text = fs::read_to_string(&node.log).unwrap_or_default();
            let _ = writeln!(out, "---- agent {name} ----\n{text}");
        }
        out
    }

    /// The QEMU processes the lab's nodes run, by node (from their run
    /// directories' pidfiles).
    pub fn qemu_by_node(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_node = BTreeMap::new();
        for node in self.nodes.keys() {
            let dir = self.options.dir.join("run").join(node);
            let mut vms = Vec::new();
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let pidfile = entry.path().join("qemu.pid");
                let pid = fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|p| p.trim().parse::<i32>().ok());
                if pid.is_some_and(crate::qemu::pid_alive) {
                    vms.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            vms.sort();
            by_node.insert(node.clone(), vms);
        }
        by_node
    }

    /// Stops everything and removes everything the lab made.
    pub fn down(mut self) {
        self.teardown();
    }

    /// Leaves the lab running when this value goes (`haven lab up`): its
    /// processes keep running, and [`down_by_prefix`] removes it later.
    pub fn detach(mut self) {
        self.detached = true;
        if let Some(guard) = self.guard.take() {
            std::mem::forget(guard);
        }
    }

    /// Kills `node`'s agent and its VMs (a node that dies: `node_down`).
    ///
    /// # Errors
    /// Unknown node.
    pub fn kill_node(&mut self, node: &str) -> io::Result<()> {
        self.kill_agent(node)?;
        let run = self.options.dir.join("run").join(node);
        kill_matching(&[&format!("{}/", run.display())]);
        Ok(())
    }

    fn teardown(&mut self) {
        if self.detached {
            return;
        }
        for node in self.nodes.values_mut() {
            kill(&mut node.agent);
        }
        kill(&mut self.authority);
        kill(&mut self.etcd);
        // Kills the QEMU processes under the run directory.
        self.guard = None;
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
        let _ = fs::remove_dir_all(&self.options.dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The lab's etcd, reached from inside its fabric namespace (the only
/// place its addresses are routed).
#[cfg(feature = "etcd")]
impl Lab {
    /// Runs `f` on a store of the lab's cluster, on a thread in the fabric
    /// namespace with a runtime of its own.
    ///
    /// # Errors
    /// The namespace cannot be entered, or etcd or `f` failed.
    pub fn with_store<T: Send + 'static>(
        &self,
        f: impl AsyncFnOnce(Store) -> Result<T, StoreError> + Send + 'static,
    ) -> io::Result<T> {
        let (endpoints, cluster) = (self.etcd_endpoints.clone(), self.options.cluster.clone());
        netns::run_in(&self.fabric, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let store = Store::connect(&endpoints, None, &cluster, STORE_TIMEOUT).await;
                f(store.map_err(io::Error::other)?)
                    .await
                    .map_err(io::Error::other)
            })
        })?
    }

    /// The cluster's state as etcd holds it.
    ///
    /// # Errors
    /// As [`Lab::with_store`].
    pub fn state(&self) -> io::Result<State> {
        self.with_store(async |s| s.state().await)
    }

    /// The cluster's events, with their sequence numbers.
    ///
    /// # Errors
    /// As [`Lab::with_store`].
    pub fn events(&self) -> io::Result<Vec<(u64, haven_core::event::Event)>> {
        self.with_store(async |s| s.events_since(0).await)
    }
}

/// The fabric-side names of `node`'s NIC `nic` in a lab of `cluster`: one
/// for a plain NIC or a bond member (`f<j>-<x>`, `f<j>-<x>m<k>`, by
/// inventory order), one per member for a bond. Pulling a cable sets them
/// down.
pub fn peers_of(cluster: &Cluster, node: &str, nic: &str) -> Option<Vec<String>> {
    let j = cluster.nodes.iter().position(|n| n.name == node)?;
    let nics = &cluster.nodes[j].nics;
    let member = |x: usize, k: usize| format!("f{j}-{x}m{k}");
    if let Some(x) = nics.iter().position(|n| n.name == nic) {
        return Some(match nics[x].is_bond() {
            true => (0..nics[x].members.len()).map(|k| member(x, k)).collect(),
            false => vec![format!("f{j}-{x}")],
        });
    }
    nics.iter().enumerate().find_map(|(x, n)| {
        let k = n.members.iter().position(|m| m == nic)?;
        Some(vec![member(x, k)])
    })
}

/// Sets each of `links` of namespace `ns` up or down (`state`).
///
/// # Errors
/// `ip` failed.
pub fn set_links(ns: &str, links: &[String], state: &str) -> io::Result<()> {
    links
        .iter()
        .try_for_each(|l| ip(&["-n", ns, "link", "set", l, state]))
}

/// The fabric-side ifindex of member `k` of NIC `x` of node `j`: apart from
/// every other (see [`netns::veth_pair`] on why indexes matter).
fn member_index(j: usize, x: usize, k: usize) -> u32 {
    10_000 + 256 * j as u32 + 8 * x as u32 + k as u32
}

/// Bond `name` in `ns` with ifindex `index`: active-backup, its carrier
/// polled from its members every 10 ms, so it is up while any member is.
fn bond(ns: &str, name: &str, index: u32) -> io::Result<()> {
    let index = index.to_string();
    ip(&[
        "-n",
        ns,
        "link",
        "add",
        name,
        "index",
        &index,
        "type",
        "bond",
        "mode",
        "active-backup",
        "miimon",
        "10",
    ])
}

/// Makes `member` (up) a port of bond `bond`: a port joins while down.
fn enslave(ns: &str, member: &str, bond: &str) -> io::Result<()> {
    ip(&["-n", ns, "link", "set", member, "down"])?;
    ip(&["-n", ns, "link", "set", member, "master", bond])?;
    ip(&["-n", ns, "link", "set", member, "up"])
}

/// Whether this machine's kernel can make a bond: tried in a namespace of
/// its own, removed after.
pub fn bonding_available(prefix: &str) -> bool {
    let ns = format!("{prefix}-probe");
    let _ = ip(&["netns", "del", &ns]);
    if ip(&["netns", "add", &ns]).is_err() {
        return false;
    }
    let made = ip(&["-n", &ns, "link", "add", "bond0", "type", "bond"]).is_ok();
    let _ = ip(&["netns", "del", &ns]);
    made
}

/// Refuses a cluster with bonds on a kernel without the bonding driver.
fn check_bonding(prefix: &str) -> io::Result<()> {
    if bonding_available(prefix) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "the inventory has bonds, and this machine's kernel has no bonding driver \
         (`ip link add type bond` fails); run `modprobe bonding`, or run the lab on a kernel built with CONFIG_BONDING",
    ))
}

/// Removes a lab left running ([`Lab::detach`]) by its prefix and
/// directory: kills every process whose command line names the directory
/// or the lab's namespaces (agents, QEMU, etcd, the authority), deletes the
/// namespaces named `<prefix>-*`, and removes the directory. Returns what
/// it removed, for the operator.
pub fn down_by_prefix(prefix: &str, dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let needles = [dir.display().to_string(), format!("{prefix}-fab")];
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    // Agents first, so none restarts a VM; then QEMU, etcd, the authority.
    let killed = kill_matching(&needles);
    if killed > 0 {
        removed.push(format!("{killed} processes"));
    }
    let mut namespaces: Vec<String> = fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    namespaces.sort();
    for ns in namespaces {
        if ip(&["netns", "del", &ns]).is_ok() {
            removed.push(format!("namespace {ns}"));
        }
    }
    if fs::remove_dir_all(dir).is_ok() {
        removed.push(format!("directory {}", dir.display()));
    }
    removed
}

/// SIGKILLs every process (but this one) whose command line contains one
/// of `needles`, agents (`haven agent`) first, and waits for them; returns
/// how many.
fn kill_matching(needles: &[&str]) -> usize {
    let mut found: Vec<(bool, i32)> = (crate::qemu::processes_matching(needles).into_iter())
        .map(|(pid, cmdline)| (!cmdline.contains(" agent "), pid))
        .collect();
    found.sort_unstable();
    for &(_, pid) in &found {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while found.iter().any(|&(_, p)| crate::qemu::pid_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    found.len()
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn network_index(cluster: &Cluster, name: &str) -> usize {
    (cluster.networks.iter())
        .position(|n| n.name == name)
        .expect("a parsed inventory's NICs name its networks")
}

/// The network of `switch` on `node`, by index.
fn vm_network(cluster: &Cluster, node: &str, switch: &str) -> Option<usize> {
    let n = cluster.node(node)?;
    let s = n.switches.iter().find(|s| s.name == switch)?;
    let uplink = n.nics.iter().find(|nic| nic.name == s.uplink)?;
    Some(network_index(cluster, &uplink.network))
}

/// Refuses what the lab cannot build, in one sentence each.
fn check_fits(cluster: &Cluster) -> io::Result<()> {
    let refuse = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
    if cluster.networks.len() > 100 || cluster.nodes.len() > 200 || cluster.vms.len() > 250 {
        return refuse("the lab builds at most 100 networks, 200 nodes and 250 VMs".into());
    }
    if !cluster.networks.iter().any(|n| n.control) {
        return refuse(
            "no network is flagged `control`; the lab runs etcd on the control networks".into(),
        );
    }
    for node in &cluster.nodes {
        for nic in &node.nics {
            if nic.members.len() > 8 {
                return refuse(format!(
                    "node {}: bond {} has more than 8 members, more than the lab wires",
                    node.name, nic.name
                ));
            }
            if let Some(m) = nic.members.iter().find(|m| m.len() > 15) {
                return refuse(format!(
                    "node {}: bond member name {m} is longer than Linux's 15 characters",
                    node.name
                ));
            }
            if node.nics.len() > 32 {
                return refuse(format!(
                    "node {} has more than 32 NICs, more than the lab wires",
                    node.name
                ));
            }
            if nic.name.len() > 15 {
                return refuse(format!(
                    "node {}: NIC name {} is longer than Linux's 15 characters",
                    node.name, nic.name
                ));
            }
        }
        for s in &node.switches {
            if s.name.len() > 15 {
                return refuse(format!(
                    "node {}: switch name {} is longer than Linux's 15 characters",
                    node.name, s.name
                ));
            }
        }
    }
    Ok(())
}

/// Puts the fabric-side end `peer` on network `i`'s bridge.
fn join_network(fabric: &str, peer: &str, i: usize) -> io::Result<()> {
    ip(&[
        "-n",
        fabric,
        "link",
        "set",
        peer,
        "master",
        &format!("n{i}"),
    ])
}

fn ip(args: &[&str]) -> io::Result<()> {
    netns::ip(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_core::parse::parse_scenario;

    fn cluster(name: &str) -> Cluster {
        let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = fs::read_to_string(path).unwrap();
        parse_scenario(name, &text).unwrap().cluster
    }

    /// A plain NIC has one fabric peer, a member its own, and a bond all
    /// of its members' (pulling it pulls them all).
    #[test]
    fn peers_of_nics_bonds_and_members() {
        let c = cluster("bond-absorbs-failure.toml");
        let peers = |node, nic| peers_of(&c, node, nic);
        assert_eq!(peers("A", "eth0"), Some(vec!["f0-0".to_string()]));
        assert_eq!(peers("B", "eth2"), Some(vec!["f1-2".to_string()]));
        assert_eq!(
            peers("A", "bond0"),
            Some(vec!["f0-1m0".to_string(), "f0-1m1".to_string()])
        );
        assert_eq!(peers("B", "eth4"), Some(vec!["f1-1m1".to_string()]));
        assert_eq!(peers("A", "eth9"), None);
        assert_eq!(peers("Z", "eth0"), None);
        assert_ne!(member_index(0, 1, 1), member_index(1, 1, 1));
    }

    #[test]
    fn the_lab_refuses_what_it_cannot_wire_in_one_sentence() {
        let mut c = cluster("bond-absorbs-failure.toml");
        assert!(check_fits(&c).is_ok());
        c.nodes[0].nics[1].members = (0..9).map(|k| format!("m{k}")).collect();
        let e = check_fits(&c).unwrap_err().to_string();
        assert!(
            e.contains("node A: bond bond0 has more than 8 members"),
            "{e}"
        );
        c.nodes[0].nics[1].members = vec!["a-very-long-member-name".into()];
        let e = check_fits(&c).unwrap_err().to_string();
        assert!(e.contains("longer than Linux's 15 characters"), "{e}");
    }
}
