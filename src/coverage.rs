//! Coverage (SPEC §2): for every host and log of the case, the time span it covers, its
//! records, gaps in its record ids, damage, and the logs the rules need that a host lacks.

use crate::analysis::Coverage;
use crate::input::{InputReport, LogSpan};
use crate::timeline::host_key;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The coverage of a case; `needed` are the logs every host should have.
pub fn build(inputs: &[InputReport], needed: &[String]) -> Vec<Coverage> {
    // (host, channel) → the spans of each input that holds it, and whether one was damaged.
    let mut logs: BTreeMap<(String, String), (Vec<LogSpan>, bool)> = BTreeMap::new();
    for input in inputs {
        let damaged = input.chunks_skipped > 0 || input.records_lost > 0;
        for ((computer, channel), span) in &input.logs {
            if computer.is_empty() {
                continue;
            }
            let entry = logs
                .entry((host_key(computer), channel.clone()))
                .or_default();
            entry.0.push(span.clone());
            entry.1 |= damaged;
        }
    }
    let hosts: Vec<String> = {
        let mut hosts: Vec<String> = logs.keys().map(|(h, _)| h.clone()).collect();
        hosts.dedup();
        hosts
    };
    let mut out: Vec<Coverage> = logs
        .into_iter()
        .map(|((host, channel), (spans, damaged))| {
            let span = union(spans);
            Coverage {
                record_id_gaps: span.gaps(),
                host,
                channel,
                first: span.first,
                last: span.last,
                records: span.records,
                damaged,
                missing: false,
            }
        })
        .collect();
    for host in &hosts {
        for log in needed {
            if !out
                .iter()
                .any(|c| c.host == *host && same_log(&c.channel, log))
            {
                out.push(Coverage {
                    host: host.clone(),
                    channel: log.clone(),
                    first: None,
                    last: None,
                    records: 0,
                    record_id_gaps: 0,
                    damaged: false,
                    missing: true,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.host, &a.channel).cmp(&(&b.host, &b.channel)));
    out
}

/// A row per host whose configuration was collected (`channel` "configuration"): `records`
/// counts the adapters, switches, host adapters, team members and routes read. It spans no
/// time: configuration is a snapshot of when it was collected.
pub fn add_configs(coverage: &mut Vec<Coverage>, configs: &[crate::config::HostConfig]) {
    for config in configs.iter().filter(|c| !c.key().is_empty()) {
        coverage.push(Coverage {
            host: config.key(),
            channel: CONFIGURATION.to_string(),
            first: None,
            last: None,
            records: config.objects() as u64,
            record_id_gaps: 0,
            damaged: false,
            missing: false,
        });
    }
    coverage.sort_by(|a, b| (&a.host, &a.channel).cmp(&(&b.host, &b.channel)));
}

/// The coverage row of a host's configuration.
pub const CONFIGURATION: &str = "configuration";

/// The same log collected twice (an `.evtx` and its XML export) counts once.
fn union(mut spans: Vec<LogSpan>) -> LogSpan {
    spans.sort_by_key(|s| (s.min_id, s.max_id, s.records));
    spans.dedup();
    let mut total = LogSpan::default();
    for s in &spans {
        total.merge(s);
    }
    total
}

/// Channel names as exported (`…-Admin`) or as Windows names them (`…/Admin`).
pub fn same_log(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace('/', "-").to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Whether the case holds `log` of `host` and it covers `time`: then an event that would be
/// there and is not, did not happen.
pub fn covers(coverage: &[Coverage], host: &str, log: &str, time: DateTime<Utc>) -> bool {
    coverage.iter().any(|c| {
        c.host == host
            && same_log(&c.channel, log)
            && !c.missing
            && c.first.is_some_and(|f| f <= time)
            && c.last.is_some_and(|l| l >= time)
    })
}
