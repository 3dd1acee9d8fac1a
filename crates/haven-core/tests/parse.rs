//! Scenario files (SPEC section 4): what parses into which model, and which
//! line and message every kind of bad input gets.

use haven_core::model::{
    Adapter, Detection, MigrationAuth, Network, Nic, Priority, Settings, StepAction, Switch,
};
use haven_core::parse::{load_scenario, parse_scenario, InputError};

/// The example of SPEC section 4, verbatim.
const SPEC_EXAMPLE: &str = r#"name = "figure-1"

[settings]
max_concurrent_migrations = 2
detection = "event"

[[network]]
name = "Mgmt"
control = true
authority = true
[[network]]
name = "Private"
migration = true
[[network]]
name = "Corp"

[[node]]
name = "A"
memory_mb = 65536
nics = [
  { name = "eth0", network = "Mgmt" },
  { name = "eth1", network = "Corp" },
  { name = "eth2", network = "Private" },
  # a bond: { name = "bond0", network = "Corp", members = ["eth3", "eth4"] }
]
switches = [ { name = "Corp", uplink = "eth1", share_with_host = false } ]

[[vm]]
name = "VM1"
node = "A"
memory_mb = 4096
priority = "medium"          # high | medium | low
# migration_s = 30           # simulator: exact migration duration, overrides bandwidth
adapters = [ { switch = "Corp", mac = "00155D867239", protected = true } ]

[[step]]
at = "10s"
action = "link_down"         # link_down | link_up  (node, nic; a bond member is a nic too)
node = "A"
nic = "eth1"
# action = "set_protected"   (vm, switch, protected)
# action = "node_down" | "node_up"   (node)
"#;

/// A valid two-node cluster that error tests extend; `A` has a bond.
const BASE: &str = r#"[[network]]
name = "Corp"
[[network]]
name = "Live"
migration = true

[[node]]
name = "A"
memory_mb = 16384
nics = [
  { name = "eth0", network = "Live" },
  { name = "bond0", network = "Corp", members = ["eth3", "eth4"] },
]
switches = [ { name = "Corp", uplink = "bond0" } ]

[[node]]
name = "B"
memory_mb = 16384
nics = [ { name = "eth0", network = "Live" }, { name = "eth1", network = "Corp" } ]
switches = [ { name = "Corp", uplink = "eth1" }, { name = "Lab", uplink = "eth1" } ]

[[vm]]
name = "VM1"
node = "A"
memory_mb = 4096
adapters = [ { switch = "Corp", mac = "00155D000001" } ]
"#;

/// The 1-based line of the first line of `text` containing `marker`.
fn line_of(text: &str, marker: &str) -> usize {
    let found = text.lines().position(|line| line.contains(marker));
    found.unwrap_or_else(|| panic!("marker {marker:?} not in the text")) + 1
}

fn refused(text: &str) -> InputError {
    match parse_scenario("test.toml", text) {
        Ok(scenario) => panic!("accepted bad input:\n{text}\nas {scenario:#?}"),
        Err(error) => error,
    }
}

/// Asserts that `text` is refused at the line marked `# <--` with a message
/// containing every one of `parts`.
fn assert_refused(text: &str, parts: &[&str]) {
    let error = refused(text);
    assert_eq!(error.line, Some(line_of(text, "# <--")), "{error}");
    for part in parts {
        assert!(error.message.contains(part), "{error}\nlacks: {part}");
    }
    assert!(!error.message.contains('\n'), "one line: {error}");
}

fn flags(network: &Network) -> (&str, bool, bool, bool) {
    let n = network;
    (n.name.as_str(), n.control, n.migration, n.authority)
}

fn with_base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

// ---------------------------------------------------------------- accepted

#[test]
fn parses_the_spec_example() {
    let scenario = parse_scenario("examples/figure-1.toml", SPEC_EXAMPLE).unwrap();
    assert_eq!(scenario.name, "figure-1");
    let cluster = &scenario.cluster;
    assert_eq!(cluster.settings, Settings::default());
    let networks: Vec<_> = cluster.networks.iter().map(flags).collect();
    assert_eq!(
        networks,
        [
            ("Mgmt", true, false, true),
            ("Private", false, true, false),
            ("Corp", false, false, false)
        ]
    );
    let node = &cluster.nodes[0];
    assert_eq!((node.name.as_str(), node.memory_mb), ("A", 65536));
    let nics: Vec<_> = node
        .nics
        .iter()
        .map(|n| (&n.name[..], &n.network[..]))
        .collect();
    assert_eq!(
        nics,
        [("eth0", "Mgmt"), ("eth1", "Corp"), ("eth2", "Private")]
    );
    assert!(node.nics.iter().all(|n| !n.is_bond()));
    let corp = Switch {
        name: "Corp".into(),
        uplink: "eth1".into(),
        share_with_host: false,
    };
    assert_eq!(node.switches, [corp]);
    let vm = &cluster.vms[0];
    assert_eq!(
        (vm.name.as_str(), vm.node.as_str(), vm.memory_mb),
        ("VM1", "A", 4096)
    );
    assert_eq!((vm.priority, vm.migration_ms), (Priority::Medium, None));
    let adapter = Adapter {
        switch: "Corp".into(),
        mac: "00155D867239".into(),
        protected: true,
    };
    assert_eq!(vm.adapters, [adapter]);
    assert_eq!(scenario.steps.len(), 1);
    let step = &scenario.steps[0];
    assert_eq!(
        (step.at_ms, step.line),
        (10_000, line_of(SPEC_EXAMPLE, "[[step]]"))
    );
    let down = StepAction::LinkDown {
        node: "A".into(),
        nic: "eth1".into(),
    };
    assert_eq!(step.action, down);
}

#[test]
fn name_defaults_to_the_file_stem() {
    let text = SPEC_EXAMPLE.replacen("name = \"figure-1\"\n", "", 1);
    let scenario = parse_scenario("examples/figure-2.toml", &text).unwrap();
    assert_eq!(scenario.name, "figure-2");
}

#[test]
fn settings_take_every_time_form() {
    let text = with_base(
        r#"
[settings]
max_concurrent_migrations = 4
detection = "poll"
poll_interval_s = 30
hold_down_ms = "1.5s"
migration_auth = "authority"
retry_backoff_s = "2m"
retry_max = 5
migration_bandwidth_mbps = 1000
"#,
    );
    let settings = parse_scenario("t.toml", &text).unwrap().cluster.settings;
    let expected = Settings {
        max_concurrent_migrations: 4,
        detection: Detection::Poll,
        poll_interval_ms: 30_000,
        hold_down_ms: 1_500,
        migration_auth: MigrationAuth::Authority,
        retry_backoff_ms: 120_000,
        retry_max: 5,
        migration_bandwidth_mbps: 1000,
        reroute_mid_flight: true,
    };
    assert_eq!(settings, expected);
    let text = with_base("[settings]\nhold_down_ms = 250\npoll_interval_s = \"500ms\"\n");
    let settings = parse_scenario("t.toml", &text).unwrap().cluster.settings;
    assert_eq!(
        (settings.hold_down_ms, settings.poll_interval_ms),
        (250, 500)
    );
}

#[test]
fn vms_take_defaults_and_normalised_macs() {
    let text = with_base(
        r#"
[[vm]]
name = "VM2"
node = "B"
memory_mb = 2048
priority = "high"
migration_s = 12.5
adapters = [
  { switch = "Corp", mac = "00:15:5d:00:00:02", protected = false },
  { switch = "Lab", mac = "00-15-5D-00-00-03" },
]
[[vm]]
name = "VM3"
node = "B"
memory_mb = 1024
priority = "low"
migration_s = "1m"
[[vm]]
name = "VM4"
node = "B"
memory_mb = 1024
migration_s = 30
"#,
    );
    let vms = parse_scenario("t.toml", &text).unwrap().cluster.vms;
    let adapters: Vec<_> = vms[1]
        .adapters
        .iter()
        .map(|a| (&a.mac[..], a.protected))
        .collect();
    assert_eq!(adapters, [("00155D000002", false), ("00155D000003", true)]);
    let got: Vec<_> = vms.iter().map(|v| (v.priority, v.migration_ms)).collect();
    let expected = [
        (Priority::Medium, None),
        (Priority::High, Some(12_500)),
        (Priority::Low, Some(60_000)),
        (Priority::Medium, Some(30_000)),
    ];
    assert_eq!(got, expected);
}

#[test]
fn bonds_keep_their_members() {
    let scenario = parse_scenario("t.toml", BASE).unwrap();
    let bond = Nic {
        name: "bond0".into(),
        network: "Corp".into(),
        members: vec!["eth3".into(), "eth4".into()],
    };
    assert_eq!(scenario.cluster.nodes[0].nics[1], bond);
    assert!(scenario.cluster.nodes[0].nics[1].is_bond());
}

#[test]
fn steps_are_sorted_by_time_stable() {
    let text = with_base(
        r#"
[[step]]
at = "2m"
action = "node_down"
node = "B"
[[step]]
at = 1500
action = "link_down"
node = "A"
nic = "eth3"
[[step]]
at = "1.5s"
action = "link_down"
node = "A"
nic = "bond0"
[[step]]
at = "500ms"
action = "set_protected"
vm = "VM1"
switch = "Corp"
protected = false
[[step]]
at = "10s"
action = "link_up"
node = "A"
nic = "eth3"
[[step]]
at = "1h"
action = "node_up"
node = "B"
"#,
    );
    let steps = parse_scenario("t.toml", &text).unwrap().steps;
    let times: Vec<_> = steps.iter().map(|s| s.at_ms).collect();
    assert_eq!(times, [500, 1_500, 1_500, 10_000, 120_000, 3_600_000]);
    // Equal times keep file order: the `1500` step comes before `"1.5s"`.
    let link = |nic: &str| StepAction::LinkDown {
        node: "A".into(),
        nic: nic.into(),
    };
    assert_eq!(
        (&steps[1].action, &steps[2].action),
        (&link("eth3"), &link("bond0"))
    );
    assert!(steps[1].line < steps[2].line);
    let protect = StepAction::SetProtected {
        vm: "VM1".into(),
        switch: "Corp".into(),
        protected: false,
    };
    assert_eq!(steps[0].action, protect);
    assert_eq!(steps[4].action, StepAction::NodeDown { node: "B".into() });
    assert_eq!(steps[5].action, StepAction::NodeUp { node: "B".into() });
    assert_eq!(steps[4].line, line_of(&text, "[[step]]"));
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("haven-parse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("from-disk.toml");
    std::fs::write(&path, BASE).unwrap();
    assert_eq!(load_scenario(&path).unwrap().name, "from-disk");
    std::fs::write(&path, format!("{BASE}\n[[vm]]\nnmae = 1\n")).unwrap();
    let error = load_scenario(&path).unwrap_err();
    assert_eq!(error.file, path.display().to_string());
    std::fs::write(&path, b"name = \"\xff\"\n").unwrap();
    assert_eq!(load_scenario(&path).unwrap_err().line, Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
    let error = load_scenario(&dir.join("missing.toml")).unwrap_err();
    assert_eq!(error.line, None);
    assert!(error.message.contains("cannot open the file"), "{error}");
}

/// Deep nesting hits toml's recursion limit, not the end of the stack.
#[test]
fn refuses_deep_nesting_without_overflow() {
    let text = format!("x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(refused(&text).message.starts_with("not a valid TOML file"));
}

/// No prefix of a valid file may panic the parser, whatever it is.
#[test]
fn never_panics_on_truncated_input() {
    for text in [SPEC_EXAMPLE, BASE] {
        for end in (0..text.len()).filter(|&end| text.is_char_boundary(end)) {
            let _ = parse_scenario("t.toml", &text[..end]);
        }
    }
}

// ---------------------------------------------------------------- refused

#[test]
fn display_is_file_line_message() {
    let error = refused("[[node]\n");
    assert_eq!(error.to_string(), format!("test.toml:1: {}", error.message));
}

#[test]
fn refuses_non_toml() {
    assert_refused("#!/bin/sh\necho hello # <--\n", &["not a valid TOML file"]);
    assert_refused(
        "[[node]] \nname = \"A\"\n[[node] # <--\nname = \"B\"\n",
        &["not a valid TOML file", "invalid table header"],
    );
    assert_refused(
        "x = 1\nx = 2 # <--\n",
        &["not a valid TOML file", "duplicate key"],
    );
}

#[test]
fn refuses_dotted_keys_and_dates_plainly() {
    let text = format!("settings.detection = \"poll\" # <--\n{BASE}");
    assert_refused(&text, &["unsupported TOML", "dotted keys"]);
    assert_refused(
        "when = 1979-05-27T07:32:00Z # <--\n",
        &["unsupported TOML", "dates"],
    );
}

#[test]
fn refuses_unknown_keys_with_a_suggestion() {
    let vm = "\n[[vm]]\nnmae = \"VM2\" # <--\nnode = \"A\"\nmemory_mb = 1\n";
    assert_refused(
        &with_base(vm),
        &[
            "unknown key `nmae` in [[vm]]",
            "expected one of: name, node, memory_mb",
            "(did you mean `name`?)",
        ],
    );
    let nic = with_base(
        "\n[[node]]\nname = \"C\"\nmemory_mb = 1\nnics = [ { name = \"eth0\", netwrk = \"Corp\" } ] # <--\n",
    );
    assert_refused(
        &nic,
        &[
            "unknown key `netwrk` in NIC `eth0` of [[node]] `C`",
            "(did you mean `network`?)",
        ],
    );
    assert_refused(
        &with_base("\n[[nodes]] # <--\nname = \"C\"\n"),
        &[
            "unknown key `nodes` in the top-level table",
            "(did you mean `node`?)",
        ],
    );
    assert_refused(
        &with_base("\n[settings]\nretry_maxx = 3 # <--\n"),
        &[
            "unknown key `retry_maxx` in [settings]",
            "(did you mean `retry_max`?)",
        ],
    );
}

#[test]
fn refuses_keys_of_another_action() {
    let step = "\n[[step]]\nat = 0\naction = \"link_down\"\nnode = \"A\"\nnic = \"eth0\"\nvm = \"VM1\" # <--\n";
    assert_refused(
        &with_base(step),
        &[
            "key `vm` does not belong to a `link_down` step",
            "at, action, node, nic",
        ],
    );
}

#[test]
fn refuses_missing_required_keys() {
    assert_refused(
        &with_base("\n[[vm]] # <--\nname = \"VM2\"\nmemory_mb = 1024\n"),
        &["missing required key `node` in [[vm]] `VM2`"],
    );
    assert_refused(
        &with_base("\n[[step]] # <--\nat = 0\naction = \"link_down\"\nnode = \"A\"\n"),
        &["missing required key `nic` in [[step]]"],
    );
}

#[test]
fn refuses_wrong_types() {
    let vm = "\n[[vm]]\nname = \"VM2\"\nnode = \"A\"\nmemory_mb = \"lots\" # <--\n";
    assert_refused(
        &with_base(vm),
        &["`memory_mb` in [[vm]] `VM2` must be an integer of at least 1, found \"lots\""],
    );
    assert_refused(
        &with_base("\n[[network]]\nname = \"X\"\ncontrol = \"yes\" # <--\n"),
        &["`control` in [[network]] `X` must be true or false"],
    );
    assert_refused(
        &with_base("\n[[network]]\nname = \"\" # <--\n"),
        &["`name` in [[network]]", "must be a non-empty string"],
    );
}

#[test]
fn refuses_unknown_network_in_a_nic() {
    let node = "\n[[node]]\nname = \"C\"\nmemory_mb = 1\nnics = [ { name = \"eth0\", network = \"Crop\" } ] # <--\n";
    assert_refused(
        &with_base(node),
        &[
            "NIC `eth0` of node `C` is on unknown network `Crop`",
            "(did you mean `Corp`?)",
        ],
    );
}

#[test]
fn refuses_unknown_nodes() {
    // Equal but for case: the likeliest typo of all.
    let vm = "\n[[vm]]\nname = \"VM2\"\nnode = \"a\" # <--\nmemory_mb = 1\n";
    assert_refused(
        &with_base(vm),
        &[
            "VM `VM2` is on unknown node `a`",
            "use one of: A, B (did you mean `A`?)",
        ],
    );
    let step = "\n[[step]]\nat = 0\naction = \"node_down\"\nnode = \"C\" # <--\n";
    assert_refused(
        &with_base(step),
        &["unknown node `C` in a `node_down` step"],
    );
}

#[test]
fn refuses_an_adapter_on_a_switch_its_node_lacks() {
    // `Lab` exists, but only on node B.
    let vm = "\n[[vm]]\nname = \"VM2\"\nnode = \"A\"\nmemory_mb = 1\nadapters = [ { switch = \"Lab\", mac = \"00155D000002\" } ] # <--\n";
    assert_refused(
        &with_base(vm),
        &[
            "VM `VM2` has an adapter on switch `Lab`, which its node `A` does not have",
            "Corp",
        ],
    );
}

#[test]
fn refuses_bad_uplinks() {
    let node = "\n[[node]]\nname = \"C\"\nmemory_mb = 1\nnics = [ { name = \"eth0\", network = \"Corp\" } ]\nswitches = [ { name = \"Corp\", uplink = \"eth9\" } ] # <--\n";
    assert_refused(
        &with_base(node),
        &[
            "switch `Corp` of node `C` has unknown uplink `eth9`",
            "use one of: eth0",
        ],
    );
    let member = BASE.replace("uplink = \"bond0\" } ]", "uplink = \"eth3\" } ] # <--");
    assert_refused(
        &member,
        &[
            "uplink `eth3`, a member of bond `bond0`",
            "use the bond `bond0`",
        ],
    );
}

#[test]
fn refuses_unknown_nics_in_link_steps() {
    let step = "\n[[step]]\nat = 0\naction = \"link_up\"\nnode = \"A\"\nnic = \"eth5\" # <--\n";
    assert_refused(
        &with_base(step),
        &[
            "node `A` has no NIC, bond or bond member `eth5`",
            "eth0, bond0, eth3, eth4",
        ],
    );
    // eth5 is as close to eth0 as to eth3 and eth4: no guess.
    assert!(!refused(&with_base(step)).message.contains("did you mean"));
}

#[test]
fn refuses_bad_set_protected_steps() {
    let head = "\n[[step]]\nat = 0\naction = \"set_protected\"\nprotected = false\n";
    let vm = format!("{head}vm = \"VM9\" # <--\nswitch = \"Corp\"\n");
    assert_refused(
        &with_base(&vm),
        &["unknown VM `VM9` in a `set_protected` step"],
    );
    let switch = format!("{head}vm = \"VM1\"\nswitch = \"Lab\" # <--\n");
    assert_refused(
        &with_base(&switch),
        &[
            "VM `VM1` has no adapter on switch `Lab`",
            "use one of: Corp",
        ],
    );
}

#[test]
fn refuses_duplicate_names() {
    assert_refused(
        &with_base("\n[[network]]\nname = \"Corp\" # <--\n"),
        &["duplicate network name `Corp` (first defined on line 2)"],
    );
    assert_refused(
        &with_base("\n[[node]]\nname = \"B\" # <--\nmemory_mb = 1\n"),
        &["duplicate node name `B` (first defined on line 17)"],
    );
    assert_refused(
        &with_base("\n[[vm]]\nname = \"VM1\" # <--\nnode = \"B\"\nmemory_mb = 1\n"),
        &["duplicate VM name `VM1`"],
    );
    let switches = "\n[[node]]\nname = \"C\"\nmemory_mb = 1\nnics = [ { name = \"eth0\", network = \"Corp\" } ]\nswitches = [\n { name = \"S\", uplink = \"eth0\" },\n { name = \"S\", uplink = \"eth0\" }, # <--\n]\n";
    assert_refused(
        &with_base(switches),
        &["duplicate switch name `S`", "node `C`"],
    );
}

#[test]
fn refuses_duplicate_nic_names_bond_members_included() {
    let nics = "\n[[node]]\nname = \"C\"\nmemory_mb = 1\nnics = [\n { name = \"eth0\", network = \"Corp\" },\n { name = \"eth0\", network = \"Live\" }, # <--\n]\n";
    assert_refused(&with_base(nics), &["duplicate NIC name `eth0` in node `C`"]);
    let member = BASE
        .replace(
            "{ name = \"eth0\", network = \"Live\" },\n",
            "{ name = \"eth3\", network = \"Live\" },\n",
        )
        .replace("[\"eth3\", \"eth4\"] },", "[\"eth3\", \"eth4\"] }, # <--");
    assert_refused(&member, &["duplicate NIC name `eth3` in node `A`"]);
}

#[test]
fn refuses_a_bond_member_listed_twice() {
    let once = BASE.replace("[\"eth3\", \"eth4\"] },", "[\"eth3\", \"eth3\"] }, # <--");
    assert_refused(&once, &["port `eth3` is already a member of bond `bond0`"]);
    let two = BASE.replace(
        "members = [\"eth3\", \"eth4\"] },",
        "members = [\"eth3\", \"eth4\"] },\n  { name = \"bond1\", network = \"Corp\", members = [\"eth4\"] }, # <--",
    );
    assert_refused(&two, &["port `eth4` is already a member of bond `bond0`"]);
}

#[test]
fn refuses_duplicate_macs_in_any_form() {
    let vm = "\n[[vm]]\nname = \"VM2\"\nnode = \"B\"\nmemory_mb = 1\nadapters = [ { switch = \"Corp\", mac = \"00:15:5d:00:00:01\" } ] # <--\n";
    assert_refused(
        &with_base(vm),
        &["MAC `00155D000001` is already used by VM `VM1`"],
    );
}

#[test]
fn refuses_malformed_times() {
    for bad in ["\"10 sec\"", "\"-5s\"", "\"s\"", "\"1.5.0s\"", "-5", "2.5"] {
        let step = format!("\n[[step]]\nat = {bad} # <--\naction = \"node_down\"\nnode = \"A\"\n");
        let shown = bad.trim_matches('"');
        assert_refused(
            &with_base(&step),
            &[
                "`at` in [[step]] is not a valid time",
                shown,
                "\"500ms\", \"10s\"",
                "an integer of milliseconds",
            ],
        );
    }
    assert_refused(
        &with_base("\n[settings]\nretry_backoff_s = \"10 s\" # <--\n"),
        &[
            "`retry_backoff_s` in [settings] is not a valid time",
            "an integer of seconds",
        ],
    );
    assert_refused(
        &with_base("\n[settings]\npoll_interval_s = 0 # <--\n"),
        &["`poll_interval_s` in [settings] must be more than zero"],
    );
}

#[test]
fn refuses_bad_enum_values() {
    assert_refused(
        &with_base("\n[settings]\ndetection = \"polling\" # <--\n"),
        &["`detection` in [settings] is \"polling\"; expected one of: event, poll (did you mean `poll`?)"],
    );
    let vm = "\n[[vm]]\nname = \"VM2\"\nnode = \"A\"\nmemory_mb = 1\npriority = \"urgent\" # <--\n";
    assert_refused(
        &with_base(vm),
        &["`priority` in [[vm]] `VM2` is \"urgent\"; expected one of: high, medium, low"],
    );
    let step = "\n[[step]]\nat = 0\naction = \"link_dwon\" # <--\nnode = \"A\"\nnic = \"eth0\"\n";
    assert_refused(
        &with_base(step),
        &[
            "`action` in [[step]] is \"link_dwon\"",
            "(did you mean `link_down`?)",
        ],
    );
}

#[test]
fn refuses_malformed_macs() {
    for bad in [
        "00155D00000",
        "00:15:5D:00:00",
        "00155D00000G",
        "00:15-5D:00:00:02",
        "0015.5D00.0002",
    ] {
        let vm = format!(
            "\n[[vm]]\nname = \"VM2\"\nnode = \"A\"\nmemory_mb = 1\nadapters = [ {{ switch = \"Corp\", mac = \"{bad}\" }} ] # <--\n"
        );
        assert_refused(
            &with_base(&vm),
            &[
                "`mac` in adapter 1 of [[vm]] `VM2` is not a MAC address",
                bad,
            ],
        );
    }
    let multicast = "\n[[vm]]\nname = \"VM2\"\nnode = \"A\"\nmemory_mb = 1\nadapters = [ { switch = \"Corp\", mac = \"01005E000001\" } ] # <--\n";
    assert_refused(&with_base(multicast), &["not a unicast address"]);
}

#[test]
fn refuses_zero_counts() {
    assert_refused(
        &with_base("\n[settings]\nmax_concurrent_migrations = 0 # <--\n"),
        &[
            "`max_concurrent_migrations` in [settings] must be an integer from 1",
            "found 0",
        ],
    );
}

#[test]
fn refuses_vms_that_overflow_their_node() {
    // A has 16384 MiB and VM1 takes 4096; VM2 still fits, VM3 does not.
    let vms = "\n[[vm]]\nname = \"VM2\"\nnode = \"A\"\nmemory_mb = 8192\n[[vm]]\nname = \"VM3\"\nnode = \"A\"\nmemory_mb = 8192 # <--\n[[vm]]\nname = \"VM4\"\nnode = \"A\"\nmemory_mb = 1\n";
    assert_refused(
        &with_base(vms),
        &[
            "VM `VM3` does not fit on node `A`",
            "20480 MiB of its 16384 MiB",
        ],
    );
}

#[test]
fn refuses_a_cluster_without_nodes() {
    assert_refused(
        "# <--\n[[network]]\nname = \"Corp\"\n",
        &["the cluster has no nodes"],
    );
    assert_eq!(refused("").line, Some(1));
}

#[test]
fn reports_the_first_problem_in_file_order() {
    // A reference error (checked last) on line 3 comes before a duplicate
    // name (checked first) further down.
    let text = format!(
        "[[vm]]\nname = \"VM0\"\nnode = \"Z\" # <--\nmemory_mb = 1\n{}",
        with_base("\n[[network]]\nname = \"Corp\"\n")
    );
    assert_refused(&text, &["unknown node `Z`"]);
    // Shape problems in two tables: the earlier one, whichever table it is.
    let text = format!(
        "[[vm]]\nname = \"VM0\"\nnode = \"A\"\nmemory_mb = 0 # <--\n{}",
        with_base("\n[[network]]\nnmae = \"X\"\n")
    );
    assert_refused(&text, &["`memory_mb` in [[vm]] `VM0`"]);
}
