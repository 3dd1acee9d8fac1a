//! Clock skew: nodes' clocks differ, so hvtriage estimates each host's offset from events every
//! node logs about the same moment, and from both ends of live migrations between two hosts
//! (SPEC §2), and rules compare corrected times.

use crate::signal::{Catalogue, Signal};
use std::collections::{BTreeMap, BTreeSet};

/// Observations of one shared event further apart than this are different moments.
const MOMENT_SPAN_MS: i64 = 3_600_000;
/// Offsets smaller than this are left alone: rule windows absorb them, and correcting by a
/// noisy estimate would only move events around.
pub const MIN_CORRECTION_MS: i64 = 2_000;
/// A one-way migration estimate also holds the migration's duration (seconds, or minutes for
/// a large VM): below this it cannot tell skew from duration, and the rules' windows absorb it.
const MIN_ONE_WAY_CORRECTION_MS: i64 = 120_000;

/// The clock of one host, against the case's reference host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub offset_ms: i64,
    pub basis: String,
}

/// One live migration seen from both ends: the source logged its start, the destination its
/// completion, each by its own clock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Migration<'s> {
    source: &'s str,
    destination: &'s str,
    /// Completion (destination's clock) minus start (source's clock): the migration's own
    /// duration plus the destination's offset minus the source's.
    diff_ms: i64,
}

/// Estimates every host's clock offset from the signals the catalogue marks as shared, and
/// where a host shares none of those with the reference, from migrations between them.
pub fn estimate(signals: &[Signal], catalogue: &Catalogue) -> BTreeMap<String, Estimate> {
    let hosts: BTreeSet<&str> = signals.iter().map(|s| s.host.as_str()).collect();
    let moments = moments(signals, catalogue);
    let migrations = migrations(signals, catalogue);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for moment in &moments {
        for host in moment.keys() {
            *seen.entry(host).or_default() += 2;
        }
    }
    for m in &migrations {
        *seen.entry(m.source).or_default() += 1;
        *seen.entry(m.destination).or_default() += 1;
    }
    // The reference is the host that shares the most moments and migrations (then the first
    // by name).
    let reference = seen
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(h, _)| *h);
    hosts
        .into_iter()
        .map(|host| {
            let estimate = host_estimate(host, reference, &moments);
            let from_migrations = reference
                .filter(|_| estimate.basis.starts_with("no event shared"))
                .and_then(|r| migration_estimate(host, r, &migrations));
            (host.to_string(), from_migrations.unwrap_or(estimate))
        })
        .collect()
}

/// Each migration start paired with its completion on the destination: same VM id, the
/// nearest completion within an hour (clocks may be off by many minutes either way), each
/// completion used once.
fn migrations<'s>(signals: &'s [Signal], catalogue: &Catalogue) -> Vec<Migration<'s>> {
    let role = |s: &Signal| catalogue.get(&s.name).and_then(|d| d.clock_pair.as_deref());
    let mut ends: Vec<(&Signal, bool)> = signals
        .iter()
        .filter(|s| role(s) == Some("end") && s.fields.contains_key("vm_id"))
        .map(|s| (s, false))
        .collect();
    let mut out = Vec::new();
    // The same record collected twice (an .evtx and its XML export) is one start.
    let mut seen = BTreeSet::new();
    for start in signals.iter().filter(|s| role(s) == Some("start")) {
        if !seen.insert((&start.host, &start.event.channel, start.event.record_id)) {
            continue;
        }
        let (Some(vm), Some(destination)) =
            (start.fields.get("vm_id"), start.fields.get("destination"))
        else {
            continue;
        };
        let nearest = ends
            .iter_mut()
            .filter(|(e, used)| {
                !used
                    && e.fields.get("vm_id") == Some(vm)
                    && e.host == *destination
                    && e.host != start.host
            })
            .map(|end| ((end.0.time - start.time).num_milliseconds(), end))
            .filter(|(diff, _)| diff.abs() <= MOMENT_SPAN_MS)
            .min_by_key(|(diff, _)| diff.abs());
        if let Some((diff_ms, end)) = nearest {
            end.1 = true;
            out.push(Migration {
                source: start.host.as_str(),
                destination: end.0.host.as_str(),
                diff_ms,
            });
        }
    }
    out
}

/// The offset of `host` against `reference` from migrations between them. With migrations
/// both ways their durations cancel: (median there − median back) / 2. One way only, the
/// estimate also holds the migration's duration (seconds, against clock errors of minutes).
fn migration_estimate(host: &str, reference: &str, migrations: &[Migration]) -> Option<Estimate> {
    let median = |mut v: Vec<i64>| -> Option<i64> {
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    let there: Vec<i64> = migrations
        .iter()
        .filter(|m| m.source == reference && m.destination == host)
        .map(|m| m.diff_ms)
        .collect();
    let back: Vec<i64> = migrations
        .iter()
        .filter(|m| m.source == host && m.destination == reference)
        .map(|m| m.diff_ms)
        .collect();
    let (n_there, n_back) = (there.len(), back.len());
    let (offset_ms, how, least) = match (median(there), median(back)) {
        (Some(t), Some(b)) => (
            (t - b) / 2,
            format!("{n_there} live migration(s) from {reference} and {n_back} back, durations cancelled"),
            MIN_CORRECTION_MS,
        ),
        (Some(t), None) => (
            t,
            format!("{n_there} live migration(s) from {reference}, one way (includes their duration)"),
            MIN_ONE_WAY_CORRECTION_MS,
        ),
        (None, Some(b)) => (
            -b,
            format!("{n_back} live migration(s) to {reference}, one way (includes their duration)"),
            MIN_ONE_WAY_CORRECTION_MS,
        ),
        (None, None) => return None,
    };
    if offset_ms.abs() < least {
        return Some(Estimate {
            offset_ms: 0,
            basis: format!("both ends of {how}: {offset_ms} ms, too small to tell from the migrations' own time; not corrected"),
        });
    }
    let applied = if offset_ms.abs() >= MIN_CORRECTION_MS {
        "corrected"
    } else {
        "too small to correct"
    };
    Some(Estimate {
        offset_ms,
        basis: format!("both ends of {how}; {applied}"),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'s>(source: &'s str, destination: &'s str, diff_ms: i64) -> Migration<'s> {
        Migration {
            source,
            destination,
            diff_ms,
        }
    }

    #[test]
    fn migrations_both_ways_cancel_their_duration() {
        // B is 5 minutes ahead; each migration takes 20 s.
        let both = [m("A", "B", 320_000), m("B", "A", -280_000)];
        let e = migration_estimate("B", "A", &both).unwrap();
        assert_eq!(e.offset_ms, 300_000, "{}", e.basis);
        assert!(e.basis.contains("durations cancelled"), "{}", e.basis);
    }

    #[test]
    fn one_way_corrects_only_what_no_duration_explains() {
        let short = migration_estimate("B", "A", &[m("A", "B", 16_000)]).unwrap();
        assert_eq!(short.offset_ms, 0, "{}", short.basis);
        assert!(short.basis.contains("not corrected"), "{}", short.basis);
        let long = migration_estimate("B", "A", &[m("B", "A", 700_000)]).unwrap();
        assert_eq!(long.offset_ms, -700_000, "{}", long.basis);
        assert!(long.basis.contains("one way"), "{}", long.basis);
        assert!(migration_estimate("C", "A", &[m("A", "B", 1)]).is_none());
    }
}
