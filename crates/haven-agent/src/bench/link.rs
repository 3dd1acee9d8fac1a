//! The link monitor's detection latency, end to end on the real kernel:
//! a cable pull (the far end of a veth going down) until the engine has
//! declared the VM behind it impaired.
//!
//! ```text
//!  namespace B: flipper thread ── RTM_SETLINK peer down ──▶ kernel
//!  namespace A: kernel ── RTM_NEWLINK eth1 (no carrier) ──▶ LinkMonitor ──▶ LinkEvent
//!  caller: LinkEvent ──▶ NodeLinks ──▶ Engine::handle ──▶ Report(vm_network_impaired)
//!          t0 = just before the SETLINK is sent   at = the datagram was read   t1 = the report is out
//! ```

use crate::link::{LinkControl, LinkEvent, LinkMonitor, NodeLinks};
use crate::netns::{self, TestNet};
use haven_core::stats::percentile;
use haven_core::{Action, Engine, Event, EventKind};
use serde::Serialize;
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The engine's view: node A's `eth1` is the uplink of the switch of VM1's
/// protected adapter; B can take VM1.
const SCENARIO: &str = r#"
name = "bench-link"

[[network]]
name = "Mgmt"
control = true

[[network]]
name = "Private"
migration = true

[[network]]
name = "Corp"

[[node]]
name = "A"
memory_mb = 65536
nics = [
  { name = "eth0", network = "Mgmt" },
  { name = "eth1", network = "Corp" },
  { name = "eth2", network = "Private" },
]
switches = [ { name = "Corp", uplink = "eth1" } ]

[[node]]
name = "B"
memory_mb = 65536
nics = [
  { name = "eth0", network = "Mgmt" },
  { name = "eth1", network = "Corp" },
  { name = "eth2", network = "Private" },
]
switches = [ { name = "Corp", uplink = "eth1" } ]

[[vm]]
name = "VM1"
node = "A"
memory_mb = 4096
adapters = [ { switch = "Corp", mac = "00155D867239", protected = true } ]
"#;

/// The monitored NIC in namespace A, and its veth peer in namespace B.
const NIC: &str = "eth1";
const PEER: &str = "peer1";
const NIC_INDEX: u32 = 1000;
const PEER_INDEX: u32 = 2000;
/// Longest wait for one link event.
const EVENT_TIMEOUT_MS: u64 = 5_000;

/// Detection latency over `count` link pulls, in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct LinkBench {
    pub count: usize,
    /// From just before the far end is set down until the engine has
    /// reported `vm_network_impaired`.
    pub change_to_engine_p50_us: f64,
    pub change_to_engine_p99_us: f64,
    pub change_to_engine_max_us: f64,
    /// From the moment the kernel's message was read from the monitor's
    /// socket ([`LinkEvent::at`]) until the same report.
    pub kernel_to_engine_p50_us: f64,
    pub kernel_to_engine_p99_us: f64,
    pub kernel_to_engine_max_us: f64,
    /// Netlink overruns during the run (each costs a re-dump).
    pub overruns: u64,
}

/// Pulls a link `count` times and measures each detection. Needs root: it
/// creates two namespaces joined by a veth (deleted again when it returns,
/// also on error), runs a [`LinkMonitor`] in the first, and sets the peer in
/// the second down and up again in-process.
///
/// # Errors
/// `count` is 0, a namespace or link cannot be made, an event did not come
/// within 5 s, or the engine did not report the impairment.
pub fn bench_link(count: usize) -> io::Result<LinkBench> {
    if count == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the link benchmark needs a count of at least 1",
        ));
    }
    let cluster = haven_core::parse::parse_scenario("bench-link.toml", SCENARIO)
        .map_err(|e| io::Error::other(e.to_string()))?
        .cluster;
    let quiet = Engine::new(&cluster, 1);
    let node = NodeLinks::from_cluster(&cluster, "A").expect("the scenario has node A");
    // Dropped last: deletes the namespaces after the threads in them ended.
    let mut net = TestNet::new();
    let a = net.namespace("a")?;
    let b = net.namespace("b")?;
    veth(&a, &b)?;
    let monitor = LinkMonitor::spawn(Some(&a))?;
    if monitor.state().get(NIC) != Some(&true) {
        wait_for(&monitor, true)?;
    }
    let flipper = Flipper::start(&b)?;
    let (mut total, mut kernel) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for _ in 0..count {
        let mut engine = quiet.clone();
        flipper.request(false)?;
        let event = wait_for(&monitor, false)?;
        let input = node.input(&event).expect("eth1 is a NIC of A");
        engine.handle(1_000, input).map_err(io::Error::other)?;
        let impaired = engine.take_actions().iter().any(is_impaired);
        let done = Instant::now();
        let issued = flipper.issued()?;
        if !impaired {
            return Err(io::Error::other("the engine did not report VM1 impaired"));
        }
        total.push(micros(done - issued));
        kernel.push(micros(done - event.at));
        flipper.request(true)?;
        wait_for(&monitor, true)?;
        flipper.issued()?;
    }
    let overruns = monitor.overruns();
    drop(flipper);
    drop(monitor);
    drop(net);
    total.sort_by(f64::total_cmp);
    kernel.sort_by(f64::total_cmp);
    Ok(LinkBench {
        count,
        change_to_engine_p50_us: percentile(&total, 50),
        change_to_engine_p99_us: percentile(&total, 99),
        change_to_engine_max_us: total[count - 1],
        kernel_to_engine_p50_us: percentile(&kernel, 50),
        kernel_to_engine_p99_us: percentile(&kernel, 99),
        kernel_to_engine_max_us: kernel[count - 1],
        overruns,
    })
}

fn is_impaired(action: &Action) -> bool {
    matches!(
        action,
        Action::Report(Event {
            kind: EventKind::VmNetworkImpaired { .. },
            ..
        })
    )
}

/// The next event of [`NIC`] saying `up`; others are skipped.
fn wait_for(monitor: &LinkMonitor, up: bool) -> io::Result<LinkEvent> {
    let deadline = Instant::now() + Duration::from_millis(EVENT_TIMEOUT_MS);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = monitor.recv_timeout(left).map_err(|e| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no {NIC} {} event within {EVENT_TIMEOUT_MS} ms ({e}; monitor: {:?})",
                    if up { "up" } else { "down" },
                    monitor.failure()
                ),
            )
        })?;
        if event.ifname == NIC && event.up == up {
            return Ok(event);
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A thread in namespace B that sets [`PEER`] up or down on request and
/// answers with the instant just before it sent the change.
struct Flipper {
    requests: Option<mpsc::Sender<bool>>,
    issued: mpsc::Receiver<io::Result<Instant>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Flipper {
    fn start(ns: &str) -> io::Result<Flipper> {
        let (requests, rx) = mpsc::channel::<bool>();
        let (tx, issued) = mpsc::channel();
        let thread = netns::spawn_in(ns, move || {
            let setup = LinkControl::new().and_then(|c| Ok((c, ifindex(PEER)?)));
            let (mut control, index) = match setup {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(Instant::now())); // ready
            while let Ok(up) = rx.recv() {
                let t = Instant::now();
                let _ = tx.send(control.set_up(index, up).map(|()| t));
            }
        })?;
        let flipper = Flipper {
            requests: Some(requests),
            issued,
            thread: Some(thread),
        };
        flipper.issued()?;
        Ok(flipper)
    }

    fn request(&self, up: bool) -> io::Result<()> {
        (self.requests.as_ref().expect("running").send(up)).map_err(|_| self.failed())
    }

    fn issued(&self) -> io::Result<Instant> {
        (self
            .issued
            .recv_timeout(Duration::from_millis(EVENT_TIMEOUT_MS)))
        .map_err(|_| self.failed())?
    }

    fn failed(&self) -> io::Error {
        io::Error::other("the thread setting the link in namespace B ended")
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The veth `NIC` (in `a`) <-> `PEER` (in `b`), both up, with different
/// ifindexes on purpose (see [`netns::veth_pair`]): otherwise a plain NIC's
/// carrier loss can reach netlink up to 1 s late, and the benchmark
/// measures haven's part, not the kernel's batching.
fn veth(a: &str, b: &str) -> io::Result<()> {
    netns::veth_pair(a, NIC, b, PEER, Some((NIC_INDEX, PEER_INDEX)))
}

/// The index of interface `name` in the calling thread's namespace.
fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}
