//! An auditor device is read-only: whatever it pushes, the hub refuses and keeps nothing.

use sync_protocol::{
    CertRequest, DocKind, DocSignature, FrameItem, Jabatan, Replica, SecretKey, Subject,
};

use super::{hub, SATKER};
use crate::{
    clock,
    hub::{ingest::*, replica::HubReplica},
    records::RefusalRecord,
    satker::compose,
};

const AUDITOR_REFUSAL: &str = "auditor devices are read-only; the hub stores nothing they send";

/// What an auditor device could craft with its own key: a certificate request for a
/// signing key of its own, a document snapshot and a signature over it, and an operator
/// activation request, all for the satker it is allowed to read.
fn crafted_by(auditor: &SecretKey) -> Vec<SignedItem> {
    let now = clock::wall();
    let request = CertRequest {
        subject: Subject {
            name: "Siti Rahma".into(),
            nik: "3171234567890123".into(),
            nip: "198001012005012001".into(),
            email: "siti@kemenkeu.go.id".into(),
            jabatan: Jabatan::Ppspm,
            unit: SATKER.into(),
            instansi: "Kementerian Keuangan".into(),
        },
        satker: SATKER.into(),
        device: auditor.public(),
        key: auditor.public(),
        requested_at: now,
    };
    let fields = crate::testkit::spm_fields("00001/SPM/2026", "99000000");
    let snapshot = compose::seal_snapshot(
        auditor,
        "spm-0123456789ab",
        DocKind::Spm,
        SATKER,
        fields,
        Vec::new(),
        now,
    );
    let signature = DocSignature {
        doc_id: "spm-0123456789ab".into(),
        snapshot: snapshot.address,
        serial: "019-000001".into(),
        jabatan: Jabatan::Ppspm,
        signer_name: "Siti Rahma".into(),
        signed_at: now,
        place: SATKER.into(),
    };
    vec![
        SignedItem::seal(Item::CertRequest(request), auditor),
        snapshot,
        SignedItem::seal(Item::Signature(signature), auditor),
        super::operator_request(
            auditor.public(),
            auditor,
            "operator01",
            sync_protocol::OperatorRole::OperatorSatker,
            SATKER,
        ),
    ]
}

#[test]
fn the_hub_refuses_everything_an_auditor_pushes_and_stores_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path());
    // What the hub logged of its own (its signing policy table) before the auditor.
    let logged_before = hub.store.hub_log_len().unwrap();
    let auditor = SecretKey::generate();
    let role = DeviceRole::Auditor {
        scope: vec![SATKER.into()],
    };
    let mut replica = HubReplica::new(hub.clone(), auditor.public(), role);
    let stream = StreamId::Origin(auditor.public());
    // The session declines an auditor's stream in its first answer ...
    assert_eq!(replica.accepts(&stream).unwrap(), None);

    // ... and should items arrive anyway, each is refused on its own, naming why.
    let crafted = crafted_by(&auditor);
    let frame: Vec<FrameItem> = crafted
        .iter()
        .zip(1..)
        .map(|(item, seq)| FrameItem {
            seq,
            bytes: item.bytes.clone(),
        })
        .collect();
    let refusals = replica
        .receive(&stream, &frame, crafted.len() as u64)
        .unwrap();
    assert_eq!(refusals.len(), crafted.len(), "{refusals:?}");
    for (refusal, (item, seq)) in refusals.iter().zip(crafted.iter().zip(1..)) {
        assert_eq!(refusal.seq, seq);
        assert_eq!(refusal.address, item.address);
        assert_eq!(refusal.reason, AUDITOR_REFUSAL);
        assert_eq!(hub.store.item(&item.address).unwrap(), None);
        let logged: RefusalRecord = crate::schema::REFUSALS
            .get(&hub.store, &item.address.to_hex())
            .unwrap()
            .unwrap();
        assert_eq!(logged.reason, AUDITOR_REFUSAL);
        assert_eq!(logged.device, Some(auditor.public().to_hex()));
    }
    assert_eq!(hub.store.hub_log_len().unwrap(), logged_before);
    assert_eq!(hub.store.head(&StreamId::Scope(SATKER.into())).unwrap(), 0);
    let requests = crate::schema::REQUESTS.list(&hub.store, "").unwrap();
    assert!(requests.is_empty(), "{requests:?}");
    let docs = crate::schema::DOCS.list(&hub.store, "").unwrap();
    assert!(docs.is_empty(), "{docs:?}");
}

#[test]
fn the_request_an_auditor_crafted_would_pass_from_a_satker_device() {
    // The control for the test above: the refusal is the auditor's role, not a flaw in
    // the crafted item.
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path());
    let device = SecretKey::generate();
    let request = crafted_by(&device).remove(0);
    let role = DeviceRole::Satker {
        satker: SATKER.into(),
    };
    let verdict = hub
        .store
        .write(|t| {
            hub_receive(
                &hub,
                t,
                device.public(),
                &role,
                SignedItem::open(&request.bytes),
            )
        })
        .unwrap();
    assert_eq!(verdict, Ok(()));
    assert!(hub.store.item(&request.address).unwrap().is_some());
}
