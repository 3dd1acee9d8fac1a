//! `edit::set_protected` [S0.11]: it changes exactly the selected
//! `protected` values, every other byte of the text stays as it was, and a
//! filter that matches nothing changes nothing.

use haven_core::edit::{select, set_protected, AdapterChange, EditError};
use haven_core::parse::parse_scenario;

/// One node with three switches; VM1 has inline adapters (one without
/// `protected`, one with a comment after it), VM2 `[[vm.adapters]]` tables.
const TEXT: &str = r#"# The cluster of [S0.11].
[[network]]
name = "Corp"
[[network]]
name = "Storage"
[[network]]
name = "Private"
migration = true

[[node]]
name = "A"
memory_mb = 65536
nics = [
  { name = "eth1", network = "Corp" },
  { name = "eth2", network = "Storage" },
  { name = "eth3", network = "Private" },
]
switches = [
  { name = "Corp", uplink = "eth1" },
  { name = "Storage", uplink = "eth2" },
  { name = "Private", uplink = "eth3" },
]

[[vm]]
name = "VM1"
node = "A"
memory_mb = 4096
adapters = [
  { switch = "Corp", mac = "00155D867239", protected = true },
  {switch="Storage",mac="00155d86723a"},   # no `protected`: true [S0.3]
  { switch = "Private", mac = "00155D86723B", protected   =   true },  # keep me
]

[[vm]]
name = "VM2"
node = "A"
memory_mb = 4096

# Corp, written as a table.
[[vm.adapters]]
switch = "Corp"
mac = "00155D867240"  # the MAC
protected = true # monitored

[[vm.adapters]]
switch = "Private"
mac = "00155D867241"

# Trailing comment.
"#;

fn set(
    vm: &str,
    switch: Option<&str>,
    protected: bool,
) -> Result<(String, Vec<AdapterChange>), EditError> {
    set_protected("s.toml", TEXT, vm, switch, protected)
}

fn change(vm: &str, switch: &str, mac: &str, before: bool, after: bool) -> AdapterChange {
    AdapterChange {
        vm: vm.to_owned(),
        switch: switch.to_owned(),
        mac: mac.to_owned(),
        before,
        after,
    }
}

/// `TEXT` with `old` (which must occur exactly once) replaced by `new`.
fn replaced(old: &str, new: &str) -> String {
    assert_eq!(TEXT.matches(old).count(), 1, "{old}");
    TEXT.replace(old, new)
}

#[test]
fn the_fixture_is_valid() {
    let scenario = parse_scenario("s.toml", TEXT).unwrap();
    let flags: Vec<bool> = scenario.cluster.vms[0]
        .adapters
        .iter()
        .map(|a| a.protected)
        .collect();
    assert_eq!(flags, [true, true, true]);
    assert_eq!(scenario.cluster.vms[1].adapters.len(), 2);
}

#[test]
fn an_inline_value_changes_and_nothing_else() {
    let (edited, changes) = set("VM1", Some("Corp"), false).unwrap();
    assert_eq!(
        edited,
        replaced(
            "mac = \"00155D867239\", protected = true }",
            "mac = \"00155D867239\", protected = false }"
        )
    );
    assert_eq!(
        changes,
        [change("VM1", "Corp", "00155D867239", true, false)]
    );
}

#[test]
fn odd_spacing_and_the_comment_after_the_value_are_kept() {
    let (edited, _) = set("VM1", Some("Private"), false).unwrap();
    assert_eq!(
        edited,
        replaced(
            "protected   =   true },  # keep me",
            "protected   =   false },  # keep me"
        )
    );
}

#[test]
fn an_absent_inline_key_is_appended_to_its_table() {
    let (edited, changes) = set("VM1", Some("Storage"), false).unwrap();
    assert_eq!(
        edited,
        replaced(
            "{switch=\"Storage\",mac=\"00155d86723a\"},",
            "{switch=\"Storage\",mac=\"00155d86723a\", protected = false},"
        )
    );
    // The model's MAC, not the file's spelling.
    assert_eq!(
        changes,
        [change("VM1", "Storage", "00155D86723A", true, false)]
    );
}

#[test]
fn the_spaced_inline_form_reads_naturally_when_the_key_is_appended() {
    let text = TEXT.replace(
        "{switch=\"Storage\",mac=\"00155d86723a\"}",
        "{ switch = \"Storage\", mac = \"00155D86723A\" }",
    );
    let (edited, _) = set_protected("s.toml", &text, "VM1", Some("Storage"), false).unwrap();
    assert_eq!(
        edited,
        text.replace(
            "{ switch = \"Storage\", mac = \"00155D86723A\" }",
            "{ switch = \"Storage\", mac = \"00155D86723A\", protected = false }"
        )
    );
}

#[test]
fn a_table_value_changes_with_its_comment_kept() {
    let (edited, changes) = set("VM2", Some("Corp"), false).unwrap();
    assert_eq!(
        edited,
        replaced(
            "protected = true # monitored",
            "protected = false # monitored"
        )
    );
    assert_eq!(
        changes,
        [change("VM2", "Corp", "00155D867240", true, false)]
    );
}

#[test]
fn an_absent_table_key_is_added_as_the_tables_last_line() {
    let (edited, _) = set("VM2", Some("Private"), false).unwrap();
    assert_eq!(
        edited,
        replaced(
            "mac = \"00155D867241\"\n",
            "mac = \"00155D867241\"\nprotected = false\n"
        )
    );
}

#[test]
fn without_a_switch_every_adapter_of_the_vm_changes() {
    let (edited, changes) = set("VM1", None, false).unwrap();
    let expected = TEXT
        .replace(
            "mac = \"00155D867239\", protected = true",
            "mac = \"00155D867239\", protected = false",
        )
        .replace(
            "mac=\"00155d86723a\"}",
            "mac=\"00155d86723a\", protected = false}",
        )
        .replace("protected   =   true", "protected   =   false");
    assert_eq!(edited, expected);
    let switches: Vec<&str> = changes.iter().map(|c| c.switch.as_str()).collect();
    assert_eq!(switches, ["Corp", "Storage", "Private"]);
    assert!(changes.iter().all(AdapterChange::changed));
    // VM2 is untouched.
    let scenario = parse_scenario("s.toml", &edited).unwrap();
    assert!(scenario.cluster.vms[1].adapters.iter().all(|a| a.protected));
}

#[test]
fn setting_the_value_it_has_returns_the_text_unchanged() {
    let (edited, changes) = set("VM1", None, true).unwrap();
    assert_eq!(edited, TEXT);
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| !c.changed() && c.before));
}

#[test]
fn a_round_trip_restores_the_text_byte_for_byte() {
    let (off, _) = set("VM1", Some("Corp"), false).unwrap();
    let (on, changes) = set_protected("s.toml", &off, "VM1", Some("Corp"), true).unwrap();
    assert_eq!(on, TEXT);
    assert_eq!(
        changes,
        [change("VM1", "Corp", "00155D867239", false, true)]
    );
}

#[test]
fn every_adapter_on_the_switch_changes_when_a_vm_has_two() {
    let text = TEXT.replace(
        "  { switch = \"Corp\", mac = \"00155D867239\", protected = true },\n",
        "  { switch = \"Corp\", mac = \"00155D867239\", protected = true },\n  \
         { switch = \"Corp\", mac = \"00155D867242\", protected = false },\n",
    );
    let (edited, changes) = set_protected("s.toml", &text, "VM1", Some("Corp"), false).unwrap();
    assert_eq!(
        changes,
        [
            change("VM1", "Corp", "00155D867239", true, false),
            change("VM1", "Corp", "00155D867242", false, false),
        ]
    );
    assert_eq!(
        edited,
        text.replace(
            "mac = \"00155D867239\", protected = true",
            "mac = \"00155D867239\", protected = false"
        )
    );
}

#[test]
fn vms_written_as_an_inline_array_are_edited_too() {
    let text = r#"[[network]]
name = "Corp"

[[node]]
name = "A"
memory_mb = 8192
nics = [ { name = "eth1", network = "Corp" } ]
switches = [ { name = "Corp", uplink = "eth1" } ]

vm = []
"#;
    // `vm = [...]` must come before the [[node]] table in TOML: rebuild.
    let text = text.replace("vm = []\n", "").replace(
        "[[network]]",
        "vm = [ { name = \"VM1\", node = \"A\", memory_mb = 1024, adapters = [ \
         { switch = \"Corp\", mac = \"00155D867239\" } ] } ]\n\n[[network]]",
    );
    parse_scenario("i.toml", &text).unwrap();
    let (edited, _) = set_protected("i.toml", &text, "VM1", Some("Corp"), false).unwrap();
    assert_eq!(
        edited,
        text.replace(
            "mac = \"00155D867239\" }",
            "mac = \"00155D867239\", protected = false }"
        )
    );
}

#[test]
fn an_unknown_vm_names_the_likeliest_and_lists_the_vms() {
    let error = set("VM9", None, false).unwrap_err();
    assert_eq!(error.to_string(), "no VM `VM9` in s.toml; VMs: VM1, VM2");
    let error = set("vm2", None, false).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no VM `vm2` in s.toml; VMs: VM1, VM2 (did you mean `VM2`?)"
    );
    assert!(matches!(error, EditError::UnknownVm { .. }));
}

#[test]
fn an_unknown_switch_lists_the_vms_switches() {
    let error = set("VM1", Some("Privat"), false).unwrap_err();
    assert_eq!(
        error.to_string(),
        "VM `VM1` in s.toml has no adapter on switch `Privat`; its switches: \
         Corp, Storage, Private (did you mean `Private`?)"
    );
    // Storage exists in the file, but VM2 has no adapter on it.
    let error = set("VM2", Some("Storage"), false).unwrap_err();
    assert_eq!(
        error.to_string(),
        "VM `VM2` in s.toml has no adapter on switch `Storage`; its switches: Corp, Private"
    );
}

#[test]
fn a_vm_without_adapters_matches_nothing() {
    let text = TEXT.replace(
        "[[vm]]\nname = \"VM2\"",
        "[[vm]]\nname = \"VM3\"\nnode = \"A\"\nmemory_mb = 1\n\n[[vm]]\nname = \"VM2\"",
    );
    let error = set_protected("s.toml", &text, "VM3", None, false).unwrap_err();
    assert_eq!(error.to_string(), "VM `VM3` in s.toml has no adapters");
}

#[test]
fn an_invalid_text_is_refused_with_its_line() {
    let text = TEXT.replace("memory_mb = 4096", "memory_mb = \"lots\"");
    let error = set_protected("s.toml", &text, "VM1", None, false).unwrap_err();
    let EditError::Invalid(input) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(input.line, Some(27));
    assert!(error.to_string().starts_with("s.toml:27: "), "{error}");
}

#[test]
fn select_filters_by_vm_and_switch_in_file_order() {
    let scenario = parse_scenario("s.toml", TEXT).unwrap();
    let macs = |vm, switch| -> Vec<String> {
        select(&scenario, "s.toml", vm, switch)
            .unwrap()
            .iter()
            .map(|(_, a)| a.mac.clone())
            .collect()
    };
    assert_eq!(macs(None, None).len(), 5);
    assert_eq!(macs(None, Some("Corp")), ["00155D867239", "00155D867240"]);
    assert_eq!(macs(Some("VM2"), None), ["00155D867240", "00155D867241"]);
    let error = select(&scenario, "s.toml", None, Some("Stroage")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no adapter on switch `Stroage` in s.toml; switches with adapters: \
         Corp, Storage, Private (did you mean `Storage`?)"
    );
}

/// An added line moves the steps below it; that is no change of meaning.
#[test]
fn a_line_added_above_the_steps_is_accepted() {
    let text = format!(
        "{TEXT}\n[[step]]\nat = \"10s\"\naction = \"set_protected\"\nvm = \"VM2\"\n\
         switch = \"Private\"\nprotected = true\n"
    );
    let (edited, _) = set_protected("s.toml", &text, "VM2", Some("Private"), false).unwrap();
    assert_eq!(
        edited,
        text.replacen(
            "mac = \"00155D867241\"\n",
            "mac = \"00155D867241\"\nprotected = false\n",
            1
        )
    );
    let step = &parse_scenario("s.toml", &edited).unwrap().steps[0];
    assert_eq!(
        step.line,
        parse_scenario("s.toml", &text).unwrap().steps[0].line + 1
    );
}

/// Windows line endings stay as they are around a changed value.
#[test]
fn crlf_line_endings_are_kept() {
    let text = TEXT.replace('\n', "\r\n");
    let (edited, _) = set_protected("s.toml", &text, "VM1", None, false).unwrap();
    let expected = text
        .replace(
            "mac = \"00155D867239\", protected = true",
            "mac = \"00155D867239\", protected = false",
        )
        .replace(
            "mac=\"00155d86723a\"}",
            "mac=\"00155d86723a\", protected = false}",
        )
        .replace("protected   =   true", "protected   =   false");
    assert_eq!(edited, expected);
}

/// The added line is indented like the table's last line, and a file that
/// ends without a line ending still does.
#[test]
fn an_added_line_follows_the_indent_and_the_missing_final_newline() {
    let end = TEXT.find("\n\n# Trailing comment.").unwrap();
    let text = TEXT[..end].replace(
        "switch = \"Private\"\nmac = \"00155D867241\"",
        "\tswitch = \"Private\"\n\tmac = \"00155D867241\"",
    );
    assert!(text.ends_with("\tmac = \"00155D867241\""));
    let (edited, _) = set_protected("s.toml", &text, "VM2", Some("Private"), false).unwrap();
    assert_eq!(edited, format!("{text}\n\tprotected = false"));
}

#[test]
fn h2_h9_the_classic_profile_written_into_a_file_changes_only_the_settings() {
    use haven_core::edit::with_classic_settings;
    use haven_core::model::{Detection, MigrationAuth};
    let text = include_str!("../../../examples/figure-1.toml");
    let before = parse_scenario("figure-1.toml", text).unwrap();
    let classic = with_classic_settings("figure-1.toml", text).unwrap();
    let after = parse_scenario("classic", &classic).unwrap();
    let s = &after.cluster.settings;
    assert_eq!(s.detection, Detection::Poll);
    assert_eq!(s.poll_interval_ms, 60_000);
    assert_eq!(s.migration_auth, MigrationAuth::Authority);
    assert_eq!(
        s.max_concurrent_migrations,
        before.cluster.settings.max_concurrent_migrations
    );
    assert_eq!(after.cluster.nodes, before.cluster.nodes);
    assert_eq!(after.cluster.vms, before.cluster.vms);
    assert_eq!(after.steps.len(), before.steps.len());
    // No [settings] table at all: one is added.
    let bare = text.replace(
        "[settings]\nmax_concurrent_migrations = 2\ndetection = \"event\"\n",
        "",
    );
    assert!(!bare.contains("[settings]"));
    let added = with_classic_settings("bare.toml", &bare).unwrap();
    let parsed = parse_scenario("added", &added).unwrap();
    assert_eq!(parsed.cluster.settings.detection, Detection::Poll);
    assert!(matches!(
        with_classic_settings("bad.toml", "name = 1"),
        Err(EditError::Invalid(_))
    ));
}
