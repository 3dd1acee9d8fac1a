//! haven-core: the pure protected-network engine of haven.
//!
//! haven keeps virtual machines reachable when a host's VM-facing network
//! fails while the host stays up: when the uplink behind a *protected*
//! adapter loses carrier on the VM's node, haven live-migrates the VM to a
//! node where that network works (SPEC section 2, rules H1–H12).
//!
//! This crate contains no networking code and reads no clock: the world (the
//! simulator, the node agent, the lab) feeds [`engine::Input`]s with the time
//! as an argument and carries out the [`engine::Action`]s the engine returns.
//!
//! ```text
//!   link / node / adapter / migration results ──▶ Engine::handle(now, input)
//!   timers                                    ──▶ Engine::handle_timeout(now)
//!   Engine::poll_action()  ──▶ StartMigration | AbortMigration | Report(Event)
//! ```
//!
//! Besides the engine: the cluster [`model`], the scenario [`parse`]r with
//! line-precise errors, the indexed [`topology`], the reported [`event`]s
//! and the format-preserving [`edit`] of adapter flags in a file's text.
pub mod edit;
pub mod engine;
pub mod event;
pub mod model;
pub mod parse;
pub mod runtime;
pub mod stats;
pub mod topology;
pub mod validate;

pub use engine::{Action, Engine, EngineError, Input, MigrationId};
pub use event::{Event, EventKind, FailureCause};
