//! The single value every renderer reads (STYLE §6): what was read, the timeline, the
//! findings, the warnings.

use crate::input::InputReport;
use crate::rules::{Confidence, Severity};
use crate::signal::Signal;
use chrono::{DateTime, Utc};

/// One case, analyzed.
#[derive(Debug)]
pub struct Analysis {
    pub case: String,
    /// The zone times are shown in (`--tz`); everything is stored in UTC.
    pub time_zone: chrono_tz::Tz,
    /// The language of the reports' words and rule texts (`en`, `ja`).
    pub lang: String,
    pub inputs: Vec<InputReport>,
    pub hosts: Vec<Host>,
    pub coverage: Vec<Coverage>,
    pub timeline: Vec<Signal>,
    pub findings: Vec<Finding>,
    /// The hosts' collected configuration (switches, adapters, routes), one per host.
    pub configs: Vec<crate::config::HostConfig>,
    pub warnings: Vec<String>,
    /// Ids of the rules that were run.
    pub rules: Vec<String>,
}

/// A host of the case: its key and the longest name it was seen under.
#[derive(Debug, Clone)]
pub struct Host {
    pub key: String,
    pub name: String,
    pub clock_offset_ms: i64,
    pub clock_basis: String,
}

/// What the case holds of one log of one host.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub host: String,
    pub channel: String,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub records: u64,
    pub record_id_gaps: u64,
    pub damaged: bool,
    pub missing: bool,
}

/// One rule matched once for one host (SPEC §4.3).
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub host: String,
    /// Every host whose signals are evidence (a cluster-wide finding has several).
    pub hosts: Vec<String>,
    pub vms: Vec<String>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub title: String,
    pub cause: String,
    /// The fix, as steps.
    pub fix: Vec<String>,
    /// Timeline ids of the signals it used.
    pub evidence: Vec<usize>,
    /// What to collect next: evidence the rule would use that the case lacks.
    pub missing: Vec<String>,
    /// What the host's configuration says of the cause, for a rule with a `config_check`:
    /// `confirmed`, `contradicted`, `unknown` (some of it collected) or `absent`.
    pub config: Option<String>,
    /// The facts of the configuration behind that verdict.
    pub config_evidence: Vec<ConfigFact>,
}

/// One fact of a host's configuration, and the files it was read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigFact {
    pub host: String,
    pub input: String,
    pub fact: String,
}

/// Signals of one host and one kind that follow each other closely, shown as one entry of a
/// report (SPEC §5.4: a case of 20,000 signals must stay readable). Evidence is never folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Timeline id of the first signal; the entry shows it and links to it.
    pub first: usize,
    /// Timeline id of the last signal folded in.
    pub last: usize,
    /// How many signals it stands for.
    pub count: usize,
    /// Whether it is a finding's evidence (then `count` is 1).
    pub evidence: bool,
}

impl Analysis {
    /// Records read in every input.
    pub fn records(&self) -> u64 {
        self.inputs.iter().map(|i| i.records).sum()
    }

    /// The time span every input covers together.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let first = self.inputs.iter().filter_map(|i| i.first).min()?;
        let last = self.inputs.iter().filter_map(|i| i.last).max()?;
        Some((first, last))
    }

    /// Whether the case holds anything of Hyper-V or the cluster: a known event, or a Hyper-V or
    /// FailoverClustering log. Without either, "no known root cause" would mislead: these are
    /// not the logs of a Hyper-V cluster's trouble.
    pub fn has_cluster_events(&self) -> bool {
        !self.timeline.is_empty()
            || self.coverage.iter().any(|c| {
                !c.missing
                    && ["hyper-v", "failoverclustering"]
                        .iter()
                        .any(|k| c.channel.to_ascii_lowercase().contains(k))
            })
    }

    /// "HV01: System, Application; HV02: System": the logs each host's case holds.
    pub fn logs_seen(&self) -> String {
        let mut by_host: std::collections::BTreeMap<&str, Vec<&str>> =
            std::collections::BTreeMap::new();
        for c in self.coverage.iter().filter(|c| !c.missing) {
            by_host.entry(&c.host).or_default().push(&c.channel);
        }
        by_host
            .iter()
            .map(|(h, logs)| format!("{h}: {}", logs.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }

    /// Timeline ids used as evidence by any finding, sorted.
    pub fn evidence_ids(&self) -> std::collections::BTreeSet<usize> {
        self.findings
            .iter()
            .flat_map(|f| f.evidence.iter().copied())
            .collect()
    }

    /// The timeline with repeats folded: a signal joins the open run of its host, kind and
    /// text (the same thing said again, not another VM's migration) when it comes within
    /// `window_ms` of that run's last signal. Evidence always stands alone, so
    /// every finding can link to its own entries. Runs are in the order of their first signal.
    pub fn runs(&self, window_ms: i64) -> Vec<Run> {
        let evidence = self.evidence_ids();
        let mut runs: Vec<Run> = Vec::new();
        let mut open: std::collections::HashMap<(&str, &str, &str), usize> =
            std::collections::HashMap::new();
        for (index, s) in self.timeline.iter().enumerate() {
            let is_evidence = evidence.contains(&index);
            let key = (s.host.as_str(), s.name.as_str(), s.text.as_str());
            if !is_evidence {
                let joinable = open.get(&key).and_then(|&r| {
                    let last = self.timeline.get(runs[r].last)?;
                    ((s.time - last.time).num_milliseconds() <= window_ms).then_some(r)
                });
                if let Some(r) = joinable {
                    runs[r].last = index;
                    runs[r].count += 1;
                    continue;
                }
                open.insert(key, runs.len());
            }
            runs.push(Run {
                first: index,
                last: index,
                count: 1,
                evidence: is_evidence,
            });
        }
        runs
    }
}
