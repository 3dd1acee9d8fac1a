//! H12 under random faults: a seeded sweep of random scenarios, with every
//! invariant checked after every instant (STYLE.md 5, 6).

use haven_sim::sweep::{random_scenario, sweep};

/// H12: at least 1,000 random scenarios (2–20 nodes, bonds, link flaps,
/// node faults, unprotect steps) keep every invariant. A failure names the
/// seed; `haven simulate --random --seed N` replays it.
#[test]
fn h12_invariants_hold_across_1000_random_scenarios() {
    // HAVEN_SWEEP_FIRST / HAVEN_SWEEP_COUNT widen the sweep by hand.
    let env = |name, default| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (first, count) = (env("HAVEN_SWEEP_FIRST", 1), env("HAVEN_SWEEP_COUNT", 1000));
    let events = sweep(first, count.max(1000)).unwrap_or_else(|e| panic!("{e}"));
    // The sweep must really exercise the engine, not run empty clusters.
    assert!(events > 10_000, "only {events} events in 1000 scenarios");
}

#[test]
fn random_scenarios_cover_what_the_sweep_claims() {
    let scenarios: Vec<_> = (1..=200).map(random_scenario).collect();
    let nodes: Vec<usize> = scenarios.iter().map(|s| s.cluster.nodes.len()).collect();
    assert_eq!(*nodes.iter().min().unwrap(), 2);
    assert_eq!(*nodes.iter().max().unwrap(), 20);
    let has = |pred: &dyn Fn(&haven_core::model::Scenario) -> bool| scenarios.iter().any(pred);
    assert!(has(&|s| s
        .cluster
        .nodes
        .iter()
        .any(|n| n.nics.iter().any(|n| n.is_bond()))));
    assert!(has(&|s| s.steps.iter().any(|st| matches!(
        st.action,
        haven_core::model::StepAction::NodeDown { .. }
    ))));
    assert!(has(&|s| s.steps.iter().any(|st| matches!(
        st.action,
        haven_core::model::StepAction::SetProtected {
            protected: false,
            ..
        }
    ))));
}

#[test]
fn the_same_seed_gives_the_same_report() {
    for seed in [3, 77, 1234] {
        let a = haven_sim::simulate(&random_scenario(seed), seed).unwrap();
        let b = haven_sim::simulate(&random_scenario(seed), seed).unwrap();
        assert_eq!(a.to_json(), b.to_json());
    }
}
