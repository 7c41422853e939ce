//! The `fanin` scenario's hub in a process of its own: a real `espm serve` on a data
//! directory the benchmark prepared, so its memory is the hub's alone and is read from
//! the kernel ([`HubProcess::status_bytes`]).

use std::{
    fs::File,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use sync_protocol::NodeId;

use super::load::Client;
use crate::{
    error::{NodeError, Result},
    transport,
};

/// How long the hub may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the hub may take to stop once asked to.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The program that runs the hub: the `espm` binary this benchmark is, or in the
/// library's own tests (whose executable is not `espm`) the test binary re-run on one
/// test that serves the hub by the same function (see `tests::serve_fanin_hub`).
pub(super) fn hub_command(dir: &Path) -> Result<Command> {
    let exe = std::env::current_exe().map_err(NodeError::io(
        "find this program's executable to start the hub",
    ))?;
    let mut cmd = Command::new(exe);
    if cfg!(test) {
        cmd.env(SERVE_DIR_ENV, dir).args([
            "bench::tests::serve_fanin_hub",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
    } else {
        cmd.arg("--data-dir").arg(dir).arg("serve");
    }
    Ok(cmd)
}

/// Where the test binary, re-run as the hub, finds the data directory to serve.
pub(super) const SERVE_DIR_ENV: &str = "ESPM_BENCH_SERVE_DIR";

/// A hub serving in its own process.
pub(super) struct HubProcess {
    child: Child,
    log: PathBuf,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        // Only a hub that was not stopped is still running here (an error path).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl HubProcess {
    /// Starts `cmd` (see [`hub_command`]), its log to `log`, and waits until the hub
    /// at `addr` completes a handshake with `probe`, an enrolled device.
    pub async fn start(
        mut cmd: Command,
        log: &Path,
        addr: SocketAddr,
        hub_id: NodeId,
        probe: &Arc<Client>,
    ) -> Result<HubProcess> {
        let file = File::create(log).map_err(NodeError::io("create the hub's log file"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(NodeError::io("start the hub process"))?;
        let mut hub = HubProcess {
            child,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = hub.exited()? {
                return Err(hub.failed(&format!("the hub process exited ({status}) at start")));
            }
            let within = Duration::from_millis(500);
            if let Ok((endpoint, conn)) = transport::connect(&probe.key, hub_id, addr, within).await
            {
                conn.close(0u32.into(), b"probe");
                endpoint.close(0u32.into(), b"probe");
                let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
                return Ok(hub);
            }
            if Instant::now() >= deadline {
                return Err(hub.failed(&format!(
                    "the hub process did not answer on {addr} within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        self.child
            .try_wait()
            .map_err(NodeError::io("check on the hub process"))
    }

    /// An error naming `what` and the end of the hub's log.
    fn failed(&self, what: &str) -> NodeError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        NodeError::Transport(format!("bench: {what}; its log ends: {}", tail.join(" | ")))
    }

    /// A `kB` line of the hub's /proc status (`VmRSS`, `VmHWM`), in bytes, where the
    /// platform reports it.
    pub fn status_bytes(&self, field: &str) -> Option<u64> {
        status_bytes(self.pid(), field)
    }

    /// Asks the hub to stop (SIGTERM, as a service manager would), and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.pid())
            .map_err(|_| NodeError::user("bench: the hub's process id does not fit"))?;
        // SAFETY: kill(2) with a pid this benchmark started and has not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.exited()? {
                return match status.success() {
                    true => Ok(()),
                    false => Err(self.failed(&format!("the hub process ended with {status}"))),
                };
            }
            if Instant::now() >= deadline {
                return Err(self.failed(&format!(
                    "the hub process did not stop within {} s",
                    STOP_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A `kB` line of process `pid`'s /proc status, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    status_number(pid, field).map(|kb| kb * 1024)
}

/// The number on a line of process `pid`'s /proc status (`Threads`, or a `kB` figure).
fn status_number(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU time process `pid` has used so far, user and system, in seconds.
pub(super) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then(|| ticks as f64 / per_sec as f64)
}

/// Datagrams the kernel dropped because the socket bound to the loopback `port` had a
/// full receive buffer (the last column of /proc/net/udp), where Linux reports it.
pub(super) fn udp_drops(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(1) == Some(&local.as_str()))
            .then(|| cols.last()?.parse().ok())
            .flatten()
    })
}

/// Watches the hub's thread count while a burst runs; [`ThreadWatch::stop`] gives the
/// most it saw.
pub(super) struct ThreadWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl ThreadWatch {
    /// Starts sampling process `pid` every 100 ms.
    pub fn start(pid: u32) -> ThreadWatch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut most = 0;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(status_number(pid, "Threads").unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            most
        });
        ThreadWatch { stop, task }
    }

    /// The most threads seen.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_process_status_line_is_read_in_bytes() {
        if std::path::Path::new("/proc/self/status").exists() {
            let hwm = super::status_bytes(std::process::id(), "VmHWM");
            assert!(hwm.is_some_and(|b| b > 0 && b % 1024 == 0));
        }
        assert_eq!(super::status_bytes(std::process::id(), "NoSuchField"), None);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(super::status_number(std::process::id(), "Threads").is_some_and(|n| n >= 1));
            assert!(super::cpu_seconds(std::process::id()).is_some_and(|s| s >= 0.0));
        }
    }
}
