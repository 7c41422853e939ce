//! `submit` asks the judge, offline, what the hub will ask when it receives the
//! submission: with the table in force on the device and every revocation it knows.

use std::sync::Arc;

use sync_protocol::{
    AllOf, AnyOf, DocKind, DocState, Item, Jabatan, Policy, Revocation, Revoked, StreamId,
    Timestamp,
};

use crate::{
    cli::{Command, Operator, Operators, OperatorsArgs, SubmitArgs},
    hub::publish::issue,
    node::Node,
    satker::signing::tests::{draft_spm, sign},
    testkit::{run, World, CSO},
    trust,
};

const SATKER: &str = "123456";
pub(crate) const OPERATOR: &str = "operator02";

/// Operator [`OPERATOR`] added on `device` and activated by the hub's CSO; returns the
/// otpauth URI an authenticator app would read.
pub(crate) fn operator(w: &World, device: &Arc<Node>) -> String {
    let added = run(
        device,
        Command::Operator(Operator::Add {
            username: OPERATOR.into(),
            role: "operator-satker".into(),
            sk_penunjukan: None,
        }),
        None,
    )
    .expect("operator add");
    let uri = added.json["otpauth_uri"].as_str().expect("uri").to_string();
    let request_id = added.json["request_id"].as_str().expect("id").to_string();
    w.sync(device);
    run(
        &w.hub,
        Command::Operators(OperatorsArgs {
            action: Some(Operators::Approve { request_id }),
        }),
        Some(CSO),
    )
    .expect("operators approve");
    w.sync(device);
    uri
}

/// `espm submit DOC --operator operator02 --totp CODE` with the current code.
pub(crate) fn submit(device: &Arc<Node>, doc: &str, uri: &str) -> crate::error::Result<()> {
    let code = totp_rs::TOTP::from_url(uri)
        .expect("an otpauth URI")
        .generate_current()
        .expect("the clock");
    run(
        device,
        Command::Submit(SubmitArgs {
            doc_ids: vec![doc.to_string()],
            operator: OPERATOR.into(),
            totp: code,
        }),
        None,
    )
    .map(|_| ())
}

#[test]
fn a_document_that_misses_the_table_in_force_on_the_device_is_not_queued() {
    // The PPSPM may sign an SPM under this table, but it wants the KPA as well.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let uri = operator(&w, &device);
    let mut with_kpa = Policy::default();
    with_kpa.rules.insert(
        DocKind::Spm,
        AllOf(vec![AnyOf(vec![Jabatan::Ppspm]), AnyOf(vec![Jabatan::Kpa])]),
    );
    w.issue_policy(w.hub.now(), with_kpa);
    w.sync(&device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    let err = submit(&device, &doc, &uri).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("document {doc}: spm needs PPSPM, and KPA; present: PPSPM")
    );
    assert_eq!(World::doc(&device, &doc).state, DocState::Signed);
}

#[test]
fn a_signature_under_a_certificate_the_device_knows_is_revoked_is_not_queued_whatever_the_clocks_say(
) {
    // The hub's clock runs ahead: its revocation says it applies from an hour after the
    // device's now. The hub will receive the submission after the revocation anyway.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let uri = operator(&w, &device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    let revocation = Revocation {
        target: Revoked::Certificate(ppspm.serial.clone()),
        at: Timestamp(w.hub.now().0 + 3_600_000),
        reason: "pindah tugas".into(),
    };
    let authority = w.hub.authority(Some(CSO)).unwrap();
    w.hub
        .store
        .write(|t| {
            let sealed = issue(
                t,
                &authority,
                Item::Revocation(revocation.clone()),
                Some(&StreamId::Trust),
            )?;
            trust::record(t, &revocation, sealed.address);
            Ok(())
        })
        .unwrap();
    w.sync(&device);
    let err = submit(&device, &doc, &uri).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "document {doc} is signed with certificate {}, which was {}; sign it again with a valid certificate",
            ppspm.serial,
            // Told in the KPPN's zone (the testkit hub's is WIB).
            crate::clock::revoked_on(revocation.at, &revocation.reason, "Asia/Jakarta")
        )
    );
    assert!(err.to_string().contains(" WIB (pindah tugas)"), "{err}");
    assert_eq!(World::doc(&device, &doc).state, DocState::Signed);
}

#[test]
fn a_document_its_signatures_complete_is_queued() {
    // The control for the tests above.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let uri = operator(&w, &device);
    let doc = draft_spm(&device, "00001/SPM/2026");
    sign(&device, &doc, &ppspm.serial).unwrap();
    submit(&device, &doc, &uri).unwrap();
    assert_eq!(World::doc(&device, &doc).state, DocState::Queued);
}
