//! Helpers for the end-to-end tests: run the real `espm` binary against throwaway data
//! directories, keep a hub `serve` process alive for the length of a test (and kill it
//! when the test ends, whether it passes or panics), and read the `--json` outputs.
//!
//! Every child process runs with a deadline, so a hung command fails the test with its
//! output instead of hanging the suite.

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fs::File,
    io::Read,
    net::UdpSocket,
    ops::Deref,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::Mutex,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_espm");

/// The passphrase every signer key in these tests is sealed under.
pub const PASSPHRASE: &str = "kunci-rahasia-Siti-2026";

/// The satker code used throughout.
pub const SATKER_CODE: &str = "123456";

/// The KPPN code used throughout.
pub const KPPN_CODE: &str = "019";

/// Timeout handed to every `sync`: keeps each test bounded.
pub const SYNC_TIMEOUT: &str = "20";

/// How long any one `espm` command may run before the test gives up on it.
const COMMAND_LIMIT: Duration = Duration::from_secs(90);

/// How long a freshly started hub may take to listen and answer its control socket.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// Renders a command line for failure messages.
fn render(args: &[&str]) -> String {
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
fn execute(mut cmd: Command, what: &str, limit: Duration) -> Output {
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
fn udp_port_bound_in(proc_net: &Path, port: u16) -> Option<bool> {
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
fn espm_command(netns: Option<&str>) -> Command {
    match netns {
        None => Command::new(BIN),
        Some(ns) => {
            let mut cmd = Command::new(system_tool("ip"));
            cmd.args(["netns", "exec", ns, BIN]);
            cmd
        }
    }
}

/// One node's data directory and the way to run `espm` on it.
pub struct Espm {
    /// Passed as `--data-dir`; a not-yet-existing directory inside `tmp`, so `init`
    /// creates it.
    dir: PathBuf,
    /// Holds the data directory and the `serve` log; removed when the test ends.
    tmp: TempDir,
    label: String,
    /// The network namespace every command and `serve` of this node runs in; `None`
    /// for the test's own.
    netns: Option<String>,
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
            tmp,
            label: label.to_string(),
            netns: None,
        }
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
        if let Some(p) = passphrase {
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
        let log = node.log_path();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open serve log");
        let err = out.try_clone().expect("clone serve log");
        let child = espm_command(node.netns())
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

/// A hub node: its directory, its running `serve` (if any), its port and id.
pub struct Hub {
    /// Declared first so it is dropped (killed) before the directory is removed.
    pub served: Option<Served>,
    pub espm: Espm,
    pub port: u16,
    pub id: String,
    /// The IP address it listens on.
    pub ip: String,
}

impl Deref for Hub {
    type Target = Espm;
    fn deref(&self) -> &Espm {
        &self.espm
    }
}

impl Hub {
    /// `host:port` the satker nodes dial.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Starts `serve` and waits until it listens and answers on its control socket.
    pub fn start(&mut self) {
        assert!(self.served.is_none(), "hub already running");
        let mut served = Served::spawn(&self.espm);
        let deadline = Instant::now() + STARTUP_LIMIT;
        // 1. The QUIC endpoint is bound.
        let proc_net = match self.espm.netns() {
            None => PathBuf::from("/proc/net"),
            Some(_) => PathBuf::from(format!("/proc/{}/net", served.pid())),
        };
        loop {
            served.assert_alive();
            match udp_port_bound_in(&proc_net, self.port) {
                Some(true) | None => break,
                Some(false) => {}
            }
            assert!(
                Instant::now() < deadline,
                "hub did not bind UDP port {} within {STARTUP_LIMIT:?}; log:\n{}",
                self.port,
                served.log()
            );
            thread::sleep(Duration::from_millis(25));
        }
        // 2. Commands on its data directory answer (through the control socket) and
        //    still report this hub.
        loop {
            served.assert_alive();
            let out = self.espm.run(&["id"]);
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                    panic!("{}", describe(&format!("hub id: not JSON ({e})"), &out))
                });
                assert_eq!(
                    str_of(&v, "node_id"),
                    self.id,
                    "hub id changed across serve"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}\nserve log:\n{}",
                describe("hub `id` never succeeded after starting serve", &out),
                served.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        // 3. A command that needs the store (held by serve) goes through.
        loop {
            served.assert_alive();
            let out = self.espm.run(&["certs", "requests"]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}\nserve log:\n{}",
                describe(
                    "hub `certs requests` never succeeded after starting serve",
                    &out
                ),
                served.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        // A little slack for whatever the node sets up after the control socket.
        thread::sleep(Duration::from_millis(300));
        served.assert_alive();
        self.served = Some(served);
    }

    /// Kills `serve` (as a crash or power cut would).
    pub fn stop(&mut self) {
        if let Some(served) = self.served.take() {
            served.stop();
        }
    }

    /// Kills `serve` and starts it again on the same directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }
}

/// Initializes a hub on a free port (quota large enough that `take` works at any hour)
/// without starting it.
pub fn init_hub() -> Hub {
    init_hub_on("127.0.0.1")
}

/// [`init_hub`] listening on `ip` instead of loopback. The port is one free here, which
/// is also free in a fresh network namespace.
pub fn init_hub_on(ip: &str) -> Hub {
    let espm = Espm::new("hub");
    let port = free_udp_port();
    let listen = format!("{ip}:{port}");
    let v = espm.ok(&[
        "init",
        "hub",
        "--kppn",
        KPPN_CODE,
        "--name",
        "KPPN Kotabumi",
        "--tz",
        "Asia/Jakarta",
        "--listen",
        &listen,
        "--after-hours-quota",
        "1000",
    ]);
    let id = str_of(&v, "node_id");
    assert_node_id(&id);
    let who = espm.ok(&["id"]);
    assert_eq!(
        str_of(&who, "node_id"),
        id,
        "`id` disagrees with `init hub`"
    );
    assert_eq!(str_of(&who, "role"), "hub");
    Hub {
        served: None,
        espm,
        port,
        id,
        ip: ip.to_string(),
    }
}

/// A hub, initialized and serving.
pub fn start_hub() -> Hub {
    let mut hub = init_hub();
    hub.start();
    hub
}

/// A satker node and its id.
pub struct Satker {
    pub espm: Espm,
    pub node_id: String,
}

impl Deref for Satker {
    type Target = Espm;
    fn deref(&self) -> &Espm {
        &self.espm
    }
}

/// Initializes a satker node pinned to `hub_addr` / `hub_id`, not enrolled anywhere.
pub fn init_satker(hub_addr: &str, hub_id: &str) -> Satker {
    let espm = Espm::new("satker");
    let v = espm.ok(&[
        "init",
        "satker",
        "--satker",
        SATKER_CODE,
        "--hub",
        hub_addr,
        "--hub-id",
        hub_id,
    ]);
    let node_id = str_of(&v, "node_id");
    assert_node_id(&node_id);
    assert_ne!(node_id, hub_id, "satker got the hub's id");
    Satker { espm, node_id }
}

/// Enrolls `satker` on `hub` and checks the answer.
pub fn enroll(hub: &Hub, satker: &Satker) {
    let v = hub.ok(&["enroll", &satker.node_id, "--satker", SATKER_CODE]);
    assert_eq!(str_of(&v, "node_id"), satker.node_id);
    assert_eq!(str_of(&v, "satker"), SATKER_CODE);
}

/// A satker node pinned to `hub` and enrolled there.
pub fn satker(hub: &Hub) -> Satker {
    let s = init_satker(&hub.addr(), &hub.id);
    enroll(hub, &s);
    s
}

impl Satker {
    /// One `sync --timeout 20` that must succeed. Right after a hub (re)start the
    /// endpoint may still be settling, so "cannot reach" is retried for a few seconds;
    /// any other failure fails at once.
    pub fn sync(&self) -> Value {
        let args = ["sync", "--timeout", SYNC_TIMEOUT];
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && stderr.contains("cannot reach") && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(200));
                continue;
            }
            assert!(
                out.status.success(),
                "{}",
                describe("[satker] espm --json sync failed", &out)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{}",
                    describe(&format!("sync: not one JSON document ({e})"), &out)
                )
            });
            for key in [
                "sent_items",
                "received_items",
                "sent_bytes",
                "received_bytes",
            ] {
                assert!(v[key].is_u64(), "sync output lacks a count `{key}`: {v}");
            }
            return v;
        }
    }

    /// `signer request` for `person`; returns the request id.
    pub fn request_signer(&self, person: &Person) -> String {
        let v = self.ok_with(
            &[
                "signer",
                "request",
                "--name",
                person.name,
                "--nip",
                person.nip,
                "--nik",
                person.nik,
                "--jabatan",
                person.jabatan,
                "--email",
                person.email,
            ],
            Some(PASSPHRASE),
        );
        id_of(&v, "request_id")
    }

    /// `signers`, as (jabatan → (serial, name, status)).
    pub fn signers(&self) -> BTreeMap<String, (String, String, String)> {
        let v = self.ok(&["signers"]);
        let list = v
            .as_array()
            .unwrap_or_else(|| panic!("`signers` is not a list: {v}"));
        list.iter()
            .map(|s| {
                (
                    str_of(s, "jabatan"),
                    (id_of(s, "serial"), str_of(s, "name"), str_of(s, "status")),
                )
            })
            .collect()
    }

    /// `status DOC_ID`, checked for shape.
    pub fn status(&self, doc_id: &str) -> Value {
        let v = self.ok(&["status", doc_id]);
        assert_eq!(
            id_of(&v, "doc_id"),
            doc_id,
            "status of another document: {v}"
        );
        v
    }

    /// The state `status DOC_ID` reports.
    pub fn state(&self, doc_id: &str) -> String {
        str_of(&self.status(doc_id), "state")
    }

    /// `draft new spm` with a nomor and nilai; returns the doc id.
    pub fn new_spm(&self, nomor: &str, nilai: &str) -> String {
        let v = self.ok(&[
            "draft",
            "new",
            "spm",
            "--set",
            &format!("nomor={nomor}"),
            "--set",
            &format!("nilai={nilai}"),
        ]);
        id_of(&v, "doc_id")
    }

    /// `sign DOC_ID --signer SERIAL` with the right passphrase; checks the answer.
    pub fn sign(&self, doc_id: &str, serial: &str) {
        let v = self.ok_with(&["sign", doc_id, "--signer", serial], Some(PASSPHRASE));
        assert_eq!(id_of(&v, "doc_id"), doc_id);
        assert_eq!(id_of(&v, "serial"), serial);
    }

    /// `operator add` for operator01; returns the otpauth URI.
    pub fn add_operator(&self) -> String {
        self.add_operator_named(OPERATOR)
    }

    /// `operator add` for an operator-satker called `username`; returns the otpauth URI.
    pub fn add_operator_named(&self, username: &str) -> String {
        let v = self.ok(&[
            "operator",
            "add",
            "--username",
            username,
            "--role",
            "operator-satker",
        ]);
        assert_eq!(str_of(&v, "username"), username);
        let uri = str_of(&v, "otpauth_uri");
        assert!(
            uri.starts_with("otpauth://totp/"),
            "not an otpauth TOTP URI: {uri}"
        );
        uri
    }

    /// `submit DOC_IDS… --operator operator01 --totp CODE` with a code not used before;
    /// returns the submission id, after checking `doc_ids`.
    pub fn submit(&self, doc_ids: &[&str], otpauth_uri: &str) -> String {
        self.submit_as(doc_ids, OPERATOR, otpauth_uri)
    }

    /// [`Satker::submit`] by `operator`, whose otpauth URI is `otpauth_uri`.
    pub fn submit_as(&self, doc_ids: &[&str], operator: &str, otpauth_uri: &str) -> String {
        let code = fresh_totp_code(otpauth_uri);
        let mut args: Vec<&str> = vec!["submit"];
        args.extend_from_slice(doc_ids);
        args.extend_from_slice(&["--operator", operator, "--totp", &code]);
        let v = self.ok(&args);
        let submission = id_of(&v, "submission_id");
        assert!(!submission.is_empty());
        let listed: Vec<String> = v["doc_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("submit: `doc_ids` is not a list: {v}"))
            .iter()
            .map(id_text)
            .collect();
        let mut want: Vec<String> = doc_ids.iter().map(|s| s.to_string()).collect();
        let mut got = listed.clone();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "submit lists other documents than submitted: {v}"
        );
        submission
    }
}

/// The operator every test provisions.
pub const OPERATOR: &str = "operator01";

/// A pejabat who requests a signer certificate.
pub struct Person {
    pub name: &'static str,
    pub nip: &'static str,
    pub nik: &'static str,
    pub jabatan: &'static str,
    pub email: &'static str,
}

/// The PPSPM, who signs SPM.
pub const SITI: Person = Person {
    name: "Siti Rahma",
    nip: "198001012005012001",
    nik: "3171234567890123",
    jabatan: "ppspm",
    email: "siti@kemenkeu.go.id",
};

/// The PPK, whose signature an SPM does not accept.
pub const BUDI: Person = Person {
    name: "Budi Santoso",
    nip: "197905152003121002",
    nik: "3171234567890456",
    jabatan: "ppk",
    email: "budi@kemenkeu.go.id",
};

/// Serials of the two approved certificates.
pub struct Serials {
    pub ppspm: String,
    pub ppk: String,
}

/// Both signers request certificates on the satker; returns the request ids
/// (ppspm, ppk).
pub fn request_both(satker: &Satker) -> (String, String) {
    let a = satker.request_signer(&SITI);
    let b = satker.request_signer(&BUDI);
    assert_ne!(a, b, "two requests got one id");
    (a, b)
}

/// Checks the hub's pending requests are exactly these two, then approves both.
pub fn approve_both(hub: &Hub, requests: &(String, String)) -> Serials {
    let v = hub.ok(&["certs", "requests"]);
    let list = v
        .as_array()
        .unwrap_or_else(|| panic!("`certs requests` is not a list: {v}"));
    assert_eq!(list.len(), 2, "expected the two pending requests, got {v}");
    let find = |id: &str| {
        list.iter()
            .find(|r| id_of(r, "request_id") == id)
            .unwrap_or_else(|| panic!("request {id} is not pending on the hub: {v}"))
            .clone()
    };
    let siti = find(&requests.0);
    assert_eq!(str_of(&siti, "name"), SITI.name);
    assert_eq!(str_of(&siti, "jabatan"), "ppspm");
    assert_eq!(str_of(&siti, "satker"), SATKER_CODE);
    let budi = find(&requests.1);
    assert_eq!(str_of(&budi, "name"), BUDI.name);
    assert_eq!(str_of(&budi, "jabatan"), "ppk");
    assert_eq!(str_of(&budi, "satker"), SATKER_CODE);

    let ppspm = id_of(&hub.ok(&["certs", "approve", &requests.0]), "serial");
    let ppk = id_of(&hub.ok(&["certs", "approve", &requests.1]), "serial");
    assert!(!ppspm.is_empty() && !ppk.is_empty());
    assert_ne!(ppspm, ppk, "two certificates got one serial");

    let pending = hub.ok(&["certs", "requests"]);
    assert_eq!(
        pending,
        Value::Array(vec![]),
        "approved requests are still pending"
    );
    Serials { ppspm, ppk }
}

/// Checks the satker sees both certificates, valid, under the approved serials.
pub fn assert_signers_valid(satker: &Satker, serials: &Serials) {
    let signers = satker.signers();
    let ppspm = signers
        .get("ppspm")
        .unwrap_or_else(|| panic!("no ppspm signer on the satker: {signers:?}"));
    assert_eq!(
        ppspm,
        &(
            serials.ppspm.clone(),
            SITI.name.to_string(),
            "valid".to_string()
        )
    );
    let ppk = signers
        .get("ppk")
        .unwrap_or_else(|| panic!("no ppk signer on the satker: {signers:?}"));
    assert_eq!(
        ppk,
        &(
            serials.ppk.clone(),
            BUDI.name.to_string(),
            "valid".to_string()
        )
    );
}

/// Everything up to usable signers: request both, sync, approve both, sync, check.
pub fn provision_signers(hub: &Hub, satker: &Satker) -> Serials {
    let requests = request_both(satker);
    let sent = satker.sync();
    assert!(
        sent["sent_items"].as_u64().unwrap() >= 2,
        "the two requests were not sent: {sent}"
    );
    let serials = approve_both(hub, &requests);
    let got = satker.sync();
    assert!(
        got["received_items"].as_u64().unwrap() >= 2,
        "the two certificates were not received: {got}"
    );
    assert_signers_valid(satker, &serials);
    serials
}

/// A TOTP code for `uri` valid for at least a few more seconds (waits out the end of
/// a 30-second step rather than race it).
pub fn totp_code(uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    assert_eq!(totp.digits, 6, "TOTP codes must have 6 digits");
    assert_eq!(totp.step, 30, "TOTP step must be 30 s");
    let deadline = Instant::now() + Duration::from_secs(10);
    while totp.ttl().expect("clock") < 4 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    totp.generate_current().expect("clock")
}

/// The TOTP step each otpauth URI was last used for through [`fresh_totp_code`].
static USED_STEPS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// A code for `uri` of a later step than any this returned before, since a node accepts
/// each code once. The current code if it is fresh and lasts a few more seconds, else
/// the next step's, which the node accepts as one step of clock drift; if both are
/// used, waits for the clock to move on. Codes a test typed by hand are not tracked.
pub fn fresh_totp_code(uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    assert_eq!(totp.step, 30, "TOTP step must be 30 s");
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let (step, left) = (now / 30, 30 - now % 30);
        let mut used = USED_STEPS.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |s: u64| !matches!(used.get(uri), Some(last) if s <= *last);
        let pick = if left >= 4 && fresh(step) {
            Some(step)
        } else if fresh(step + 1) {
            Some(step + 1)
        } else {
            None
        };
        if let Some(s) = pick {
            used.insert(uri.to_string(), s);
            return totp.generate(s * 30);
        }
        drop(used);
        assert!(
            Instant::now() < deadline,
            "no fresh TOTP code for {uri} within 45 s"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// The TOTP code of the step `steps` away from now (negative: the past), as an
/// authenticator with a clock that far off would show it. Waits until at least 10 s of
/// the current step remain, so the code keeps its distance from now while a command
/// runs.
pub fn totp_code_steps_away(uri: &str, steps: i64) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while totp.ttl().expect("clock") < 10 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let then = now
        .checked_add_signed(steps * 30)
        .expect("a time after 1970");
    totp.generate(then)
}

/// A six-digit code that is not valid now, nor one step before or after.
pub fn wrong_totp_code(uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let near: Vec<String> = (0..5).map(|i| totp.generate(now + i * 30 - 60)).collect();
    [
        "000000", "111111", "222222", "333333", "444444", "555555", "666666",
    ]
    .into_iter()
    .find(|c| !near.iter().any(|n| n == c))
    .expect("some code is wrong")
    .to_string()
}

/// A string field.
pub fn str_of(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        other => panic!("expected a string `{key}` in {v}, found {other}"),
    }
}

/// An identifier printed as a string or a number, as text.
pub fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("expected an identifier, found {other}"),
    }
}

/// An identifier field (string or number), as text.
pub fn id_of(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("expected an identifier `{key}` in {v}, found {other}"),
    }
}

/// A node id is an ed25519 public key as 64 hex digits.
pub fn assert_node_id(id: &str) {
    assert_eq!(id.len(), 64, "node id {id} is not 64 hex digits");
    let _: sync_protocol::NodeId = id
        .parse()
        .unwrap_or_else(|e| panic!("node id {id} does not parse: {e}"));
}

/// The states of a `status` history, in order; checks each entry has a time.
pub fn history_states(status: &Value) -> Vec<String> {
    let history = status["history"]
        .as_array()
        .unwrap_or_else(|| panic!("status has no `history` list: {status}"));
    history
        .iter()
        .map(|h| {
            assert!(
                matches!(&h["at"], Value::String(s) if !s.is_empty()) || h["at"].is_number(),
                "history entry without a time: {h}"
            );
            str_of(h, "state")
        })
        .collect()
}

/// The full journey of an approved document.
pub const APPROVED_JOURNEY: [&str; 9] = [
    "draft",
    "signed",
    "queued",
    "delivered",
    "received",
    "konversi",
    "validasi",
    "reviu",
    "approved",
];

/// `inbox` on the hub, as (doc_id → entry).
pub fn inbox(hub: &Hub) -> BTreeMap<String, Value> {
    let v = hub.ok(&["inbox"]);
    let list = v
        .as_array()
        .unwrap_or_else(|| panic!("`inbox` is not a list: {v}"));
    list.iter()
        .map(|e| (id_of(e, "doc_id"), e.clone()))
        .collect()
}

/// Checks an inbox entry describes an SPM of our satker with a delivery time.
pub fn assert_inbox_entry(entry: &Value) {
    assert_eq!(str_of(entry, "kind"), "spm", "inbox entry: {entry}");
    assert_eq!(str_of(entry, "satker"), SATKER_CODE, "inbox entry: {entry}");
    assert!(
        matches!(&entry["delivered_at"], Value::String(s) if !s.is_empty())
            || entry["delivered_at"].is_number(),
        "inbox entry without delivered_at: {entry}"
    );
}

/// Hub: `take`, then advance through every stage to approved, checking each answer.
pub fn take_and_approve(hub: &Hub, doc_id: &str) {
    let taken = hub.ok(&["take", doc_id]);
    assert_eq!(id_of(&taken, "doc_id"), doc_id);
    assert!(
        matches!(&taken["received_at"], Value::String(s) if !s.is_empty())
            || taken["received_at"].is_number(),
        "take without received_at: {taken}"
    );
    assert!(
        !inbox(hub).contains_key(doc_id),
        "a taken document is still in the inbox"
    );
    for stage in ["konversi", "validasi", "reviu", "approved"] {
        let v = hub.ok(&["advance", doc_id, "--stage", stage]);
        assert_eq!(id_of(&v, "doc_id"), doc_id);
        assert_eq!(str_of(&v, "state"), stage, "advance to {stage}: {v}");
    }
}

/// Stderr of a failed command, checked to be a short plain explanation.
pub fn assert_plain_error(stderr: &str, what: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "{what}: empty stderr");
    assert!(
        lines.len() <= 2,
        "{what}: expected one or two lines on stderr, got:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: panicked:\n{stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "{what}: backtrace hint:\n{stderr}"
    );
}

/// A device of another satker than [`SATKER_CODE`], pinned to `hub` and enrolled there
/// for `code`.
pub fn satker_with_code(hub: &Hub, code: &str) -> Satker {
    let espm = Espm::new(&format!("satker-{code}"));
    let v = espm.ok(&[
        "init",
        "satker",
        "--satker",
        code,
        "--hub",
        &hub.addr(),
        "--hub-id",
        &hub.id,
    ]);
    let node_id = str_of(&v, "node_id");
    assert_node_id(&node_id);
    let e = hub.ok(&["enroll", &node_id, "--satker", code]);
    assert_eq!(str_of(&e, "satker"), code);
    Satker { espm, node_id }
}

/// An auditor node pinned to `hub` and enrolled to read `scope`. It is returned as a
/// [`Satker`] only to reuse its `sync` and `status` helpers.
pub fn auditor(hub: &Hub, scope: &str) -> Satker {
    let espm = Espm::new("auditor");
    let v = espm.ok(&["init", "auditor", "--hub", &hub.addr(), "--hub-id", &hub.id]);
    let node_id = str_of(&v, "node_id");
    assert_node_id(&node_id);
    hub.ok(&["enroll", &node_id, "--auditor", "--scope", scope]);
    Satker { espm, node_id }
}
