//! Two nodes and a client on one machine, for the QEMU tests and the
//! migration benchmark:
//!
//! ```text
//!  client ns              fabric ns                node ns A / B
//!  eth0 10.77.0.1 - to-cli [vmnet] to-a - uplink [br0] tap -- guest 10.77.0.10
//!                                 to-b - uplink [br0] (tap on B after migration)
//!  A: mig 10.78.0.1 <------ migration veth ------> B: mig 10.78.0.2
//! ```
//!
//! Everything is named with a [`TestNet`] prefix and lives under one
//! temporary directory; dropping the [`Testbed`] kills every QEMU it
//! started, then deletes the namespaces and the directory.

use crate::cert::{self, NodeNames};
use crate::guest::{self, GuestImage};
use crate::netns::{self, TestNet};
use crate::qemu::{Boot, Host, NicDef, RunDirGuard, Timeouts, VmDef};
use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The guest's address, pinged by the client.
pub const GUEST_IP: &str = "10.77.0.10";
pub const CLIENT_IP: &str = "10.77.0.1";
/// The nodes' addresses on the migration veth.
pub const MIGRATION_IP_A: &str = "10.78.0.1";
pub const MIGRATION_IP_B: &str = "10.78.0.2";

/// Which certificates node B gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BCerts {
    /// Signed by the cluster CA, like A's.
    ClusterCa,
    /// Signed by a CA of its own: A must refuse it.
    ForeignCa,
}

/// The namespaces, hosts and guest of one test.
pub struct Testbed {
    // Field order is drop order: QEMU first, then namespaces.
    guard: RunDirGuard,
    pub net: TestNet,
    pub client: String,
    pub a: Host,
    pub b: Host,
    pub guest: GuestImage,
}

impl Testbed {
    /// Builds the guest (when missing), the namespaces and links, and the
    /// certificates.
    ///
    /// # Errors
    /// A tool failed (`ip`, the guest script, certificate generation).
    pub fn new(b_certs: BCerts) -> io::Result<Testbed> {
        let guest = guest::ensure()?;
        let mut net = TestNet::new();
        let root = std::env::temp_dir().join(net.name("qemu"));
        let guard = RunDirGuard::new(&root)?;
        let fabric = net.namespace("fab")?;
        let client = net.namespace("cli")?;
        let ns_a = net.namespace("a")?;
        let ns_b = net.namespace("b")?;
        netns::bridge(&fabric, "vmnet")?;
        net.veth(&client, "eth0", &fabric, "to-cli")?;
        net.ip_in(&fabric, &["link", "set", "to-cli", "master", "vmnet"])?;
        net.ip_in(
            &client,
            &["addr", "add", &format!("{CLIENT_IP}/24"), "dev", "eth0"],
        )?;
        for (ns, peer) in [(&ns_a, "to-a"), (&ns_b, "to-b")] {
            netns::bridge(ns, "br0")?;
            net.veth(ns, "uplink", &fabric, peer)?;
            net.ip_in(&fabric, &["link", "set", peer, "master", "vmnet"])?;
            net.ip_in(ns, &["link", "set", "uplink", "master", "br0"])?;
        }
        net.veth(&ns_a, "mig", &ns_b, "mig")?;
        net.ip_in(
            &ns_a,
            &["addr", "add", &format!("{MIGRATION_IP_A}/24"), "dev", "mig"],
        )?;
        net.ip_in(
            &ns_b,
            &["addr", "add", &format!("{MIGRATION_IP_B}/24"), "dev", "mig"],
        )?;
        let certs = make_certs(&root, b_certs).map_err(io::Error::other)?;
        let host = |name: &str, ns: String, tls: PathBuf| Host {
            timeouts: Timeouts {
                qmp_socket: Duration::from_secs(30),
                ..Timeouts::default()
            },
            ..Host::new(root.join(name), Some(ns), tls)
        };
        Ok(Testbed {
            a: host("a", ns_a, certs.0),
            b: host("b", ns_b, certs.1),
            guard,
            net,
            client,
            guest,
        })
    }

    /// The temporary directory of this testbed.
    pub fn root(&self) -> &Path {
        self.guard.path()
    }

    /// The QEMU processes of this testbed still running.
    pub fn qemu_processes(&self) -> Vec<i32> {
        self.guard.processes()
    }

    /// The test guest: `memory_mb` of RAM, one e1000 on `br0` with
    /// [`GUEST_IP`].
    pub fn vm_def(&self, name: &str, memory_mb: u32) -> VmDef {
        VmDef {
            name: name.into(),
            memory_mb,
            vcpus: 1,
            accel: "tcg".into(),
            nics: vec![NicDef {
                mac: "52:54:00:4a:76:01".into(),
                bridge: "br0".into(),
                tap: format!("tap-{name}"),
            }],
            boot: Boot::Kernel {
                kernel: self.guest.kernel.clone(),
                initrd: self.guest.initrd.clone(),
                cmdline: GuestImage::cmdline(&format!("{GUEST_IP}/24")),
            },
        }
    }

    /// An address on B's (or A's) migration veth.
    pub fn migration_addr(&self, node_b: bool, port: u16) -> SocketAddr {
        let ip: IpAddr = match node_b {
            true => MIGRATION_IP_B.parse().expect("address"),
            false => MIGRATION_IP_A.parse().expect("address"),
        };
        SocketAddr::new(ip, port)
    }

    /// Pings the guest from the client until it answers, at most `limit`;
    /// whether it did.
    pub fn ping_until(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.ping_once() {
                return true;
            }
        }
        false
    }

    /// One ping from the client, waiting a second for the answer.
    pub fn ping_once(&self) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                GUEST_IP,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts pinging the guest from the client every `interval`.
    ///
    /// # Errors
    /// `ping` could not be started.
    pub fn pinger(&self, interval: Duration) -> io::Result<Pinger> {
        Pinger::start(&self.client, GUEST_IP, interval)
    }
}

/// A's and B's TLS directories.
fn make_certs(root: &Path, b_certs: BCerts) -> Result<(PathBuf, PathBuf), cert::CertError> {
    let ca = root.join("ca");
    cert::create_ca(&ca, "haven test CA")?;
    let b_ca = match b_certs {
        BCerts::ClusterCa => ca.clone(),
        BCerts::ForeignCa => {
            let other = root.join("foreign-ca");
            cert::create_ca(&other, "some other CA")?;
            other
        }
    };
    let node = |name: &str, ip: &str, ca: &Path| -> Result<PathBuf, cert::CertError> {
        let dir = root.join(format!("{name}-tls"));
        let names = NodeNames {
            node: name.into(),
            ips: vec![ip.parse().expect("address")],
            dns: Vec::new(),
        };
        cert::create_node(ca, &names, &dir)?;
        Ok(dir)
    };
    Ok((
        node("a", MIGRATION_IP_A, &ca)?,
        node("b", MIGRATION_IP_B, &b_ca)?,
    ))
}

/// `ping -D` running in a namespace, recording when each answer came.
/// Dropping it kills `ping`.
pub struct Pinger {
    child: Child,
    replies: Arc<Mutex<Vec<f64>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Pinger {
    /// Pings `target` from namespace `ns` every `interval` until stopped.
    ///
    /// # Errors
    /// `ping` could not be started.
    pub fn start(ns: &str, target: &str, interval: Duration) -> io::Result<Pinger> {
        let interval = format!("{:.3}", interval.as_secs_f64());
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", ns, "ping", "-D", "-n", "-i", &interval, target,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let sink = replies.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(t) = reply_time(&line) {
                    sink.lock().expect("pinger replies").push(t);
                }
            }
        });
        Ok(Pinger {
            child,
            replies,
            reader: Some(reader),
        })
    }

    /// Stops pinging; the longest time without an answer, in ms, and when
    /// it began (Unix seconds), counting from the first answer to now.
    pub fn stop_with_time(mut self) -> (f64, f64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.kill();
        let mut times = std::mem::take(&mut *self.replies.lock().expect("pinger replies"));
        times.push(now);
        (times.windows(2))
            .map(|w| ((w[1] - w[0]) * 1000.0, w[0]))
            .fold(
                (0.0, now),
                |best, gap| if gap.0 > best.0 { gap } else { best },
            )
    }

    /// How many answers came so far.
    pub fn answers(&self) -> usize {
        self.replies.lock().expect("pinger replies").len()
    }

    /// Stops pinging; the longest time without an answer, in ms, counting
    /// from the first answer to now.
    pub fn stop(mut self) -> f64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.kill();
        let mut times = std::mem::take(&mut *self.replies.lock().expect("pinger replies"));
        times.push(now);
        longest_gap_ms(&times)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The time of a `ping -D` answer line:
/// `[1700000000.123456] 64 bytes from 10.77.0.10: icmp_seq=1 ttl=64 time=0.5 ms`.
fn reply_time(line: &str) -> Option<f64> {
    if !line.contains("bytes from") {
        return None;
    }
    let stamp = line.strip_prefix('[')?.split_once(']')?.0;
    stamp.parse().ok()
}

/// The longest interval between consecutive times (seconds), in ms.
pub fn longest_gap_ms(times: &[f64]) -> f64 {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]) * 1000.0)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_lines_and_gaps() {
        let line = "[1700000000.250000] 64 bytes from 10.77.0.10: icmp_seq=3 ttl=64 time=0.51 ms";
        assert_eq!(reply_time(line), Some(1_700_000_000.25));
        assert_eq!(
            reply_time("PING 10.77.0.10 (10.77.0.10) 56(84) bytes of data."),
            None
        );
        let gap = longest_gap_ms(&[1.0, 1.02, 1.04, 1.74, 1.76]);
        assert!((gap - 700.0).abs() < 1e-6, "{gap}");
    }
}
