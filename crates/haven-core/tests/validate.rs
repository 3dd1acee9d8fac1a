//! Rules V1–V6 (SPEC section 6): for each, a small topology that triggers
//! it and one that does not.

use haven_core::parse::{parse_lenient, parse_scenario, Lenient};
use haven_core::validate::{dangling_findings, validate, Finding, Severity};
use std::path::PathBuf;

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn findings(text: &str) -> Vec<Finding> {
    let scenario = parse_scenario("t.toml", text).unwrap_or_else(|e| panic!("{e}"));
    validate(&scenario.cluster)
}

fn of_rule<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}

/// `nodes` as TOML: each `(name, memory, nics, switches)`.
fn topology(
    settings: &str,
    networks: &str,
    nodes: &[(&str, u64, &str, &str)],
    vms: &str,
) -> String {
    let mut s = format!("[settings]\n{settings}\n{networks}\n");
    for (name, memory, nics, switches) in nodes {
        s += &format!(
            "[[node]]\nname = \"{name}\"\nmemory_mb = {memory}\nnics = [ {nics} ]\nswitches = [ {switches} ]\n"
        );
    }
    s + vms
}

const NETS: &str = "[[network]]\nname = \"Mgmt\"\ncontrol = true\nauthority = true\n\
                    [[network]]\nname = \"Private\"\nmigration = true\n\
                    [[network]]\nname = \"Corp\"\n\
                    [[network]]\nname = \"Storage\"\n";
const NICS: &str =
    "{ name = \"eth0\", network = \"Mgmt\" }, { name = \"eth1\", network = \"Corp\" }, \
                    { name = \"eth2\", network = \"Private\" }";
const CORP: &str = "{ name = \"Corp\", uplink = \"eth1\" }";
const VM1: &str = "[[vm]]\nname = \"VM1\"\nnode = \"A\"\nmemory_mb = 4096\n\
                   adapters = [ { switch = \"Corp\", mac = \"00155D000001\" } ]\n";

#[test]
fn v1_seed_001_wiring_is_an_error_in_authority_mode_with_the_fix() {
    let all = findings(&example("seed-001-authority.toml"));
    let v1 = of_rule(&all, "V1");
    assert_eq!(v1.len(), 1, "{all:#?}");
    let f = v1[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.node.as_deref(), Some("A"));
    assert_eq!(f.nic.as_deref(), Some("eth0"));
    assert_eq!(f.switch.as_deref(), Some("Corp"));
    assert_eq!(f.vms, ["VM1"]);
    assert!(f.what.starts_with("if eth0 on A fails, VM1 loses Corp and A loses its only path to the authority network Corp"), "{}", f.what);
    assert!(
        f.fix.contains("not a switch uplink") && f.fix.contains("migration_auth = \"certificate\""),
        "{}",
        f.fix
    );
}

#[test]
fn v1_a_second_authority_path_clears_it() {
    let all = findings(&example("seed-001-second-path.toml"));
    assert!(of_rule(&all, "V1").is_empty(), "{all:#?}");
}

#[test]
fn v1_certificate_mode_is_only_info_unless_the_uplink_is_the_last_control_path() {
    let all = findings(&example("seed-001-certificate.toml"));
    let v1 = of_rule(&all, "V1");
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].severity, Severity::Info);
    // The shared NIC is also the only control path: a warning about it.
    let nets = "[[network]]\nname = \"Corp\"\ncontrol = true\nmigration = true\nauthority = true\n";
    let nic = "{ name = \"eth0\", network = \"Corp\" }";
    let shared = "{ name = \"Corp\", uplink = \"eth0\", share_with_host = true }";
    let text = topology(
        "",
        nets,
        &[("A", 65536, nic, shared), ("B", 65536, nic, shared)],
        VM1,
    );
    let all = findings(&text);
    let v1 = of_rule(&all, "V1");
    assert_eq!(v1.len(), 1, "{all:#?}");
    assert_eq!(v1[0].severity, Severity::Warning);
    assert!(v1[0].what.contains("only control path"), "{}", v1[0].what);
}

#[test]
fn v1_follows_from_the_model_not_from_names() {
    // The same seed-001 trap with every name changed.
    let nets = "[[network]]\nname = \"lan7\"\ncontrol = true\nauthority = true\n\
                [[network]]\nname = \"mig\"\nmigration = true\n";
    let nic = "{ name = \"p1\", network = \"lan7\" }, { name = \"p2\", network = \"mig\" }";
    let shared = "{ name = \"front\", uplink = \"p1\", share_with_host = true }";
    let vm = "[[vm]]\nname = \"db\"\nnode = \"h1\"\nmemory_mb = 1024\n\
              adapters = [ { switch = \"front\", mac = \"00155D000001\" } ]\n";
    let text = topology(
        "migration_auth = \"authority\"",
        nets,
        &[("h1", 65536, nic, shared), ("h2", 65536, nic, shared)],
        vm,
    );
    let all = findings(&text);
    let v1 = of_rule(&all, "V1");
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].severity, Severity::Error);
    assert_eq!(v1[0].vms, ["db"]);
    // An unshared uplink is not a host path: no V1.
    let unshared = text.replace("share_with_host = true", "share_with_host = false");
    let all = findings(&unshared);
    assert!(
        of_rule(&all, "V1")
            .iter()
            .all(|f| !f.what.starts_with("if p1")),
        "{all:#?}"
    );
}

#[test]
fn v2_a_protected_switch_no_other_node_has() {
    let storage_vm = "[[vm]]\nname = \"VM1\"\nnode = \"A\"\nmemory_mb = 4096\n\
                      adapters = [ { switch = \"Storage\", mac = \"00155D000001\" } ]\n";
    let storage_nic = format!("{NICS}, {{ name = \"eth3\", network = \"Storage\" }}");
    let storage = "{ name = \"Storage\", uplink = \"eth3\" }";
    let text = topology(
        "",
        NETS,
        &[
            ("A", 65536, &storage_nic, storage),
            ("B", 65536, NICS, CORP),
        ],
        storage_vm,
    );
    let all = findings(&text);
    let v2 = of_rule(&all, "V2");
    assert_eq!(v2.len(), 1, "{all:#?}");
    assert_eq!(
        (v2[0].severity, v2[0].switch.as_deref()),
        (Severity::Warning, Some("Storage"))
    );
    assert_eq!(v2[0].vms, ["VM1"]);
    let both = topology(
        "",
        NETS,
        &[
            ("A", 65536, &storage_nic, storage),
            ("B", 65536, &storage_nic, storage),
        ],
        storage_vm,
    );
    assert!(of_rule(&findings(&both), "V2").is_empty());
}

#[test]
fn v3_no_migration_network_or_a_single_control_path() {
    let no_private =
        "{ name = \"eth0\", network = \"Mgmt\" }, { name = \"eth1\", network = \"Corp\" }";
    let text = topology(
        "",
        NETS,
        &[("A", 65536, no_private, CORP), ("B", 65536, NICS, CORP)],
        VM1,
    );
    let all = findings(&text);
    let v3 = of_rule(&all, "V3");
    // A: no migration network (error) and Mgmt its only control path (warning).
    let on_a: Vec<_> = v3
        .iter()
        .filter(|f| f.node.as_deref() == Some("A"))
        .map(|f| f.severity)
        .collect();
    assert_eq!(on_a, [Severity::Error, Severity::Warning], "{all:#?}");
    assert!(v3.iter().all(|f| f.node.as_deref() == Some("A")));
    assert!(of_rule(&findings(&example("figure-1.toml")), "V3").is_empty());
}

#[test]
fn v4_a_single_nic_uplink_is_info_and_a_bond_does_not_trigger_it() {
    let all = findings(&example("figure-1.toml"));
    let v4 = of_rule(&all, "V4");
    assert_eq!(v4.len(), 2);
    assert!(v4
        .iter()
        .all(|f| f.severity == Severity::Info && f.nic.as_deref() == Some("eth1")));
    assert!(of_rule(&findings(&example("bond-absorbs-failure.toml")), "V4").is_empty());
}

#[test]
fn v5_a_vm_no_other_node_can_hold() {
    let big = VM1.replace("memory_mb = 4096", "memory_mb = 100000");
    let text = topology(
        "",
        NETS,
        &[("A", 131072, NICS, CORP), ("B", 65536, NICS, CORP)],
        &big,
    );
    let all = findings(&text);
    let v5 = of_rule(&all, "V5");
    assert_eq!(v5.len(), 1);
    assert_eq!(
        (v5[0].severity, v5[0].vms.clone()),
        (Severity::Warning, vec!["VM1".to_string()])
    );
    let fits = topology(
        "",
        NETS,
        &[("A", 131072, NICS, CORP), ("B", 131072, NICS, CORP)],
        &big,
    );
    assert!(of_rule(&findings(&fits), "V5").is_empty());
}

#[test]
fn v6_unknown_names_are_error_findings_with_their_line() {
    let bad = topology(
        "",
        NETS,
        &[("A", 65536, NICS, "{ name = \"Corp\", uplink = \"eth9\" }")],
        VM1,
    );
    let Lenient::Dangling(dangling) = parse_lenient("t.toml", &bad).unwrap() else {
        panic!("the unknown uplink was accepted");
    };
    let v6 = dangling_findings(&dangling);
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].rule, "V6");
    assert_eq!(v6[0].severity, Severity::Error);
    assert_eq!(
        v6[0].line,
        Some(bad.lines().position(|l| l.contains("eth9")).unwrap() + 1)
    );
    assert_eq!(v6[0].nic.as_deref(), Some("eth9"));
    assert!(
        v6[0].what.contains("unknown uplink `eth9`"),
        "{}",
        v6[0].what
    );
    // simulate refuses the same file outright.
    assert!(parse_scenario("t.toml", &bad).is_err());
    // A clean file has no dangling references.
    assert!(matches!(
        parse_lenient("t.toml", &example("figure-1.toml")).unwrap(),
        Lenient::Valid(_)
    ));
}

#[test]
fn figure_2_passes_with_only_info_findings() {
    let all = findings(&example("figure-2.toml"));
    assert!(!all.is_empty());
    assert!(all.iter().all(|f| f.severity == Severity::Info), "{all:#?}");
}

#[test]
fn v1_authority_mode_without_any_authority_network_is_an_error_on_every_node() {
    let nets = NETS.replace("authority = true\n", "");
    let text = topology(
        "migration_auth = \"authority\"",
        &nets,
        &[("A", 65536, NICS, CORP), ("B", 65536, NICS, CORP)],
        VM1,
    );
    let all = findings(&text);
    let v1 = of_rule(&all, "V1");
    assert_eq!(v1.len(), 2, "{all:#?}");
    assert!(v1
        .iter()
        .all(|f| f.severity == Severity::Error && f.what.contains("authority_unreachable")));
}
