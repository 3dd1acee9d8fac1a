//! The leader: one agent at a time runs the engine for the whole cluster.
//!
//! ```text
//! follower ---- leader key absent, campaign won ----> leader (token = key revision)
//! leader ---- mirror shows our key ----> rebuild the engine from the mirror alone
//! leader ---- each new mirror state ----> differences as engine inputs ---->
//!             actions: intents (fenced), cancels/aborts (fenced), events
//! leader ---- members gone / back ----> node_down / node_up (+ vm_up for the
//!             VMs a returning agent started), recorded in members_seen (fenced)
//! leader ---- lease not surely alive / key gone or replaced ----> follower (acts on nothing)
//! leader ---- inventory changed / a fenced write refused ----> rebuild
//! ```

use super::{log, wait_state, Context, RETRY_INTERVAL};
use crate::clock::unix_ms;
use crate::leader::{is_member, is_nic, rebuild, InFlight, Snapshot};
use crate::store::{Intent, Leadership, Outcome, State};
use haven_core::event::{Event, EventKind, FailureCause};
use haven_core::model::{Cluster, Millis};
use haven_core::{Action, Engine, Input, MigrationId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long a new leader waits for the mirror to show its own leader key.
const MIRROR_CATCH_UP: Duration = Duration::from_secs(5);
/// Rebuilds in a row after which a leader resigns (another may do better).
const REBUILDS_MAX: u32 = 10;

/// Why leading stopped.
enum End {
    /// Not leader any more (or not surely): campaign again.
    Lost(String),
    /// Still leader, but the engine must be rebuilt from the store.
    Rebuild(String),
}

/// Campaigns whenever there is no leader, and leads while elected.
pub(super) async fn run(ctx: Arc<Context>) {
    loop {
        if !ctx.alive() {
            tokio::time::sleep(RETRY_INTERVAL).await;
            continue;
        }
        match ctx.store.campaign(&ctx.lease()).await {
            Ok(Some(l)) => {
                log(
                    &ctx.node,
                    &format!("leading the cluster (fencing token {})", l.revision),
                );
                let mut rebuilds = 0;
                loop {
                    let started = tokio::time::Instant::now();
                    let end = lead(&ctx, &l).await;
                    // Only failures in a row count.
                    if started.elapsed() > Duration::from_secs(60) {
                        rebuilds = 0;
                    }
                    match end {
                        End::Rebuild(why) if rebuilds >= REBUILDS_MAX => {
                            // Leading is failing: let another node try.
                            let m =
                                format!("resigning after {REBUILDS_MAX} failed rebuilds: {why}");
                            log(&ctx.node, &m);
                            let _ = ctx.store.resign(&l).await;
                            tokio::time::sleep(RETRY_INTERVAL * 4).await;
                            break;
                        }
                        End::Rebuild(why) => {
                            rebuilds += 1;
                            log(&ctx.node, &format!("rebuilding the engine: {why}"));
                            tokio::time::sleep(Duration::from_millis(50) * rebuilds).await;
                        }
                        End::Lost(why) => {
                            log(&ctx.node, &format!("not leading any more: {why}"));
                            break;
                        }
                    }
                }
            }
            Ok(None) => {
                // Wait for the leader key to go (its lease expired or it
                // resigned), re-checking now and then.
                let gone = |s: &State| s.leader.is_none().then_some(());
                wait_state(&ctx, RETRY_INTERVAL, gone).await;
            }
            Err(e) => {
                log(&ctx.node, &format!("cannot campaign: {e}"));
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    }
}

/// The engine's clock: Unix milliseconds that never run backwards.
struct Clock {
    last: Millis,
}

impl Clock {
    fn now(&mut self) -> Millis {
        self.last = self.last.max(unix_ms());
        self.last
    }
}

/// What the engine has been told, to turn new states into differences.
struct Known {
    links: BTreeMap<(String, String), bool>,
    /// The members reported up, as the last leader left them.
    members: BTreeSet<String>,
    /// Per member, the VMs its agent started that are reported (`vm_up`).
    started: BTreeMap<String, BTreeSet<String>>,
    protection: BTreeMap<(String, String), bool>,
    /// The intents this leader tracks (written or adopted), by VM.
    pending: BTreeMap<String, Intent>,
}

async fn lead(ctx: &Context, l: &Leadership) -> End {
    let mut rx = ctx.state.clone();
    let ours = Some((l.node.clone(), l.revision));
    // The engine is built from the mirror: it must have seen every write
    // made so far (say, an intent whose answer was lost), not just ours.
    let now_revision = match ctx.store.revision().await {
        Ok(revision) => revision,
        Err(e) => return End::Lost(format!("etcd: {e}")),
    };
    let seen = |s: &State| (s.leader == ours && s.revision >= now_revision).then_some(());
    if wait_state(ctx, MIRROR_CATCH_UP, seen).await.is_none() {
        return End::Lost("the leader key is not ours".into());
    }
    let mut clock = Clock { last: 0 };
    let state = rx.borrow_and_update().clone();
    let snapshot = snapshot_of(ctx, &state, l.revision);
    let (mut engine, actions) = match rebuild(&snapshot, clock.now(), l.revision as u64) {
        Ok(built) => built,
        Err(e) => {
            tokio::time::sleep(RETRY_INTERVAL).await;
            return End::Rebuild(e.to_string());
        }
    };
    // The members the last leader reported: what changed since (a node
    // that went down while nobody led) is reported by this one.
    let members = state
        .members_seen
        .clone()
        .unwrap_or(snapshot.members.clone());
    let mut started = started_of(&state);
    started.retain(|node, _| members.contains(node));
    let mut known = Known {
        links: flat_links(&snapshot.links),
        members,
        started,
        protection: snapshot.protection.clone(),
        pending: state.intents.clone(),
    };
    let mut prev = state;
    let round = carry_out(
        ctx,
        l,
        &mut engine,
        &mut known,
        &mut clock,
        Vec::new(),
        actions,
    );
    if let Err(end) = round.await {
        return end;
    }
    loop {
        let wait = match engine.poll_timeout() {
            Some(at) => Duration::from_millis(at.saturating_sub(clock.now())),
            None => RETRY_INTERVAL,
        };
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return End::Lost("the agent is stopping".into());
                }
            }
            () = tokio::time::sleep(wait.min(RETRY_INTERVAL)) => {}
        }
        if !ctx.alive() {
            return End::Lost("the membership lease is not surely alive (etcd lost?)".into());
        }
        let cur = rx.borrow_and_update().clone();
        if cur.leader != ours {
            return End::Lost("the leader key is gone or another's".into());
        }
        if cur.inventory != prev.inventory {
            return End::Rebuild("the inventory changed".into());
        }
        let now = clock.now();
        engine.handle_timeout(now);
        // The cluster's own record of each cable change comes first, as the
        // simulator's world reports it before the engine reacts.
        let mut seen: Vec<Event> = (membership_events(&cur, &known).into_iter())
            .map(|kind| Event { t_ms: now, kind })
            .collect();
        for input in differences(ctx, &cur, &mut known) {
            if let Input::LinkChanged { node, nic, up } = &input {
                let (node, nic) = (node.clone(), nic.clone());
                let kind = match up {
                    true => EventKind::LinkUp { node, nic },
                    false => EventKind::LinkDown { node, nic },
                };
                seen.push(Event { t_ms: now, kind });
            }
            if let Input::LinkChanged { node, nic, .. } = &input {
                if !is_nic(&ctx.cluster, node, nic) {
                    continue; // a bond member: recorded, not the engine's
                }
            }
            let cancelled = match &input {
                Input::MigrationCancelled { id } => Some(*id),
                _ => None,
            };
            if let Err(e) = engine.handle(now, input) {
                // An abort asked for before a rebuild: the rebuilt engine
                // does not know it aborted, but the migration is over and
                // the VM is on its source.
                let failed = cancelled.map(|id| Input::MigrationFailed {
                    id,
                    cause: FailureCause::Hypervisor("cancelled".into()),
                });
                if failed.is_none_or(|f| engine.handle(now, f).is_err()) {
                    log(&ctx.node, &format!("the engine refused a change: {e}"));
                }
            }
        }
        prev = cur;
        let actions = engine.take_actions();
        let round = carry_out(ctx, l, &mut engine, &mut known, &mut clock, seen, actions).await;
        if let Err(end) = round {
            return end;
        }
        // The mirror shows what is stored (a write not yet mirrored is
        // repeated, harmlessly).
        if prev.members_seen.as_ref() != Some(&known.members) {
            match ctx.store.put_members_seen(l, &known.members).await {
                Ok(true) => {}
                Ok(false) => return End::Lost("the leader key is gone or another's".into()),
                // Tried again after the next change.
                Err(e) => log(&ctx.node, &format!("cannot record the members: {e}")),
            }
        }
    }
}

/// Per member, the VMs its agent started ([`crate::store::MemberInfo::started`]).
fn started_of(state: &State) -> BTreeMap<String, BTreeSet<String>> {
    (state.members.iter())
        .map(|(node, m)| (node.clone(), m.started.iter().cloned().collect()))
        .collect()
}

/// The cluster's record of members gone (`node_down`: its agent left or
/// its lease expired; its VMs may still run) and back (`node_up`), and of
/// the VMs a member's agent found stopped and started (`vm_up`), since
/// `known`. [`differences`] then brings `known` up to date.
fn membership_events(cur: &State, known: &Known) -> Vec<EventKind> {
    let mut events = Vec::new();
    for node in known
        .members
        .iter()
        .filter(|n| !cur.members.contains_key(*n))
    {
        let node = node.clone();
        events.push(EventKind::NodeDown { node });
    }
    for (node, member) in &cur.members {
        let back = !known.members.contains(node);
        if back {
            let node = node.clone();
            events.push(EventKind::NodeUp { node });
        }
        let reported = known.started.get(node).filter(|_| !back);
        for vm in &member.started {
            if reported.is_none_or(|r| !r.contains(vm)) {
                let (vm, node) = (vm.clone(), node.clone());
                events.push(EventKind::VmUp { vm, node });
            }
        }
    }
    events
}

/// The store's state as a [`Snapshot`] for [`rebuild`]; links of NICs the
/// inventory does not have are left out (they cannot matter).
fn snapshot_of(ctx: &Context, state: &State, leader_revision: i64) -> Snapshot {
    let links = (state.links.iter())
        .filter_map(|(node, nics)| {
            let n = ctx.cluster.node(node)?;
            let known = (nics.iter())
                .filter(|(nic, _)| n.nics.iter().any(|k| &k.name == *nic))
                .map(|(nic, &up)| (nic.clone(), up))
                .collect();
            Some((node.clone(), known))
        })
        .collect();
    Snapshot {
        inventory: state.inventory.clone().unwrap_or_default(),
        owners: state.owners.clone(),
        in_flight: (state.intents.values())
            .map(|i| InFlight {
                id: i.id,
                vm: i.vm.clone(),
                from: i.from.clone(),
                to: i.to.clone(),
            })
            .collect(),
        members: state.members.keys().cloned().collect(),
        links,
        protection: state.protection.clone(),
        leader_revision,
        max_used_id: (state.intents.values().map(|i| i.id))
            .chain(state.results.values().map(|r| r.id))
            .max()
            .unwrap_or(0),
    }
}

/// The links of `links` (as agents publish them) that differ from
/// `known`, which then holds them: bond members first, then NICs and
/// bonds, so that a pulled member is reported before the bond it takes
/// down, as the simulator reports them. Links the inventory does not have
/// are left out.
fn link_changes(
    cluster: &Cluster,
    links: &BTreeMap<String, BTreeMap<String, bool>>,
    known: &mut BTreeMap<(String, String), bool>,
) -> Vec<Input> {
    let (nics, members): (Vec<_>, Vec<_>) = (flat_links(links).into_iter())
        .filter(|((node, nic), _)| is_port(cluster, node, nic))
        .partition(|((node, nic), _)| is_nic(cluster, node, nic));
    let mut inputs = Vec::new();
    for ((node, nic), up) in members.into_iter().chain(nics) {
        // The engine starts with every link up.
        let before = known.get(&(node.clone(), nic.clone())).copied();
        if before.unwrap_or(true) != up {
            known.insert((node.clone(), nic.clone()), up);
            inputs.push(Input::LinkChanged { node, nic, up });
        }
    }
    inputs
}

/// Whether `port` is a NIC, bond or bond member of `node` in `cluster`:
/// what an agent publishes.
fn is_port(cluster: &Cluster, node: &str, port: &str) -> bool {
    is_nic(cluster, node, port) || is_member(cluster, node, port)
}

fn flat_links(
    links: &BTreeMap<String, BTreeMap<String, bool>>,
) -> BTreeMap<(String, String), bool> {
    (links.iter())
        .flat_map(|(node, nics)| {
            (nics.iter()).map(move |(nic, &up)| ((node.clone(), nic.clone()), up))
        })
        .collect()
}

/// The engine inputs that bring what it was told to `cur`: link changes,
/// members gone or back, protection overrides, and the outcomes of the
/// intents it waits for.
fn differences(ctx: &Context, cur: &State, known: &mut Known) -> Vec<Input> {
    let mut inputs = link_changes(&ctx.cluster, &cur.links, &mut known.links);
    let members: BTreeSet<String> = cur.members.keys().cloned().collect();
    for node in &ctx.cluster.nodes {
        let (was, is) = (
            known.members.contains(&node.name),
            members.contains(&node.name),
        );
        if was != is {
            // A node without an agent receives nothing (see `rebuild`).
            inputs.push(Input::SetDraining {
                node: node.name.clone(),
                draining: !is,
            });
        }
    }
    known.members = members;
    known.started = started_of(cur);
    let keys: BTreeSet<&(String, String)> = cur
        .protection
        .keys()
        .chain(known.protection.keys())
        .collect();
    let mut protection = Vec::new();
    for key in keys {
        let now = cur.protection.get(key).copied();
        if now == known.protection.get(key).copied() {
            continue;
        }
        // An override removed: back to the inventory's value.
        let protected = now.unwrap_or_else(|| inventory_protected(ctx, &key.0, &key.1));
        protection.push(Input::SetProtected {
            vm: key.0.clone(),
            switch: key.1.clone(),
            protected,
        });
    }
    inputs.extend(protection);
    known.protection = cur.protection.clone();
    for (vm, result) in &cur.results {
        let ours = |i: &Intent| i.id == result.id && i.from == result.from && i.to == result.to;
        if !known.pending.get(vm).is_some_and(ours) {
            continue;
        }
        known.pending.remove(vm);
        let id = MigrationId(result.id);
        inputs.push(match &result.outcome {
            Outcome::Completed => Input::MigrationCompleted { id },
            Outcome::Failed { cause } => Input::MigrationFailed {
                id,
                cause: FailureCause::parse(cause),
            },
            Outcome::Cancelled => Input::MigrationCancelled { id },
        });
    }
    inputs
}

fn inventory_protected(ctx: &Context, vm: &str, switch: &str) -> bool {
    ctx.cluster
        .vms
        .iter()
        .find(|v| v.name == vm)
        .and_then(|v| v.adapters.iter().find(|a| a.switch == switch))
        .is_none_or(|a| a.protected)
}

/// Carries out the engine's actions: intents and cancels first (fenced),
/// then the events of the whole round in one write.
async fn carry_out(
    ctx: &Context,
    l: &Leadership,
    engine: &mut Engine,
    known: &mut Known,
    clock: &mut Clock,
    mut events: Vec<Event>,
    mut actions: Vec<Action>,
) -> Result<(), End> {
    let mut outcome = Ok(());
    while !actions.is_empty() && outcome.is_ok() {
        for action in std::mem::take(&mut actions) {
            if outcome.is_err() {
                break;
            }
            outcome = act(ctx, l, engine, known, clock, action, &mut events).await;
        }
        actions = engine.take_actions();
    }
    if !events.is_empty() {
        match ctx.store.append_events_fenced(l, &events).await {
            Ok(Some(_)) => {}
            // Replaced meanwhile: what this round decided is not recorded.
            Ok(None) => return Err(End::Lost("the leader key is gone or another's".into())),
            Err(e) => log(
                &ctx.node,
                &format!("cannot record {} events: {e}", events.len()),
            ),
        }
    }
    outcome
}

async fn act(
    ctx: &Context,
    l: &Leadership,
    engine: &mut Engine,
    known: &mut Known,
    clock: &mut Clock,
    action: Action,
    events: &mut Vec<Event>,
) -> Result<(), End> {
    match action {
        Action::Report(event) => events.push(event),
        Action::StartMigration { id, vm, from, to } => {
            let intent = Intent {
                id: id.0,
                vm: vm.clone(),
                from,
                to,
                at_ms: clock.now(),
            };
            match ctx.store.write_intent(l, &intent).await {
                Ok(true) => {
                    known.pending.insert(vm, intent);
                }
                Ok(false) => {
                    return Err(End::Rebuild(format!(
                        "the store refused the intent to move {vm} (leadership or owner changed)"
                    )))
                }
                Err(e) => return Err(End::Rebuild(e.to_string())),
            }
        }
        Action::AbortMigration { id, vm, .. } => {
            let Some(intent) = known.pending.get(&vm).filter(|i| i.id == id.0).cloned() else {
                return Ok(());
            };
            match ctx.store.cancel_intent(l, &intent).await {
                Ok(true) => {
                    known.pending.remove(&vm);
                    let now = clock.now();
                    if let Err(e) = engine.handle(now, Input::MigrationCancelled { id }) {
                        log(&ctx.node, &format!("the engine refused a cancel: {e}"));
                    }
                }
                // The source has begun: ask it to abort; its answer (cancelled,
                // or completed if the migration won) comes as a result.
                Ok(false) => match ctx.store.request_abort(l, &intent).await {
                    Ok(_) => {}
                    Err(e) => return Err(End::Rebuild(e.to_string())),
                },
                Err(e) => return Err(End::Rebuild(e.to_string())),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_core::parse::parse_scenario;

    fn links(pairs: &[(&str, &str, bool)]) -> BTreeMap<String, BTreeMap<String, bool>> {
        let mut links: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
        for &(node, nic, up) in pairs {
            links.entry(node.into()).or_default().insert(nic.into(), up);
        }
        links
    }

    fn changed(inputs: &[Input]) -> Vec<(String, bool)> {
        (inputs.iter())
            .filter_map(|i| match i {
                Input::LinkChanged { nic, up, .. } => Some((nic.clone(), *up)),
                _ => None,
            })
            .collect()
    }

    /// A bond's member is recorded before the bond it takes down; a member
    /// that changes alone is recorded alone; unknown links are left out.
    #[test]
    fn h1_bond_members_come_before_their_bond_and_unknown_links_are_left_out() {
        let text = include_str!("../../../../examples/bond-absorbs-failure.toml");
        let cluster = parse_scenario("bond", text).unwrap().cluster;
        let mut known = BTreeMap::new();
        let up = [
            ("A", "bond0", true),
            ("A", "eth3", true),
            ("A", "eth4", true),
        ];
        assert!(link_changes(&cluster, &links(&up), &mut known).is_empty());
        let one = [
            ("A", "bond0", true),
            ("A", "eth3", false),
            ("A", "tap0", false),
        ];
        let inputs = link_changes(&cluster, &links(&one), &mut known);
        assert_eq!(changed(&inputs), [("eth3".to_string(), false)]);
        let last = [
            ("A", "bond0", false),
            ("A", "eth3", false),
            ("A", "eth4", false),
        ];
        let inputs = link_changes(&cluster, &links(&last), &mut known);
        assert_eq!(
            changed(&inputs),
            [("eth4".to_string(), false), ("bond0".to_string(), false)]
        );
        assert!(!is_nic(&cluster, "A", "eth4") && is_port(&cluster, "A", "eth4"));
        assert!(is_nic(&cluster, "A", "bond0") && !is_port(&cluster, "Z", "bond0"));
    }

    fn member(started: &[&str]) -> crate::store::MemberInfo {
        crate::store::MemberInfo {
            started: started.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The cluster's record of nodes gone and back: a node whose
    /// membership ended is `node_down`, one that joins is `node_up`, and
    /// each VM its agent started is `vm_up` once.
    #[test]
    fn h12_members_gone_and_back_are_recorded_and_started_vms_once() {
        let mut known = Known {
            links: BTreeMap::new(),
            members: ["A".to_string(), "B".to_string()].into(),
            started: BTreeMap::new(),
            protection: BTreeMap::new(),
            pending: BTreeMap::new(),
        };
        let mut cur = State::default();
        cur.members.insert("B".into(), member(&[]));
        let a = |kind: fn(String) -> EventKind| kind("A".into());
        let node_down = |node| EventKind::NodeDown { node };
        let node_up = |node| EventKind::NodeUp { node };
        assert_eq!(membership_events(&cur, &known), [a(node_down)]);
        known.members = ["B".to_string()].into();
        // A joins before its agent has started anything, then publishes.
        cur.members.insert("A".into(), member(&[]));
        assert_eq!(membership_events(&cur, &known), [a(node_up)]);
        known.members.insert("A".into());
        cur.members.insert("A".into(), member(&["VM1"]));
        let vm_up = EventKind::VmUp {
            vm: "VM1".into(),
            node: "A".into(),
        };
        assert_eq!(
            membership_events(&cur, &known),
            std::slice::from_ref(&vm_up)
        );
        known.started.insert("A".into(), ["VM1".to_string()].into());
        assert_eq!(membership_events(&cur, &known), []);
        // A member that joins with VMs started already: both at once.
        known.members.remove("A");
        assert_eq!(membership_events(&cur, &known), [a(node_up), vm_up]);
    }
}
