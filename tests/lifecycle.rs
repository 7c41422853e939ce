//! End-to-end: a document's lifecycle on the satker and what the lists say about it,
//! with real `espm` processes, real QUIC on loopback and real sled stores: `draft unset`
//! and `detach`, edited after signing is not signed, `withdraw` (also racing a
//! background sync), signatures shown on every node that holds the document, and the
//! lists' JSON keys.

#[path = "support/mod.rs"]
mod support;

use std::{thread, time::Duration};

use serde_json::Value;
use support::*;

fn list(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, found {v}"))
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("expected an object, found {v}"))
        .keys()
        .cloned()
        .collect()
}

fn has_keys(v: &Value, want: &[&str]) {
    let got = keys(v);
    for k in want {
        assert!(got.iter().any(|g| g == k), "no `{k}` in {v}");
    }
}

/// The `draft list` row of `doc`.
fn row(device: &Satker, doc: &str) -> Value {
    let v = device.ok(&["draft", "list"]);
    list(&v)
        .iter()
        .find(|r| r["doc_id"] == doc)
        .cloned()
        .unwrap_or_else(|| panic!("{doc} is not in `draft list`: {v}"))
}

#[test]
fn unset_and_detach_remove_what_they_name_and_refuse_what_the_draft_lacks() {
    let hub = start_hub();
    let device = satker(&hub);
    let doc = device.new_spm("00001/SPM/2026", "1500000");
    device.ok(&[
        "draft",
        "set",
        &doc,
        "uraian=Belanja ATK",
        "npwp=012345678901234",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kuitansi.pdf");
    std::fs::write(&file, pdf_bytes(4_000)).unwrap();
    let attached = device.ok(&["draft", "attach", &doc, file.to_str().unwrap()]);
    let sha = str_of(&attached, "attachment");

    let v = device.ok(&["draft", "unset", &doc, "uraian", "npwp"]);
    assert_eq!(keys(&v), ["doc_id"], "{v}");
    assert_eq!(id_of(&v, "doc_id"), doc);
    let err = device.fail(&["draft", "unset", &doc, "uraian"]);
    assert_plain_error(&err, "unset of an absent field");
    assert!(
        err.contains(
            "has no field uraian; its fields are akun, jenis, nilai, nomor, penerima, rekening, tanggal. Nothing was removed"
        ),
        "{err}"
    );

    let err = device.fail(&["draft", "detach", &doc, &"0".repeat(64)]);
    assert_plain_error(&err, "detach of an absent attachment");
    assert!(err.contains(&format!("{sha} (kuitansi.pdf)")), "{err}");
    let v = device.ok(&["draft", "detach", &doc, &sha]);
    assert_eq!(keys(&v), ["doc_id"], "{v}");

    let shown = device.ok(&["draft", "show", &doc]);
    assert_eq!(
        keys(&shown["fields"]),
        ["akun", "jenis", "nilai", "nomor", "penerima", "rekening", "tanggal"],
        "{shown}"
    );
    assert_eq!(shown["attachments"], Value::Array(vec![]), "{shown}");
}

#[test]
fn a_signed_document_edited_reads_draft_in_status_show_and_the_list_with_its_signature_no_longer_matching(
) {
    let hub = start_hub();
    let device = satker(&hub);
    let serials = provision_signers(&hub, &device);
    let doc = device.new_spm("00002/SPM/2026", "2500000");
    device.sign(&doc, &serials.ppspm);
    assert_eq!(str_of(&row(&device, &doc), "waiting_for"), "TOTP submit");

    device.ok(&["draft", "set", &doc, "nilai=2600000", "akun=525111:2600000"]);
    let status = device.status(&doc);
    assert_eq!(str_of(&status, "state"), "draft", "{status}");
    assert_eq!(history_states(&status), ["draft", "signed", "draft"]);
    let last = status["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        str_of(&last, "reason"),
        format!(
            "edited after signing; the signature of Siti Rahma (PPSPM, certificate {}) no longer matches",
            serials.ppspm
        )
    );
    let shown = device.ok(&["draft", "show", &doc]);
    let sig = &shown["signatures"][0];
    assert_eq!(str_of(sig, "serial"), serials.ppspm, "{shown}");
    assert_eq!(sig["matches"], Value::Bool(false), "{shown}");
    let text = device.run_plain(&["draft", "show", &doc]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("no longer matches"),
        "{}",
        describe("draft show", &text)
    );
    let r = row(&device, &doc);
    assert_eq!(str_of(&r, "state"), "draft", "{r}");
    assert_eq!(str_of(&r, "waiting_for"), "PPSPM signature", "{r}");
    assert_eq!(str_of(&r, "nilai"), "2600000", "{r}");

    // Signed again, it is signed: the new signature matches, the old stays shown.
    device.sign(&doc, &serials.ppspm);
    let shown = device.ok(&["draft", "show", &doc]);
    let matches: Vec<&Value> = list(&shown["signatures"])
        .iter()
        .map(|s| &s["matches"])
        .collect();
    assert_eq!(
        matches,
        [&Value::Bool(true), &Value::Bool(false)],
        "{shown}"
    );
    assert_eq!(device.state(&doc), "signed");
}

#[test]
fn a_submission_withdrawn_before_it_left_never_reaches_the_kppn_and_one_that_left_is_not_withdrawn()
{
    let hub = start_hub();
    let device = satker(&hub);
    let serials = provision_signers(&hub, &device);
    let uri = device.add_operator();
    let doc = device.new_spm("00003/SPM/2026", "3500000");
    device.sign(&doc, &serials.ppspm);
    let sub = device.submit(&[&doc], &uri);
    assert_eq!(str_of(&row(&device, &doc), "waiting_for"), "sync");

    let v = device.ok(&["withdraw", &sub]);
    assert_eq!(id_of(&v, "submission_id"), sub, "{v}");
    assert_eq!(device.state(&doc), "signed");
    device.sync();
    assert!(
        !inbox(&hub).contains_key(&doc),
        "a withdrawn document reached the inbox"
    );
    assert_eq!(device.state(&doc), "signed");

    // Submitted again, it goes; and once it left, it stays gone.
    let again = device.submit(&[&doc], &uri);
    device.sync();
    let entry = inbox(&hub).remove(&doc).expect("delivered");
    assert_eq!(str_of(&entry, "submission_id"), again, "{entry}");
    let err = device.fail(&["withdraw", &again]);
    assert_plain_error(&err, "withdraw after sync");
    assert!(err.contains("has already left this device"), "{err}");
    assert_eq!(device.state(&doc), "delivered");
}

#[test]
fn a_withdraw_racing_the_background_sync_never_delivers_the_withdrawn_submission() {
    let hub = start_hub();
    let device = satker(&hub);
    let serials = provision_signers(&hub, &device);
    let uri = device.add_operator();
    let doc = device.new_spm("00004/SPM/2026", "4500000");
    device.sign(&doc, &serials.ppspm);
    let served = Served::spawn(&device);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !device.dir().join("control.sock").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never opened its control socket"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Through the serving node, whose background sync runs meanwhile.
    let sub = device.submit(&[&doc], &uri);
    let out = device.run(&["withdraw", &sub]);
    let withdrawn = out.status.success();
    if !withdrawn {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("has already left this device"),
            "{}",
            describe("withdraw", &out)
        );
    }
    thread::sleep(Duration::from_secs(2));
    drop(served);
    device.sync();
    device.sync();
    let delivered = inbox(&hub).contains_key(&doc);
    assert_eq!(
        delivered,
        !withdrawn,
        "withdraw said {withdrawn}, yet the hub's inbox {} the document",
        if delivered { "holds" } else { "lacks" }
    );
    assert_eq!(
        device.state(&doc),
        if withdrawn { "signed" } else { "delivered" }
    );
}

#[test]
fn every_signature_shows_on_a_second_device_the_hub_and_an_auditor_and_the_lists_keep_their_keys() {
    let hub = start_hub();
    let a = satker(&hub);
    let b = satker(&hub);
    let audit = auditor(&hub, SATKER_CODE);
    let serials = provision_signers(&hub, &a);
    let uri = a.add_operator();
    let doc = a.new_spm("00005/SPM/2026", "5500000");
    a.sync();
    b.sync();
    let err = a.fail_with(
        &[
            "sign",
            &doc,
            "--signer",
            &serials.ppspm,
            "--place",
            "Kotabumi\nLampung",
        ],
        Some(PASSPHRASE),
    );
    assert!(
        err.contains("--place must name where the signer signs"),
        "{err}"
    );
    a.ok_with(
        &[
            "sign",
            &doc,
            "--signer",
            &serials.ppspm,
            "--place",
            "Kotabumi",
        ],
        Some(PASSPHRASE),
    );
    let sub = a.submit(&[&doc], &uri);
    a.sync();
    b.sync();
    audit.ok(&["sync", "--timeout", SYNC_TIMEOUT]);
    audit.ok(&["sync", "--timeout", SYNC_TIMEOUT]);

    let want = a.ok(&["draft", "show", &doc])["signatures"].clone();
    let first = &want[0];
    assert_eq!(str_of(first, "name"), "Siti Rahma", "{want}");
    assert_eq!(str_of(first, "jabatan"), "ppspm", "{want}");
    assert_eq!(str_of(first, "serial"), serials.ppspm, "{want}");
    assert_eq!(str_of(first, "place"), "Kotabumi", "{want}");
    assert!(!str_of(first, "signed_at").is_empty(), "{want}");
    for (who, node) in [("second device", &*b), ("hub", &*hub), ("auditor", &*audit)] {
        let shown = node.ok(&["draft", "show", &doc]);
        assert_eq!(
            shown["signatures"], want,
            "draft show on the {who}: {shown}"
        );
        assert_eq!(
            str_of(&shown["fields"], "nomor"),
            "00005/SPM/2026",
            "on the {who}"
        );
    }

    // The lists and their JSON keys.
    let r = row(&a, &doc);
    assert_eq!(
        keys(&r),
        ["doc_id", "kind", "nilai", "nomor", "state", "waiting_for"],
        "{r}"
    );
    assert_eq!(str_of(&r, "waiting_for"), "KPPN to take it in", "{r}");
    let delivered = a.ok(&["draft", "list", "--state", "delivered"]);
    assert_eq!(list(&delivered).len(), 1, "{delivered}");
    // A state that does not exist is a usage error naming the valid ones.
    let bad = a.run(&["draft", "list", "--state", "signd"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        describe("draft list --state signd", &bad)
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("delivered"),
        "{}",
        describe("draft list --state signd", &bad)
    );
    let all = a.ok(&["status"]);
    for r in list(&all) {
        has_keys(r, &["doc_id", "kind", "state", "history"]);
    }
    let text = a.run_plain(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.starts_with("DOCUMENT"), "{text}");
    assert!(
        text.contains("00005/SPM/2026") && text.contains("KPPN to take it in"),
        "{text}"
    );

    let entry = inbox(&hub).remove(&doc).expect("in the inbox");
    has_keys(
        &entry,
        &[
            "doc_id",
            "kind",
            "satker",
            "delivered_at",
            "nomor",
            "nilai",
            "submission_id",
        ],
    );
    assert_eq!(str_of(&entry, "nomor"), "00005/SPM/2026");
    assert_eq!(str_of(&entry, "nilai"), "5500000");
    assert_eq!(str_of(&entry, "submission_id"), sub);
    let text = hub.run_plain(&["inbox"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("AGE") && text.contains(&sub), "{text}");

    let certs = hub.ok(&["certs"]);
    assert_eq!(list(&certs).len(), 2, "{certs}");
    for c in list(&certs) {
        assert_eq!(
            keys(c),
            ["jabatan", "name", "nip", "satker", "serial", "status"],
            "{c}"
        );
        assert_eq!(str_of(c, "status"), "valid", "{c}");
    }
    let devices = hub.ok(&["devices"]);
    assert_eq!(list(&devices).len(), 3, "{devices}");
    for d in list(&devices) {
        has_keys(d, &["node_id", "role", "status", "last_seen"]);
        assert!(d["satker"].is_string() || d["scope"].is_array(), "{d}");
        // Every one of them has synced.
        assert!(
            !str_of(d, "last_seen").is_empty(),
            "a device that connected has no last_seen: {d}"
        );
    }
}

#[test]
fn certs_requests_show_nip_and_email_and_a_second_pending_request_of_one_person_and_role_is_refused(
) {
    let hub = start_hub();
    let a = satker(&hub);
    let b = satker(&hub);
    let request = a.request_signer(&SITI);
    let err = a.fail_with(
        &[
            "signer",
            "request",
            "--name",
            SITI.name,
            "--nip",
            SITI.nip,
            "--nik",
            SITI.nik,
            "--jabatan",
            SITI.jabatan,
            "--email",
            SITI.email,
        ],
        Some(PASSPHRASE),
    );
    assert_plain_error(&err, "a second request on the same device");
    assert!(
        err.contains(&format!("already has a certificate request {request}")),
        "{err}"
    );
    // The other device cannot know; the hub refuses its request.
    b.request_signer(&SITI);
    a.sync();
    let err = b.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(
        err.contains(&format!(
            "NIP {} already has a pending certificate request {request} as PPSPM",
            SITI.nip
        )),
        "{err}"
    );
    let pending = hub.ok(&["certs", "requests"]);
    assert_eq!(list(&pending).len(), 1, "{pending}");
    let p = &pending[0];
    assert_eq!(id_of(p, "request_id"), request);
    assert_eq!(str_of(p, "nip"), SITI.nip);
    assert_eq!(str_of(p, "email"), SITI.email);
    let text = hub.run_plain(&["certs", "requests"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains(SITI.nip) && text.contains(SITI.email),
        "{text}"
    );
}
