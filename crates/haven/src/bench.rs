//! `haven bench`: the engine's decision latency at scale and the
//! simulator's throughput, measured side by side in one run.

use haven_core::stats::percentile;
use haven_core::{Engine, Input};
use haven_sim::scale;
use haven_sim::sweep::Rng;
use serde::Serialize;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Another benchmark instead of the engine's.
    #[command(subcommand)]
    command: Option<Command>,
    /// Cluster sizes (nodes) for the decision-latency benchmark.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    nodes: Vec<usize>,
    /// VMs on every node.
    #[arg(long, default_value_t = 50)]
    vms_per_node: usize,
    /// Link-down decisions timed per cluster size.
    #[arg(long, default_value_t = 200)]
    trials: usize,
    /// Nodes of the simulated fault run.
    #[arg(long, default_value_t = 100)]
    sim_nodes: usize,
    /// Virtual length of the simulated fault run, in seconds.
    #[arg(long, default_value_t = 3600)]
    sim_seconds: u64,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

/// Decision latency for one cluster size.
#[derive(Serialize, Debug)]
pub struct Decision {
    pub nodes: usize,
    pub vms: usize,
    pub trials: usize,
    /// `handle(link down)` until the actions are drained: detection, queue,
    /// destination choice for every VM behind the link.
    pub link_down_p50_us: f64,
    pub link_down_p99_us: f64,
    /// `handle(link up)` right after: the queued moves are cancelled.
    pub link_up_p50_us: f64,
    pub link_up_p99_us: f64,
}

#[derive(Serialize, Debug)]
pub struct Throughput {
    pub nodes: usize,
    pub vms: usize,
    pub virtual_seconds: u64,
    pub steps: usize,
    pub events: usize,
    pub wall_ms: f64,
    pub events_per_second: f64,
}

#[derive(Serialize, Debug)]
pub struct Results {
    pub decisions: Vec<Decision>,
    pub simulator: Throughput,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Pull a real link (a veth in network namespaces; needs root) COUNT
    /// times and report the detection latency up to the engine's decision.
    Link(LinkArgs),
    /// Live-migrate a 128 MB test guest over TLS between two network
    /// namespaces and report migration time and guest downtime (root, QEMU).
    Migration(crate::bench_migration::Args),
}

#[derive(clap::Args, Debug)]
pub struct LinkArgs {
    /// How many times the link is pulled.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        Some(Command::Link(link)) => return run_link(link),
        Some(Command::Migration(args)) => return crate::bench_migration::run(args),
        None => {}
    }
    if args.nodes.iter().any(|&n| n < 2) || args.vms_per_node == 0 || args.trials == 0 {
        return crate::input_error(
            "--nodes needs sizes of at least 2, and --vms-per-node and --trials at least 1",
        );
    }
    let decisions = (args.nodes.iter())
        .map(|&n| decision(n, args.vms_per_node, args.trials))
        .collect();
    let simulator = match throughput(args.sim_nodes.max(2), args.vms_per_node, args.sim_seconds) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("haven: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = Results {
        decisions,
        simulator,
    };
    print_results(args.json, &results, text)
}

/// Prints a benchmark's results as pretty JSON or as its text table.
pub fn print_results<T: Serialize>(
    json: bool,
    results: &T,
    text: impl Fn(&T) -> String,
) -> ExitCode {
    match json {
        true => println!(
            "{}",
            serde_json::to_string_pretty(results).expect("serialises")
        ),
        false => print!("{}", text(results)),
    }
    ExitCode::SUCCESS
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times one link-down and the link-up after it on fresh copies of a quiet
/// cluster, each on a random node.
fn decision(nodes: usize, vms_per_node: usize, trials: usize) -> Decision {
    let cluster = scale::cluster(nodes, vms_per_node);
    let quiet = Engine::new(&cluster, 1);
    let mut rng = Rng::new(nodes as u64);
    let (mut down, mut up) = (Vec::with_capacity(trials), Vec::with_capacity(trials));
    for _ in 0..trials {
        let mut engine = quiet.clone();
        let node = scale::node_name(rng.range(0, nodes as u64 - 1) as usize);
        let link = |up| Input::LinkChanged {
            node: node.clone(),
            nic: "eth1".into(),
            up,
        };
        let t = Instant::now();
        engine.handle(1_000, link(false)).expect("known link");
        let actions = engine.take_actions();
        down.push(micros(t.elapsed()));
        assert!(
            actions.len() >= vms_per_node,
            "every VM behind the link was handled"
        );
        let t = Instant::now();
        engine.handle(1_500, link(true)).expect("known link");
        let actions = engine.take_actions();
        up.push(micros(t.elapsed()));
        std::hint::black_box(actions);
    }
    down.sort_by(f64::total_cmp);
    up.sort_by(f64::total_cmp);
    Decision {
        nodes,
        vms: nodes * vms_per_node,
        trials,
        link_down_p50_us: percentile(&down, 50),
        link_down_p99_us: percentile(&down, 99),
        link_up_p50_us: percentile(&up, 50),
        link_up_p99_us: percentile(&up, 99),
    }
}

fn throughput(nodes: usize, vms_per_node: usize, seconds: u64) -> Result<Throughput, String> {
    let scenario = scale::faults(nodes, vms_per_node, seconds * 1000, 7);
    let t = Instant::now();
    let report = haven_sim::simulate(&scenario, 7).map_err(|e| e.to_string())?;
    let wall = t.elapsed();
    Ok(Throughput {
        nodes,
        vms: nodes * vms_per_node,
        virtual_seconds: seconds,
        steps: scenario.steps.len(),
        events: report.events.len(),
        wall_ms: wall.as_secs_f64() * 1e3,
        events_per_second: report.events.len() as f64 / wall.as_secs_f64(),
    })
}

fn text(r: &Results) -> String {
    let mut out = String::from(
        "engine decision latency (one link-down, then the link back)\n\
         \x20 nodes      VMs  trials   down p50   down p99    up p50    up p99\n",
    );
    for d in &r.decisions {
        out.push_str(&format!(
            "{:>7} {:>8} {:>7} {:>8.1}us {:>8.1}us {:>7.1}us {:>7.1}us\n",
            d.nodes,
            d.vms,
            d.trials,
            d.link_down_p50_us,
            d.link_down_p99_us,
            d.link_up_p50_us,
            d.link_up_p99_us
        ));
    }
    let s = &r.simulator;
    out.push_str(&format!(
        "\nsimulator: {} nodes, {} VMs, {} s of random faults ({} steps): {} events in {:.0} ms = {:.0} events/s\n",
        s.nodes, s.vms, s.virtual_seconds, s.steps, s.events, s.wall_ms, s.events_per_second
    ));
    out
}

/// `haven bench link`: the real link monitor's detection latency.
fn run_link(args: LinkArgs) -> ExitCode {
    if args.count == 0 {
        return crate::input_error("--count needs at least 1");
    }
    if !haven_agent::netns::is_root() {
        return crate::input_error("bench link creates network namespaces: run it as root");
    }
    let bench = match haven_agent::bench::bench_link(args.count) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("haven: bench link: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_results(args.json, &bench, link_text)
}

fn link_text(b: &haven_agent::bench::LinkBench) -> String {
    let row = |label: &str, p50: f64, p99: f64, max: f64| {
        format!("  {label:<22} {p50:>9.1}us {p99:>9.1}us {max:>9.1}us\n")
    };
    format!(
        "link detection latency ({} pulls of a veth's far end, monitor in the near namespace)\n\
         \x20 {:<22} {:>11} {:>11} {:>11}\n{}{}netlink overruns: {}\n",
        b.count,
        "",
        "p50",
        "p99",
        "max",
        row(
            "link change -> engine",
            b.change_to_engine_p50_us,
            b.change_to_engine_p99_us,
            b.change_to_engine_max_us
        ),
        row(
            "kernel msg -> engine",
            b.kernel_to_engine_p50_us,
            b.kernel_to_engine_p99_us,
            b.kernel_to_engine_max_us
        ),
        b.overruns
    )
}
