//! The `haven` command line (SPEC section 5).

mod adapter;
mod agent;
mod authority;
mod bench;
mod bench_migration;
mod cert;
mod cluster;
mod events;
mod lab;
mod live;
mod simulate;
mod status;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// haven keeps VMs reachable when a host's VM-facing network fails: it
/// live-migrates VMs whose protected network went down to a node where it
/// works.
#[derive(Parser, Debug)]
#[command(name = "haven", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file in virtual time and print its timeline.
    Simulate(simulate::Args),
    /// Check a topology against the rules V1-V6; exit 1 on errors.
    Validate(validate::Args),
    /// Measure the engine's decision latency and the simulator's throughput
    /// (or, with `link`, the real link monitor's detection latency; with
    /// `migration`, a real live migration).
    Bench(bench::Args),
    /// Create the cluster CA and the nodes' migration certificates.
    #[command(subcommand)]
    Cert(cert::Command),
    /// A live cluster's inventory in etcd (`init`).
    #[command(subcommand)]
    Cluster(cluster::Command),
    /// List or change the protection of VM network adapters.
    #[command(subcommand)]
    Adapter(adapter::Command),
    /// The migration authority of `migration_auth = "authority"` (`serve`).
    #[command(subcommand)]
    Authority(authority::Command),
    /// A scenario on a real cluster on this machine (root): run, compare
    /// with the simulator, or up/pull/plug/down by hand.
    #[command(subcommand)]
    Lab(lab::Command),
    /// The node daemon: joins the cluster, watches links, runs migrations.
    Agent(agent::Args),
    /// The live cluster: nodes, links, VMs, queue, migrations under way.
    Status(status::Args),
    /// The live cluster's events, with their times (`--follow` to stream).
    Events(events::Args),
}

/// Exit status for unusable input or usage (clap uses 2 as well).
pub const EXIT_INPUT: u8 = 2;

/// Prints one clear sentence and returns the input-error status.
pub fn input_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("haven: {message}");
    ExitCode::from(EXIT_INPUT)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Cluster(command) => cluster::run(command),
        Command::Bench(args) => bench::run(args),
        Command::Adapter(command) => adapter::run(command),
        Command::Cert(command) => cert::run(command),
        Command::Authority(command) => authority::run(command),
        Command::Lab(command) => lab::run(command),
        Command::Agent(args) => agent::run(args),
        Command::Status(args) => status::run(args),
        Command::Events(args) => events::run(args),
    }
}
