//! `haven adapter list|set`: per-adapter protection [S0.11].
//!
//! Both work on a scenario or inventory file (`--file`): `set` edits the
//! file in place with [`haven_core::edit::set_protected`], keeping every
//! comment and the formatting, and replaces it atomically. Without
//! `--file` they work on the live cluster (from a node, or from outside
//! with `--cluster ENDPOINTS`): `set` stores a protection override in etcd,
//! which the leader applies at once (H11).

use crate::input_error;
use crate::live::ClusterArgs;
use haven_core::edit::{select, set_protected, AdapterChange, EditError};
use haven_core::model::{Adapter, Vm};
use haven_core::parse::{load_scenario, load_text};
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print each adapter: VMName, SwitchName, MacAddress, ClusterMonitored.
    List(ListArgs),
    /// Protect or unprotect a VM's adapters (ClusterMonitored), editing the
    /// file in place.
    Set(SetArgs),
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only the adapters of this VM.
    #[arg(long, value_name = "NAME")]
    vm: Option<String>,
    /// Only the adapters on this switch.
    #[arg(long, value_name = "NAME")]
    switch: Option<String>,
    /// The scenario or inventory file (TOML, SPEC section 4); without it,
    /// the live cluster.
    #[arg(long, value_name = "FILE", conflicts_with = "cluster")]
    file: Option<PathBuf>,
    #[command(flatten)]
    live: ClusterArgs,
    /// `list`: `Key : Value` records as PowerShell's Format-List [S0.11].
    #[arg(long, value_enum, default_value_t = Format::List)]
    format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    List,
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("flag")
        .required(true)
        .args(["protected", "not_monitored_in_cluster"])
))]
pub struct SetArgs {
    /// The VM whose adapters change.
    #[arg(long, value_name = "NAME")]
    vm: String,
    /// Only its adapters on this switch (default: all of them).
    #[arg(long, value_name = "NAME")]
    switch: Option<String>,
    /// Protected (ClusterMonitored): true, false, $True or $False.
    #[arg(long, value_name = "BOOL")]
    protected: Option<String>,
    /// The inverse of --protected, as PowerShell's NotMonitoredInCluster.
    #[arg(long, value_name = "BOOL")]
    not_monitored_in_cluster: Option<String>,
    /// The scenario or inventory file, edited in place; without it, the
    /// live cluster.
    #[arg(long, value_name = "FILE", conflicts_with = "cluster")]
    file: Option<PathBuf>,
    #[command(flatten)]
    live: ClusterArgs,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::List(args) => list(&args),
        Command::Set(args) => set(&args),
    }
}

// ---------------------------------------------------------------------------
// list

fn list(args: &ListArgs) -> ExitCode {
    let (scenario, file) = match &args.file {
        Some(path) => match load_scenario(path) {
            Ok(s) => (s, path.display().to_string()),
            Err(e) => return input_error(e),
        },
        None => match live::scenario(&args.live) {
            Ok(found) => found,
            Err(code) => return code,
        },
    };
    let selected = match select(&scenario, &file, args.vm.as_deref(), args.switch.as_deref()) {
        Ok(selected) => selected,
        Err(e) => return input_error(e),
    };
    let rows: Vec<Row<'_>> = selected.into_iter().map(Row::from).collect();
    let text = match args.format {
        Format::List => format_list(&rows),
        Format::Table => format_table(&rows),
        Format::Json => format_json(&rows),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

/// One adapter as PowerShell's `Get-VMNetworkAdapter` shows it [S0.11].
#[derive(Serialize)]
struct Row<'s> {
    #[serde(rename = "VMName")]
    vm: &'s str,
    #[serde(rename = "SwitchName")]
    switch: &'s str,
    #[serde(rename = "MacAddress")]
    mac: &'s str,
    #[serde(rename = "ClusterMonitored")]
    monitored: bool,
}

impl<'s> From<(&'s Vm, &'s Adapter)> for Row<'s> {
    fn from((vm, adapter): (&'s Vm, &'s Adapter)) -> Self {
        Row {
            vm: &vm.name,
            switch: &adapter.switch,
            mac: &adapter.mac,
            monitored: adapter.protected,
        }
    }
}

impl Row<'_> {
    const HEADERS: [&'static str; 4] = ["VMName", "SwitchName", "MacAddress", "ClusterMonitored"];

    fn cells(&self) -> [&str; 4] {
        [self.vm, self.switch, self.mac, powershell(self.monitored)]
    }
}

/// PowerShell's spelling of a boolean.
fn powershell(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// `Key : Value` lines, a blank line between records, none after the last.
fn format_list(rows: &[Row<'_>]) -> String {
    let records: Vec<String> = rows
        .iter()
        .map(|row| {
            Row::HEADERS
                .iter()
                .zip(row.cells())
                .map(|(key, value)| format!("{key} : {value}\n"))
                .collect()
        })
        .collect();
    records.join("\n")
}

/// A header row and one row per adapter, columns two spaces apart and as
/// wide as their widest cell; no trailing spaces.
fn format_table(rows: &[Row<'_>]) -> String {
    let lines: Vec<[&str; 4]> = std::iter::once(Row::HEADERS)
        .chain(rows.iter().map(Row::cells))
        .collect();
    let mut widths = [0; 4];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for line in &lines {
        let padded: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(padded.join("  ").trim_end());
        text.push('\n');
    }
    text
}

fn format_json(rows: &[Row<'_>]) -> String {
    // Plain strings and booleans: serializing them cannot fail.
    let json = serde_json::to_string_pretty(rows).unwrap_or_default();
    format!("{json}\n")
}

// ---------------------------------------------------------------------------
// set

fn set(args: &SetArgs) -> ExitCode {
    let protected = match (&args.protected, &args.not_monitored_in_cluster) {
        (Some(value), _) => parse_bool("--protected", value),
        (None, Some(value)) => parse_bool("--not-monitored-in-cluster", value).map(|not| !not),
        // clap's group requires one of the two.
        (None, None) => Err("give --protected or --not-monitored-in-cluster".to_owned()),
    };
    let protected = match protected {
        Ok(p) => p,
        Err(message) => return input_error(message),
    };
    let Some(path) = &args.file else {
        return live::set(&args.live, &args.vm, args.switch.as_deref(), protected);
    };
    let text = match load_text(path) {
        Ok(text) => text,
        Err(e) => return input_error(e),
    };
    let file = path.display().to_string();
    let edit = set_protected(&file, &text, &args.vm, args.switch.as_deref(), protected);
    let (edited, changes) = match edit {
        Ok(done) => done,
        Err(e @ EditError::Internal(_)) => {
            eprintln!("haven: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => return input_error(e),
    };
    if changes.iter().any(AdapterChange::changed) {
        if let Err(e) = replace_file(path, &edited) {
            eprintln!("haven: {file}: cannot write the file: {e}; it was left unchanged");
            return ExitCode::FAILURE;
        }
    }
    for change in &changes {
        println!("{}", describe(change));
    }
    ExitCode::SUCCESS
}

/// `true`/`false` and PowerShell's `$True`/`$False`, in any case.
fn parse_bool(option: &str, value: &str) -> Result<bool, String> {
    match value
        .strip_prefix('$')
        .unwrap_or(value)
        .to_ascii_lowercase()
        .as_str()
    {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "{option} takes true, false, $True or $False (in any case), not `{value}`"
        )),
    }
}

/// `VM1 Private 00155D86723B: ClusterMonitored True -> False`.
fn describe(change: &AdapterChange) -> String {
    let adapter = format!("{} {} {}", change.vm, change.switch, change.mac);
    if change.changed() {
        format!(
            "{adapter}: ClusterMonitored {} -> {}",
            powershell(change.before),
            powershell(change.after)
        )
    } else {
        format!(
            "{adapter}: ClusterMonitored already {} (unchanged)",
            powershell(change.after)
        )
    }
}

/// Replaces the file's content atomically: readers see the old file or the
/// new one, never a half-written one, and a crash leaves the old one. The
/// new text goes to a temporary file in the same directory (a rename only
/// is atomic within one file system) with the old file's permissions, is
/// flushed to disk, then renamed over the file. A symbolic link is
/// followed, so the link stays and its target changes.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let target = fs::canonicalize(path)?;
    let permissions = fs::metadata(&target)?.permissions();
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.haven-{}.tmp", std::process::id()));
    let written = write_new(&temp, text, permissions).and_then(|()| fs::rename(&temp, &target));
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temp);
        return written;
    }
    // Make the rename itself durable; some file systems cannot sync a
    // directory, and the file is already in place, so this is best effort.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn write_new(temp: &Path, text: &str, permissions: fs::Permissions) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    file.write_all(text.as_bytes())?;
    file.set_permissions(permissions)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_boolean() {
        for yes in ["true", "True", "TRUE", "$True", "$true", "$TRUE"] {
            assert_eq!(parse_bool("--protected", yes), Ok(true), "{yes}");
        }
        for no in ["false", "False", "FALSE", "$False", "$false"] {
            assert_eq!(parse_bool("--protected", no), Ok(false), "{no}");
        }
        for bad in ["", "$", "yes", "1", "$$True", "tru", " true"] {
            assert!(parse_bool("--protected", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_table_pads_to_the_widest_cell() {
        let rows = [Row {
            vm: "a-long-vm-name",
            switch: "Corp",
            mac: "00155D867239",
            monitored: false,
        }];
        assert_eq!(
            format_table(&rows),
            "VMName          SwitchName  MacAddress    ClusterMonitored\n\
             a-long-vm-name  Corp        00155D867239  False\n"
        );
    }

    #[test]
    fn nothing_to_list() {
        assert_eq!(format_list(&[]), "");
        assert_eq!(format_json(&[]), "[]\n");
        assert_eq!(
            format_table(&[]),
            "VMName  SwitchName  MacAddress  ClusterMonitored\n"
        );
    }
}

/// `list` and `set` on the live cluster.
mod live {
    use crate::input_error;
    use crate::live::ClusterArgs;
    use haven_core::model::Scenario;
    use std::process::ExitCode;

    /// The stored inventory with the protection overrides applied, and the
    /// name messages use for it.
    #[cfg(feature = "etcd")]
    pub fn scenario(args: &ClusterArgs) -> Result<(Scenario, String), ExitCode> {
        let (_, scenario, name) = read(args)?;
        Ok((scenario, name))
    }

    #[cfg(feature = "etcd")]
    fn read(args: &ClusterArgs) -> Result<(haven_agent::store::Store, Scenario, String), ExitCode> {
        use crate::live::{connect, runtime, Unreachable};
        let read = runtime().block_on(async {
            let store = connect(args).await?;
            let state = (store.state().await).map_err(|e| Unreachable::Store(e.to_string()))?;
            Ok((store, state))
        });
        let (store, state) = match read {
            Ok(read) => read,
            Err(Unreachable::Input(message)) => return Err(input_error(message)),
            Err(Unreachable::Store(message)) => {
                eprintln!("haven: {message}");
                return Err(ExitCode::FAILURE);
            }
        };
        let name = format!(
            "cluster {}",
            store
                .prefix()
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
        );
        let Some(text) = state.inventory.as_deref() else {
            eprintln!("haven: {name} has no inventory; store one with `haven cluster init`");
            return Err(ExitCode::FAILURE);
        };
        let mut scenario = match haven_core::parse::parse_scenario(&name, text) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("haven: the stored inventory is not valid: {e}");
                return Err(ExitCode::FAILURE);
            }
        };
        for vm in &mut scenario.cluster.vms {
            for adapter in &mut vm.adapters {
                adapter.protected = state.is_protected(&vm.name, adapter);
            }
        }
        Ok((store, scenario, name))
    }

    /// Stores the override for each selected adapter's switch; the leader
    /// applies it at once (H11).
    #[cfg(feature = "etcd")]
    pub fn set(args: &ClusterArgs, vm: &str, switch: Option<&str>, protected: bool) -> ExitCode {
        use super::describe;
        use haven_core::edit::{select, AdapterChange};
        let (store, scenario, name) = match read(args) {
            Ok(read) => read,
            Err(code) => return code,
        };
        let changes: Vec<AdapterChange> = match select(&scenario, &name, Some(vm), switch) {
            Ok(selected) => (selected.into_iter())
                .map(|(v, a)| AdapterChange {
                    vm: v.name.clone(),
                    switch: a.switch.clone(),
                    mac: a.mac.clone(),
                    before: a.protected,
                    after: protected,
                })
                .collect(),
            Err(e) => return input_error(e),
        };
        let mut switches: Vec<&str> = changes.iter().map(|c| c.switch.as_str()).collect();
        switches.dedup();
        let stored = crate::live::runtime().block_on(async {
            for s in &switches {
                store.set_protected(vm, s, protected).await?;
            }
            Ok::<(), haven_agent::store::StoreError>(())
        });
        if let Err(e) = stored {
            eprintln!("haven: {e}; nothing may have changed, run the command again");
            return ExitCode::FAILURE;
        }
        for change in &changes {
            println!("{}", describe(change));
        }
        ExitCode::SUCCESS
    }

    #[cfg(not(feature = "etcd"))]
    pub fn scenario(args: &ClusterArgs) -> Result<(Scenario, String), ExitCode> {
        let _ = args;
        Err(input_error(crate::live::NO_ETCD))
    }

    #[cfg(not(feature = "etcd"))]
    pub fn set(args: &ClusterArgs, vm: &str, switch: Option<&str>, protected: bool) -> ExitCode {
        let _ = (args, vm, switch, protected);
        input_error(crate::live::NO_ETCD)
    }
}
