//! The coordination store: haven's cluster state in etcd (DESIGN "The real
//! cluster"), read and written by the agents through [`Store`].
//!
//! Every key lives under `/haven/<cluster>/`; every value is JSON except the
//! inventory, which is the operator's TOML text as validated by `haven
//! cluster init`.
//!
//! | key | value | written by | lease |
//! |---|---|---|---|
//! | `inventory` | TOML text | `haven cluster init` ([`Store::put_inventory`]) | none |
//! | `members/<node>` | [`MemberInfo`] | the node's agent ([`Store::join`]) | the node's |
//! | `links/<node>` | `{"<nic>": true}`: carrier per NIC | the node's agent ([`Store::publish_links`]) | the node's |
//! | `leader` | `"<node>"` | the leader ([`Store::campaign`]) | the leader's |
//! | `members_seen` | `["<node>", …]`: the members the last leader reported up | the leader ([`Store::put_members_seen`], fenced) | none |
//! | `owners/<vm>` | `"<node>"` | [`Store::init_owners`], then only [`Store::complete_migration`] | none |
//! | `intents/<vm>` | [`Intent`] | the leader ([`Store::write_intent`], fenced) | none |
//! | `running/<vm>` | the intent id | the source ([`Store::begin_migration`]) | none |
//! | `incoming/<vm>` | [`IncomingAt`]: where the destination waits | the destination ([`Store::announce_incoming`]) | the destination's |
//! | `tickets/<vm>` | [`TicketFor`]: the source's authority ticket (H9) | the source ([`Store::put_ticket`]) | none |
//! | `aborts/<vm>` | the id of a begun intent to abort | the leader ([`Store::request_abort`], fenced) | none |
//! | `results/<vm>` | [`MigrationResult`]: the last outcome | the destination ([`Store::complete_migration`]), the source or destination ([`Store::fail_migration`]), the source ([`Store::cancel_migration`]), the leader ([`Store::cancel_intent`]) | none |
//! | `protection/<vm>/<switch>` | `true`/`false`: overrides the inventory (H11) | anyone ([`Store::set_protected`]) | none |
//! | `event_seq` | the last event sequence number | [`Store::append_event`] | none |
//! | `events/<sequence, 20 digits>` | [`Event`] | the leader ([`Store::append_events_fenced`]), or [`Store::append_event`] | none |
//!
//! # Leadership and fencing
//!
//! One agent is leader (Patroni style): [`Store::campaign`] creates the
//! `leader` key in a transaction only if it does not exist, bound to the
//! campaigner's membership lease. The revision of that write is the
//! *fencing token* ([`Leadership::revision`]): every intent write compares
//! the leader key's `mod_revision` with it, the VM's owner with the intent's
//! source, and the absence of another intent, all in the same transaction.
//! A leader whose lease expired, or that was replaced, can thus write
//! nothing, however late its request arrives.
//!
//! A leader must also stop acting on the world (not only on etcd) *before*
//! its lease can expire: [`Lease::alive`] is true only until the last
//! answered keep-alive plus the TTL minus a safety margin.
//!
//! # A migration's keys
//!
//! ```text
//! // (no intent) ---- write_intent (leader, fenced) ----> intents/<vm>
//! // intents/<vm> ---- begin_migration (source) ----> intents/<vm> + running/<vm>
//! // intents/<vm> + running/<vm> ---- announce_incoming (destination) ----> + incoming/<vm>
//! // intents/<vm> + running/<vm> ---- request_abort (leader, fenced) ----> + aborts/<vm>
//! // intents/<vm> ---- complete_migration (destination holds the VM) ----> owners/<vm> := to, results/<vm> completed
//! // intents/<vm> ---- fail_migration (source or destination) ----> owners/<vm> unchanged, results/<vm> failed
//! // intents/<vm> ---- cancel_migration (source, after an abort) ----> owners/<vm> unchanged, results/<vm> cancelled
//! // intents/<vm> ---- cancel_intent (leader, fenced, only before begin) ----> (no intent)
//! ```
//!
//! Ownership flips in one transaction, only while the intent is still the
//! one being executed and the owner is still its source: a VM is owned by
//! exactly one node at every revision.
//!
//! # Timeouts and reconnection
//!
//! Every call is bounded by the timeout given to [`Store::connect`]. Within
//! it, a call that fails for want of a connection is retried with a fresh
//! connection and a short backoff, so agents ride out an etcd restart.
//! Conditional writes recognise their own earlier, lost attempt (see each
//! method); [`Store::append_event`] may store an event twice if etcd applied
//! an attempt whose answer was lost.

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn,
    TxnOp, TxnOpResponse, TxnResponse, WatchOptions, WatchStream,
};
use haven_core::event::Event;
use haven_core::model::{Adapter, Cluster, Vm};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::Code;

/// The shortest wait between two attempts of one call.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest wait between two attempts of one call.
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// HTTP/2 pings on a connection with open streams: how often, and how long
/// an answer may take before the connection counts as dead. etcd closes a
/// connection that pings more often than its `--grpc-keepalive-min-time`
/// (5 s by default), taking every watch on it along, so these stay above
/// that; a dead path is noticed sooner by the probe ([`PROBE_INTERVAL`]).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Every store asks etcd for its status this often, and takes a fresh
/// connection when no answer comes within [`PROBE_BOUND`]: a path that died
/// silently (a pulled cable: no reset) is left within 1.5 s, long before a
/// membership lease can run out (H10). Watches on the old connection end,
/// so their owners watch again on the new one.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
const PROBE_BOUND: Duration = Duration::from_secs(1);
/// The longest one attempt of a call may take before a fresh connection is
/// tried (etcd answers in milliseconds when a path works).
const ATTEMPT_MAX: Duration = Duration::from_millis(1500);
/// The most events [`Store::events_since`] returns at once.
pub const EVENTS_PER_READ_MAX: usize = 10_000;
/// How often [`Store::append_event`] retries when another writer took the
/// same sequence number.
const EVENT_SEQ_TRIES_MAX: u32 = 100;
/// Digits of the sequence number in an event key, so keys sort by number.
const EVENT_SEQ_DIGITS: usize = 20;

/// Why a store call failed. Each message names the etcd endpoints or key
/// and says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No endpoint answered within the call's timeout.
    #[error("etcd at {endpoints} did not answer {what} within {timeout_ms} ms ({last}); check that etcd runs there and that the endpoints, ports and TLS files are right")]
    Unreachable {
        endpoints: String,
        what: String,
        timeout_ms: u128,
        last: String,
    },
    /// etcd answered with an error that retrying does not cure.
    #[error("etcd at {endpoints} refused {what}: {message}")]
    Refused {
        endpoints: String,
        what: String,
        message: String,
    },
    /// An endpoint is not a usable URL.
    #[error("the etcd endpoint {endpoint:?} is not usable ({message}); write it as http://HOST:PORT, or https://HOST:PORT with TLS files")]
    Endpoint { endpoint: String, message: String },
    /// A TLS file could not be read.
    #[error("cannot read the etcd TLS file {path}: {source}; check the path in the agent's configuration")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A key holds a value haven cannot decode.
    #[error("the etcd key {key} holds data haven cannot read ({detail}); rewrite it with haven or delete it")]
    Corrupt { key: String, detail: String },
    /// A name cannot be part of a key.
    #[error(
        "the {what} name {name:?} cannot be used in etcd keys; use a non-empty name without '/'"
    )]
    InvalidName { what: &'static str, name: String },
    /// Another agent (or this agent's previous run) holds the node's
    /// membership key.
    #[error("node {node} is a cluster member already (another agent, or this agent's previous run whose lease has not expired); stop the other agent or wait {ttl_s} s")]
    AlreadyMember { node: String, ttl_s: i64 },
}

/// The client certificate and the CA for TLS to etcd (`--cert-file`,
/// `--key-file`, `--trusted-ca-file` with `--client-cert-auth` on the server
/// side). Endpoints must then be `https://`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The CA that signed the etcd servers' certificates (PEM).
    pub ca: PathBuf,
    /// This client's certificate (PEM).
    pub cert: PathBuf,
    /// This client's private key (PEM).
    pub key: PathBuf,
}

/// What a node publishes about itself in `members/<node>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Addresses where the agent can be reached on its control paths (H10).
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The VMs running on the node, by name.
    #[serde(default)]
    pub vms: Vec<String>,
    /// Where the node's wiring differs from the inventory (see
    /// [`crate::reality`]), one sentence each.
    #[serde(default)]
    pub findings: Vec<String>,
    /// The VMs this run of the agent found stopped and started itself (a
    /// node back from a crash), by name; VMs it adopted running are not
    /// here.
    #[serde(default)]
    pub started: Vec<String>,
}

/// A migration the leader asks for: move `vm` from `from` to `to`. Stored
/// at `intents/<vm>`; at most one per VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The engine's migration id.
    pub id: u64,
    /// The VM to move.
    pub vm: String,
    /// The VM's owner when the intent was written: the source.
    pub from: String,
    /// The destination.
    pub to: String,
    /// When the leader decided, in its engine's milliseconds.
    pub at_ms: u64,
}

/// How a migration ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The destination runs the VM and owns it.
    Completed,
    /// The VM stays on (and owned by) its source; `cause` says why.
    Failed { cause: String },
    /// The leader dropped the intent before the source began.
    Cancelled,
}

/// The last outcome of a VM's migration, at `results/<vm>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationResult {
    /// The intent's id.
    pub id: u64,
    /// The intent's source.
    pub from: String,
    /// The intent's destination.
    pub to: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Proof of leadership: the node that won [`Store::campaign`] and the
/// revision of the leader key it created, which is the fencing token every
/// fenced write compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    /// The leader.
    pub node: String,
    /// The leader key's `mod_revision`: the fencing token.
    pub revision: i64,
    /// The membership lease the leader key is bound to.
    pub lease: i64,
}

/// One change seen by a [`Watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The key below `/haven/<cluster>/`, e.g. `events/00000000000000000001`.
    pub key: String,
    /// The new value; `None` when the key was deleted (or its lease expired).
    pub value: Option<Vec<u8>>,
    /// The revision of the change.
    pub revision: i64,
}

/// A watch on keys under a prefix, from [`Store::watch_prefix`].
pub struct Watch {
    stream: WatchStream,
    strip: usize,
    endpoints: String,
    /// The store's connection generation: a change means the connection
    /// this watch runs on was given up.
    generation: watch::Receiver<u64>,
}

impl Watch {
    /// Waits for the next batch of changes (never empty). `None` when etcd
    /// closed the watch. Not bounded by the store's timeout: a watch waits
    /// as long as nothing changes, so the caller bounds it if it must.
    ///
    /// # Errors
    /// The connection broke or was given up for a fresh one, or etcd
    /// cancelled the watch (for instance because its start revision was
    /// compacted): watch again.
    pub async fn next(&mut self) -> Result<Option<Vec<Change>>, StoreError> {
        loop {
            let message = tokio::select! {
                message = self.stream.message() => message.map_err(|e| e.to_string()),
                _ = self.generation.changed() => {
                    Err("the connection was given up for a fresh one".to_string())
                }
            };
            let response = message.map_err(|message| StoreError::Refused {
                endpoints: self.endpoints.clone(),
                what: "a watch".into(),
                message,
            })?;
            let Some(response) = response else {
                return Ok(None);
            };
            if response.canceled() {
                return Err(StoreError::Refused {
                    endpoints: self.endpoints.clone(),
                    what: "a watch".into(),
                    message: format!("the watch was cancelled: {}", response.cancel_reason()),
                });
            }
            let changes: Vec<Change> = response
                .events()
                .iter()
                .filter_map(|event| {
                    let deleted = event.event_type() == EventType::Delete;
                    event.kv().map(|kv| self.change(kv, deleted))
                })
                .collect();
            if !changes.is_empty() {
                return Ok(Some(changes));
            }
        }
    }

    fn change(&self, kv: &KeyValue, deleted: bool) -> Change {
        let key = String::from_utf8_lossy(kv.key());
        Change {
            key: key.get(self.strip..).unwrap_or_default().to_string(),
            value: (!deleted).then(|| kv.value().to_vec()),
            revision: kv.mod_revision(),
        }
    }
}

/// A node's membership: its lease and the task keeping it alive. Keys bound
/// to the lease (membership, links, leadership) vanish when it expires.
///
/// Dropping a `Membership` stops the keep-alive (the lease then expires
/// after its TTL); [`Store::leave`] revokes it at once.
pub struct Membership {
    lease: Lease,
    task: Option<JoinHandle<()>>,
}

/// What a [`Membership`] proves, without owning its keep-alive: cheap to
/// clone into the agent's tasks. Store calls that need a membership take
/// a `&Lease` (a `&Membership` works through `Deref`).
#[derive(Clone, Debug)]
pub struct Lease {
    node: String,
    lease: i64,
    ttl: Duration,
    valid_until: watch::Receiver<Option<Instant>>,
}

impl std::ops::Deref for Membership {
    type Target = Lease;

    fn deref(&self) -> &Lease {
        &self.lease
    }
}

impl Lease {
    /// The node this membership is for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The etcd lease id.
    pub fn lease_id(&self) -> i64 {
        self.lease
    }

    /// The lease's TTL as granted by etcd.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Until when the lease is surely alive: the send time of the last
    /// answered keep-alive plus the TTL minus a safety margin (a quarter of
    /// the TTL). `None` once etcd said the lease is gone.
    pub fn valid_until(&self) -> Option<Instant> {
        *self.valid_until.borrow()
    }

    /// Whether the lease is surely alive now. A leader must stop acting as
    /// soon as this is false: its lease may expire any moment after.
    pub fn alive(&self) -> bool {
        self.valid_until().is_some_and(|t| Instant::now() < t)
    }

    /// A channel that changes whenever [`Lease::valid_until`] does.
    pub fn subscribe(&self) -> watch::Receiver<Option<Instant>> {
        self.valid_until.clone()
    }
}

impl Membership {
    /// A handle on this membership's lease for other tasks.
    pub fn lease(&self) -> Lease {
        self.lease.clone()
    }

    /// Stops sending keep-alives, as a hung agent would: the lease expires
    /// after its TTL, and [`Lease::alive`] turns false before that.
    pub fn stop_keepalive(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop_keepalive();
    }
}

/// Where a destination waits for an incoming migration, at
/// `incoming/<vm>` ([`Store::announce_incoming`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingAt {
    /// The intent's id.
    pub id: u64,
    /// `IP:PORT` on the destination's migration network.
    pub addr: String,
}

/// A migration authority's ticket for one intent, at `tickets/<vm>`
/// ([`Store::put_ticket`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFor {
    /// The intent's id.
    pub id: u64,
    pub ticket: String,
}

/// The cluster as the store holds it, without the events: what
/// [`Store::state`] reads at one revision, kept current by
/// [`State::apply`]ing watched changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The revision this state is at.
    pub revision: i64,
    pub inventory: Option<String>,
    pub members: BTreeMap<String, MemberInfo>,
    /// Node → NIC → carrier.
    pub links: BTreeMap<String, BTreeMap<String, bool>>,
    /// The leader and its fencing token.
    pub leader: Option<(String, i64)>,
    /// The members the leader last reported up (`node_up` / `node_down`
    /// events), if a leader recorded them.
    pub members_seen: Option<std::collections::BTreeSet<String>>,
    /// VM → owner.
    pub owners: BTreeMap<String, String>,
    /// VM → its pending intent.
    pub intents: BTreeMap<String, Intent>,
    /// VM → the id of the intent its source has begun.
    pub running: BTreeMap<String, u64>,
    /// VM → where its destination waits.
    pub incoming: BTreeMap<String, IncomingAt>,
    /// VM → the id of the intent the leader asked to abort.
    pub aborts: BTreeMap<String, u64>,
    /// VM → the authority ticket its source obtained.
    pub tickets: BTreeMap<String, TicketFor>,
    /// VM → its last migration's outcome.
    pub results: BTreeMap<String, MigrationResult>,
    /// (VM, switch) → protected, overriding the inventory (H11).
    pub protection: BTreeMap<(String, String), bool>,
}

impl State {
    /// Where `vm` runs: its recorded owner, else the inventory's node.
    pub fn owner_of<'a>(&'a self, vm: &'a Vm) -> &'a str {
        self.owners.get(&vm.name).unwrap_or(&vm.node)
    }

    /// Whether `vm`'s `adapter` is protected now: the override stored for
    /// its switch (H11), else the inventory's flag.
    pub fn is_protected(&self, vm: &str, adapter: &Adapter) -> bool {
        let key = (vm.to_string(), adapter.switch.clone());
        self.protection
            .get(&key)
            .copied()
            .unwrap_or(adapter.protected)
    }

    /// Whether `vm` of `cluster` is cut off now (H1): a protected adapter's
    /// switch has its uplink published down by the VM's owner.
    pub fn is_impaired(&self, cluster: &Cluster, vm: &Vm) -> bool {
        let owner = self.owner_of(vm);
        let (node, links) = (cluster.node(owner), self.links.get(owner));
        vm.adapters.iter().any(|a| {
            let uplink = node.and_then(|n| n.switch(&a.switch)).map(|s| &s.uplink);
            let down = uplink.is_some_and(|u| links.and_then(|l| l.get(u)) == Some(&false));
            down && self.is_protected(&vm.name, a)
        })
    }

    /// Applies one change (a key below the cluster prefix, as a [`Watch`]
    /// reports it). Keys haven does not know are ignored.
    ///
    /// # Errors
    /// The value cannot be decoded: says why.
    pub fn apply(&mut self, change: &Change) -> Result<(), String> {
        self.revision = self.revision.max(change.revision);
        let value = change.value.as_deref();
        let (kind, rest) = change.key.split_once('/').unwrap_or((&change.key, ""));
        fn set<T: DeserializeOwned>(
            map: &mut BTreeMap<String, T>,
            key: &str,
            value: Option<&[u8]>,
        ) -> Result<(), String> {
            match value {
                Some(bytes) => {
                    let decoded = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                    map.insert(key.to_string(), decoded);
                }
                None => {
                    map.remove(key);
                }
            }
            Ok(())
        }
        match kind {
            "inventory" => {
                self.inventory = value
                    .map(|v| String::from_utf8(v.to_vec()).map_err(|e| e.to_string()))
                    .transpose()?;
            }
            "leader" => {
                self.leader = match value {
                    Some(v) => {
                        let node = serde_json::from_slice(v).map_err(|e| e.to_string())?;
                        Some((node, change.revision))
                    }
                    None => None,
                };
            }
            "members" => set(&mut self.members, rest, value)?,
            "members_seen" => {
                self.members_seen = value
                    .map(|v| serde_json::from_slice(v).map_err(|e| e.to_string()))
                    .transpose()?;
            }
            "links" => set(&mut self.links, rest, value)?,
            "owners" => set(&mut self.owners, rest, value)?,
            "intents" => set(&mut self.intents, rest, value)?,
            "running" => set(&mut self.running, rest, value)?,
            "incoming" => set(&mut self.incoming, rest, value)?,
            "aborts" => set(&mut self.aborts, rest, value)?,
            "tickets" => set(&mut self.tickets, rest, value)?,
            "results" => set(&mut self.results, rest, value)?,
            "protection" => {
                let Some((vm, switch)) = rest.split_once('/') else {
                    return Err("expected protection/<vm>/<switch>".into());
                };
                let key = (vm.to_string(), switch.to_string());
                match value {
                    Some(v) => {
                        let protected = serde_json::from_slice(v).map_err(|e| e.to_string())?;
                        self.protection.insert(key, protected);
                    }
                    None => {
                        self.protection.remove(&key);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// An async handle on one haven cluster in etcd. Cheap to clone; clones
/// share the connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<String>,
    options: ConnectOptions,
    prefix: String,
    timeout: Duration,
    client: Mutex<Client>,
    /// Counts the connections replaced ([`Store::reconnect`]).
    generation: watch::Sender<u64>,
    prober: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(prober) = self.prober.lock().expect("prober lock").take() {
            prober.abort();
        }
    }
}

impl Store {
    /// Connects to the etcd `endpoints` (`http://HOST:PORT`, or `https://`
    /// with `tls`) for cluster `cluster`, and checks that one answers.
    /// `timeout` bounds every later call of this store.
    ///
    /// # Errors
    /// An endpoint is malformed, a TLS file cannot be read, the cluster
    /// name is unusable, or no endpoint answered within `timeout`.
    pub async fn connect(
        endpoints: &[String],
        tls: Option<&TlsFiles>,
        cluster: &str,
        timeout: Duration,
    ) -> Result<Store, StoreError> {
        check_name("cluster", cluster)?;
        let mut options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
            .with_keep_alive_while_idle(false);
        if let Some(tls) = tls {
            options = options.with_tls(tls_options(tls)?);
        }
        let client = new_client(endpoints, &options).await?;
        let store = Store {
            inner: Arc::new(Inner {
                endpoints: endpoints.to_vec(),
                options,
                prefix: format!("/haven/{cluster}/"),
                timeout,
                client: Mutex::new(client),
                generation: watch::Sender::new(0),
                prober: Mutex::new(None),
            }),
        };
        store
            .call(
                "a status request",
                |mut c, _| async move { c.status().await },
            )
            .await?;
        let prober = tokio::spawn(probe(Arc::downgrade(&store.inner)));
        *store.inner.prober.lock().expect("prober lock") = Some(prober);
        Ok(store)
    }

    /// The key prefix of this cluster: `/haven/<cluster>/`.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    // ---- inventory ----

    /// Stores the cluster inventory (TOML text, validated by the caller),
    /// replacing any earlier one.
    ///
    /// # Errors
    /// etcd is unreachable or refuses.
    pub async fn put_inventory(&self, text: &str) -> Result<(), StoreError> {
        self.put("storing the inventory", "inventory", text.as_bytes(), None)
            .await
    }

    /// The stored inventory, if any.
    ///
    /// # Errors
    /// etcd is unreachable, or the value is not UTF-8.
    pub async fn inventory(&self) -> Result<Option<String>, StoreError> {
        let Some(kv) = self.get_one("reading the inventory", "inventory").await? else {
            return Ok(None);
        };
        let key = self.key("inventory");
        String::from_utf8(kv.value().to_vec())
            .map(Some)
            .map_err(|e| corrupt(&key, e))
    }

    // ---- membership ----

    /// Joins the cluster as `node`: grants a lease of `ttl_s` seconds,
    /// creates `members/<node>` bound to it, and starts a task that keeps
    /// the lease alive (every third of the TTL) until the [`Membership`] is
    /// dropped or stopped.
    ///
    /// # Errors
    /// The node name is unusable, another live lease holds the node's
    /// membership key ([`StoreError::AlreadyMember`]), or etcd is
    /// unreachable.
    pub async fn join(
        &self,
        node: &str,
        info: &MemberInfo,
        ttl_s: i64,
    ) -> Result<Membership, StoreError> {
        check_name("node", node)?;
        let sent = Instant::now();
        let grant = self
            .call("a lease grant", |mut c, _| async move {
                c.lease_grant(ttl_s, None).await
            })
            .await?;
        let (lease, ttl) = (grant.id(), Duration::from_secs(grant.ttl().max(1) as u64));
        let key = self.key(&format!("members/{node}"));
        let value = json(info);
        let created = self
            .txn("creating a membership", || {
                Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(
                        key.as_str(),
                        value.clone(),
                        Some(PutOptions::new().with_lease(lease)),
                    )])
                    .or_else([TxnOp::get(key.as_str(), None)])
            })
            .await?;
        // A lost first attempt may have created the key with our lease.
        let ours = matches!(txn_get(&created), Some(kv) if kv.lease() == lease);
        if !created.succeeded() && !ours {
            let _ = self.revoke(lease).await;
            return Err(StoreError::AlreadyMember {
                node: node.into(),
                ttl_s: grant.ttl(),
            });
        }
        let margin = ttl / 4;
        let (tx, rx) = watch::channel(Some(sent + ttl - margin));
        let task = tokio::spawn(keep_alive(self.clone(), lease, ttl, margin, tx));
        Ok(Membership {
            lease: Lease {
                node: node.into(),
                lease,
                ttl,
                valid_until: rx,
            },
            task: Some(task),
        })
    }

    /// Rewrites `members/<node>` (say, when the node's VMs change), still
    /// bound to the membership lease.
    ///
    /// # Errors
    /// etcd is unreachable, or the lease is gone.
    pub async fn update_member(&self, m: &Lease, info: &MemberInfo) -> Result<(), StoreError> {
        let key = format!("members/{}", m.node);
        self.put("updating a membership", &key, &json(info), Some(m.lease))
            .await
    }

    /// The live members, by node.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn members(&self) -> Result<BTreeMap<String, MemberInfo>, StoreError> {
        self.decode_prefix("reading the members", "members/").await
    }

    /// Leaves the cluster: stops the keep-alive and revokes the lease, which
    /// deletes every key bound to it (membership, links, leadership).
    ///
    /// # Errors
    /// etcd is unreachable (the lease then expires after its TTL).
    pub async fn leave(&self, mut m: Membership) -> Result<(), StoreError> {
        m.stop_keepalive();
        self.revoke(m.lease.lease).await
    }

    async fn revoke(&self, lease: i64) -> Result<(), StoreError> {
        let result = self
            .call("a lease revoke", |mut c, _| async move {
                c.lease_revoke(lease).await
            })
            .await;
        match result {
            // Revoked by a lost earlier attempt, or expired: gone either way.
            Err(StoreError::Refused { message, .. }) if message.contains("not found") => Ok(()),
            other => other.map(drop),
        }
    }

    // ---- node state ----

    /// Publishes the carrier of each of the node's NICs, bound to its
    /// membership lease (so a dead node's links vanish with it).
    ///
    /// # Errors
    /// etcd is unreachable, or the lease is gone.
    pub async fn publish_links(
        &self,
        m: &Lease,
        links: &BTreeMap<String, bool>,
    ) -> Result<(), StoreError> {
        let key = format!("links/{}", m.node);
        self.put("publishing links", &key, &json(links), Some(m.lease))
            .await
    }

    /// The published links: node → NIC → carrier up.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn links(&self) -> Result<BTreeMap<String, BTreeMap<String, bool>>, StoreError> {
        self.decode_prefix("reading the links", "links/").await
    }

    // ---- leadership ----

    /// Tries to become leader: creates the `leader` key, bound to `m`'s
    /// lease, in a transaction that succeeds only if the key does not exist.
    /// `Some` when this node is leader (also if it already was, with the
    /// same lease); `None` when another node is, or `m` is not alive.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn campaign(&self, m: &Lease) -> Result<Option<Leadership>, StoreError> {
        if !m.alive() {
            return Ok(None);
        }
        let key = self.key("leader");
        let me = json(&m.node);
        let response = self
            .txn("a leader campaign", || {
                Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(
                        key.as_str(),
                        me.clone(),
                        Some(PutOptions::new().with_lease(m.lease)),
                    )])
                    .or_else([TxnOp::get(key.as_str(), None)])
            })
            .await?;
        let revision = if response.succeeded() {
            self.revision_of(&response)?
        } else {
            match txn_get(&response) {
                Some(kv) if kv.value() == me && kv.lease() == m.lease => kv.mod_revision(),
                _ => return Ok(None),
            }
        };
        Ok(Some(Leadership {
            node: m.node.clone(),
            revision,
            lease: m.lease,
        }))
    }

    /// The current leader and its fencing token (the leader key's
    /// `mod_revision`), if there is one.
    ///
    /// # Errors
    /// etcd is unreachable, or the value cannot be decoded.
    pub async fn leader(&self) -> Result<Option<(String, i64)>, StoreError> {
        let Some(kv) = self.get_one("reading the leader", "leader").await? else {
            return Ok(None);
        };
        let node: String = decode(&self.key("leader"), kv.value())?;
        Ok(Some((node, kv.mod_revision())))
    }

    /// Gives leadership up: deletes the leader key if it is still this
    /// leadership's. `false` when it was not (any more).
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn resign(&self, l: &Leadership) -> Result<bool, StoreError> {
        let key = self.key("leader");
        let response = self
            .txn("a resignation", || {
                Txn::new()
                    .when(self.fence(l))
                    .and_then([TxnOp::delete(key.as_str(), None)])
            })
            .await?;
        Ok(response.succeeded())
    }

    /// The compares that make a write fenced: the leader key still holds
    /// `l`'s node at `l`'s revision.
    fn fence(&self, l: &Leadership) -> Vec<Compare> {
        let key = self.key("leader");
        vec![
            Compare::mod_revision(key.as_str(), CompareOp::Equal, l.revision),
            Compare::value(key.as_str(), CompareOp::Equal, json(&l.node)),
        ]
    }

    /// Records the members leader `l` has reported up, fenced: written
    /// only while `l` still leads, so the next leader reports what changed
    /// after (a node that went down while nobody led). `false` when `l`
    /// no longer leads.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn put_members_seen(
        &self,
        l: &Leadership,
        nodes: &std::collections::BTreeSet<String>,
    ) -> Result<bool, StoreError> {
        let key = self.key("members_seen");
        let value = json(nodes);
        let response = self
            .txn_retried("recording the members seen", || {
                Txn::new().when(self.fence(l)).and_then([TxnOp::put(
                    key.as_str(),
                    value.clone(),
                    None,
                )])
            })
            .await?;
        Ok(response.0.succeeded())
    }

    // ---- ownership ----

    /// Records the owner of each VM that has none yet (one transaction per
    /// VM, creating `owners/<vm>` only if absent; existing owners are kept).
    /// Returns how many owners were created.
    ///
    /// # Errors
    /// A name is unusable, or etcd is unreachable.
    pub async fn init_owners(&self, owners: &[(String, String)]) -> Result<usize, StoreError> {
        let mut created = 0;
        for (vm, node) in owners {
            check_name("VM", vm)?;
            check_name("node", node)?;
            let key = self.key(&format!("owners/{vm}"));
            let value = json(node);
            let response = self
                .txn("recording an owner", || {
                    Txn::new()
                        .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(key.as_str(), value.clone(), None)])
                })
                .await?;
            created += usize::from(response.succeeded());
        }
        Ok(created)
    }

    /// The owner of every VM.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn owners(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.decode_prefix("reading the owners", "owners/").await
    }

    // ---- intents ----

    /// Writes `intent`, fenced: in ONE transaction, only if the leader key
    /// is still `l`'s (same node, same revision), the VM's owner is
    /// `intent.from`, and the VM has no intent. `false` (nothing written)
    /// when any of these fails.
    ///
    /// # Errors
    /// A name is unusable, or etcd is unreachable.
    pub async fn write_intent(&self, l: &Leadership, intent: &Intent) -> Result<bool, StoreError> {
        check_name("VM", &intent.vm)?;
        check_name("node", &intent.to)?;
        let owner = self.key(&format!("owners/{}", intent.vm));
        let key = self.key(&format!("intents/{}", intent.vm));
        let value = json(intent);
        let response = self
            .txn_retried("a fenced intent write", || {
                let mut compares = self.fence(l);
                compares.push(Compare::value(
                    owner.as_str(),
                    CompareOp::Equal,
                    json(&intent.from),
                ));
                compares.push(Compare::create_revision(key.as_str(), CompareOp::Equal, 0));
                Txn::new()
                    .when(compares)
                    .and_then([TxnOp::put(key.as_str(), value.clone(), None)])
                    .or_else([TxnOp::get(key.as_str(), None)])
            })
            .await?;
        Ok(self.succeeded_or_retried(&response, &value))
    }

    /// The pending intents, by VM name.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn intents(&self) -> Result<Vec<Intent>, StoreError> {
        let by_vm: BTreeMap<String, Intent> = self
            .decode_prefix("reading the intents", "intents/")
            .await?;
        Ok(by_vm.into_values().collect())
    }

    /// Drops `intent`, fenced like [`Store::write_intent`], and only if its
    /// source has not begun it ([`Store::begin_migration`]); records the
    /// result `cancelled`. `false` (nothing changed) otherwise: a begun
    /// migration ends only through its source.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn cancel_intent(&self, l: &Leadership, intent: &Intent) -> Result<bool, StoreError> {
        let key = self.key(&format!("intents/{}", intent.vm));
        let running = self.key(&format!("running/{}", intent.vm));
        let result = self.result_entry(intent, Outcome::Cancelled);
        let response = self
            .txn_retried("a fenced intent cancel", || {
                let mut compares = self.fence(l);
                compares.push(Compare::value(key.as_str(), CompareOp::Equal, json(intent)));
                compares.push(Compare::create_revision(
                    running.as_str(),
                    CompareOp::Equal,
                    0,
                ));
                Txn::new()
                    .when(compares)
                    .and_then([
                        TxnOp::delete(key.as_str(), None),
                        TxnOp::put(result.0.as_str(), result.1.clone(), None),
                    ])
                    .or_else([TxnOp::get(result.0.as_str(), None)])
            })
            .await?;
        Ok(self.succeeded_or_retried(&response, &result.1))
    }

    // ---- outcome ----

    /// The source marks `intent` as begun (`running/<vm>`), so the leader
    /// can no longer cancel it. `false` when the intent is not the VM's
    /// current one, or was begun already.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn begin_migration(&self, intent: &Intent) -> Result<bool, StoreError> {
        let key = self.key(&format!("intents/{}", intent.vm));
        let running = self.key(&format!("running/{}", intent.vm));
        let id = json(&intent.id);
        let response = self
            .txn_retried("marking a migration begun", || {
                Txn::new()
                    .when([
                        Compare::value(key.as_str(), CompareOp::Equal, json(intent)),
                        Compare::create_revision(running.as_str(), CompareOp::Equal, 0),
                    ])
                    .and_then([TxnOp::put(running.as_str(), id.clone(), None)])
                    .or_else([TxnOp::get(running.as_str(), None)])
            })
            .await?;
        Ok(self.succeeded_or_retried(&response, &id))
    }

    /// The destination runs the VM: in ONE transaction, only if the owner is
    /// still `intent.from` and `intent` is still the VM's intent, the owner
    /// becomes `intent.to`, the intent is deleted and the result
    /// `completed` recorded. `false` (nothing changed) otherwise, so a
    /// second call returns `false`.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn complete_migration(&self, intent: &Intent) -> Result<bool, StoreError> {
        let owner = self.key(&format!("owners/{}", intent.vm));
        let result = self.result_entry(intent, Outcome::Completed);
        self.finish(intent, "completing a migration", &result, |ops| {
            ops.push(TxnOp::put(owner.as_str(), json(&intent.to), None));
            vec![Compare::value(
                owner.as_str(),
                CompareOp::Equal,
                json(&intent.from),
            )]
        })
        .await
    }

    /// The migration failed: in ONE transaction, only if `intent` is still
    /// the VM's intent, the intent is deleted and the result `failed` with
    /// `cause` recorded. The owner stays the source. `false` otherwise.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn fail_migration(&self, intent: &Intent, cause: &str) -> Result<bool, StoreError> {
        let outcome = Outcome::Failed {
            cause: cause.into(),
        };
        let result = self.result_entry(intent, outcome);
        self.finish(intent, "failing a migration", &result, |_| Vec::new())
            .await
    }

    /// Ends `intent`: compares the intent (plus what `extra` returns),
    /// deletes it and `running/<vm>`, puts `result` (plus `extra`'s ops).
    async fn finish(
        &self,
        intent: &Intent,
        what: &str,
        result: &(String, Vec<u8>),
        extra: impl Fn(&mut Vec<TxnOp>) -> Vec<Compare>,
    ) -> Result<bool, StoreError> {
        let key = self.key(&format!("intents/{}", intent.vm));
        let running = self.key(&format!("running/{}", intent.vm));
        let incoming = self.key(&format!("incoming/{}", intent.vm));
        let abort = self.key(&format!("aborts/{}", intent.vm));
        let ticket = self.key(&format!("tickets/{}", intent.vm));
        let response = self
            .txn_retried(what, || {
                let mut ops = vec![
                    TxnOp::delete(key.as_str(), None),
                    TxnOp::delete(running.as_str(), None),
                    TxnOp::delete(incoming.as_str(), None),
                    TxnOp::delete(abort.as_str(), None),
                    TxnOp::delete(ticket.as_str(), None),
                    TxnOp::put(result.0.as_str(), result.1.clone(), None),
                ];
                let mut compares = extra(&mut ops);
                compares.push(Compare::value(key.as_str(), CompareOp::Equal, json(intent)));
                Txn::new()
                    .when(compares)
                    .and_then(ops)
                    .or_else([TxnOp::get(result.0.as_str(), None)])
            })
            .await?;
        Ok(self.succeeded_or_retried(&response, &result.1))
    }

    fn result_entry(&self, intent: &Intent, outcome: Outcome) -> (String, Vec<u8>) {
        let result = MigrationResult {
            id: intent.id,
            from: intent.from.clone(),
            to: intent.to.clone(),
            outcome,
        };
        (self.key(&format!("results/{}", intent.vm)), json(&result))
    }

    /// The last outcome of each VM's migration, by VM.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn results(&self) -> Result<BTreeMap<String, MigrationResult>, StoreError> {
        self.decode_prefix("reading the results", "results/").await
    }

    // ---- events ----

    /// Appends `event` under the next sequence number (taken from the
    /// `event_seq` counter in the same transaction) and returns that number.
    ///
    /// # Errors
    /// etcd is unreachable, or other writers kept taking the number.
    pub async fn append_event(&self, event: &Event) -> Result<u64, StoreError> {
        let counter = self.key("event_seq");
        let value = json(event);
        for _ in 0..EVENT_SEQ_TRIES_MAX {
            let (last, revision) = match self.get_one("reading event_seq", "event_seq").await? {
                Some(kv) => (decode::<u64>(&counter, kv.value())?, kv.mod_revision()),
                None => (0, 0),
            };
            let seq = last + 1;
            let key = self.key(&format!("events/{seq:0EVENT_SEQ_DIGITS$}"));
            let response = self
                .txn("appending an event", || {
                    Txn::new()
                        .when([Compare::mod_revision(
                            counter.as_str(),
                            CompareOp::Equal,
                            revision,
                        )])
                        .and_then([
                            TxnOp::put(counter.as_str(), json(&seq), None),
                            TxnOp::put(key.as_str(), value.clone(), None),
                        ])
                })
                .await?;
            if response.succeeded() {
                return Ok(seq);
            }
        }
        Err(self.refused(
            "appending an event",
            format!("the event sequence changed {EVENT_SEQ_TRIES_MAX} times in a row"),
        ))
    }

    /// The events with a sequence number above `after`, in order, at most
    /// [`EVENTS_PER_READ_MAX`]; call again from the last one for more.
    ///
    /// To follow (as `haven events --follow` does): open
    /// `watch_prefix("events/", None)` first, then read `events_since`, then
    /// take watched events whose sequence is above the last one read.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn events_since(&self, after: u64) -> Result<Vec<(u64, Event)>, StoreError> {
        let from = self.key(&format!(
            "events/{:0EVENT_SEQ_DIGITS$}",
            after.saturating_add(1)
        ));
        let end = prefix_end(&self.key("events/"));
        let limit = EVENTS_PER_READ_MAX as i64;
        let kvs = self
            .call("reading events", |mut c, _| {
                let (from, end) = (from.clone(), end.clone());
                async move {
                    let options = GetOptions::new().with_range(end).with_limit(limit);
                    c.get(from, Some(options)).await
                }
            })
            .await?
            .take_kvs();
        kvs.iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let seq = key
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| corrupt(&key, "the key is not a sequence number"))?;
                Ok((seq, decode(&key, kv.value())?))
            })
            .collect()
    }

    /// Watches every key under `/haven/<cluster>/<sub>` (e.g. `"events/"`,
    /// `"intents/"`, `"leader"`), from `start_revision` if given (to resume
    /// without a gap), else from now.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn watch_prefix(
        &self,
        sub: &str,
        start_revision: Option<i64>,
    ) -> Result<Watch, StoreError> {
        let key = self.key(sub);
        // Subscribed first: a connection replaced while the watch opens
        // ends it at once, as it may run on the old one.
        let mut generation = self.inner.generation.subscribe();
        generation.mark_unchanged();
        let stream = self
            .call("opening a watch", |mut c, _| {
                let key = key.clone();
                async move {
                    let mut options = WatchOptions::new().with_prefix();
                    if let Some(revision) = start_revision {
                        options = options.with_start_revision(revision);
                    }
                    c.watch(key, Some(options)).await
                }
            })
            .await?;
        Ok(Watch {
            stream,
            strip: self.inner.prefix.len(),
            endpoints: self.endpoints(),
            generation,
        })
    }

    // ---- adapter protection (H11) ----

    /// Sets whether `vm`'s adapters on `switch` are protected, overriding
    /// the inventory; takes effect for the leader at once (it watches
    /// `protection/`).
    ///
    /// # Errors
    /// A name is unusable, or etcd is unreachable.
    pub async fn set_protected(
        &self,
        vm: &str,
        switch: &str,
        protected: bool,
    ) -> Result<(), StoreError> {
        check_name("VM", vm)?;
        check_name("switch", switch)?;
        let key = format!("protection/{vm}/{switch}");
        self.put("setting protection", &key, &json(&protected), None)
            .await
    }

    /// The protection overrides: (VM, switch) → protected.
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn protection(&self) -> Result<BTreeMap<(String, String), bool>, StoreError> {
        let flat: BTreeMap<String, bool> = self
            .decode_prefix("reading protection", "protection/")
            .await?;
        flat.into_iter()
            .map(|(rest, protected)| match rest.split_once('/') {
                Some((vm, switch)) => Ok(((vm.into(), switch.into()), protected)),
                None => Err(corrupt(
                    &self.key(&format!("protection/{rest}")),
                    "expected protection/<vm>/<switch>",
                )),
            })
            .collect()
    }

    /// The source gave up `intent` because the leader asked it to abort
    /// (the migration was cancelled in QEMU): ends it like
    /// [`Store::fail_migration`], with the result `cancelled`. The VM runs
    /// on, and is still owned by, the source.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn cancel_migration(&self, intent: &Intent) -> Result<bool, StoreError> {
        let result = self.result_entry(intent, Outcome::Cancelled);
        self.finish(intent, "cancelling a migration", &result, |_| Vec::new())
            .await
    }

    /// The leader asks the source to abort `intent`, which it has begun
    /// (so [`Store::cancel_intent`] refused): puts `aborts/<vm>`, fenced and
    /// only while `intent` is the VM's intent. The source answers by ending
    /// the intent: `cancelled` if the abort took effect, `completed` if the
    /// migration won the race. `false` when nothing was written.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn request_abort(&self, l: &Leadership, intent: &Intent) -> Result<bool, StoreError> {
        let key = self.key(&format!("intents/{}", intent.vm));
        let abort = self.key(&format!("aborts/{}", intent.vm));
        let id = json(&intent.id);
        let response = self
            .txn("a fenced abort request", || {
                let mut compares = self.fence(l);
                compares.push(Compare::value(key.as_str(), CompareOp::Equal, json(intent)));
                Txn::new()
                    .when(compares)
                    .and_then([TxnOp::put(abort.as_str(), id.clone(), None)])
            })
            .await?;
        Ok(response.succeeded())
    }

    /// The destination waits for `intent`'s VM at `addr` (its migration
    /// address and port): puts `incoming/<vm>`, bound to its membership
    /// lease, only while `intent` is the VM's intent. `false` otherwise.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn announce_incoming(
        &self,
        m: &Lease,
        intent: &Intent,
        addr: &str,
    ) -> Result<bool, StoreError> {
        let key = self.key(&format!("intents/{}", intent.vm));
        let incoming = self.key(&format!("incoming/{}", intent.vm));
        let value = json(&IncomingAt {
            id: intent.id,
            addr: addr.to_string(),
        });
        let lease = m.lease;
        let response = self
            .txn("announcing an incoming migration", || {
                Txn::new()
                    .when([Compare::value(key.as_str(), CompareOp::Equal, json(intent))])
                    .and_then([TxnOp::put(
                        incoming.as_str(),
                        value.clone(),
                        Some(PutOptions::new().with_lease(lease)),
                    )])
            })
            .await?;
        Ok(response.succeeded())
    }

    /// The source passes the one-time ticket it got from the migration
    /// authority (H9, `migration_auth = "authority"`) to the destination:
    /// puts `tickets/<vm>`, only while `intent` is the VM's intent.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn put_ticket(&self, intent: &Intent, ticket: &str) -> Result<bool, StoreError> {
        let key = self.key(&format!("intents/{}", intent.vm));
        let at = self.key(&format!("tickets/{}", intent.vm));
        let value = json(&TicketFor {
            id: intent.id,
            ticket: ticket.to_string(),
        });
        let response = self
            .txn("passing a migration ticket", || {
                Txn::new()
                    .when([Compare::value(key.as_str(), CompareOp::Equal, json(intent))])
                    .and_then([TxnOp::put(at.as_str(), value.clone(), None)])
            })
            .await?;
        Ok(response.succeeded())
    }

    /// etcd's current revision: a mirror at or past it has seen every write
    /// made before this call.
    ///
    /// # Errors
    /// etcd is unreachable.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        let key = self.key("leader");
        let response = self
            .call("reading the revision", |mut c, _| {
                let key = key.clone();
                async move { c.get(key, Some(GetOptions::new().with_keys_only())).await }
            })
            .await?;
        Ok(response.header().map_or(0, |h| h.revision()))
    }

    /// Everything the store holds about the cluster except its events, read
    /// at one revision (so it is a consistent cut: a migration is either
    /// still an intent or already a new owner, never neither). Keep it up to
    /// date with a watch from `State::revision + 1` and [`State::apply`].
    ///
    /// # Errors
    /// etcd is unreachable, or a value cannot be decoded.
    pub async fn state(&self) -> Result<State, StoreError> {
        let start = self.inner.prefix.clone();
        let events = self.key("events/");
        let events_end = prefix_end(&events);
        let end = prefix_end(&start);
        let mut below = self
            .call("reading the cluster state", |mut c, _| {
                let (start, events) = (start.clone(), events.clone());
                async move {
                    let options = GetOptions::new().with_range(events);
                    c.get(start, Some(options)).await
                }
            })
            .await?;
        let revision = below.header().map_or(0, |h| h.revision());
        let mut above = self
            .call("reading the cluster state", |mut c, _| {
                let (from, end) = (events_end.clone(), end.clone());
                async move {
                    let options = GetOptions::new().with_range(end).with_revision(revision);
                    c.get(from, Some(options)).await
                }
            })
            .await?;
        let mut state = State {
            revision,
            ..State::default()
        };
        let strip = self.inner.prefix.len();
        for kv in below.take_kvs().iter().chain(above.take_kvs().iter()) {
            let key = String::from_utf8_lossy(kv.key());
            let change = Change {
                key: key.get(strip..).unwrap_or_default().to_string(),
                value: Some(kv.value().to_vec()),
                revision: kv.mod_revision(),
            };
            state
                .apply(&change)
                .map_err(|detail| corrupt(&key, detail))?;
        }
        Ok(state)
    }

    /// Appends `events` in order, in one transaction per try (so a burst of
    /// events from one decision costs one round trip), and returns the
    /// sequence number of the last one (or of the last stored event when
    /// `events` is empty).
    ///
    /// # Errors
    /// etcd is unreachable, or other writers kept taking the numbers.
    pub async fn append_events(&self, events: &[Event]) -> Result<u64, StoreError> {
        let appended = self.append_events_if(None, events).await?;
        Ok(appended.expect("an unfenced append is never refused"))
    }

    /// [`Store::append_events`], fenced: only while `l` still leads, so a
    /// leader replaced mid-round records nothing of what it decided.
    /// `None` (nothing written) when `l` no longer leads.
    ///
    /// # Errors
    /// As [`Store::append_events`].
    pub async fn append_events_fenced(
        &self,
        l: &Leadership,
        events: &[Event],
    ) -> Result<Option<u64>, StoreError> {
        self.append_events_if(Some(l), events).await
    }

    async fn append_events_if(
        &self,
        fence: Option<&Leadership>,
        events: &[Event],
    ) -> Result<Option<u64>, StoreError> {
        let counter = self.key("event_seq");
        let values: Vec<Vec<u8>> = events.iter().map(json).collect();
        for _ in 0..EVENT_SEQ_TRIES_MAX {
            let (last, revision) = match self.get_one("reading event_seq", "event_seq").await? {
                Some(kv) => (decode::<u64>(&counter, kv.value())?, kv.mod_revision()),
                None => (0, 0),
            };
            if values.is_empty() {
                return Ok(Some(last));
            }
            let seq = last + values.len() as u64;
            let response = self
                .txn("appending events", || {
                    let mut ops = vec![TxnOp::put(counter.as_str(), json(&seq), None)];
                    for (n, value) in (last + 1..).zip(&values) {
                        let key = self.key(&format!("events/{n:0EVENT_SEQ_DIGITS$}"));
                        ops.push(TxnOp::put(key, value.clone(), None));
                    }
                    let mut compares = fence.map(|l| self.fence(l)).unwrap_or_default();
                    let counted =
                        Compare::mod_revision(counter.as_str(), CompareOp::Equal, revision);
                    compares.push(counted);
                    Txn::new().when(compares).and_then(ops)
                })
                .await?;
            if response.succeeded() {
                return Ok(Some(seq));
            }
            // Refused: another writer took the numbers, or (fenced) the
            // leadership is gone.
            if let Some(l) = fence {
                if self.leader().await? != Some((l.node.clone(), l.revision)) {
                    return Ok(None);
                }
            }
        }
        Err(self.refused(
            "appending events",
            format!("the event sequence changed {EVENT_SEQ_TRIES_MAX} times in a row"),
        ))
    }

    // ---- plumbing ----

    fn key(&self, sub: &str) -> String {
        format!("{}{sub}", self.inner.prefix)
    }

    fn endpoints(&self) -> String {
        self.inner.endpoints.join(",")
    }

    fn client(&self) -> Client {
        self.inner.client.lock().expect("store client lock").clone()
    }

    /// Replaces the connection with a fresh one, so endpoints that failed
    /// are dialled again; watches on the old one end.
    async fn reconnect(&self) {
        let (endpoints, options) = (&self.inner.endpoints, &self.inner.options);
        if let Ok(client) = client_on_a_live_path(endpoints, options).await {
            *self.inner.client.lock().expect("store client lock") = client;
            self.inner.generation.send_modify(|g| *g += 1);
        }
    }

    /// How many times this store has replaced its connection.
    pub fn generation(&self) -> u64 {
        *self.inner.generation.borrow()
    }

    fn refused(&self, what: &str, message: String) -> StoreError {
        StoreError::Refused {
            endpoints: self.endpoints(),
            what: what.into(),
            message,
        }
    }

    /// Runs `f` (given a client and the attempt number, from 0) until it
    /// succeeds, fails for a reason other than the connection, or the
    /// store's timeout has passed; reconnects between attempts.
    async fn call<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, StoreError>
    where
        F: FnMut(Client, u32) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let timeout = self.inner.timeout;
        let deadline = Instant::now() + timeout;
        let mut backoff = BACKOFF_MIN;
        for attempt in 0.. {
            let remaining = deadline.saturating_duration_since(Instant::now());
            // One attempt may take at most half the timeout, so a hung
            // connection leaves time for a fresh one.
            let bound = remaining.min((timeout / 2).clamp(Duration::from_millis(100), ATTEMPT_MAX));
            let last = match tokio::time::timeout(bound, f(self.client(), attempt)).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if !retryable(&e) => return Err(self.refused(what, e.to_string())),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {} ms", bound.as_millis()),
            };
            if Instant::now() + backoff >= deadline {
                return Err(StoreError::Unreachable {
                    endpoints: self.endpoints(),
                    what: what.into(),
                    timeout_ms: timeout.as_millis(),
                    last,
                });
            }
            self.reconnect().await;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        unreachable!("the attempt loop ends by returning")
    }

    /// Runs the transaction `make` builds, with retries ([`Store::call`]).
    async fn txn(&self, what: &str, make: impl Fn() -> Txn) -> Result<TxnResponse, StoreError> {
        self.txn_retried(what, make)
            .await
            .map(|(response, _)| response)
    }

    /// As [`Store::txn`], also telling whether the answer came from a
    /// retry, after an attempt whose fate is unknown (etcd may have
    /// applied it).
    async fn txn_retried(
        &self,
        what: &str,
        make: impl Fn() -> Txn,
    ) -> Result<(TxnResponse, bool), StoreError> {
        self.call(what, |mut c, attempt| {
            let txn = make();
            async move { c.txn(txn).await.map(|response| (response, attempt > 0)) }
        })
        .await
    }

    /// Whether a conditional write succeeded: its compares held, or, on a
    /// retry, they failed because the lost earlier attempt of the same call
    /// was applied: the `or_else` branch reads the key the write puts, and
    /// it holds exactly `value`. A separate, later call with the same
    /// arguments gets `false`.
    fn succeeded_or_retried(
        &self,
        (response, retried): &(TxnResponse, bool),
        value: &[u8],
    ) -> bool {
        response.succeeded()
            || (*retried && txn_get(response).is_some_and(|kv| kv.value() == value))
    }

    fn revision_of(&self, response: &TxnResponse) -> Result<i64, StoreError> {
        response
            .header()
            .map(|h| h.revision())
            .ok_or_else(|| self.refused("a transaction", "the answer had no header".into()))
    }

    async fn put(
        &self,
        what: &str,
        sub: &str,
        value: &[u8],
        lease: Option<i64>,
    ) -> Result<(), StoreError> {
        let key = self.key(sub);
        self.call(what, |mut c, _| {
            let (key, value) = (key.clone(), value.to_vec());
            let options = lease.map(|id| PutOptions::new().with_lease(id));
            async move { c.put(key, value, options).await }
        })
        .await
        .map(drop)
    }

    async fn get_one(&self, what: &str, sub: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = self.key(sub);
        let mut response = self
            .call(what, |mut c, _| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await?;
        Ok(response.take_kvs().into_iter().next())
    }

    /// Every key under `sub`, decoded, by the rest of the key after `sub`.
    async fn decode_prefix<T: DeserializeOwned>(
        &self,
        what: &str,
        sub: &str,
    ) -> Result<BTreeMap<String, T>, StoreError> {
        let prefix = self.key(sub);
        let mut response = self
            .call(what, |mut c, _| {
                let prefix = prefix.clone();
                async move { c.get(prefix, Some(GetOptions::new().with_prefix())).await }
            })
            .await?;
        response
            .take_kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key());
                let rest = key.get(prefix.len()..).unwrap_or_default().to_string();
                Ok((rest, decode(&key, kv.value())?))
            })
            .collect()
    }
}

/// The names of the haven clusters etcd at `endpoints` holds (those with
/// an inventory), for commands run from outside that were not told which.
///
/// # Errors
/// An endpoint or TLS file is unusable, or etcd did not answer in time.
pub async fn clusters(
    endpoints: &[String],
    tls: Option<&TlsFiles>,
    timeout: Duration,
) -> Result<Vec<String>, StoreError> {
    let mut options = ConnectOptions::new().with_connect_timeout(timeout);
    if let Some(tls) = tls {
        options = options.with_tls(tls_options(tls)?);
    }
    let unreachable = |last: String| StoreError::Unreachable {
        endpoints: endpoints.join(","),
        what: "listing clusters".into(),
        timeout_ms: timeout.as_millis(),
        last,
    };
    let listed = tokio::time::timeout(timeout, async {
        let mut client = new_client(endpoints, &options).await?;
        let options = GetOptions::new().with_prefix().with_keys_only();
        client
            .get("/haven/", Some(options))
            .await
            .map_err(|e| unreachable(e.to_string()))
    })
    .await
    .map_err(|_| unreachable("no answer".into()))??;
    let mut names: Vec<String> = (listed.kvs().iter())
        .filter_map(|kv| {
            let key = String::from_utf8_lossy(kv.key());
            let (name, rest) = key.strip_prefix("/haven/")?.split_once('/')?;
            (rest == "inventory").then(|| name.to_string())
        })
        .collect();
    names.dedup();
    Ok(names)
}

/// Asks etcd for its status every [`PROBE_INTERVAL`] while the store lives,
/// and replaces the connection when no answer comes within [`PROBE_BOUND`].
async fn probe(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let store = Store { inner };
        let mut client = store.client();
        let answered = tokio::time::timeout(PROBE_BOUND, client.status()).await;
        if !matches!(answered, Ok(Ok(_))) {
            store.reconnect().await;
        }
    }
}

/// Keeps `lease` alive until aborted: a keep-alive every third of `ttl`,
/// each answer moving `valid_until` to its send time plus `ttl - margin`. A
/// broken stream is reopened (with a fresh connection); an answer saying
/// the lease is gone sets `None` and ends the task.
async fn keep_alive(
    store: Store,
    lease: i64,
    ttl: Duration,
    margin: Duration,
    valid_until: watch::Sender<Option<Instant>>,
) {
    let period = ttl / 3;
    loop {
        let sent = Instant::now();
        let opened = tokio::time::timeout(period.max(Duration::from_millis(200)), async {
            store.client().lease_keep_alive(lease).await
        })
        .await;
        // Opening the stream is itself a keep-alive whose answer the client
        // checks (a TTL of 0 means the lease is gone).
        let (mut keeper, mut stream) = match opened {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) if lease_gone(&e) => {
                valid_until.send_replace(None);
                return;
            }
            _ => {
                store.reconnect().await;
                tokio::time::sleep(BACKOFF_MAX.min(period)).await;
                continue;
            }
        };
        valid_until.send_replace(Some(sent + ttl - margin));
        let mut last = sent;
        loop {
            tokio::time::sleep_until((last + period).into()).await;
            let sent = Instant::now();
            if keeper.keep_alive().await.is_err() {
                break;
            }
            match tokio::time::timeout(period, stream.message()).await {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                    let granted = Duration::from_secs(answer.ttl() as u64);
                    valid_until.send_replace(Some(sent + granted - margin.min(granted)));
                    last = sent;
                }
                Ok(Ok(Some(_))) => {
                    valid_until.send_replace(None);
                    return;
                }
                _ => break,
            }
        }
    }
}

/// Whether a keep-alive error says the lease no longer exists.
fn lease_gone(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::LeaseKeepAliveError(m) => m.contains("not found"),
        etcd_client::Error::GRpcStatus(s) => s.code() == Code::NotFound,
        _ => false,
    }
}

/// Whether an error is about the connection (so a retry may succeed)
/// rather than the request. Unavailable: no connection; Unknown: how tonic
/// reports some transport failures; DeadlineExceeded and Aborted: the
/// server gave up (say, during an etcd leader election); Internal: a broken
/// HTTP/2 stream.
fn retryable(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => matches!(
            s.code(),
            Code::Unavailable
                | Code::Unknown
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::Internal
        ),
        _ => false,
    }
}

async fn new_client(endpoints: &[String], options: &ConnectOptions) -> Result<Client, StoreError> {
    if endpoints.is_empty() {
        return Err(StoreError::Endpoint {
            endpoint: String::new(),
            message: "no endpoint given".into(),
        });
    }
    Client::connect(endpoints, Some(options.clone()))
        .await
        .map_err(|e| StoreError::Endpoint {
            endpoint: endpoints.join(","),
            message: e.to_string(),
        })
}

/// A client on the first endpoint that answers a status request within
/// [`PROBE_BOUND`], all dialled at once; every endpoint when none does. A
/// client balanced over every endpoint would send some calls (and the
/// lease's keep-alives) to one behind a pulled cable, each such call
/// costing a whole attempt, often enough to lose the lease while another
/// path works (H10).
async fn client_on_a_live_path(
    endpoints: &[String],
    options: &ConnectOptions,
) -> Result<Client, StoreError> {
    if endpoints.len() > 1 {
        let mut dialling = tokio::task::JoinSet::new();
        for endpoint in endpoints {
            let (endpoint, options) = (endpoint.clone(), options.clone());
            dialling.spawn(async move {
                let mut client = Client::connect([endpoint], Some(options)).await.ok()?;
                client.status().await.ok()?;
                Some(client)
            });
        }
        let first = tokio::time::timeout(PROBE_BOUND, async {
            while let Some(dialled) = dialling.join_next().await {
                if let Ok(Some(client)) = dialled {
                    return Some(client);
                }
            }
            None
        });
        // The other dials are dropped (aborted) with the set.
        if let Ok(Some(client)) = first.await {
            return Ok(client);
        }
    }
    new_client(endpoints, options).await
}

fn tls_options(tls: &TlsFiles) -> Result<etcd_client::TlsOptions, StoreError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| StoreError::TlsFile {
            path: path.to_path_buf(),
            source,
        })
    };
    let ca = etcd_client::Certificate::from_pem(read(&tls.ca)?);
    let identity = etcd_client::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    Ok(etcd_client::TlsOptions::new()
        .ca_certificate(ca)
        .identity(identity))
}

/// The first key-value of a transaction's `or_else` get, if any.
fn txn_get(response: &TxnResponse) -> Option<KeyValue> {
    response.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
        _ => None,
    })
}

/// The smallest key above every key starting with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.contains('/') {
        return Err(StoreError::InvalidName {
            what,
            name: name.into(),
        });
    }
    Ok(())
}

fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // haven's stored types are plain structs, maps and strings: encoding
    // them cannot fail.
    serde_json::to_vec(value).expect("haven's stored types encode as JSON")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e))
}

fn corrupt(key: &str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.into(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end("/haven/c/events/"), b"/haven/c/events0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }

    #[test]
    fn names_with_slashes_are_refused() {
        assert!(check_name("VM", "web1").is_ok());
        assert!(check_name("VM", "a/b").is_err());
        assert!(check_name("VM", "").is_err());
    }

    #[test]
    fn results_serialise_flat() {
        let result = MigrationResult {
            id: 7,
            from: "A".into(),
            to: "B".into(),
            outcome: Outcome::Failed {
                cause: "timeout".into(),
            },
        };
        let text = String::from_utf8(json(&result)).unwrap();
        assert_eq!(
            text,
            r#"{"id":7,"from":"A","to":"B","outcome":"failed","cause":"timeout"}"#
        );
        assert_eq!(
            serde_json::from_str::<MigrationResult>(&text).unwrap(),
            result
        );
    }
}
