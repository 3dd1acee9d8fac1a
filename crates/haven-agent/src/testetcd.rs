//! A real etcd for tests: one member on loopback, cleaned up on drop. Used
//! by the store's tests and the cluster commands' tests.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A single-member etcd on free 127.0.0.1 ports with a temporary data
/// directory, killed and its directory removed on drop (also when a test
/// panics).
pub struct TestEtcd {
    child: Option<Child>,
    /// Its temporary directory (data, log, TLS files).
    pub dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    /// A node directory of [`crate::cert`] whose server certificate
    /// etcd serves clients with, requiring client certificates of its CA.
    pub tls: Option<PathBuf>,
}

impl TestEtcd {
    /// Starts etcd and waits until its client port accepts connections.
    pub fn start() -> TestEtcd {
        let mut etcd = TestEtcd::new();
        etcd.spawn();
        etcd.wait_listening();
        etcd
    }

    /// As [`TestEtcd::start`], serving clients over TLS with client
    /// certificates: `make_server_dir` writes the server's node directory
    /// into the path it is given (under this etcd's directory).
    pub fn start_tls(make_server_dir: impl FnOnce(&std::path::Path) -> PathBuf) -> TestEtcd {
        let mut etcd = TestEtcd::new();
        etcd.tls = Some(make_server_dir(&etcd.dir));
        etcd.spawn();
        etcd.wait_listening();
        etcd
    }

    fn new() -> TestEtcd {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("haven-etcd-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory for etcd");
        // Both listeners are held at once, so the two ports differ.
        let client = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let peer = TcpListener::bind("127.0.0.1:0").expect("a free port");
        TestEtcd {
            child: None,
            dir,
            client_port: client.local_addr().unwrap().port(),
            peer_port: peer.local_addr().unwrap().port(),
            tls: None,
        }
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Starts the etcd process on this fixture's directory and ports.
    pub fn spawn(&mut self) {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .expect("etcd log file");
        let mut command = Command::new("etcd");
        if let Some(tls) = &self.tls {
            command
                .arg("--cert-file")
                .arg(tls.join("server-cert.pem"))
                .arg("--key-file")
                .arg(tls.join("server-key.pem"))
                .arg("--trusted-ca-file")
                .arg(tls.join("ca-cert.pem"))
                .arg("--client-cert-auth");
        }
        let child = command
            .args(["--name", "t", "--data-dir"])
            .arg(self.dir.join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        self.child = Some(child);
    }

    /// Waits until etcd accepts connections (panics after 20 s with its log).
    pub fn wait_listening(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.client_port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "etcd did not listen on {} within {START_TIMEOUT:?}; its log ends:\n{}",
                    self.endpoint(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills etcd (SIGKILL, as a crash) and starts it again on the same
    /// data directory and ports, without waiting for it.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Kills etcd (SIGKILL) and waits for it.
    /// Freezes etcd (SIGSTOP): connections stay open and nothing answers,
    /// as over a path that died without a reset.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Thaws etcd after [`TestEtcd::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
