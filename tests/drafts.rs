//! End-to-end: drafts shared between the devices of one satker through the hub, with
//! real `espm` processes, real QUIC on loopback and real sled stores. Devices edit
//! offline; each `espm sync` carries the draft edits both ways with automerge's sync
//! protocol on a second stream of the sync connection.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::*;

/// The fields `draft show` reports, as text.
fn fields(device: &Satker, doc_id: &str) -> BTreeMap<String, String> {
    let v = device.ok(&["draft", "show", doc_id]);
    assert_eq!(id_of(&v, "doc_id"), doc_id);
    v["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("draft show: `fields` is not an object: {v}"))
        .iter()
        .map(|(k, v)| (k.clone(), id_text(v)))
        .collect()
}

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("sync output lacks a count `{key}`: {v}"))
}

fn refused(v: &Value) -> Vec<String> {
    v["drafts_refused"]
        .as_array()
        .unwrap_or_else(|| panic!("sync output lacks `drafts_refused`: {v}"))
        .iter()
        .map(id_text)
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_draft_edited_on_two_devices_converges_through_the_hub() {
    let hub = start_hub();
    let a = satker(&hub);
    let b = satker(&hub);

    let doc = a.new_spm("00001/SPM/2026", "1500000");
    let sent = a.sync();
    assert_eq!(count(&sent, "drafts_announced"), 1, "{sent}");
    assert_eq!(count(&sent, "drafts_in_step"), 1, "{sent}");

    // Device B has never seen the draft: it arrives with a journey record.
    let got = b.sync();
    assert_eq!(count(&got, "drafts_updated"), 1, "{got}");
    assert_eq!(b.state(&doc), "draft");
    assert_eq!(fields(&b, &doc), fields(&a, &doc));

    // Both edit offline, each a different field.
    b.ok(&["draft", "set", &doc, "uraian=Belanja ATK"]);
    a.ok(&["draft", "set", &doc, "penerima=CV Sinar Abadi"]);
    b.sync();
    let merged = a.sync();
    assert_eq!(count(&merged, "drafts_updated"), 1, "{merged}");
    let got = b.sync();
    assert_eq!(count(&got, "drafts_updated"), 1, "{got}");

    let mut want: BTreeMap<String, String> = spm_fields("00001/SPM/2026", "1500000")
        .into_iter()
        .collect();
    want.extend(expected(&[
        ("penerima", "CV Sinar Abadi"),
        ("uraian", "Belanja ATK"),
    ]));
    assert_eq!(fields(&a, &doc), want);
    assert_eq!(fields(&b, &doc), want);

    // In step now: the next sync announces nothing and changes nothing.
    for device in [&a, &b] {
        let idle = device.sync();
        assert_eq!(count(&idle, "drafts_announced"), 0, "{idle}");
        assert_eq!(count(&idle, "drafts_updated"), 0, "{idle}");
        assert!(refused(&idle).is_empty(), "{idle}");
    }
}

#[test]
fn auditors_and_devices_of_other_satkers_receive_no_drafts() {
    let hub = start_hub();
    let a = satker(&hub);
    let doc = a.new_spm("00002/SPM/2026", "250000");
    a.sync();

    let audit = auditor(&hub, SATKER_CODE);
    let seen = audit.sync();
    assert_eq!(count(&seen, "drafts_updated"), 0, "{seen}");
    let err = audit.fail(&["draft", "show", &doc]);
    assert!(err.contains(&doc), "{err}");

    let other = satker_with_code(&hub, "654321");
    let seen = other.sync();
    assert_eq!(count(&seen, "drafts_updated"), 0, "{seen}");
    let err = other.fail(&["draft", "show", &doc]);
    assert!(err.contains(&doc), "{err}");
    let listed = other.ok(&["status"]);
    assert_eq!(listed, Value::Array(vec![]), "{listed}");
}

#[test]
fn a_signed_draft_keeps_what_was_signed_when_another_device_edits_it() {
    let hub = start_hub();
    let a = satker(&hub);
    let b = satker(&hub);
    let serials = provision_signers(&hub, &a);

    let doc = a.new_spm("00003/SPM/2026", "750000");
    a.sync();
    b.sync();
    a.sign(&doc, &serials.ppspm);
    let signed = fields(&a, &doc);

    b.ok(&["draft", "set", &doc, "nilai=999999999"]);
    b.sync();
    let got = a.sync();
    assert_eq!(count(&got, "drafts_updated"), 0, "{got}");
    let notes = refused(&got);
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&doc) && n.contains("signed")),
        "{got}"
    );
    assert_eq!(fields(&a, &doc), signed);
    assert_eq!(a.state(&doc), "signed");
    // Refused once, not again at every sync.
    let again = a.sync();
    assert!(refused(&again).is_empty(), "{again}");
}
