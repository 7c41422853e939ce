//! `verify` judging receipted documents again: by the signing policy table in force when
//! the hub received them, and by the revocations known at that moment.
//!
//! How a receipted document comes to miss its table, honestly: the hub's authority
//! signs a table (or a revocation) saying it was in force from a moment before a receipt
//! the hub had already issued under the old rules. Either the receipt or the authority's
//! statement is wrong, and an auditor cannot tell which; `verify` must say that they
//! disagree, naming the document. Nothing else in the stores is touched.

use sync_protocol::{
    AllOf, AnyOf, DocKind, Item, Jabatan, Policy, Revocation, Revoked, StreamId, Timestamp,
};

use super::*;
use crate::{hub::publish::issue, testkit::World};

const SATKER: &str = "123456";

fn spm_also_needs_the_kpa() -> Policy {
    let mut p = Policy::default();
    p.rules.insert(
        DocKind::Spm,
        AllOf(vec![AnyOf(vec![Jabatan::Ppspm]), AnyOf(vec![Jabatan::Kpa])]),
    );
    p
}

/// A hub and a satker device whose SPM, signed by its PPSPM, the hub has receipted;
/// returns the world, the device, the PPSPM's serial, the document and its receipt time.
fn receipted() -> (World, Arc<Node>, String, String, Timestamp) {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let doc = w.submit_spm(&device, &ppspm, "spm-verify-0001", Vec::new());
    w.sync(&device);
    let delivered_at = w
        .hub_doc(SATKER, &doc)
        .and_then(|r| r.delivered_at)
        .expect("the hub receipted the document");
    assert!(verify(&w.hub).unwrap().ok());
    (w, device, ppspm.serial, doc, delivered_at)
}

use std::sync::Arc;

#[test]
fn a_receipted_document_that_misses_the_table_in_force_at_its_receipt_fails_verification() {
    let (mut w, device, _, doc, delivered_at) = receipted();
    // In force from one millisecond before the receipt: the SPM needed the KPA too.
    w.issue_policy(Timestamp(delivered_at.0 - 1), spm_also_needs_the_kpa());
    let auditor = w.auditor(&[SATKER]);
    // Its first sync learnt its scope; this one brings the satker's documents.
    w.sync(&auditor);
    assert!(crate::docs::load(&auditor.store, SATKER, &doc)
        .unwrap()
        .is_some());
    w.sync(&device);
    for node in [&w.hub, &device, &auditor] {
        let v = verify(node).unwrap();
        assert!(!v.ok(), "{v:?}");
        assert_eq!(v.failures.len(), 1, "{v:?}");
        let f = &v.failures[0];
        assert_eq!(f.kind, "receipt");
        assert_eq!(
            f.reason,
            format!(
                "document {doc} is delivered by receipt of {}, but the signatures that count then miss the signing policy in force: spm needs PPSPM, and KPA; present: PPSPM",
                clock::rfc3339(delivered_at)
            )
        );
    }
}

#[test]
fn a_table_issued_after_a_receipt_leaves_the_documents_received_before_it_verified() {
    // A legitimate change of the rules: what the hub took under the old table stays
    // valid.
    let (w, device, _, _, delivered_at) = receipted();
    w.issue_policy(Timestamp(delivered_at.0 + 1), spm_also_needs_the_kpa());
    w.sync(&device);
    for node in [&w.hub, &device] {
        let v = verify(node).unwrap();
        assert!(v.ok(), "{v:?}");
    }
}

#[test]
fn a_signature_whose_certificate_was_revoked_before_its_receipt_fails_verification() {
    // The authority says the PPSPM's certificate was revoked a millisecond before the
    // hub received the SPM it counted.
    let (w, device, serial, doc, delivered_at) = receipted();
    let authority = w.hub.authority(Some(crate::testkit::CSO)).unwrap();
    let revocation = Revocation {
        target: Revoked::Certificate(serial.clone()),
        at: Timestamp(delivered_at.0 - 1),
        reason: "kunci mungkin bocor".into(),
    };
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
    for node in [&w.hub, &device] {
        let v = verify(node).unwrap();
        let signature = v
            .failures
            .iter()
            .find(|f| f.kind == "document signature")
            .unwrap_or_else(|| panic!("{v:?}"));
        assert_eq!(
            signature.reason,
            format!(
                "document {doc} counts this signature by receipt of {}, but certificate {serial} was {} before that",
                clock::rfc3339(delivered_at),
                sync_protocol::revoked_on(revocation.at, &revocation.reason)
            )
        );
        // Without that signature the document has no PPSPM either.
        assert!(
            v.failures.iter().any(|f| f.kind == "receipt"
                && f.reason
                    .ends_with("spm needs PPSPM; present: no signatures")),
            "{v:?}"
        );
    }
}

#[test]
fn a_policy_table_not_signed_by_the_hub_authority_fails_verification() {
    // Planted straight into the hub's store, past every check that would refuse it.
    let (w, _, _, _, _) = receipted();
    let forged = sync_protocol::SignedItem::seal(
        Item::PolicyTable(sync_protocol::PolicyTable {
            issued_at: Timestamp(0),
            policy: Policy::default(),
        }),
        w.hub.service.as_ref().unwrap(),
    );
    w.hub
        .store
        .write(|t| t.put_item(&forged.bytes).map(|_| ()))
        .unwrap();
    let v = verify(&w.hub).unwrap();
    assert_eq!(
        v.failures,
        vec![Failure {
            item: forged.address.to_hex(),
            kind: "signing policy table",
            reason: "not signed by the pinned hub authority".into(),
            evidence: Vec::new(),
        }]
    );
}

#[test]
fn a_field_schema_table_not_signed_by_the_hub_authority_fails_verification() {
    // Planted straight into the hub's store, past every check that would refuse it.
    let (w, _, _, _, _) = receipted();
    let forged = sync_protocol::SignedItem::seal(
        Item::FieldSchemaTable(sync_protocol::FieldSchemaTable {
            issued_at: Timestamp(0),
            schemas: sync_protocol::FieldSchemas::default(),
        }),
        w.hub.service.as_ref().unwrap(),
    );
    w.hub
        .store
        .write(|t| t.put_item(&forged.bytes).map(|_| ()))
        .unwrap();
    let v = verify(&w.hub).unwrap();
    assert_eq!(
        v.failures,
        vec![Failure {
            item: forged.address.to_hex(),
            kind: "field schema table",
            reason: "not signed by the pinned hub authority".into(),
            evidence: Vec::new(),
        }]
    );
}
