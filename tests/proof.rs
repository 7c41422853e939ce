//! Delivery proofs with real processes: a satker writes the proof of a delivered SPM,
//! and anyone checks it offline, on an auditor's node or on no node at all, with only
//! the hub's id; a tampered proof, or the proof checked against another hub, is refused
//! with exit 1. Real `espm` processes, real QUIC on loopback, real sled stores.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

/// A satker with one SPM the KPPN's hub has receipted; returns the document id.
fn delivered_spm(hub: &Hub, satker: &Satker) -> String {
    let ppspm = provision_signers(hub, satker).ppspm;
    deliver_spm(satker, &ppspm, "00001/SPM/2026")
}

/// `espm --json check-proof FILE --hub-id ID` with no data directory anywhere: not the
/// default one, not one in the environment.
fn check_outside_any_node(file: &std::path::Path, hub_id: &str) -> (i32, Value, String) {
    let nowhere = tempfile::tempdir().unwrap();
    let mut cmd = espm_command(None);
    cmd.current_dir(nowhere.path())
        .env("HOME", nowhere.path())
        .env("XDG_DATA_HOME", nowhere.path().join("absent"))
        .env("ESPM_DATA_DIR", nowhere.path().join("no-such-node"))
        .args(["--json", "check-proof"])
        .arg(file)
        .args(["--hub-id", hub_id]);
    let out = execute(cmd, "check-proof outside a node", Duration::from_secs(30));
    assert!(
        !nowhere.path().join("no-such-node").exists(),
        "check-proof created a data directory"
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_delivery_proof_checks_offline_with_only_the_hubs_id_and_a_tampered_one_does_not() {
    let hub = start_hub();
    let satker = satker(&hub);
    let doc = delivered_spm(&hub, &satker);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("bukti.json");

    // Written from the satker's own store, relative to where the user stands.
    let wrote = satker.ok_in(work.path(), &["proof", &doc, "--out", "bukti.json"]);
    assert_eq!(str_of(&wrote, "doc_id"), doc, "{wrote}");
    assert_eq!(
        std::path::PathBuf::from(str_of(&wrote, "file")),
        file.canonicalize().unwrap()
    );

    let (code, checked, stderr) = check_outside_any_node(&file, &hub.id);
    assert_eq!(code, 0, "{checked} {stderr}");
    assert_eq!(checked["ok"], Value::Bool(true), "{checked}");
    assert_eq!(str_of(&checked, "doc_id"), doc);
    assert!(
        checked["received_at"]
            .as_str()
            .is_some_and(|s| s.contains('T')),
        "{checked}"
    );
    let size = checked["checkpoint"]["size"].as_u64().unwrap_or(0);
    assert!(size > 0, "{checked}");

    // An auditor's node checks it against the hub it pins, no --hub-id needed.
    let auditor = auditor(&hub, SATKER_CODE);
    auditor.sync();
    let on_auditor = auditor.ok(&["check-proof", file.to_str().unwrap()]);
    assert_eq!(on_auditor["ok"], Value::Bool(true), "{on_auditor}");

    // Against another hub: refused.
    let other = random_node_id();
    let (code, refused, _) = check_outside_any_node(&file, &other);
    assert_eq!(code, 1, "{refused}");
    assert_eq!(refused["ok"], Value::Bool(false), "{refused}");

    // One hash of the inclusion proof changed: refused, saying so.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut proof: Value = serde_json::from_str(&text).unwrap();
    let first = proof["inclusion"][0].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if first.starts_with('0') { '1' } else { '0' },
        &first[1..]
    );
    proof["inclusion"][0] = Value::String(flipped);
    let tampered = work.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&proof).unwrap()).unwrap();
    let (code, refused, _) = check_outside_any_node(&tampered, &hub.id);
    assert_eq!(code, 1, "{refused}");
    assert_eq!(refused["ok"], Value::Bool(false));
    assert!(
        refused["reason"]
            .as_str()
            .unwrap_or("")
            .contains("inclusion proof"),
        "{refused}"
    );

    // Another document id written into the file: the signed receipt does not name it.
    let mut proof: Value = serde_json::from_str(&text).unwrap();
    proof["doc_id"] = Value::String("spm-lain".into());
    std::fs::write(&tampered, serde_json::to_vec(&proof).unwrap()).unwrap();
    let (code, _, _) = check_outside_any_node(&tampered, &hub.id);
    assert_eq!(code, 1);

    // Not a proof at all: a plain refusal, exit 1.
    std::fs::write(&tampered, b"hello").unwrap();
    let (code, refused, _) = check_outside_any_node(&tampered, &hub.id);
    assert_eq!(code, 1, "{refused}");

    // Without --hub-id and outside any node: told what to give.
    let nowhere = tempfile::tempdir().unwrap();
    let mut cmd = espm_command(None);
    cmd.env("ESPM_DATA_DIR", nowhere.path().join("none"))
        .args(["check-proof"])
        .arg(&file);
    let out = execute(cmd, "check-proof without a hub id", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hub-id"));
}

#[test]
fn the_hub_writes_a_proof_while_serving_and_a_document_not_yet_delivered_has_none() {
    let hub = start_hub();
    let satker = satker(&hub);
    let doc = delivered_spm(&hub, &satker);
    let work = tempfile::tempdir().unwrap();
    // The hub is serving: the command goes through its control socket, and the file
    // still lands where the user typed it.
    let wrote = hub.ok_in(work.path(), &["proof", &doc, "--out", "hub-proof.json"]);
    assert_eq!(str_of(&wrote, "doc_id"), doc);
    let file = work.path().join("hub-proof.json");
    let (code, checked, _) = check_outside_any_node(&file, &hub.id);
    assert_eq!(code, 0, "{checked}");

    let draft = satker.new_spm("00002/SPM/2026", "100000");
    let err = satker.fail(&["proof", &draft, "--out", "x.json"]);
    assert!(err.contains("no receipt"), "{err}");
}
