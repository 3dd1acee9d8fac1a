//! The coordination store against a real etcd: each test starts its own
//! single-member etcd on free 127.0.0.1 ports with a temporary data
//! directory, which [`Etcd`] kills and removes on drop (also when the test
//! fails). Needs the `etcd` server (Debian `etcd-server`); skipped loudly
//! without it, failed in CI.
#![cfg(feature = "etcd")]

use haven_agent::cert::{self, NodeNames};
use haven_agent::netns;
use haven_agent::store::{
    Intent, Leadership, MemberInfo, Membership, MigrationResult, Outcome, Store, StoreError,
    TlsFiles,
};
use haven_agent::testetcd::TestEtcd as Etcd;
use haven_core::event::{Event, EventKind};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Bound of every store call in these tests.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A short lease, for the expiry tests (etcd's minimum is about 2 s).
const SHORT_TTL_S: i64 = 2;
/// A lease that outlives every test.
const LONG_TTL_S: i64 = 30;

fn can_run(test: &str) -> bool {
    netns::require(
        test,
        "etcd (apt-get install etcd-server)",
        netns::have("etcd"),
    )
}

async fn store(etcd: &Etcd) -> Store {
    Store::connect(&[etcd.endpoint()], None, "test", CALL_TIMEOUT)
        .await
        .expect("the store connects")
}

async fn join(store: &Store, node: &str, ttl_s: i64) -> Membership {
    store
        .join(node, &MemberInfo::default(), ttl_s)
        .await
        .expect("joins")
}

fn intent(id: u64, vm: &str, from: &str, to: &str) -> Intent {
    Intent {
        id,
        vm: vm.into(),
        from: from.into(),
        to: to.into(),
        at_ms: 1000 * id,
    }
}

fn owners(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(vm, node)| (vm.to_string(), node.to_string()))
        .collect()
}

/// Polls `check` every 100 ms until it is true or `within` passes.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check().await
}

/// A store on a cluster with A leading and VM `web` owned by A.
async fn led_cluster(etcd: &Etcd) -> (Store, Membership, Leadership) {
    let store = store(etcd).await;
    let a = join(&store, "A", LONG_TTL_S).await;
    let leadership = store.campaign(&a).await.unwrap().expect("A leads");
    store
        .init_owners(&owners(&[("web", "A"), ("db", "B")]))
        .await
        .unwrap();
    (store, a, leadership)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_of_two_campaigners_leads() {
    if !can_run("only_one_of_two_campaigners_leads") {
        return;
    }
    let etcd = Etcd::start();
    // Two agents, two connections.
    let (sa, sb) = (store(&etcd).await, store(&etcd).await);
    let a = join(&sa, "A", LONG_TTL_S).await;
    let b = join(&sb, "B", LONG_TTL_S).await;
    let (la, lb) = tokio::join!(sa.campaign(&a), sb.campaign(&b));
    let winners: Vec<Leadership> = [la.unwrap(), lb.unwrap()].into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "exactly one leader: {winners:?}");
    let winner = &winners[0];
    assert_eq!(
        sa.leader().await.unwrap(),
        Some((winner.node.clone(), winner.revision))
    );
    // Campaigning again as the leader is idempotent; the other still loses.
    let (me, other) = if winner.node == "A" {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(sa.campaign(me).await.unwrap().as_ref(), Some(winner));
    assert_eq!(sa.campaign(other).await.unwrap(), None);
    let members = sa.members().await.unwrap();
    assert_eq!(members.keys().collect::<Vec<_>>(), ["A", "B"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_when_the_leader_lease_expires() {
    if !can_run("a_new_leader_takes_over_when_the_leader_lease_expires") {
        return;
    }
    let etcd = Etcd::start();
    let (sa, sb) = (store(&etcd).await, store(&etcd).await);
    let mut a = join(&sa, "A", SHORT_TTL_S).await;
    let b = join(&sb, "B", LONG_TTL_S).await;
    let old = sa.campaign(&a).await.unwrap().expect("A leads");
    assert_eq!(sb.campaign(&b).await.unwrap(), None);

    // A hangs: no more keep-alives.
    a.stop_keepalive();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stopped_acting = None;
    let new = loop {
        assert!(Instant::now() < deadline, "B never became leader");
        if stopped_acting.is_none() && !a.alive() {
            stopped_acting = Some(Instant::now());
        }
        if let Some(l) = sb.campaign(&b).await.unwrap() {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A knew to stop acting before B could take over.
    assert!(stopped_acting.is_some(), "A still thought itself alive");
    assert!(!a.alive());
    assert_eq!(new.node, "B");
    assert!(new.revision > old.revision, "{new:?} after {old:?}");
    assert_eq!(sb.leader().await.unwrap(), Some(("B".into(), new.revision)));
    // A campaigning with its dead membership does not take leadership back.
    assert_eq!(sa.campaign(&a).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_leader_is_fenced() {
    if !can_run("a_stale_leader_is_fenced") {
        return;
    }
    let etcd = Etcd::start();
    let (store, a, old) = led_cluster(&etcd).await;
    // A resigns and leads again: a new term with a new revision.
    assert!(store.resign(&old).await.unwrap());
    assert!(!store.resign(&old).await.unwrap(), "resigned twice");
    let new = store.campaign(&a).await.unwrap().expect("A leads again");
    assert!(new.revision > old.revision);

    // The old term's token writes nothing.
    let move_web = intent(1, "web", "A", "B");
    assert!(!store.write_intent(&old, &move_web).await.unwrap());
    assert!(store.intents().await.unwrap().is_empty());
    // Neither does another node claiming the current revision.
    let forged = Leadership {
        node: "B".into(),
        ..new.clone()
    };
    assert!(!store.write_intent(&forged, &move_web).await.unwrap());
    assert!(store.intents().await.unwrap().is_empty());
    // The current term's token does.
    assert!(store.write_intent(&new, &move_web).await.unwrap());
    assert_eq!(store.intents().await.unwrap(), vec![move_web.clone()]);
    // And cancelling is fenced too.
    assert!(!store.cancel_intent(&old, &move_web).await.unwrap());
    assert!(store.cancel_intent(&new, &move_web).await.unwrap());
    assert!(store.intents().await.unwrap().is_empty());
    assert_eq!(
        store.results().await.unwrap()["web"].outcome,
        Outcome::Cancelled
    );
    // Events too: the old term records nothing, the current one does.
    let stale = [event(1, "eth0"), event(2, "eth1")];
    assert_eq!(
        store.append_events_fenced(&old, &stale).await.unwrap(),
        None
    );
    assert_eq!(
        store.append_events_fenced(&forged, &stale).await.unwrap(),
        None
    );
    assert!(store.events_since(0).await.unwrap().is_empty());
    let current = [event(3, "eth2")];
    assert_eq!(
        store.append_events_fenced(&new, &current).await.unwrap(),
        Some(1)
    );
    let stored = store.events_since(0).await.unwrap();
    assert_eq!(stored, vec![(1, current[0].clone())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_needs_the_owner_and_no_other_intent() {
    if !can_run("an_intent_needs_the_owner_and_no_other_intent") {
        return;
    }
    let etcd = Etcd::start();
    let (store, _a, leader) = led_cluster(&etcd).await;
    // web is owned by A, not B.
    assert!(!store
        .write_intent(&leader, &intent(1, "web", "B", "C"))
        .await
        .unwrap());
    // A VM without an owner cannot move.
    assert!(!store
        .write_intent(&leader, &intent(2, "nobody", "A", "B"))
        .await
        .unwrap());
    assert!(store.intents().await.unwrap().is_empty());

    let first = intent(3, "web", "A", "B");
    assert!(store.write_intent(&leader, &first).await.unwrap());
    assert!(!store
        .write_intent(&leader, &intent(4, "web", "A", "C"))
        .await
        .unwrap());
    assert_eq!(store.intents().await.unwrap(), vec![first]);
    // Other VMs are independent.
    let second = intent(5, "db", "B", "A");
    assert!(store.write_intent(&leader, &second).await.unwrap());
    assert_eq!(store.intents().await.unwrap().len(), 2);
    // init_owners keeps existing owners.
    assert_eq!(
        store
            .init_owners(&owners(&[("web", "C"), ("new", "C")]))
            .await
            .unwrap(),
        1
    );
    let expected: BTreeMap<String, String> = [("db", "B"), ("new", "C"), ("web", "A")]
        .into_iter()
        .map(|(vm, node)| (vm.into(), node.into()))
        .collect();
    assert_eq!(store.owners().await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_flips_the_owner_once_and_failing_keeps_it() {
    if !can_run("completing_flips_the_owner_once_and_failing_keeps_it") {
        return;
    }
    let etcd = Etcd::start();
    let (store, _a, leader) = led_cluster(&etcd).await;
    let move_web = intent(1, "web", "A", "B");
    assert!(store.write_intent(&leader, &move_web).await.unwrap());
    assert!(store.begin_migration(&move_web).await.unwrap());
    assert!(!store.begin_migration(&move_web).await.unwrap());
    // Begun: the leader can no longer cancel it.
    assert!(!store.cancel_intent(&leader, &move_web).await.unwrap());
    // Another intent id for the same VM does not complete it.
    assert!(!store
        .complete_migration(&intent(9, "web", "A", "B"))
        .await
        .unwrap());
    assert_eq!(store.owners().await.unwrap()["web"], "A");

    assert!(store.complete_migration(&move_web).await.unwrap());
    assert!(!store.complete_migration(&move_web).await.unwrap());
    assert!(!store.fail_migration(&move_web, "late").await.unwrap());
    assert_eq!(store.owners().await.unwrap()["web"], "B");
    assert!(store.intents().await.unwrap().is_empty());
    assert_eq!(
        store.results().await.unwrap()["web"],
        MigrationResult {
            id: 1,
            from: "A".into(),
            to: "B".into(),
            outcome: Outcome::Completed
        }
    );

    // db fails to move: its owner stays B.
    let move_db = intent(2, "db", "B", "A");
    assert!(store.write_intent(&leader, &move_db).await.unwrap());
    assert!(store.fail_migration(&move_db, "timeout").await.unwrap());
    assert!(!store.fail_migration(&move_db, "timeout").await.unwrap());
    assert!(!store.complete_migration(&move_db).await.unwrap());
    assert_eq!(store.owners().await.unwrap()["db"], "B");
    assert_eq!(
        store.results().await.unwrap()["db"].outcome,
        Outcome::Failed {
            cause: "timeout".into()
        }
    );
    // web now moves back only as B's VM.
    assert!(!store
        .write_intent(&leader, &intent(3, "web", "A", "B"))
        .await
        .unwrap());
    assert!(store
        .write_intent(&leader, &intent(3, "web", "B", "A"))
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_keys_vanish_when_the_lease_ends() {
    if !can_run("membership_keys_vanish_when_the_lease_ends") {
        return;
    }
    let etcd = Etcd::start();
    let store = store(&etcd).await;
    let info = MemberInfo {
        addrs: vec!["10.0.0.1".into()],
        vms: vec!["web".into()],
        ..MemberInfo::default()
    };
    let mut a = store.join("A", &info, SHORT_TTL_S).await.unwrap();
    let b = join(&store, "B", LONG_TTL_S).await;
    let links: BTreeMap<String, bool> = [("eth0".to_string(), true), ("eth1".to_string(), false)]
        .into_iter()
        .collect();
    store.publish_links(&a, &links).await.unwrap();
    store.publish_links(&b, &links).await.unwrap();
    assert_eq!(store.members().await.unwrap()["A"], info);
    assert_eq!(store.links().await.unwrap()["A"], links);
    // A second agent cannot join as A while A's lease lives.
    assert!(matches!(
        store.join("A", &info, SHORT_TTL_S).await,
        Err(StoreError::AlreadyMember { .. })
    ));

    // Kept alive, A outlives several TTLs.
    tokio::time::sleep(Duration::from_secs(3 * SHORT_TTL_S as u64)).await;
    assert!(a.alive());
    assert!(store.members().await.unwrap().contains_key("A"));

    a.stop_keepalive();
    let gone = eventually(Duration::from_secs(SHORT_TTL_S as u64 + 5), || async {
        let members = store.members().await.unwrap();
        !members.contains_key("A") && !store.links().await.unwrap().contains_key("A")
    })
    .await;
    assert!(gone, "A's keys outlived its lease");
    // B leaves at once by revoking its lease.
    store.leave(b).await.unwrap();
    assert!(store.members().await.unwrap().is_empty());
    assert!(store.links().await.unwrap().is_empty());
    // A can join again now.
    let again = join(&store, "A", SHORT_TTL_S).await;
    assert!(again.alive());
}

fn event(t_ms: u64, nic: &str) -> Event {
    Event {
        t_ms,
        kind: EventKind::LinkDown {
            node: "A".into(),
            nic: nic.into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_appended_in_order_and_watched() {
    if !can_run("events_are_appended_in_order_and_watched") {
        return;
    }
    let etcd = Etcd::start();
    let (s1, s2) = (store(&etcd).await, store(&etcd).await);
    let mut watch = s1.watch_prefix("events/", None).await.unwrap();
    for i in 1..=3 {
        assert_eq!(s1.append_event(&event(i, "eth0")).await.unwrap(), i);
    }
    // Two writers at once: every event gets its own number.
    let (x, y) = tokio::join!(
        async {
            let mut seqs = Vec::new();
            for i in 0..5 {
                seqs.push(s1.append_event(&event(100 + i, "x")).await.unwrap());
            }
            seqs
        },
        async {
            let mut seqs = Vec::new();
            for i in 0..5 {
                seqs.push(s2.append_event(&event(200 + i, "y")).await.unwrap());
            }
            seqs
        }
    );
    let mut all: Vec<u64> = x.iter().chain(&y).copied().collect();
    all.sort();
    assert_eq!(all, (4..=13).collect::<Vec<u64>>());

    let events = s2.events_since(0).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=13).collect::<Vec<u64>>());
    assert_eq!(events[0].1, event(1, "eth0"));
    assert_eq!(events[2].1, event(3, "eth0"));
    // Each writer's own events keep their order.
    let of = |nic: &str| -> Vec<u64> {
        events
            .iter()
            .filter(|(_, e)| matches!(&e.kind, EventKind::LinkDown { nic: n, .. } if n == nic))
            .map(|(_, e)| e.t_ms)
            .collect()
    };
    assert_eq!(of("x"), (100..105).collect::<Vec<u64>>());
    assert_eq!(of("y"), (200..205).collect::<Vec<u64>>());
    assert_eq!(s2.events_since(11).await.unwrap().len(), 2);
    assert!(s2.events_since(13).await.unwrap().is_empty());

    // The watch saw the first event's key.
    let changes = tokio::time::timeout(CALL_TIMEOUT, watch.next())
        .await
        .expect("a watched change")
        .unwrap()
        .unwrap();
    assert_eq!(changes[0].key, "events/00000000000000000001");
    let seen: Event = serde_json::from_slice(changes[0].value.as_ref().unwrap()).unwrap();
    assert_eq!(seen, event(1, "eth0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_and_protection_round_trip() {
    if !can_run("inventory_and_protection_round_trip") {
        return;
    }
    let etcd = Etcd::start();
    let store = store(&etcd).await;
    assert_eq!(store.inventory().await.unwrap(), None);
    let text = "[[node]]\nname = \"A\"\n";
    store.put_inventory(text).await.unwrap();
    assert_eq!(store.inventory().await.unwrap().as_deref(), Some(text));
    store.set_protected("web", "sw0", false).await.unwrap();
    store.set_protected("web", "sw1", true).await.unwrap();
    store.set_protected("web", "sw0", true).await.unwrap();
    let protection = store.protection().await.unwrap();
    assert_eq!(
        protection,
        [
            (("web".to_string(), "sw0".to_string()), true),
            (("web".to_string(), "sw1".to_string()), true)
        ]
        .into_iter()
        .collect()
    );
    assert!(matches!(
        store.set_protected("a/b", "sw0", true).await,
        Err(StoreError::InvalidName { .. })
    ));
    // Another cluster's keys are separate.
    let other = Store::connect(&[etcd.endpoint()], None, "other", CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(other.inventory().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_membership_survive_an_etcd_restart() {
    if !can_run("data_and_membership_survive_an_etcd_restart") {
        return;
    }
    let mut etcd = Etcd::start();
    let (store, a, leader) = led_cluster(&etcd).await;
    store.put_inventory("# inventory\n").await.unwrap();
    let move_web = intent(1, "web", "A", "B");
    assert!(store.write_intent(&leader, &move_web).await.unwrap());
    let b = join(&store, "B", SHORT_TTL_S).await;

    etcd.restart();
    // The first call after the crash rides it out within its timeout.
    let started = Instant::now();
    let inventory = store.inventory().await.expect("a call after the restart");
    assert!(started.elapsed() < CALL_TIMEOUT);
    assert_eq!(inventory.as_deref(), Some("# inventory\n"));
    assert_eq!(store.owners().await.unwrap()["web"], "A");
    assert_eq!(store.intents().await.unwrap(), vec![move_web.clone()]);
    assert_eq!(
        store.leader().await.unwrap(),
        Some(("A".into(), leader.revision))
    );
    // The keep-alive reconnected: A's lease (and leadership) live on, and
    // the old fencing token still writes.
    let alive = eventually(Duration::from_secs(5), || async { a.alive() }).await;
    assert!(alive, "A's keep-alive did not recover");
    // B's short lease too, kept alive across several TTLs after the restart.
    tokio::time::sleep(Duration::from_secs(3 * SHORT_TTL_S as u64)).await;
    assert!(b.alive(), "B's keep-alive did not recover");
    assert!(store.members().await.unwrap().contains_key("B"));
    assert!(store.complete_migration(&move_web).await.unwrap());
    assert!(store
        .write_intent(&leader, &intent(2, "db", "B", "A"))
        .await
        .unwrap());
}

/// etcd (by default) closes a connection that pings more often than every
/// 5 s, and every watch on it: a watch must outlive that by far.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_lives_on_an_etcd_with_default_settings() {
    if !can_run("a_watch_lives_on_an_etcd_with_default_settings") {
        return;
    }
    let etcd = Etcd::start();
    let store = store(&etcd).await;
    let mut watch = store.watch_prefix("inventory", None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    store.put_inventory("# later\n").await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), watch.next()).await;
    let changes = next.expect("the change arrives").expect("the watch lives");
    assert_eq!(changes.unwrap()[0].key, "inventory");
    assert_eq!(store.generation(), 0, "the connection was never replaced");
}

/// H10: etcd that stops answering on an open connection (a path that died
/// without a reset) is noticed by the store's probe within 1.5 s: the
/// connection is replaced and watches on it end, so their owners watch
/// again; calls work once an etcd answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h10_a_silent_etcd_is_left_within_a_second_and_a_half_and_its_watches_end() {
    if !can_run("h10_a_silent_etcd_is_left...") {
        return;
    }
    let etcd = Etcd::start();
    let store = store(&etcd).await;
    let mut watch = store.watch_prefix("", None).await.unwrap();
    etcd.pause();
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.next()).await;
    etcd.resume();
    let error = ended.expect("the watch ends").expect_err("with an error");
    assert!(error.to_string().contains("given up"), "{error}");
    assert!(store.generation() > 0);
    assert_eq!(store.inventory().await.unwrap(), None);
    let mut again = store.watch_prefix("", None).await.unwrap();
    store.put_inventory("# back\n").await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), again.next()).await;
    assert!(next.is_ok_and(|n| n.is_ok_and(|c| c.is_some())));
}

#[tokio::test]
async fn an_unreachable_etcd_is_reported_within_the_timeout() {
    // Nothing listens on a port just released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let timeout = Duration::from_millis(800);
    let result = Store::connect(std::slice::from_ref(&endpoint), None, "test", timeout).await;
    let Err(error) = result else {
        panic!("connected to nothing")
    };
    assert!(started.elapsed() < timeout + Duration::from_millis(500));
    let message = error.to_string();
    assert!(message.contains(&endpoint), "{message}");
    assert!(matches!(error, StoreError::Unreachable { .. }), "{message}");
    let bad = Store::connect(&["not a url".into()], None, "test", timeout).await;
    assert!(matches!(bad, Err(StoreError::Endpoint { .. })));
}

/// A CA in `dir/name` and a node directory `dir/name-node` signed by it,
/// for 127.0.0.1.
fn tls_dirs(dir: &std::path::Path, name: &str) -> PathBuf {
    let ca = dir.join(name);
    cert::create_ca(&ca, name).unwrap();
    let node = dir.join(format!("{name}-node"));
    let names = NodeNames {
        node: name.into(),
        ips: vec!["127.0.0.1".parse().unwrap()],
        dns: vec!["localhost".into()],
    };
    cert::create_node(&ca, &names, &node).unwrap();
    node
}

fn client_files(node: &std::path::Path) -> TlsFiles {
    TlsFiles {
        ca: node.join("ca-cert.pem"),
        cert: node.join("client-cert.pem"),
        key: node.join("client-key.pem"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    if !can_run("tls_with_client_certificates") {
        return;
    }
    let etcd = Etcd::start_tls(|dir| tls_dirs(dir, "cluster"));
    let server = etcd.tls.clone().unwrap();
    // The cluster CA's client certificate is let in.
    let files = client_files(&server);
    let store = Store::connect(&[etcd.endpoint()], Some(&files), "test", CALL_TIMEOUT)
        .await
        .expect("connects over TLS");
    store.put_inventory("# tls\n").await.unwrap();
    assert_eq!(store.inventory().await.unwrap().as_deref(), Some("# tls\n"));
    let a = join(&store, "A", LONG_TTL_S).await;
    assert!(store.campaign(&a).await.unwrap().is_some());

    let short = Duration::from_millis(1500);
    // A client certificate of another CA is not (the client trusts the
    // server: only etcd's --client-cert-auth refuses it).
    let stranger = TlsFiles {
        ca: files.ca.clone(),
        ..client_files(&tls_dirs(&etcd.dir, "stranger"))
    };
    let refused = Store::connect(&[etcd.endpoint()], Some(&stranger), "test", short).await;
    assert!(refused.is_err(), "a stranger's certificate was accepted");
    // Nor is a client that does not trust the server's CA.
    let distrustful = TlsFiles {
        ca: stranger.cert.with_file_name("ca-cert.pem"),
        ..files.clone()
    };
    let refused = Store::connect(&[etcd.endpoint()], Some(&distrustful), "test", short).await;
    assert!(refused.is_err(), "a server of an unknown CA was trusted");
    // Neither is plain HTTP, nor TLS files with an http:// endpoint.
    let plain = etcd.endpoint().replace("https", "http");
    assert!(
        Store::connect(std::slice::from_ref(&plain), None, "test", short)
            .await
            .is_err()
    );
    assert!(matches!(
        Store::connect(&[plain], Some(&files), "test", short).await,
        Err(StoreError::Endpoint { .. })
    ));
    // A missing TLS file is named.
    let missing = TlsFiles {
        key: etcd.dir.join("nope.pem"),
        ..files
    };
    match Store::connect(&[etcd.endpoint()], Some(&missing), "test", short).await {
        Err(StoreError::TlsFile { path, .. }) => assert!(path.ends_with("nope.pem")),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("connected without a key"),
    }
}
