//! haven-agent: the real-world half of haven on one node.
//!
//! - [`link`]: the rtnetlink link monitor, turning carrier changes into
//!   engine inputs.
//! - [`config`]: the agent's configuration file, with line-precise errors.
//! - [`leader`]: a new leader's engine rebuilt from the store's state alone.
//! - [`netns`]: network namespaces, so several nodes run on one machine (the
//!   lab, the tests).
//! - [`qmp`]: an async client of QEMU's monitor protocol.
//! - [`qemu`]: the QEMU driver: start, adopt, migrate (TLS), cancel, stop.
//! - [`store`]: the coordination store in etcd: membership, leadership,
//!   fenced migration intents, ownership, events.
//! - [`cert`]: the cluster CA and node certificates for migration TLS.
//! - [`clock`]: wall-clock milliseconds and their UTC form.
//! - [`authority`]: the one-time migration tickets of
//!   `migration_auth = "authority"` (H9): the server and its client.
//! - `agent` (feature `etcd`): the node daemon, `haven agent`.
//! - [`reality`]: this node's bridges, uplinks and NICs checked against the
//!   inventory, each mismatch a finding.
//! - [`lab`]: a real cluster on this machine built from an inventory:
//!   namespaces, veths, bridges, etcd, agents, guests.
//! - [`guest`]: the tiny test guest (Debian kernel + busybox).
//! - [`testbed`]: two nodes, a client and a guest in namespaces, for tests.
//! - [`world`]: the engine's actions carried out on QEMU hosts (the same
//!   `World` calls the simulator answers).
//! - [`mod@bench`]: the link and migration benchmarks (`haven bench link|migration`).
#[cfg(feature = "etcd")]
pub mod agent;
pub mod authority;
pub mod bench;
pub mod cert;
pub mod clock;
pub mod config;
pub mod guest;
pub mod lab;
pub mod leader;
pub mod link;
pub mod netns;
pub mod qemu;
pub mod qmp;
pub mod reality;
#[cfg(feature = "etcd")]
pub mod store;
pub mod testbed;
pub mod testetcd;
pub mod world;
