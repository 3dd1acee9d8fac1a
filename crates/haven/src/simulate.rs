//! `haven simulate`: a scenario in virtual time.

use crate::input_error;
use haven_core::model::{Detection, MigrationAuth, Scenario};
use haven_core::parse::load_scenario;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
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

pub fn run(args: Args) -> ExitCode {
    let scenario = match &args.file {
        Some(path) => match load_scenario(path) {
            Ok(s) => s,
            Err(e) => return input_error(e),
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
