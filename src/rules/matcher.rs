//! Correlation: finds where a rule's steps, relations and absences hold on the timeline, and
//! turns those matches into findings (SPEC §4.3). Nothing here knows a rule by its id.

use super::text::fill;
use super::*;
use crate::analysis::{Coverage, Finding};
use crate::signal::Signal;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

/// What correlating one case needs besides a rule.
struct Context<'a> {
    rules: &'a RuleSet,
    timeline: &'a [Signal],
    /// Every host of the case: those with collected logs or signals.
    hosts: BTreeSet<&'a str>,
    /// Those and every host a signal names (a migration's peer, a cluster node): the hosts an
    /// absence must have looked at.
    known_hosts: BTreeSet<&'a str>,
    coverage: &'a [Coverage],
    lang: &'a str,
}

/// One way a form of a rule held: for each step, the signals (timeline indices) it bound.
#[derive(Debug)]
struct Match {
    /// What the finding may claim: the form's confidence, or medium where an absence could
    /// not be checked or a relation rests on an inferred field.
    confidence: Confidence,
    /// Which form of the rule matched (its steps and words).
    form: Confidence,
    bound: Vec<Vec<usize>>,
    host: String,
    time_ms: i64,
    /// Absences that could not be checked: hosts whose log for the absence's window is not in
    /// the case.
    unchecked: Vec<Unchecked>,
    /// A "source is the host of" relation held only through a source that was inferred (the
    /// host that logged the failure), not read from any event.
    inferred_source: bool,
}

/// An absence not checked on some hosts: "no `label` on `hosts`" is unknown there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unchecked {
    hosts: Vec<String>,
    log: String,
    label: String,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Fields whose values are host keys: hosts the case speaks of, collected or not.
const HOST_FIELDS: [&str; 5] = ["node", "source", "destination", "peer", "host"];

/// Every finding of every rule, ordered by severity, then time, then rule.
pub fn correlate(
    rules: &RuleSet,
    timeline: &[Signal],
    coverage: &[Coverage],
    lang: &str,
) -> Vec<Finding> {
    let hosts: BTreeSet<&str> = coverage
        .iter()
        .filter(|c| !c.missing)
        .map(|c| c.host.as_str())
        .chain(timeline.iter().map(|s| s.host.as_str()))
        .collect();
    let known_hosts = timeline
        .iter()
        .flat_map(|s| HOST_FIELDS.iter().filter_map(|f| s.fields.get(*f)))
        .map(String::as_str)
        .filter(|h| !h.is_empty() && *h != "?")
        .chain(hosts.iter().copied())
        .collect();
    let context = Context {
        rules,
        timeline,
        hosts,
        known_hosts,
        coverage,
        lang,
    };
    let mut findings: Vec<Finding> = rules
        .rules
        .iter()
        .flat_map(|rule| findings_of(rule, &context))
        .collect();
    findings.sort_by(|a, b| {
        (a.severity, a.first, &a.rule, &a.host).cmp(&(b.severity, b.first, &b.rule, &b.host))
    });
    findings
}

fn findings_of(rule: &Rule, cx: &Context) -> Vec<Finding> {
    let mut matches = matches_of(rule, &rule.high, rule.ceiling, cx);
    if let Some(medium) = &rule.medium {
        // A medium match is only a finding where the rule did not already hold in full.
        let weaker: Vec<Match> = matches_of(rule, medium, Confidence::Medium, cx)
            .into_iter()
            .filter(|m| {
                !matches.iter().any(|h| {
                    same_group(rule, h, m) && (h.time_ms - m.time_ms).abs() <= rule.window_ms
                })
            })
            .collect();
        matches.extend(weaker);
    }
    group(rule, matches)
        .into_iter()
        .map(|group| finding(rule, &group, cx))
        .collect()
}

fn same_group(rule: &Rule, a: &Match, b: &Match) -> bool {
    rule.scope == Scope::Cluster || a.host == b.host
}

fn matches_of(rule: &Rule, form: &Form, confidence: Confidence, cx: &Context) -> Vec<Match> {
    let timeline = cx.timeline;
    let host_step = form
        .steps
        .iter()
        .position(|s| s.name == rule.host_step)
        .unwrap_or(0);
    let mut out = Vec::new();
    // A flood of one event (the same signal, host and fields many times a second) anchors
    // the rule once per second: every copy would bind the same evidence.
    let mut anchored: HashMap<u64, i64> = HashMap::new();
    for (anchor, signal) in timeline.iter().enumerate() {
        if !accepts(&form.steps[0], signal) {
            continue;
        }
        let at = signal.at.timestamp_millis();
        match anchored.entry(same_content(signal)) {
            Entry::Occupied(last) if at - *last.get() < 1000 => continue,
            Entry::Occupied(mut last) => {
                last.insert(at);
            }
            Entry::Vacant(v) => {
                v.insert(at);
            }
        }
        let Some(bound) = bind(form, anchor, timeline, &cx.hosts) else {
            continue;
        };
        if form.absent.iter().any(|a| present(a, &bound, timeline)) {
            continue;
        }
        let host = bound[host_step]
            .first()
            .map_or_else(|| signal.host.clone(), |&i| timeline[i].host.clone());
        let unchecked: Vec<Unchecked> = form
            .absent
            .iter()
            .filter_map(|a| unchecked(a, &bound, cx))
            .collect();
        let inferred_source = rests_on_inferred_source(form, &bound, timeline);
        out.push(Match {
            // An absence that could not be checked everywhere is not known (SPEC 4.1), and a
            // source that no event named is a guess.
            confidence: if unchecked.is_empty() && !inferred_source {
                confidence
            } else {
                Confidence::Medium
            },
            form: confidence,
            bound,
            host,
            time_ms: signal.at.timestamp_millis(),
            unchecked,
            inferred_source,
        });
    }
    out
}

/// Binds every step after the anchor, or `None` when a required step finds nothing.
fn bind(
    form: &Form,
    anchor: usize,
    timeline: &[Signal],
    hosts: &BTreeSet<&str>,
) -> Option<Vec<Vec<usize>>> {
    let mut bound = vec![vec![anchor]];
    for step in &form.steps[1..] {
        let mut found = candidates(step, &bound, timeline);
        let only_every_host = !step.every_host.is_empty()
            && found
                .iter()
                .all(|&i| step.every_host.contains(&timeline[i].name));
        if only_every_host {
            let seen: BTreeSet<&str> = found.iter().map(|&i| timeline[i].host.as_str()).collect();
            if !hosts.iter().all(|h| seen.contains(h)) {
                found.clear();
            }
        }
        if found.is_empty() && !step.optional {
            return None;
        }
        bound.push(found);
    }
    Some(bound)
}

/// A hash of what a signal says (name, host, fields), not of when or from which record.
fn same_content(signal: &Signal) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (&signal.name, &signal.host, &signal.fields).hash(&mut h);
    h.finish()
}

/// The most signals one step looks at around one anchor. A real case has far fewer in any
/// window; in a flood past it, a step binds what it saw. (Absences look at their whole window:
/// a signal missed there would be claimed absent.)
const MAX_SCAN: usize = 5_000;

/// Name and field conditions: what a step asks of a signal on its own.
fn accepts(step: &Step, signal: &Signal) -> bool {
    step.signals.contains(&signal.name)
        && all_hold(&step.conditions, signal)
        && (step.any_of.is_empty() || step.any_of.iter().any(|g| all_hold(g, signal)))
}

/// Every condition that applies to the signal holds.
fn all_hold(conditions: &[FieldCondition], signal: &Signal) -> bool {
    conditions
        .iter()
        .all(|(field, cond, applies)| !applies.contains(&signal.name) || holds(field, cond, signal))
}

/// A field condition on one signal. A `code` condition also holds for any code of the
/// signal's `codes` (every code its message carries: a wrapper and its cause).
pub(crate) fn holds(field: &str, cond: &Condition, signal: &Signal) -> bool {
    if let Condition::NotCode(_) = cond {
        // Every code the signal carries must be outside the list.
        return ["codes", field]
            .iter()
            .all(|name| signal.fields.get(*name).is_none_or(|v| cond.holds(v)));
    }
    let value = |name: &str| signal.fields.get(name).is_some_and(|v| cond.holds(v));
    value(field) || (matches!(cond, Condition::Code(_)) && value("codes"))
}

/// The representative of a bound step: its earliest signal.
fn rep<'t>(bound: &[Vec<usize>], step: usize, timeline: &'t [Signal]) -> Option<&'t Signal> {
    bound.get(step)?.first().map(|&i| &timeline[i])
}

fn candidates(step: &Step, bound: &[Vec<usize>], timeline: &[Signal]) -> Vec<usize> {
    let Some((lo, hi)) = time_window(step, bound, timeline) else {
        return Vec::new();
    };
    let start = timeline.partition_point(|s| s.at.timestamp_millis() < lo);
    timeline[start..]
        .iter()
        .take_while(|s| s.at.timestamp_millis() <= hi)
        .take(MAX_SCAN)
        .filter(|s| accepts(step, s) && related(step, s, bound, timeline))
        .filter(|s| far_enough(step, s, bound, timeline))
        // The signal an earlier step stands on is not this step's evidence too (a step may
        // still bind signals another step merely collected).
        .filter(|s| !bound.iter().any(|ids| ids.first() == Some(&s.id)))
        .map(|s| s.id)
        .collect()
}

/// The time span the step's time relations allow, in ms; `None` when a relation names a step
/// that bound nothing, or the relations contradict each other.
fn time_window(step: &Step, bound: &[Vec<usize>], timeline: &[Signal]) -> Option<(i64, i64)> {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    for rel in &step.time {
        let t = rep(bound, rel.step, timeline)?.at.timestamp_millis();
        let (a, b) = match rel.kind {
            TimeKind::After => (t, t + rel.within_ms),
            TimeKind::Before => (t - rel.within_ms, t),
            TimeKind::Around => (t - rel.within_ms, t + rel.within_ms),
        };
        lo = lo.max(a);
        hi = hi.min(b);
    }
    (lo <= hi).then_some((lo, hi))
}

/// The `at_least` part of time relations: the signals are at least that far apart.
fn far_enough(step: &Step, signal: &Signal, bound: &[Vec<usize>], timeline: &[Signal]) -> bool {
    step.time.iter().all(|rel| {
        rep(bound, rel.step, timeline)
            .is_some_and(|o| (signal.at - o.at).num_milliseconds().abs() >= rel.at_least_ms)
    })
}

/// Host, migration-source and VM relations to earlier steps.
fn related(step: &Step, signal: &Signal, bound: &[Vec<usize>], timeline: &[Signal]) -> bool {
    let host_ok = match step.host {
        None => true,
        Some(HostRelation::Same(r)) => {
            rep(bound, r, timeline).is_some_and(|o| o.host == signal.host)
        }
        Some(HostRelation::Different(r)) => {
            rep(bound, r, timeline).is_some_and(|o| o.host != signal.host)
        }
        Some(HostRelation::PeerOf(r)) => rep(bound, r, timeline).is_some_and(|o| {
            o.fields
                .get("peer")
                .or_else(|| o.fields.get("destination"))
                .is_some_and(|peer| *peer == signal.host)
        }),
    };
    let source_ok = step.source_is_host_of.is_none_or(|r| {
        rep(bound, r, timeline).is_some_and(|o| signal.fields.get("source") == Some(&o.host))
    });
    // Different from the step's first signal: its other signals may well be this VM.
    let different_ok = step.different_vm.is_none_or(|r| {
        let first = rep(bound, r, timeline).and_then(|o| o.fields.get("vm"));
        signal
            .fields
            .get("vm")
            .is_some_and(|vm| first.is_some_and(|f| f != vm))
    });
    let vm_ok = step.same_vm.is_none_or(|r| {
        bound.get(r).is_some_and(|ids| {
            ids.iter().any(|&i| {
                signal
                    .fields
                    .get("vm")
                    .is_some_and(|vm| timeline[i].fields.get("vm") == Some(vm))
            })
        })
    });
    host_ok && source_ok && vm_ok && different_ok
}

/// Whether a signal the rule needs to be absent is there.
fn present(absence: &Absence, bound: &[Vec<usize>], timeline: &[Signal]) -> bool {
    let Some(of) = rep(bound, absence.of, timeline) else {
        return false;
    };
    let t = of.at.timestamp_millis();
    let (lo, hi) = absence
        .within_ms
        .map_or((i64::MIN, i64::MAX), |w| (t - w, t + w));
    let start = timeline.partition_point(|s| s.at.timestamp_millis() < lo);
    timeline[start..]
        .iter()
        .take_while(|s| s.at.timestamp_millis() <= hi)
        .any(|s| {
            absence.signals.contains(&s.name)
                && all_hold(&absence.conditions, s)
                && (!absence.same_vm
                    || s.fields
                        .get("vm")
                        .is_some_and(|vm| of.fields.get("vm") == Some(vm)))
                && match absence.host {
                    AbsentHost::Same => s.host == of.host,
                    AbsentHost::Other => s.host != of.host,
                    AbsentHost::Any => true,
                }
        })
}

/// Whether a step related by "source is the host of" bound only signals whose `source` was
/// inferred rather than read.
fn rests_on_inferred_source(form: &Form, bound: &[Vec<usize>], timeline: &[Signal]) -> bool {
    form.steps.iter().zip(bound).any(|(step, ids)| {
        step.source_is_host_of.is_some()
            && !ids.is_empty()
            && ids.iter().all(|&i| {
                timeline[i]
                    .fields
                    .get(crate::migration::INFERRED)
                    .is_some_and(|f| f.split(' ').any(|n| n == "source"))
            })
    })
}

/// The hosts an absence should have looked at whose log for its window is not in the case
/// (not collected, or starting after the window or ending before it).
fn unchecked(absence: &Absence, bound: &[Vec<usize>], cx: &Context) -> Option<Unchecked> {
    let of = rep(bound, absence.of, cx.timeline)?;
    let window = absence.within_ms.map(|w| {
        (
            of.at - chrono::Duration::milliseconds(w),
            of.at + chrono::Duration::milliseconds(w),
        )
    });
    let defs: Vec<_> = absence
        .signals
        .iter()
        .filter_map(|name| cx.rules.catalogue.get(name))
        .collect();
    let log = defs.iter().find_map(|d| d.log.clone())?;
    let hosts: Vec<String> = cx
        .known_hosts
        .iter()
        .filter(|h| match absence.host {
            AbsentHost::Same => **h == of.host,
            AbsentHost::Other => **h != of.host,
            AbsentHost::Any => true,
        })
        .filter(|h| !log_spans(cx.coverage, h, &log, window))
        .map(|h| (*h).to_string())
        .collect();
    (!hosts.is_empty()).then(|| Unchecked {
        hosts,
        log,
        label: defs.first().map(|d| d.label.clone()).unwrap_or_default(),
        from: window.map(|w| w.0),
        to: window.map(|w| w.1),
    })
}

/// Whether `host`'s `log` is in the case over the whole window (or at all, without one). A
/// log starts at its first record (before it, it may have wrapped or been cleared) and runs
/// until the host's last record in any log: logs are exported together, and a quiet log such
/// as Hyper-V-High-Availability-Admin has no record of its own at the end.
fn log_spans(
    coverage: &[Coverage],
    host: &str,
    log: &str,
    window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
) -> bool {
    let host_last = coverage
        .iter()
        .filter(|c| c.host == host)
        .filter_map(|c| c.last)
        .max();
    coverage.iter().any(|c| {
        c.host == host
            && !c.missing
            && crate::coverage::same_log(&c.channel, log)
            && window.is_none_or(|(from, to)| {
                c.first.is_some_and(|f| f <= from) && host_last.is_some_and(|l| l >= to)
            })
    })
}

/// Matches of one host (or of the cluster) within the rule's window of the finding's first
/// match are one finding; a match more than a window later starts a new one (SPEC 4.3).
fn group(rule: &Rule, mut matches: Vec<Match>) -> Vec<Vec<Match>> {
    matches.sort_by(|a, b| (a.host.as_str(), a.time_ms).cmp(&(b.host.as_str(), b.time_ms)));
    if rule.scope == Scope::Cluster {
        matches.sort_by_key(|m| m.time_ms);
    }
    let mut groups: Vec<Vec<Match>> = Vec::new();
    for m in matches {
        let joins = groups.last().is_some_and(|g| {
            let (first, last) = (&g[0], &g[g.len() - 1]);
            same_group(rule, last, &m)
                && m.time_ms - first.time_ms <= rule.window_ms
                && last.confidence == m.confidence
                && last.form == m.form
        });
        if joins {
            groups.last_mut().expect("joins implies a group").push(m);
        } else {
            groups.push(vec![m]);
        }
    }
    groups
}

fn finding(rule: &Rule, group: &[Match], cx: &Context) -> Finding {
    let (timeline, lang) = (cx.timeline, cx.lang);
    let confidence = group[0].confidence;
    let form = match group[0].form {
        Confidence::High => &rule.high,
        Confidence::Medium => rule.medium.as_ref().unwrap_or(&rule.high),
    };
    let evidence: BTreeSet<usize> = group
        .iter()
        .flat_map(|m| m.bound.iter().flatten().copied())
        .collect();
    let signals: Vec<&Signal> = evidence.iter().map(|&i| &timeline[i]).collect();
    let vm_steps: BTreeSet<usize> = form
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| rule.vm_steps.is_empty() || rule.vm_steps.contains(&s.name))
        .flat_map(|(i, _)| group.iter().flat_map(move |m| m.bound[i].iter().copied()))
        .collect();
    let vms: BTreeSet<String> = vm_steps
        .iter()
        .filter_map(|&i| timeline[i].fields.get("vm").cloned())
        .collect();
    let hosts: BTreeSet<String> = signals.iter().map(|s| s.host.clone()).collect();
    let first = signals.iter().map(|s| s.at).min().unwrap_or_default();
    let last = signals.iter().map(|s| s.at).max().unwrap_or_default();
    let host = group[0].host.clone();
    let lookup = |name: &str| -> Option<String> {
        match name {
            "host" => Some(host.clone()),
            "hosts" => Some(hosts.iter().cloned().collect::<Vec<_>>().join(", ")),
            "vms" => (!vms.is_empty()).then(|| vms.iter().cloned().collect::<Vec<_>>().join(", ")),
            "time" | "first" => Some(crate::report::utc(first)),
            "last" => Some(crate::report::utc(last)),
            _ if name.contains("->") => elapsed(form, group, timeline, name),
            _ => field_value(form, group, timeline, name),
        }
    };
    let text = rule
        .text
        .get(lang)
        .or_else(|| rule.text.get("en"))
        .expect("every rule has [text.en]");
    let mut unchecked: Vec<&Unchecked> = group.iter().flat_map(|m| &m.unchecked).collect();
    unchecked.dedup_by(|a, b| a.hosts == b.hosts && a.log == b.log && a.label == b.label);
    let mut missing: Vec<String> = form
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| s.optional && group.iter().all(|m| m.bound[*i].is_empty()))
        // Evidence absent from a log the case holds for that time did not happen: only what
        // would sit in a missing log, or outside the span collected, is worth collecting.
        .filter(|(_, s)| !evidence_log_covered(cx, s, &host, first))
        .map(|(_, s)| s.name.clone())
        .chain(form.collect.iter().cloned())
        .filter_map(|key| text.collect.get(&key).map(|t| fill(t, lookup)))
        .collect();
    missing.extend(unchecked.iter().map(|u| collect_line(u, lang)));
    missing.dedup();
    let mut cause = fill(
        match (group[0].form, &text.cause_medium) {
            (Confidence::Medium, Some(medium)) => medium,
            _ => &text.cause,
        },
        lookup,
    );
    for u in &unchecked {
        cause.push(' ');
        cause.push_str(&caveat(u, lang));
    }
    if group.iter().any(|m| m.inferred_source) {
        cause.push(' ');
        cause.push_str(match lang {
            "ja" => "ただし、移行元ホストはイベントに記載されておらず、失敗を記録したホストを移行元とみなしています (未確認)。",
            _ => "Not confirmed: no event names the migration's source; the host that logged the failure is taken for it (unverified).",
        });
        missing.push(match lang {
            "ja" => format!("{host} の Microsoft-Windows-Hyper-V-VMMS-Admin ログ ({} 前後) を採取してください。20413/21024 が移行元と移行先を示します。", crate::report::utc(first)),
            _ => format!("Collect {host}'s Microsoft-Windows-Hyper-V-VMMS-Admin log around {}: its 20413/21024 name the migration's source and destination.", crate::report::utc(first)),
        });
    }
    let title = match (confidence, &text.title_medium) {
        (Confidence::Medium, Some(medium)) => medium,
        _ => &text.title,
    };
    Finding {
        rule: rule.id.clone(),
        severity: rule.severity,
        confidence,
        host: host.clone(),
        hosts: hosts.iter().cloned().collect(),
        vms: vms.iter().cloned().collect(),
        first,
        last,
        title: fill(title, lookup),
        cause,
        fix: text.fix.iter().map(|f| fill(f, lookup)).collect(),
        evidence: evidence.into_iter().collect(),
        missing,
        config: None,
        config_evidence: Vec::new(),
    }
}

/// "Collect next" for an absence that could not be checked.
fn collect_line(u: &Unchecked, lang: &str) -> String {
    let hosts = u.hosts.join(", ");
    let span = match (u.from, u.to) {
        (Some(from), Some(to)) => Some((crate::report::utc(from), crate::report::utc(to))),
        _ => None,
    };
    match (lang, span) {
        ("ja", Some((from, to))) => format!(
            "{hosts} の {log} ログ ({from} から {to} まで) を採取してください。これがないと、その間に「{label}」が起きていないことを確認できないため、この結果の確度は中程度です。",
            log = u.log, label = u.label
        ),
        ("ja", None) => format!(
            "{hosts} の {log} ログを採取してください。これがないと、「{label}」が記録されていないことを確認できないため、この結果の確度は中程度です。",
            log = u.log, label = u.label
        ),
        (_, Some((from, to))) => format!(
            "Collect the {log} log of {hosts} covering {from} to {to}: without it hvtriage cannot check that \"{label}\" did not happen there, so this finding is at most medium.",
            log = u.log, label = u.label
        ),
        (_, None) => format!(
            "Collect the {log} log of {hosts}: without it hvtriage cannot check that \"{label}\" was not logged there, so this finding is at most medium.",
            log = u.log, label = u.label
        ),
    }
}

/// What a finding's cause must add when an absence could not be checked.
fn caveat(u: &Unchecked, lang: &str) -> String {
    let hosts = u.hosts.join(", ");
    match lang {
        "ja" => format!(
            "ただし、{hosts} の {log} ログがその時間帯について採取されていないため、{hosts} で「{label}」が起きていなかったかは確認できていません。",
            log = u.log, label = u.label
        ),
        _ => format!(
            "Not checked: whether {hosts} also logged \"{label}\" at that time, because the case holds no {log} log of {hosts} for it.",
            log = u.log, label = u.label
        ),
    }
}

/// `step.field` or `field`: the first bound signal (in step order, then time) that has it.
fn field_value(form: &Form, group: &[Match], timeline: &[Signal], name: &str) -> Option<String> {
    let (step, field) = match name.split_once('.') {
        Some((step, field)) => (Some(step), field),
        None => (None, name),
    };
    form.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| step.is_none_or(|n| n == s.name))
        .flat_map(|(i, _)| group.iter().flat_map(move |m| m.bound[i].iter()))
        .find_map(|&id| {
            let signal = &timeline[id];
            signal.fields.get(field).cloned().or_else(|| match field {
                // `{step.host}` and `{step.time}`: the host that logged it and when, for
                // signals without a field of that name.
                "host" if step.is_some() => Some(signal.host.clone()),
                "time" if step.is_some() => Some(crate::report::utc(signal.at)),
                _ => None,
            })
        })
}

/// `{from->to}`: the time from the first signal of step `from` to the first of step `to`, in
/// seconds, as people read it ("47 s", "3 min 5 s").
fn elapsed(form: &Form, group: &[Match], timeline: &[Signal], name: &str) -> Option<String> {
    let (from, to) = name.split_once("->")?;
    let first = |step: &str| {
        let i = form.steps.iter().position(|s| s.name == step)?;
        group
            .iter()
            .flat_map(|m| m.bound[i].iter())
            .map(|&id| timeline[id].at)
            .min()
    };
    let seconds = (first(to)? - first(from)?).num_seconds();
    Some(if seconds.abs() < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min {} s", seconds / 60, seconds.abs() % 60)
    })
}

/// Whether every log that would hold the step's signals is in the case for `host` at `time`.
fn evidence_log_covered(
    cx: &Context,
    step: &Step,
    host: &str,
    time: chrono::DateTime<chrono::Utc>,
) -> bool {
    step.signals.iter().all(|name| {
        cx.rules
            .catalogue
            .get(name)
            .and_then(|d| d.log.as_deref())
            .is_some_and(|log| crate::coverage::covers(cx.coverage, host, log, time))
    })
}
