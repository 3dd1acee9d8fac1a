//! `haven bench migration`: a 128 MB test guest live-migrated over TLS
//! between two network namespaces while a client pings it (root and QEMU
//! needed; the guest is built by `scripts/build-guest.sh` when missing).

use haven_agent::bench::{self, MigrationBench};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Migrations to run, alternating A->B and B->A.
    #[arg(long, default_value_t = 5)]
    count: usize,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    if args.count == 0 || args.count > 100 {
        return crate::input_error("--count must be between 1 and 100");
    }
    if !haven_agent::netns::is_root() {
        return crate::input_error(
            "haven bench migration needs root, to create network namespaces",
        );
    }
    let results = match bench::bench_migration(args.count) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("haven: the migration benchmark failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::bench::print_results(args.json, &results, text)
}

fn text(r: &MigrationBench) -> String {
    let mut out = format!(
        "live migration over TLS: {} MB guest, {}, client pinging every {} ms\n\
         \x20 run  direction  total ms  downtime ms  wall ms  ping gap ms  sent MB\n",
        r.memory_mb, r.accel, r.ping_interval_ms
    );
    for (i, run) in r.runs.iter().enumerate() {
        out.push_str(&format!(
            "{:>5}  {:>9}  {:>8}  {:>11}  {:>7.0}  {:>11.0}  {:>7.1}\n",
            i + 1,
            run.direction,
            run.total_time_ms,
            run.downtime_ms,
            run.wall_ms,
            run.ping_gap_ms,
            run.transferred_bytes as f64 / 1e6
        ));
    }
    out.push_str(&format!(
        "  p50 / max: total {:.0} / {:.0} ms, downtime {:.0} / {:.0} ms, ping gap {:.0} / {:.0} ms\n",
        r.total_time_ms.p50,
        r.total_time_ms.max,
        r.downtime_ms.p50,
        r.downtime_ms.max,
        r.ping_gap_ms.p50,
        r.ping_gap_ms.max
    ));
    out
}
