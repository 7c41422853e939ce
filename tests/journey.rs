//! End-to-end journeys of the `espm` binary: a real hub `serve` process, real satker
//! nodes, real QUIC on loopback, real sled stores on disk. Each test owns its temporary
//! directories and its hub process (killed when the test ends).

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;
use sync_protocol::{Item, NodeId, SignedItem, StreamId};

/// A field of `draft show`, as text (numbers and strings alike).
fn field(shown: &Value, key: &str) -> String {
    match &shown["fields"][key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("draft field `{key}` missing or odd ({other}) in {shown}"),
    }
}

/// `draft show`, checked for shape; returns the document.
fn show(satker: &Satker, doc_id: &str) -> Value {
    let v = satker.ok(&["draft", "show", doc_id]);
    assert_eq!(id_of(&v, "doc_id"), doc_id);
    assert_eq!(str_of(&v, "kind"), "spm");
    assert!(
        v["fields"].is_object(),
        "draft show: `fields` is not an object: {v}"
    );
    assert!(
        v["attachments"].is_array(),
        "draft show: `attachments` is not a list: {v}"
    );
    assert!(
        v["signatures"].is_array(),
        "draft show: `signatures` is not a list: {v}"
    );
    v
}

fn signature_count(shown: &Value) -> usize {
    shown["signatures"].as_array().map(Vec::len).unwrap_or(0)
}

/// Drafts the first SPM: new with nomor and nilai, then `draft set uraian=ATK`; checks
/// what `draft show` says.
fn draft_first_spm(satker: &Satker) -> String {
    let doc = satker.new_spm("00001/SPM/2026", "1500000");
    let set = satker.ok(&["draft", "set", &doc, "uraian=ATK"]);
    assert_eq!(id_of(&set, "doc_id"), doc);
    let shown = show(satker, &doc);
    assert_eq!(field(&shown, "nomor"), "00001/SPM/2026");
    assert_eq!(field(&shown, "nilai"), "1500000");
    assert_eq!(field(&shown, "uraian"), "ATK");
    assert_eq!(shown["attachments"], Value::Array(vec![]));
    assert_eq!(
        signature_count(&shown),
        0,
        "a fresh draft has signatures: {shown}"
    );
    assert_eq!(satker.state(&doc), "draft");
    doc
}

fn states(v: &Value) -> Vec<String> {
    history_states(v)
}

#[test]
fn signed_spm_travels_to_the_hub_and_comes_back_approved() {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();

    let doc = draft_first_spm(&satker);

    // A scanned decree travels with the SPM as content-addressed chunks.
    let scan = pdf_bytes(300_000);
    let scan_path = satker.dir().with_file_name("sk-penetapan.pdf");
    std::fs::write(&scan_path, &scan).unwrap();
    let attached = satker.ok(&["draft", "attach", &doc, scan_path.to_str().unwrap()]);
    let sha = str_of(&attached, "attachment");
    assert_eq!(sha.len(), 64);
    let shown = show(&satker, &doc);
    assert_eq!(
        shown["attachments"][0]["sha256"].as_str(),
        Some(sha.as_str())
    );
    assert_eq!(shown["attachments"][0]["size"].as_u64(), Some(300_000));

    // The PPK's certificate cannot sign an SPM: the policy wants PPSPM.
    let err = satker.fail_with(&["sign", &doc, "--signer", &serials.ppk], Some(PASSPHRASE));
    assert!(
        err.to_lowercase().contains("ppspm"),
        "refusal should name PPSPM: {err}"
    );
    // The right certificate with the wrong passphrase.
    let err = satker.fail_with(
        &["sign", &doc, "--signer", &serials.ppspm],
        Some("bukan-kata-sandinya"),
    );
    assert!(
        err.to_lowercase().contains("passphrase"),
        "refusal should mention the passphrase: {err}"
    );
    assert_eq!(
        signature_count(&show(&satker, &doc)),
        0,
        "a refused signing left a signature"
    );
    assert_eq!(satker.state(&doc), "draft");

    satker.sign(&doc, &serials.ppspm);
    let shown = show(&satker, &doc);
    assert_eq!(
        signature_count(&shown),
        1,
        "one signature expected: {shown}"
    );
    assert_eq!(field(&shown, "uraian"), "ATK");
    assert_eq!(satker.state(&doc), "signed");

    // A second SPM, which the KPPN will reject.
    let doc2 = satker.new_spm("00002/SPM/2026", "250000");
    assert_ne!(doc, doc2);
    satker.sign(&doc2, &serials.ppspm);
    assert_eq!(satker.state(&doc2), "signed");

    // A wrong security token is refused and changes nothing.
    let wrong = wrong_totp_code(&uri);
    let err = satker.fail(&[
        "submit",
        &doc,
        &doc2,
        "--operator",
        OPERATOR,
        "--totp",
        &wrong,
    ]);
    assert!(!err.contains("panicked"));
    assert_eq!(satker.state(&doc), "signed");

    satker.submit(&[&doc, &doc2], &uri);
    assert_eq!(satker.state(&doc), "queued");
    assert_eq!(satker.state(&doc2), "queued");
    let all = satker.ok(&["status"]);
    let all = all
        .as_array()
        .unwrap_or_else(|| panic!("`status` without id is not a list: {all}"));
    for d in [&doc, &doc2] {
        let entry = all
            .iter()
            .find(|e| id_of(e, "doc_id") == *d)
            .unwrap_or_else(|| panic!("`status` does not list {d}: {all:?}"));
        assert_eq!(str_of(entry, "state"), "queued");
        assert_eq!(str_of(entry, "kind"), "spm");
    }

    let sent = satker.sync();
    assert!(
        sent["sent_items"].as_u64().unwrap() >= 1,
        "nothing sent: {sent}"
    );
    assert!(
        sent["sent_bytes"].as_u64().unwrap() > 0,
        "no bytes sent: {sent}"
    );
    assert_eq!(satker.state(&doc), "delivered");
    assert_eq!(satker.state(&doc2), "delivered");
    // The hub fetched every chunk of the attachment and the file verifies whole.
    let verified = hub.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
    assert_eq!(
        verified["incomplete_attachments"].as_u64(),
        Some(0),
        "{verified}"
    );

    let inbox_now = inbox(&hub);
    for d in [&doc, &doc2] {
        let entry = inbox_now
            .get(d.as_str())
            .unwrap_or_else(|| panic!("hub inbox lacks {d}: {inbox_now:?}"));
        assert_inbox_entry(entry);
    }

    take_and_approve(&hub, &doc);

    let reason = "Nilai SPM melebihi sisa pagu DIPA";
    let taken = hub.ok(&["take", &doc2]);
    assert_eq!(id_of(&taken, "doc_id"), doc2);
    let rejected = hub.ok(&["reject", &doc2, "--reason", reason]);
    assert_eq!(id_of(&rejected, "doc_id"), doc2);
    assert_eq!(str_of(&rejected, "state"), "rejected");
    assert!(
        inbox(&hub).is_empty(),
        "taken documents are still in the inbox"
    );

    let got = satker.sync();
    assert!(
        got["received_items"].as_u64().unwrap() >= 1,
        "no status came back: {got}"
    );

    let status = satker.status(&doc);
    assert_eq!(str_of(&status, "state"), "approved", "{status}");
    assert_eq!(str_of(&status, "kind"), "spm");
    assert_eq!(
        states(&status),
        APPROVED_JOURNEY,
        "journey of {doc}: {status}"
    );

    let status2 = satker.status(&doc2);
    assert_eq!(str_of(&status2, "state"), "rejected", "{status2}");
    let journey2 = states(&status2);
    assert_eq!(
        journey2,
        [
            "draft",
            "signed",
            "queued",
            "delivered",
            "received",
            "rejected"
        ],
        "journey of the rejected SPM: {status2}"
    );
    let last = status2["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        str_of(&last, "reason"),
        reason,
        "the satker must see the KPPN's reason: {status2}"
    );
}

#[test]
fn restarting_hub_and_satker_between_steps_loses_nothing() {
    let mut hub = start_hub();
    let satker = satker(&hub);

    // Restart after enroll: the enrollment must survive.
    hub.restart();
    let requests = request_both(&satker);
    let sent = satker.sync();
    assert!(
        sent["sent_items"].as_u64().unwrap() >= 2,
        "requests not sent: {sent}"
    );
    let serials = approve_both(&hub, &requests);

    // Restart after approve: the certificates must survive, the requests stay settled.
    hub.restart();
    assert_eq!(
        hub.ok(&["certs", "requests"]),
        Value::Array(vec![]),
        "approved requests came back after restart"
    );
    satker.sync();
    assert_signers_valid(&satker, &serials);

    let uri = satker.add_operator();
    let doc = draft_first_spm(&satker);
    satker.sign(&doc, &serials.ppspm);
    satker.submit(&[&doc], &uri);
    assert_eq!(satker.state(&doc), "queued");
    satker.sync();
    assert_eq!(satker.state(&doc), "delivered");

    // Restart after the submission arrived: the delivery must survive.
    hub.restart();
    let inbox_now = inbox(&hub);
    let entry = inbox_now
        .get(doc.as_str())
        .unwrap_or_else(|| panic!("hub inbox lost {doc}: {inbox_now:?}"));
    assert_inbox_entry(entry);

    // Everything on the satker is still there, read by fresh processes.
    assert_signers_valid(&satker, &serials);
    let shown = show(&satker, &doc);
    assert_eq!(field(&shown, "nomor"), "00001/SPM/2026");
    assert_eq!(field(&shown, "nilai"), "1500000");
    assert_eq!(field(&shown, "uraian"), "ATK");
    assert_eq!(signature_count(&shown), 1, "{shown}");
    let status = satker.status(&doc);
    assert_eq!(
        states(&status),
        ["draft", "signed", "queued", "delivered"],
        "{status}"
    );

    take_and_approve(&hub, &doc);

    // One more restart before the statuses travel back.
    hub.restart();
    assert!(
        !inbox(&hub).contains_key(doc.as_str()),
        "a taken document is back in the inbox after restart"
    );
    satker.sync();
    let status = satker.status(&doc);
    assert_eq!(str_of(&status, "state"), "approved", "{status}");
    assert_eq!(states(&status), APPROVED_JOURNEY, "{status}");

    // A further sync is a no-op for the journey.
    satker.sync();
    assert_eq!(states(&satker.status(&doc)), APPROVED_JOURNEY);
}

#[test]
fn unenrolled_satker_is_refused() {
    let mut hub = start_hub();
    let stranger = init_satker(&hub.addr(), &hub.id);
    stranger.request_signer(&SITI);

    let err = stranger.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("not enrolled") && err.contains("espm enroll"),
        "stderr should say the device is not enrolled and what to do: {err}"
    );

    let pending = hub.ok(&["certs", "requests"]);
    assert_eq!(
        pending,
        Value::Array(vec![]),
        "the hub took a request from an unenrolled device"
    );
    hub.served.as_mut().expect("hub serving").assert_alive();
}

#[test]
fn wrong_hub_id_is_refused() {
    let mut hub = start_hub();
    let other_hub = random_node_id();
    assert_ne!(other_hub, hub.id);
    let satker = init_satker(&hub.addr(), &other_hub);
    // Enrolled, so the only thing wrong is the pinned hub id.
    enroll(&hub, &satker);

    let err = satker.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(
        err.to_lowercase().contains("hub id"),
        "stderr should say the hub id does not match: {err}"
    );
    hub.served.as_mut().expect("hub serving").assert_alive();
}

#[test]
fn hub_unreachable_is_a_clear_error() {
    let port = free_udp_port();
    let satker = init_satker(&format!("127.0.0.1:{port}"), &random_node_id());
    // A sync that never ended would be stopped by the harness's own limit on a
    // command; how long it took is not asserted.
    let err = satker.fail(&["sync", "--timeout", "3"]);
    assert!(
        err.contains("cannot reach"),
        "stderr should say the hub cannot be reached: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn tampered_signature_is_refused_by_the_hub_with_a_clear_reason() {
    let mut hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    let doc = draft_first_spm(&satker);
    satker.sign(&doc, &serials.ppspm);
    satker.submit(&[&doc], &uri);
    assert_eq!(satker.state(&doc), "queued");

    // No process holds the satker store now: tamper with the stored signature.
    {
        let store = storage::Store::open(satker.dir()).expect("open the satker store");
        let signatures: Vec<Vec<u8>> = store
            .items()
            .map(|r| r.expect("read a stored item"))
            .filter_map(|(_, bytes)| match SignedItem::open(&bytes) {
                Ok(SignedItem {
                    item: Item::Signature(_),
                    ..
                }) => Some(bytes),
                _ => None,
            })
            .collect();
        assert_eq!(
            signatures.len(),
            1,
            "expected exactly one stored document signature"
        );
        let original = signatures.into_iter().next().unwrap();

        // The envelope ends with the ed25519 signature: flip one bit of its last byte.
        let mut tampered = original.clone();
        *tampered.last_mut().unwrap() ^= 0x01;
        assert!(
            SignedItem::open(&tampered).is_err(),
            "the tampered item still verifies"
        );

        let satker_id: NodeId = satker.node_id.parse().expect("satker node id");
        let stream = StreamId::Origin(satker_id);
        let (entries, _) = store
            .read_stream(&stream, 0, usize::MAX, |_| false)
            .expect("read the outgoing stream");
        let seq = entries
            .iter()
            .find(|(_, bytes)| *bytes == original)
            .map(|(seq, _)| *seq)
            .expect("the signature is not in the satker's outgoing stream");
        let old = store
            .entry(&stream, seq)
            .expect("read entry")
            .expect("entry exists");

        let address = store
            .write(|t| {
                let (addr, new) = t.put_item(&tampered)?;
                assert!(new, "the tampered bytes were already stored");
                Ok(addr)
            })
            .expect("store the tampered item");
        store
            .replace_stream_entry(
                &stream,
                seq,
                storage::StreamEntry {
                    address,
                    origin: old.origin,
                },
            )
            .expect("repoint the stream entry");
        store.flush().expect("flush");
        assert_eq!(store.entry(&stream, seq).unwrap().unwrap().address, address);
    }

    let err = satker.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(
        err.contains("signature"),
        "stderr should name the signature: {err}"
    );
    assert!(
        err.contains("does not verify"),
        "stderr should say it does not verify: {err}"
    );

    assert!(
        !inbox(&hub).contains_key(doc.as_str()),
        "the hub delivered a document whose signature is forged"
    );
    assert_ne!(satker.state(&doc), "delivered");
    hub.served.as_mut().expect("hub serving").assert_alive();
}

#[test]
fn user_errors_exit_1_with_a_plain_sentence() {
    let satker = init_satker(&format!("127.0.0.1:{}", free_udp_port()), &random_node_id());
    let unknown = "tidak-ada-dokumen-ini";
    for args in [
        vec!["draft", "show", unknown],
        vec!["status", unknown],
        vec!["sign", unknown, "--signer", "1"],
    ] {
        let err = satker.fail_with(&args, Some(PASSPHRASE));
        assert_plain_error(&err, &args.join(" "));
    }

    let out = satker.run(&["frobnicate"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        describe("an unknown command should exit 2", &out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
