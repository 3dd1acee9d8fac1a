//! Every fixture case gives the findings its `expected.toml` names, and none it forbids —
//! from its Event XML, and from the EVTX files written from it, each read alone.

mod common;

use hvtriage::analysis::Analysis;
use hvtriage::rules::RuleSet;
use hvtriage::{analyze, Options};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    finding: Vec<ExpectedFinding>,
    #[serde(default)]
    absent: Vec<String>,
    max_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    rule: String,
    host: Option<String>,
    vms: Vec<String>,
    confidence: String,
    /// Every host of the finding's evidence, when the case says.
    hosts: Option<Vec<String>>,
    /// Words each of which some "collect next" line must hold.
    #[serde(default)]
    missing: Vec<String>,
}

fn expected(case: &Path) -> Expected {
    let text = std::fs::read_to_string(case.join("expected.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()))
}

fn check(case: &Path, what: &str, analysis: &Analysis) {
    let expected = expected(case);
    let name = format!("{} ({what})", case.display());
    for want in &expected.finding {
        let found = analysis.findings.iter().find(|f| f.rule == want.rule);
        let found = found.unwrap_or_else(|| {
            let got: Vec<_> = analysis.findings.iter().map(|f| &f.rule).collect();
            panic!("{name}: no finding `{}`; got {got:?}", want.rule)
        });
        if let Some(host) = &want.host {
            assert_eq!(&found.host, host, "{name}: host of {}", want.rule);
        }
        assert_eq!(found.vms, want.vms, "{name}: VMs of {}", want.rule);
        assert_eq!(
            found.confidence.as_str(),
            want.confidence,
            "{name}: confidence of {}",
            want.rule
        );
        assert!(
            !found.evidence.is_empty(),
            "{name}: {} has no evidence",
            want.rule
        );
        if let Some(hosts) = &want.hosts {
            assert_eq!(&found.hosts, hosts, "{name}: hosts of {}", want.rule);
        }
        for words in &want.missing {
            assert!(
                found.missing.iter().any(|m| m.contains(words.as_str())),
                "{name}: no \"collect next\" of {} says {words:?}: {:?}",
                want.rule,
                found.missing
            );
        }
    }
    assert_eq!(
        analysis.findings.len(),
        expected.finding.len(),
        "{name}: findings {:?}",
        analysis
            .findings
            .iter()
            .map(|f| &f.rule)
            .collect::<Vec<_>>()
    );
    for rule in &expected.absent {
        assert!(
            analysis.findings.iter().all(|f| &f.rule != rule),
            "{name}: `{rule}` must not match"
        );
    }
    if let Some(max) = &expected.max_severity {
        let max = hvtriage::rules::Severity::parse(max).unwrap();
        assert!(
            analysis.findings.iter().all(|f| f.severity >= max),
            "{name}: a finding above {max:?}"
        );
    }
}

fn run(paths: &[PathBuf]) -> Analysis {
    let rules = RuleSet::builtin().unwrap();
    analyze(paths, &rules, &Options::default()).unwrap()
}

#[test]
fn each_case_gives_its_findings_from_the_case_folder() {
    for case in common::cases() {
        check(&case, "folder", &run(std::slice::from_ref(&case)));
    }
}

#[test]
fn each_case_gives_its_findings_from_event_xml_alone() {
    for case in common::cases() {
        check(&case, "xml", &run(&common::case_inputs(&case, "xml")));
    }
}

#[test]
fn each_case_gives_its_findings_from_evtx_alone() {
    for case in common::cases() {
        let evtx = common::files(&case, "evtx");
        assert_eq!(
            evtx.len(),
            common::files(&case, "xml").len(),
            "{}: every .xml has its .evtx (run scripts/fixtures.sh)",
            case.display()
        );
        check(&case, "evtx", &run(&common::case_inputs(&case, "evtx")));
    }
}

#[test]
fn xml_and_evtx_of_a_case_are_one_event_each() {
    let case = common::root().join("fixtures/seed-001");
    let both = run(std::slice::from_ref(&case));
    let xml = run(&common::files(&case, "xml"));
    assert_eq!(
        both.timeline.len(),
        xml.timeline.len(),
        "duplicates were not merged"
    );
    assert_eq!(
        both.records(),
        2 * xml.records(),
        "every copy is counted as read"
    );
}

#[test]
fn the_medium_form_asks_for_the_missing_log() {
    let case = common::root().join("fixtures/seed-001-no-link");
    let analysis = run(&[case]);
    let finding = &analysis.findings[0];
    // The link's log, and the host's configuration (the case has none).
    assert_eq!(finding.missing.len(), 2, "{:?}", finding.missing);
    assert!(
        finding.missing[0].contains("HV01's whole System log"),
        "{}",
        finding.missing[0]
    );
}

#[test]
fn the_seed_001_finding_names_the_cause_and_fix_of_seed_001() {
    let analysis = run(&[common::root().join("fixtures/seed-001")]);
    let f = &analysis.findings[0];
    assert!(
        f.cause
            .contains("only network path to the domain controller"),
        "{}",
        f.cause
    );
    assert!(
        f.cause
            .contains("Intel(R) Ethernet Server Adapter I350-T2 #2"),
        "{}",
        f.cause
    );
    assert!(
        f.fix[0].contains("second network path to the domain controller"),
        "{:?}",
        f.fix
    );
    for words in [
        "Static routes with metrics",
        "usually stays up when its physical uplink loses link",
        "a DNS server are both reachable",
        "Switch Embedded Teaming",
        "dedicated management network",
        "is not a fix",
        "nltest /sc_query:CONTOSO",
        "Test-ComputerSecureChannel",
    ] {
        assert!(
            f.fix.iter().any(|s| s.contains(words)),
            "{words}: {:?}",
            f.fix
        );
    }
    let signals: Vec<&str> = f
        .evidence
        .iter()
        .map(|&i| analysis.timeline[i].name.as_str())
        .collect();
    for needed in [
        "nic_link_down",
        "dc_unreachable",
        "cno_logon_token_failed",
        "migration_failed",
    ] {
        assert!(
            signals.contains(&needed),
            "evidence lacks {needed}: {signals:?}"
        );
    }
}

#[test]
fn every_committed_evtx_is_what_the_writer_makes_of_its_xml() {
    for case in common::cases() {
        for xml in common::files(&case, "xml") {
            let evtx = xml.with_extension("evtx");
            let written =
                hvtriage::evtx_write::write_evtx(&std::fs::read_to_string(&xml).unwrap()).unwrap();
            let committed = std::fs::read(&evtx).unwrap_or_default();
            assert!(
                written == committed,
                "{} is stale: run bash scripts/fixtures.sh",
                evtx.display()
            );
        }
    }
}

#[test]
fn every_rule_passes_its_own_fixtures() {
    // `hvtriage rules test` from the repository root: rule fixtures are relative to rules/.
    std::env::set_current_dir(common::root()).unwrap();
    let rules = RuleSet::builtin().unwrap();
    let outcomes = hvtriage::rules::proof::run(&rules, |_| true);
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure
                .as_ref()
                .map(|f| format!("{} on {}: {f}", o.rule, o.case.display()))
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for rule in &rules.rules {
        let fixtures = &rule.fixtures;
        assert!(
            fixtures.iter().any(|f| f.expect.is_some()),
            "{} has no positive fixture",
            rule.id
        );
        assert!(
            fixtures.iter().any(|f| f.expect.is_none()),
            "{} has no negative fixture",
            rule.id
        );
    }
}

#[test]
fn migrations_both_ways_give_the_offset_when_no_event_is_shared() {
    let case = common::root().join("fixtures/dc-outage-skewed");
    let rules = RuleSet::builtin().unwrap();
    let corrected = analyze(std::slice::from_ref(&case), &rules, &Options::default()).unwrap();
    let hv02 = corrected.hosts.iter().find(|h| h.key == "HV02").unwrap();
    // 12 minutes ahead; the two migrations took 21 s and 19 s, so 1 s is left over.
    assert!(
        (hv02.clock_offset_ms - 720_000).abs() <= 2_000,
        "{} {}",
        hv02.clock_offset_ms,
        hv02.clock_basis
    );
    assert!(
        hv02.clock_basis
            .contains("1 live migration(s) from HV01 and 1 back"),
        "{}",
        hv02.clock_basis
    );
    let rules_found = |a: &hvtriage::analysis::Analysis| -> Vec<String> {
        a.findings.iter().map(|f| f.rule.clone()).collect()
    };
    assert_eq!(rules_found(&corrected), ["dc-unreachable-cluster-wide"]);
    let raw = Options {
        correct_clocks: false,
        ..Options::default()
    };
    let uncorrected = analyze(&[case], &rules, &raw).unwrap();
    assert_eq!(
        rules_found(&uncorrected),
        ["shared-nic-only-dc-path"],
        "without the correction the outage looks like one host's"
    );
}

#[test]
fn a_host_seven_minutes_slow_is_corrected_and_the_finding_needs_the_correction() {
    let case = common::root().join("fixtures/second-path-skewed");
    let rules = RuleSet::builtin().unwrap();
    let corrected = analyze(std::slice::from_ref(&case), &rules, &Options::default()).unwrap();
    let hv02 = corrected.hosts.iter().find(|h| h.key == "HV02").unwrap();
    assert_eq!(hv02.clock_offset_ms, -420_000, "{}", hv02.clock_basis);
    assert!(hv02.clock_basis.contains("HV01"), "{}", hv02.clock_basis);
    assert_eq!(
        corrected
            .hosts
            .iter()
            .find(|h| h.key == "HV01")
            .unwrap()
            .clock_basis,
        "reference"
    );
    assert!(corrected
        .findings
        .iter()
        .any(|f| f.rule == "protected-network-move"));
    let raw = Options {
        correct_clocks: false,
        ..Options::default()
    };
    let uncorrected = analyze(&[case], &rules, &raw).unwrap();
    assert!(
        uncorrected
            .findings
            .iter()
            .all(|f| f.rule != "protected-network-move"),
        "found without the correction"
    );
}

#[test]
fn a_clock_the_time_service_could_not_keep_is_evidence_of_the_skew() {
    let analysis = run(&[common::root().join("fixtures/kerberos-clock-skew")]);
    let f = analysis
        .findings
        .iter()
        .find(|f| f.rule == "kerberos-clock-skew")
        .unwrap();
    let hosts_signals: Vec<(&str, &str)> = f
        .evidence
        .iter()
        .map(|&i| {
            (
                analysis.timeline[i].host.as_str(),
                analysis.timeline[i].name.as_str(),
            )
        })
        .collect();
    assert!(
        hosts_signals.contains(&("HV02", "time_not_synchronized")),
        "{hosts_signals:?}"
    );
}
