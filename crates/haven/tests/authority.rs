//! `haven authority serve` through the binary (SPEC H9): tickets are one
//! time, an authority that cannot be reached is `authority_unreachable`
//! at once, SIGTERM stops the server, and a bad `--listen` is one sentence
//! with exit status 2.

use haven_agent::authority::{self, AuthorityError};
use haven_agent::netns::{self, TestNet};
use haven_core::event::FailureCause;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(5);

/// A running `haven authority serve`, killed on drop if the test did not
/// stop it.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts the server on a free port of `listen`'s address and reads the
    /// address it announces.
    fn start(listen: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
            .args(["authority", "serve", "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("haven runs");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("haven authority: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    /// Sends SIGTERM and returns whether the server exited successfully
    /// within five seconds.
    fn terminate(&mut self) -> bool {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn h9_a_ticket_from_the_binary_redeems_once_and_sigterm_stops_it() {
    let mut server = Server::start("127.0.0.1:0", &[]);
    let addr = server.addr;
    runtime().block_on(async {
        let ticket = authority::ticket(addr, "node-a", "vm1", LIMIT)
            .await
            .unwrap();
        assert_eq!(ticket.len(), 32, "{ticket}");
        authority::redeem(addr, &ticket, "vm1", LIMIT)
            .await
            .unwrap();
        let again = authority::redeem(addr, &ticket, "vm1", LIMIT).await;
        assert!(
            matches!(again, Err(AuthorityError::Refused { .. })),
            "{again:?}"
        );
    });
    assert!(server.terminate(), "SIGTERM stops the server cleanly");
}

#[test]
fn h9_an_unreachable_authority_is_authority_unreachable_at_once() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let started = Instant::now();
    let err = runtime()
        .block_on(authority::ticket(addr, "node-a", "vm1", LIMIT))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{err}");
    assert_eq!(err.cause(), FailureCause::AuthorityUnreachable, "{err}");
    assert_eq!(err.cause().to_string(), "authority_unreachable");
}

#[test]
fn h9_a_bad_listen_address_is_one_sentence_and_exit_2() {
    for listen in ["nonsense", "127.0.0.1", "127.0.0.1:99999", ""] {
        let out = Command::new(env!("CARGO_BIN_EXE_haven"))
            .args(["authority", "serve", "--listen", listen])
            .output()
            .expect("haven runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{listen:?}: {stderr}");
        assert!(stderr.contains("--listen"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    }
}

#[test]
fn h9_a_missing_namespace_is_one_sentence_and_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["authority", "serve", "--listen", "127.0.0.1:0"])
        .args(["--netns", "haven-no-such-namespace"])
        .output()
        .expect("haven runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("haven-no-such-namespace"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
}

/// Seed 001 in small: the authority listens only on a network of its own
/// namespace. A host there reaches it; the host outside, on the same
/// address, does not, and its ticket request fails `authority_unreachable`.
#[test]
fn h9_an_authority_in_a_namespace_is_reached_only_from_inside() {
    let met = netns::is_root() && netns::have("ip");
    if !netns::require(
        "h9_an_authority_in_a_namespace_is_reached_only_from_inside",
        "root and ip",
        met,
    ) {
        return;
    }
    let mut net = TestNet::new();
    let ns = net.namespace("auth").unwrap();
    let mut server = Server::start("127.0.0.1:0", &["--netns", &ns]);
    let addr = server.addr;
    let inside = netns::run_in(&ns, move || {
        runtime().block_on(authority::ticket(addr, "node-a", "vm1", LIMIT))
    })
    .unwrap();
    assert_eq!(inside.unwrap().len(), 32);
    let outside = runtime()
        .block_on(authority::ticket(addr, "node-a", "vm1", LIMIT))
        .unwrap_err();
    assert_eq!(
        outside.cause(),
        FailureCause::AuthorityUnreachable,
        "{outside}"
    );
    assert!(server.terminate(), "SIGTERM stops the server cleanly");
}
