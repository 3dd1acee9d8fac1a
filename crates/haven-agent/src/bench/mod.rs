//! Benchmarks of the real adapters: the link monitor's detection latency
//! (`haven bench link`) and a live migration's time and downtime
//! (`haven bench migration`).
mod link;
mod migration;

pub use link::*;
pub use migration::*;
