//! Removing fields and attachments, and what an edit does to a signed document: edited
//! after signing is not signed.

use sync_protocol::DocState;

use crate::{
    cli::{Command, Draft},
    satker::{
        documents,
        signing::tests::{draft_spm, sign},
        submit::tests::{operator, submit},
        upload::Upload,
    },
    testkit::{run, World},
};

const SATKER: &str = "123456";

fn pdf() -> Upload {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(2_000, b'x');
    Upload {
        name: "lampiran.pdf".into(),
        bytes,
    }
}

#[test]
fn unset_removes_the_fields_named_and_refuses_one_the_draft_lacks_naming_it() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let doc = draft_spm(&device, "00001/SPM/2026");
    documents::set(&device, &doc, &["uraian=Belanja ATK".into()]).unwrap();

    let err = documents::unset(&device, &doc, &["uraian".into(), "keterangan".into()]).unwrap_err();
    let fields: Vec<String> = documents::show(&device, &doc)
        .unwrap()
        .fields
        .into_keys()
        .collect();
    assert_eq!(
        err.to_string(),
        format!(
            "draft {doc} has no field keterangan; its fields are {}. Nothing was removed",
            fields.join(", ")
        )
    );
    // All or none: uraian is still there.
    assert!(documents::show(&device, &doc)
        .unwrap()
        .fields
        .contains_key("uraian"));

    documents::unset(&device, &doc, &["uraian".into()]).unwrap();
    let shown = documents::show(&device, &doc).unwrap();
    let without: Vec<&String> = fields.iter().filter(|f| *f != "uraian").collect();
    assert_eq!(
        shown.fields.keys().collect::<Vec<_>>(),
        without,
        "{shown:?}"
    );
}

#[test]
fn detach_removes_the_attachment_and_refuses_a_hash_the_draft_lacks() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let doc = draft_spm(&device, "00001/SPM/2026");
    let att = documents::attach(&device, &doc, &pdf()).unwrap();

    let wrong = "ab".repeat(32);
    let err = documents::detach(&device, &doc, &wrong).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "draft {doc} has no attachment with SHA-256 {wrong}; its attachments are {} (lampiran.pdf). `espm draft show {doc}` lists them",
            att.sha256
        )
    );
    // The hash as people may type it, in capitals.
    documents::detach(&device, &doc, &att.sha256.to_uppercase()).unwrap();
    assert!(documents::show(&device, &doc)
        .unwrap()
        .attachments
        .is_empty());
    let err = documents::detach(&device, &doc, &att.sha256).unwrap_err();
    assert!(err.to_string().contains("it has no attachments"), "{err}");
}

#[test]
fn a_signed_document_edited_is_a_draft_again_with_its_signature_kept_as_no_longer_matching() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    assert_eq!(World::doc(&device, &doc).state, DocState::Signed);

    documents::set(
        &device,
        &doc,
        &["uraian=Belanja ATK kantor, dikoreksi".into()],
    )
    .unwrap();
    let rec = World::doc(&device, &doc);
    assert_eq!(rec.state, DocState::Draft);
    assert!(rec.signatures.is_empty());
    assert_eq!(rec.superseded.len(), 1);
    let last = rec.history.last().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some(
            format!(
                "edited after signing; the signature of Siti Rahma (PPSPM, certificate {}) no longer matches",
                ppspm.serial
            )
            .as_str()
        )
    );
    let shown = run(
        &device,
        Command::Draft(Draft::Show {
            doc_id: doc.clone(),
        }),
        None,
    )
    .unwrap();
    assert_eq!(shown.json["state"], "draft", "{}", shown.json);
    assert_eq!(
        shown.json["signatures"][0]["matches"], false,
        "{}",
        shown.json
    );
    assert!(shown.text.contains("no longer matches"), "{}", shown.text);

    // Signed again, the new signature matches and the old one stays shown.
    sign(&device, &doc, &ppspm.serial).unwrap();
    let rec = World::doc(&device, &doc);
    assert_eq!(rec.state, DocState::Signed);
    assert_eq!((rec.signatures.len(), rec.superseded.len()), (1, 1));
}

#[test]
fn unset_attach_and_detach_on_a_signed_document_each_make_it_a_draft_again() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let edits: [&dyn Fn(&str); 3] = [
        &|doc| {
            documents::unset(&device, doc, &["nilai".into()]).unwrap();
        },
        &|doc| {
            documents::attach(&device, doc, &pdf()).unwrap();
        },
        &|doc| {
            let sha = documents::show(&device, doc).unwrap().attachments[0]
                .sha256
                .clone();
            documents::detach(&device, doc, &sha).unwrap();
        },
    ];
    for (i, edit) in edits.iter().enumerate() {
        let doc = draft_spm(&device, &format!("0000{i}/SPM/2026"));
        if i == 2 {
            documents::attach(&device, &doc, &pdf()).unwrap();
        }
        sign(&device, &doc, &ppspm.serial).unwrap();
        edit(&doc);
        assert_eq!(World::doc(&device, &doc).state, DocState::Draft, "edit {i}");
    }
}

#[test]
fn setting_a_field_to_the_value_it_was_signed_with_keeps_the_document_signed() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    documents::set(&device, &doc, &["nilai=1500000".into()]).unwrap();
    assert_eq!(World::doc(&device, &doc).state, DocState::Signed);
}

#[test]
fn a_document_edited_after_signing_is_not_submitted() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let uri = operator(&w, &device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    documents::set(&device, &doc, &["uraian=diubah".into()]).unwrap();
    let err = submit(&device, &doc, &uri).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("document {doc} is draft; only signed documents can be submitted")
    );
}

#[test]
fn every_signature_is_shown_with_signer_jabatan_serial_time_and_place_on_a_second_device_the_hub_and_an_auditor(
) {
    let mut w = World::new();
    let a = w.satker(SATKER);
    let b = w.satker(SATKER);
    let audit = w.auditor(&[SATKER]);
    let ppspm = w.ppspm(&a);
    let uri = operator(&w, &a);
    let doc = draft_spm(&a, "00001/SPM/2026");
    w.sync(&a);
    w.sync(&b);
    sign(&a, &doc, &ppspm.serial).unwrap();
    submit(&a, &doc, &uri).unwrap();
    w.sync(&a);
    w.sync(&b);
    w.sync(&audit);
    w.sync(&audit);

    let on_a = run(
        &a,
        Command::Draft(Draft::Show {
            doc_id: doc.clone(),
        }),
        None,
    )
    .unwrap();
    let want = &on_a.json["signatures"];
    assert_eq!(want[0]["serial"], ppspm.serial.as_str(), "{want}");
    assert_eq!(want[0]["place"], SATKER, "{want}");
    for (who, node, id) in [
        ("a second device", &b, doc.clone()),
        ("the hub", &w.hub, format!("{SATKER}/{doc}")),
        ("an auditor", &audit, doc.clone()),
    ] {
        let shown = run(node, Command::Draft(Draft::Show { doc_id: id }), None)
            .unwrap_or_else(|e| panic!("draft show on {who}: {e}"));
        assert_eq!(&shown.json["signatures"], want, "on {who}");
        assert_eq!(
            shown.json["signatures"][0]["name"], "Siti Rahma",
            "on {who}"
        );
        assert_eq!(shown.json["signatures"][0]["jabatan"], "ppspm", "on {who}");
        assert!(
            shown.text.contains(&format!(
                "signed by Siti Rahma (PPSPM, certificate {})",
                ppspm.serial
            )),
            "on {who}: {}",
            shown.text
        );
        assert_eq!(shown.json["fields"]["nomor"], "00001/SPM/2026", "on {who}");
    }
}

#[test]
fn the_list_says_what_each_document_waits_for_as_it_goes() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let uri = operator(&w, &device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    // A second draft, so the list is more than one line.
    draft_spm(&device, "00002/SPM/2026");
    let list = |state: Option<&str>| {
        run(
            &device,
            Command::Draft(Draft::List {
                state: state.map(str::to_string),
            }),
            None,
        )
        .unwrap()
    };
    let waiting = || {
        let out = list(None);
        out.json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["doc_id"] == doc.as_str())
            .map(|r| r["waiting_for"].as_str().unwrap().to_string())
            .unwrap()
    };
    let out = list(None);
    let first = &out.json[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["doc_id", "kind", "nilai", "nomor", "state", "waiting_for"],
        "{first}"
    );
    assert_eq!(waiting(), "PPSPM signature");
    assert!(out.text.contains("00001/SPM/2026"), "{}", out.text);

    sign(&device, &doc, &ppspm.serial).unwrap();
    assert_eq!(waiting(), "TOTP submit");
    let signed = list(Some("signed"));
    assert_eq!(signed.json.as_array().unwrap().len(), 1, "{}", signed.json);
    assert_eq!(signed.json[0]["nomor"], "00001/SPM/2026");
    assert_eq!(signed.json[0]["nilai"], "1500000");

    submit(&device, &doc, &uri).unwrap();
    assert_eq!(waiting(), "sync");
    w.sync(&device);
    assert_eq!(waiting(), "KPPN to take it in");

    // status without an id: the same rows, beside each journey.
    let status = run(
        &device,
        Command::Status(crate::cli::StatusArgs { doc_id: None }),
        None,
    )
    .unwrap();
    let rows = status.json.as_array().unwrap();
    assert!(rows
        .iter()
        .all(|r| r["history"].is_array() && r["waiting_for"].is_string()));
    assert!(status.text.starts_with("DOCUMENT"), "{}", status.text);
    assert!(status.text.contains("PPSPM signature"), "{}", status.text);
}

#[test]
fn a_signature_the_policy_does_not_count_leaves_the_document_waiting_for_the_one_it_needs() {
    // This KPPN's table wants the PPSPM and the KPA on an SPM: signed by the PPSPM, it
    // still waits for the KPA.
    use sync_protocol::{AllOf, AnyOf, DocKind, Jabatan, Policy};
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let mut table = Policy::default();
    table.rules.insert(
        DocKind::Spm,
        AllOf(vec![AnyOf(vec![Jabatan::Ppspm]), AnyOf(vec![Jabatan::Kpa])]),
    );
    w.issue_policy(w.hub.now(), table);
    w.sync(&device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    let listed = crate::docs::list::list(&device, None).unwrap();
    assert_eq!(listed.rows[0].waiting_for, "KPA signature");
    let err = crate::docs::list::list(&device, Some("signd")).unwrap_err();
    assert!(err.to_string().contains("signd"), "{err}");
}

#[test]
fn a_device_that_never_synced_lists_its_drafts_as_waiting_for_the_policy_table() {
    // Not enrolled anywhere: it has never heard of the hub's signing policy table.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::NodeConfig::Satker {
        satker: SATKER.into(),
        hub: "127.0.0.1:4433".into(),
        hub_id: sync_protocol::SecretKey::generate().public(),
    };
    let node = std::sync::Arc::new(
        crate::node::Node::create(dir.path(), config, None)
            .unwrap()
            .0,
    );
    let doc = draft_spm(&node, "00001/SPM/2026");
    let listed = crate::docs::list::list(&node, None).unwrap();
    assert_eq!(listed.rows[0].doc_id, doc);
    assert_eq!(
        listed.rows[0].waiting_for,
        "sync (the signing policy table)"
    );
    run(
        &node,
        Command::Status(crate::cli::StatusArgs { doc_id: None }),
        None,
    )
    .unwrap();
}
