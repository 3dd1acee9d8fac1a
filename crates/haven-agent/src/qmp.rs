//! An async QMP client: one QEMU monitor over a unix socket.
//!
//! ```text
//! connect ---- greeting ----> qmp_capabilities ----> ready
//!   ready ---- execute(cmd) ----> {"return": ..} | {"error": ..}
//!   ready <--- events (MIGRATION, STOP, RESUME, SHUTDOWN, ...) (broadcast)
//!   ready ---- socket closed (QEMU gone) ----> closed: every pending and
//!              later command fails with `QmpError::Closed`
//! ```
//!
//! Commands carry an `id`, so answers and events may interleave freely and
//! several tasks may share one client. Every await is bounded by a timeout.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, oneshot};
use tokio::time::{sleep, timeout, Instant};

/// How long a command may take unless the caller says otherwise.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events buffered per subscriber before the oldest are dropped.
const EVENT_QUEUE_MAX: usize = 256;
/// The longest line (answer or event) accepted from QEMU.
const LINE_BYTES_MAX: usize = 1 << 20;

/// Why a QMP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket did not appear or answer in time.
    #[error("QMP socket {path} did not answer within {timeout_ms} ms")]
    ConnectTimeout { path: PathBuf, timeout_ms: u64 },
    /// A command was not answered in time.
    #[error("QMP command {command} was not answered within {timeout_ms} ms")]
    Timeout { command: String, timeout_ms: u64 },
    /// QEMU closed the monitor (it quit or died).
    #[error("the QMP connection closed: QEMU quit or died")]
    Closed,
    /// QEMU refused the command.
    #[error("QMP command {command} failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    /// QEMU said something that is not QMP.
    #[error("QMP protocol error: {0}")]
    Protocol(String),
    #[error("QMP socket I/O: {0}")]
    Io(#[from] io::Error),
}

/// One asynchronous event from QEMU.
#[derive(Clone, Debug, PartialEq)]
pub struct QmpEvent {
    /// `MIGRATION`, `STOP`, `RESUME`, `SHUTDOWN`, ...
    pub event: String,
    /// The event's `data` (`{"status": "active"}` for `MIGRATION`), or null.
    pub data: Value,
}

type Pending = Arc<Mutex<BTreeMap<u64, oneshot::Sender<Result<Value, QmpError>>>>>;

/// A connected, negotiated QMP monitor. Commands may be sent from several
/// tasks at once (`&self`).
pub struct Qmp {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    /// Kept only to hand out new receivers (`resubscribe`).
    events: broadcast::Receiver<QmpEvent>,
    reader: tokio::task::JoinHandle<()>,
}

impl Qmp {
    /// Connects to the monitor socket at `path`, retrying until it appears,
    /// reads the greeting and negotiates capabilities; all within `limit`.
    ///
    /// # Errors
    /// [`QmpError::ConnectTimeout`] when the socket does not appear or
    /// answer in time; a protocol error for a peer that is not QMP.
    pub async fn connect(path: &Path, limit: Duration) -> Result<Qmp, QmpError> {
        let deadline = Instant::now() + limit;
        let too_late = || QmpError::ConnectTimeout {
            path: path.to_path_buf(),
            timeout_ms: limit.as_millis() as u64,
        };
        let stream = loop {
            match timeout(limit, UnixStream::connect(path)).await {
                Ok(Ok(s)) => break s,
                // Not there yet, or QEMU has not started listening.
                Ok(Err(_)) | Err(_) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(20)).await
                }
                _ => return Err(too_late()),
            }
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let greeting = timeout(remaining, read_json(&mut lines))
            .await
            .map_err(|_| too_late())??;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!(
                "not a QMP greeting: {greeting}"
            )));
        }
        let negotiate = async {
            write_line(&mut write, &json!({"execute": "qmp_capabilities"})).await?;
            let answer = read_json(&mut lines).await?;
            match answer.get("return") {
                Some(_) => Ok(()),
                None => Err(QmpError::Protocol(format!(
                    "qmp_capabilities refused: {answer}"
                ))),
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        timeout(remaining, negotiate)
            .await
            .map_err(|_| too_late())??;
        Ok(Qmp::start(lines, write))
    }

    fn start(lines: BufReader<tokio::net::unix::OwnedReadHalf>, write: OwnedWriteHalf) -> Qmp {
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = broadcast::channel(EVENT_QUEUE_MAX);
        let reader = tokio::spawn(read_loop(lines, pending.clone(), closed.clone(), tx));
        Qmp {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
            closed,
            events: rx,
            reader,
        }
    }

    /// Runs `command` with `args` (or none) and returns its `return` value,
    /// waiting at most [`COMMAND_TIMEOUT`].
    ///
    /// # Errors
    /// QEMU refused the command, did not answer in time, or is gone.
    pub async fn execute(&self, command: &str, args: Option<Value>) -> Result<Value, QmpError> {
        self.execute_within(command, args, COMMAND_TIMEOUT).await
    }

    /// [`Qmp::execute`] with its own time limit.
    ///
    /// # Errors
    /// As [`Qmp::execute`].
    pub async fn execute_within(
        &self,
        command: &str,
        args: Option<Value>,
        limit: Duration,
    ) -> Result<Value, QmpError> {
        if self.is_closed() {
            return Err(QmpError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("QMP pending map").insert(id, tx);
        let mut request = json!({"execute": command, "id": id});
        if let Some(args) = args {
            request["arguments"] = args;
        }
        let exchange = async {
            write_line(&mut *self.writer.lock().await, &request).await?;
            rx.await.unwrap_or(Err(QmpError::Closed))
        };
        let answer = timeout(limit, exchange).await;
        self.pending.lock().expect("QMP pending map").remove(&id);
        let answer = answer.map_err(|_| QmpError::Timeout {
            command: command.into(),
            timeout_ms: limit.as_millis() as u64,
        })??;
        match (answer.get("return"), answer.get("error")) {
            (Some(value), _) => Ok(value.clone()),
            (None, Some(error)) => Err(QmpError::Command {
                command: command.into(),
                class: string_at(error, "class"),
                desc: string_at(error, "desc"),
            }),
            (None, None) => Err(QmpError::Protocol(format!(
                "an answer of neither kind: {answer}"
            ))),
        }
    }

    /// A receiver of every event from now on. It ends (`RecvError::Closed`)
    /// when the connection closes.
    pub fn events(&self) -> broadcast::Receiver<QmpEvent> {
        self.events.resubscribe()
    }

    /// Whether QEMU closed the monitor (quit or died).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Drop for Qmp {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Hands answers to their waiting commands and events to the subscribers,
/// until the socket closes; then fails every pending command.
async fn read_loop(
    mut lines: BufReader<tokio::net::unix::OwnedReadHalf>,
    pending: Pending,
    closed: Arc<AtomicBool>,
    events: broadcast::Sender<QmpEvent>,
) {
    while let Ok(message) = read_json(&mut lines).await {
        if let Some(event) = message.get("event").and_then(Value::as_str) {
            let data = message.get("data").cloned().unwrap_or(Value::Null);
            // No subscriber is fine: nobody is waiting for events.
            let _ = events.send(QmpEvent {
                event: event.to_string(),
                data,
            });
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue; // An answer to nobody (no id): nothing waits for it.
        };
        let waiter = pending.lock().expect("QMP pending map").remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(Ok(message));
        }
    }
    closed.store(true, Ordering::Release);
    let waiters = std::mem::take(&mut *pending.lock().expect("QMP pending map"));
    for (_, waiter) in waiters {
        let _ = waiter.send(Err(QmpError::Closed));
    }
    // Dropping `events` ends every subscriber's stream.
}

async fn read_json(
    lines: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Result<Value, QmpError> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut *lines)
            .take(LINE_BYTES_MAX as u64)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            return Err(QmpError::Closed);
        }
        if !line.ends_with('\n') && n == LINE_BYTES_MAX {
            return Err(QmpError::Protocol(format!(
                "a line longer than {LINE_BYTES_MAX} bytes"
            )));
        }
        if !line.trim().is_empty() {
            return serde_json::from_str(&line)
                .map_err(|e| QmpError::Protocol(format!("not JSON ({e}): {}", line.trim())));
        }
    }
}

async fn write_line(write: &mut OwnedWriteHalf, value: &Value) -> Result<(), QmpError> {
    let mut bytes = serde_json::to_vec(value).map_err(|e| QmpError::Protocol(e.to_string()))?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    Ok(())
}

fn string_at(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    fn socket_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("haven-qmp-{tag}-{}.sock", std::process::id()))
    }

    /// A fake QEMU: greets, accepts capabilities, answers `query-status`
    /// after sending an event first, then closes on `quit`.
    async fn fake_qemu(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let send = |v: Value| format!("{v}\n");
        write
            .write_all(send(json!({"QMP": {"version": {}, "capabilities": []}})).as_bytes())
            .await
            .unwrap();
        while let Ok(req) = read_json(&mut lines).await {
            let id = req.get("id").cloned().unwrap_or(Value::Null);
            match req["execute"].as_str().unwrap() {
                "qmp_capabilities" => {
                    write
                        .write_all(send(json!({"return": {}})).as_bytes())
                        .await
                }
                "query-status" => {
                    let ev = json!({"event": "STOP", "data": null, "timestamp": {}});
                    write.write_all(send(ev).as_bytes()).await.unwrap();
                    let ret = json!({"return": {"status": "paused"}, "id": id});
                    write.write_all(send(ret).as_bytes()).await
                }
                "quit" => return,
                _ => {
                    let err =
                        json!({"error": {"class": "CommandNotFound", "desc": "nope"}, "id": id});
                    write.write_all(send(err).as_bytes()).await
                }
            }
            .unwrap();
        }
    }

    #[tokio::test]
    async fn commands_events_errors_and_close() {
        let path = socket_path("fake");
        let _ = std::fs::remove_file(&path);
        let server = tokio::spawn(fake_qemu(UnixListener::bind(&path).unwrap()));
        let qmp = Qmp::connect(&path, Duration::from_secs(5)).await.unwrap();
        let mut events = qmp.events();
        let status = qmp.execute("query-status", None).await.unwrap();
        assert_eq!(status["status"], "paused");
        assert_eq!(events.recv().await.unwrap().event, "STOP");
        let err = qmp.execute("bogus", None).await.unwrap_err();
        assert!(matches!(err, QmpError::Command { ref class, .. } if class == "CommandNotFound"));
        let _ = qmp
            .execute_within("quit", None, Duration::from_secs(2))
            .await;
        server.await.unwrap();
        assert!(events.recv().await.is_err(), "the event stream ends");
        assert!(matches!(
            qmp.execute("query-status", None).await,
            Err(QmpError::Closed)
        ));
        std::fs::remove_file(&path).unwrap();
    }

    #[tokio::test]
    async fn a_socket_that_never_appears_times_out() {
        let path = socket_path("missing");
        let _ = std::fs::remove_file(&path);
        let started = Instant::now();
        let err = Qmp::connect(&path, Duration::from_millis(300))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, QmpError::ConnectTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
