//! The report of a run: the JSON object of SPEC section 4 and the readable
//! timeline `haven simulate` prints.

use haven_core::event::{Event, EventKind};
use haven_core::model::Millis;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Everything a run produced, in the shape of SPEC section 4.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub events: Vec<Event>,
    #[serde(rename = "final")]
    pub finals: BTreeMap<String, Final>,
    pub vms: BTreeMap<String, VmStats>,
    pub summary: Summary,
    /// When the run ended (the last event or step); not part of the JSON.
    #[serde(skip)]
    pub end_ms: Millis,
    /// Every time a VM was really cut off; not part of the JSON.
    #[serde(skip)]
    pub episodes: Vec<Episode>,
}

/// One stretch of time a VM was really cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    pub vm: String,
    /// Where it was when its network failed.
    pub node: String,
    pub start_ms: Millis,
    pub end_ms: Millis,
    /// Ended by running elsewhere (not by the link coming back).
    pub migrated: bool,
    /// Its migration time on an idle link.
    pub transfer_ms: Millis,
}

/// Where a VM is at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Final {
    pub node: String,
    /// Really cut off at the end (a protected network down under it).
    pub impaired: bool,
    /// Only shown when the VM stopped with its node.
    #[serde(skip_serializing_if = "is_true")]
    pub running: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VmStats {
    /// Time the VM was really cut off, from the failure (not its detection)
    /// until it ran where all its protected networks work.
    pub impaired_ms: Millis,
    /// Migrations completed.
    pub migrations: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub migrations_completed: u32,
    pub migrations_failed: u32,
    pub migrations_cancelled: u32,
    pub impaired_vm_ms_total: Millis,
    pub max_concurrent_per_node: u32,
    /// In-flight migrations stopped because the destination became
    /// ineligible (H7).
    pub migrations_aborted: u32,
    /// VMs still cut off at the end.
    pub vms_impaired_at_end: u32,
}

impl Report {
    pub fn new(
        scenario: String,
        events: Vec<Event>,
        finals: BTreeMap<String, Final>,
        vms: BTreeMap<String, VmStats>,
        max_concurrent_per_node: u32,
        end_ms: Millis,
    ) -> Report {
        let count = |name: &str| events.iter().filter(|e| e.kind.name() == name).count() as u32;
        let summary = Summary {
            migrations_completed: count("migration_completed"),
            migrations_failed: count("migration_failed"),
            migrations_cancelled: count("migration_cancelled"),
            impaired_vm_ms_total: vms.values().map(|v| v.impaired_ms).sum(),
            max_concurrent_per_node,
            migrations_aborted: count("migration_aborted"),
            vms_impaired_at_end: finals.values().filter(|f| f.impaired).count() as u32,
        };
        Report {
            scenario,
            events,
            finals,
            vms,
            summary,
            end_ms,
            episodes: Vec::new(),
        }
    }

    /// The JSON object of SPEC section 4, on one line per event for easy
    /// diffing.
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("a report always serialises");
        out.push('\n');
        out
    }

    /// The readable timeline: one aligned row per event, then a summary.
    pub fn to_text(&self) -> String {
        let rows: Vec<[String; 5]> = self.events.iter().map(row).collect();
        let header = ["time", "event", "vm", "nodes", "detail"].map(String::from);
        let mut widths = [0; 5];
        for r in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "{:>w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if rows.is_empty() {
            out.push_str("(no events)\n");
        }
        self.write_summary(&mut out);
        out
    }

    fn write_summary(&self, out: &mut String) {
        let s = &self.summary;
        let _ = writeln!(
            out,
            "\nsummary: {} migrations completed, {} failed, {} cancelled, {} aborted; \
             impaired VM time {}; max concurrent migrations per node {}",
            s.migrations_completed,
            s.migrations_failed,
            s.migrations_cancelled,
            s.migrations_aborted,
            seconds(s.impaired_vm_ms_total),
            s.max_concurrent_per_node
        );
        let width = self
            .finals
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0);
        for (name, f) in &self.finals {
            let stats = &self.vms[name];
            let state = match (f.running, f.impaired) {
                (false, _) => "stopped",
                (true, true) => "IMPAIRED",
                (true, false) => "ok",
            };
            let _ = writeln!(
                out,
                "  {name:<width$}  on {:<8} {:<8} impaired {:>9}  {} migration{}",
                f.node,
                state,
                seconds(stats.impaired_ms),
                stats.migrations,
                if stats.migrations == 1 { "" } else { "s" }
            );
        }
    }
}

/// `12.345s`
pub fn seconds(ms: Millis) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// The cells of one event in the text timeline: time, event, VM, nodes,
/// detail.
pub fn row(e: &Event) -> [String; 5] {
    let (nodes, detail) = match &e.kind {
        EventKind::LinkDown { node, nic } | EventKind::LinkUp { node, nic } => {
            (node.clone(), format!("nic {nic}"))
        }
        EventKind::VmNetworkImpaired { node, switch, .. } => (
            node.clone(),
            format!("switch {switch} has no working uplink"),
        ),
        EventKind::VmNetworkRestored { node, .. } => (node.clone(), String::new()),
        EventKind::MigrationQueued { from, .. } => (from.clone(), "waiting for a slot".into()),
        EventKind::MigrationStarted { from, to, .. }
        | EventKind::MigrationCompleted { from, to, .. } => {
            (format!("{from} -> {to}"), String::new())
        }
        EventKind::MigrationFailed {
            from, to, cause, ..
        } => (format!("{from} -> {to}"), format!("cause {cause}")),
        EventKind::MigrationCancelled { from, reason, .. } => (from.clone(), reason.clone()),
        EventKind::MigrationAborted {
            from, to, reason, ..
        } => (format!("{from} -> {to}"), reason.clone()),
        EventKind::NoEligibleDestination { node, .. } => {
            (node.clone(), "no node can host it; stays".into())
        }
        EventKind::VmStuck { node, cause, .. } => (node.clone(), format!("cause {cause}")),
        EventKind::AdapterChanged {
            switch, protected, ..
        } => (
            String::new(),
            format!("switch {switch} protected={protected}"),
        ),
        EventKind::NodeDown { node } | EventKind::NodeUp { node } => (node.clone(), String::new()),
        EventKind::VmDown { node, .. } => (node.clone(), "stopped with its node".into()),
        EventKind::VmUp { node, .. } => (node.clone(), "started again with its node".into()),
    };
    [
        seconds(e.t_ms),
        e.kind.name().to_string(),
        e.kind.vm().unwrap_or("").to_string(),
        nodes,
        detail,
    ]
}
