//! The cluster model of SPEC section 1, as parsed from a scenario or
//! inventory file.
//!
//! Everything here is plain data. Names are unique within their kind and
//! every reference has been checked by the parser (see [`crate::parse`]), so
//! code that holds a [`Scenario`] can look names up without handling
//! "unknown name" again.

use serde::Serialize;

/// Milliseconds: of virtual time in the simulator, of a monotonic clock in
/// the agent. Every duration and instant in haven-core uses this unit.
pub type Millis = u64;

/// A scenario: a cluster plus a timed script of steps (SPEC section 4). An
/// inventory is a scenario without steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// The top-level `name`; the file stem when the file gives none.
    pub name: String,
    pub cluster: Cluster,
    /// Steps in time order (stable for equal times: file order).
    pub steps: Vec<Step>,
}

/// The static description of a cluster: policy, networks, nodes and VMs,
/// each list in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub settings: Settings,
    pub networks: Vec<Network>,
    pub nodes: Vec<Node>,
    pub vms: Vec<Vm>,
}

/// Policy settings (SPEC section 3). Durations are stored in milliseconds
/// whatever unit the file used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Per node, as source or destination (H5).
    pub max_concurrent_migrations: u32,
    pub detection: Detection,
    /// For [`Detection::Poll`]: each VM checks its switches this often (H2).
    pub poll_interval_ms: Millis,
    /// For [`Detection::Event`]: a link must stay down this long (H2).
    pub hold_down_ms: Millis,
    pub migration_auth: MigrationAuth,
    /// Backoff before the first retry after a failure; doubles each try (H8).
    pub retry_backoff_ms: Millis,
    /// Migration tries per impairment, the first included (H8).
    pub retry_max: u32,
    /// Simulator: each node's migration link, shared equally by its
    /// concurrent migrations.
    pub migration_bandwidth_mbps: u64,
    /// H7: abort an in-flight migration whose destination stops being
    /// eligible and send the VM elsewhere. Not a file key: only the
    /// [`Settings::classic`] profile turns it off.
    pub reroute_mid_flight: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrent_migrations: 2,
            detection: Detection::Event,
            poll_interval_ms: 60_000,
            hold_down_ms: 0,
            migration_auth: MigrationAuth::Certificate,
            retry_backoff_ms: 10_000,
            retry_max: 3,
            migration_bandwidth_mbps: 10_000,
            reroute_mid_flight: true,
        }
    }
}

impl Settings {
    /// The behaviour the source documents describe, for side-by-side
    /// comparison: each VM polls its switches every 60 s with its own phase
    /// [S0.12], migrations authenticate with an online authority [S1.3], no
    /// hold-down, and no re-route when a destination fails mid-flight (the
    /// migration runs on, or fails if the destination is gone). Limits,
    /// retries and bandwidth stay as they are.
    pub fn classic(&self) -> Settings {
        Settings {
            detection: Detection::Poll,
            poll_interval_ms: 60_000,
            hold_down_ms: 0,
            migration_auth: MigrationAuth::Authority,
            reroute_mid_flight: false,
            ..self.clone()
        }
    }
}

/// How impairment is detected (H2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detection {
    /// From link events, at once or after `hold_down_ms`.
    Event,
    /// Each VM polls its switches every `poll_interval_ms` with its own phase.
    Poll,
}

/// How the two hosts of a migration authenticate each other (H9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MigrationAuth {
    /// Mutual TLS from certificates the hosts already hold: no online
    /// authority needed.
    Certificate,
    /// The source must reach an `authority` network when the migration
    /// starts (the source system's behaviour, seed 001).
    Authority,
}

/// A named L2 segment and what hosts use it for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Network {
    pub name: String,
    /// Cluster coordination may flow over it (H10).
    pub control: bool,
    /// Live-migration traffic may use it (H3, H10).
    pub migration: bool,
    /// An online authentication authority is reached over it (H9).
    pub authority: bool,
}

/// A host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub memory_mb: u64,
    /// Physical ports and bonds, in file order.
    pub nics: Vec<Nic>,
    pub switches: Vec<Switch>,
}

/// A physical port, or a bond when `members` is not empty. A bond is up while
/// any member is up [S0.8]; its members are NICs too (a step may pull one)
/// but are not listed on their own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Nic {
    pub name: String,
    pub network: String,
    pub members: Vec<String>,
}

impl Nic {
    pub fn is_bond(&self) -> bool {
        !self.members.is_empty()
    }
}

/// A virtual switch: VMs attach to it by name; its uplink is a NIC (or bond)
/// of the same node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub name: String,
    pub uplink: String,
    /// The host itself also uses the uplink [S1.2].
    pub share_with_host: bool,
}

/// A virtual machine and where it starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Vm {
    pub name: String,
    /// The node that owns it at the start.
    pub node: String,
    pub memory_mb: u64,
    pub priority: Priority,
    /// Simulator: the exact migration duration, overriding the bandwidth
    /// model.
    pub migration_ms: Option<Millis>,
    pub adapters: Vec<Adapter>,
}

/// Queue priority (H5). Ordered so that `High > Medium > Low`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
}

/// A VM's virtual NIC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Adapter {
    /// The switch it attaches to, by name, on whichever node runs the VM.
    pub switch: String,
    /// Twelve upper-case hex digits, no separators (`00155D867239`).
    pub mac: String,
    /// Protected adapters make the VM move when their network fails
    /// (default true [S0.3]).
    pub protected: bool,
}

/// One timed action of a scenario's script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub at_ms: Millis,
    /// The line of the `[[step]]` header, for messages.
    pub line: usize,
    pub action: StepAction,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum StepAction {
    /// The carrier of a NIC (a plain NIC, a bond member or a bond) goes away.
    LinkDown {
        node: String,
        nic: String,
    },
    LinkUp {
        node: String,
        nic: String,
    },
    /// Every adapter of `vm` on `switch` becomes (un)protected (H11).
    SetProtected {
        vm: String,
        switch: String,
        protected: bool,
    },
    /// The node leaves the cluster: its VMs stop.
    NodeDown {
        node: String,
    },
    NodeUp {
        node: String,
    },
}

impl Cluster {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vms.iter().find(|v| v.name == name)
    }
}

impl Node {
    pub fn nic(&self, name: &str) -> Option<&Nic> {
        self.nics.iter().find(|n| n.name == name)
    }

    pub fn switch(&self, name: &str) -> Option<&Switch> {
        self.switches.iter().find(|s| s.name == name)
    }
}
