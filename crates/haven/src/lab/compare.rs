//! The simulator's report against the lab's: what must agree (final
//! placement, the migrations and how each ended) and what may differ
//! (timings, shown side by side).

use super::real::Probe;
use haven_core::event::{Event, EventKind};
use haven_sim::report::{seconds, Report};
use std::collections::BTreeMap;
use std::fmt::Write;

/// How often each migration ended how, as the event log tells it:
/// (VM, from, to, how it ended).
fn migrations(events: &[Event]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        let what = match &e.kind {
            EventKind::MigrationCompleted { vm, from, to } => {
                format!("{vm} {from}->{to} completed")
            }
            EventKind::MigrationFailed {
                vm,
                from,
                to,
                cause,
            } => format!("{vm} {from}->{to} failed ({cause})"),
            EventKind::MigrationAborted { vm, from, to, .. } => {
                format!("{vm} {from}->{to} aborted")
            }
            EventKind::MigrationCancelled { vm, from, .. } => format!("{vm} from {from} cancelled"),
            EventKind::VmStuck { vm, cause, .. } => format!("{vm} stuck ({cause})"),
            _ => continue,
        };
        *out.entry(what).or_default() += 1;
    }
    out
}

/// How often each event that is not a migration's outcome happened, by
/// kind and fields (`vm_network_impaired node=A switch=Corp vm=VM1`):
/// links, impairments and restorations, queueing, starts, nodes down and
/// back, VMs started again. A VM stopping with its node (`vm_down`) is
/// left out: a real cluster cannot see it until the node's agent returns.
fn counted(events: &[Event]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        let skip = matches!(
            e.kind,
            EventKind::VmDown { .. }
                | EventKind::MigrationCompleted { .. }
                | EventKind::MigrationFailed { .. }
                | EventKind::MigrationAborted { .. }
                | EventKind::MigrationCancelled { .. }
                | EventKind::VmStuck { .. }
        );
        if skip {
            continue;
        }
        let mut what = e.kind.name().to_string();
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&e.kind) {
            for (k, v) in fields.iter().filter(|(k, _)| *k != "kind") {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let _ = write!(what, " {k}={v}");
            }
        }
        *out.entry(what).or_default() += 1;
    }
    out
}

/// The keys counted differently in `sim` and `lab`: (key, in the
/// simulator, in the lab); the simulator's keys first, then the lab's own.
fn unequal<'a>(
    sim: &'a BTreeMap<String, usize>,
    lab: &'a BTreeMap<String, usize>,
) -> Vec<(&'a str, usize, usize)> {
    let count = |m: &BTreeMap<String, usize>, k: &str| m.get(k).copied().unwrap_or(0);
    let lab_only = lab.keys().filter(|k| !sim.contains_key(*k));
    (sim.keys().chain(lab_only))
        .map(|k| (k.as_str(), count(sim, k), count(lab, k)))
        .filter(|(_, s, l)| s != l)
        .collect()
}

/// Every way the lab's run differs in behaviour from the simulator's.
pub fn divergences(sim: &Report, lab: &Report) -> Vec<String> {
    let mut found = Vec::new();
    for (vm, f) in &sim.finals {
        match lab.finals.get(vm) {
            Some(l) if l.node != f.node => found.push(format!(
                "{vm} ends on {} in the lab, on {} in the simulator",
                l.node, f.node
            )),
            Some(l) if l.running != f.running => found.push(format!(
                "{vm} is {}running at the end in the lab, {}running in the simulator",
                if l.running { "" } else { "not " },
                if f.running { "" } else { "not " }
            )),
            Some(l) if l.impaired != f.impaired => found.push(format!(
                "{vm} is {}impaired at the end in the lab, {}in the simulator",
                if l.impaired { "" } else { "not " },
                if f.impaired { "" } else { "not " }
            )),
            Some(_) => {}
            None => found.push(format!("{vm} is missing from the lab's report")),
        }
    }
    let (s, l) = (counted(&sim.events), counted(&lab.events));
    for (what, sim_n, lab_n) in unequal(&s, &l) {
        found.push(match sim_n {
            0 => format!("`{what}` happens {lab_n} time(s) in the lab, never in the simulator"),
            _ => format!("`{what}` happens {sim_n} time(s) in the simulator, {lab_n} in the lab"),
        });
    }
    // Each migration the one side has more often: the simulator's first.
    let (s, l) = (migrations(&sim.events), migrations(&lab.events));
    let mut differing = unequal(&s, &l);
    differing.sort_unstable();
    for (one, other) in [("simulator", "lab"), ("lab", "simulator")] {
        for &(m, sim_n, lab_n) in &differing {
            let n = match one {
                "simulator" => sim_n.saturating_sub(lab_n),
                _ => lab_n.saturating_sub(sim_n),
            };
            for _ in 0..n {
                found.push(format!("the {one} has `{m}`, the {other} does not"));
            }
        }
    }
    found
}

/// Each event's key for pairing (kind, subject, which occurrence) with
/// its time and place in the log.
fn keyed(events: &[Event]) -> BTreeMap<(String, String, usize), (u64, usize)> {
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let name = e.kind.name().to_string();
        let who = match &e.kind {
            EventKind::LinkDown { node, nic } | EventKind::LinkUp { node, nic } => {
                format!("{node}/{nic}")
            }
            EventKind::NodeDown { node } | EventKind::NodeUp { node } => node.clone(),
            other => other.vm().unwrap_or_default().to_string(),
        };
        let n = seen.entry((name.clone(), who.clone())).or_default();
        out.insert((name, who, *n), (e.t_ms, i));
        *n += 1;
    }
    out
}

/// The two timelines, event by event, with the lab's lead or lag.
pub fn side_by_side(sim: &Report, lab: &Report) -> String {
    let (s, l) = (keyed(&sim.events), keyed(&lab.events));
    // In the simulator's order (time, then place in its log); the lab's
    // own events after at their time.
    let mut rows: Vec<((u64, usize, usize), String)> = Vec::new();
    for key in s.keys().chain(l.keys().filter(|k| !s.contains_key(*k))) {
        let (ts, tl) = (s.get(key), l.get(key));
        let delta = match (ts, tl) {
            (Some(a), Some(b)) => format!("{:+} ms", b.0 as i64 - a.0 as i64),
            _ => "ONLY ONE SIDE".into(),
        };
        let show = |t: Option<&(u64, usize)>| t.map_or("-".into(), |t| seconds(t.0));
        let line = format!(
            "{:<24} {:<10} {:>10} {:>10}  {delta}",
            key.0,
            key.1,
            show(ts),
            show(tl)
        );
        let order = match (ts, tl) {
            (Some(&(t, i)), _) => (t, 0, i),
            (None, Some(&(t, i))) => (t, 1, i),
            (None, None) => (0, 0, 0),
        };
        rows.push((order, line));
    }
    rows.sort();
    let mut out = format!(
        "scenario {}: the simulator against the lab (real cluster on this machine)\n\n{:<24} {:<10} {:>10} {:>10}  lab - simulator\n",
        sim.scenario, "event", "vm/nic", "simulator", "lab"
    );
    for (_, line) in rows {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("\nfinal placement:\n");
    for (vm, f) in &sim.finals {
        let lab_node = lab.finals.get(vm).map_or("-", |l| l.node.as_str());
        let _ = writeln!(out, "  {vm}: simulator {}, lab {lab_node}", f.node);
    }
    out
}

/// Timing over repeated lab runs: from the first step (`first_at`, the
/// cable pull) to each first event of a kind, and the probe's longest gap;
/// p50 and p99.
pub fn percentiles(runs: &[(Report, BTreeMap<String, Probe>)], first_at: u64) -> String {
    let first = |r: &Report, kind: &str| {
        let at = r.events.iter().find(|e| e.kind.name() == kind)?.t_ms;
        Some(at.saturating_sub(first_at) as f64)
    };
    let mut out = format!(
        "\nover {} lab runs (ms after the first cable pull):\n",
        runs.len()
    );
    for kind in [
        "vm_network_impaired",
        "migration_started",
        "migration_completed",
    ] {
        let mut v: Vec<f64> = runs.iter().filter_map(|(r, _)| first(r, kind)).collect();
        line(&mut out, kind, &mut v);
    }
    let mut gaps: Vec<f64> = (runs.iter())
        .filter_map(|(_, p)| p.values().map(|p| p.max_unreachable_ms).max())
        .map(|g| g as f64)
        .collect();
    line(&mut out, "client gap (probe)", &mut gaps);
    out
}

fn line(out: &mut String, what: &str, v: &mut [f64]) {
    if v.is_empty() {
        let _ = writeln!(out, "  {what:<24} (none)");
        return;
    }
    v.sort_by(f64::total_cmp);
    let p50 = haven_core::stats::percentile(v, 50);
    let p99 = haven_core::stats::percentile(v, 99);
    let _ = writeln!(
        out,
        "  {what:<24} p50 {p50:>7.0}  p99 {p99:>7.0}  (n={})",
        v.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_sim::report::{Final, VmStats};

    fn report(events: &[(u64, EventKind)], node: &str, running: bool) -> Report {
        let events: Vec<Event> = (events.iter())
            .map(|(t_ms, kind)| Event {
                t_ms: *t_ms,
                kind: kind.clone(),
            })
            .collect();
        let finals = BTreeMap::from([(
            "VM1".to_string(),
            Final {
                node: node.into(),
                impaired: false,
                running,
            },
        )]);
        let stats = VmStats {
            impaired_ms: 0,
            migrations: 0,
        };
        let vms = BTreeMap::from([("VM1".to_string(), stats)]);
        Report::new("t".into(), events, finals, vms, 0, 0)
    }

    fn down(node: &str) -> EventKind {
        EventKind::NodeDown { node: node.into() }
    }

    fn vm_up(vm: &str, node: &str) -> EventKind {
        let (vm, node) = (vm.into(), node.into());
        EventKind::VmUp { vm, node }
    }

    #[test]
    fn h12_every_event_must_pair_up_but_not_its_time() {
        let sim = report(&[(10, down("A")), (20, vm_up("VM1", "A"))], "A", true);
        let late = report(&[(13, down("A")), (24, vm_up("VM1", "A"))], "A", true);
        assert_eq!(divergences(&sim, &late), Vec::<String>::new());
        let missing = report(&[(13, down("A"))], "A", true);
        assert_eq!(
            divergences(&sim, &missing),
            ["`vm_up node=A vm=VM1` happens 1 time(s) in the simulator, 0 in the lab"]
        );
        let extra = report(
            &[(10, down("A")), (12, down("B")), (20, vm_up("VM1", "A"))],
            "A",
            true,
        );
        assert_eq!(
            divergences(&sim, &extra),
            ["`node_down node=B` happens 1 time(s) in the lab, never in the simulator"]
        );
        let impaired = EventKind::VmNetworkImpaired {
            vm: "VM1".into(),
            node: "A".into(),
            switch: "Corp".into(),
        };
        let twice = report(&[(10, impaired.clone()), (30, impaired)], "A", true);
        let once = report(&[(10, down("A"))], "A", true);
        let mut found = divergences(&twice, &once);
        found.sort();
        assert_eq!(
            found,
            [
                "`node_down node=A` happens 1 time(s) in the lab, never in the simulator",
                "`vm_network_impaired node=A switch=Corp vm=VM1` happens 2 time(s) in the simulator, 0 in the lab",
            ]
        );
    }

    #[test]
    fn h12_a_vm_left_stopped_on_one_side_is_a_divergence() {
        let sim = report(&[], "A", false);
        let lab = report(&[], "A", true);
        assert_eq!(
            divergences(&sim, &lab),
            ["VM1 is running at the end in the lab, not running in the simulator"]
        );
        // vm_down is the simulator's alone: the cluster cannot see it.
        let stopped = EventKind::VmDown {
            vm: "VM1".into(),
            node: "A".into(),
        };
        let sim = report(&[(10, stopped)], "A", true);
        assert_eq!(divergences(&sim, &lab), Vec::<String>::new());
    }

    #[test]
    fn the_timelines_keep_the_simulators_order_at_equal_times() {
        let link = EventKind::LinkDown {
            node: "A".into(),
            nic: "eth1".into(),
        };
        let impaired = EventKind::VmNetworkImpaired {
            vm: "VM1".into(),
            node: "A".into(),
            switch: "Corp".into(),
        };
        let started = EventKind::MigrationStarted {
            vm: "VM1".into(),
            from: "A".into(),
            to: "B".into(),
        };
        let sim = report(&[(10, link), (10, impaired), (10, started)], "B", true);
        let lab = report(&[(12, down("B"))], "B", true);
        let text = side_by_side(&sim, &lab);
        let kinds: Vec<&str> = (text.lines().skip(3))
            .map_while(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            kinds,
            [
                "link_down",
                "vm_network_impaired",
                "migration_started",
                "node_down"
            ]
        );
        assert!(text.contains("ONLY ONE SIDE"), "{text}");
    }

    #[test]
    fn h12_migrations_on_one_side_only_are_named_simulator_first() {
        let done = |vm: &str, to: &str| EventKind::MigrationCompleted {
            vm: vm.into(),
            from: "A".into(),
            to: to.into(),
        };
        let sim = report(&[(10, done("VM1", "B")), (11, done("VM1", "B"))], "B", true);
        let lab = report(&[(10, done("VM1", "B")), (12, done("VM1", "C"))], "B", true);
        assert_eq!(
            divergences(&sim, &lab),
            [
                "the simulator has `VM1 A->B completed`, the lab does not",
                "the lab has `VM1 A->C completed`, the simulator does not",
            ]
        );
    }
}
