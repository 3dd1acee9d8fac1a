//! `haven simulate`: a scenario in virtual time.

use crate::input_error;
use haven_core::model::{Detection, MigrationAuth, Scenario};
use haven_core::parse::load_scenario;
use haven_core::validate::{Finding, Severity};
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
    /// Also run the scenario under another profile and print both side by
    /// side (`classic`: the source system's behaviour); with `--json`,
    /// `{"haven": REPORT, "classic": REPORT}`.
    #[arg(long, value_enum, value_name = "PROFILE")]
    compare: Option<Profile>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Profile {
    /// 60 s polling with per-VM phases, authority authentication, no
    /// hold-down, no re-route when a destination fails mid-flight.
    Classic,
}

pub fn run(args: Args) -> ExitCode {
    let scenario = match &args.file {
        Some(path) => match load_scenario(path) {
            Ok(s) => s,
            Err(e) => return input_error(e),
        },
        None => haven_sim::sweep::random_scenario(args.seed),
    };
    if let Some(Profile::Classic) = args.compare {
        return compare(&scenario, &args);
    }
    let report = match haven_sim::simulate(&scenario, args.seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("haven: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The same rules as `haven validate`, as warnings: the run goes on.
    let findings = haven_core::validate::validate(&scenario.cluster);
    if args.json {
        // stdout carries exactly the report; the findings go to stderr.
        eprint!("{}", findings_text(&findings));
        print!("{}", report.to_json());
    } else {
        let header = header(&scenario, args.seed);
        print!("{}{header}{}", findings_text(&findings), report.to_text());
    }
    ExitCode::SUCCESS
}

fn compare(scenario: &Scenario, args: &Args) -> ExitCode {
    let both = match haven_sim::compare::compare(scenario, args.seed) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("haven: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        print!("{}", both.to_json());
    } else {
        print!("{}{}", header(scenario, args.seed), both.to_text());
    }
    ExitCode::SUCCESS
}

/// Errors and warnings in full, info findings counted, then a blank line.
fn findings_text(findings: &[Finding]) -> String {
    let serious: Vec<&Finding> = (findings.iter())
        .filter(|f| f.severity != Severity::Info)
        .collect();
    let info = findings.len() - serious.len();
    let mut out = String::new();
    for f in &serious {
        let node = f
            .node
            .as_deref()
            .map(|n| format!("node {n}: "))
            .unwrap_or_default();
        out.push_str(&format!(
            "validate: {} ({}) {node}{} Fix: {}\n",
            f.rule,
            f.severity.as_str(),
            f.what,
            f.fix
        ));
    }
    if info > 0 {
        out.push_str(&format!(
            "note: {info} info finding(s); `haven validate FILE` lists them\n"
        ));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
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
