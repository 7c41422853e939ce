//! `espm export DIR`: what an auditor, a satker and the hub export of a real journey
//! verifies with OpenSSL, an ed25519 implementation that is not ours, over the exported
//! `signed_bytes`; one flipped byte makes OpenSSL refuse; a non-empty DIR is refused
//! untouched unless `--force`. Real `espm` processes, real QUIC on loopback.

#[path = "support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::Value;
use support::*;

/// The DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn b64(v: &Value, key: &str) -> Vec<u8> {
    let text = v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"));
    STANDARD.decode(text).expect("base64")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Whether OpenSSL accepts `signature` by `public_key` (32 raw bytes) over `message`.
fn openssl_verifies(work: &Path, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(public_key);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&der)
    );
    let (key, msg, sig) = (
        work.join("pub.pem"),
        work.join("signed_bytes.bin"),
        work.join("sig.bin"),
    );
    std::fs::write(&key, pem).expect("write pub.pem");
    std::fs::write(&msg, message).expect("write signed_bytes.bin");
    std::fs::write(&sig, signature).expect("write sig.bin");
    let openssl = system_tool("openssl");
    let out = Command::new(&openssl)
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&key)
        .arg("-rawin")
        .arg("-in")
        .arg(&msg)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): these tests need OpenSSL 3 (Debian: openssl)",
                openssl.display()
            )
        });
    out.status.success()
}

/// Checks every signed item of every document of the export in `dir` with OpenSSL,
/// and that one flipped byte of the signed bytes or the signature fails it; returns
/// how many signatures of each kind were checked.
fn verify_with_openssl(dir: &Path) -> BTreeMap<String, usize> {
    let work = tempfile::tempdir().expect("temp dir");
    let index = read_json(&dir.join("index.json"));
    let mut kinds = BTreeMap::new();
    let mut flipped = false;
    for d in index["documents"].as_array().expect("documents") {
        let folder = dir.join(str_of(d, "folder"));
        let doc = read_json(&folder.join("document.json"));
        for item in doc["signed_items"].as_array().expect("signed_items") {
            let (key, message, signature) = (
                b64(item, "public_key"),
                b64(item, "signed_bytes"),
                b64(item, "signature"),
            );
            assert_eq!(key.len(), 32, "{item}");
            assert!(
                openssl_verifies(work.path(), &key, &message, &signature),
                "OpenSSL refuses the exported signature of {}",
                item["kind"]
            );
            if let Some(envelope) = item.get("envelope") {
                let bytes = STANDARD
                    .decode(envelope.as_str().expect("text"))
                    .expect("b64");
                assert_eq!(
                    hex::encode(sync_protocol::Address::of(&bytes).0),
                    str_of(item, "address"),
                    "the envelope's SHA-256 is the item's address"
                );
            }
            if !flipped {
                // The check can fail: one changed byte anywhere is refused.
                let mut bad = message.clone();
                let at = bad.len() / 2;
                bad[at] ^= 0x01;
                assert!(
                    !openssl_verifies(work.path(), &key, &bad, &signature),
                    "OpenSSL accepted a flipped byte in the signed bytes of {}",
                    item["kind"]
                );
                let mut bad = signature.clone();
                bad[0] ^= 0x80;
                assert!(!openssl_verifies(work.path(), &key, &message, &bad));
                flipped = true;
            }
            *kinds.entry(str_of(item, "kind")).or_insert(0) += 1;
        }
    }
    assert!(
        flipped,
        "the export of {} holds no signed item",
        dir.display()
    );
    kinds
}

/// Checks the export of the approved SPM `doc` with the attachment `scan` in `dir`.
fn check_export(dir: &Path, doc: &str, scan: &[u8]) {
    let index = read_json(&dir.join("index.json"));
    let docs = index["documents"].as_array().expect("documents");
    let entry = docs
        .iter()
        .find(|d| d["doc_id"] == doc)
        .unwrap_or_else(|| panic!("{doc} missing from index.json: {index}"));
    assert_eq!(str_of(entry, "state"), "approved", "{entry}");
    assert_eq!(str_of(entry, "satker"), SATKER_CODE);
    assert_eq!(str_of(entry, "nomor"), "00001/SPM/2026");
    assert_eq!(str_of(entry, "nilai"), "7500000");
    assert_eq!(entry["ok"], Value::Bool(true), "{entry}");
    assert_eq!(index["verification"]["ok"], Value::Bool(true), "{index}");

    let folder = dir.join(str_of(entry, "folder"));
    let document = read_json(&folder.join("document.json"));
    assert_eq!(str_of(&document, "kind"), "spm");
    let states: Vec<String> = document["journey"]
        .as_array()
        .expect("journey")
        .iter()
        .map(|h| str_of(h, "state"))
        .collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("approved"),
        "{states:?}"
    );
    assert!(states.contains(&"received".to_string()), "{states:?}");
    let attachment = &document["attachments"][0];
    assert_eq!(attachment["complete"], Value::Bool(true), "{document}");
    let file = folder.join(str_of(attachment, "file"));
    assert_eq!(std::fs::read(&file).expect("the attachment file"), scan);

    // The delivery proof rides along, in the format `espm check-proof` reads.
    let proof = &document["delivery_proof"];
    assert_eq!(
        str_of(proof, "format"),
        "espm-delivery-proof/1",
        "{document}"
    );
    assert_eq!(str_of(proof, "doc_id"), doc);

    let kinds = verify_with_openssl(dir);
    for kind in [
        "document snapshot",
        "document signature",
        "certificate",
        "submission",
        "device enrollment",
        "receipt",
        "status update",
        "hub identity",
        "hub authority binding",
        "signing policy table",
    ] {
        assert!(kinds.contains_key(kind), "no {kind} exported: {kinds:?}");
    }
    assert_eq!(
        kinds["status update"], 5,
        "received and four stages: {kinds:?}"
    );

    let report = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(report.contains(doc) && report.contains("@media print"));
    assert!(!report.contains("http://") && !report.contains("https://"));
}

#[test]
fn an_export_verifies_with_openssl_on_the_auditor_the_satker_and_the_hub() {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    let doc = satker.new_spm("00001/SPM/2026", "7500000");
    let scan = pdf_bytes(200 * 1024);
    let path = satker.dir().with_file_name("kuitansi.pdf");
    std::fs::write(&path, &scan).expect("write the scan");
    satker.ok(&["draft", "attach", &doc, path.to_str().expect("utf-8")]);
    satker.sign(&doc, &serials.ppspm);
    satker.submit(&[&doc], &uri);
    satker.sync();
    take_and_approve(&hub, &doc);
    satker.sync();
    assert_eq!(satker.state(&doc), "approved");
    let auditor = auditor(&hub, SATKER_CODE);
    auditor.ok(&["sync", "--timeout", SYNC_TIMEOUT]);

    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().join("auditor-export");
    let v = auditor.ok(&["export", dir.to_str().expect("utf-8")]);
    assert_eq!(v["documents"], 1, "{v}");
    assert_eq!(PathBuf::from(str_of(&v, "dir")), dir);
    check_export(&dir, &doc, &scan);

    // A relative DIR is where the user typed it, also on the serving hub, whose own
    // working directory is elsewhere.
    let v = satker.ok_in(out.path(), &["export", "satker-export"]);
    assert_eq!(
        PathBuf::from(str_of(&v, "dir")),
        out.path().join("satker-export")
    );
    check_export(&out.path().join("satker-export"), &doc, &scan);
    let v = hub.ok_in(out.path(), &["export", "hub-export"]);
    assert_eq!(
        PathBuf::from(str_of(&v, "dir")),
        out.path().join("hub-export")
    );
    check_export(&out.path().join("hub-export"), &doc, &scan);
}

/// Every entry of `dir`, by name.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_non_empty_export_folder_is_refused_untouched_and_force_replaces_it() {
    let hub = start_hub();
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().join("export");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("keep.txt"), "mine").expect("write");
    let target = dir.to_str().expect("utf-8");

    let err = hub.fail(&["export", target]);
    assert_plain_error(&err, "export into a non-empty folder");
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(entries(&dir), ["keep.txt"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        entries(out.path()),
        ["export"],
        "no temporary folder left behind"
    );

    let v = hub.ok(&["export", target, "--force"]);
    assert_eq!(v["documents"], 0, "{v}");
    assert_eq!(entries(&dir), ["index.json", "report.html"]);
    assert_eq!(entries(out.path()), ["export"], "the old export is gone");

    // An empty folder is taken as it is; a file is not a folder.
    let empty = out.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    hub.ok(&["export", empty.to_str().expect("utf-8")]);
    assert_eq!(entries(&empty), ["index.json", "report.html"]);
    let file = out.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let err = hub.fail(&["export", file.to_str().expect("utf-8"), "--force"]);
    assert!(err.contains("not a folder"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}
