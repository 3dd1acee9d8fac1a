//! The node agent (`haven agent --config FILE`): one per node, all of them
//! coordinated through etcd ([`crate::store`]), together doing for real what
//! the simulator does.
//!
//! ```text
//!            ┌──────────── etcd (/haven/<cluster>/) ────────────┐
//!  links/A ◀─┤ link monitor (A)        mirror (every agent) ────┼─▶ State
//!  members/A◀┤ membership lease        leader (one agent):      │
//!            │                           State diffs ─▶ Engine ─┼─▶ intents/, aborts/, events/
//!            │ executor (every agent):                          │
//!            │   intents/ from = me ─▶ source side ─────────────┼─▶ running/, results/
//!            │   intents/ to = me   ─▶ destination side ────────┼─▶ incoming/, owners/ (flip)
//!            └──────────────────────────────────────────────────┘
//! ```
//!
//! - Every agent keeps a lease-bound membership, publishes its NICs'
//!   carrier and its VMs, and mirrors the cluster state (one watch).
//! - One agent leads (`lead`): it rebuilds the engine from the mirror
//!   alone, feeds it the differences between successive states, and
//!   writes the engine's migrations as fenced intents.
//! - The source and destination agents of an intent carry it out
//!   (`execute`); the destination flips ownership once it holds the whole
//!   VM, paused, and runs it only after the flip, so that exactly one copy
//!   ever runs.
//! - An agent whose lease is not surely alive (etcd lost) acts on nothing:
//!   it neither leads nor starts a migration, and says so in its log.

mod execute;
mod lead;

use crate::clock::{unix_ms, utc};
use crate::config::AgentConfig;
use crate::link::LinkMonitor;
use crate::qemu::{Host, MigrationPolicy, Vm, VmDef};
use crate::store::{Lease, MemberInfo, State, Store, StoreError};
use haven_core::model::Cluster;
use haven_core::parse::parse_scenario;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Bounds every etcd call of the agent.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a lost etcd is retried, and liveness re-checked.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// The first port incoming migrations listen on; they cycle up to
/// [`PORT_LAST`].
const PORT_FIRST: u16 = 49_152;
const PORT_LAST: u16 = 60_999;

/// Why the agent cannot run. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A problem with the configuration or the inventory: exit status 2.
    #[error("{0}")]
    Input(String),
    /// etcd or the node failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the agent tasks share.
pub(crate) struct Context {
    pub node: String,
    pub config: AgentConfig,
    pub cluster: Cluster,
    pub store: Store,
    pub host: Host,
    pub policy: MigrationPolicy,
    /// The current membership's lease (replaced after a rejoin).
    lease: RwLock<Lease>,
    /// The cluster state as etcd holds it, kept current by [`mirror`].
    pub state: watch::Receiver<State>,
    /// The VMs running on this node.
    pub local: Mutex<BTreeMap<String, Arc<Vm>>>,
    /// Where this node's wiring differs from the inventory.
    findings: Mutex<Vec<String>>,
    /// The VMs this run found stopped and started ([`MemberInfo::started`]).
    started: Mutex<Vec<String>>,
    port: AtomicU16,
}

impl Context {
    pub fn lease(&self) -> Lease {
        self.lease.read().expect("lease lock").clone()
    }

    /// Whether this agent may act: its lease is surely alive.
    pub fn alive(&self) -> bool {
        self.lease().alive()
    }

    pub fn vm_def(&self, vm: &str) -> Option<VmDef> {
        self.config.vm_def(&self.cluster, vm)
    }

    /// A port for the next incoming migration.
    pub fn next_port(&self) -> u16 {
        let span = PORT_LAST - PORT_FIRST + 1;
        PORT_FIRST + self.port.fetch_add(1, Ordering::Relaxed) % span
    }

    /// Rewrites this node's membership: its migration address and VMs.
    pub async fn publish_member(&self) {
        let info = self.member_info();
        if let Err(e) = self.store.update_member(&self.lease(), &info).await {
            log(&self.node, &format!("cannot publish this node's VMs: {e}"));
        }
    }

    fn member_info(&self) -> MemberInfo {
        let vms = self
            .local
            .lock()
            .expect("local lock")
            .keys()
            .cloned()
            .collect();
        MemberInfo {
            addrs: vec![self.config.migration_address.to_string()],
            vms,
            findings: self.findings.lock().expect("findings lock").clone(),
            started: self.started.lock().expect("started lock").clone(),
        }
    }

    /// Compares this node's links, bridges and addresses with the
    /// inventory, logs each difference and keeps them for the membership.
    fn check_reality(&self) {
        let findings: Vec<String> = match crate::reality::gather(None) {
            Ok(local) => crate::reality::check(&self.cluster, &self.node, &local)
                .iter()
                .map(ToString::to_string)
                .collect(),
            Err(e) => vec![format!("cannot read this node's links: {e}")],
        };
        for finding in &findings {
            log(&self.node, finding);
        }
        *self.findings.lock().expect("findings lock") = findings;
    }
}

/// Waits until `f` finds something in the mirrored state, at most `limit`.
pub(crate) async fn wait_state<T>(
    ctx: &Context,
    limit: Duration,
    f: impl Fn(&State) -> Option<T>,
) -> Option<T> {
    let mut rx = ctx.state.clone();
    tokio::time::timeout(limit, async {
        loop {
            if let Some(found) = f(&rx.borrow_and_update()) {
                return Some(found);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// One line on standard error, prefixed with the node.
pub(crate) fn log(node: &str, message: &str) {
    eprintln!("{} haven agent {node}: {message}", utc(unix_ms()));
}

/// Runs the agent until `shutdown` resolves, then leaves the cluster
/// (leadership and membership keys go at once; VMs keep running and are
/// adopted by the next start).
///
/// # Errors
/// [`AgentError::Input`] for a configuration or inventory that cannot
/// work; otherwise etcd could not be reached at start.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    if !config.can_boot() {
        return Err(AgentError::Input(
            "the agent configuration's `[qemu]` gives no way to boot VMs; set `disk`, or `kernel` and `initrd`".into(),
        ));
    }
    let node = config.node.clone();
    let dh_params = config.tls_dir.join(crate::cert::DH_PARAMS);
    if !dh_params.is_file() {
        log(
            &node,
            &format!(
                "{} is missing: QEMU will generate Diffie-Hellman parameters for every incoming migration, which can take seconds; write it with `haven cert dh-params --dir {}`",
                dh_params.display(),
                config.tls_dir.display()
            ),
        );
    }
    let store = connect(&config).await?;
    let text = store.inventory().await?.ok_or_else(|| {
        AgentError::Input(format!(
            "cluster {} in etcd has no inventory; run `haven cluster init --file INVENTORY --etcd {}` first",
            config.cluster,
            config.etcd.join(",")
        ))
    })?;
    let cluster = parse_scenario("inventory", &text)
        .map_err(|e| AgentError::Input(format!("the stored inventory is not valid: {e}")))?
        .cluster;
    if cluster.node(&node).is_none() {
        return Err(AgentError::Input(format!(
            "node {node} (from `node` in the agent configuration) is not in cluster {}'s inventory; use one of: {}",
            config.cluster,
            cluster.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut membership = join(&store, &config).await?;
    let host = Host {
        qemu: config.qemu.binary.clone(),
        ..Host::new(&config.run_dir, None, &config.tls_dir)
    };
    let state = store.state().await?;
    let (state_tx, state_rx) = watch::channel(state);
    let ctx = Arc::new(Context {
        node: node.clone(),
        policy: policy_of(&cluster.settings),
        lease: RwLock::new(membership.lease()),
        state: state_rx,
        local: Mutex::new(BTreeMap::new()),
        findings: Mutex::new(Vec::new()),
        started: Mutex::new(Vec::new()),
        port: AtomicU16::new(0),
        config,
        cluster,
        store,
        host,
    });
    ctx.check_reality();
    take_up_vms(&ctx).await;
    ctx.publish_member().await;
    let monitor = LinkMonitor::spawn(None)?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(mirror(Arc::clone(&ctx), state_tx));
    tasks.spawn(publish_links(Arc::clone(&ctx), monitor));
    tasks.spawn(execute::run(Arc::clone(&ctx)));
    tasks.spawn(lead::run(Arc::clone(&ctx)));
    log(&node, "joined; watching links, intents and leadership");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(RETRY_INTERVAL) => {}
        }
        // etcd said the lease is gone (say, it was down longer than the
        // TTL): join again with a fresh one.
        if membership.valid_until().is_none() {
            log(&node, "the membership lease is gone; joining again");
            if let Ok(fresh) = join(&ctx.store, &ctx.config).await {
                membership = fresh;
                *ctx.lease.write().expect("lease lock") = membership.lease();
                // Its VMs ran on: nothing was started for this membership.
                ctx.started.lock().expect("started lock").clear();
                ctx.publish_member().await;
            }
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if let Some((leader, revision)) = ctx.state.borrow().leader.clone() {
        if leader == node {
            let lease = membership.lease_id();
            let l = crate::store::Leadership {
                node: node.clone(),
                revision,
                lease,
            };
            let _ = ctx.store.resign(&l).await;
        }
    }
    let _ = ctx.store.leave(membership).await;
    log(&node, "left the cluster; VMs keep running");
    Ok(())
}

/// The migration policy of the cluster's settings: the node's migration
/// bandwidth (`migration_bandwidth_mbps`) shared by the migrations it may
/// run at once.
fn policy_of(settings: &haven_core::model::Settings) -> MigrationPolicy {
    let share = u64::from(settings.max_concurrent_migrations.max(1));
    MigrationPolicy {
        max_bandwidth_mbps: (settings.migration_bandwidth_mbps / share).max(1),
        ..MigrationPolicy::default()
    }
}

async fn connect(config: &AgentConfig) -> Result<Store, AgentError> {
    let tls = config.etcd_tls_files();
    loop {
        match Store::connect(&config.etcd, tls.as_ref(), &config.cluster, STORE_TIMEOUT).await {
            Ok(store) => return Ok(store),
            Err(e @ StoreError::Unreachable { .. }) => {
                log(&config.node, &format!("{e}; retrying"));
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
            Err(e) => return Err(AgentError::Input(e.to_string())),
        }
    }
}

/// Joins as the configured node; while an earlier run's membership has not
/// expired yet, waits for it.
async fn join(store: &Store, config: &AgentConfig) -> Result<crate::store::Membership, AgentError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.lease_ttl_s as u64 + 5);
    loop {
        let info = MemberInfo {
            addrs: vec![config.migration_address.to_string()],
            ..MemberInfo::default()
        };
        match store.join(&config.node, &info, config.lease_ttl_s).await {
            Ok(m) => return Ok(m),
            Err(StoreError::AlreadyMember { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
            Err(e @ StoreError::AlreadyMember { .. }) => {
                return Err(AgentError::Input(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts (or adopts) every VM this node owns, and stops copies of VMs it
/// does not own that an earlier run left behind (a paused source after a
/// completed migration, an incoming VM whose migration did not end): a VM
/// never runs in two places.
async fn take_up_vms(ctx: &Context) {
    let owners = ctx.state.borrow().owners.clone();
    for vm in &ctx.cluster.vms {
        let owner = owners.get(&vm.name).unwrap_or(&vm.node);
        if owner == &ctx.node {
            let Some(def) = ctx.vm_def(&vm.name) else {
                continue;
            };
            match ctx.host.start(&def).await {
                Ok(running) => {
                    let how = if running.adopted() {
                        "adopted"
                    } else {
                        let mut started = ctx.started.lock().expect("started lock");
                        started.push(vm.name.clone());
                        "started"
                    };
                    log(&ctx.node, &format!("{how} {}", vm.name));
                    // An earlier run may have left it paused mid-migration.
                    // If that migration is begun, the executor decides
                    // (the destination may own it by now); else run it.
                    let begun = ctx.state.borrow().running.contains_key(&vm.name);
                    if !begun && running.status().await.is_ok_and(|s| s != "running") {
                        let _ = running.resume().await;
                    }
                    ctx.local
                        .lock()
                        .expect("local lock")
                        .insert(vm.name.clone(), Arc::new(running));
                }
                Err(e) => log(&ctx.node, &format!("cannot start {}: {e}", vm.name)),
            }
        } else if let Ok(Some(stray)) = ctx.host.adopt(&vm.name).await {
            log(
                &ctx.node,
                &format!("stopping a stray copy of {} (owned by {owner})", vm.name),
            );
            let _ = stray.stop().await;
        }
    }
}

/// Keeps `tx` equal to what etcd holds: reads the whole state, then
/// applies watched changes; starts over (a fresh read) whenever the watch
/// breaks, as across an etcd restart.
async fn mirror(ctx: Arc<Context>, tx: watch::Sender<State>) {
    let mut reported = false;
    loop {
        let result = async {
            let state = ctx.store.state().await?;
            let from = state.revision + 1;
            tx.send_replace(state);
            if reported {
                log(&ctx.node, "the etcd watch is back");
                reported = false;
            }
            let mut watch = ctx.store.watch_prefix("", Some(from)).await?;
            while let Some(changes) = watch.next().await? {
                tx.send_modify(|state| {
                    for change in &changes {
                        if let Err(e) = state.apply(change) {
                            log(&ctx.node, &format!("ignoring key {}: {e}", change.key));
                        }
                    }
                });
            }
            Ok::<(), StoreError>(())
        }
        .await;
        if let Err(e) = result {
            if !reported {
                log(
                    &ctx.node,
                    &format!("lost the etcd watch ({e}); not acting until it is back"),
                );
                reported = true;
                // The store may have a fresh connection already (its probe
                // gave up a dead path): watch again at once.
                continue;
            }
        }
        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

/// Publishes the carrier of this node's NICs (the inventory's NICs, bonds
/// and bond members) whenever one changes.
async fn publish_links(ctx: Arc<Context>, monitor: LinkMonitor) {
    let nics: Vec<String> = ctx
        .cluster
        .node(&ctx.node)
        .map(|n| {
            (n.nics.iter())
                .flat_map(|nic| std::iter::once(&nic.name).chain(&nic.members))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut seen = monitor.state();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let forward = std::thread::spawn(move || loop {
        match monitor.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => {
                if tx.blocking_send(event).is_err() {
                    return;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !tx.is_closed() => {}
            Err(_) => return,
        }
    });
    let state_of = |seen: &BTreeMap<String, bool>| -> BTreeMap<String, bool> {
        nics.iter()
            .map(|n| (n.clone(), seen.get(n) == Some(&true)))
            .collect()
    };
    let mut published: Option<BTreeMap<String, bool>> = None;
    loop {
        // Take every event waiting, then publish the net state once.
        let first = tokio::time::timeout(RETRY_INTERVAL, rx.recv()).await;
        match first {
            Ok(Some(event)) => {
                seen.insert(event.ifname, event.up);
                while let Ok(event) = rx.try_recv() {
                    seen.insert(event.ifname, event.up);
                }
            }
            Ok(None) => break,
            Err(_) => {}
        }
        let links = state_of(&seen);
        // Republish on a fresh lease too (a rejoin loses lease-bound keys).
        let stale = ctx.state.borrow().links.get(&ctx.node) != Some(&links);
        if published.as_ref() != Some(&links) || stale {
            match ctx.store.publish_links(&ctx.lease(), &links).await {
                Ok(()) => published = Some(links),
                Err(e) => log(&ctx.node, &format!("cannot publish links: {e}")),
            }
        }
    }
    let _ = forward.join();
}
