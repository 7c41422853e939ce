//! A rogue satker device: enrolled for one satker, it pushes what it may not author. The
//! hub stores only what the sending device may author for its own satker, so each of
//! these is refused with its reason and leaves nothing behind.

use crate::clock;
use std::sync::Arc;

use sync_protocol::{
    Address, Certificate, DeviceEnrollment, DocKind, DocSignature, HubIdentity, Jabatan, Receipt,
    Revocation, Revoked, SecretKey, StatusUpdate, Timestamp, AUTHORITY_BINDING_DOMAIN,
};

use super::{
    activate_operator, assert_refused, cert_request, enroll, hub, push, run, subject, OTHER_SATKER,
    SATKER,
};
use crate::{
    cli::{Certs, Command},
    hub::ingest::*,
    records::{DocRecord, RefusalRecord},
    satker::compose::{self, SignerRef},
};

/// A signer certified by the hub, with the key only the device that asked holds.
struct Signer {
    key: SecretKey,
    serial: String,
    jabatan: Jabatan,
}

impl Signer {
    fn as_ref(&self) -> SignerRef<'_> {
        SignerRef {
            serial: &self.serial,
            jabatan: self.jabatan,
            name: "Siti Rahma",
        }
    }
}

/// A document as its device left it once the snapshot was taken.
struct Doc {
    rec: DocRecord,
    snapshot: SignedItem,
}

/// A hub with a rogue device of satker A, an honest colleague device of the same
/// satker, and a device of satker B; a PPSPM certified for each satker through the
/// real request-and-approve path; and an SPM of each satker whose snapshot the hub
/// already holds.
struct World {
    _dir: tempfile::TempDir,
    hub: Arc<Node>,
    rogue: SecretKey,
    colleague: SecretKey,
    ppspm: Signer,
    other_ppspm: Signer,
    spm: Doc,
    other_spm: Doc,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let rogue = enroll(&hub, SATKER);
        let colleague = enroll(&hub, SATKER);
        let other = enroll(&hub, OTHER_SATKER);
        let ppspm = certify(&hub, &rogue, SATKER);
        // The hub takes submissions only from operators it activated for the device.
        activate_operator(
            &hub,
            &rogue,
            "operator01",
            sync_protocol::OperatorRole::OperatorSatker,
            SATKER,
        );
        let other_ppspm = certify(&hub, &other, OTHER_SATKER);
        let spm = snapshot(&rogue, SATKER);
        let other_spm = snapshot(&other, OTHER_SATKER);
        assert_stored(&hub, &rogue, &spm.snapshot);
        assert_stored(&hub, &other, &other_spm.snapshot);
        World {
            _dir: dir,
            hub,
            rogue,
            colleague,
            ppspm,
            other_ppspm,
            spm,
            other_spm,
        }
    }

    /// The PPSPM's signature over the satker's SPM, pushed by the rogue device as its
    /// own `sign` would have; the SPM's record now carries it.
    fn sign_spm(&mut self) -> SignedItem {
        let sealed = compose::sign(
            &mut self.spm.rec,
            self.spm.snapshot.address,
            self.ppspm.as_ref(),
            &self.ppspm.key,
            SATKER,
            clock::wall(),
        );
        assert_stored(&self.hub, &self.rogue, &sealed);
        sealed
    }
}

/// A PPSPM key made on `device` and certified for `satker`: the request goes through
/// the hub's checks like any pushed item, and the CSO approves it with `certs approve`.
fn certify(hub: &Arc<Node>, device: &SecretKey, satker: &str) -> Signer {
    let key = SecretKey::generate();
    let request = cert_request(device.public(), &key, Jabatan::Ppspm, satker);
    let request = SignedItem::seal(Item::CertRequest(request), &key);
    assert_stored(hub, device, &request);
    let approved = run(
        hub,
        Command::Certs(crate::cli::CertsArgs {
            action: Some(Certs::Approve {
                request_id: request.address.request_id(),
            }),
        }),
    );
    Signer {
        key,
        serial: approved.json["serial"].as_str().unwrap().to_string(),
        jabatan: Jabatan::Ppspm,
    }
}

/// A fresh SPM of `satker` frozen into a snapshot sealed by `author`.
fn snapshot(author: &SecretKey, satker: &str) -> Doc {
    let now = clock::wall();
    let doc_id = compose::new_doc_id(DocKind::Spm);
    let fields = crate::testkit::spm_fields("00001/SPM/2026", "99000000");
    Doc {
        rec: compose::draft_record(&doc_id, DocKind::Spm, satker, now),
        snapshot: compose::seal_snapshot(
            author,
            &doc_id,
            DocKind::Spm,
            satker,
            fields,
            Vec::new(),
            now,
        ),
    }
}

/// Pushes `item` from `device` and checks that the hub took it without a refusal.
fn assert_stored(hub: &Arc<Node>, device: &SecretKey, item: &SignedItem) {
    let refusals = push(hub, device, &[item]);
    assert!(refusals.is_empty(), "{refusals:?}");
    assert!(hub.store.item(&item.address).unwrap().is_some());
    let logged: Option<RefusalRecord> = crate::schema::REFUSALS
        .get(&hub.store, &item.address.to_hex())
        .unwrap();
    assert!(logged.is_none(), "{logged:?}");
}

/// A signature by `key` under `serial` as `jabatan` over `snapshot`, naming `doc_id`.
fn signature(
    key: &SecretKey,
    serial: &str,
    jabatan: Jabatan,
    doc_id: &str,
    snapshot: Address,
) -> SignedItem {
    let sig = DocSignature {
        doc_id: doc_id.into(),
        snapshot,
        serial: serial.into(),
        jabatan,
        signer_name: "Siti Rahma".into(),
        signed_at: clock::wall(),
        place: SATKER.into(),
    };
    SignedItem::seal(Item::Signature(sig), key)
}

fn enrolled_for_satker_a_not(claimed: &str) -> String {
    format!("this device is enrolled for satker {SATKER}, not {claimed}")
}

// Document snapshots.

#[test]
fn a_well_formed_snapshot_from_the_device_enrolled_for_its_satker_is_stored() {
    // The control for the snapshot refusals below: the same kind of snapshot, from the
    // right device for the right satker, is stored and published to that satker.
    let w = World::new();
    let spm = snapshot(&w.rogue, SATKER);
    let scope = StreamId::Scope(SATKER.into());
    let head_before = w.hub.store.head(&scope).unwrap();
    let log_before = w.hub.store.hub_log_len().unwrap();
    assert_stored(&w.hub, &w.rogue, &spm.snapshot);
    let head = w.hub.store.head(&scope).unwrap();
    assert_eq!(head, head_before + 1);
    let entry = w.hub.store.entry(&scope, head).unwrap().unwrap();
    assert_eq!(entry.address, spm.snapshot.address);
    assert_eq!(entry.origin, Some(w.rogue.public()));
    assert_eq!(w.hub.store.hub_log_len().unwrap(), log_before + 1);
}

#[test]
fn a_snapshot_for_another_satker_is_refused_naming_both() {
    let w = World::new();
    let spm = snapshot(&w.rogue, OTHER_SATKER);
    assert_refused(
        &w.hub,
        &w.rogue,
        &spm.snapshot,
        &enrolled_for_satker_a_not(OTHER_SATKER),
    );
}

#[test]
fn a_snapshot_signed_by_another_key_than_the_sending_devices_is_refused() {
    // Signed by a key the hub knows nothing of, for the device's own satker: only the
    // author differs from the stored control above.
    let w = World::new();
    let spm = snapshot(&SecretKey::generate(), SATKER);
    assert_refused(
        &w.hub,
        &w.rogue,
        &spm.snapshot,
        "document snapshot was not authored by the sending device",
    );
}

#[test]
fn a_snapshot_an_honest_colleague_device_authored_cannot_be_pushed_by_the_rogue() {
    // Another device of the same satker is enrolled, but each device speaks for itself:
    // what it authored reaches the hub from it, not relayed through another device.
    let w = World::new();
    let spm = snapshot(&w.colleague, SATKER);
    assert_refused(
        &w.hub,
        &w.rogue,
        &spm.snapshot,
        "document snapshot was not authored by the sending device",
    );
}

#[test]
fn a_forged_snapshot_that_misses_a_field_of_the_schema_is_refused_naming_it() {
    // A rogue device seals a snapshot directly, skipping `sign`'s check; the hub checks
    // it again by the field schemas it issued.
    let w = World::new();
    let seal = |fields| {
        compose::seal_snapshot(
            &w.rogue,
            "spm-0123456789ab",
            DocKind::Spm,
            SATKER,
            fields,
            Vec::new(),
            clock::wall(),
        )
    };
    let mut missing = crate::testkit::spm_fields("00009/SPM/2026", "99000000");
    missing.remove("npwp");
    assert_refused(
        &w.hub,
        &w.rogue,
        &seal(missing),
        "document spm-0123456789ab: field npwp is missing; expected an NPWP of 15 or 16 digits, without dots or dashes",
    );
    let mut unbalanced = crate::testkit::spm_fields("00009/SPM/2026", "99000000");
    unbalanced.insert("akun".into(), "525111:1".into());
    assert_refused(
        &w.hub,
        &w.rogue,
        &seal(unbalanced),
        "document spm-0123456789ab: field akun adds up to 1 rupiah but nilai is 99000000; the akun lines must add up to nilai",
    );
    let mut card = crate::testkit::spm_fields("00009/SPM/2026", "99000000");
    card.insert("uraian".into(), "kartu 4111 1111 1111 1111".into());
    assert_refused(
        &w.hub,
        &w.rogue,
        &seal(card),
        "document spm-0123456789ab: field uraian holds what looks like a payment-card number; payment-card data never belongs in a document",
    );
}

// Submissions.

#[test]
fn a_submission_of_its_own_signed_document_from_its_device_is_delivered() {
    // The control for the submission refusals below, which vary one thing each.
    let mut w = World::new();
    w.sign_spm();
    let (_, sealed) = compose::seal_submission(
        &w.rogue,
        SATKER,
        "operator01",
        &[w.spm.rec.clone()],
        clock::wall(),
    )
    .unwrap();
    assert_stored(&w.hub, &w.rogue, &sealed);
    let rec: DocRecord = crate::docs::load(&w.hub.store, SATKER, &w.spm.rec.doc_id)
        .unwrap()
        .unwrap();
    assert_eq!(rec.state, sync_protocol::DocState::Delivered);
}

#[test]
fn a_submission_for_another_satker_is_refused_naming_both() {
    let mut w = World::new();
    w.sign_spm();
    let (_, sealed) = compose::seal_submission(
        &w.rogue,
        OTHER_SATKER,
        "operator01",
        &[w.spm.rec.clone()],
        clock::wall(),
    )
    .unwrap();
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        &enrolled_for_satker_a_not(OTHER_SATKER),
    );
}

#[test]
fn a_submission_signed_by_another_key_than_the_sending_devices_is_refused() {
    // The colleague's device key: a submission is the act of the device that makes it.
    let mut w = World::new();
    w.sign_spm();
    let (_, sealed) = compose::seal_submission(
        &w.colleague,
        SATKER,
        "operator01",
        &[w.spm.rec.clone()],
        clock::wall(),
    )
    .unwrap();
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "submission was not authored by the sending device",
    );
}

// Certificate requests.

#[test]
fn a_certificate_request_not_signed_by_the_key_it_asks_to_certify_is_refused() {
    // Without proof of possession a device could get someone else's key certified.
    let w = World::new();
    let key = SecretKey::generate();
    let request = cert_request(w.rogue.public(), &key, Jabatan::Ppspm, SATKER);
    let sealed = SignedItem::seal(Item::CertRequest(request), &w.rogue);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "certificate request is not signed by the key it asks to certify",
    );
}

#[test]
fn a_certificate_request_naming_another_device_is_refused() {
    // The request names where the key lives; the rogue may not say it lives on a
    // colleague's device.
    let w = World::new();
    let key = SecretKey::generate();
    let request = cert_request(w.colleague.public(), &key, Jabatan::Ppspm, SATKER);
    let sealed = SignedItem::seal(Item::CertRequest(request), &key);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "certificate request names another device",
    );
}

#[test]
fn a_certificate_request_for_another_satker_is_refused_naming_both() {
    let w = World::new();
    let key = SecretKey::generate();
    let request = cert_request(w.rogue.public(), &key, Jabatan::Ppspm, OTHER_SATKER);
    let sealed = SignedItem::seal(Item::CertRequest(request), &key);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        &enrolled_for_satker_a_not(OTHER_SATKER),
    );
}

#[test]
fn a_certificate_request_with_a_17_digit_nip_is_refused_naming_the_field() {
    let w = World::new();
    let key = SecretKey::generate();
    let mut request = cert_request(w.rogue.public(), &key, Jabatan::Ppspm, SATKER);
    request.subject.nip = "19800101200501200".into();
    let sealed = SignedItem::seal(Item::CertRequest(request), &key);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "invalid NIP '19800101200501200': must be exactly 18 digits",
    );
}

#[test]
fn a_certificate_request_with_a_private_e_mail_is_refused_naming_the_field() {
    let w = World::new();
    let key = SecretKey::generate();
    let mut request = cert_request(w.rogue.public(), &key, Jabatan::Ppspm, SATKER);
    request.subject.email = "siti@gmail.com".into();
    let sealed = SignedItem::seal(Item::CertRequest(request), &key);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "invalid e-mail 'siti@gmail.com': must be an official address under go.id, mil.id or ac.id",
    );
}

// Items only the hub issues. (Signatures are in `signatures.rs`.)

#[test]
fn a_certificate_a_satker_device_issued_itself_is_refused_and_signs_nothing() {
    // The rogue writes itself a PPSPM certificate for a key of its own choosing.
    let w = World::new();
    let key = SecretKey::generate();
    let now = clock::wall();
    let forged = Certificate {
        serial: "019-900001".into(),
        subject: subject(Jabatan::Ppspm, SATKER),
        satker: SATKER.into(),
        kppn: "019".into(),
        key: key.public(),
        request: w.spm.snapshot.address,
        valid_from: now,
        valid_until: Timestamp(now.0 + 3_600_000),
    };
    let forged = SignedItem::seal(Item::Certificate(forged), &w.rogue);
    assert_refused(
        &w.hub,
        &w.rogue,
        &forged,
        "a satker device may not author a certificate",
    );
    // Refused, it certifies nothing: a signature under its serial finds no certificate.
    let sealed = signature(
        &key,
        "019-900001",
        Jabatan::Ppspm,
        &w.spm.rec.doc_id,
        w.spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "certificate 019-900001 is unknown to the hub",
    );
}

#[test]
fn no_item_only_the_hub_authority_issues_is_stored_from_a_satker_device() {
    let w = World::new();
    let now = clock::wall();
    let enrollment = DeviceEnrollment {
        node_id: SecretKey::generate().public(),
        role: sync_protocol::DeviceRole::Satker {
            satker: OTHER_SATKER.into(),
        },
        enrolled_at: now,
    };
    let revocation = Revocation {
        target: Revoked::Device(w.colleague.public()),
        at: now,
        reason: "laptop dicuri".into(),
    };
    let receipt = Receipt {
        submission: w.spm.snapshot.address,
        submission_id: "sub-000000000000".into(),
        satker: SATKER.into(),
        doc_ids: vec![w.spm.rec.doc_id.clone()],
        delivered_at: now,
        log_seq: 1,
        log_hash: w.spm.snapshot.address,
    };
    let status = StatusUpdate {
        doc_id: w.spm.rec.doc_id.clone(),
        satker: SATKER.into(),
        state: sync_protocol::DocState::Approved,
        at: now,
        reason: None,
        by: "kppn".into(),
    };
    let identity = HubIdentity {
        kppn: "019".into(),
        name: "KPPN Palsu".into(),
        tz: "Asia/Jakarta".into(),
        node_id: w.rogue.public(),
        authority: w.rogue.public(),
        service: w.rogue.public(),
        binding_sig: w
            .rogue
            .sign(AUTHORITY_BINDING_DOMAIN, &w.rogue.public().0)
            .to_vec(),
    };
    for (item, name) in [
        (Item::Enrollment(enrollment), "device enrollment"),
        (Item::Revocation(revocation), "revocation"),
        (Item::Receipt(receipt), "receipt"),
        (Item::Status(status), "status update"),
        (Item::HubIdentity(identity), "hub identity"),
    ] {
        let sealed = SignedItem::seal(item, &w.rogue);
        assert_refused(
            &w.hub,
            &w.rogue,
            &sealed,
            &format!("a satker device may not author a {name}"),
        );
    }
}

#[test]
fn a_signing_policy_table_a_satker_device_issued_itself_is_refused() {
    // The rogue writes itself a table under which its PPSPM alone signs a Gaji.
    let w = World::new();
    let mut lax = sync_protocol::Policy::default();
    lax.rules.insert(
        DocKind::Gaji,
        sync_protocol::AllOf(vec![sync_protocol::AnyOf(vec![Jabatan::Ppspm])]),
    );
    let table = sync_protocol::PolicyTable {
        issued_at: clock::wall(),
        policy: lax,
    };
    let sealed = SignedItem::seal(Item::PolicyTable(table), &w.rogue);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "a satker device may not author a signing policy table",
    );
    assert_eq!(w.hub.policy().unwrap(), sync_protocol::Policy::default());
}

#[test]
fn a_field_schema_table_a_satker_device_issued_itself_is_refused() {
    // The rogue writes itself schemas under which an SPM needs no NPWP.
    let w = World::new();
    let mut lax = sync_protocol::FieldSchemas::default();
    let spm = lax.kinds.get_mut(&DocKind::Spm).unwrap();
    spm.0.retain(|f| f.name != "npwp");
    let table = sync_protocol::FieldSchemaTable {
        issued_at: clock::wall(),
        schemas: lax,
    };
    let sealed = SignedItem::seal(Item::FieldSchemaTable(table), &w.rogue);
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "a satker device may not author a field schema table",
    );
    let in_force = crate::fields::newest(&w.hub.store).unwrap().unwrap();
    assert_eq!(in_force.schemas, sync_protocol::FieldSchemas::default());
}

mod signatures;
