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

/// The CSO's passphrase on every hub in these tests: it seals the authority key.
pub const CSO_PASSPHRASE: &str = "kata-sandi-CSO-KPPN-019";

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

mod nodes;
mod process;
mod signers;
mod totp;

pub use nodes::*;
pub use process::*;
pub use signers::*;
pub use totp::*;

/// `len` bytes that `draft attach` takes as a PDF: the `%PDF-1.7` header, then bytes
/// that do not compress (a multiplicative hash of the offset), as a scan's would not.
pub fn pdf_bytes(len: usize) -> Vec<u8> {
    let header = b"%PDF-1.7\n";
    assert!(
        len >= header.len(),
        "a PDF of {len} bytes cannot hold its header"
    );
    let mut bytes: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    bytes[..header.len()].copy_from_slice(header);
    bytes
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
    let satker = Satker::new(espm, node_id);
    satker.enrolled_at(hub);
    let _ = satker.code.set(code.to_string());
    satker
}

/// An auditor node pinned to `hub` and enrolled to read `scope`. It is returned as a
/// [`Satker`] only to reuse its `sync` and `status` helpers.
pub fn auditor(hub: &Hub, scope: &str) -> Satker {
    let espm = Espm::new("auditor");
    let v = espm.ok(&["init", "auditor", "--hub", &hub.addr(), "--hub-id", &hub.id]);
    let node_id = str_of(&v, "node_id");
    assert_node_id(&node_id);
    hub.ok(&["enroll", &node_id, "--auditor", "--scope", scope]);
    Satker::new(espm, node_id)
}

/// Signs one SPM of `satker` by the PPSPM certificate `ppspm`, submits it with a new
/// operator and syncs; returns its id once the hub has receipted it.
pub fn deliver_spm(satker: &Satker, ppspm: &str, nomor: &str) -> String {
    let uri = satker.add_operator();
    let doc = satker.new_spm(nomor, "7500000");
    satker.sign(&doc, ppspm);
    satker.submit(&[&doc], &uri);
    satker.sync();
    assert_eq!(satker.state(&doc), "delivered");
    doc
}

/// As [`deliver_spm`], then received and approved at the KPPN and synced back.
pub fn approve_spm(hub: &Hub, satker: &Satker, ppspm: &str, nomor: &str) -> String {
    let doc = deliver_spm(satker, ppspm, nomor);
    take_and_approve(hub, &doc);
    satker.sync();
    assert_eq!(satker.state(&doc), "approved");
    doc
}
