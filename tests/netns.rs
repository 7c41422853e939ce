//! Sync across a real kernel link: the hub's `espm serve` runs in one Linux network
//! namespace and the satker's `espm sync` in another, joined by a veth pair that `tc`
//! (tbf) limits to 512 kbit/s each way with a bounded queue, and that is taken down and
//! brought up again twice while a 1 MiB attachment is crossing it. Real processes, real
//! QUIC over the kernel's UDP stack, real sled stores.
//!
//! It shows that one `espm sync` rides out both outages, that every document arrives at
//! the hub and verifies, and that the attachment resumes rather than restarts: each item
//! and each chunk crossed exactly once at the session level. It asserts correctness,
//! never speed.
//!
//! Namespaces need root. Without it (or where `ip netns add` fails) the test prints
//! `network path: network namespaces NOT run: <reason>` and passes, so a run always says
//! which path it used; the userspace relay in `impaired.rs` covers the same ground
//! everywhere.

#[path = "support/mod.rs"]
mod support;

use std::{
    collections::BTreeSet,
    io::Write,
    process::{Command, Output, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::*;

const DOCS: usize = 10;
const DOC_BYTES: usize = 10 * 1024;
const ATTACHMENT_BYTES: usize = 1024 * 1024;

/// The hub's and the satker's ends of the veth pair. Each pair of namespaces is
/// private, so concurrent runs can use the same addresses.
const HUB_IP: &str = "10.201.0.1";
const SATKER_IP: &str = "10.201.0.2";

/// tbf parameters, identical on both ends. 16 KiB of burst is about ten full-size
/// packets; 64 KiB of queue is about a second at the rate, so a sender that overruns
/// it loses packets rather than filling an unbounded buffer.
const RATE: &str = "512kbit";
const BURST: &str = "16kb";
const LIMIT: &str = "64kb";

const OUTAGE: Duration = Duration::from_secs(6);
/// Where in the attachment each outage starts, judged by the bytes the satker's end
/// of the link has sent since the big sync began.
const CUTS: [f64; 2] = [0.3, 0.7];

/// Long enough for the whole transfer plus both outages on a slow machine, short
/// enough that a wedged sync fails the test instead of hanging it.
const SYNC_TIMEOUT_S: &str = "240";

/// Output of a command that must succeed; panics with its output otherwise.
fn must(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("{what} failed"), &out)
    );
    out
}

fn ip(args: &[&str]) -> Command {
    let mut cmd = Command::new(system_tool("ip"));
    cmd.args(args);
    cmd
}

fn pid_alive(pid: &str) -> bool {
    std::path::Path::new("/proc").join(pid).exists()
}

/// Two network namespaces joined by a rate-limited veth pair. Dropping it deletes both
/// namespaces, which removes the veth pair with them, whether the test passed or not.
struct Netns {
    hub: String,
    satker: String,
    hub_if: String,
    satker_if: String,
    /// Namespaces this guard created and must delete.
    created: Vec<String>,
}

impl Netns {
    /// Builds the link, or says why namespaces cannot be used here. Only the lack of
    /// root and a failing `ip netns add` count as "cannot"; anything failing after that
    /// is a broken machine and panics.
    fn create() -> Result<Netns, String> {
        let uid = Command::new(system_tool("id"))
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run `id -u`: {e}"))?;
        let uid = String::from_utf8_lossy(&uid.stdout).trim().to_string();
        if uid != "0" {
            return Err(format!("not running as root (uid {uid})"));
        }
        sweep_stale_namespaces();
        let pid = std::process::id();
        let mut net = Netns {
            hub: format!("espm-hub-{pid}"),
            satker: format!("espm-sat-{pid}"),
            hub_if: format!("eh{pid}"),
            satker_if: format!("es{pid}"),
            created: Vec::new(),
        };
        for ns in [net.hub.clone(), net.satker.clone()] {
            let out = ip(&["netns", "add", &ns])
                .output()
                .map_err(|e| format!("cannot run `ip`: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "`ip netns add {ns}` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            net.created.push(ns);
        }
        let (hub, sat) = (net.hub.as_str(), net.satker.as_str());
        let (hub_if, sat_if) = (net.hub_if.as_str(), net.satker_if.as_str());
        let hub_cidr = format!("{HUB_IP}/24");
        let sat_cidr = format!("{SATKER_IP}/24");
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "link", "add", hub_if, "netns", hub, "type", "veth", "peer", "name", sat_if,
                "netns", sat,
            ],
            vec!["-n", hub, "link", "set", "lo", "up"],
            vec!["-n", sat, "link", "set", "lo", "up"],
            vec!["-n", hub, "addr", "add", &hub_cidr, "dev", hub_if],
            vec!["-n", sat, "addr", "add", &sat_cidr, "dev", sat_if],
            vec!["-n", hub, "link", "set", hub_if, "up"],
            vec!["-n", sat, "link", "set", sat_if, "up"],
        ];
        for step in steps {
            must(ip(&step), &format!("ip {}", step.join(" ")));
        }
        for (ns, dev) in [(hub, hub_if), (sat, sat_if)] {
            let mut tc = Command::new(system_tool("tc"));
            tc.args([
                "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", RATE, "burst", BURST,
                "limit", LIMIT,
            ]);
            must(tc, &format!("tc qdisc add dev {dev} (in {ns}) root tbf"));
        }
        Ok(net)
    }

    /// Bytes the satker's end has put on the link (after tbf, so what really crossed).
    fn satker_tx_bytes(&self) -> u64 {
        let path = format!("/sys/class/net/{}/statistics/tx_bytes", self.satker_if);
        let out = must(
            ip(&["netns", "exec", &self.satker, "cat", &path]),
            "reading the satker's veth counter",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("veth counter {path} is not a number ({e}): {text:?}"))
    }

    /// Takes the satker's end down or up, as a cable pulled and plugged back. Down, the
    /// satker's route to the hub disappears and the hub's end loses carrier, so nothing
    /// crosses either way.
    fn set_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        must(
            ip(&[
                "-n",
                &self.satker,
                "link",
                "set",
                "dev",
                &self.satker_if,
                state,
            ]),
            &format!("ip link set {} {state}", self.satker_if),
        );
    }

    /// `tc -s qdisc show` for one end.
    fn qdisc(&self, hub_end: bool) -> String {
        let (ns, dev) = if hub_end {
            (&self.hub, &self.hub_if)
        } else {
            (&self.satker, &self.satker_if)
        };
        let mut tc = Command::new(system_tool("tc"));
        tc.args(["-n", ns, "-s", "qdisc", "show", "dev", dev]);
        let out = must(tc, "tc -s qdisc show");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in self.created.drain(..) {
            match ip(&["netns", "del", &ns]).output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!("{}", describe(&format!("ip netns del {ns} FAILED"), &out)),
                Err(e) => eprintln!("ip netns del {ns} FAILED: {e}"),
            }
        }
    }
}

/// Deletes namespaces left by earlier runs of this test that were killed before their
/// guard could run (the name carries the pid of a process that no longer exists).
fn sweep_stale_namespaces() {
    let Ok(out) = ip(&["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("espm-hub-")
            .or_else(|| name.strip_prefix("espm-sat-"))
        else {
            continue;
        };
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !pid_alive(pid) {
            let _ = ip(&["netns", "del", name]).output();
        }
    }
}

/// Prints a line on stderr past the test harness's output capture, so a plain
/// `cargo test` shows which network path ran, and above all when it did not.
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Sets the flag when dropped, so the outage thread stops however the main thread
/// leaves.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One outage as it happened.
#[derive(Debug)]
struct Outage {
    /// Bytes the satker's end had sent in this sync when the link went down.
    bytes_at_cut: u64,
    /// Whether some sync was still running when the link came back; if not, the outage
    /// fell after the transfer and proves nothing.
    sync_running_at_restore: bool,
}

#[test]
fn documents_and_an_attachment_cross_a_rate_limited_veth_that_goes_down_twice() {
    let net = match Netns::create() {
        Ok(net) => net,
        Err(reason) => {
            announce(&format!(
                "network path: network namespaces NOT run: {reason}"
            ));
            return;
        }
    };
    announce(&format!(
        "network path: network namespaces + veth + tc (tbf {RATE}/s each way, burst {BURST}, \
         queue limit {LIMIT}; {} outages of {} s by `ip link set down`/`up` at {:?} of a {} KiB \
         attachment that follows {DOCS} SPM of {} KiB)",
        CUTS.len(),
        OUTAGE.as_secs(),
        CUTS,
        ATTACHMENT_BYTES / 1024,
        DOC_BYTES / 1024
    ));
    let test_started = Instant::now();

    let mut hub = init_hub_on(HUB_IP);
    hub.espm.enter_netns(&net.hub);
    hub.start();
    let mut satker = init_satker(&hub.addr(), &hub.id);
    satker.espm.enter_netns(&net.satker);
    enroll(&hub, &satker);
    // The certificate requests and certificates already cross the limited link.
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();

    let uraian: String =
        "Belanja barang operasional kantor satker terpencil. ".repeat(DOC_BYTES / 52);
    let scan = pdf_bytes(ATTACHMENT_BYTES);
    let scan_path = satker.dir().with_file_name("lampiran-1mib.pdf");
    std::fs::write(&scan_path, &scan).expect("write scan");
    let mut docs = Vec::new();
    for i in 0..DOCS {
        let doc = satker.new_spm(&format!("{i:05}/SPM/2026"), "2500000");
        satker.ok(&["draft", "set", &doc, &format!("keterangan={uraian}")]);
        if i == 0 {
            satker.ok(&[
                "draft",
                "attach",
                &doc,
                scan_path.to_str().expect("utf-8 path"),
            ]);
        }
        satker.sign(&doc, &serials.ppspm);
        docs.push(doc);
    }
    for batch in docs.chunks(5) {
        let ids: Vec<&str> = batch.iter().map(String::as_str).collect();
        satker.submit(&ids, &uri);
    }

    // Cut the link at fixed points of the attachment, judged by what the satker's end
    // has sent, so both outages land inside the transfer whatever the machine's speed.
    let baseline = net.satker_tx_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let stop_outages = SetOnDrop(done.clone());
    let started = Instant::now();
    let outages = thread::scope(|scope| {
        let cutter = scope.spawn(|| {
            let mut outages = Vec::new();
            for fraction in CUTS {
                let threshold = baseline
                    + (DOCS * DOC_BYTES) as u64
                    + (ATTACHMENT_BYTES as f64 * fraction) as u64;
                loop {
                    if done.load(Ordering::SeqCst) {
                        return outages;
                    }
                    if net.satker_tx_bytes() >= threshold {
                        break;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
                let at = started.elapsed();
                let bytes_at_cut = net.satker_tx_bytes() - baseline;
                net.set_link(false);
                thread::sleep(OUTAGE);
                net.set_link(true);
                let sync_running_at_restore = !done.load(Ordering::SeqCst);
                println!(
                    "outage of {} s at {at:.1?}, after {bytes_at_cut} bytes up; sync still running when the link came back: {sync_running_at_restore}",
                    OUTAGE.as_secs()
                );
                outages.push(Outage {
                    bytes_at_cut,
                    sync_running_at_restore,
                });
            }
            outages
        });

        // One sync for the whole transfer, as in impaired.rs: the outages are well
        // inside QUIC's idle timeout, so the connection must survive them. (A failed
        // sync prints no counts, so "each chunk once" could not be shown across
        // attempts anyway.)
        let out = Command::new(system_tool("ip"))
            .args(["netns", "exec", &net.satker, BIN, "--data-dir"])
            .arg(satker.dir())
            .args(["--json", "sync", "--timeout", SYNC_TIMEOUT_S])
            .env_remove("ESPM_DATA_DIR")
            .env_remove("ESPM_PASSPHRASE")
            .stdin(Stdio::null())
            .output()
            .expect("run espm sync");
        drop(stop_outages);
        let outages = cutter.join().expect("outage thread panicked");
        assert!(
            out.status.success(),
            "{}\noutages: {outages:?}",
            describe("sync across the namespaces' link", &out)
        );
        let summary: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}", describe(&format!("sync: not JSON ({e})"), &out)));
        (outages, summary)
    });
    let (outages, summary) = outages;
    let elapsed = started.elapsed();

    assert_eq!(
        outages.len(),
        CUTS.len(),
        "the transfer ended before every outage was made, so the test proves nothing: {outages:?}"
    );
    for o in &outages {
        assert!(
            o.sync_running_at_restore,
            "an outage ended after the sync had finished, so it did not interrupt the transfer: {outages:?}"
        );
    }

    // Everything arrived, once: each item and each chunk crossed exactly once at the
    // session level, whatever QUIC retransmitted under it. A restarted attachment would
    // show more chunks than it has.
    println!("sync: {summary}");
    let items = (DOCS * 2 + DOCS / 5) as u64; // snapshot + signature per document, one submission per 5
    let chunks = ATTACHMENT_BYTES.div_ceil(64 * 1024) as u64;
    assert_eq!(
        summary["sent_items"].as_u64(),
        Some(items),
        "items sent: {summary}"
    );
    assert_eq!(
        summary["sent_chunks"].as_u64(),
        Some(chunks),
        "attachment chunks sent (more would mean the attachment restarted): {summary}"
    );

    let verified = hub.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
    assert_eq!(
        verified["incomplete_attachments"].as_u64(),
        Some(0),
        "the attachment is not whole on the hub: {verified}"
    );
    let inbox = inbox(&hub);
    let want: BTreeSet<&str> = docs.iter().map(String::as_str).collect();
    let got: BTreeSet<&str> = inbox.keys().map(String::as_str).collect();
    assert_eq!(
        got, want,
        "the hub's inbox is not exactly the documents sent"
    );
    for entry in inbox.values() {
        assert_inbox_entry(entry);
    }
    for doc in &docs {
        assert_eq!(satker.state(doc), "delivered", "{doc}");
    }

    // The rate limit held throughout: the qdisc is still tbf after the link went down
    // and came back.
    for hub_end in [false, true] {
        let q = net.qdisc(hub_end);
        assert!(q.contains("tbf"), "the rate limit is gone: {q}");
        println!(
            "tc on the {} end: {}",
            if hub_end { "hub" } else { "satker" },
            q.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let up = net.satker_tx_bytes() - baseline;
    let payload = DOCS * DOC_BYTES + ATTACHMENT_BYTES;
    println!(
        "big sync: {items} items and {chunks} chunks each sent once, {up} bytes up for about {payload} bytes of payload ({:.2}x), {elapsed:.1?}; whole test {:.1?}",
        up as f64 / payload as f64,
        test_started.elapsed()
    );
    for o in &outages {
        assert!(
            o.bytes_at_cut < up,
            "an outage came after the last byte went up: {o:?}"
        );
    }

    // Processes first (they live in the namespaces), then the namespaces.
    drop(hub);
    drop(satker);
    drop(net);
}
