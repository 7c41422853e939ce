//! `sign` asks the judge with the table in force on the device, before the passphrase
//! is tried.

use std::sync::Arc;

use sync_protocol::{AllOf, AnyOf, DocKind, DocState, Jabatan, Policy};

use crate::{
    cli::{Command, Draft, SignArgs},
    node::Node,
    testkit::{run, World, SIGNER},
};

const SATKER: &str = "123456";

/// A new SPM draft on `device`; returns its id.
pub(crate) fn draft_spm(device: &Arc<Node>, nomor: &str) -> String {
    let out = run(
        device,
        Command::Draft(Draft::New {
            kind: "spm".into(),
            set: crate::testkit::spm_assignments(nomor, "1500000"),
        }),
        None,
    )
    .expect("draft new");
    out.json["doc_id"].as_str().expect("doc id").to_string()
}

/// `espm sign DOC --signer SERIAL` on `device` with the signer's passphrase.
pub(crate) fn sign(device: &Arc<Node>, doc_id: &str, serial: &str) -> crate::error::Result<()> {
    run(
        device,
        Command::Sign(SignArgs {
            doc_id: doc_id.into(),
            signer: serial.into(),
            place: None,
        }),
        Some(SIGNER),
    )
    .map(|_| ())
}

#[test]
fn a_certificate_whose_jabatan_the_distributed_table_does_not_want_may_not_sign() {
    // Under the defaults the PPSPM signs an SPM; this KPPN's table wants the KPA.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let mut kpa_only = Policy::default();
    kpa_only
        .rules
        .insert(DocKind::Spm, AllOf(vec![AnyOf(vec![Jabatan::Kpa])]));
    w.issue_policy(w.hub.now(), kpa_only);
    w.sync(&device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    let err = sign(&device, &doc, &ppspm.serial).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "a spm must be signed by KPA; certificate {} belongs to a PPSPM",
            ppspm.serial
        )
    );
    assert_eq!(World::doc(&device, &doc).state, DocState::Draft);
}

#[test]
fn the_same_certificate_signs_under_the_default_table() {
    // The control for the test above.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    assert_eq!(World::doc(&device, &doc).state, DocState::Signed);
}
