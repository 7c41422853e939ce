//! Running the real `espm` binary: with a deadline, inside a network namespace when
//! asked, on a throwaway data directory, and as a `serve` process killed on drop.

use super::*;

/// Renders a command line for failure messages.
pub fn render(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("{a:?}")
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Describes a finished command for failure messages.
pub fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}\n  exit: {:?}\n  stdout: {}\n  stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Runs a command to completion with stdin closed, stdout and stderr captured, and a
/// deadline; panics (with whatever output there was) if the deadline passes.
pub fn execute(mut cmd: Command, what: &str, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what} failed: {e}"),
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait after kill");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let out = Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    if timed_out {
        panic!(
            "{}",
            describe(
                &format!("{what} did not finish within {limit:?}; killed"),
                &out
            )
        );
    }
    out
}

/// A free UDP port on loopback (bound, read, released).
pub fn free_udp_port() -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
    sock.local_addr().expect("local addr").port()
}

/// Whether some socket is bound to UDP `port`, read from `proc_net`/udp{,6} (no probing
/// bind, so no race with the hub binding it). `/proc/net` shows our own network
/// namespace; `/proc/PID/net` shows PID's. `None` where /proc is not available.
pub fn udp_port_bound_in(proc_net: &Path, port: u16) -> Option<bool> {
    let mut seen_any = false;
    for table in [proc_net.join("udp"), proc_net.join("udp6")] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        seen_any = true;
        for line in text.lines().skip(1) {
            let Some(local) = line.split_whitespace().nth(1) else {
                continue;
            };
            let Some((_, p)) = local.rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port) {
                return Some(true);
            }
        }
    }
    seen_any.then_some(false)
}

/// A random, valid node id (an ed25519 public key as text) that no node here owns.
pub fn random_node_id() -> String {
    sync_protocol::SecretKey::generate().public().to_hex()
}

/// A system tool such as `ip` or `tc`: from /usr/sbin or /sbin when there (a test
/// runner's PATH may lack them), else whatever PATH finds.
pub fn system_tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The `espm` binary as a command, run inside network namespace `netns` (through
/// `ip netns exec`, which execs in place, so the child's pid is espm's) when given.
pub fn espm_command(netns: Option<&str>) -> Command {
    match netns {
        None => Command::new(BIN),
        Some(ns) => {
            let mut cmd = Command::new(system_tool("ip"));
            cmd.args(["netns", "exec", ns, BIN]);
            cmd
        }
    }
}

/// One node's data directory and the way to run `espm` on it. A clone runs commands on
/// the same node (a satker's helpers reach its hub this way).
#[derive(Clone)]
pub struct Espm {
    /// Passed as `--data-dir`; a not-yet-existing directory inside `tmp`, so `init`
    /// creates it.
    dir: PathBuf,
    /// Holds the data directory and the `serve` log; removed when the test ends.
    tmp: std::sync::Arc<TempDir>,
    label: String,
    /// The network namespace every command and `serve` of this node runs in; `None`
    /// for the test's own.
    netns: Option<String>,
    /// The passphrase every command gets in `ESPM_PASSPHRASE` unless it names its own:
    /// the CSO's on a hub, whose registration commands all need it.
    default_passphrase: Option<String>,
}

impl Espm {
    /// A fresh, uninitialized node directory.
    pub fn new(label: &str) -> Espm {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("espm-{label}-"))
            .tempdir()
            .expect("create a temp dir");
        Espm {
            dir: tmp.path().join("node"),
            tmp: std::sync::Arc::new(tmp),
            label: label.to_string(),
            netns: None,
            default_passphrase: None,
        }
    }

    /// From now on, every command gets `passphrase` unless it names its own.
    pub fn set_default_passphrase(&mut self, passphrase: &str) {
        self.default_passphrase = Some(passphrase.to_string());
    }

    /// A copy of this node's data directory in a fresh temporary directory, as someone
    /// who copied it off the machine would hold it; commands on it get no passphrase.
    pub fn copy_data_dir(&self, label: &str) -> Espm {
        let copy = Espm::new(label);
        let mut dirs = vec![(self.dir.clone(), copy.dir.clone())];
        while let Some((from, to)) = dirs.pop() {
            std::fs::create_dir_all(&to).expect("create the copy's directory");
            for entry in std::fs::read_dir(&from).expect("read the data directory") {
                let entry = entry.expect("read a data directory entry");
                let kind = entry.file_type().expect("file type");
                let target = to.join(entry.file_name());
                if kind.is_dir() {
                    dirs.push((entry.path(), target));
                } else if kind.is_file() {
                    std::fs::copy(entry.path(), &target).expect("copy a data file");
                }
            }
        }
        copy
    }

    /// From now on, runs this node's commands and its `serve` inside network namespace
    /// `ns`. The data directory and the control socket are files, which namespaces do
    /// not separate, so commands still reach a `serve` running in another namespace.
    pub fn enter_netns(&mut self, ns: &str) {
        self.netns = Some(ns.to_string());
    }

    /// The network namespace this node runs in, if not the test's own.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where this node's `serve` writes its stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.tmp.path().join("serve.log")
    }

    fn command(&self, args: &[&str], passphrase: Option<&str>, json: bool) -> Command {
        let mut cmd = espm_command(self.netns());
        cmd.arg("--data-dir").arg(&self.dir);
        if json {
            cmd.arg("--json");
        }
        cmd.args(args);
        cmd.env_remove("ESPM_DATA_DIR")
            .env_remove("ESPM_PASSPHRASE")
            .env_remove("RUST_BACKTRACE");
        if let Some(p) = passphrase.or(self.default_passphrase.as_deref()) {
            cmd.env("ESPM_PASSPHRASE", p);
        }
        cmd
    }

    fn what(&self, args: &[&str]) -> String {
        format!("[{}] espm --json {}", self.label, render(args))
    }

    /// `espm --data-dir DIR --json ARGS…`, without a passphrase in the environment.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None)
    }

    /// Like [`Espm::run`], with `ESPM_PASSPHRASE` set when `passphrase` is given.
    pub fn run_with(&self, args: &[&str], passphrase: Option<&str>) -> Output {
        execute(
            self.command(args, passphrase, true),
            &self.what(args),
            COMMAND_LIMIT,
        )
    }

    /// Like [`Espm::run`], with the command's working directory set to `cwd`, as if
    /// the user had typed it in that folder.
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command(args, None, true);
        cmd.current_dir(cwd);
        let what = format!("{} (in {})", self.what(args), cwd.display());
        execute(cmd, &what, COMMAND_LIMIT)
    }

    /// [`Espm::run_in`] that must exit 0 with one JSON document, which it returns.
    pub fn ok_in(&self, cwd: &Path, args: &[&str]) -> Value {
        let out = self.run_in(cwd, args);
        let what = format!("{} (in {})", self.what(args), cwd.display());
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("{what} failed"), &out)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}",
                describe(
                    &format!("{what}: stdout is not one JSON document ({e})"),
                    &out
                )
            )
        })
    }

    /// [`Espm::run_in`] that must exit 1 with an explanation and no panic; returns stderr.
    pub fn fail_in(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.run_in(cwd, args);
        let what = format!("{} (in {})", self.what(args), cwd.display());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            describe(&format!("{what} should exit 1"), &out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.trim().is_empty(),
            "{}",
            describe(&format!("{what}: no explanation on stderr"), &out)
        );
        assert!(
            !stderr.contains("panicked"),
            "{}",
            describe(&format!("{what} panicked"), &out)
        );
        stderr
    }

    /// Runs without `--json` (for usage errors and the like).
    pub fn run_plain(&self, args: &[&str]) -> Output {
        let what = format!("[{}] espm {}", self.label, render(args));
        execute(self.command(args, None, false), &what, COMMAND_LIMIT)
    }

    /// Runs, asserts exit 0 and exactly one JSON document on stdout, and returns it.
    pub fn ok(&self, args: &[&str]) -> Value {
        self.ok_with(args, None)
    }

    /// [`Espm::ok`] with a passphrase.
    pub fn ok_with(&self, args: &[&str], passphrase: Option<&str>) -> Value {
        let out = self.run_with(args, passphrase);
        let what = self.what(args);
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("{what} failed"), &out)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}",
                describe(
                    &format!("{what}: stdout is not one JSON document ({e})"),
                    &out
                )
            )
        })
    }

    /// Runs, asserts exit 1 with an explanation and no panic, and returns stderr.
    pub fn fail(&self, args: &[&str]) -> String {
        self.fail_with(args, None)
    }

    /// [`Espm::fail`] with a passphrase.
    pub fn fail_with(&self, args: &[&str], passphrase: Option<&str>) -> String {
        let out = self.run_with(args, passphrase);
        let what = self.what(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            describe(&format!("{what} should exit 1"), &out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.trim().is_empty(),
            "{}",
            describe(&format!("{what}: no explanation on stderr"), &out)
        );
        assert!(
            !stderr.contains("panicked"),
            "{}",
            describe(&format!("{what} panicked"), &out)
        );
        stderr
    }
}

/// A running `espm serve`; killed (and reaped) when dropped.
pub struct Served {
    child: Child,
    log: PathBuf,
}

impl Served {
    /// Starts `espm --data-dir DIR serve` with its output going to the node's log file.
    pub fn spawn(node: &Espm) -> Served {
        Served::start(node, None)
    }

    /// [`Served::spawn`] with the process's working directory set to `cwd`, as if the
    /// user had started it in that folder.
    pub fn spawn_in(node: &Espm, cwd: &Path) -> Served {
        Served::start(node, Some(cwd))
    }

    fn start(node: &Espm, cwd: Option<&Path>) -> Served {
        let log = node.log_path();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open serve log");
        let err = out.try_clone().expect("clone serve log");
        let mut cmd = espm_command(node.netns());
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let child = cmd
            .arg("--data-dir")
            .arg(node.dir())
            .arg("serve")
            .env_remove("ESPM_DATA_DIR")
            .env_remove("ESPM_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start espm serve: {e}"));
        Served { child, log }
    }

    /// The process id (espm's own, also when it runs through `ip netns exec`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The serve log so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "espm serve exited early with {status}; its log:\n{}",
                self.log()
            );
        }
    }

    /// Kills the process and waits for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "--- espm serve log ({}) ---\n{}\n--- end of serve log ---",
                self.log.display(),
                self.log()
            );
        }
    }
}
