//! The QEMU driver: launches, adopts, migrates and stops the VMs of a node.
//!
//! A [`Host`] is one node's view: its run directory, its network namespace
//! and its TLS directory ([`crate::cert`]). Each VM lives in
//! `<run_dir>/<vm>/` with `qmp.sock`, `qemu.pid`, `serial.log` and
//! `qemu.log` (QEMU's stderr). QEMU runs in its own session (so it outlives
//! an agent restart, which then [`Host::adopt`]s it) and is never left
//! behind by a failed start.
//!
//! The API the cluster agent calls:
//!
//! ```text
//! source node                                destination node
//! Host::start(def) -> Vm                     Host::incoming(def, listen) -> Incoming
//! Vm::migrate(dest, policy) ---- TLS over the migration network ---->
//!    (or Vm::cancel() from another task)     Incoming::wait(limit) -> Vm
//! completed: the source QEMU quits           the VM runs here
//! failed / cancelled: the VM runs on         the incoming QEMU is stopped
//!    the source
//! Vm::stop()
//! ```
//!
//! The lifecycle of one QEMU, as the driver sees it:
//!
//! ```text
//! absent ---- start ----> running ---- migrate completed ----> gone (quit, reaped)
//! absent ---- incoming --> inmigrate ---- migration in ----> running
//!                           inmigrate ---- failed / timeout ----> gone (stopped)
//! running ---- migrate failed / cancelled ----> running
//! running ---- stop ----> gone;  running ---- dies ----> gone (noticed: QmpError::Closed)
//! ```

use crate::netns;
use crate::qmp::{Qmp, QmpError};
use haven_core::event::FailureCause;
use serde_json::{json, Value};
use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{sleep, timeout, Instant};

/// The QEMU binary used unless [`Host::qemu`] says otherwise.
pub const QEMU: &str = "qemu-system-x86_64";
/// A unix socket path must fit `sun_path` (108 bytes with the NUL).
const SOCKET_PATH_BYTES_MAX: usize = 107;
/// How often `query-migrate` / `query-status` are polled besides events.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often a process is checked while waiting for it to exit.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Lines of `qemu.log` quoted in an error.
const LOG_TAIL_LINES: usize = 5;

/// A VM as haven defines it; the same definition starts it on the source
/// and receives it on a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmDef {
    /// Unique on the node: names the run directory and QEMU's `-name`.
    pub name: String,
    pub memory_mb: u32,
    pub vcpus: u32,
    /// `tcg` or `kvm`.
    pub accel: String,
    pub nics: Vec<NicDef>,
    pub boot: Boot,
}

/// One NIC: an e1000 with `mac`, backed by tap `tap` enslaved to `bridge`
/// (the node's switch bridge for this network).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicDef {
    pub mac: String,
    pub bridge: String,
    /// Tap name, at most 15 characters, unique in the node's namespace.
    pub tap: String,
}

/// How the VM boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// Direct kernel boot (the test guest).
    Kernel {
        kernel: PathBuf,
        initrd: PathBuf,
        cmdline: String,
    },
    /// A raw or qcow2 disk image; it must be on storage both nodes share
    /// for a migration, since only RAM and device state are copied.
    Disk(PathBuf),
}

/// Time limits of the driver.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From spawning QEMU to a negotiated QMP socket.
    pub qmp_socket: Duration,
    /// One QMP command.
    pub command: Duration,
    /// From `quit` until the process is gone (then it is killed).
    pub quit: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            qmp_socket: Duration::from_secs(30),
            command: Duration::from_secs(10),
            quit: Duration::from_secs(5),
        }
    }
}

/// One node: where its VMs' files are, which namespace they run in, and
/// its migration certificates.
#[derive(Clone, Debug)]
pub struct Host {
    /// Each VM gets `<run_dir>/<vm>/`.
    pub run_dir: PathBuf,
    /// The network namespace QEMU runs in (taps, migration sockets); `None`
    /// for the agent's own.
    pub netns: Option<String>,
    /// A directory in [`crate::cert`]'s layout (`ca-cert.pem`,
    /// `server-*.pem`, `client-*.pem`).
    pub tls_dir: PathBuf,
    /// The QEMU binary ([`QEMU`]).
    pub qemu: PathBuf,
    pub timeouts: Timeouts,
}

impl Host {
    /// A host with the default QEMU binary and time limits.
    pub fn new(
        run_dir: impl Into<PathBuf>,
        netns: Option<String>,
        tls_dir: impl Into<PathBuf>,
    ) -> Host {
        Host {
            run_dir: run_dir.into(),
            netns,
            tls_dir: tls_dir.into(),
            qemu: QEMU.into(),
            timeouts: Timeouts::default(),
        }
    }

    /// Starts `def` and returns it running; when it already runs (an agent
    /// restart), adopts it instead of starting a second copy
    /// ([`Vm::adopted`] says which).
    ///
    /// # Errors
    /// The definition is invalid, QEMU exited or its QMP socket did not
    /// appear in time (the process is killed), or a tap could not join its
    /// bridge.
    pub async fn start(&self, def: &VmDef) -> Result<Vm, VmError> {
        if let Some(vm) = self.adopt(&def.name).await? {
            return Ok(vm);
        }
        self.launch(def, Launch::Run).await
    }

    /// Finds `name` running under this host's run directory (by pidfile,
    /// then QMP `query-status`) and takes it over; `None` when it does not
    /// run.
    ///
    /// QEMU serves one monitor client at a time: drop any other [`Vm`]
    /// handle of the same VM first (an agent restart has none).
    ///
    /// # Errors
    /// The process runs but its monitor does not answer.
    pub async fn adopt(&self, name: &str) -> Result<Option<Vm>, VmError> {
        let dir = self.run_dir.join(name);
        let Some(pid) = read_pid(&dir.join(PIDFILE)) else {
            return Ok(None);
        };
        if !is_qemu_of(pid, &dir) {
            return Ok(None);
        }
        let qmp = Qmp::connect(&dir.join(QMP_SOCKET), self.timeouts.command).await?;
        let vm = Vm::new(self, name, dir, pid, qmp, Vec::new(), true);
        vm.status().await?;
        Ok(Some(vm))
    }

    /// Starts `def` waiting for an incoming migration on `listen` (an
    /// address of this node's migration network), over TLS with this
    /// host's server certificate. Call [`Incoming::wait`] next.
    ///
    /// # Errors
    /// As [`Host::start`]; [`VmError::AlreadyRunning`] when the VM runs
    /// here; [`VmError::Tls`] when this host has no valid certificate (the
    /// incoming QEMU is stopped).
    pub async fn incoming(&self, def: &VmDef, listen: SocketAddr) -> Result<Incoming, VmError> {
        self.receive(def, listen, Launch::Incoming).await
    }

    /// As [`Host::incoming`], but the VM stays paused once it has arrived
    /// (QEMU's `-S`) until [`Vm::resume`]: the cluster agent first flips
    /// the VM's ownership, then runs it, so that of a source and a
    /// destination exactly one ever runs it. Wait with [`Incoming::arrived`].
    ///
    /// # Errors
    /// As [`Host::incoming`].
    pub async fn incoming_held(
        &self,
        def: &VmDef,
        listen: SocketAddr,
    ) -> Result<Incoming, VmError> {
        self.receive(def, listen, Launch::IncomingHeld).await
    }

    async fn receive(
        &self,
        def: &VmDef,
        listen: SocketAddr,
        launch: Launch,
    ) -> Result<Incoming, VmError> {
        if let Some(vm) = self.adopt(&def.name).await? {
            let pid = vm.pid;
            drop(vm);
            return Err(VmError::AlreadyRunning {
                name: def.name.clone(),
                pid,
            });
        }
        let vm = self.launch(def, launch).await?;
        match vm.listen(listen).await {
            Ok(()) => Ok(Incoming {
                vm,
                held: launch == Launch::IncomingHeld,
            }),
            Err(e) => {
                let _ = vm.stop().await;
                Err(e)
            }
        }
    }

    async fn launch(&self, def: &VmDef, launch: Launch) -> Result<Vm, VmError> {
        validate(def)?;
        let dir = self.run_dir.join(&def.name);
        let socket = dir.join(QMP_SOCKET);
        if socket.as_os_str().len() > SOCKET_PATH_BYTES_MAX {
            return Err(VmError::InvalidDef(format!(
                "the QMP socket path {} is longer than {SOCKET_PATH_BYTES_MAX} bytes; use a shorter run directory",
                socket.display()
            )));
        }
        // A stale directory from a dead QEMU (adopt found nothing alive).
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let pid = match self.spawn(def, &dir, launch) {
            Ok(pid) => pid,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let taps = def.nics.iter().map(|n| n.tap.clone()).collect();
        match self.connect_new(def, &dir, pid).await {
            Ok(qmp) => Ok(Vm::new(self, &def.name, dir, pid, qmp, taps, false)),
            Err(e) => {
                kill_and_wait(pid, self.timeouts.quit).await;
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Spawns QEMU in this host's namespace, in a session of its own, and
    /// reaps it from a thread when it exits.
    fn spawn(&self, def: &VmDef, dir: &Path, launch: Launch) -> Result<i32, VmError> {
        let args = qemu_args(def, dir, launch);
        let log = fs::File::create(dir.join(QEMU_LOG))?;
        let qemu = self.qemu.clone();
        let spawn = move || -> io::Result<std::process::Child> {
            let mut command = Command::new(&qemu);
            command
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            // SAFETY: setsid is async-signal-safe and touches only the child.
            unsafe {
                command.pre_exec(|| match libc::setsid() {
                    -1 => Err(io::Error::last_os_error()),
                    _ => Ok(()),
                });
            }
            command.spawn()
        };
        let child = match &self.netns {
            Some(ns) => netns::run_in(ns, spawn)?,
            None => spawn(),
        }
        .map_err(|e| VmError::Launch {
            name: def.name.clone(),
            detail: format!("cannot run {}: {e}", self.qemu.display()),
        })?;
        let pid = child.id() as i32;
        let mut child = child;
        std::thread::Builder::new()
            .name(format!("reap-{pid}"))
            .spawn(move || {
                let _ = child.wait();
            })?;
        Ok(pid)
    }

    /// Waits for the new QEMU's monitor (or its exit), then puts its taps
    /// on their bridges.
    async fn connect_new(&self, def: &VmDef, dir: &Path, pid: i32) -> Result<Qmp, VmError> {
        let limit = self.timeouts.qmp_socket;
        let socket = dir.join(QMP_SOCKET);
        let qmp = tokio::select! {
            qmp = Qmp::connect(&socket, limit) => match qmp {
                Ok(qmp) => qmp,
                Err(QmpError::ConnectTimeout { .. }) => {
                    return Err(VmError::SocketTimeout {
                        name: def.name.clone(),
                        timeout_ms: limit.as_millis() as u64,
                    })
                }
                Err(e) => return Err(e.into()),
            },
            () = wait_gone(pid) => {
                return Err(VmError::Launch {
                    name: def.name.clone(),
                    detail: format!("QEMU exited: {}", log_tail(&dir.join(QEMU_LOG))),
                })
            }
        };
        for nic in &def.nics {
            let mut args = Vec::new();
            if let Some(ns) = &self.netns {
                args.extend(["-n", ns.as_str()]);
            }
            args.extend(["link", "set", &nic.tap, "master", &nic.bridge, "up"]);
            netns::ip(&args)?;
        }
        Ok(qmp)
    }
}

/// Files of a VM's run directory.
const QMP_SOCKET: &str = "qmp.sock";
const PIDFILE: &str = "qemu.pid";
const SERIAL_LOG: &str = "serial.log";
const QEMU_LOG: &str = "qemu.log";

fn validate(def: &VmDef) -> Result<(), VmError> {
    let bad = |what: String| Err(VmError::InvalidDef(what));
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if !plain(&def.name) || def.name.starts_with('.') {
        return bad(format!(
            "VM name {:?} must be letters, digits, '-', '_' or '.'",
            def.name
        ));
    }
    if def.memory_mb == 0 || def.vcpus == 0 {
        return bad(format!(
            "VM {} needs memory_mb and vcpus of at least 1",
            def.name
        ));
    }
    if !plain(&def.accel) {
        return bad(format!(
            "VM {}: accelerator {:?} is not a name",
            def.name, def.accel
        ));
    }
    for nic in &def.nics {
        if !plain(&nic.tap) || nic.tap.len() > 15 || !plain(&nic.bridge) {
            return bad(format!(
                "VM {}: tap {:?} and bridge {:?} must be interface names of at most 15 characters",
                def.name, nic.tap, nic.bridge
            ));
        }
        let mac_ok = nic.mac.len() == 17
            && nic
                .mac
                .split(':')
                .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
        if !mac_ok {
            return bad(format!(
                "VM {}: {:?} is not a MAC address",
                def.name, nic.mac
            ));
        }
    }
    Ok(())
}

/// QEMU's command line for `def` with its files in `dir`.
/// How a QEMU starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launch {
    /// Boots the VM.
    Run,
    /// Waits for an incoming migration and runs the VM when it arrived.
    Incoming,
    /// Waits for an incoming migration and keeps the VM paused after it.
    IncomingHeld,
}

fn qemu_args(def: &VmDef, dir: &Path, launch: Launch) -> Vec<String> {
    let path = |f: &str| dir.join(f).display().to_string();
    let mut args: Vec<String> = vec![
        "-name".into(),
        def.name.clone(),
        "-machine".into(),
        "pc".into(),
        "-accel".into(),
        def.accel.clone(),
        "-m".into(),
        def.memory_mb.to_string(),
        "-smp".into(),
        def.vcpus.to_string(),
        "-display".into(),
        "none".into(),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-serial".into(),
        format!("file:{}", path(SERIAL_LOG)),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", path(QMP_SOCKET)),
        "-pidfile".into(),
        path(PIDFILE),
    ];
    match &def.boot {
        Boot::Kernel {
            kernel,
            initrd,
            cmdline,
        } => args.extend([
            "-kernel".into(),
            kernel.display().to_string(),
            "-initrd".into(),
            initrd.display().to_string(),
            "-append".into(),
            cmdline.clone(),
        ]),
        Boot::Disk(image) => args.extend([
            "-drive".into(),
            format!("file={},if=virtio,cache=none", image.display()),
        ]),
    }
    for (i, nic) in def.nics.iter().enumerate() {
        args.extend([
            "-netdev".into(),
            format!("tap,id=n{i},ifname={},script=no,downscript=no", nic.tap),
            "-device".into(),
            format!("e1000,netdev=n{i},mac={}", nic.mac),
        ]);
    }
    if launch != Launch::Run {
        args.extend(["-incoming".into(), "defer".into()]);
    }
    if launch == Launch::IncomingHeld {
        args.push("-S".into());
    }
    args
}

/// A running QEMU of this node. Methods take `&self`, so one task may
/// [`Vm::cancel`] while another awaits [`Vm::migrate`].
pub struct Vm {
    name: String,
    dir: PathBuf,
    pid: i32,
    qmp: Qmp,
    taps: Vec<String>,
    netns: Option<String>,
    tls_dir: PathBuf,
    timeouts: Timeouts,
    adopted: bool,
    /// Numbers the TLS credential objects, one per migration attempt.
    tls_seq: AtomicU32,
}

/// Where to migrate to.
#[derive(Clone, Debug)]
pub struct Destination {
    /// The destination's address on the migration network, as passed to its
    /// [`Host::incoming`].
    pub addr: SocketAddr,
    /// The name its certificate must hold; by default its IP address.
    pub tls_hostname: Option<String>,
}

/// How a migration may run (from the cluster policy).
#[derive(Clone, Debug)]
pub struct MigrationPolicy {
    /// The longest pause of the guest QEMU aims for at the switch-over.
    pub downtime_limit_ms: u64,
    /// The migration stream's bandwidth limit.
    pub max_bandwidth_mbps: u64,
    /// Throttle the guest's vCPUs when it dirties memory faster than it is
    /// sent.
    pub auto_converge: bool,
    /// From `migrate` until the destination has connected.
    pub connect_timeout: Duration,
    /// From `migrate` until it completes (then it is cancelled).
    pub timeout: Duration,
}

impl Default for MigrationPolicy {
    fn default() -> Self {
        MigrationPolicy {
            downtime_limit_ms: 300,
            max_bandwidth_mbps: 10_000,
            auto_converge: true,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
        }
    }
}

/// Progress of a migration, from `query-migrate`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// QEMU's status: `setup`, `active`, `device`, `completed`, ...
    pub status: String,
    pub transferred_bytes: u64,
    pub remaining_bytes: u64,
    pub total_bytes: u64,
}

/// A completed migration as QEMU measured it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationStats {
    /// `query-migrate`'s `total-time`.
    pub total_time_ms: u64,
    /// `query-migrate`'s `downtime`: how long the guest was paused.
    pub downtime_ms: u64,
    pub transferred_bytes: u64,
}

/// Why a migration did not complete. In every case the VM keeps running on
/// the source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// It failed; `cause` is what the engine is told (H8).
    #[error("migration failed ({cause}): {detail}")]
    Failed { cause: FailureCause, detail: String },
    /// [`Vm::cancel`] stopped it.
    #[error("migration cancelled")]
    Cancelled,
}

impl MigrationError {
    pub fn failed(cause: FailureCause, detail: impl Into<String>) -> MigrationError {
        MigrationError::Failed {
            cause,
            detail: detail.into(),
        }
    }

    /// The cause to report, `None` for a cancel.
    pub fn cause(&self) -> Option<&FailureCause> {
        match self {
            MigrationError::Failed { cause, .. } => Some(cause),
            MigrationError::Cancelled => None,
        }
    }
}

/// Why the driver could not start, adopt or control a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("invalid VM definition: {0}")]
    InvalidDef(String),
    #[error("VM {name} already runs here (pid {pid}); it is not started twice")]
    AlreadyRunning { name: String, pid: i32 },
    #[error("VM {name} did not start: {detail}")]
    Launch { name: String, detail: String },
    #[error("VM {name}: QEMU's QMP socket did not appear within {timeout_ms} ms; QEMU was killed")]
    SocketTimeout { name: String, timeout_ms: u64 },
    #[error("VM {name}: QEMU (pid {pid}) did not exit, even after SIGKILL")]
    Unkillable { name: String, pid: i32 },
    #[error("no valid migration certificate: {0}")]
    Tls(String),
    #[error(transparent)]
    Qmp(#[from] QmpError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl VmError {
    /// The cause to report when this error ends a migration.
    pub fn cause(&self) -> FailureCause {
        match self {
            VmError::SocketTimeout { .. } | VmError::Qmp(QmpError::Timeout { .. }) => {
                FailureCause::Timeout
            }
            VmError::Tls(_) => FailureCause::TlsRejected,
            other => FailureCause::Hypervisor(other.to_string()),
        }
    }
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("dir", &self.dir)
            .field("adopted", &self.adopted)
            .finish()
    }
}

impl Vm {
    fn new(
        host: &Host,
        name: &str,
        dir: PathBuf,
        pid: i32,
        qmp: Qmp,
        taps: Vec<String>,
        adopted: bool,
    ) -> Vm {
        Vm {
            name: name.to_string(),
            dir,
            pid,
            qmp,
            taps,
            netns: host.netns.clone(),
            tls_dir: host.tls_dir.clone(),
            timeouts: host.timeouts,
            adopted,
            tls_seq: AtomicU32::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// QEMU's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The VM's run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The guest's serial console, as written so far.
    pub fn serial_log(&self) -> PathBuf {
        self.dir.join(SERIAL_LOG)
    }

    /// Whether this handle took over a VM that was already running.
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// The monitor, for commands the driver does not wrap.
    pub fn qmp(&self) -> &Qmp {
        &self.qmp
    }

    /// Whether the QEMU process still exists.
    pub fn is_alive(&self) -> bool {
        pid_alive(self.pid)
    }

    /// QEMU's run state (`running`, `paused`, `inmigrate`, `postmigrate`).
    ///
    /// # Errors
    /// QEMU is gone ([`QmpError::Closed`]) or does not answer.
    pub async fn status(&self) -> Result<String, VmError> {
        let status = self.exec("query-status", None).await?;
        Ok(status["status"].as_str().unwrap_or("unknown").to_string())
    }

    /// Waits until QEMU has exited, at most `limit`; whether it has.
    pub async fn wait_exit(&self, limit: Duration) -> bool {
        timeout(limit, wait_gone(self.pid)).await.is_ok()
    }

    /// Live-migrates the VM to `dest` over TLS with this host's client
    /// certificate, calling `on_progress` as it goes. When it completes the
    /// source QEMU is quit and reaped and this handle is dead; otherwise the
    /// VM keeps running here.
    ///
    /// # Errors
    /// [`MigrationError::Cancelled`] after [`Vm::cancel`]; otherwise
    /// `Failed` with the cause: `DestinationUnreachable` (refused, or no
    /// connection within `connect_timeout`), `TlsRejected` (either side's
    /// certificate refused, or none here), `Timeout`, or `Hypervisor`.
    pub async fn migrate(
        &self,
        dest: &Destination,
        policy: &MigrationPolicy,
        mut on_progress: impl FnMut(&Progress) + Send,
    ) -> Result<MigrationStats, MigrationError> {
        let creds = self
            .add_tls_creds("client")
            .await
            .map_err(|e| MigrationError::failed(e.cause(), e.to_string()))?;
        let result = self
            .run_migration(dest, policy, &creds, &mut on_progress)
            .await;
        match result {
            // The source stays paused until the destination is known to run
            // the VM: QEMU says `completed` once everything is sent, before
            // the destination has loaded it (see `confirm` / `resume`).
            Ok(stats) => Ok(stats),
            Err(e) => {
                let _ = self.exec("object-del", Some(json!({"id": creds}))).await;
                Err(e)
            }
        }
    }

    async fn run_migration(
        &self,
        dest: &Destination,
        policy: &MigrationPolicy,
        creds: &str,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<MigrationStats, MigrationError> {
        let hypervisor = |e: VmError| MigrationError::failed(e.cause(), e.to_string());
        let capabilities = json!({"capabilities": [
            {"capability": "events", "state": true},
            {"capability": "auto-converge", "state": policy.auto_converge},
        ]});
        self.exec("migrate-set-capabilities", Some(capabilities))
            .await
            .map_err(hypervisor)?;
        let hostname = match &dest.tls_hostname {
            Some(name) => name.clone(),
            None => dest.addr.ip().to_string(),
        };
        let parameters = json!({
            "tls-creds": creds,
            "tls-hostname": hostname,
            "downtime-limit": policy.downtime_limit_ms,
            "max-bandwidth": policy.max_bandwidth_mbps.saturating_mul(125_000),
        });
        self.exec("migrate-set-parameters", Some(parameters))
            .await
            .map_err(hypervisor)?;
        let mut events = self.qmp.events();
        let uri = format!("tcp:{}", dest.addr);
        self.exec("migrate", Some(json!({"uri": uri})))
            .await
            .map_err(|e| MigrationError::failed(classify(&e.to_string()), e.to_string()))?;
        self.follow(&mut events, policy, on_progress).await
    }

    /// Follows the migration until it ends: `MIGRATION` events, and
    /// `query-migrate` every [`POLL_INTERVAL`] in case events are missed.
    async fn follow(
        &self,
        events: &mut tokio::sync::broadcast::Receiver<crate::qmp::QmpEvent>,
        policy: &MigrationPolicy,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<MigrationStats, MigrationError> {
        let started = Instant::now();
        let mut connected = false;
        loop {
            let info = match self.exec("query-migrate", None).await {
                Ok(info) => info,
                Err(e) => {
                    return Err(MigrationError::failed(
                        e.cause(),
                        format!("QEMU died or hung during the migration: {e}"),
                    ))
                }
            };
            let progress = progress_of(&info);
            on_progress(&progress);
            match progress.status.as_str() {
                "completed" => return Ok(self.final_stats(info).await),
                "failed" => {
                    let desc = info["error-desc"].as_str().unwrap_or("no reason given");
                    return Err(MigrationError::failed(classify(desc), desc));
                }
                "cancelled" => return Err(MigrationError::Cancelled),
                "setup" | "none" => {}
                _ => connected = true,
            }
            let elapsed = started.elapsed();
            if !connected && elapsed > policy.connect_timeout {
                if let Some(done) = self.cancel_and_settle().await {
                    return Ok(self.final_stats(done).await);
                }
                return Err(MigrationError::failed(
                    FailureCause::DestinationUnreachable,
                    format!(
                        "the destination did not take the connection within {} ms",
                        policy.connect_timeout.as_millis()
                    ),
                ));
            }
            if elapsed > policy.timeout {
                if let Some(done) = self.cancel_and_settle().await {
                    return Ok(self.final_stats(done).await);
                }
                return Err(MigrationError::failed(
                    FailureCause::Timeout,
                    format!(
                        "not completed within {} ms ({} of {} bytes sent)",
                        policy.timeout.as_millis(),
                        progress.transferred_bytes,
                        progress.total_bytes
                    ),
                ));
            }
            // Wake on the next MIGRATION event or after the poll interval.
            let _ = timeout(POLL_INTERVAL, next_migration_event(events)).await;
        }
    }

    /// The statistics of a completed migration. QEMU marks the migration
    /// completed a moment before it computes `total-time` and `downtime`,
    /// so a query in between reads zeros: ask again, briefly and bounded.
    async fn final_stats(&self, mut info: Value) -> MigrationStats {
        for _ in 0..FINAL_STATS_TRIES {
            if info["total-time"].as_u64().unwrap_or(0) > 0 {
                break;
            }
            sleep(FINAL_STATS_INTERVAL).await;
            match self.exec("query-migrate", None).await {
                Ok(again) => info = again,
                Err(_) => break,
            }
        }
        stats_of(&info)
    }

    /// After a completed [`Vm::migrate`], once the destination runs the VM:
    /// quits this paused source copy and removes its files. Until then the
    /// VM exists, paused, here, so a destination that fails to load it
    /// loses nothing ([`Vm::resume`]).
    pub async fn confirm(&self) {
        self.quit().await;
        let _ = self.remove_files();
    }

    /// After a completed [`Vm::migrate`] whose destination did not come up:
    /// runs the VM here again (`cont`), as if it had never left.
    ///
    /// # Errors
    /// QEMU is gone or refused.
    pub async fn resume(&self) -> Result<(), VmError> {
        self.exec("cont", None).await.map(|_| ())
    }

    /// Stops a running migration (`migrate_cancel`); the VM keeps running
    /// here and [`Vm::migrate`] returns [`MigrationError::Cancelled`].
    ///
    /// # Errors
    /// QEMU is gone or refused.
    pub async fn cancel(&self) -> Result<(), VmError> {
        self.exec("migrate_cancel", None).await.map(|_| ())
    }

    /// Cancels and waits (bounded) until QEMU says it is over. When the
    /// migration completed after all (it won the race with the cancel),
    /// returns its final `query-migrate`: the source is then paused and
    /// the caller must treat it as sent, never as failed.
    async fn cancel_and_settle(&self) -> Option<Value> {
        let _ = self.cancel().await;
        let deadline = Instant::now() + self.timeouts.command;
        while Instant::now() < deadline {
            match self.exec("query-migrate", None).await {
                Ok(info) if info["status"] == "completed" => return Some(info),
                Ok(info)
                    if !matches!(
                        info["status"].as_str(),
                        Some("cancelling" | "setup" | "active" | "device" | "pre-switchover")
                    ) =>
                {
                    return None
                }
                Ok(_) => sleep(EXIT_POLL_INTERVAL).await,
                Err(_) => return None,
            }
        }
        None
    }

    /// Stops the VM: `quit`, then SIGKILL if it does not exit in time; its
    /// taps and run directory are removed.
    ///
    /// # Errors
    /// QEMU survived SIGKILL (its files are kept), or the run directory
    /// could not be removed.
    pub async fn stop(self) -> Result<(), VmError> {
        self.quit().await;
        if self.is_alive() {
            return Err(VmError::Unkillable {
                name: self.name.clone(),
                pid: self.pid,
            });
        }
        self.remove_files().map_err(VmError::Io)
    }

    /// Quits QEMU and waits until it is gone, killing it when it lingers.
    async fn quit(&self) {
        let _ = self
            .qmp
            .execute_within("quit", None, self.timeouts.command)
            .await;
        if !self.wait_exit(self.timeouts.quit).await {
            kill_and_wait(self.pid, self.timeouts.quit).await;
        }
    }

    /// QEMU's taps vanish with it (they are not persistent); the run
    /// directory goes here.
    fn remove_files(&self) -> io::Result<()> {
        for tap in &self.taps {
            let mut args = Vec::new();
            if let Some(ns) = &self.netns {
                args.extend(["-n", ns.as_str()]);
            }
            args.extend(["link", "del", tap.as_str()]);
            // Normally gone already.
            let _ = netns::ip(&args);
        }
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Sets up the incoming side: TLS server credentials, events, then
    /// `migrate-incoming` on `listen`.
    async fn listen(&self, listen: SocketAddr) -> Result<(), VmError> {
        let creds = self.add_tls_creds("server").await?;
        let capabilities = json!({"capabilities": [{"capability": "events", "state": true}]});
        self.exec("migrate-set-capabilities", Some(capabilities))
            .await?;
        self.exec("migrate-set-parameters", Some(json!({"tls-creds": creds})))
            .await?;
        let uri = format!("tcp:{listen}");
        self.exec("migrate-incoming", Some(json!({"uri": uri})))
            .await?;
        Ok(())
    }

    /// Adds a `tls-creds-x509` object for `endpoint` from this host's TLS
    /// directory, with peer verification; returns its id.
    async fn add_tls_creds(&self, endpoint: &str) -> Result<String, VmError> {
        let n = self.tls_seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("haven-tls-{endpoint}-{n}");
        let object = json!({
            "qom-type": "tls-creds-x509",
            "id": id,
            "dir": self.tls_dir.display().to_string(),
            "endpoint": endpoint,
            "verify-peer": true,
        });
        match self.exec("object-add", Some(object)).await {
            Ok(_) => Ok(id),
            Err(VmError::Qmp(QmpError::Command { desc, .. })) => Err(VmError::Tls(format!(
                "{} cannot be used as {endpoint}: {desc}",
                self.tls_dir.display()
            ))),
            Err(e) => Err(e),
        }
    }

    async fn exec(&self, command: &str, args: Option<Value>) -> Result<Value, VmError> {
        match self
            .qmp
            .execute_within(command, args, self.timeouts.command)
            .await
        {
            Ok(value) => Ok(value),
            // A dead QEMU may surface as a broken pipe before the monitor's
            // reader sees the end of the stream: say what happened.
            Err(_) if !self.is_alive() => Err(VmError::Qmp(QmpError::Closed)),
            Err(e) => Err(e.into()),
        }
    }
}

/// A VM waiting for its incoming migration.
#[derive(Debug)]
pub struct Incoming {
    vm: Vm,
    /// Started by [`Host::incoming_held`]: paused once arrived.
    held: bool,
}

/// A whole live migration with its confirm phase: `source` sends to the
/// VM waiting in `incoming`; when the destination runs it, the source copy
/// is quit ([`Vm::confirm`]); when the destination fails after the source
/// finished sending, the source runs again ([`Vm::resume`]). The VM is
/// never lost and never runs twice. Returns the destination's handle.
///
/// # Errors
/// The migration or the destination failed; the VM runs on the source.
pub async fn migrate_to(
    source: &Vm,
    incoming: Incoming,
    dest: &Destination,
    policy: &MigrationPolicy,
    arrival_limit: Duration,
    on_progress: impl FnMut(&Progress) + Send,
) -> Result<(Vm, MigrationStats), MigrationError> {
    let stats = match source.migrate(dest, policy, on_progress).await {
        Ok(stats) => stats,
        Err(e) => {
            let _ = incoming.abort().await;
            return Err(e);
        }
    };
    match incoming.wait(arrival_limit).await {
        Ok(arrived) => {
            source.confirm().await;
            Ok((arrived, stats))
        }
        Err(e) => {
            let _ = source.resume().await;
            Err(e)
        }
    }
}

impl Incoming {
    /// The waiting QEMU.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// Waits until the migration has arrived and the VM runs here, at most
    /// `limit`. On failure or timeout the incoming QEMU is stopped.
    ///
    /// # Errors
    /// `Timeout` when the source never connected or did not finish in
    /// time; `TlsRejected` or `Hypervisor` when the incoming QEMU failed.
    pub async fn wait(self, limit: Duration) -> Result<Vm, MigrationError> {
        let mut events = self.vm.qmp.events();
        let deadline = Instant::now() + limit;
        let mut connected = false;
        loop {
            match self.vm.exec("query-status", None).await {
                Ok(status) if status["status"] == "running" => return Ok(self.vm),
                Ok(_) => {}
                Err(e) => {
                    let log = log_tail(&self.vm.dir.join(QEMU_LOG));
                    let detail = format!("the incoming QEMU failed ({e}): {log}");
                    let _ = self.vm.stop().await;
                    return Err(MigrationError::failed(classify(&log), detail));
                }
            }
            if let Ok(info) = self.vm.exec("query-migrate", None).await {
                connected |= !matches!(info["status"].as_str(), None | Some("none"));
            }
            if Instant::now() > deadline {
                let detail = match connected {
                    true => format!(
                        "the migration did not arrive within {} ms",
                        limit.as_millis()
                    ),
                    false => format!("the source did not connect within {} ms", limit.as_millis()),
                };
                let _ = self.vm.stop().await;
                return Err(MigrationError::failed(FailureCause::Timeout, detail));
            }
            let _ = timeout(POLL_INTERVAL, events.recv()).await;
        }
    }

    /// Waits until the whole VM has arrived, at most `limit`: for a VM from
    /// [`Host::incoming_held`], until it is loaded and paused; otherwise
    /// until it runs. Unlike [`Incoming::wait`] it stops nothing, so the
    /// caller may give up early (drop the future) and then decide:
    /// [`Incoming::into_vm`] or [`Incoming::abort`].
    ///
    /// # Errors
    /// As [`Incoming::wait`]; the incoming QEMU is left as it is.
    pub async fn arrived(&self, limit: Duration) -> Result<(), MigrationError> {
        let mut events = self.vm.qmp.events();
        let deadline = Instant::now() + limit;
        loop {
            let status = self.vm.exec("query-status", None).await;
            let migrated = self.vm.exec("query-migrate", None).await;
            let (status, migrated) = match (status, migrated) {
                (Ok(s), Ok(m)) => (s, m),
                (Err(e), _) | (_, Err(e)) => {
                    let log = log_tail(&self.vm.dir.join(QEMU_LOG));
                    let detail = format!("the incoming QEMU failed ({e}): {log}");
                    return Err(MigrationError::failed(classify(&log), detail));
                }
            };
            let arrived = match self.held {
                true => status["status"] == "paused" && migrated["status"] == "completed",
                false => status["status"] == "running",
            };
            if arrived {
                return Ok(());
            }
            if migrated["status"] == "failed" {
                let desc = migrated["error-desc"].as_str().unwrap_or("no reason given");
                return Err(MigrationError::failed(classify(desc), desc));
            }
            if Instant::now() > deadline {
                let detail = format!(
                    "the migration did not arrive within {} ms",
                    limit.as_millis()
                );
                return Err(MigrationError::failed(FailureCause::Timeout, detail));
            }
            let _ = timeout(POLL_INTERVAL, events.recv()).await;
        }
    }

    /// The QEMU that received the VM, after [`Incoming::arrived`].
    pub fn into_vm(self) -> Vm {
        self.vm
    }

    /// Gives up waiting: stops the incoming QEMU.
    ///
    /// # Errors
    /// As [`Vm::stop`].
    pub async fn abort(self) -> Result<(), VmError> {
        self.vm.stop().await
    }
}

/// The cause a QEMU error message points to. TLS words come first: a peer
/// that refuses our certificate often just resets the connection.
pub fn classify(message: &str) -> FailureCause {
    let m = message.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&["tls", "certificate", "x509", "handshake", "gnutls"]) {
        FailureCause::TlsRejected
    } else if any(&[
        "connection refused",
        "no route to host",
        "network is unreachable",
        "timed out",
        "host is down",
    ]) {
        FailureCause::DestinationUnreachable
    } else {
        FailureCause::Hypervisor(message.trim().to_string())
    }
}

async fn next_migration_event(events: &mut tokio::sync::broadcast::Receiver<crate::qmp::QmpEvent>) {
    loop {
        match events.recv().await {
            Ok(e) if e.event == "MIGRATION" => return,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            // QEMU is gone: the next query says so.
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// How often, and how far apart, [`Vm::final_stats`] asks again.
const FINAL_STATS_TRIES: u32 = 20;
const FINAL_STATS_INTERVAL: Duration = Duration::from_millis(5);

fn progress_of(info: &Value) -> Progress {
    let ram = &info["ram"];
    Progress {
        status: info["status"].as_str().unwrap_or("none").to_string(),
        transferred_bytes: ram["transferred"].as_u64().unwrap_or(0),
        remaining_bytes: ram["remaining"].as_u64().unwrap_or(0),
        total_bytes: ram["total"].as_u64().unwrap_or(0),
    }
}

fn stats_of(info: &Value) -> MigrationStats {
    MigrationStats {
        total_time_ms: info["total-time"].as_u64().unwrap_or(0),
        downtime_ms: info["downtime"].as_u64().unwrap_or(0),
        transferred_bytes: info["ram"]["transferred"].as_u64().unwrap_or(0),
    }
}

fn read_pid(pidfile: &Path) -> Option<i32> {
    fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// Whether process `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Whether `pid` is a QEMU started for run directory `dir` (and not a
/// process that reused the pid).
fn is_qemu_of(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    pid_alive(pid) && cmdline.contains(&dir.join(QMP_SOCKET).display().to_string())
}

async fn wait_gone(pid: i32) {
    while pid_alive(pid) {
        sleep(EXIT_POLL_INTERVAL).await;
    }
}

/// SIGKILL, then wait (bounded) until the process is gone.
async fn kill_and_wait(pid: i32, limit: Duration) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = timeout(limit, wait_gone(pid)).await;
}

/// The last lines of QEMU's stderr, for an error message.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.len() {
        0 => "no message from QEMU".into(),
        n => lines[n.saturating_sub(LOG_TAIL_LINES)..].join(" / "),
    }
}

/// Kills, on drop, every QEMU whose command line names `run_dir` (found
/// in `/proc`, so even a QEMU whose pidfile was never written), then
/// removes `run_dir`. For tests and benchmarks: no QEMU outlives them, even
/// when they fail.
pub struct RunDirGuard {
    run_dir: PathBuf,
}

impl RunDirGuard {
    /// Creates `run_dir` and guards it.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(run_dir: impl Into<PathBuf>) -> io::Result<RunDirGuard> {
        let run_dir = run_dir.into();
        fs::create_dir_all(&run_dir)?;
        Ok(RunDirGuard { run_dir })
    }

    pub fn path(&self) -> &Path {
        &self.run_dir
    }

    /// The QEMU processes still running for this run directory.
    pub fn processes(&self) -> Vec<i32> {
        let needle = self.run_dir.display().to_string();
        processes_matching(&[&needle])
            .into_iter()
            .map(|(pid, _)| pid)
            .collect()
    }
}

/// The live processes, other than this one, whose command line (arguments
/// joined by spaces) contains one of `needles`, by pid, with that line.
pub fn processes_matching(needles: &[&str]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(i32, String)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let hit = needles.iter().any(|n| cmdline.contains(n)) && pid_alive(pid);
            hit.then_some((pid, cmdline))
        })
        .collect();
    found.sort_unstable();
    found
}

impl Drop for RunDirGuard {
    fn drop(&mut self) {
        let pids = self.processes();
        for &pid in &pids {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|&p| pid_alive(p)) && std::time::Instant::now() < deadline {
            std::thread::sleep(EXIT_POLL_INTERVAL);
        }
        let _ = fs::remove_dir_all(&self.run_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_from_qemu_messages() {
        assert_eq!(
            classify("Failed to connect to '10.0.0.2:4444': Connection refused"),
            FailureCause::DestinationUnreachable
        );
        assert_eq!(
            classify("Certificate does not match the hostname 10.0.0.2"),
            FailureCause::TlsRejected
        );
        assert_eq!(
            classify("TLS handshake failed: The TLS connection was non-properly terminated."),
            FailureCause::TlsRejected
        );
        assert!(matches!(
            classify("something odd"),
            FailureCause::Hypervisor(_)
        ));
    }

    #[test]
    fn definitions_are_checked() {
        let def = VmDef {
            name: "vm1".into(),
            memory_mb: 128,
            vcpus: 1,
            accel: "tcg".into(),
            nics: vec![NicDef {
                mac: "52:54:00:12:34:56".into(),
                bridge: "br0".into(),
                tap: "tap-vm1".into(),
            }],
            boot: Boot::Disk("/nonexistent.img".into()),
        };
        assert!(validate(&def).is_ok());
        let args = qemu_args(&def, Path::new("/run/haven/vm1"), Launch::Incoming);
        assert!(args.windows(2).any(|w| w == ["-incoming", "defer"]));
        assert!(args.contains(&"e1000,netdev=n0,mac=52:54:00:12:34:56".to_string()));
        for bad in [
            VmDef {
                name: "a,b".into(),
                ..def.clone()
            },
            VmDef {
                memory_mb: 0,
                ..def.clone()
            },
            VmDef {
                nics: vec![NicDef {
                    tap: "a-very-long-tap-name".into(),
                    ..def.nics[0].clone()
                }],
                ..def.clone()
            },
            VmDef {
                nics: vec![NicDef {
                    mac: "52:54:00".into(),
                    ..def.nics[0].clone()
                }],
                ..def.clone()
            },
        ] {
            assert!(
                matches!(validate(&bad), Err(VmError::InvalidDef(_))),
                "{bad:?}"
            );
        }
    }
}
