//! The link monitor: which NICs and bonds of this node have carrier, from
//! rtnetlink, as typed [`LinkEvent`]s the agent turns into engine inputs.
//!
//! ```text
//!  kernel ── RTM_NEWLINK / RTM_DELLINK (RTNLGRP_LINK) ──┐
//!  kernel ── dump (RTM_GETLINK, NLM_F_DUMP) ────────────┤ one socket, in order
//!                                                       ▼
//!            LinkTable: ifindex -> (name, up), diffed ──▶ LinkEvent ──▶ NodeLinks ──▶ Input::LinkChanged
//! ```
//!
//! How it stays right:
//! - it joins `RTNLGRP_LINK` *before* it asks for the dump, on the same
//!   socket, so a change between the two is queued behind (or inside) the
//!   dump and is never missed;
//! - a link is up when it has carrier: `IFF_LOWER_UP` and operstate `UP`
//!   (or `UNKNOWN`, for devices that do not report one). `IFF_UP`, the admin
//!   flag, alone means nothing; a bond is judged by its own carrier, which
//!   the kernel drops only when its last member goes;
//! - every message is compared with the last known state, so repeated and
//!   intermediate messages (a veth reports several) produce no event;
//! - on `ENOBUFS` (the kernel dropped notifications because the socket's
//!   receive buffer was full) it dumps again and reports only what really
//!   differs, including links that vanished meanwhile;
//! - after that first `ENOBUFS` the kernel drops every notification, and
//!   reports none of them, until the socket's queue is empty again, which
//!   is only once the re-dump has been read to its end. A change made after
//!   the dump passed its link is then lost in silence. So when a dump ends,
//!   the monitor reads the socket's drop counter (`SO_MEMINFO`), and when it
//!   grew while the dump ran, it dumps once more.
//!
//! A link's life, as the monitor reports it:
//!
//! ```text
//! (unknown) ---- first message ----> Up | Down      (event, except in the first dump)
//! Up   ---- carrier lost / admin down ----> Down    (event)
//! Down ---- carrier back ----> Up                   (event)
//! Up | Down ---- renamed ----> old name Down (if it was Up), new name Up | Down
//! Up | Down ---- RTM_DELLINK / missing from a re-dump ----> (forgotten; Down event if it was Up)
//! ```

use crate::netns;
use haven_core::model::Cluster;
use haven_core::Input;
use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator,
    ParseableParametrized, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkHeader, LinkMessage, State};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `struct ifinfomsg` is 16 bytes; the attributes follow it.
const LINK_HEADER_LEN: usize = 16;
/// From `linux/if_link.h`: the only attributes the monitor reads.
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
/// The default of [`Options::events_max`].
pub const EVENTS_MAX: usize = 4096;
/// Transient refusals of a dump (`EBUSY`, `ENOBUFS`) in a row before the
/// monitor gives up.
const DUMP_RETRIES_MAX: u32 = 1000;
/// How long [`LinkMonitor::spawn`] waits for the first dump.
pub const START_TIMEOUT_MS: u64 = 10_000;

/// A link's carrier changed, or a link appeared, vanished or was renamed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// The interface name (inside the monitored namespace).
    pub ifname: String,
    pub ifindex: u32,
    /// Carrier present (see the module docs); `false` also when the link is
    /// gone.
    pub up: bool,
    /// When the netlink datagram that told it was read from the socket
    /// (monotonic clock), for measuring detection latency.
    pub at: Instant,
}

/// How to run a [`LinkMonitor`]; `Options::default()` suits the agent.
#[derive(Clone, Debug)]
pub struct Options {
    /// The socket's receive buffer (`SO_RCVBUF`; the kernel doubles it). The
    /// system default when `None`. Tests make it tiny to provoke overruns.
    pub rcvbuf_bytes: Option<usize>,
    /// Events the consumer has not taken yet, at most (at least 1); past
    /// this the monitor stops reading the socket, the kernel overruns it,
    /// and a re-dump later reports the net change (nothing is lost,
    /// intermediate flaps are merged).
    pub events_max: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rcvbuf_bytes: None,
            events_max: EVENTS_MAX,
        }
    }
}

/// A running link monitor: a thread (inside a namespace, if asked) with its
/// own current-thread tokio runtime reading rtnetlink. Dropping it stops the
/// thread and waits for it.
///
/// The consumer *must* take events ([`LinkMonitor::recv_timeout`],
/// [`LinkMonitor::try_recv`]) steadily: after [`Options::events_max`] untaken events
/// the monitor stops reading and later reports only net changes.
pub struct LinkMonitor {
    events: Receiver<LinkEvent>,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// What the monitor thread publishes besides events.
#[derive(Default)]
struct Shared {
    state: Mutex<BTreeMap<String, bool>>,
    overruns: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl LinkMonitor {
    /// Starts monitoring the links of namespace `netns` (a name under
    /// `/run/netns`), or of this process's namespace when `None`, and
    /// returns once the first dump is in: [`LinkMonitor::state`] then holds
    /// every link, and events report changes after it.
    ///
    /// # Errors
    /// The namespace cannot be entered, the netlink socket cannot be made,
    /// or the first dump failed or took longer than [`START_TIMEOUT_MS`].
    ///
    /// # Example
    /// ```no_run
    /// use haven_agent::link::LinkMonitor;
    /// use std::time::Duration;
    ///
    /// let monitor = LinkMonitor::spawn(None)?;
    /// println!("now: {:?}", monitor.state());
    /// if let Ok(event) = monitor.recv_timeout(Duration::from_secs(1)) {
    ///     println!("{} is {}", event.ifname, if event.up { "up" } else { "down" });
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn(netns: Option<&str>) -> io::Result<LinkMonitor> {
        LinkMonitor::spawn_with(netns, Options::default())
    }

    /// [`LinkMonitor::spawn`] with explicit [`Options`].
    ///
    /// # Errors
    /// As [`LinkMonitor::spawn`].
    pub fn spawn_with(netns: Option<&str>, options: Options) -> io::Result<LinkMonitor> {
        let (events_tx, events) = mpsc::sync_channel(options.events_max.max(1));
        let (ready_tx, ready) = mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let shared = Arc::new(Shared::default());
        let body = {
            let shared = Arc::clone(&shared);
            move || run_thread(options, events_tx, ready_tx, stop_rx, shared)
        };
        let thread = match netns {
            Some(name) => netns::spawn_in(name, body)?,
            None => std::thread::Builder::new()
                .name("link-monitor".into())
                .spawn(move || {
                    body();
                    Ok(())
                })?,
        };
        let mut monitor = LinkMonitor {
            events,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        };
        match ready.recv_timeout(Duration::from_millis(START_TIMEOUT_MS)) {
            Ok(Ok(())) => Ok(monitor),
            Ok(Err(e)) => Err(e),
            Err(RecvTimeoutError::Timeout) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the link monitor's first dump took longer than {START_TIMEOUT_MS} ms"),
            )),
            // The thread ended before the dump: it could not enter the
            // namespace (its error is the thread's result) or it failed.
            Err(RecvTimeoutError::Disconnected) => Err(monitor.join().err().unwrap_or_else(|| {
                io::Error::other(
                    monitor
                        .failure()
                        .unwrap_or_else(|| "the link monitor ended".into()),
                )
            })),
        }
    }

    /// The next event, waiting at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` once the monitor has ended (see
    /// [`LinkMonitor::failure`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<LinkEvent, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// The next event if one is waiting.
    ///
    /// # Errors
    /// `Empty`, or `Disconnected` once the monitor has ended.
    pub fn try_recv(&self) -> Result<LinkEvent, TryRecvError> {
        self.events.try_recv()
    }

    /// Every link by name and whether it has carrier, as the monitor last
    /// saw it. It may already include changes whose events are still
    /// queued; events carry absolute states, so applying them again is
    /// harmless.
    pub fn state(&self) -> BTreeMap<String, bool> {
        self.shared.state.lock().expect("not poisoned").clone()
    }

    /// How many times the kernel dropped notifications (ENOBUFS) and the
    /// monitor dumped again.
    pub fn overruns(&self) -> u64 {
        self.shared.overruns.load(Ordering::Relaxed)
    }

    /// Why the monitor thread ended, if it ended with an error.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().expect("not poisoned").clone()
    }

    /// Stops the thread and waits for it.
    fn join(&mut self) -> io::Result<()> {
        // Sending or dropping the sender both wake the thread.
        drop(self.stop.take());
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the link monitor thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for LinkMonitor {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// The monitor thread's body (already inside its namespace).
fn run_thread(
    options: Options,
    events: SyncSender<LinkEvent>,
    ready: mpsc::Sender<io::Result<()>>,
    stop: tokio::sync::oneshot::Receiver<()>,
    shared: Arc<Shared>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = watch(options, &events, ready, &shared) => r,
            _ = stop => Ok(()),
        }
    });
    if let Err(e) = result {
        *shared.failure.lock().expect("not poisoned") = Some(e.to_string());
    }
}

/// Subscribes, dumps, then follows the socket until an error or until the
/// consumer is gone.
async fn watch(
    options: Options,
    events: &SyncSender<LinkEvent>,
    ready: mpsc::Sender<io::Result<()>>,
    shared: &Shared,
) -> io::Result<()> {
    let socket = match subscribe(&options) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
    };
    let mut table = LinkTable::default();
    let mut ready = Some(ready);
    let mut fresh = Vec::new();
    let mut msgs = Vec::new();
    let first = table.request_dump().expect("no dump runs yet");
    // The socket's drop counter when the running dump was asked for.
    let mut drops_at_dump = drops(&socket)?;
    request_dump(&socket, first).await?;
    loop {
        let received = socket.recv_from_full().await;
        let at = Instant::now();
        let dumping = table.dump_seq();
        let mut redump = match received {
            Ok((datagram, _)) => {
                msgs.clear();
                decode(&datagram, &mut msgs);
                let mut redump = None;
                for msg in msgs.drain(..) {
                    redump = redump.or(table.apply(msg, at, &mut fresh)?);
                }
                redump
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                shared.overruns.fetch_add(1, Ordering::Relaxed);
                table.overrun()
            }
            Err(e) => return Err(e),
        };
        if dumping.is_some() && table.dump_seq().is_none() && drops(&socket)? != drops_at_dump {
            // The dump ended, but notifications were dropped in silence
            // while it ran: some may postdate what it showed.
            shared.overruns.fetch_add(1, Ordering::Relaxed);
            redump = redump.or(table.overrun());
        }
        if let Some(seq) = redump {
            drops_at_dump = drops(&socket)?;
            request_dump(&socket, seq).await?;
        }
        if table.take_changed() {
            *shared.state.lock().expect("not poisoned") = table.by_name();
        }
        if table.synced() {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(()));
            }
        }
        for event in fresh.drain(..) {
            if !deliver(events, event).await {
                return Ok(()); // nobody listens any more
            }
        }
    }
}

/// A netlink route socket in the group of link notifications, joined before
/// anything is asked, so the dump that follows cannot miss a change.
fn subscribe(options: &Options) -> io::Result<TokioSocket> {
    let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
    let s = socket.socket_mut();
    if let Some(bytes) = options.rcvbuf_bytes {
        s.set_rx_buf_sz(bytes)?;
    }
    s.bind_auto()?;
    s.add_membership(libc::RTNLGRP_LINK)?;
    Ok(socket)
}

/// Asks the kernel for every link, tagged with `seq`.
async fn request_dump(socket: &TokioSocket, seq: u32) -> io::Result<()> {
    let request = encode(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    );
    socket.send_to(&request, &SocketAddr::new(0, 0)).await?;
    Ok(())
}

fn encode(message: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut message = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::InnerMessage(message),
    );
    message.header.flags = flags;
    message.header.sequence_number = seq;
    message.finalize();
    let mut buf = vec![0; message.buffer_len()];
    message.serialize(&mut buf);
    buf
}

/// Hands `event` to the consumer, waiting while its queue is full: the
/// socket then fills, the kernel overruns it, and the monitor re-dumps
/// later. `false` when the consumer is gone.
async fn deliver(events: &SyncSender<LinkEvent>, mut event: LinkEvent) -> bool {
    loop {
        match events.try_send(event) {
            Ok(()) => return true,
            Err(TrySendError::Full(e)) => {
                event = e;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}

/// One netlink message, as far as the monitor cares.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    /// `RTM_NEWLINK`, from a dump or a notification: the link's state now.
    Link { index: u32, name: String, up: bool },
    /// `RTM_DELLINK`: the link is gone.
    Gone { index: u32 },
    /// `NLMSG_DONE` of dump `seq`.
    Done { seq: u32 },
    /// `NLMSG_ERROR` with an error for request `seq`.
    Failed { seq: u32, errno: i32 },
    /// Not decodable: a change may have been missed, as after an overrun.
    Undecodable,
}

/// Decodes every message of one datagram into `out`, skipping the kinds the
/// monitor does not follow.
fn decode(datagram: &[u8], out: &mut Vec<Msg>) {
    let mut rest = datagram;
    while !rest.is_empty() {
        let Ok(buf) = NetlinkBuffer::new_checked(rest) else {
            out.push(Msg::Undecodable);
            return;
        };
        out.extend(decode_one(&buf));
        // Messages are 4-byte aligned; `new_checked` saw length >= 16.
        let step = (buf.length() as usize).next_multiple_of(4);
        rest = rest.get(step..).unwrap_or_default();
    }
}

fn decode_one(buf: &NetlinkBuffer<&[u8]>) -> Option<Msg> {
    let payload = buf.payload();
    let seq = buf.sequence_number();
    match buf.message_type() {
        kind @ (libc::RTM_NEWLINK | libc::RTM_DELLINK) => {
            let Ok(header) = LinkHeader::parse(payload) else {
                return Some(Msg::Undecodable);
            };
            // A bridge also reports its ports with family AF_BRIDGE, and
            // sends RTM_DELLINK when a port leaves it while the device
            // lives on: only AF_UNSPEC messages describe the device.
            if header.interface_family != AddressFamily::Unspec {
                return None;
            }
            Some(match kind {
                libc::RTM_NEWLINK => link(&header, payload).unwrap_or(Msg::Undecodable),
                _ => Msg::Gone {
                    index: header.index,
                },
            })
        }
        NLMSG_DONE => Some(Msg::Done { seq }),
        NLMSG_ERROR => match ErrorBuffer::new_checked(payload) {
            Ok(error) => error.code().map(|code| Msg::Failed {
                seq,
                errno: code.get().abs(),
            }),
            Err(_) => Some(Msg::Undecodable),
        },
        _ => None,
    }
}

/// Reads a `RTM_NEWLINK` payload: only the name and operstate attributes
/// are parsed, so an attribute this crate version cannot parse (a new
/// kernel's bond or stats data) never hides a carrier change.
fn link(header: &LinkHeader, payload: &[u8]) -> Option<Msg> {
    let (mut name, mut oper) = (None, None);
    for nla in NlasIterator::new(payload.get(LINK_HEADER_LEN..)?) {
        let nla = nla.ok()?;
        if !matches!(nla.kind(), IFLA_IFNAME | IFLA_OPERSTATE) {
            continue;
        }
        match LinkAttribute::parse_with_param(&nla, header.interface_family).ok()? {
            LinkAttribute::IfName(n) => name = Some(n),
            LinkAttribute::OperState(s) => oper = Some(s),
            _ => {}
        }
    }
    Some(Msg::Link {
        index: header.index,
        name: name.unwrap_or_else(|| format!("if{}", header.index)),
        up: has_carrier(header.flags, oper),
    })
}

/// Whether a link carries traffic: `IFF_LOWER_UP` (running with carrier)
/// and operstate `UP`, or `UNKNOWN` / absent for devices that do not
/// report one (loopback, dummy, tun). `IFF_UP` alone never counts: an
/// admin-up port without a cable is down.
pub fn has_carrier(flags: LinkFlags, operstate: Option<State>) -> bool {
    flags.contains(LinkFlags::LowerUp)
        && matches!(operstate, Some(State::Up | State::Unknown) | None)
}

/// What the monitor knows of one link.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    name: String,
    up: bool,
}

/// A dump in progress.
#[derive(Debug)]
struct Dump {
    seq: u32,
    /// Links the dump (or a notification since it was asked for) has shown;
    /// after `NLMSG_DONE` every other known link is gone.
    seen: BTreeSet<u32>,
}

/// The pure state machine of the monitor: messages in, events out.
#[derive(Debug, Default)]
struct LinkTable {
    links: BTreeMap<u32, Known>,
    dump: Option<Dump>,
    /// An overrun happened while a dump ran (the kernel allows one dump at
    /// a time per socket): dump again when it ends.
    redump: bool,
    /// The first dump is complete; before, links are the initial state and
    /// produce no events.
    synced: bool,
    last_seq: u32,
    /// Transient refusals of the dump in a row.
    dump_retries: u32,
    /// `links` changed since [`LinkTable::take_changed`] was last called.
    changed: bool,
}

impl LinkTable {
    /// Starts a dump and returns the sequence number to request it with, or
    /// `None` when one is running (another follows it).
    fn request_dump(&mut self) -> Option<u32> {
        if self.dump.is_some() {
            self.redump = true;
            return None;
        }
        self.last_seq = self.last_seq.wrapping_add(1).max(1);
        self.dump = Some(Dump {
            seq: self.last_seq,
            seen: BTreeSet::new(),
        });
        Some(self.last_seq)
    }

    /// The sequence number of the running dump, if one runs.
    fn dump_seq(&self) -> Option<u32> {
        self.dump.as_ref().map(|d| d.seq)
    }

    /// The kernel dropped notifications: dump again (see
    /// [`LinkTable::request_dump`]).
    fn overrun(&mut self) -> Option<u32> {
        self.request_dump()
    }

    fn synced(&self) -> bool {
        self.synced
    }

    /// Whether the links changed (also silently: a down link deleted)
    /// since the last call.
    fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Applies `msg` (read at `at`), pushing events for real differences to
    /// `out`. Returns the sequence number of a dump to request now.
    ///
    /// # Errors
    /// The kernel refused a dump.
    fn apply(
        &mut self,
        msg: Msg,
        at: Instant,
        out: &mut Vec<LinkEvent>,
    ) -> io::Result<Option<u32>> {
        match msg {
            Msg::Link { index, name, up } => {
                if let Some(dump) = &mut self.dump {
                    dump.seen.insert(index);
                }
                self.update(index, name, up, at, out);
            }
            Msg::Gone { index } => self.forget(index, at, out),
            Msg::Done { seq } if self.dump.as_ref().is_some_and(|d| d.seq == seq) => {
                return Ok(self.dump_done(at, out));
            }
            Msg::Done { .. } => {}
            Msg::Failed { seq, errno } if self.dump.as_ref().is_some_and(|d| d.seq == seq) => {
                return self.dump_failed(errno);
            }
            Msg::Failed { .. } => {}
            Msg::Undecodable => return Ok(self.overrun()),
        }
        Ok(None)
    }

    fn update(
        &mut self,
        index: u32,
        name: String,
        up: bool,
        at: Instant,
        out: &mut Vec<LinkEvent>,
    ) {
        let known = Known {
            name: name.clone(),
            up,
        };
        if self.links.get(&index) == Some(&known) {
            return; // the common case: nothing new
        }
        self.changed = true;
        let old = self.links.insert(index, known);
        let changed = match old {
            None => true,
            Some(old) if old.name != name => {
                // Consumers know links by name: the old name is gone.
                if old.up {
                    self.emit(&old.name, index, false, at, out);
                }
                true
            }
            Some(old) => old.up != up,
        };
        if changed {
            self.emit(&name, index, up, at, out);
        }
    }

    fn forget(&mut self, index: u32, at: Instant, out: &mut Vec<LinkEvent>) {
        if let Some(old) = self.links.remove(&index) {
            self.changed = true;
            if old.up {
                self.emit(&old.name, index, false, at, out);
            }
        }
    }

    /// The kernel refused dump request: while an earlier dump still runs
    /// (`EBUSY`), or when the socket was full as it began (`ENOBUFS`), ask
    /// again; reading the socket meanwhile lets the earlier dump finish.
    fn dump_failed(&mut self, errno: i32) -> io::Result<Option<u32>> {
        self.dump = None;
        let transient = matches!(
            errno,
            libc::EBUSY | libc::ENOBUFS | libc::EINTR | libc::EAGAIN
        );
        if transient && self.dump_retries < DUMP_RETRIES_MAX {
            self.dump_retries += 1;
            self.redump = false; // the new dump covers it
            return Ok(self.request_dump());
        }
        let e = io::Error::from_raw_os_error(errno);
        Err(io::Error::new(
            e.kind(),
            format!(
                "the kernel refused the link dump ({} tries): {e}",
                self.dump_retries + 1
            ),
        ))
    }

    /// The dump is complete: links it did not show are gone.
    fn dump_done(&mut self, at: Instant, out: &mut Vec<LinkEvent>) -> Option<u32> {
        let dump = self.dump.take().expect("a dump ran");
        let gone: Vec<u32> = (self.links.keys())
            .filter(|i| !dump.seen.contains(i))
            .copied()
            .collect();
        for index in gone {
            self.forget(index, at, out);
        }
        self.synced = true;
        self.dump_retries = 0;
        if std::mem::take(&mut self.redump) {
            return self.request_dump();
        }
        None
    }

    fn emit(&self, name: &str, index: u32, up: bool, at: Instant, out: &mut Vec<LinkEvent>) {
        if self.synced {
            out.push(LinkEvent {
                ifname: name.to_owned(),
                ifindex: index,
                up,
                at,
            });
        }
    }

    fn by_name(&self) -> BTreeMap<String, bool> {
        (self.links.values())
            .map(|k| (k.name.clone(), k.up))
            .collect()
    }
}

/// The NICs of one node of the inventory: turns [`LinkEvent`]s of that node
/// into engine inputs. Bond members are not NICs of the engine; a bond is
/// reported by its own carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLinks {
    node: String,
    nics: BTreeSet<String>,
}

impl NodeLinks {
    /// `node` with the NICs (plain or bond) called `nics`.
    pub fn new(
        node: impl Into<String>,
        nics: impl IntoIterator<Item = impl Into<String>>,
    ) -> NodeLinks {
        NodeLinks {
            node: node.into(),
            nics: nics.into_iter().map(Into::into).collect(),
        }
    }

    /// The NICs of `node` in `cluster`, or `None` if it has no such node.
    pub fn from_cluster(cluster: &Cluster, node: &str) -> Option<NodeLinks> {
        let n = cluster.node(node)?;
        Some(NodeLinks::new(
            node,
            n.nics.iter().map(|nic| nic.name.clone()),
        ))
    }

    /// The engine input for `event`, or `None` for an interface that is not
    /// one of the node's NICs (loopback, a bond member, a tap).
    pub fn input(&self, event: &LinkEvent) -> Option<Input> {
        self.nics
            .contains(&event.ifname)
            .then(|| Input::LinkChanged {
                node: self.node.clone(),
                nic: event.ifname.clone(),
                up: event.up,
            })
    }

    /// Inputs that bring an engine (which starts with every link up) to
    /// `state` (from [`LinkMonitor::state`]): a link-down for each NIC that
    /// has no carrier or does not exist, in name order.
    pub fn initial_inputs(&self, state: &BTreeMap<String, bool>) -> Vec<Input> {
        (self.nics.iter())
            .filter(|nic| state.get(*nic) != Some(&true))
            .map(|nic| Input::LinkChanged {
                node: self.node.clone(),
                nic: nic.clone(),
                up: false,
            })
            .collect()
    }
}

/// Sets links up or down (the admin flag) in the calling thread's
/// namespace, in-process over rtnetlink, waiting for the kernel's
/// acknowledgement: for benchmarks and tests, which must not time an `ip`
/// process start-up.
pub struct LinkControl {
    socket: netlink_sys::Socket,
    seq: u32,
}

impl LinkControl {
    /// A control socket in the calling thread's network namespace.
    ///
    /// # Errors
    /// The netlink socket cannot be made.
    pub fn new() -> io::Result<LinkControl> {
        let mut socket = netlink_sys::Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        set_recv_timeout(&socket, Duration::from_secs(2))?;
        Ok(LinkControl { socket, seq: 0 })
    }

    /// Sets link `ifindex` administratively up or down.
    ///
    /// # Errors
    /// The kernel refused (no such link, not permitted) or did not answer
    /// within 2 s.
    pub fn set_up(&mut self, ifindex: u32, up: bool) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut message = LinkMessage::default();
        message.header.index = ifindex;
        message.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        message.header.change_mask = LinkFlags::Up;
        let request = encode(
            RouteNetlinkMessage::SetLink(message),
            NLM_F_REQUEST | NLM_F_ACK,
            self.seq,
        );
        self.socket.send(&request, 0)?;
        loop {
            let (datagram, _) = self.socket.recv_from_full()?;
            if let Some(result) = ack(&datagram, self.seq) {
                return result;
            }
        }
    }
}

/// The acknowledgement of request `seq` in `datagram`, if it is there.
fn ack(datagram: &[u8], seq: u32) -> Option<io::Result<()>> {
    let buf = NetlinkBuffer::new_checked(datagram).ok()?;
    if buf.message_type() != NLMSG_ERROR || buf.sequence_number() != seq {
        return None;
    }
    let error = ErrorBuffer::new_checked(buf.payload()).ok()?;
    Some(match error.code() {
        None => Ok(()),
        Some(code) => Err(io::Error::from_raw_os_error(code.get().abs())),
    })
}

/// How many messages the kernel has dropped on `socket` since it was made
/// (`SK_MEMINFO_DROPS` of `SO_MEMINFO`): it counts also the drops it does
/// not report with `ENOBUFS`.
fn drops(socket: &TokioSocket) -> io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut meminfo = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
    let mut len = std::mem::size_of_val(&meminfo) as libc::socklen_t;
    // SAFETY: a valid socket fd, and a buffer of the length passed.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            meminfo.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(meminfo[libc::SK_MEMINFO_DROPS as usize])
}

fn set_recv_timeout(socket: &netlink_sys::Socket, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: a valid socket fd and a timeval of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, up: bool) -> Msg {
        Msg::Link {
            index,
            name: name.into(),
            up,
        }
    }

    /// Feeds `msgs`, returning (ifname, up) of the events and the last
    /// dump requested.
    fn feed(table: &mut LinkTable, msgs: Vec<Msg>) -> (Vec<(String, bool)>, Option<u32>) {
        let (mut out, mut redump) = (Vec::new(), None);
        for msg in msgs {
            redump = table
                .apply(msg, Instant::now(), &mut out)
                .unwrap()
                .or(redump);
        }
        (out.into_iter().map(|e| (e.ifname, e.up)).collect(), redump)
    }

    fn synced(links: &[(u32, &str, bool)]) -> LinkTable {
        let mut table = LinkTable::default();
        let seq = table.request_dump().unwrap();
        let mut msgs: Vec<Msg> = links.iter().map(|&(i, n, u)| link(i, n, u)).collect();
        msgs.push(Msg::Done { seq });
        let (events, redump) = feed(&mut table, msgs);
        assert_eq!(
            (events, redump),
            (vec![], None),
            "the first dump is the initial state"
        );
        table
    }

    fn ev(name: &str, up: bool) -> (String, bool) {
        (name.into(), up)
    }

    #[test]
    fn carrier_not_admin_flag_decides() {
        let admin_up = LinkFlags::Up;
        assert!(!has_carrier(admin_up, Some(State::Up)), "no LOWER_UP: down");
        assert!(!has_carrier(admin_up, Some(State::LowerLayerDown)));
        let lower = LinkFlags::Up | LinkFlags::LowerUp | LinkFlags::Running;
        assert!(has_carrier(lower, Some(State::Up)));
        assert!(has_carrier(lower, Some(State::Unknown)), "loopback, dummy");
        assert!(has_carrier(lower, None));
        assert!(!has_carrier(lower, Some(State::Dormant)));
        assert!(!has_carrier(lower, Some(State::Down)));
    }

    #[test]
    fn repeated_and_intermediate_messages_give_no_events() {
        let mut t = synced(&[(1, "lo", true), (2, "eth1", true)]);
        let (events, _) = feed(&mut t, vec![link(2, "eth1", true), link(2, "eth1", true)]);
        assert_eq!(events, vec![]);
        let (events, _) = feed(
            &mut t,
            vec![
                link(2, "eth1", false),
                link(2, "eth1", false),
                link(2, "eth1", true),
            ],
        );
        assert_eq!(events, vec![ev("eth1", false), ev("eth1", true)]);
    }

    #[test]
    fn notifications_during_the_first_dump_are_state_not_events() {
        let mut t = LinkTable::default();
        let seq = t.request_dump().unwrap();
        let (events, _) = feed(
            &mut t,
            vec![
                link(2, "eth1", true),
                link(2, "eth1", false),
                Msg::Done { seq },
            ],
        );
        assert_eq!(events, vec![]);
        assert_eq!(t.by_name(), BTreeMap::from([("eth1".into(), false)]));
    }

    #[test]
    fn delete_reports_down_once_and_forgets() {
        let mut t = synced(&[(2, "eth1", true), (3, "eth2", false)]);
        assert!(t.take_changed(), "the first dump filled it");
        let (events, _) = feed(&mut t, vec![Msg::Gone { index: 3 }]);
        assert_eq!(events, vec![]);
        assert!(t.take_changed(), "a silent delete changes the state too");
        let (events, _) = feed(&mut t, vec![Msg::Gone { index: 2 }]);
        assert_eq!(events, vec![ev("eth1", false)]);
        assert!(t.by_name().is_empty());
        assert!(t.take_changed());
        let (events, _) = feed(&mut t, vec![Msg::Gone { index: 2 }]);
        assert_eq!(events, vec![]);
        assert!(!t.take_changed(), "nothing left to change");
    }

    #[test]
    fn rename_retires_the_old_name() {
        let mut t = synced(&[(2, "eth1", true)]);
        let (events, _) = feed(&mut t, vec![link(2, "uplink", true)]);
        assert_eq!(events, vec![ev("eth1", false), ev("uplink", true)]);
        assert_eq!(t.by_name(), BTreeMap::from([("uplink".into(), true)]));
    }

    #[test]
    fn new_links_are_reported_with_their_state() {
        let mut t = synced(&[]);
        let (events, _) = feed(&mut t, vec![link(7, "veth0", false)]);
        assert_eq!(events, vec![ev("veth0", false)]);
    }

    /// After an overrun the re-dump reports only real differences: a link
    /// that flapped and came back is silent, a changed one is reported, a
    /// vanished one goes down, a new one appears.
    #[test]
    fn overrun_redump_reconciles() {
        let mut t = synced(&[
            (2, "same", true),
            (3, "flipped", true),
            (4, "vanished", true),
        ]);
        let seq = t.overrun().expect("a dump is requested");
        let (events, redump) = feed(
            &mut t,
            vec![
                link(2, "same", true),
                link(3, "flipped", false),
                link(5, "new", true),
                Msg::Done { seq },
            ],
        );
        assert_eq!(redump, None);
        assert_eq!(
            events,
            vec![ev("flipped", false), ev("new", true), ev("vanished", false)]
        );
        assert_eq!(
            t.by_name(),
            BTreeMap::from([
                ("flipped".into(), false),
                ("new".into(), true),
                ("same".into(), true)
            ])
        );
    }

    #[test]
    fn overrun_during_a_dump_dumps_again_after_it() {
        let mut t = synced(&[(2, "eth1", true)]);
        let first = t.overrun().unwrap();
        assert_eq!(t.overrun(), None, "one dump at a time");
        let (_, redump) = feed(
            &mut t,
            vec![link(2, "eth1", true), Msg::Done { seq: first }],
        );
        let second = redump.expect("a second dump follows");
        assert_ne!(first, second);
        // A stale DONE of the first dump does not end the second.
        let (events, redump) = feed(&mut t, vec![Msg::Done { seq: first }]);
        assert_eq!((events, redump), (vec![], None));
        let (events, _) = feed(
            &mut t,
            vec![link(2, "eth1", false), Msg::Done { seq: second }],
        );
        assert_eq!(events, vec![ev("eth1", false)]);
    }

    #[test]
    fn a_refused_dump_is_retried_or_an_error_and_an_undecodable_message_a_redump() {
        let mut t = synced(&[]);
        assert!(feed_err(&mut t, Msg::Undecodable).unwrap().is_some());
        let seq = t.dump.as_ref().unwrap().seq;
        let again = feed_err(
            &mut t,
            Msg::Failed {
                seq,
                errno: libc::EBUSY,
            },
        )
        .unwrap();
        assert!(again.is_some_and(|s| s != seq), "EBUSY: ask again");
        let seq = again.unwrap();
        assert!(feed_err(
            &mut t,
            Msg::Failed {
                seq,
                errno: libc::EPERM
            }
        )
        .is_err());
    }

    fn feed_err(t: &mut LinkTable, msg: Msg) -> io::Result<Option<u32>> {
        t.apply(msg, Instant::now(), &mut Vec::new())
    }

    #[test]
    fn decode_reads_a_dump_datagram() {
        let mut message = LinkMessage::default();
        message.header.index = 9;
        message.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        message.attributes = vec![
            LinkAttribute::IfName("eth1".into()),
            LinkAttribute::Mtu(1500),
            LinkAttribute::OperState(State::Up),
        ];
        let mut datagram = encode(RouteNetlinkMessage::NewLink(message), 0, 4);
        let mut gone = LinkMessage::default();
        gone.header.index = 3;
        datagram.extend(encode(RouteNetlinkMessage::DelLink(gone), 0, 0));
        let mut out = Vec::new();
        decode(&datagram, &mut out);
        assert_eq!(out, vec![link(9, "eth1", true), Msg::Gone { index: 3 }]);
        out.clear();
        let mut port = LinkMessage::default();
        port.header.interface_family = AddressFamily::Bridge;
        port.header.index = 5;
        decode(&encode(RouteNetlinkMessage::DelLink(port), 0, 0), &mut out);
        assert_eq!(out, vec![], "a port leaving a bridge is not a link deleted");
        decode(&datagram[..20], &mut out);
        assert_eq!(out, vec![Msg::Undecodable]);
    }

    #[test]
    fn node_links_keep_inventory_nics_only() {
        let node = NodeLinks::new("A", ["eth1", "bond0"]);
        let event = |name: &str| LinkEvent {
            ifname: name.into(),
            ifindex: 1,
            up: false,
            at: Instant::now(),
        };
        assert_eq!(
            node.input(&event("eth1")),
            Some(Input::LinkChanged {
                node: "A".into(),
                nic: "eth1".into(),
                up: false
            })
        );
        assert_eq!(node.input(&event("lo")), None);
        let state = BTreeMap::from([("eth1".into(), true), ("lo".into(), true)]);
        assert_eq!(
            node.initial_inputs(&state),
            vec![Input::LinkChanged {
                node: "A".into(),
                nic: "bond0".into(),
                up: false
            }]
        );
    }
}
