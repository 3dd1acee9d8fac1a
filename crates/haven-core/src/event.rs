//! The events haven reports (SPEC section 4): what the timeline prints, what
//! `--json` lists, what `haven events` streams.

use crate::model::Millis;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One reported event. Serialises flat: `{"t_ms": 10000, "kind":
/// "link_down", "node": "A", "nic": "eth1"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub t_ms: Millis,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Every kind of event, with the fields SPEC section 4 lists for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A NIC (plain, bond member or bond) lost carrier.
    LinkDown {
        node: String,
        nic: String,
    },
    LinkUp {
        node: String,
        nic: String,
    },
    /// Detected (H1, H2): a protected adapter's switch has no working uplink.
    VmNetworkImpaired {
        vm: String,
        node: String,
        switch: String,
    },
    /// The impairment ended in place: link back or adapter unprotected.
    VmNetworkRestored {
        vm: String,
        node: String,
    },
    /// Impaired, but no migration slot is free (H5).
    MigrationQueued {
        vm: String,
        from: String,
    },
    MigrationStarted {
        vm: String,
        from: String,
        to: String,
    },
    MigrationCompleted {
        vm: String,
        from: String,
        to: String,
    },
    /// The VM stays on `from` (H8).
    MigrationFailed {
        vm: String,
        from: String,
        to: String,
        cause: String,
    },
    /// A queued (or backing-off) move was dropped: the VM recovered (H6, H11).
    MigrationCancelled {
        vm: String,
        from: String,
        reason: String,
    },
    /// An in-flight migration was stopped because its destination stopped
    /// being eligible (H7); the VM stays on `from` and is queued again.
    MigrationAborted {
        vm: String,
        from: String,
        to: String,
        reason: String,
    },
    /// No node could host the VM (H3, [S0.4]); it is re-evaluated whenever
    /// the cluster changes.
    NoEligibleDestination {
        vm: String,
        node: String,
    },
    /// An impaired VM that haven cannot move, and why (H8 tries used up, H10
    /// no control path).
    VmStuck {
        vm: String,
        node: String,
        cause: String,
    },
    AdapterChanged {
        vm: String,
        switch: String,
        protected: bool,
    },
    NodeDown {
        node: String,
    },
    NodeUp {
        node: String,
    },
    /// The VM stopped because its node went down.
    VmDown {
        vm: String,
        node: String,
    },
    /// The VM runs again on its node: the node came back and its agent
    /// started the VMs it owns that were not running.
    VmUp {
        vm: String,
        node: String,
    },
}

impl EventKind {
    /// The `kind` string of the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::LinkDown { .. } => "link_down",
            EventKind::LinkUp { .. } => "link_up",
            EventKind::VmNetworkImpaired { .. } => "vm_network_impaired",
            EventKind::VmNetworkRestored { .. } => "vm_network_restored",
            EventKind::MigrationQueued { .. } => "migration_queued",
            EventKind::MigrationStarted { .. } => "migration_started",
            EventKind::MigrationCompleted { .. } => "migration_completed",
            EventKind::MigrationFailed { .. } => "migration_failed",
            EventKind::MigrationCancelled { .. } => "migration_cancelled",
            EventKind::MigrationAborted { .. } => "migration_aborted",
            EventKind::NoEligibleDestination { .. } => "no_eligible_destination",
            EventKind::VmStuck { .. } => "vm_stuck",
            EventKind::AdapterChanged { .. } => "adapter_changed",
            EventKind::NodeDown { .. } => "node_down",
            EventKind::NodeUp { .. } => "node_up",
            EventKind::VmDown { .. } => "vm_down",
            EventKind::VmUp { .. } => "vm_up",
        }
    }

    /// The VM the event is about, if any.
    pub fn vm(&self) -> Option<&str> {
        match self {
            EventKind::VmNetworkImpaired { vm, .. }
            | EventKind::VmNetworkRestored { vm, .. }
            | EventKind::MigrationQueued { vm, .. }
            | EventKind::MigrationStarted { vm, .. }
            | EventKind::MigrationCompleted { vm, .. }
            | EventKind::MigrationFailed { vm, .. }
            | EventKind::MigrationCancelled { vm, .. }
            | EventKind::MigrationAborted { vm, .. }
            | EventKind::NoEligibleDestination { vm, .. }
            | EventKind::VmStuck { vm, .. }
            | EventKind::AdapterChanged { vm, .. }
            | EventKind::VmDown { vm, .. }
            | EventKind::VmUp { vm, .. } => Some(vm),
            EventKind::LinkDown { .. }
            | EventKind::LinkUp { .. }
            | EventKind::NodeDown { .. }
            | EventKind::NodeUp { .. } => None,
        }
    }
}

/// Why a migration failed (H8), as the `cause` field spells it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureCause {
    /// `migration_auth = "authority"` and the source could not reach an
    /// `authority` network (H9, seed 001).
    AuthorityUnreachable,
    /// The destination did not answer on the migration network.
    DestinationUnreachable,
    /// The peer's certificate was refused (or it refused ours).
    TlsRejected,
    /// The migration did not finish in time.
    Timeout,
    /// Anything else the hypervisor reported.
    Hypervisor(String),
}

impl FailureCause {
    /// The cause a [`fmt::Display`] text names (the inverse of it), so a
    /// cause survives a trip through the coordination store. Text in no
    /// known form is a hypervisor message.
    pub fn parse(text: &str) -> FailureCause {
        match text {
            "authority_unreachable" => FailureCause::AuthorityUnreachable,
            "destination_unreachable" => FailureCause::DestinationUnreachable,
            "tls_rejected" => FailureCause::TlsRejected,
            "timeout" => FailureCause::Timeout,
            other => FailureCause::Hypervisor(
                other
                    .strip_prefix("hypervisor_error: ")
                    .unwrap_or(other)
                    .to_string(),
            ),
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::AuthorityUnreachable => f.write_str("authority_unreachable"),
            FailureCause::DestinationUnreachable => f.write_str("destination_unreachable"),
            FailureCause::TlsRejected => f.write_str("tls_rejected"),
            FailureCause::Timeout => f.write_str("timeout"),
            FailureCause::Hypervisor(msg) => write!(f, "hypervisor_error: {msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FailureCause;

    #[test]
    fn h9_a_cause_survives_its_text() {
        for cause in [
            FailureCause::AuthorityUnreachable,
            FailureCause::DestinationUnreachable,
            FailureCause::TlsRejected,
            FailureCause::Timeout,
            FailureCause::Hypervisor("QEMU died: broken pipe".into()),
        ] {
            assert_eq!(FailureCause::parse(&cause.to_string()), cause);
        }
        assert_eq!(
            FailureCause::parse("something odd"),
            FailureCause::Hypervisor("something odd".into())
        );
    }
}
