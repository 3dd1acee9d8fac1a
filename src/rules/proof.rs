//! `hvtriage rules test`: every rule against the fixture cases it names (SPEC §6.4).

use super::{Rule, RuleFixture, RuleSet};
use crate::analysis::Analysis;
use crate::{analyze, Options};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How one rule did on one of its fixtures.
#[derive(Debug)]
pub struct Outcome {
    pub rule: String,
    pub case: PathBuf,
    /// `None`: passed; otherwise why not.
    pub failure: Option<String>,
    /// What was found, for the report: "high, HV01, VM1 VM2" or "no finding".
    pub found: String,
}

/// Runs the rules `which` picks on their fixtures (with the whole set loaded, as `analyze`
/// would run it); each case is analyzed once.
pub fn run(set: &RuleSet, which: impl Fn(&Rule) -> bool) -> Vec<Outcome> {
    let mut analyses: BTreeMap<PathBuf, Result<Analysis, String>> = BTreeMap::new();
    let mut outcomes = Vec::new();
    for rule in set.rules.iter().filter(|r| which(r)) {
        if rule.fixtures.is_empty() {
            outcomes.push(Outcome {
                rule: rule.id.clone(),
                case: PathBuf::new(),
                failure: Some(
                    "names no fixture: add [[fixture]] entries that must and must not match".into(),
                ),
                found: String::new(),
            });
        }
        for fixture in &rule.fixtures {
            let analysis = analyses.entry(fixture.case.clone()).or_insert_with(|| {
                analyze(
                    std::slice::from_ref(&fixture.case),
                    set,
                    &Options::default(),
                )
                .map_err(|e| e.to_string())
            });
            outcomes.push(check(rule, fixture, analysis));
        }
    }
    outcomes
}

fn check(rule: &Rule, fixture: &RuleFixture, analysis: &Result<Analysis, String>) -> Outcome {
    let mut outcome = Outcome {
        rule: rule.id.clone(),
        case: fixture.case.clone(),
        failure: None,
        found: String::new(),
    };
    let analysis = match analysis {
        Ok(a) => a,
        Err(e) => {
            outcome.failure = Some(format!("the case cannot be analyzed: {e}"));
            return outcome;
        }
    };
    let found: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.rule == rule.id)
        .collect();
    outcome.found = if found.is_empty() {
        "no finding".into()
    } else {
        found
            .iter()
            .map(|f| format!("{}, {}, {}", f.confidence.as_str(), f.host, f.vms.join(" ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    outcome.failure = match (&fixture.expect, found.as_slice()) {
        (None, []) => None,
        (None, _) => Some(format!("must not match, but found: {}", outcome.found)),
        (Some(_), []) => Some("must match, but found nothing".into()),
        (Some(want), found) => {
            let ok = found.iter().any(|f| {
                want.host.as_ref().is_none_or(|h| *h == f.host)
                    && want.vms == f.vms
                    && want.confidence == f.confidence
            });
            (!ok).then(|| {
                format!(
                    "expected {}, {}, {}; found: {}",
                    want.confidence.as_str(),
                    want.host.as_deref().unwrap_or("any host"),
                    want.vms.join(" "),
                    outcome.found
                )
            })
        }
    };
    outcome
}
