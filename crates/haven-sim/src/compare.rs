//! `haven simulate --compare classic`: one scenario run twice in one
//! process, with the file's settings and with the source system's
//! behaviour ([`Settings::classic`]), and the floor an instant, perfect
//! scheduler would reach.

use crate::report::{seconds, Report};
use crate::{simulate, SimError};
use haven_core::model::{Millis, Scenario, Settings, StepAction};
use haven_core::stats::percentile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Both reports; serialises as `{"haven": REPORT, "classic": REPORT}`.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub haven: Report,
    pub classic: Report,
    /// [`floor_ms`] of the haven run, when the scenario has one.
    #[serde(skip)]
    pub floor_ms: Option<Millis>,
}

/// Runs `scenario` as written and under the classic profile, same seed.
///
/// # Errors
/// A broken H12 invariant in either run.
pub fn compare(scenario: &Scenario, seed: u64) -> Result<Comparison, SimError> {
    let haven = simulate(scenario, seed)?;
    let mut classic = scenario.clone();
    classic.cluster.settings = Settings::classic(&scenario.cluster.settings);
    let classic = simulate(&classic, seed)?;
    let floor_ms = one_shot(scenario).then(|| floor_ms(&haven));
    Ok(Comparison {
        haven,
        classic,
        floor_ms,
    })
}

/// Failures that are never undone (no link, node or adapter comes back),
/// and every migration follows the bandwidth model: the scenarios for which
/// [`floor_ms`] is a lower bound. When links come
/// back, an outage may end by itself before any scheduler could act.
pub fn one_shot(scenario: &Scenario) -> bool {
    // A fixed `migration_s` does not share the link, so the one-at-a-time
    // bound does not hold for it.
    let fixed = scenario
        .cluster
        .vms
        .iter()
        .any(|vm| vm.migration_ms.is_some());
    !fixed
        && scenario.steps.iter().all(|s| {
            matches!(
                s.action,
                StepAction::LinkDown { .. } | StepAction::NodeDown { .. }
            )
        })
}

/// The numbers compared, for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    pub impaired_ms: Millis,
    /// Per VM that was cut off: its time cut off, p50 / p99 / max.
    pub recover_p50_ms: Millis,
    pub recover_p99_ms: Millis,
    pub recover_max_ms: Millis,
    pub completed: u32,
    pub failed: u32,
    pub cancelled: u32,
    pub left_impaired: u32,
}

impl Figures {
    pub fn of(report: &Report) -> Figures {
        let mut per_vm: Vec<Millis> = (report.vms.values())
            .map(|v| v.impaired_ms)
            .filter(|&ms| ms > 0)
            .collect();
        per_vm.sort_unstable();
        let s = &report.summary;
        Figures {
            impaired_ms: s.impaired_vm_ms_total,
            recover_p50_ms: percentile(&per_vm, 50),
            recover_p99_ms: percentile(&per_vm, 99),
            recover_max_ms: per_vm.last().copied().unwrap_or(0),
            completed: s.migrations_completed,
            failed: s.migrations_failed,
            cancelled: s.migrations_cancelled,
            left_impaired: s.vms_impaired_at_end,
        }
    }
}

/// The impaired VM time an instant, perfect scheduler would get for the
/// same outages: every stretch that ended in a migration is replaced by the
/// flow time of a preemptive shortest-remaining-first schedule on its source
/// node's migration link at full bandwidth (the physical bound: the source
/// link carries one VM's memory at a time at best); stretches that ended
/// otherwise (the link came back, no node could host the VM) count as they
/// were.
pub fn floor_ms(report: &Report) -> Millis {
    let mut by_source: BTreeMap<&str, Vec<(Millis, Millis)>> = BTreeMap::new();
    let mut other = 0;
    for e in &report.episodes {
        match e.migrated {
            true => by_source
                .entry(e.node.as_str())
                .or_default()
                .push((e.start_ms, e.transfer_ms)),
            false => other += e.end_ms - e.start_ms,
        }
    }
    other
        + by_source
            .values()
            .map(|jobs| srpt_flow_ms(jobs))
            .sum::<Millis>()
}

/// Total flow time of preemptive SRPT on one machine for jobs
/// `(release, size)`: optimal for that objective.
fn srpt_flow_ms(jobs: &[(Millis, Millis)]) -> Millis {
    let mut jobs = jobs.to_vec();
    jobs.sort_unstable();
    let mut pending: std::collections::BinaryHeap<std::cmp::Reverse<(Millis, Millis)>> =
        Default::default();
    let (mut now, mut next, mut flow) = (0, 0, 0);
    while next < jobs.len() || !pending.is_empty() {
        if pending.is_empty() {
            now = now.max(jobs[next].0);
        }
        while next < jobs.len() && jobs[next].0 <= now {
            pending.push(std::cmp::Reverse((jobs[next].1, jobs[next].0)));
            next += 1;
        }
        let std::cmp::Reverse((remaining, release)) = pending.pop().expect("a job is pending");
        // Run it until it ends or the next job arrives.
        let until_next = jobs.get(next).map_or(Millis::MAX, |j| j.0 - now);
        let run = remaining.min(until_next);
        now += run;
        match remaining - run {
            0 => flow += now - release,
            left => pending.push(std::cmp::Reverse((left, release))),
        }
    }
    flow
}

impl Comparison {
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("reports serialise");
        out.push('\n');
        out
    }

    /// The side-by-side table.
    pub fn to_text(&self) -> String {
        let (h, c) = (Figures::of(&self.haven), Figures::of(&self.classic));
        let rows: [(&str, String, String); 8] = [
            (
                "impaired VM time",
                seconds(h.impaired_ms),
                seconds(c.impaired_ms),
            ),
            (
                "per-VM cut off, p50",
                seconds(h.recover_p50_ms),
                seconds(c.recover_p50_ms),
            ),
            (
                "per-VM cut off, p99",
                seconds(h.recover_p99_ms),
                seconds(c.recover_p99_ms),
            ),
            (
                "per-VM cut off, max",
                seconds(h.recover_max_ms),
                seconds(c.recover_max_ms),
            ),
            (
                "migrations completed",
                h.completed.to_string(),
                c.completed.to_string(),
            ),
            (
                "migrations failed",
                h.failed.to_string(),
                c.failed.to_string(),
            ),
            (
                "migrations cancelled",
                h.cancelled.to_string(),
                c.cancelled.to_string(),
            ),
            (
                "VMs left impaired",
                h.left_impaired.to_string(),
                c.left_impaired.to_string(),
            ),
        ];
        let mut out = format!("{:<24}  {:>12}  {:>12}\n", "", "haven", "classic");
        for (name, a, b) in rows {
            let _ = writeln!(out, "{name:<24}  {a:>12}  {b:>12}");
        }
        match self.floor_ms {
            Some(floor) => {
                let _ = writeln!(
                    out,
                    "\nfloor (instant detection, one migration at a time per source link at \
                     full bandwidth, shortest first): {}",
                    seconds(floor)
                );
                if floor > 0 {
                    let over = (h.impaired_ms as f64 / floor as f64 - 1.0) * 100.0;
                    let _ = writeln!(out, "haven is {over:.1}% above the floor");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "\nfloor: n/a (links or nodes come back, so outages may end by themselves)"
                );
            }
        }
        if h.impaired_ms > 0 {
            let ratio = c.impaired_ms as f64 / h.impaired_ms as f64;
            let _ = writeln!(out, "classic / haven impaired VM time: {ratio:.1}x");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srpt_runs_shortest_first_and_preempts_for_shorter_arrivals() {
        // Alone: flow = size.
        assert_eq!(srpt_flow_ms(&[(0, 5)]), 5);
        // Two at once: 1 then 1+3.
        assert_eq!(srpt_flow_ms(&[(0, 3), (0, 1)]), 1 + 4);
        // A long job preempted by a short arrival: short 1 (2..3), long ends at 11.
        assert_eq!(srpt_flow_ms(&[(0, 10), (2, 1)]), 1 + 11);
        // Idle gap between jobs.
        assert_eq!(srpt_flow_ms(&[(0, 2), (10, 2)]), 4);
    }

    #[test]
    fn the_floor_is_only_claimed_where_it_is_a_lower_bound() {
        let base = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/figure-1.toml"
        ))
        .unwrap();
        let parse = |text: &str| haven_core::parse::parse_scenario("t.toml", text).unwrap();
        assert!(one_shot(&parse(&base)));
        // A fixed migration time does not share the link.
        let fixed = base.replace("memory_mb = 4096", "memory_mb = 4096\nmigration_s = 30");
        assert!(!one_shot(&parse(&fixed)));
        // A link that comes back may end the outage by itself.
        let back = format!(
            "{base}\n[[step]]\nat = \"20s\"\naction = \"link_up\"\nnode = \"A\"\nnic = \"eth1\"\n"
        );
        assert!(!one_shot(&parse(&back)));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<Millis> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile::<Millis>(&[], 50), 0);
    }
}
