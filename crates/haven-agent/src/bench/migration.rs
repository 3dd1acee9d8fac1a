//! The migration benchmark (`haven bench migration`): a 128 MB test guest
//! live-migrated over TLS between two namespaces, back and forth, while a
//! client pings it every 20 ms.
//!
//! Per run it records QEMU's `total-time` and `downtime` (`query-migrate`)
//! and the longest gap between two answers the client saw, which includes
//! the switch-over, the destination's announce and the bridges learning
//! the new port.

use crate::qemu::{migrate_to, Destination, MigrationPolicy};
use crate::testbed::{BCerts, Testbed};
use serde::Serialize;
use std::io;
use std::time::{Duration, Instant};

/// Guest RAM of the benchmark.
pub const MEMORY_MB: u32 = 128;
/// How often the client pings.
pub const PING_INTERVAL: Duration = Duration::from_millis(20);
/// After the migration, how long the client keeps pinging (the gap must
/// have ended by then to be measured).
const SETTLE: Duration = Duration::from_secs(2);

/// One migration.
#[derive(Clone, Debug, Serialize)]
pub struct MigrationRun {
    /// `A->B` or `B->A`.
    pub direction: String,
    /// `query-migrate` `total-time`.
    pub total_time_ms: u64,
    /// `query-migrate` `downtime`.
    pub downtime_ms: u64,
    /// From `migrate` until the destination reported the VM running.
    pub wall_ms: f64,
    /// The longest time the pinging client saw no answer.
    pub ping_gap_ms: f64,
    pub transferred_bytes: u64,
}

/// The median and the maximum of one measure.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    pub p50: f64,
    pub max: f64,
}

impl Summary {
    fn of(values: impl IntoIterator<Item = f64>) -> Summary {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => Summary::default(),
            n => Summary {
                p50: v[(n - 1) / 2],
                max: v[n - 1],
            },
        }
    }
}

/// Every run and the summaries.
#[derive(Clone, Debug, Serialize)]
pub struct MigrationBench {
    pub memory_mb: u32,
    pub accel: String,
    pub ping_interval_ms: u64,
    pub runs: Vec<MigrationRun>,
    pub total_time_ms: Summary,
    pub downtime_ms: Summary,
    pub ping_gap_ms: Summary,
}

/// Boots the guest on A and migrates it `count` times, alternating
/// A->B and B->A, in namespaces of its own (removed afterwards).
///
/// # Errors
/// Not root, a tool missing, the guest not booting, or a migration failing.
pub fn bench_migration(count: usize) -> io::Result<MigrationBench> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bed = Testbed::new(BCerts::ClusterCa)?;
    let runs = runtime.block_on(run_all(&bed, count))?;
    Ok(MigrationBench {
        memory_mb: MEMORY_MB,
        accel: "tcg".into(),
        ping_interval_ms: PING_INTERVAL.as_millis() as u64,
        total_time_ms: Summary::of(runs.iter().map(|r| r.total_time_ms as f64)),
        downtime_ms: Summary::of(runs.iter().map(|r| r.downtime_ms as f64)),
        ping_gap_ms: Summary::of(runs.iter().map(|r| r.ping_gap_ms)),
        runs,
    })
}

async fn run_all(bed: &Testbed, count: usize) -> io::Result<Vec<MigrationRun>> {
    let def = bed.vm_def("bench", MEMORY_MB);
    let mut vm = bed.a.start(&def).await.map_err(io::Error::other)?;
    if !bed.ping_until(Duration::from_secs(90)) {
        return Err(io::Error::other(
            "the benchmark guest did not answer pings within 90 s",
        ));
    }
    let policy = MigrationPolicy::default();
    let mut runs = Vec::with_capacity(count);
    for i in 0..count {
        let to_b = i % 2 == 0;
        let (dest_host, direction) = match to_b {
            true => (&bed.b, "A->B"),
            false => (&bed.a, "B->A"),
        };
        let addr = bed.migration_addr(to_b, 4444 + i as u16);
        let incoming = dest_host
            .incoming(&def, addr)
            .await
            .map_err(io::Error::other)?;
        let pinger = bed.pinger(PING_INTERVAL)?;
        let started = Instant::now();
        let dest = Destination {
            addr,
            tls_hostname: None,
        };
        let (arrived, stats) = migrate_to(
            &vm,
            incoming,
            &dest,
            &policy,
            Duration::from_secs(60),
            |_| {},
        )
        .await
        .map_err(io::Error::other)?;
        vm = arrived;
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(SETTLE).await;
        runs.push(MigrationRun {
            direction: direction.into(),
            total_time_ms: stats.total_time_ms,
            downtime_ms: stats.downtime_ms,
            wall_ms,
            ping_gap_ms: pinger.stop(),
            transferred_bytes: stats.transferred_bytes,
        });
    }
    vm.stop().await.map_err(io::Error::other)?;
    Ok(runs)
}
