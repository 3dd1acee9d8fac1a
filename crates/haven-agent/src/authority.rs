//! The migration authority of `migration_auth = "authority"` (SPEC H9,
//! seed 001): before each migration the source host fetches a one-time
//! ticket from an authority it reaches over an `authority` network, and the
//! destination redeems it. A source that cannot reach the authority cannot
//! migrate: its migration fails with cause `authority_unreachable`. The
//! default, `certificate`, needs no authority (see [`crate::cert`]).
//!
//! # Protocol
//!
//! One request per line over TCP, one answer line per request; fields are
//! separated by one space, lines end with `\n` and hold at most
//! [`LINE_BYTES_MAX`] bytes before it. Names (node, VM) are 1 to
//! [`NAME_BYTES_MAX`] bytes of printable ASCII without spaces, so a request
//! always fits in a line.
//!
//! ```text
//! TICKET <node> <vm>      ->  OK <ticket>      32 hex digits, unpredictable
//! REDEEM <ticket> <vm>    ->  OK               at most once, for that VM, in time
//!                         ->  ERR <reason>     anything else
//! ```
//!
//! A ticket's life:
//!
//! ```text
//! (none) ---- TICKET node vm ----> Issued ---- REDEEM ticket vm (in time) ----> Used (OK)
//!                                  Issued ---- REDEEM ticket other-vm --------> Used (ERR)
//!                                  Issued ---- ticket_ttl passes -------------> Expired (ERR)
//!                                  Issued ---- tickets_max newer tickets -----> Dropped (ERR)
//! ```
//!
//! Any `REDEEM` naming a ticket uses it up, even a refused one: a ticket is
//! one attempt, not one success.
//!
//! Everything is bounded ([`Limits`]): the line length, the tickets
//! outstanding (the oldest are dropped first), the connections served at
//! once (more wait in the kernel's listen backlog), the requests per
//! connection, and the time each read and write may take. The client bounds
//! the whole exchange by the caller's limit.

use haven_core::event::FailureCause;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

/// The longest request or answer line, in bytes, without its `\n`.
pub const LINE_BYTES_MAX: usize = 512;
/// The longest name (node, VM, ticket) a request may carry: two of them
/// and the verb fit in [`LINE_BYTES_MAX`].
pub const NAME_BYTES_MAX: usize = 240;
/// Requests one connection may make before the server closes it.
pub const REQUESTS_PER_CONNECTION_MAX: usize = 16;
/// Random bytes in a ticket (it is written as twice as many hex digits).
const TICKET_BYTES: usize = 16;

/// The server's bounds. [`Limits::default`] is what `haven authority serve`
/// uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a ticket may be redeemed after it was issued.
    pub ticket_ttl: Duration,
    /// Tickets outstanding at once; issuing one more drops the oldest.
    pub tickets_max: usize,
    /// Connections served at once; more wait in the listen backlog (and
    /// their clients' limits) until one ends.
    pub connections_max: usize,
    /// How long the server waits for each request line, and for each
    /// answer to be written.
    pub io_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ticket_ttl: Duration::from_secs(60),
            tickets_max: 4096,
            connections_max: 256,
            io_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a ticket could not be had or redeemed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// No answer: the connection was refused, reset or timed out.
    #[error(
        "the migration authority at {addr} could not be reached ({reason}); check that \
         `haven authority serve` runs there and that this host has a route to it over \
         its authority network"
    )]
    Unreachable { addr: SocketAddr, reason: String },
    /// The authority answered `ERR`.
    #[error(
        "the migration authority at {addr} refused the request ({reason}); check that the \
         ticket is redeemed once, for the VM it was issued for, before it expires"
    )]
    Refused { addr: SocketAddr, reason: String },
    /// The answer is not of this protocol.
    #[error(
        "{addr} answered {answer:?}, which is not the migration authority's protocol; check \
         that the address is that of `haven authority serve`"
    )]
    Protocol { addr: SocketAddr, answer: String },
    /// A name the protocol cannot carry; nothing was sent.
    #[error(
        "the {what} {name:?} cannot be sent to the migration authority; names must be \
         1 to 240 bytes of printable ASCII without spaces"
    )]
    InvalidName { what: &'static str, name: String },
}

impl AuthorityError {
    /// The failure cause a migration reports when this error stopped it:
    /// `authority_unreachable` when no answer came (H9); otherwise the
    /// authority (or what stands at its address) said no, which is reported
    /// with this error's text.
    pub fn cause(&self) -> FailureCause {
        match self {
            AuthorityError::Unreachable { .. } => FailureCause::AuthorityUnreachable,
            other => FailureCause::Hypervisor(other.to_string()),
        }
    }
}

/// Asks the authority at `addr` for a one-time ticket that lets node `node`
/// migrate VM `vm`. The whole exchange takes at most `limit`.
///
/// # Errors
/// [`AuthorityError::Unreachable`] when no answer came within `limit`;
/// [`AuthorityError::Refused`] when the authority answered `ERR`;
/// [`AuthorityError::InvalidName`] for a name the protocol cannot carry.
pub async fn ticket(
    addr: SocketAddr,
    node: &str,
    vm: &str,
    limit: Duration,
) -> Result<String, AuthorityError> {
    check_name("node name", node)?;
    check_name("VM name", vm)?;
    let answer = exchange(addr, &format!("TICKET {node} {vm}\n"), limit).await?;
    match answer.strip_prefix("OK ") {
        Some(ticket) if is_ticket(ticket) => Ok(ticket.to_string()),
        _ => Err(refusal(addr, answer)),
    }
}

/// Redeems `ticket` for VM `vm` at the authority at `addr`. The whole
/// exchange takes at most `limit`.
///
/// # Errors
/// As [`ticket`]; [`AuthorityError::Refused`] when the ticket is unknown,
/// used, expired or for another VM.
pub async fn redeem(
    addr: SocketAddr,
    ticket: &str,
    vm: &str,
    limit: Duration,
) -> Result<(), AuthorityError> {
    check_name("ticket", ticket)?;
    check_name("VM name", vm)?;
    let answer = exchange(addr, &format!("REDEEM {ticket} {vm}\n"), limit).await?;
    match answer.as_str() {
        "OK" => Ok(()),
        _ => Err(refusal(addr, answer)),
    }
}

/// [`ticket`] from an authority reached at several addresses (one per
/// `authority` network, as a Kerberos client lists several KDCs): all are
/// asked at once and the first ticket wins, so a pulled cable under one
/// path costs nothing while another works [S1.4].
///
/// # Errors
/// No address gave a ticket: a refusal if one answered, else
/// [`AuthorityError::Unreachable`] (also for an empty list).
pub async fn ticket_any(
    addrs: &[SocketAddr],
    node: &str,
    vm: &str,
    limit: Duration,
) -> Result<String, AuthorityError> {
    let (node, vm) = (node.to_string(), vm.to_string());
    first_success(addrs, move |addr| {
        let (node, vm) = (node.clone(), vm.clone());
        async move { ticket(addr, &node, &vm, limit).await }
    })
    .await
}

/// [`redeem`] at several addresses of one authority, as [`ticket_any`]:
/// the first `OK` wins (the others then find the ticket used).
///
/// # Errors
/// As [`ticket_any`].
pub async fn redeem_any(
    addrs: &[SocketAddr],
    ticket: &str,
    vm: &str,
    limit: Duration,
) -> Result<(), AuthorityError> {
    let (ticket, vm) = (ticket.to_string(), vm.to_string());
    first_success(addrs, move |addr| {
        let (ticket, vm) = (ticket.clone(), vm.clone());
        async move { redeem(addr, &ticket, &vm, limit).await }
    })
    .await
}

/// Runs `ask` for every address at once; the first `Ok` wins. When none
/// succeeds, an answer (a refusal) says more than silence.
async fn first_success<T, F, Fut>(addrs: &[SocketAddr], ask: F) -> Result<T, AuthorityError>
where
    T: Send + 'static,
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<T, AuthorityError>> + Send + 'static,
{
    let mut asking = JoinSet::new();
    for &addr in addrs {
        asking.spawn(ask(addr));
    }
    let mut failure: Option<AuthorityError> = None;
    while let Some(joined) = asking.join_next().await {
        let Ok(answer) = joined else { continue };
        match answer {
            Ok(found) => return Ok(found),
            Err(e) => {
                let silent = |e: &AuthorityError| matches!(e, AuthorityError::Unreachable { .. });
                if failure.as_ref().is_none_or(|f| silent(f) && !silent(&e)) {
                    failure = Some(e);
                }
            }
        }
    }
    Err(failure.unwrap_or_else(|| AuthorityError::Unreachable {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        reason: "no authority address is configured".into(),
    }))
}

/// Sends one request line and reads one answer line (without `\n`).
async fn exchange(
    addr: SocketAddr,
    request: &str,
    limit: Duration,
) -> Result<String, AuthorityError> {
    let lost = |reason: String| AuthorityError::Unreachable { addr, reason };
    let work = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::new(stream);
        read_line(&mut reader).await
    };
    match timeout(limit, work).await {
        Err(_) => Err(lost(format!("no answer within {} ms", limit.as_millis()))),
        Ok(Err(e)) => Err(lost(e.to_string())),
        Ok(Ok(Line::End)) => Err(lost("it closed the connection".to_string())),
        Ok(Ok(Line::TooLong | Line::Unterminated)) => Err(AuthorityError::Protocol {
            addr,
            answer: "an over-long or unterminated line".to_string(),
        }),
        Ok(Ok(Line::Text(answer))) => Ok(answer),
    }
}

/// `ERR reason` as a refusal; anything else as a protocol error.
fn refusal(addr: SocketAddr, answer: String) -> AuthorityError {
    match answer.strip_prefix("ERR ") {
        Some(reason) => AuthorityError::Refused {
            addr,
            reason: reason.to_string(),
        },
        None => AuthorityError::Protocol { addr, answer },
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), AuthorityError> {
    if is_name(name) {
        return Ok(());
    }
    Err(AuthorityError::InvalidName {
        what,
        name: name.to_string(),
    })
}

/// 1 to [`NAME_BYTES_MAX`] bytes of printable ASCII without spaces: what
/// one field may hold.
fn is_name(name: &str) -> bool {
    (1..=NAME_BYTES_MAX).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

fn is_ticket(text: &str) -> bool {
    text.len() == 2 * TICKET_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One line read under the length bound.
#[derive(Debug, PartialEq)]
enum Line {
    /// The line, without `\n` (and without a `\r` before it).
    Text(String),
    /// The peer closed the connection before a line began.
    End,
    /// More than [`LINE_BYTES_MAX`] bytes without a `\n`.
    TooLong,
    /// The peer closed the connection in the middle of a line.
    Unterminated,
}

/// Reads one line, never buffering more than [`LINE_BYTES_MAX`] + 1 bytes.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Line> {
    let mut bytes = Vec::with_capacity(64);
    let bound = (LINE_BYTES_MAX + 1) as u64;
    reader.take(bound).read_until(b'\n', &mut bytes).await?;
    match bytes.last() {
        None => return Ok(Line::End),
        Some(b'\n') => {}
        Some(_) if bytes.len() > LINE_BYTES_MAX => return Ok(Line::TooLong),
        Some(_) => return Ok(Line::Unterminated),
    }
    bytes.pop();
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    // Bytes that are not UTF-8 become U+FFFD, which no name may hold.
    Ok(Line::Text(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Serves the authority protocol on `listener` with [`Limits::default`]
/// until `shutdown` completes; connections still open then are closed.
///
/// # Errors
/// Accepting failed for a reason that is not about one connection or a
/// passing shortage of descriptors or memory.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    serve_with(listener, Limits::default(), shutdown).await
}

/// [`serve`] with the given bounds.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_on(vec![listener], limits, shutdown).await
}

/// [`serve_with`] on several listeners (an authority reached over several
/// networks) with one set of tickets: a ticket issued on one address is
/// redeemed on any.
///
/// # Errors
/// As [`serve`].
pub async fn serve_on(
    listeners: Vec<TcpListener>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    assert!(limits.tickets_max > 0 && limits.connections_max > 0 && !listeners.is_empty());
    let mut first = 0;
    let accept_any = |first: usize| {
        let listeners = &listeners;
        std::future::poll_fn(move |cx| {
            // Starting one further each time, so no listener starves.
            for k in 0..listeners.len() {
                let listener = &listeners[(first + k) % listeners.len()];
                if let std::task::Poll::Ready(accepted) = listener.poll_accept(cx) {
                    return std::task::Poll::Ready(accepted);
                }
            }
            std::task::Poll::Pending
        })
    };
    let tickets = Arc::new(Mutex::new(Tickets::new(limits)));
    // Dropping the set at the end aborts the connections still open.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // At the bound, wait for a connection to end before accepting
        // another: the kernel's listen backlog holds the rest.
        while connections.len() >= limits.connections_max {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                _ = connections.join_next() => {}
            }
        }
        first += 1;
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = accept_any(first) => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let tickets = Arc::clone(&tickets);
                connections.spawn(connection(stream, tickets, limits.io_timeout));
            }
            Err(e) if is_per_connection(&e) => {}
            // Out of descriptors or memory: wait for connections to end
            // instead of spinning on accept.
            Err(e) if is_shortage(&e) => sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(e),
        }
    }
}

fn is_per_connection(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

fn is_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Answers one connection's requests until it closes, errs, is idle for
/// `io_timeout`, sends a line that is too long, or used up
/// [`REQUESTS_PER_CONNECTION_MAX`].
async fn connection(stream: TcpStream, tickets: Arc<Mutex<Tickets>>, io_timeout: Duration) {
    let mut stream = BufReader::new(stream);
    for _ in 0..REQUESTS_PER_CONNECTION_MAX {
        let line = match timeout(io_timeout, read_line(&mut stream)).await {
            Ok(Ok(line)) => line,
            Ok(Err(_)) | Err(_) => return,
        };
        let (answer, close) = match line {
            Line::End => return,
            Line::TooLong => (format!("ERR line longer than {LINE_BYTES_MAX} bytes"), true),
            Line::Unterminated => ("ERR unterminated line".to_string(), true),
            Line::Text(request) => {
                let now = Instant::now();
                let mut tickets = tickets.lock().unwrap_or_else(|e| e.into_inner());
                (respond(&mut tickets, now, &request), false)
            }
        };
        let line = format!("{answer}\n");
        let written = timeout(io_timeout, stream.write_all(line.as_bytes())).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
        if close {
            return drain(stream, io_timeout).await;
        }
    }
}

/// Ends a connection whose peer may still be sending: closing a socket with
/// unread input sends a reset, which can destroy the answer before the peer
/// reads it. So send FIN, then read and discard (at most 64 KiB, for at
/// most `io_timeout`) until the peer closes too.
async fn drain(mut stream: BufReader<TcpStream>, io_timeout: Duration) {
    let _ = timeout(io_timeout, async {
        stream.shutdown().await?;
        let mut rest = stream.take(64 * 1024);
        tokio::io::copy(&mut rest, &mut tokio::io::sink()).await
    })
    .await;
}

/// The answer line (without `\n`) to one request line.
fn respond(tickets: &mut Tickets, now: Instant, request: &str) -> String {
    let fields: Vec<&str> = request.split(' ').collect();
    // The field is named by position, not echoed: an answer fits in a line.
    if let Some(bad) = (fields.iter().skip(1)).position(|f| !is_name(f)) {
        return format!(
            "ERR bad field {}: names are 1 to {NAME_BYTES_MAX} bytes of printable ASCII \
             without spaces",
            bad + 2
        );
    }
    match fields.as_slice() {
        ["TICKET", node, vm] => match random_hex(TICKET_BYTES) {
            Ok(ticket) => {
                tickets.issue(now, ticket.clone(), node, vm);
                format!("OK {ticket}")
            }
            Err(e) => format!("ERR no randomness: {e}"),
        },
        ["REDEEM", ticket, vm] => match tickets.redeem(now, ticket, vm) {
            Ok(()) => "OK".to_string(),
            Err(reason) => format!("ERR {reason}"),
        },
        _ => "ERR expected `TICKET <node> <vm>` or `REDEEM <ticket> <vm>`".to_string(),
    }
}

/// `bytes` bytes from the kernel's random source, as hex digits.
fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < bytes {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, a live buffer.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match n {
            n if n > 0 => filled += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// One issued ticket.
#[derive(Debug)]
struct Issued {
    ticket: String,
    node: String,
    vm: String,
    at: Instant,
}

/// The outstanding tickets, at most `tickets_max`, oldest first.
#[derive(Debug)]
struct Tickets {
    limits: Limits,
    /// Issue number -> ticket; issue numbers grow, so the first is oldest.
    by_issue: BTreeMap<u64, Issued>,
    /// Ticket -> issue number.
    by_ticket: BTreeMap<String, u64>,
    next_issue: u64,
}

impl Tickets {
    fn new(limits: Limits) -> Tickets {
        Tickets {
            limits,
            by_issue: BTreeMap::new(),
            by_ticket: BTreeMap::new(),
            next_issue: 0,
        }
    }

    /// Records `ticket` for (`node`, `vm`), first dropping the expired
    /// tickets and, when full, the oldest.
    fn issue(&mut self, now: Instant, ticket: String, node: &str, vm: &str) {
        self.expire(now);
        while self.by_issue.len() >= self.limits.tickets_max {
            self.drop_oldest();
        }
        let issue = self.next_issue;
        self.next_issue += 1;
        self.by_ticket.insert(ticket.clone(), issue);
        let issued = Issued {
            ticket,
            node: node.to_string(),
            vm: vm.to_string(),
            at: now,
        };
        self.by_issue.insert(issue, issued);
        assert_eq!(self.by_issue.len(), self.by_ticket.len());
    }

    /// Uses `ticket` up, and accepts it if it is for `vm` and in time;
    /// else says why not.
    fn redeem(&mut self, now: Instant, ticket: &str, vm: &str) -> Result<(), String> {
        let Some(issue) = self.by_ticket.remove(ticket) else {
            return Err("unknown or used ticket".to_string());
        };
        let issued = (self.by_issue.remove(&issue)).expect("every ticket has its issue");
        if now.duration_since(issued.at) > self.limits.ticket_ttl {
            return Err(format!(
                "expired ticket (older than {} s)",
                self.limits.ticket_ttl.as_secs_f64()
            ));
        }
        if issued.vm != vm {
            return Err(format!(
                "ticket issued to node {} for another VM than {vm}",
                issued.node
            ));
        }
        Ok(())
    }

    /// Drops the tickets older than the time to live; tickets are issued in
    /// time order, so they are a prefix of `by_issue`.
    fn expire(&mut self, now: Instant) {
        while let Some((_, oldest)) = self.by_issue.first_key_value() {
            if now.duration_since(oldest.at) <= self.limits.ticket_ttl {
                break;
            }
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((_, oldest)) = self.by_issue.pop_first() {
            self.by_ticket.remove(&oldest.ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    /// A server on a port of 127.0.0.1 chosen by the kernel; it stops when
    /// the runtime of the test ends.
    async fn server(limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(listener, limits, std::future::pending()));
        addr
    }

    /// Sends raw bytes and returns the answer line.
    async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        let mut reader = BufReader::new(stream);
        match read_line(&mut reader).await.unwrap() {
            Line::Text(line) => line,
            other => panic!("no answer line: {other:?}"),
        }
    }

    fn refused(result: Result<(), AuthorityError>, words: &str) {
        match result {
            Err(AuthorityError::Refused { reason, .. }) => {
                assert!(reason.contains(words), "{reason}")
            }
            other => panic!("expected a refusal naming {words:?}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn h9_a_ticket_is_32_hex_digits_and_redeems_once() {
        let addr = server(Limits::default()).await;
        let t = ticket(addr, "node-a", "vm1", LIMIT).await.unwrap();
        assert!(is_ticket(&t), "{t}");
        let other = ticket(addr, "node-a", "vm1", LIMIT).await.unwrap();
        assert_ne!(t, other, "tickets are unpredictable, so never repeat");
        redeem(addr, &t, "vm1", LIMIT).await.unwrap();
        refused(redeem(addr, &t, "vm1", LIMIT).await, "unknown or used");
        redeem(addr, &other, "vm1", LIMIT).await.unwrap();
    }

    #[tokio::test]
    async fn h9_a_ticket_for_one_vm_is_refused_for_another_and_used_up() {
        let addr = server(Limits::default()).await;
        let t = ticket(addr, "node-a", "vm1", LIMIT).await.unwrap();
        refused(redeem(addr, &t, "vm2", LIMIT).await, "another VM");
        refused(redeem(addr, &t, "vm1", LIMIT).await, "unknown or used");
    }

    #[tokio::test]
    async fn h9_an_expired_ticket_is_refused() {
        let limits = Limits {
            ticket_ttl: Duration::from_millis(50),
            ..Limits::default()
        };
        let addr = server(limits).await;
        let t = ticket(addr, "node-a", "vm1", LIMIT).await.unwrap();
        sleep(Duration::from_millis(120)).await;
        refused(redeem(addr, &t, "vm1", LIMIT).await, "expired");
    }

    #[tokio::test]
    async fn h9_unknown_tickets_are_refused() {
        let addr = server(Limits::default()).await;
        let made_up = "0".repeat(32);
        refused(redeem(addr, &made_up, "vm1", LIMIT).await, "unknown");
    }

    #[tokio::test]
    async fn h9_a_line_longer_than_the_bound_is_refused_and_closes() {
        let addr = server(Limits::default()).await;
        let mut long = format!("TICKET node-a {}", "v".repeat(LINE_BYTES_MAX)).into_bytes();
        long.push(b'\n');
        let answer = raw(addr, &long).await;
        assert_eq!(
            answer,
            format!("ERR line longer than {LINE_BYTES_MAX} bytes")
        );
        // A line of exactly the bound is read (and its over-long name refused).
        let vm = "v".repeat(LINE_BYTES_MAX - "TICKET node-a ".len());
        let exact = format!("TICKET node-a {vm}\n");
        assert_eq!(exact.len(), LINE_BYTES_MAX + 1);
        assert!(raw(addr, exact.as_bytes())
            .await
            .starts_with("ERR bad field"));
        // The longest names the client may send fit in a line.
        let name = "n".repeat(NAME_BYTES_MAX);
        let t = ticket(addr, &name, &name, LIMIT).await.unwrap();
        redeem(addr, &t, &name, LIMIT).await.unwrap();
    }

    #[tokio::test]
    async fn h9_malformed_requests_get_err_and_names_with_spaces_are_not_sent() {
        let addr = server(Limits::default()).await;
        for request in [
            "HELLO\n",
            "TICKET node-a\n",
            "TICKET node-a vm1 extra\n",
            "TICKET  vm1\n",
            "TICKET node-a \x01\n",
        ] {
            assert!(
                raw(addr, request.as_bytes()).await.starts_with("ERR "),
                "{request:?}"
            );
        }
        let err = ticket(addr, "node a", "vm1", LIMIT).await.unwrap_err();
        assert!(matches!(err, AuthorityError::InvalidName { .. }), "{err}");
        let err = ticket(addr, "node-a", "vm1\nREDEEM", LIMIT)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthorityError::InvalidName { .. }), "{err}");
    }

    #[tokio::test]
    async fn h9_the_ticket_map_is_bounded_and_drops_the_oldest() {
        let limits = Limits {
            tickets_max: 2,
            ..Limits::default()
        };
        let addr = server(limits).await;
        let mut issued = Vec::new();
        for vm in ["vm1", "vm2", "vm3"] {
            issued.push(ticket(addr, "node-a", vm, LIMIT).await.unwrap());
        }
        refused(redeem(addr, &issued[0], "vm1", LIMIT).await, "unknown");
        redeem(addr, &issued[1], "vm2", LIMIT).await.unwrap();
        redeem(addr, &issued[2], "vm3", LIMIT).await.unwrap();
    }

    #[test]
    fn h9_the_ticket_map_never_exceeds_its_bound_and_expires_in_order() {
        let limits = Limits {
            tickets_max: 3,
            ticket_ttl: Duration::from_secs(10),
            ..Limits::default()
        };
        let mut tickets = Tickets::new(limits);
        let start = Instant::now();
        for i in 0..10u64 {
            let at = start + Duration::from_secs(i);
            tickets.issue(at, format!("{i:032x}"), "node-a", "vm1");
            assert!(tickets.by_issue.len() <= 3);
        }
        // Issued at 7, 8, 9 s; at 18.5 s the one from 7 s is expired.
        let later = start + Duration::from_millis(18_500);
        let expired = tickets.redeem(later, &format!("{:032x}", 7), "vm1");
        assert!(expired.unwrap_err().starts_with("expired"));
        tickets.issue(later, "a".repeat(32), "node-a", "vm1");
        assert_eq!(tickets.redeem(later, &format!("{:032x}", 9), "vm1"), Ok(()));
    }

    #[tokio::test]
    async fn h9_a_closed_port_is_unreachable_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let started = std::time::Instant::now();
        let err = ticket(addr, "node-a", "vm1", LIMIT).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{err}");
        assert_eq!(err.cause(), FailureCause::AuthorityUnreachable, "{err}");
        assert_eq!(err.cause().to_string(), "authority_unreachable");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[tokio::test]
    async fn h9_an_authority_that_never_answers_is_unreachable_within_the_limit() {
        // Connections complete in the kernel's backlog, but nobody answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let limit = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let err = ticket(addr, "node-a", "vm1", limit).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert_eq!(err.cause(), FailureCause::AuthorityUnreachable, "{err}");
    }

    /// [S1.4]: one authority on two networks' addresses. A ticket from
    /// one redeems on the other; a source that asks both gets one while a
    /// path is dead, and is unreachable only when every path is.
    #[tokio::test]
    async fn h9_an_authority_on_two_paths_answers_while_one_is_dead() {
        let one = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let two = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = (one.local_addr().unwrap(), two.local_addr().unwrap());
        let limits = Limits::default();
        tokio::spawn(serve_on(vec![one, two], limits, std::future::pending()));
        let t = ticket(a, "node-a", "vm1", LIMIT).await.unwrap();
        redeem(b, &t, "vm1", LIMIT).await.unwrap();
        // A dead path: a silent listener (no answer) and a closed port.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let dead = [silent.local_addr().unwrap(), closed];
        let limit = Duration::from_millis(500);
        let t = ticket_any(&[dead[0], b], "node-a", "vm1", limit)
            .await
            .unwrap();
        (redeem_any(&[dead[0], dead[1], a], &t, "vm1", limit).await).unwrap();
        let err = ticket_any(&dead, "node-a", "vm1", limit).await.unwrap_err();
        assert_eq!(err.cause(), FailureCause::AuthorityUnreachable, "{err}");
        let none = ticket_any(&[], "node-a", "vm1", limit).await.unwrap_err();
        assert_eq!(none.cause(), FailureCause::AuthorityUnreachable, "{none}");
        // An answer says more than silence: the refusal is reported.
        refused(redeem_any(&[dead[0], a], &t, "vm1", limit).await, "used");
    }

    #[tokio::test]
    async fn h9_a_refusal_is_not_reported_as_unreachable() {
        let addr = server(Limits::default()).await;
        let err = redeem(addr, &"f".repeat(32), "vm1", LIMIT)
            .await
            .unwrap_err();
        assert_ne!(err.cause(), FailureCause::AuthorityUnreachable, "{err}");
    }

    #[tokio::test]
    async fn h9_connections_beyond_the_bound_wait_for_one_to_end() {
        let limits = Limits {
            connections_max: 1,
            ..Limits::default()
        };
        let addr = server(limits).await;
        // Hold the one connection open, mid-request.
        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(b"TICK").await.unwrap();
        sleep(Duration::from_millis(50)).await;
        let short = Duration::from_millis(200);
        let err = ticket(addr, "node-a", "vm1", short).await.unwrap_err();
        assert!(matches!(err, AuthorityError::Unreachable { .. }), "{err}");
        drop(first);
        ticket(addr, "node-a", "vm1", LIMIT).await.unwrap();
    }

    #[tokio::test]
    async fn h9_several_requests_share_a_connection() {
        let addr = server(Limits::default()).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.write_all(b"TICKET node-a vm1\n").await.unwrap();
        let Line::Text(answer) = read_line(&mut stream).await.unwrap() else {
            panic!("no answer");
        };
        let t = answer.strip_prefix("OK ").unwrap().to_string();
        stream
            .write_all(format!("REDEEM {t} vm1\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(
            read_line(&mut stream).await.unwrap(),
            Line::Text("OK".into())
        );
    }

    #[tokio::test]
    async fn h9_serve_returns_when_shutdown_completes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stop = sleep(Duration::from_millis(20));
        timeout(LIMIT, serve(listener, stop))
            .await
            .unwrap()
            .unwrap();
    }
}
