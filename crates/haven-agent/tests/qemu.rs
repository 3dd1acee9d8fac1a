//! The QEMU driver for real: a test guest under TCG in network namespaces,
//! live-migrated over TLS on a migration veth while a client pings it.
//! Every test cleans up through [`Testbed`]'s and [`RunDirGuard`]'s drops,
//! also when it fails.

use haven_agent::guest;
use haven_agent::netns::{self, have, require};
use haven_agent::qemu::{
    pid_alive, Boot, Destination, Host, MigrationError, MigrationPolicy, RunDirGuard, Timeouts,
    VmDef, VmError,
};
use haven_agent::testbed::{BCerts, Testbed};
use haven_core::event::FailureCause;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(90);

/// One guest test at a time: TCG guests are CPU-bound, and running them side
/// by side on a small machine makes boots and migrations slow and flaky.
static ONE_GUEST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Root, QEMU, ip and ping; the guest is built by `guest::ensure()`.
fn can_run(test: &str) -> bool {
    require(test, "root", netns::is_root())
        && require(
            test,
            "qemu-system-x86_64 (apt-get install qemu-system-x86)",
            have("qemu-system-x86_64"),
        )
        && require(test, "ip (apt-get install iproute2)", have("ip"))
        && require(test, "ping (apt-get install iputils-ping)", have("ping"))
}

fn no_tls_hostname(addr: std::net::SocketAddr) -> Destination {
    Destination {
        addr,
        tls_hostname: None,
    }
}

/// Runs `f` on a blocking thread (pings wait on processes).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test]
async fn live_migration_over_tls_keeps_the_guest_reachable() {
    if !can_run("live_migration_over_tls_keeps_the_guest_reachable") {
        return;
    }
    let _one = ONE_GUEST.lock().await;
    let bed = std::sync::Arc::new(Testbed::new(BCerts::ClusterCa).expect("testbed"));
    let def = bed.vm_def("vm1", 128);
    let vm = bed.a.start(&def).await.expect("start on A");
    assert!(!vm.adopted());
    let b2 = bed.clone();
    assert!(
        blocking(move || b2.ping_until(BOOT)).await,
        "the guest never answered on A"
    );

    let addr = bed.migration_addr(true, 4444);
    let incoming = bed.b.incoming(&def, addr).await.expect("incoming on B");
    let source_pid = vm.pid();
    let stats = vm
        .migrate(&no_tls_hostname(addr), &MigrationPolicy::default(), |_| {})
        .await
        .expect("migration A->B");
    // Sent, but the source copy stays (paused) until B runs the VM.
    assert!(
        pid_alive(source_pid),
        "the source waits for the confirm phase"
    );
    let on_b = incoming
        .wait(Duration::from_secs(60))
        .await
        .expect("VM running on B");
    assert_eq!(on_b.status().await.unwrap(), "running");
    vm.confirm().await;
    assert!(!pid_alive(source_pid), "the source QEMU is gone");
    assert!(!vm.dir().exists(), "the source run directory is removed");
    assert!(stats.total_time_ms > 0, "{stats:?}");
    let b2 = bed.clone();
    assert!(
        blocking(move || b2.ping_until(Duration::from_secs(15))).await,
        "the guest does not answer after moving to B"
    );
    on_b.stop().await.unwrap();
    assert!(bed.qemu_processes().is_empty());
}

/// The confirm phase: QEMU's source says `completed` once it has sent
/// everything; if the destination dies right then, the VM must not be
/// lost: the paused source runs it again.
#[tokio::test]
async fn a_destination_that_dies_after_the_last_byte_leaves_the_vm_running_on_the_source() {
    if !can_run("a_destination_that_dies_after_the_last_byte_leaves_the_vm_running_on_the_source") {
        return;
    }
    let _one = ONE_GUEST.lock().await;
    let bed = std::sync::Arc::new(Testbed::new(BCerts::ClusterCa).expect("testbed"));
    let def = bed.vm_def("vm5", 128);
    let vm = bed.a.start(&def).await.expect("start on A");
    let b2 = bed.clone();
    assert!(
        blocking(move || b2.ping_until(BOOT)).await,
        "the guest never answered on A"
    );
    let addr = bed.migration_addr(true, 4447);
    let incoming = bed.b.incoming(&def, addr).await.expect("incoming on B");
    let dest_pid = incoming.vm().pid();
    let kill_destination = move |p: &haven_agent::qemu::Progress| {
        if p.status == "completed" {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(dest_pid, libc::SIGKILL) };
        }
    };
    let result = haven_agent::qemu::migrate_to(
        &vm,
        incoming,
        &no_tls_hostname(addr),
        &MigrationPolicy::default(),
        Duration::from_secs(20),
        kill_destination,
    )
    .await;
    assert!(result.is_err(), "the destination died");
    assert!(vm.is_alive(), "the source copy was kept");
    assert_eq!(vm.status().await.unwrap(), "running", "and runs again");
    let b2 = bed.clone();
    assert!(
        blocking(move || b2.ping_until(Duration::from_secs(15))).await,
        "the guest answers from A again"
    );
    vm.stop().await.unwrap();
}

#[tokio::test]
async fn a_destination_without_the_cluster_ca_is_refused() {
    if !can_run("a_destination_without_the_cluster_ca_is_refused") {
        return;
    }
    let _one = ONE_GUEST.lock().await;
    let bed = std::sync::Arc::new(Testbed::new(BCerts::ForeignCa).expect("testbed"));
    let def = bed.vm_def("vm2", 128);
    let vm = bed.a.start(&def).await.expect("start on A");
    let b2 = bed.clone();
    assert!(
        blocking(move || b2.ping_until(BOOT)).await,
        "the guest never answered on A"
    );

    let addr = bed.migration_addr(true, 4445);
    let incoming = bed.b.incoming(&def, addr).await.expect("incoming on B");
    let err = vm
        .migrate(&no_tls_hostname(addr), &MigrationPolicy::default(), |_| {})
        .await
        .expect_err("B's certificate must be refused");
    eprintln!("refused as expected: {err}");
    assert_eq!(err.cause(), Some(&FailureCause::TlsRejected), "{err}");
    incoming.abort().await.unwrap();
    assert_eq!(vm.status().await.unwrap(), "running");
    let b2 = bed.clone();
    assert!(blocking(move || b2.ping_until(Duration::from_secs(10))).await);

    // A host with no certificate at all can neither receive nor send.
    let empty = bed.root().join("no-certs");
    let no_certs = Host {
        tls_dir: empty.clone(),
        ..bed.b.clone()
    };
    let err = no_certs
        .incoming(&def, addr)
        .await
        .expect_err("no certificate, no incoming");
    assert!(matches!(err, VmError::Tls(_)), "{err}");
    assert_eq!(err.cause(), FailureCause::TlsRejected);
    let no_certs_a = Host {
        tls_dir: empty,
        ..bed.a.clone()
    };
    drop(vm);
    let vm = no_certs_a.start(&def).await.expect("adopt on A");
    assert!(vm.adopted(), "the running VM is adopted, not started twice");
    let err = vm
        .migrate(&no_tls_hostname(addr), &MigrationPolicy::default(), |_| {})
        .await
        .expect_err("no certificate, no migration");
    assert_eq!(err.cause(), Some(&FailureCause::TlsRejected), "{err}");
    assert_eq!(vm.status().await.unwrap(), "running");
    vm.stop().await.unwrap();
    assert!(
        bed.qemu_processes().is_empty(),
        "{:?}",
        bed.qemu_processes()
    );
}

#[tokio::test]
async fn failed_and_cancelled_migrations_leave_the_vm_on_the_source() {
    if !can_run("failed_and_cancelled_migrations_leave_the_vm_on_the_source") {
        return;
    }
    let _one = ONE_GUEST.lock().await;
    let bed = std::sync::Arc::new(Testbed::new(BCerts::ClusterCa).expect("testbed"));
    let def = bed.vm_def("vm3", 128);
    let vm = bed.a.start(&def).await.expect("start on A");
    let b2 = bed.clone();
    assert!(
        blocking(move || b2.ping_until(BOOT)).await,
        "the guest never answered on A"
    );

    // Nobody listens: the destination is unreachable, the VM stays.
    let refused = bed.migration_addr(true, 4447);
    let err = vm
        .migrate(
            &no_tls_hostname(refused),
            &MigrationPolicy::default(),
            |_| {},
        )
        .await
        .expect_err("nothing listens on B");
    assert_eq!(
        err.cause(),
        Some(&FailureCause::DestinationUnreachable),
        "{err}"
    );
    // No host at that address: no connection within connect_timeout.
    let nobody = MigrationPolicy {
        connect_timeout: Duration::from_millis(500),
        ..MigrationPolicy::default()
    };
    let absent: std::net::SocketAddr = "10.78.0.99:4448".parse().unwrap();
    let err = vm
        .migrate(&no_tls_hostname(absent), &nobody, |_| {})
        .await
        .expect_err("no such host");
    assert_eq!(
        err.cause(),
        Some(&FailureCause::DestinationUnreachable),
        "{err}"
    );
    assert_eq!(vm.status().await.unwrap(), "running");
    // A destination whose source never connects gives up in time.
    let silent = bed
        .b
        .incoming(&def, bed.migration_addr(true, 4449))
        .await
        .unwrap();
    let err = silent
        .wait(Duration::from_millis(800))
        .await
        .expect_err("no source");
    assert_eq!(err.cause(), Some(&FailureCause::Timeout), "{err}");
    assert_eq!(
        bed.qemu_processes(),
        vec![vm.pid()],
        "the waiting QEMU was stopped"
    );

    let addr = bed.migration_addr(true, 4446);
    let incoming = bed.b.incoming(&def, addr).await.expect("incoming on B");
    // 8 Mbit/s: the guest's pages take many seconds to send.
    let slow = MigrationPolicy {
        max_bandwidth_mbps: 8,
        ..MigrationPolicy::default()
    };
    let mut sent_bytes = 0;
    let dest = no_tls_hostname(addr);
    let migrate = vm.migrate(&dest, &slow, |p| {
        sent_bytes = sent_bytes.max(p.transferred_bytes)
    });
    let cancel = async {
        // Cancel once data flows.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let info = vm.qmp().execute("query-migrate", None).await.unwrap();
            if info["status"] == "active" && info["ram"]["transferred"].as_u64() > Some(0) {
                break;
            }
        }
        vm.cancel().await.expect("migrate_cancel");
    };
    let (result, ()) = tokio::join!(migrate, cancel);
    assert_eq!(result.unwrap_err(), MigrationError::Cancelled);
    assert!(sent_bytes > 0, "cancelled mid-way, not before it began");
    assert_eq!(vm.status().await.unwrap(), "running");
    let b2 = bed.clone();
    assert!(blocking(move || b2.ping_until(Duration::from_secs(10))).await);
    incoming.abort().await.unwrap();
    vm.stop().await.unwrap();
    assert!(
        bed.qemu_processes().is_empty(),
        "{:?}",
        bed.qemu_processes()
    );
}

#[tokio::test]
async fn a_qmp_socket_that_never_appears_times_out_and_leaves_no_process() {
    let guard = RunDirGuard::new(
        std::env::temp_dir().join(format!("haven-qmp-never-{}", std::process::id())),
    )
    .unwrap();
    // A "QEMU" that runs but never opens its monitor.
    let fake = guard.path().join("fake-qemu.sh");
    std::fs::write(&fake, "#!/bin/sh\nwhile :; do sleep 1; done\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let host = Host {
        qemu: fake,
        timeouts: Timeouts {
            qmp_socket: Duration::from_millis(800),
            ..Timeouts::default()
        },
        ..Host::new(guard.path().join("run"), None, guard.path().join("tls"))
    };
    let def = VmDef {
        name: "never".into(),
        memory_mb: 64,
        vcpus: 1,
        accel: "tcg".into(),
        nics: Vec::new(),
        boot: Boot::Disk("/nonexistent.img".into()),
    };
    let err = host.start(&def).await.expect_err("no monitor, no VM");
    assert!(matches!(err, VmError::SocketTimeout { .. }), "{err}");
    assert_eq!(err.cause(), FailureCause::Timeout);
    assert!(
        guard.processes().is_empty(),
        "the fake QEMU was killed: {:?}",
        guard.processes()
    );
    assert!(!guard.path().join("run/never").exists());
}

#[tokio::test]
async fn a_killed_qemu_is_noticed_and_adoption_finds_a_running_one() {
    if !require(
        "a_killed_qemu_is_noticed",
        "qemu-system-x86_64",
        have("qemu-system-x86_64"),
    ) {
        return;
    }
    let _one = ONE_GUEST.lock().await;
    let image = guest::ensure().expect("test guest");
    let guard = RunDirGuard::new(
        std::env::temp_dir().join(format!("haven-qemu-kill-{}", std::process::id())),
    )
    .unwrap();
    let host = Host::new(guard.path().join("run"), None, guard.path().join("tls"));
    let def = VmDef {
        name: "victim".into(),
        memory_mb: 64,
        vcpus: 1,
        accel: "tcg".into(),
        nics: Vec::new(),
        boot: Boot::Kernel {
            kernel: image.kernel,
            initrd: image.initrd,
            cmdline: "console=ttyS0 quiet".into(),
        },
    };
    let vm = host.start(&def).await.expect("start");
    let pid = vm.pid();
    // An agent restart: the handle goes, QEMU stays, and is adopted.
    drop(vm);
    let vm = host.start(&def).await.expect("adopt");
    assert!(vm.adopted());
    assert_eq!(vm.pid(), pid, "not started twice");
    assert_eq!(guard.processes(), vec![pid]);

    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(
        vm.wait_exit(Duration::from_secs(5)).await,
        "the death is seen"
    );
    let err = vm.status().await.expect_err("a dead QEMU has no status");
    assert!(err.to_string().contains("QEMU quit or died"), "{err}");
    let addr = "127.0.0.1:9".parse().unwrap();
    let err = vm
        .migrate(&no_tls_hostname(addr), &MigrationPolicy::default(), |_| {})
        .await
        .expect_err("a dead QEMU does not migrate");
    assert!(err.cause().is_some(), "{err}");
    vm.stop().await.unwrap();
    assert!(guard.processes().is_empty());
}

#[tokio::test]
async fn a_test_that_fails_leaves_no_qemu_namespace_or_file() {
    if !can_run("a_test_that_fails_leaves_no_qemu_namespace_or_file") {
        return;
    }
    let _one = ONE_GUEST.lock().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let failing = tokio::spawn(async move {
        let bed = Testbed::new(BCerts::ClusterCa).expect("testbed");
        let vm = bed.a.start(&bed.vm_def("doomed", 64)).await.expect("start");
        let names = ["fab", "cli", "a", "b"].map(|n| bed.net.name(n));
        *record.lock().unwrap() = Some((bed.root().to_path_buf(), names, vm.pid()));
        panic!("this test fails on purpose while its VM runs");
    });
    assert!(failing.await.unwrap_err().is_panic());
    let (root, namespaces, pid) = seen.lock().unwrap().take().expect("the VM was started");
    assert!(!pid_alive(pid), "the QEMU of the failed test was killed");
    assert!(!root.exists(), "{} was removed", root.display());
    for ns in namespaces {
        assert!(
            !std::path::Path::new("/run/netns").join(&ns).exists(),
            "namespace {ns} was deleted"
        );
    }
}
