//! Bad input through the binary: one clear sentence naming the file and
//! line, exit status 2, no panic, nothing printed on stdout.

mod common;

use common::haven;
use std::path::PathBuf;

/// A scenario file in a directory of its own, removed on drop (also when
/// the test fails).
struct TempScenario {
    dir: PathBuf,
    path: PathBuf,
}

impl TempScenario {
    fn new(name: &str, text: &str) -> TempScenario {
        let dir = std::env::temp_dir().join(format!("haven-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        TempScenario { dir, path }
    }
}

impl Drop for TempScenario {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn figure_1() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/figure-1.toml");
    std::fs::read_to_string(path).unwrap()
}

/// Runs `simulate` on `text` and returns stderr, asserting exit status 2.
fn refused(name: &str, text: &str) -> String {
    let file = TempScenario::new(name, text);
    let out = haven(&["simulate", file.path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    assert!(!err.contains("panicked"));
    err
}

#[test]
fn unknown_network_names_file_line_and_suggestion() {
    let err = refused(
        "net.toml",
        &figure_1().replace("network = \"Corp\" }", "network = \"Crop\" }"),
    );
    assert!(err.starts_with("haven: "), "{err}");
    assert!(err.contains("net.toml:29:"), "{err}");
    assert!(
        err.contains("unknown network `Crop`") && err.contains("did you mean `Corp`?"),
        "{err}"
    );
}

#[test]
fn unknown_node_in_a_step() {
    let text = figure_1().replace(
        "node = \"A\"\nnic = \"eth1\"",
        "node = \"Z\"\nnic = \"eth1\"",
    );
    let err = refused("node.toml", &text);
    assert!(
        err.contains("node.toml:55:") && err.contains("`Z`"),
        "{err}"
    );
}

#[test]
fn unknown_nic_in_a_step() {
    let err = refused(
        "nic.toml",
        &figure_1().replace("nic = \"eth1\"", "nic = \"eth7\""),
    );
    assert!(
        err.contains("nic.toml:56:") && err.contains("eth7"),
        "{err}"
    );
}

#[test]
fn unknown_switch_in_an_adapter() {
    let err = refused(
        "sw.toml",
        &figure_1().replace("switch = \"Corp\", mac", "switch = \"Corpp\", mac"),
    );
    assert!(
        err.contains("sw.toml:49:") && err.contains("did you mean `Corp`?"),
        "{err}"
    );
}

#[test]
fn duplicate_vm_names_and_macs() {
    let vm = "\n[[vm]]\nname = \"VM1\"\nnode = \"B\"\nmemory_mb = 1024\n\
              adapters = [ { switch = \"Corp\", mac = \"00155D867240\" } ]\n";
    let err = refused("dupvm.toml", &(figure_1() + vm));
    assert!(err.contains("VM1") && err.contains("dupvm.toml:"), "{err}");
    let vm = "\n[[vm]]\nname = \"VM2\"\nnode = \"B\"\nmemory_mb = 1024\n\
              adapters = [ { switch = \"Corp\", mac = \"00:15:5d:86:72:39\" } ]\n";
    let err = refused("dupmac.toml", &(figure_1() + vm));
    assert!(err.contains("VM1") && err.contains("00155D867239"), "{err}");
}

#[test]
fn bond_member_listed_twice() {
    let text = figure_1().replace(
        "{ name = \"eth2\", network = \"Private\" },\n]\nswitches = [ { name = \"Corp\", uplink = \"eth1\", share_with_host = false } ]\n\n[[node]]\nname = \"B\"",
        "{ name = \"eth2\", network = \"Private\" },\n  { name = \"bond0\", network = \"Corp\", members = [\"eth3\", \"eth3\"] },\n]\nswitches = [ { name = \"Corp\", uplink = \"eth1\", share_with_host = false } ]\n\n[[node]]\nname = \"B\"",
    );
    assert_ne!(text, figure_1(), "the replacement applied");
    let err = refused("bond.toml", &text);
    assert!(
        err.contains("bond.toml:31:") && err.contains("eth3"),
        "{err}"
    );
}

#[test]
fn malformed_time() {
    let err = refused(
        "time.toml",
        &figure_1().replace("at = \"10s\"", "at = \"10 sec\""),
    );
    assert!(
        err.contains("time.toml:53:") && err.contains("\"500ms\""),
        "{err}"
    );
}

#[test]
fn unknown_key_is_an_error_not_ignored() {
    let err = refused(
        "key.toml",
        &figure_1().replace("memory_mb = 4096", "memory_mb = 4096\nmemroy_mb = 1"),
    );
    assert!(
        err.contains("key.toml:48:") && err.contains("did you mean `memory_mb`?"),
        "{err}"
    );
}

#[test]
fn not_toml_at_all() {
    let err = refused("script.toml", "#!/bin/sh\necho hello\n");
    assert!(
        err.contains("script.toml:2:") && err.contains("not a valid TOML file"),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let out = haven(&["simulate", "/nonexistent/haven.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/haven.toml") && err.contains("cannot open"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(haven(&["simulate"]).status.code(), Some(2));
    assert_eq!(
        haven(&["simulate", "x.toml", "--seed", "many"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(haven(&["frobnicate"]).status.code(), Some(2));
}

/// H12 sweep failures print a seed; `simulate --random --seed N` replays
/// the very scenario the sweep ran, with the same report.
#[test]
fn random_seed_replays_the_sweep_scenario() {
    let out = haven(&["simulate", "--random", "--seed", "42", "--json"]);
    assert!(out.status.success());
    let scenario = haven_sim::sweep::random_scenario(42);
    let report = haven_sim::simulate(&scenario, 42).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), report.to_json());
}

#[test]
fn a_time_longer_than_30_days_is_refused() {
    let err = refused(
        "long.toml",
        &figure_1().replace("at = \"10s\"", "at = \"800h\""),
    );
    assert!(
        err.contains("long.toml:53:") && err.contains("30 days"),
        "{err}"
    );
    let hold = figure_1().replace(
        "detection = \"event\"",
        "detection = \"event\"\nhold_down_ms = \"5124095576030h\"",
    );
    let err = refused("hold.toml", &hold);
    assert!(
        err.contains("hold_down_ms") && err.contains("30 days"),
        "{err}"
    );
}
