//! One live migration, told by several events in any language.
//!
//! A migration is logged by the cluster's VM resource (Hyper-V-High-Availability 21502, its
//! whole message in the host's language) and by VMMS on both hosts (20413 started, 21024 failed
//! at the source, 20415 completed). What they share is the VM id, a GUID every one of them
//! carries. This module joins the signals of one VM id that lie close in time, so that a 21502
//! in German gets its VM's name, source and destination from VMMS's structured data, and a VM
//! named `O'Brien-SQL` is one VM whatever each message's quoting made of its name.

use crate::signal::{Catalogue, Signal};
use std::collections::{BTreeMap, BTreeSet};

/// The field every event of one migration carries.
const KEY: &str = "vm_id";
/// Fields one event of a migration may lend another of the same VM id.
const JOINED: [&str; 5] = ["vm", "source", "destination", "side", "host"];
/// The field that names, space-separated, the fields a fallback filled: inferred, not read.
pub const INFERRED: &str = "inferred";
/// Events of one VM id further apart than this are different migrations.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// How many events of one VM id on each side of a signal are asked for a missing field: a
/// VM migrated thousands of times must not make the join quadratic.
const NEIGHBOURS: usize = 64;

/// Completes the signals of each migration from each other, then renders their lines again.
pub fn join(signals: &mut [Signal], catalogue: &Catalogue) {
    let mut changed: BTreeSet<usize> = BTreeSet::new();
    for (i, s) in signals.iter_mut().enumerate() {
        if let Some(id) = s.fields.get_mut(KEY) {
            *id = id.trim_matches(['{', '}']).to_ascii_uppercase();
        }
        let named = s
            .fields
            .get("resource")
            .zip(s.fields.get("message"))
            .and_then(|(resource, message)| vm_from_resource(resource, message));
        if let (None, Some(vm)) = (s.fields.get("vm"), named) {
            s.fields.insert("vm".into(), vm);
            changed.insert(i);
        }
    }
    changed.extend(one_name_per_vm(signals));
    changed.extend(lend_fields(signals, catalogue));
    for (i, s) in signals.iter_mut().enumerate() {
        let fallbacks = catalogue.fallbacks(s);
        if !fallbacks.is_empty() {
            // Say which fields are guesses: a rule relation that rests on one is at most
            // medium (src/rules/matcher.rs).
            let names: Vec<&str> = fallbacks.iter().map(|(n, _)| n.as_str()).collect();
            s.fields.insert(INFERRED.into(), names.join(" "));
            s.fields.extend(fallbacks);
            changed.insert(i);
        }
    }
    for i in changed {
        catalogue.retext(&mut signals[i]);
    }
}

/// The VM's name inside a localized resource name (`Virtuelle Maschine O'Brien-SQL`): the
/// longest part after a space that the message also quotes on its own (`'O'Brien-SQL'`).
pub fn vm_from_resource(resource: &str, message: &str) -> Option<String> {
    resource
        .char_indices()
        .filter(|(_, c)| *c == ' ')
        .map(|(at, _)| resource[at + 1..].trim())
        .find(|name| !name.is_empty() && message.contains(&format!("'{name}'")))
        .map(str::to_string)
}

/// One name per VM id: the name most of its events give (then the longest, which a name cut
/// at an apostrophe never is); a name that belongs to one VM id alone gives signals without an
/// id (1255) that id. Returns the signals changed.
fn one_name_per_vm(signals: &mut [Signal]) -> Vec<usize> {
    let mut names: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for s in signals.iter() {
        if let (Some(id), Some(vm)) = (s.fields.get(KEY), s.fields.get("vm")) {
            *names
                .entry(id.clone())
                .or_default()
                .entry(vm.clone())
                .or_default() += 1;
        }
    }
    let canonical: BTreeMap<String, String> = names
        .iter()
        .filter_map(|(id, counts)| {
            let best = counts
                .iter()
                .max_by(|a, b| {
                    (a.1, a.0.chars().count())
                        .cmp(&(b.1, b.0.chars().count()))
                        .then(b.0.cmp(a.0))
                })
                .map(|(name, _)| name.clone())?;
            Some((id.clone(), best))
        })
        .collect();
    let mut ids_of_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (id, name) in &canonical {
        ids_of_name.entry(name).or_default().insert(id);
    }
    let id_by_name: BTreeMap<String, String> = ids_of_name
        .into_iter()
        .filter(|(_, ids)| ids.len() == 1)
        .filter_map(|(name, ids)| Some((name.to_string(), (*ids.first()?).to_string())))
        .collect();
    let mut changed = Vec::new();
    for (i, s) in signals.iter_mut().enumerate() {
        if let Some(name) = s.fields.get(KEY).and_then(|id| canonical.get(id)) {
            if s.fields.get("vm") != Some(name) {
                s.fields.insert("vm".into(), name.clone());
                changed.push(i);
            }
        } else if let Some(id) = s.fields.get("vm").and_then(|vm| id_by_name.get(vm)) {
            s.fields.insert(KEY.into(), id.clone());
        }
    }
    changed
}

/// Each signal with a VM id that lacks a joined field takes it from the nearest signal in
/// time of the same VM id that has it from its own event, within [`WINDOW_MS`]; only fields
/// its own definition has (a completed migration has no failing side).
fn lend_fields(signals: &mut [Signal], catalogue: &Catalogue) -> Vec<usize> {
    let mut by_vm: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in signals.iter().enumerate() {
        if let Some(id) = s.fields.get(KEY) {
            by_vm.entry(id.clone()).or_default().push(i);
        }
    }
    let mut lent: Vec<(usize, &str, String)> = Vec::new();
    for group in by_vm.values_mut() {
        group.sort_by_key(|&i| signals[i].time);
        for (at, &i) in group.iter().enumerate() {
            let def = catalogue.get(&signals[i].name);
            for field in JOINED {
                if signals[i].fields.contains_key(field) || !def.is_some_and(|d| d.has_field(field))
                {
                    continue;
                }
                if let Some(value) = nearest(signals, group, at, field) {
                    lent.push((i, field, value));
                }
            }
        }
    }
    let mut changed = Vec::new();
    for (i, field, value) in lent {
        signals[i].fields.insert(field.to_string(), value);
        changed.push(i);
    }
    changed
}

fn nearest(signals: &[Signal], group: &[usize], at: usize, field: &str) -> Option<String> {
    let time = signals[group[at]].time;
    let before = group[at.saturating_sub(NEIGHBOURS)..at].iter().rev();
    let after = group[at + 1..].iter().take(NEIGHBOURS);
    before
        .chain(after)
        .map(|&j| &signals[j])
        .filter(|s| (s.time - time).num_milliseconds().abs() <= WINDOW_MS)
        .filter_map(|s| {
            Some((
                (s.time - time).num_milliseconds().abs(),
                s.fields.get(field)?,
            ))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, value)| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_name_is_found_inside_a_localized_resource_name() {
        let message = "Fehler bei der Livemigration von 'Virtueller Computer O'Brien-SQL'. \
                       Fehler bei 'O'Brien-SQL' am Migrationsquellort 'HV01'.";
        assert_eq!(
            vm_from_resource("Virtueller Computer O'Brien-SQL", message).as_deref(),
            Some("O'Brien-SQL")
        );
        assert_eq!(
            vm_from_resource("Virtueller Computer VM1", "no quotes"),
            None
        );
    }
}
