//! Clock skew: nodes' clocks differ, so hvtriage estimates each host's offset from events every
//! node logs about the same moment (SPEC §2), and rules compare corrected times.

use crate::signal::{Catalogue, Signal};
use std::collections::{BTreeMap, BTreeSet};

/// Observations of one shared event further apart than this are different moments.
const MOMENT_SPAN_MS: i64 = 3_600_000;
/// Offsets smaller than this are left alone: rule windows absorb them, and correcting by a
/// noisy estimate would only move events around.
pub const MIN_CORRECTION_MS: i64 = 2_000;

/// The clock of one host, against the case's reference host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub offset_ms: i64,
    pub basis: String,
}

/// Estimates every host's clock offset from the signals the catalogue marks as shared.
pub fn estimate(signals: &[Signal], catalogue: &Catalogue) -> BTreeMap<String, Estimate> {
    let hosts: BTreeSet<&str> = signals.iter().map(|s| s.host.as_str()).collect();
    let moments = moments(signals, catalogue);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for moment in &moments {
        for host in moment.keys() {
            *seen.entry(host).or_default() += 1;
        }
    }
    // The reference is the host that shares the most moments (then the first by name).
    let reference = seen
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(h, _)| *h);
    hosts
        .into_iter()
        .map(|host| (host.to_string(), host_estimate(host, reference, &moments)))
        .collect()
}

/// Each shared moment: host → time (ms) it logged it, by its own clock.
fn moments<'s>(signals: &'s [Signal], catalogue: &Catalogue) -> Vec<BTreeMap<&'s str, i64>> {
    let mut by_key: BTreeMap<String, Vec<&Signal>> = BTreeMap::new();
    for s in signals {
        let Some(def) = catalogue.get(&s.name).filter(|d| !d.shared.is_empty()) else {
            continue;
        };
        let values: Vec<&str> = def
            .shared
            .iter()
            .map(|f| s.fields.get(f).map_or("", String::as_str))
            .collect();
        by_key
            .entry(format!("{}|{}", s.name, values.join("|")))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for mut group in by_key.into_values() {
        group.sort_by_key(|s| s.time);
        let mut current: BTreeMap<&str, i64> = BTreeMap::new();
        let mut start: Option<i64> = None;
        for s in group {
            let t = s.time.timestamp_millis();
            if start.is_none_or(|start| t.saturating_sub(start) > MOMENT_SPAN_MS) {
                if current.len() > 1 {
                    out.push(std::mem::take(&mut current));
                }
                current.clear();
                start = Some(t);
            }
            current.entry(s.host.as_str()).or_insert(t);
        }
        if current.len() > 1 {
            out.push(current);
        }
    }
    out
}

fn host_estimate(host: &str, reference: Option<&str>, moments: &[BTreeMap<&str, i64>]) -> Estimate {
    let Some(reference) = reference else {
        return Estimate {
            offset_ms: 0,
            basis: "no event logged by several hosts to compare clocks".into(),
        };
    };
    if host == reference {
        return Estimate {
            offset_ms: 0,
            basis: "reference".into(),
        };
    }
    let mut diffs: Vec<i64> = moments
        .iter()
        .filter_map(|m| Some(m.get(host)?.saturating_sub(*m.get(reference)?)))
        .collect();
    if diffs.is_empty() {
        return Estimate {
            offset_ms: 0,
            basis: format!("no event shared with {reference}: not corrected"),
        };
    }
    diffs.sort_unstable();
    let median = diffs[diffs.len() / 2];
    let applied = if median.abs() >= MIN_CORRECTION_MS {
        "corrected"
    } else {
        "too small to correct"
    };
    Estimate {
        offset_ms: median,
        basis: format!(
            "median of {} cluster-wide event(s) also logged by {reference}; {applied}",
            diffs.len()
        ),
    }
}

/// Sets every signal's corrected time from its host's estimate.
pub fn correct(signals: &mut [Signal], estimates: &BTreeMap<String, Estimate>) {
    for s in signals {
        let offset = estimates
            .get(&s.host)
            .map_or(0, |e| e.offset_ms)
            .clamp(-86_400_000, 86_400_000);
        s.at = if offset.abs() >= MIN_CORRECTION_MS {
            s.time - chrono::Duration::milliseconds(offset)
        } else {
            s.time
        };
    }
}
