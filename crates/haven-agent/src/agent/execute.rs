//! Carrying out intents: every agent watches `intents/` and plays the
//! source or the destination of those that name it.
//!
//! ```text
//! source                                    destination
//! begin_migration (leader can't cancel)     Host::incoming_held (-incoming defer, -S)
//! [authority: ticket → tickets/<vm>]        [authority: redeem the ticket]
//! wait for incoming/<vm> ◀───────────────── announce_incoming(addr)
//! Vm::migrate(addr) ──── TLS, migration network ────▶ arrives, stays paused
//! sent: source paused, waits                complete_migration: owner := me (ONE txn)
//! results/<vm> completed → quit (confirm)   then `cont`: the VM runs here
//!
//! failures: whoever ends the intent first (fail_migration / cancel_migration
//! / complete_migration are exclusive) decides; the source resumes only if
//! the intent did not complete, the destination runs the VM only if its
//! complete_migration won. One copy runs, always.
//! ```

use super::{log, wait_state, Context, RETRY_INTERVAL};
use crate::qemu::{Destination, MigrationError, Vm};
use crate::store::{Intent, MigrationResult, Outcome, State};
use haven_core::event::FailureCause;
use haven_core::model::MigrationAuth;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the migration authority may take to answer (H9): a source
/// that cannot reach it within this gives up with `authority_unreachable`.
const AUTHORITY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a destination whose incoming QEMU failed waits for the source
/// to end the intent with a better cause before ending it itself.
const GRACE: Duration = Duration::from_secs(3);

/// Starts a source or destination task for each new intent naming this
/// node, while its lease is alive.
pub(super) async fn run(ctx: Arc<Context>) {
    let mut rx = ctx.state.clone();
    let mut handled: BTreeSet<u64> = BTreeSet::new();
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RETRY_INTERVAL) => {}
        }
        if !ctx.alive() {
            continue;
        }
        let intents: Vec<Intent> = rx.borrow_and_update().intents.values().cloned().collect();
        handled.retain(|id| intents.iter().any(|i| i.id == *id));
        for intent in intents {
            if handled.contains(&intent.id) {
                continue;
            }
            let ctx = Arc::clone(&ctx);
            if intent.from == ctx.node {
                handled.insert(intent.id);
                tokio::spawn(async move {
                    if let Err(e) = source(&ctx, &intent).await {
                        log(&ctx.node, &format!("migration of {}: {e}", intent.vm));
                    }
                });
            } else if intent.to == ctx.node {
                handled.insert(intent.id);
                tokio::spawn(async move {
                    if let Err(e) = destination(&ctx, &intent).await {
                        log(&ctx.node, &format!("incoming {}: {e}", intent.vm));
                    }
                });
            }
        }
    }
}

/// The result of `intent`, once there is one.
fn result_of(state: &State, intent: &Intent) -> Option<MigrationResult> {
    state
        .results
        .get(&intent.vm)
        .filter(|r| r.id == intent.id)
        .cloned()
}

/// Whether `intent` is no longer the VM's intent.
fn ended(state: &State, intent: &Intent) -> bool {
    state.intents.get(&intent.vm) != Some(intent)
}

/// Whether `intent` completed (the destination owns the VM), once the
/// store says either way: from its result, or, when a later intent's
/// result replaced it, from the owner.
fn decided(state: &State, intent: &Intent) -> Option<bool> {
    if let Some(r) = result_of(state, intent) {
        return Some(r.outcome == Outcome::Completed);
    }
    ended(state, intent).then(|| state.owners.get(&intent.vm) == Some(&intent.to))
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn fail(ctx: &Context, intent: &Intent, cause: &FailureCause) -> Result<bool, Failure> {
    log(
        &ctx.node,
        &format!(
            "migration of {} to {} failed: {cause}",
            intent.vm, intent.to
        ),
    );
    Ok(ctx.store.fail_migration(intent, &cause.to_string()).await?)
}

// ---- source ----

async fn source(ctx: &Context, intent: &Intent) -> Result<(), Failure> {
    let vm = ctx
        .local
        .lock()
        .expect("local lock")
        .get(&intent.vm)
        .cloned();
    let Some(vm) = vm else {
        let cause = FailureCause::Hypervisor(format!("{} does not run on {}", intent.vm, ctx.node));
        fail(ctx, intent, &cause).await?;
        return Ok(());
    };
    if !ctx.store.begin_migration(intent).await? {
        let begun_before = ctx.state.borrow().running.get(&intent.vm) == Some(&intent.id);
        if begun_before {
            return recover_source(ctx, intent, &vm).await;
        }
        return Ok(()); // cancelled before it began
    }
    log(
        &ctx.node,
        &format!(
            "migrating {} to {} (intent {})",
            intent.vm, intent.to, intent.id
        ),
    );
    if ctx.cluster.settings.migration_auth == MigrationAuth::Authority {
        match ticket(ctx, intent).await {
            Ok(ticket) => {
                ctx.store.put_ticket(intent, &ticket).await?;
            }
            Err(cause) => {
                fail(ctx, intent, &cause).await?;
                return Ok(());
            }
        }
    }
    let limit = ctx.policy.connect_timeout;
    let addr = wait_state(ctx, limit, |s| {
        if ended(s, intent) {
            return Some(None);
        }
        let at = s.incoming.get(&intent.vm).filter(|i| i.id == intent.id)?;
        Some(at.addr.parse::<SocketAddr>().ok())
    })
    .await;
    let addr = match addr {
        Some(Some(addr)) => addr,
        Some(None) => return Ok(()), // the destination ended it
        None => {
            let cause = FailureCause::DestinationUnreachable;
            fail(ctx, intent, &cause).await?;
            return Ok(());
        }
    };
    if ctx.config.emulate_migration_bandwidth && stretch(ctx, intent).await {
        log(&ctx.node, &format!("migration of {} aborted", intent.vm));
        ctx.store.cancel_migration(intent).await?;
        return Ok(());
    }
    // An abort asked for before QEMU sends anything: nothing to cancel.
    if ctx.state.borrow().aborts.get(&intent.vm) == Some(&intent.id) {
        log(&ctx.node, &format!("migration of {} aborted", intent.vm));
        ctx.store.cancel_migration(intent).await?;
        return Ok(());
    }
    let dest = Destination {
        addr,
        tls_hostname: None,
    };
    let aborter = tokio::spawn(abort_on_request(
        ctx.state.clone(),
        intent.clone(),
        Arc::clone(&vm),
    ));
    log(&ctx.node, &format!("sending {} to {addr}", intent.vm));
    let sent = vm.migrate(&dest, &ctx.policy, |_| {}).await;
    aborter.abort();
    match sent {
        Ok(_) => after_sending(ctx, intent, &vm).await,
        Err(MigrationError::Cancelled) => {
            log(&ctx.node, &format!("migration of {} aborted", intent.vm));
            ctx.store.cancel_migration(intent).await?;
            Ok(())
        }
        Err(e) => {
            let cause = (e.cause().cloned()).unwrap_or(FailureCause::Hypervisor(e.to_string()));
            fail(ctx, intent, &cause).await?;
            Ok(())
        }
    }
}

/// Labs only (`emulate_migration_bandwidth`): waits as long as moving
/// the inventory's VM would take: its `migration_s`, or its memory over
/// the node's migration bandwidth shared by the migrations under way at
/// either end (the simulator's model at the start). `true` when the leader
/// asked for an abort meanwhile.
async fn stretch(ctx: &Context, intent: &Intent) -> bool {
    let Some(vm) = ctx.cluster.vm(&intent.vm) else {
        return false;
    };
    let settings = &ctx.cluster.settings;
    let wait_ms = vm.migration_ms.unwrap_or_else(|| {
        let state = ctx.state.borrow();
        let busy = |node: &str| {
            (state.intents.values())
                .filter(|i| i.from == node || i.to == node)
                .count()
        };
        let sharing = busy(&intent.from).max(busy(&intent.to)).max(1) as u64;
        haven_core::topology::transfer_ms(vm.memory_mb, settings.migration_bandwidth_mbps / sharing)
    });
    let wait = Duration::from_millis(wait_ms);
    let aborted = |s: &State| (s.aborts.get(&intent.vm) == Some(&intent.id)).then_some(());
    wait_state(ctx, wait, aborted).await.is_some()
}

/// Cancels the migration in QEMU when the leader asks (`aborts/<vm>`).
async fn abort_on_request(
    mut rx: tokio::sync::watch::Receiver<State>,
    intent: Intent,
    vm: Arc<Vm>,
) {
    loop {
        if rx.borrow_and_update().aborts.get(&intent.vm) == Some(&intent.id) {
            let _ = vm.cancel().await;
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Everything is sent and the VM is paused here: it ends here (quit) if
/// the destination flipped ownership, and runs here again otherwise. It
/// never guesses: while the store cannot say (etcd unreachable), the VM
/// stays paused. When the destination gives up (its `incoming/<vm>` goes)
/// or takes too long, the source ends the intent as failed, which the
/// destination's flip can then no longer win.
async fn after_sending(ctx: &Context, intent: &Intent, vm: &Arc<Vm>) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + ctx.policy.timeout;
    let completed = loop {
        let check = |s: &State| {
            let gone = s.incoming.get(&intent.vm).is_none_or(|i| i.id != intent.id);
            decided(s, intent).map(Some).or(gone.then_some(None))
        };
        match wait_state(ctx, RETRY_INTERVAL, check).await {
            Some(Some(completed)) => break completed,
            // The destination is gone, or it takes too long: end it.
            Some(None) => {}
            None if tokio::time::Instant::now() < deadline => continue,
            None => {}
        }
        let cause = FailureCause::Timeout.to_string();
        match ctx.store.fail_migration(intent, &cause).await {
            Ok(true) => break false,
            // Ended by the destination meanwhile: the mirror will say how.
            Ok(false) => {}
            Err(e) => {
                let m = format!("{} stays paused until etcd answers: {e}", intent.vm);
                log(&ctx.node, &m);
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    };
    if completed {
        vm.confirm().await;
        ctx.local.lock().expect("local lock").remove(&intent.vm);
        ctx.publish_member().await;
        log(
            &ctx.node,
            &format!("{} now runs on {}", intent.vm, intent.to),
        );
    } else {
        vm.resume().await?;
        log(&ctx.node, &format!("{} runs here again", intent.vm));
    }
    Ok(())
}

/// An intent this node's earlier run began: its migration cannot be
/// followed any more, so it ends as failed, and the VM runs here unless
/// the destination completed it first.
async fn recover_source(ctx: &Context, intent: &Intent, vm: &Arc<Vm>) -> Result<(), Failure> {
    let _ = vm.cancel().await;
    let cause = FailureCause::Hypervisor("the source agent restarted during the migration".into());
    if fail(ctx, intent, &cause).await? {
        vm.resume().await?;
        return Ok(());
    }
    // The destination ended it first: it owns the VM now, or it failed.
    match wait_state(ctx, ctx.policy.timeout, |s| decided(s, intent)).await {
        Some(true) => {
            vm.confirm().await;
            ctx.local.lock().expect("local lock").remove(&intent.vm);
            ctx.publish_member().await;
        }
        Some(false) => vm.resume().await?,
        None => {
            let m = format!("{} stays paused: its migration's end is unknown", intent.vm);
            log(&ctx.node, &m);
        }
    }
    Ok(())
}

/// A one-time ticket from the migration authority (H9).
async fn ticket(ctx: &Context, intent: &Intent) -> Result<String, FailureCause> {
    let addrs = &ctx.config.authority;
    crate::authority::ticket_any(addrs, &ctx.node, &intent.vm, AUTHORITY_TIMEOUT)
        .await
        .map_err(|e| {
            log(&ctx.node, &e.to_string());
            e.cause()
        })
}

// ---- destination ----

async fn destination(ctx: &Context, intent: &Intent) -> Result<(), Failure> {
    let Some(def) = ctx.vm_def(&intent.vm) else {
        let cause =
            FailureCause::Hypervisor(format!("{} has no definition on {}", intent.vm, ctx.node));
        fail(ctx, intent, &cause).await?;
        return Ok(());
    };
    let listen = SocketAddr::new(ctx.config.migration_address, ctx.next_port());
    let incoming = match ctx.host.incoming_held(&def, listen).await {
        Ok(incoming) => incoming,
        Err(e) => {
            end_unless_source_does(ctx, intent, &e.cause()).await?;
            return Err(e.into());
        }
    };
    if ctx.cluster.settings.migration_auth == MigrationAuth::Authority {
        if let Err(cause) = redeem(ctx, intent).await {
            let _ = incoming.abort().await;
            end_unless_source_does(ctx, intent, &cause).await?;
            return Ok(());
        }
    }
    let (lease, addr) = (ctx.lease(), listen.to_string());
    let announced = ctx.store.announce_incoming(&lease, intent, &addr);
    match announced.await {
        Ok(true) => {}
        Ok(false) => {
            let _ = incoming.abort().await;
            return Ok(());
        }
        Err(e) => {
            let _ = incoming.abort().await;
            end_unless_source_does(ctx, intent, &FailureCause::DestinationUnreachable).await?;
            return Err(e.into());
        }
    }
    log(
        &ctx.node,
        &format!("waiting for {} from {} on {addr}", intent.vm, intent.from),
    );
    let limit = ctx.policy.timeout;
    let arrived = tokio::select! {
        r = incoming.arrived(limit) => Some(r),
        gone = wait_state(ctx, limit, |s| ended(s, intent).then_some(())) => match gone {
            Some(()) => None,
            None => Some(Err(MigrationError::failed(FailureCause::Timeout, "the VM did not arrive in time"))),
        },
    };
    match arrived {
        Some(Ok(())) => flip_and_run(ctx, intent, incoming.into_vm()).await,
        Some(Err(e)) => {
            let _ = incoming.abort().await;
            let cause = (e.cause().cloned()).unwrap_or(FailureCause::Hypervisor(e.to_string()));
            end_unless_source_does(ctx, intent, &cause).await
        }
        None => {
            let _ = incoming.abort().await;
            Ok(())
        }
    }
}

/// The whole VM is here, paused: take ownership in one transaction, then
/// run it. If the source ended the intent first, this copy goes.
async fn flip_and_run(ctx: &Context, intent: &Intent, vm: Vm) -> Result<(), Failure> {
    // Until etcd says whether the flip landed, the VM stays paused here:
    // stopping it could lose the only copy, running it could make two.
    let flipped = loop {
        let unknown = match ctx.store.complete_migration(intent).await {
            Ok(true) => break true,
            // Refused, or landed by an attempt whose answer was lost: the
            // stored result says which.
            Ok(false) => match ctx.store.results().await {
                Ok(results) => {
                    let r = results.get(&intent.vm).filter(|r| r.id == intent.id);
                    break r.is_some_and(|r| r.outcome == Outcome::Completed);
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        let m = format!(
            "the flip of {} is unknown ({unknown}); asking again",
            intent.vm
        );
        log(&ctx.node, &m);
        tokio::time::sleep(RETRY_INTERVAL).await;
    };
    if !flipped {
        let _ = vm.stop().await;
        return Ok(());
    }
    if let Err(e) = vm.resume().await {
        log(
            &ctx.node,
            &format!("{} arrived but does not run: {e}", intent.vm),
        );
    }
    ctx.local
        .lock()
        .expect("local lock")
        .insert(intent.vm.clone(), Arc::new(vm));
    ctx.publish_member().await;
    log(
        &ctx.node,
        &format!("{} arrived from {} and runs here", intent.vm, intent.from),
    );
    Ok(())
}

/// The destination's own failure: the source usually ends the intent
/// with the real cause a moment later; end it here only if it does not.
async fn end_unless_source_does(
    ctx: &Context,
    intent: &Intent,
    cause: &FailureCause,
) -> Result<(), Failure> {
    let gone = wait_state(ctx, GRACE, |s| ended(s, intent).then_some(())).await;
    if gone.is_none() {
        fail(ctx, intent, cause).await?;
    }
    Ok(())
}

/// Redeems the source's ticket with the authority before accepting the VM.
async fn redeem(ctx: &Context, intent: &Intent) -> Result<(), FailureCause> {
    let limit = ctx.policy.connect_timeout;
    let ticket = wait_state(ctx, limit, |s| {
        if ended(s, intent) {
            return Some(None);
        }
        let t = s.tickets.get(&intent.vm).filter(|t| t.id == intent.id)?;
        Some(Some(t.ticket.clone()))
    })
    .await;
    let Some(Some(ticket)) = ticket else {
        return Err(FailureCause::AuthorityUnreachable);
    };
    let addrs = &ctx.config.authority;
    crate::authority::redeem_any(addrs, &ticket, &intent.vm, AUTHORITY_TIMEOUT)
        .await
        .map_err(|e| {
            log(&ctx.node, &e.to_string());
            e.cause()
        })
}
