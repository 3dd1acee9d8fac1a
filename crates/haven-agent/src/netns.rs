//! Network namespaces: run code inside one, and a test fixture that builds
//! namespaces and links with a unique prefix and removes them all on drop.
//!
//! The lab and the tests run several "nodes" on one machine, one namespace
//! each; the agent's link monitor for a node runs on a thread that entered
//! that node's namespace.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

/// Runs `f` on a new thread that has entered the network namespace `name`
/// (as created by `ip netns add`, under `/run/netns`), and returns its
/// result. The calling thread's namespace is untouched.
///
/// # Errors
/// The namespace does not exist, or entering it is not permitted (root, or
/// CAP_SYS_ADMIN, is needed).
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let ns = open(name)?;
    let thread = std::thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || {
            enter(&ns)?;
            Ok(f())
        })?;
    thread
        .join()
        .map_err(|_| io::Error::other(format!("the thread in namespace {name} panicked")))?
}

/// Spawns a thread that has entered namespace `name` and runs `f` there
/// until it returns; for long-running work such as a link monitor.
///
/// # Errors
/// As [`run_in`], for opening the namespace and spawning the thread.
pub fn spawn_in(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> io::Result<std::thread::JoinHandle<io::Result<()>>> {
    let ns = open(name)?;
    std::thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || {
            enter(&ns)?;
            f();
            Ok(())
        })
}

/// Moves the calling thread into namespace `name`; threads it creates
/// afterwards start there too. The agent calls it first thing, before its
/// runtime starts, so that all of it (etcd connections, QEMU, the link
/// monitor) lives in the node's namespace.
///
/// # Errors
/// As [`run_in`].
pub fn enter_named(name: &str) -> io::Result<()> {
    enter(&open(name)?)
}

fn open(name: &str) -> io::Result<File> {
    let path = Path::new("/run/netns").join(name);
    File::open(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open network namespace {}: {e}", path.display()),
        )
    })
}

/// Moves the calling thread into namespace `ns`.
fn enter(ns: &File) -> io::Result<()> {
    // SAFETY: setns on a valid, open namespace fd affects only this thread.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Whether this process may create namespaces and links.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// For tests that need root, QEMU or other tools: `true` when they may run.
/// Outside CI a missing requirement skips the test with a loud reason on
/// stderr; with `CI=true` it fails the test, since CI must run everything.
pub fn require(test: &str, requirement: &str, met: bool) -> bool {
    if met {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs {requirement}, and CI=true requires every test to run");
    }
    eprintln!("SKIPPED {test}: needs {requirement} (run as root, or `bash scripts/test.sh` to install what is missing)");
    false
}

/// Whether `program` can be found on the PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A set of namespaces and links for one test, all named with a unique
/// prefix; dropping it deletes every namespace it made (which deletes the
/// links and kills nothing else).
pub struct TestNet {
    prefix: String,
    namespaces: Vec<String>,
}

impl TestNet {
    /// A fixture whose names start with `hv` and a number unique to this
    /// process and call (interface names stay within 15 characters).
    pub fn new() -> TestNet {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TestNet {
            prefix: format!("hv{}x{n}", std::process::id() % 100_000),
            namespaces: Vec::new(),
        }
    }

    /// `name` with this fixture's prefix: `hv1234x0-a`.
    pub fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Creates namespace `name` (prefixed) with its loopback up.
    ///
    /// # Errors
    /// `ip netns add` failed.
    pub fn namespace(&mut self, name: &str) -> io::Result<String> {
        let ns = self.name(name);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `ip ARGS` inside namespace `ns`.
    ///
    /// # Errors
    /// The command failed; its stderr is in the message.
    pub fn ip_in(&self, ns: &str, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A veth pair: `a` in namespace `ns_a`, `b` in `ns_b`, both up.
    ///
    /// # Errors
    /// An `ip` command failed.
    pub fn veth(&self, ns_a: &str, a: &str, ns_b: &str, b: &str) -> io::Result<()> {
        veth_pair(ns_a, a, ns_b, b, None)
    }
}

/// A veth pair: `a` in namespace `ns_a`, `b` in `ns_b`, both up. With
/// `indexes`, the two ends get those ifindexes. Give them different ones
/// when carrier timing matters: the kernel's linkwatch passes a veth's
/// carrier change on at once only when its index differs from its peer's
/// (an "urgent" change), and otherwise batches it, for every device of the
/// machine together, at most once a second.
///
/// # Errors
/// An `ip` command failed.
pub fn veth_pair(
    ns_a: &str,
    a: &str,
    ns_b: &str,
    b: &str,
    indexes: Option<(u32, u32)>,
) -> io::Result<()> {
    let (ia, ib) = indexes.map_or((None, None), |(x, y)| {
        (Some(x.to_string()), Some(y.to_string()))
    });
    let mut args = vec!["-n", ns_a, "link", "add", a];
    if let Some(ia) = &ia {
        args.extend(["index", ia]);
    }
    args.extend(["type", "veth", "peer", "name", b]);
    if let Some(ib) = &ib {
        args.extend(["index", ib]);
    }
    args.extend(["netns", ns_b]);
    ip(&args)?;
    ip(&["-n", ns_a, "link", "set", a, "up"])?;
    ip(&["-n", ns_b, "link", "set", b, "up"])
}

/// A Linux bridge `name` in namespace `ns`, up.
///
/// # Errors
/// An `ip` command failed.
pub fn bridge(ns: &str, name: &str) -> io::Result<()> {
    ip(&["-n", ns, "link", "add", name, "type", "bridge"])?;
    ip(&["-n", ns, "link", "set", name, "up"])
}

impl Default for TestNet {
    fn default() -> Self {
        TestNet::new()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

/// Runs `ip ARGS`.
///
/// # Errors
/// `ip` is missing or failed; the message holds the command and its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}
