//! The `haven` command line (SPEC section 5).

use clap::{Parser, Subcommand};
use haven_core::model::{Detection, MigrationAuth, Scenario};
use haven_core::parse::load_scenario;
use std::path::PathBuf;
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
    Simulate(SimulateArgs),
}

#[derive(clap::Args, Debug)]
struct SimulateArgs {
    /// The scenario file (TOML, SPEC section 4).
    #[arg(required_unless_present = "random", conflicts_with = "random")]
    file: Option<PathBuf>,
    /// Print the JSON report of SPEC section 4 instead of the timeline.
    #[arg(long)]
    json: bool,
    /// Fixes the poll phases and all other randomness: the same seed gives
    /// byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Instead of a file, run the random scenario that `--seed` generates
    /// (as the H12 sweep does), to replay a sweep failure.
    #[arg(long)]
    random: bool,
}

/// Exit status for unusable input or usage (clap uses 2 as well).
const EXIT_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate(args),
    }
}

fn simulate(args: SimulateArgs) -> ExitCode {
    let scenario = match &args.file {
        Some(path) => match load_scenario(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("haven: {e}");
                return ExitCode::from(EXIT_INPUT);
            }
        },
        None => haven_sim::sweep::random_scenario(args.seed),
    };
    let report = match haven_sim::simulate(&scenario, args.seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("haven: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        print!("{}", report.to_json());
    } else {
        print!("{}{}", header(&scenario, args.seed), report.to_text());
    }
    ExitCode::SUCCESS
}

fn header(s: &Scenario, seed: u64) -> String {
    let settings = &s.cluster.settings;
    let detection = match settings.detection {
        Detection::Event if settings.hold_down_ms > 0 => {
            format!("event, hold-down {}ms", settings.hold_down_ms)
        }
        Detection::Event => "event".to_string(),
        Detection::Poll => format!("poll every {}s", settings.poll_interval_ms / 1000),
    };
    let auth = match settings.migration_auth {
        MigrationAuth::Certificate => "certificate",
        MigrationAuth::Authority => "authority",
    };
    format!(
        "scenario {}: {} node(s), {} VM(s); detection {detection}; migration auth {auth}; \
         max {} concurrent migrations per node; seed {seed}\n\n",
        s.name,
        s.cluster.nodes.len(),
        s.cluster.vms.len(),
        settings.max_concurrent_migrations,
    )
}
