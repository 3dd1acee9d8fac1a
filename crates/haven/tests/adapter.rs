//! `haven adapter list|set` through the binary [S0.11]: the listing of the
//! source documents byte for byte, in-place edits that change one value and
//! nothing else, and refusals that leave the file untouched.

mod common;

use common::haven;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The example file of [S0.11].
const EXAMPLE: &str = "adapters-s0-11.toml";

/// The three records of [S0.11], as `Format-List` prints them.
const S0_11: &str = "\
VMName : VM1
SwitchName : Corp
MacAddress : 00155D867239
ClusterMonitored : True

VMName : VM1
SwitchName : Storage
MacAddress : 00155D86723A
ClusterMonitored : True

VMName : VM1
SwitchName : Private
MacAddress : 00155D86723B
ClusterMonitored : True
";

fn example_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn example_text() -> String {
    fs::read_to_string(example_path(EXAMPLE)).unwrap()
}

/// A directory of its own per test, removed when the test ends, passed or
/// failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("haven-adapter-test-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `text` to `name` in the directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// The names in the directory: no temporary file may be left behind.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts exit status 2 with one `haven: ` sentence and nothing on stdout;
/// returns the sentence.
fn refused(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.starts_with("haven: "), "{err}");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    err
}

fn list(file: &Path, extra: &[&str]) -> String {
    let mut args = vec!["adapter", "list", "--file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    stdout(&haven(&args))
}

fn set(file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["adapter", "set", "--file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    haven(&args)
}

#[test]
fn list_prints_the_three_records_of_s0_11() {
    assert_eq!(list(&example_path(EXAMPLE), &[]), S0_11);
    assert_eq!(list(&example_path(EXAMPLE), &["--format", "list"]), S0_11);
}

#[test]
fn not_monitored_in_cluster_true_turns_off_the_private_adapter_only() {
    let dir = TempDir::new("s0-11");
    let copy = dir.file(EXAMPLE, &example_text());
    let out = set(
        &copy,
        &[
            "--vm",
            "VM1",
            "--switch",
            "Private",
            "--not-monitored-in-cluster",
            "$True",
        ],
    );
    assert_eq!(
        stdout(&out),
        "VM1 Private 00155D86723B: ClusterMonitored True -> False\n"
    );
    let expected = S0_11.replace(
        "00155D86723B\nClusterMonitored : True",
        "00155D86723B\nClusterMonitored : False",
    );
    assert_ne!(expected, S0_11);
    assert_eq!(list(&copy, &[]), expected);
    assert_eq!(dir.names(), [EXAMPLE]);
}

#[test]
fn set_changes_the_one_value_and_no_other_byte() {
    let dir = TempDir::new("one-value");
    let before = example_text();
    let copy = dir.file(EXAMPLE, &before);
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Storage", "--protected", "false"],
    ));
    let after = fs::read_to_string(&copy).unwrap();
    let old = "mac = \"00155D86723A\", protected = true }";
    assert_eq!(before.matches(old).count(), 1);
    assert_eq!(
        after,
        before.replace(old, "mac = \"00155D86723A\", protected = false }")
    );
}

#[test]
fn set_inserts_an_absent_protected_key_at_the_end_of_the_inline_table() {
    let dir = TempDir::new("absent");
    let old = "{ switch = \"Corp\", mac = \"00155D867239\", protected = true }";
    let before = example_text().replace(old, "{ switch = \"Corp\", mac = \"00155D867239\" }");
    assert_ne!(before, example_text());
    let copy = dir.file(EXAMPLE, &before);
    let out = set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "FALSE"],
    );
    assert_eq!(
        stdout(&out),
        "VM1 Corp 00155D867239: ClusterMonitored True -> False\n"
    );
    assert_eq!(
        fs::read_to_string(&copy).unwrap(),
        example_text().replace(
            old,
            "{ switch = \"Corp\", mac = \"00155D867239\", protected = false }"
        )
    );
}

#[test]
fn every_spelling_of_the_boolean() {
    let dir = TempDir::new("spellings");
    let copy = dir.file(EXAMPLE, &example_text());
    let monitored = |switch: &str| -> String {
        let listed = list(&copy, &["--vm", "VM1", "--switch", switch]);
        listed.lines().last().unwrap().to_owned()
    };
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "$False"],
    ));
    assert_eq!(monitored("Corp"), "ClusterMonitored : False");
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "true"],
    ));
    assert_eq!(monitored("Corp"), "ClusterMonitored : True");
    stdout(&set(
        &copy,
        &[
            "--vm",
            "VM1",
            "--switch",
            "Storage",
            "--not-monitored-in-cluster",
            "true",
        ],
    ));
    assert_eq!(monitored("Storage"), "ClusterMonitored : False");
    stdout(&set(
        &copy,
        &[
            "--vm",
            "VM1",
            "--switch",
            "Storage",
            "--not-monitored-in-cluster",
            "$false",
        ],
    ));
    assert_eq!(monitored("Storage"), "ClusterMonitored : True");
    // Back where it started, byte for byte.
    assert_eq!(fs::read_to_string(&copy).unwrap(), example_text());
}

#[test]
fn without_a_switch_every_adapter_of_the_vm_is_set_and_reported() {
    let dir = TempDir::new("whole-vm");
    let copy = dir.file(EXAMPLE, &example_text());
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "false"],
    ));
    let out = set(&copy, &["--vm", "VM1", "--protected", "false"]);
    assert_eq!(
        stdout(&out),
        "VM1 Corp 00155D867239: ClusterMonitored already False (unchanged)\n\
         VM1 Storage 00155D86723A: ClusterMonitored True -> False\n\
         VM1 Private 00155D86723B: ClusterMonitored True -> False\n"
    );
    assert!(!list(&copy, &[]).contains("True"));
}

#[cfg(unix)]
#[test]
fn an_unchanged_file_is_not_rewritten_and_a_changed_one_keeps_its_mode() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = TempDir::new("untouched");
    let copy = dir.file(EXAMPLE, &example_text());
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o640)).unwrap();
    let inode = fs::metadata(&copy).unwrap().ino();
    let out = set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "true"],
    );
    assert_eq!(
        stdout(&out),
        "VM1 Corp 00155D867239: ClusterMonitored already True (unchanged)\n"
    );
    // Not even replaced by an identical copy.
    assert_eq!(fs::metadata(&copy).unwrap().ino(), inode);
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "false"],
    ));
    let meta = fs::metadata(&copy).unwrap();
    assert_ne!(meta.ino(), inode, "replaced by a rename");
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(dir.names(), [EXAMPLE]);
}

#[test]
fn list_formats_table_and_json() {
    let table = list(&example_path(EXAMPLE), &["--format", "table"]);
    assert_eq!(
        table,
        "VMName  SwitchName  MacAddress    ClusterMonitored\n\
         VM1     Corp        00155D867239  True\n\
         VM1     Storage     00155D86723A  True\n\
         VM1     Private     00155D86723B  True\n"
    );
    let json = list(
        &example_path(EXAMPLE),
        &["--format", "json", "--switch", "Private"],
    );
    assert_eq!(
        json,
        "[\n  {\n    \"VMName\": \"VM1\",\n    \"SwitchName\": \"Private\",\n    \
         \"MacAddress\": \"00155D86723B\",\n    \"ClusterMonitored\": true\n  }\n]\n"
    );
    let all: serde_json::Value =
        serde_json::from_str(&list(&example_path(EXAMPLE), &["--format", "json"])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[1]["SwitchName"], "Storage");
}

#[test]
fn list_filters_by_vm_and_switch() {
    let path = example_path(EXAMPLE);
    assert_eq!(list(&path, &["--vm", "VM1"]), S0_11);
    let storage = list(&path, &["--switch", "Storage"]);
    assert_eq!(
        storage,
        "VMName : VM1\nSwitchName : Storage\nMacAddress : 00155D86723A\nClusterMonitored : True\n"
    );
}

#[test]
fn an_invalid_boolean_is_a_usage_error_naming_the_spellings() {
    let dir = TempDir::new("bad-bool");
    let copy = dir.file(EXAMPLE, &example_text());
    for flag in ["--protected", "--not-monitored-in-cluster"] {
        let err = refused(&set(&copy, &["--vm", "VM1", flag, "yes"]));
        assert!(
            err.contains(flag)
                && err.contains("true, false, $True or $False")
                && err.contains("`yes`"),
            "{err}"
        );
    }
    assert_eq!(fs::read_to_string(&copy).unwrap(), example_text());
}

#[test]
fn exactly_one_of_the_two_flags_is_required() {
    let dir = TempDir::new("one-flag");
    let copy = dir.file(EXAMPLE, &example_text());
    assert_eq!(set(&copy, &["--vm", "VM1"]).status.code(), Some(2));
    let both = set(
        &copy,
        &[
            "--vm",
            "VM1",
            "--protected",
            "true",
            "--not-monitored-in-cluster",
            "false",
        ],
    );
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(fs::read_to_string(&copy).unwrap(), example_text());
}

#[test]
fn an_unknown_vm_is_refused_with_the_closest_name_and_the_file_untouched() {
    let dir = TempDir::new("unknown-vm");
    let copy = dir.file(EXAMPLE, &example_text());
    let err = refused(&set(&copy, &["--vm", "VM9", "--protected", "false"]));
    let name = copy.display();
    assert_eq!(
        err,
        format!("haven: no VM `VM9` in {name}; VMs: VM1 (did you mean `VM1`?)\n")
    );
    assert_eq!(fs::read(&copy).unwrap(), example_text().into_bytes());
    assert_eq!(dir.names(), [EXAMPLE]);
    let err = refused(&haven(&[
        "adapter",
        "list",
        "--vm",
        "vm1x",
        "--file",
        copy.to_str().unwrap(),
    ]));
    assert!(err.contains("did you mean `VM1`?"), "{err}");
}

#[test]
fn an_unknown_switch_is_refused_with_the_closest_name_and_the_file_untouched() {
    let dir = TempDir::new("unknown-switch");
    let copy = dir.file(EXAMPLE, &example_text());
    let err = refused(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Privat", "--protected", "false"],
    ));
    assert_eq!(
        err,
        format!(
            "haven: VM `VM1` in {} has no adapter on switch `Privat`; its switches: \
             Corp, Storage, Private (did you mean `Private`?)\n",
            copy.display()
        )
    );
    assert_eq!(fs::read(&copy).unwrap(), example_text().into_bytes());
    let err = refused(&haven(&[
        "adapter",
        "list",
        "--switch",
        "Storag",
        "--file",
        copy.to_str().unwrap(),
    ]));
    assert!(err.contains("did you mean `Storage`?"), "{err}");
}

#[test]
fn an_invalid_or_missing_file_is_refused_and_not_written() {
    let dir = TempDir::new("invalid");
    let bad = example_text().replace("memory_mb = 4096", "memory_mb = -1");
    let copy = dir.file(EXAMPLE, &bad);
    let err = refused(&set(&copy, &["--vm", "VM1", "--protected", "false"]));
    assert!(err.contains(&format!("{}:", copy.display())), "{err}");
    assert_eq!(fs::read_to_string(&copy).unwrap(), bad);
    let missing = dir.0.join("missing.toml");
    let err = refused(&set(&missing, &["--vm", "VM1", "--protected", "false"]));
    assert!(err.contains("cannot open"), "{err}");
    assert!(!missing.exists());
    assert_eq!(dir.names(), [EXAMPLE]);
}

/// `[[vm.adapters]]` tables instead of the inline array: listed the same,
/// edited in place, with an absent key added as the table's last line.
#[test]
fn array_of_tables_adapters_are_listed_and_edited() {
    let dir = TempDir::new("tables");
    let text = example_text();
    let start = text.find("adapters = [").unwrap();
    let before = format!(
        "{}{}",
        &text[..start],
        "\n# Corp\n[[vm.adapters]]\nswitch = \"Corp\"\nmac = \"00155D867239\"\nprotected = true  # on\n\n\
         [[vm.adapters]]\nswitch = \"Storage\"\nmac = \"00155D86723A\"\n\n\
         [[vm.adapters]]\nswitch = \"Private\"\nmac = \"00155D86723B\"\nprotected = true\n"
    );
    let copy = dir.file(EXAMPLE, &before);
    assert_eq!(list(&copy, &[]), S0_11);
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Corp", "--protected", "false"],
    ));
    stdout(&set(
        &copy,
        &["--vm", "VM1", "--switch", "Storage", "--protected", "false"],
    ));
    let after = fs::read_to_string(&copy).unwrap();
    assert_eq!(
        after,
        before
            .replace("protected = true  # on", "protected = false  # on")
            .replace(
                "mac = \"00155D86723A\"\n",
                "mac = \"00155D86723A\"\nprotected = false\n"
            )
    );
    let listed = list(&copy, &["--format", "table"]);
    assert_eq!(
        listed,
        "VMName  SwitchName  MacAddress    ClusterMonitored\n\
         VM1     Corp        00155D867239  False\n\
         VM1     Storage     00155D86723A  False\n\
         VM1     Private     00155D86723B  True\n"
    );
}
