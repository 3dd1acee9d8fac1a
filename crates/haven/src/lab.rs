//! `haven lab`: any scenario file on a real cluster on this machine
//! (`haven_agent::lab`), played in real time, reported like `simulate`
//! (plus what a pinging client really saw), and compared with the
//! simulator.
//!
//! ```text
//! lab run FILE ---- build (namespaces, etcd, agents, guests) ---- steps in real time
//!              ---- settle ---- events from etcd, times mapped to the scenario's clock
//!              ---- report (+ probe) ---- tear down (also on Ctrl-C or failure)
//! lab compare FILE = simulate FILE + lab run FILE, side by side; divergences exit 1
//! lab up FILE / pull NODE NIC / plug NODE NIC / down: by hand
//! ```

use crate::input_error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Build the scenario's cluster for real, play its steps in real time,
    /// and print the report `simulate` prints, plus a `probe` section.
    Run(RunArgs),
    /// Run the scenario in the simulator and in the lab and compare: same
    /// final placement, same migrations; timing differences shown.
    Compare(RunArgs),
    /// Build the scenario's cluster and leave it running (no steps).
    Up(UpArgs),
    /// Pull a cable: the fabric-side end of NODE's NIC goes down.
    Pull(CableArgs),
    /// Plug the cable back in.
    Plug(CableArgs),
    /// Stop and remove everything the lab made.
    Down,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (SPEC section 4).
    file: PathBuf,
    /// Print JSON (simulate's schema plus `probe`).
    #[arg(long)]
    json: bool,
    /// Run it this many times (a fresh lab each time) and print timing
    /// percentiles.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: u32,
    /// The simulator's seed (poll phases), for `compare`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `classic`: run the file with the source system's settings (60 s
    /// polling, authority-authenticated migrations), for comparison.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Do not stretch migrations to the inventory's bandwidth: measure the
    /// real guests' real migrations.
    #[arg(long)]
    no_stretch: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Classic,
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// The scenario or inventory file; its steps are not played.
    file: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CableArgs {
    /// The node, as the scenario names it.
    node: String,
    /// The NIC, as the scenario names it.
    nic: String,
}

#[cfg(not(feature = "etcd"))]
pub fn run(command: Command) -> ExitCode {
    let _ = command;
    input_error(crate::live::NO_ETCD)
}

#[cfg(feature = "etcd")]
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Run(args) => real::run(&args, false),
        Command::Compare(args) => real::run(&args, true),
        Command::Up(args) => real::up(&args),
        Command::Pull(args) => real::cable(&args, false),
        Command::Plug(args) => real::cable(&args, true),
        Command::Down => real::down(),
    };
    match result {
        Ok(code) => code,
        Err(real::Failure::Input(message)) => input_error(message),
        Err(real::Failure::Other(message)) => {
            eprintln!("haven: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "etcd")]
mod real {
    use super::{CableArgs, RunArgs, UpArgs};
    use haven_agent::clock::unix_ms;
    use haven_agent::lab::{down_by_prefix, peers_of, set_links, Lab, LabOptions};
    use haven_agent::netns;
    use haven_agent::store::State;
    use haven_agent::testbed::Pinger;
    use haven_core::event::{Event, EventKind};
    use haven_core::model::{Millis, Scenario, StepAction};
    use haven_core::parse::load_scenario;
    use haven_sim::report::{Final, Report, VmStats};
    use serde::Serialize;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// The lab's namespaces start with it.
    pub const PREFIX: &str = "hvlab";
    /// Where the lab keeps its files (tmpfs; root only).
    pub const DIR: &str = "/run/haven-lab";
    /// The cluster's name in the lab's etcd.
    const CLUSTER: &str = "lab";
    /// How long the cluster may take to come up (guests boot under TCG).
    const READY_S: u64 = 180;
    /// After the simulator's horizon: how long the lab may take to settle.
    const SETTLE_S: u64 = 60;
    /// No new event for this long, and no intent: settled.
    const QUIET: Duration = Duration::from_secs(3);
    /// The probe's ping interval.
    const PROBE: Duration = Duration::from_millis(20);

    static STOP: AtomicBool = AtomicBool::new(false);

    pub enum Failure {
        /// Unusable input or a missing prerequisite: exit status 2.
        Input(String),
        Other(String),
    }

    fn other(e: impl std::fmt::Display) -> Failure {
        Failure::Other(e.to_string())
    }

    fn dir() -> PathBuf {
        PathBuf::from(DIR)
    }

    /// Root, QEMU, etcd, no lab up yet, and the guest (built if missing).
    fn preflight() -> Result<haven_agent::guest::GuestImage, Failure> {
        if !netns::is_root() {
            return Err(Failure::Input(
                "haven lab builds network namespaces and needs root; run it with sudo".into(),
            ));
        }
        if !netns::have("qemu-system-x86_64") {
            return Err(Failure::Input(
                "QEMU is missing; install it with `apt-get install qemu-system-x86`".into(),
            ));
        }
        if !netns::have("etcd") {
            return Err(Failure::Input(
                "etcd is missing; install it with `apt-get install etcd-server`".into(),
            ));
        }
        if Path::new(&format!("/run/netns/{PREFIX}-fab")).exists() || dir().exists() {
            return Err(Failure::Input(format!(
                "a lab is already up ({DIR}, namespaces {PREFIX}-*); take it down with `haven lab down`"
            )));
        }
        haven_agent::guest::ensure().map_err(|e| {
            Failure::Input(format!(
                "{e}; build the test guest with `bash scripts/build-guest.sh` (it needs apt-get install busybox-static cpio xz-utils)"
            ))
        })
    }

    /// Ctrl-C and SIGTERM set [`STOP`]; the lab is torn down by whoever
    /// holds it, so nothing is left behind.
    fn catch_signals() {
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime starts");
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    let _ = ready_tx.send(());
                    return;
                };
                let _ = ready_tx.send(());
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                STOP.store(true, Ordering::SeqCst);
            });
        });
        let _ = ready.recv_timeout(Duration::from_secs(5));
    }

    fn stopped() -> Result<(), Failure> {
        match STOP.load(Ordering::SeqCst) {
            true => Err(Failure::Other("interrupted; the lab was taken down".into())),
            false => Ok(()),
        }
    }

    /// Sleeps `d` unless interrupted.
    fn pause(d: Duration) -> Result<(), Failure> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            stopped()?;
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
        Ok(())
    }

    fn load(file: &Path) -> Result<Scenario, Failure> {
        load_scenario(file).map_err(|e| Failure::Input(e.to_string()))
    }

    /// The file's text and scenario, under `profile` if given.
    fn load_as(
        file: &Path,
        profile: Option<super::Profile>,
    ) -> Result<(String, Scenario), Failure> {
        let name = file.display().to_string();
        let text = haven_core::parse::load_text(file).map_err(|e| Failure::Input(e.to_string()))?;
        let text = match profile {
            Some(super::Profile::Classic) => haven_core::edit::with_classic_settings(&name, &text)
                .map_err(|e| Failure::Input(e.to_string()))?,
            None => text,
        };
        let scenario = haven_core::parse::parse_scenario(&name, &text)
            .map_err(|e| Failure::Input(e.to_string()))?;
        Ok((text, scenario))
    }

    /// Builds and starts the lab of `scenario` and waits until it is ready:
    /// every node a member, a leader, every VM running and answering pings.
    fn build(file: &Path, text: &str, scenario: &Scenario, stretch: bool) -> Result<Lab, Failure> {
        let guest = preflight()?;
        let haven = std::env::current_exe().map_err(other)?;
        let options = LabOptions {
            prefix: PREFIX.into(),
            cluster: CLUSTER.into(),
            haven,
            dir: dir(),
            guest,
            emulate_bandwidth: stretch,
        };
        let mut lab = Lab::build(&scenario.cluster, options).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => Failure::Input(format!("{}: {e}", file.display())),
            _ => other(e),
        })?;
        let inventory = dir().join("inventory.toml");
        std::fs::write(&inventory, text).map_err(other)?;
        lab.init_cluster(&inventory).map_err(other)?;
        lab.start_agents().map_err(other)?;
        let (nodes, vms) = (scenario.cluster.nodes.len(), scenario.cluster.vms.len());
        let deadline = Instant::now() + Duration::from_secs(READY_S);
        loop {
            stopped()?;
            let s = state(&lab)?;
            let running: usize = s.members.values().map(|m| m.vms.len()).sum();
            if s.members.len() == nodes && s.leader.is_some() && running == vms {
                break;
            }
            if Instant::now() > deadline {
                return Err(Failure::Other(format!(
                    "the lab did not come up within {READY_S} s ({} of {nodes} agents, {running} of {vms} VMs); agents' logs:\n{}",
                    s.members.len(),
                    lab.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for vm in lab.vm_ips.keys() {
            while !lab.ping(vm) {
                stopped()?;
                if Instant::now() > deadline {
                    return Err(Failure::Other(format!(
                        "VM {vm} never answered pings within {READY_S} s"
                    )));
                }
            }
        }
        Ok(lab)
    }

    fn state(lab: &Lab) -> Result<State, Failure> {
        lab.state().map_err(other)
    }

    fn events(lab: &Lab) -> Result<Vec<Event>, Failure> {
        let events = lab.events().map_err(other)?;
        Ok(events.into_iter().map(|(_, e)| e).collect())
    }

    /// The lab's clock: scenario time `first_at` is Unix time `unix0`.
    struct Clock {
        first_at: Millis,
        unix0: u64,
        start: Instant,
    }

    impl Clock {
        fn scenario_ms(&self, unix_ms: u64) -> Millis {
            self.first_at + unix_ms.saturating_sub(self.unix0)
        }
    }

    /// One step, for real.
    fn play(lab: &mut Lab, action: &StepAction) -> Result<(), Failure> {
        match action {
            StepAction::LinkDown { node, nic } => lab.pull(node, nic).map_err(other),
            StepAction::LinkUp { node, nic } => lab.plug(node, nic).map_err(other),
            StepAction::NodeDown { node } => lab.kill_node(node).map_err(other),
            StepAction::NodeUp { node } => lab.start_agent(node).map_err(other),
            StepAction::SetProtected {
                vm,
                switch,
                protected,
            } => {
                let (vm, switch, protected) = (vm.clone(), switch.clone(), *protected);
                lab.with_store(async move |s| s.set_protected(&vm, &switch, protected).await)
                    .map_err(other)
            }
        }
    }

    /// What a pinging client saw of one VM.
    #[derive(Serialize, Clone, Debug)]
    pub struct Probe {
        pub max_unreachable_ms: u64,
        pub at_ms: Millis,
    }

    /// One lab run of `scenario`: its report and probes.
    fn run_once(
        file: &Path,
        text: &str,
        scenario: &Scenario,
        sim: &Report,
        stretch: bool,
    ) -> Result<(Report, BTreeMap<String, Probe>), Failure> {
        let horizon_ms = sim.end_ms;
        let mut lab = build(file, text, scenario, stretch)?;
        let mut pingers = BTreeMap::new();
        for (vm, ip) in &lab.vm_ips {
            let client = lab.client_of(vm).unwrap_or_default().to_string();
            let pinger =
                Pinger::start(&client, &ip.to_string(), super::real::PROBE).map_err(other)?;
            pingers.insert(vm.clone(), pinger);
        }
        // The probes count from their first answer: wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while pingers.values().any(|p| p.answers() == 0) && Instant::now() < deadline {
            pause(Duration::from_millis(20))?;
        }
        let first_at = scenario.steps.first().map_or(0, |s| s.at_ms);
        let clock = Clock {
            first_at,
            unix0: unix_ms(),
            start: Instant::now(),
        };
        for step in &scenario.steps {
            let due = clock.start + Duration::from_millis(step.at_ms - first_at);
            pause(due.saturating_duration_since(Instant::now()))?;
            play(&mut lab, &step.action)?;
        }
        // Settle: the simulator's horizon; then no intent left, no new
        // event for a while, and (within a bound) as many events as the
        // simulator had, since real retries and timeouts take longer.
        let horizon = clock.start + Duration::from_millis(horizon_ms.saturating_sub(first_at));
        pause(horizon.saturating_duration_since(Instant::now()))?;
        let deadline = Instant::now() + Duration::from_secs(SETTLE_S);
        let mut seen = (usize::MAX, Instant::now());
        loop {
            stopped()?;
            let s = state(&lab)?;
            let count = events(&lab)?.len();
            if count != seen.0 {
                seen = (count, Instant::now());
            }
            let caught_up = count >= sim.events.len();
            if s.intents.is_empty() && seen.1.elapsed() >= QUIET && caught_up {
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let state = state(&lab)?;
        let mut log = events(&lab)?;
        // The lab coming up (agents joining, VMs starting) is not the
        // scenario's.
        log.retain(|e| e.t_ms >= clock.unix0);
        for e in &mut log {
            e.t_ms = clock.scenario_ms(e.t_ms);
        }
        let probes = (pingers.into_iter())
            .map(|(vm, p)| {
                let (gap_ms, at_s) = p.stop_with_time();
                let at_ms = clock.scenario_ms((at_s * 1000.0) as u64);
                let probe = Probe {
                    max_unreachable_ms: gap_ms.round() as u64,
                    at_ms,
                };
                (vm, probe)
            })
            .collect();
        let report = report_of(scenario, &state, log);
        lab.down();
        Ok((report, probes))
    }

    /// The report of a lab run, in simulate's shape.
    fn report_of(scenario: &Scenario, state: &State, events: Vec<Event>) -> Report {
        let end = (events.iter().map(|e| e.t_ms))
            .chain(scenario.steps.iter().map(|s| s.at_ms))
            .max()
            .unwrap_or(0);
        let mut finals = BTreeMap::new();
        let mut vms = BTreeMap::new();
        for vm in &scenario.cluster.vms {
            let node = state.owner_of(vm).to_string();
            let impaired = state.is_impaired(&scenario.cluster, vm);
            let running = state.members.values().any(|m| m.vms.contains(&vm.name));
            finals.insert(
                vm.name.clone(),
                Final {
                    node,
                    impaired,
                    running,
                },
            );
            vms.insert(vm.name.clone(), stats_of(&vm.name, &events, end));
        }
        Report::new(
            scenario.name.clone(),
            events.clone(),
            finals,
            vms,
            max_concurrent(&events),
            end,
        )
    }

    /// A VM's impaired time (from each impairment to the migration or
    /// restoration that ended it) and completed migrations.
    fn stats_of(vm: &str, events: &[Event], end: Millis) -> VmStats {
        let mut impaired_ms = 0;
        let mut since = None;
        let mut migrations = 0;
        for e in events.iter().filter(|e| e.kind.vm() == Some(vm)) {
            match &e.kind {
                EventKind::VmNetworkImpaired { .. } => since = since.or(Some(e.t_ms)),
                EventKind::MigrationCompleted { .. } | EventKind::VmNetworkRestored { .. } => {
                    if let EventKind::MigrationCompleted { .. } = e.kind {
                        migrations += 1;
                    }
                    if let Some(s) = since.take() {
                        impaired_ms += e.t_ms.saturating_sub(s);
                    }
                }
                _ => {}
            }
        }
        if let Some(s) = since {
            impaired_ms += end.saturating_sub(s);
        }
        VmStats {
            impaired_ms,
            migrations,
        }
    }

    /// The most migrations any node took part in at once, from the events.
    fn max_concurrent(events: &[Event]) -> u32 {
        let mut now: BTreeMap<&str, u32> = BTreeMap::new();
        let mut max = 0;
        for e in events {
            match &e.kind {
                EventKind::MigrationStarted { from, to, .. } => {
                    for n in [from, to] {
                        let c = now.entry(n).or_default();
                        *c += 1;
                        max = max.max(*c);
                    }
                }
                EventKind::MigrationCompleted { from, to, .. }
                | EventKind::MigrationFailed { from, to, .. }
                | EventKind::MigrationAborted { from, to, .. } => {
                    for n in [from, to] {
                        let c = now.entry(n).or_default();
                        *c = c.saturating_sub(1);
                    }
                }
                _ => {}
            }
        }
        max
    }

    /// simulate's JSON (keys in its order) with `probe` added last.
    fn with_probe(report: &Report, probes: &BTreeMap<String, Probe>) -> String {
        let json = report.to_json();
        let body = json.trim_end().trim_end_matches('}').trim_end();
        let probe = serde_json::to_string_pretty(probes).expect("probes serialise");
        format!(
            "{body},\n  \"probe\": {}\n}}\n",
            probe.replace('\n', "\n  ")
        )
    }

    fn probe_text(probes: &BTreeMap<String, Probe>) -> String {
        let mut out = String::from("\nprobe (longest time a pinging client got no answer):\n");
        for (vm, p) in probes {
            out.push_str(&format!(
                "  {vm}: {} ms at {}\n",
                p.max_unreachable_ms,
                haven_sim::report::seconds(p.at_ms)
            ));
        }
        out
    }

    pub fn run(args: &RunArgs, compare: bool) -> Result<ExitCode, Failure> {
        let (text, scenario) = load_as(&args.file, args.profile)?;
        let sim = haven_sim::simulate(&scenario, args.seed).map_err(other)?;
        catch_signals();
        let mut runs = Vec::new();
        for _ in 0..args.repeat.max(1) {
            runs.push(run_once(
                &args.file,
                &text,
                &scenario,
                &sim,
                !args.no_stretch,
            )?);
        }
        let mut code = ExitCode::SUCCESS;
        let (report, probes) = runs.last().expect("at least one run");
        if compare {
            let divergences = super::compare::divergences(&sim, report);
            print!("{}", super::compare::side_by_side(&sim, report));
            if !divergences.is_empty() {
                println!("\nDIVERGENCES (the lab did not do what the simulator did):");
                for d in &divergences {
                    println!("  - {d}");
                }
                code = ExitCode::FAILURE;
            } else {
                println!("\nno divergence: same final placement, the same migrations, the same events (times aside)");
            }
            print!("{}", probe_text(probes));
        } else if args.json {
            print!("{}", with_probe(report, probes));
        } else {
            print!("{}", report.to_text());
            print!("{}", probe_text(probes));
        }
        if runs.len() > 1 {
            let first_at = scenario.steps.first().map_or(0, |s| s.at_ms);
            print!("{}", super::compare::percentiles(&runs, first_at));
        }
        Ok(code)
    }

    pub fn up(args: &UpArgs) -> Result<ExitCode, Failure> {
        let (text, scenario) = load_as(&args.file, None)?;
        catch_signals();
        let lab = build(&args.file, &text, &scenario, true)?;
        let endpoint = lab.etcd_endpoints.first().cloned().unwrap_or_default();
        println!(
            "lab up: {} nodes, {} VMs, etcd {endpoint} in namespace {}",
            lab.nodes.len(),
            lab.vm_ips.len(),
            lab.fabric
        );
        for (name, node) in &lab.nodes {
            println!(
                "  node {name}: namespace {}, agent log {}",
                node.ns,
                node.log.display()
            );
        }
        println!(
            "status: ip netns exec {} haven status --cluster {endpoint}",
            lab.fabric
        );
        println!("pull a cable: haven lab pull NODE NIC; take it all down: haven lab down");
        lab.detach();
        Ok(ExitCode::SUCCESS)
    }

    pub fn cable(args: &CableArgs, up: bool) -> Result<ExitCode, Failure> {
        let inventory = dir().join("inventory.toml");
        if !inventory.exists() {
            return Err(Failure::Input(
                "no lab is up; start one with `haven lab up FILE`".into(),
            ));
        }
        let scenario = load(&inventory)?;
        let peers = peers_of(&scenario.cluster, &args.node, &args.nic).ok_or_else(|| {
            Failure::Input(format!(
                "the lab has no NIC {} on node {}; see {}",
                args.nic,
                args.node,
                inventory.display()
            ))
        })?;
        let state = if up { "up" } else { "down" };
        set_links(&format!("{PREFIX}-fab"), &peers, state).map_err(other)?;
        println!(
            "{} {}: cable {}",
            args.node,
            args.nic,
            if up { "plugged in" } else { "pulled" }
        );
        Ok(ExitCode::SUCCESS)
    }

    pub fn down() -> Result<ExitCode, Failure> {
        if !netns::is_root() {
            return Err(Failure::Input(
                "haven lab down needs root; run it with sudo".into(),
            ));
        }
        let removed = down_by_prefix(PREFIX, &dir());
        if removed.is_empty() {
            println!("no lab was up");
        } else {
            println!("removed: {}", removed.join(", "));
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(feature = "etcd")]
mod compare;
