//! What an export says of documents `verify` fails, and of ids a hostile satker chose,
//! on in-process nodes (tests/export.rs drives real processes).

use std::sync::Arc;

use sync_protocol::{AllOf, AnyOf, DocKind, Jabatan, Policy, Timestamp};

use super::*;
use crate::testkit::World;

const SATKER: &str = "123456";

fn receipted(doc_id: &str) -> (World, Arc<Node>, Timestamp) {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    w.submit_spm(&device, &ppspm, doc_id, Vec::new());
    w.sync(&device);
    let delivered_at = w
        .hub_doc(SATKER, doc_id)
        .and_then(|r| r.delivered_at)
        .expect("the hub receipted the document");
    (w, device, delivered_at)
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
}

#[test]
fn a_document_that_fails_verification_is_exported_with_the_failure_named() {
    let (w, device, delivered_at) = receipted("spm-export-0001");
    // The authority says the SPM needed the KPA too, from before its receipt.
    let mut p = Policy::default();
    p.rules.insert(
        DocKind::Spm,
        AllOf(vec![AnyOf(vec![Jabatan::Ppspm]), AnyOf(vec![Jabatan::Kpa])]),
    );
    w.issue_policy(Timestamp(delivered_at.0 - 1), p);
    w.sync(&device);
    for node in [&w.hub, &device] {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("export");
        let done = export(node, &dir, false).unwrap();
        assert_eq!((done.documents, done.failing), (1, 1));
        let index = read(&dir.join("index.json"));
        assert_eq!(index["verification"]["ok"], false);
        assert_eq!(index["documents"][0]["ok"], false, "{index}");
        let folder = dir.join(index["documents"][0]["folder"].as_str().unwrap());
        let doc = read(&folder.join("document.json"));
        let failures = doc["verification"]["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 1, "{doc}");
        assert_eq!(failures[0]["kind"], "receipt");
        let receipt = doc["signed_items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "receipt")
            .expect("the receipt is exported");
        assert_eq!(failures[0]["item"], receipt["address"]);
        let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(report.contains("FAILS"), "{report}");
    }
}

#[test]
fn a_hostile_doc_id_and_attachment_name_are_exported_inside_the_export_folder() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let scan = b"%PDF-1.7\n a scan".to_vec();
    let att = w.attach(&device, "../../../../evil.pdf", &scan);
    w.submit_spm(&device, &ppspm, "../../../escaped", vec![att]);
    w.sync(&device);
    w.sync(&device);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    assert_eq!(export(&w.hub, &dir, false).unwrap().documents, 1);
    let index = read(&dir.join("index.json"));
    assert_eq!(index["documents"][0]["doc_id"], "../../../escaped");
    let folder = index["documents"][0]["folder"].as_str().unwrap();
    assert!(
        !folder.contains('/') && !folder.starts_with('.'),
        "{folder}"
    );
    let doc = read(&dir.join(folder).join("document.json"));
    let file = doc["attachments"][0]["file"]
        .as_str()
        .expect("the file is written");
    assert!(
        file.starts_with("attachments/") && !file[12..].contains('/'),
        "{file}"
    );
    assert_eq!(std::fs::read(dir.join(folder).join(file)).unwrap(), scan);
    let mut outside: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, ["export"], "nothing written beside the export");
}

#[test]
fn a_revocation_of_the_signers_certificate_is_exported_with_the_document() {
    let (w, device, delivered_at) = receipted("spm-export-0004");
    let serial = crate::docs::load(&w.hub.store, SATKER, "spm-export-0004")
        .unwrap()
        .unwrap()
        .signatures[0]
        .serial
        .clone();
    // Revoked after the receipt: what the hub received before stays valid.
    let revocation = sync_protocol::Revocation {
        target: sync_protocol::Revoked::Certificate(serial),
        at: Timestamp(delivered_at.0 + 1),
        reason: "pindah tugas".into(),
    };
    let authority = w.hub.authority(Some(crate::testkit::CSO)).unwrap();
    w.hub
        .store
        .write(|t| {
            let sealed = crate::hub::publish::issue(
                t,
                &authority,
                Item::Revocation(revocation.clone()),
                Some(&sync_protocol::StreamId::Trust),
            )?;
            crate::trust::record(t, &revocation, sealed.address);
            Ok(())
        })
        .unwrap();
    w.sync(&device);
    for node in [&w.hub, &device] {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("export");
        assert_eq!(export(node, &dir, false).unwrap().failing, 0);
        let index = read(&dir.join("index.json"));
        let folder = dir.join(index["documents"][0]["folder"].as_str().unwrap());
        let doc = read(&folder.join("document.json"));
        let revoked: Vec<&Value> = doc["signed_items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "revocation")
            .collect();
        assert_eq!(revoked.len(), 1, "{doc}");
        assert_eq!(revoked[0]["decoded"]["reason"], "pindah tugas");
        assert_eq!(doc["verification"]["ok"], true);
    }
}

#[test]
fn the_data_directory_or_a_folder_around_it_is_never_an_export_folder() {
    let (w, _, _) = receipted("spm-export-0003");
    let data = w.hub.dir.canonicalize().unwrap();
    for dir in [
        data.clone(),
        data.join("export"),
        data.parent().unwrap().to_path_buf(),
    ] {
        let err = export(&w.hub, &dir, true).unwrap_err();
        assert!(err.to_string().contains("data directory"), "{err}");
    }
    assert!(
        w.hub.store.items().next().is_some(),
        "the store is untouched"
    );
}

#[test]
fn a_relative_folder_is_refused_by_the_node_itself() {
    let (w, _, _) = receipted("spm-export-0002");
    let err = export(&w.hub, Path::new("relative"), false).unwrap_err();
    assert!(err.to_string().contains("not an absolute path"), "{err}");
}
