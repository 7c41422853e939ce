//! An auditor syncs straight from a satker node in its scope while the hub is out of
//! reach: it receives what the hub would give it of that satker, at the hub's
//! positions, verifies it offline, and a later sync with the hub sends nothing again.
//! Real `espm` processes, real QUIC on loopback, real sled stores.

#[path = "support/mod.rs"]
mod support;

use std::{
    path::PathBuf,
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::*;

fn sync(node: &Espm) -> Value {
    node.ok(&["sync", "--timeout", SYNC_TIMEOUT])
}

/// One SPM of `satker`, approved at the KPPN.
fn approved_spm(hub: &Hub, satker: &Satker, nomor: &str) -> String {
    let ppspm = match satker.code() {
        SATKER_CODE => provision_signers(hub, satker).ppspm,
        _ => provision_other(hub, satker),
    };
    approve_spm(hub, satker, &ppspm, nomor)
}

/// The two signers of a satker other than [`SATKER_CODE`], certified; returns the
/// PPSPM's serial.
fn provision_other(hub: &Hub, satker: &Satker) -> String {
    let (ppspm, ppk) = request_both(satker);
    satker.sync();
    let serial = id_of(&hub.ok(&["certs", "approve", &ppspm]), "serial");
    hub.ok(&["certs", "approve", &ppk]);
    satker.sync();
    serial
}

/// A satker's `espm serve --listen`, killed when dropped.
struct Listening {
    child: Child,
    log: PathBuf,
    addr: String,
}

impl Listening {
    /// Starts `serve --listen` on `satker` and waits until the port is bound.
    fn start(satker: &Espm) -> Listening {
        let port = free_udp_port();
        let addr = format!("127.0.0.1:{port}");
        let log = satker.log_path();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open serve log");
        let err = out.try_clone().expect("clone serve log");
        let child = espm_command(None)
            .arg("--data-dir")
            .arg(satker.dir())
            .args(["serve", "--listen", &addr])
            .env_remove("ESPM_DATA_DIR")
            .env_remove("ESPM_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start espm serve --listen");
        let mut l = Listening { child, log, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                l.child.try_wait().ok().flatten().is_none(),
                "serve --listen exited; log:\n{}",
                l.log()
            );
            if udp_port_bound_in(std::path::Path::new("/proc/net"), port) != Some(false) {
                break;
            }
            assert!(Instant::now() < deadline, "not bound; log:\n{}", l.log());
            thread::sleep(Duration::from_millis(25));
        }
        // Its control socket answers too.
        while !satker.run(&["id"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "no control socket; log:\n{}",
                l.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        l
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `espm sync --from` of `auditor` straight from the satker listening at `from`.
fn direct(auditor: &Espm, from: &Listening, from_id: &str) -> std::process::Output {
    auditor.run(&[
        "sync",
        "--from",
        &from.addr,
        "--from-id",
        from_id,
        "--timeout",
        SYNC_TIMEOUT,
    ])
}

#[test]
fn an_auditor_syncs_straight_from_a_satker_in_its_scope_and_the_hub_sends_nothing_again() {
    let mut hub = start_hub();
    let satker_a = satker(&hub);
    let satker_b = satker_with_code(&hub, "654321");
    // Each learns its scope (and who the satkers' devices are) from the hub first.
    let auditor = auditor(&hub, SATKER_CODE);
    sync(&auditor);
    let both = auditor_of(&hub, &format!("{SATKER_CODE},654321"));
    sync(&both);
    let doc_a = approved_spm(&hub, &satker_a, "00001/SPM/2026");
    let doc_b = approved_spm(&hub, &satker_b, "00002/SPM/2026");

    let listening = Listening::start(&satker_a);
    hub.stop();
    // What the satker keeps for auditors is nothing `verify` finds fault with.
    let verified = satker_a.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
    let out = direct(&auditor, &listening, &satker_a.node_id);
    assert!(
        out.status.success(),
        "{}\nsatker log:\n{}",
        describe("direct sync", &out),
        listening.log()
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    for key in [
        "sent_items",
        "received_items",
        "sent_bytes",
        "received_bytes",
    ] {
        assert!(got[key].is_u64(), "{key} missing: {got}");
    }
    assert_eq!(got["sent_items"], 0, "{got}");
    assert!(got["received_items"].as_u64().unwrap_or(0) > 3, "{got}");

    // The SPM with its signature, receipt and statuses, as the hub would have given it.
    let status = auditor.ok(&["status", &doc_a]);
    assert_eq!(str_of(&status, "state"), "approved", "{status}");
    let states = history_states(&status);
    assert!(states.iter().any(|s| s == "delivered"), "{states:?}");
    let shown = auditor.ok(&["draft", "show", &doc_a]);
    let signatures = shown["signatures"].as_array().map(Vec::len).unwrap_or(0);
    assert!(signatures >= 1, "{shown}");
    let verified = auditor.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");

    // An auditor of both satkers gets satker A's through A, and never B's.
    let out = direct(&both, &listening, &satker_a.node_id);
    assert!(out.status.success(), "{}", describe("direct sync", &out));
    assert_eq!(str_of(&both.ok(&["status", &doc_a]), "state"), "approved");
    let err = both.fail(&["status", &doc_b]);
    assert!(err.contains(&doc_b), "{err}");

    // The hub, back, has nothing for the first auditor that it does not hold already,
    // and gives the second satker B's documents.
    hub.start();
    // `Satker::sync` retries while the restarted hub's endpoint settles.
    let again = auditor.sync();
    assert_eq!(again["received_items"], 0, "{again}");
    both.sync();
    assert_eq!(str_of(&both.ok(&["status", &doc_b]), "state"), "approved");
    let verified = both.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
}

/// An auditor node enrolled for `scope`, not synced yet.
fn auditor_of(hub: &Hub, scope: &str) -> Satker {
    auditor(hub, scope)
}

#[test]
fn an_auditor_out_of_scope_revoked_unknown_to_the_satker_or_dialling_another_node_is_refused_and_gets_nothing(
) {
    let mut hub = start_hub();
    let satker_a = satker(&hub);
    let elsewhere = auditor(&hub, "999001");
    sync(&elsewhere);
    let doc = approved_spm(&hub, &satker_a, "00001/SPM/2026");
    // An auditor the hub revoked, which the satker learns at its next sync.
    let revoked = auditor(&hub, SATKER_CODE);
    sync(&revoked);
    satker_a.sync();
    hub.ok(&[
        "devices",
        "revoke",
        &revoked.node_id,
        "--reason",
        "laptop hilang",
    ]);
    satker_a.sync();
    // Another device of the same satker, which is not the one listening.
    let second_device = satker(&hub);
    // Enrolled after the satker's last sync: the satker holds no enrollment of it.
    let late = auditor(&hub, SATKER_CODE);
    sync(&late);
    // Stopped first, so the satker's background sync cannot learn of `late`.
    hub.stop();
    let listening = Listening::start(&satker_a);

    let out = direct(&elsewhere, &listening, &satker_a.node_id);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe("out of scope", &out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_plain_error(&err, "out of scope");
    assert!(err.contains("not in this auditor's scope"), "{err}");
    let all = elsewhere.ok(&["status"]);
    assert_eq!(all.as_array().map(Vec::len), Some(0), "{all}");

    // A key that is no enrolled satker device is not dialled at all.
    let out = direct(&elsewhere, &listening, &random_node_id());
    assert_eq!(out.status.code(), Some(1), "{}", describe("unknown", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a satker device the hub enrolled"),
        "{err}"
    );

    // The satker refuses an auditor whose enrollment it does not hold.
    let _ = doc;
    let before = late.ok(&["status"]);
    let out = direct(&late, &listening, &satker_a.node_id);
    assert_eq!(out.status.code(), Some(1), "{}", describe("late", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_plain_error(&err, "refused by the satker");
    assert!(
        err.contains("the satker node refused this auditor"),
        "{err}"
    );
    assert_eq!(late.ok(&["status"]), before);

    let before = revoked.ok(&["status"]);
    let out = direct(&revoked, &listening, &satker_a.node_id);
    assert_eq!(out.status.code(), Some(1), "{}", describe("revoked", &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the satker node refused this auditor"),
        "{err}"
    );
    assert_eq!(revoked.ok(&["status"]), before);

    // The node at the address must present the key named.
    let out = direct(&late, &listening, &second_device.node_id);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe("not that node", &out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_plain_error(&err, "not that node");
    assert!(err.contains("the node at that address is not"), "{err}");
}
