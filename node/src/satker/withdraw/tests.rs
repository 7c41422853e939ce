//! A withdrawn submission never leaves the device; one that left is not withdrawn.

use std::sync::Arc;

use sync_protocol::{DocState, Message, StreamId};

use crate::{
    node::Node,
    satker::{
        compose,
        signing::tests::{draft_spm, sign},
        submit::tests::{operator, submit},
        withdraw::withdraw,
    },
    schema::SUBMISSIONS,
    testkit::World,
};

const SATKER: &str = "123456";

/// A signed SPM of `device` queued in a submission by operator02; returns the document
/// and submission ids.
fn queued(w: &World, device: &Arc<Node>) -> (String, String) {
    let ppspm = w.ppspm(device);
    let uri = operator(w, device);
    let doc = draft_spm(device, "00001/SPM/2026");
    sign(device, &doc, &ppspm.serial).unwrap();
    submit(device, &doc, &uri).unwrap();
    let rec = World::doc(device, &doc);
    (doc, rec.submission.expect("queued"))
}

/// Whether the hub holds the submission item `submission_id` of `device`.
fn hub_holds(w: &World, device: &Node, submission_id: &str) -> bool {
    let addr = SUBMISSIONS
        .get(&device.store, submission_id)
        .unwrap()
        .or_else(|| {
            // Withdrawn: the table no longer names it, so look for it on the stream.
            let stream = StreamId::Origin(device.node_id());
            (1..=device.store.head(&stream).unwrap())
                .filter_map(|s| device.store.entry(&stream, s).unwrap())
                .map(|e| e.address)
                .find(|a| {
                    matches!(
                        device.store.item(a).unwrap().map(|b| sync_protocol::SignedItem::open(&b).unwrap().item),
                        Some(sync_protocol::Item::Submission(s)) if s.submission_id == submission_id
                    )
                })
        })
        .expect("the device made this submission");
    w.hub.store.item(&addr).unwrap().is_some()
}

#[test]
fn a_submission_withdrawn_before_it_left_is_never_sent_and_its_documents_are_signed_again() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let (doc, sub) = queued(&w, &device);

    let out = withdraw(&device, &sub).unwrap();
    assert_eq!(out.doc_ids, vec![doc.clone()]);
    let rec = World::doc(&device, &doc);
    assert_eq!(rec.state, DocState::Signed);
    assert_eq!(rec.submission, None);
    assert_eq!(
        rec.history.last().unwrap().reason.as_deref(),
        Some(format!("submission {sub} withdrawn").as_str())
    );

    w.sync(&device);
    assert!(!hub_holds(&w, &device, &sub));
    assert_eq!(w.hub_doc(SATKER, &doc), None, "the hub learned of {doc}");
    // Nor its snapshot: nothing of the withdrawn submission went up.
    assert!(w.hub.store.item(&rec.snapshot.unwrap()).unwrap().is_none());

    // Withdrawn once is withdrawn: a second try names what to do.
    let err = withdraw(&device, &sub).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("no queued submission '{sub}' on this device")),
        "{err}"
    );
}

#[test]
fn a_withdrawn_document_queued_again_reaches_the_hub_with_its_snapshot_and_signature() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let (doc, sub) = queued(&w, &device);
    withdraw(&device, &sub).unwrap();

    // Queued again as `submit` queues it (a second code of the same step is refused).
    let mut recs = vec![World::doc(&device, &doc)];
    let (submission, sealed) =
        compose::seal_submission(&device.key, SATKER, "operator02", &recs, device.now()).unwrap();
    device
        .store
        .write(|t| compose::queue(t, device.node_id(), &submission, &sealed, &mut recs))
        .unwrap();
    device.store.flush().unwrap();

    w.sync(&device);
    assert!(!hub_holds(&w, &device, &sub));
    let at_hub = w.hub_doc(SATKER, &doc).expect("delivered");
    assert_eq!(
        at_hub.submission.as_deref(),
        Some(submission.submission_id.as_str())
    );
    assert_eq!(at_hub.signatures.len(), 1);
}

#[test]
fn a_submission_that_left_the_device_is_not_withdrawn() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let (doc, sub) = queued(&w, &device);
    w.sync(&device);
    let err = withdraw(&device, &sub).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("submission {sub} has already left this device for the KPPN and can no longer be withdrawn; ask the KPPN to reject its documents, then correct them and submit again")
    );
    assert_eq!(World::doc(&device, &doc).state, DocState::Delivered);
}

#[test]
fn a_submission_the_hub_received_but_has_not_acknowledged_is_not_withdrawn() {
    // The link is cut right after the frame went up: no ack came back, yet it left.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let (doc, sub) = queued(&w, &device);
    w.sync_until(&device, |t| {
        t.up.iter()
            .any(|m| matches!(m, Message::Frame { items, .. } if !items.is_empty()))
    });
    assert!(hub_holds(&w, &device, &sub));
    let err = withdraw(&device, &sub).unwrap_err();
    assert!(
        err.to_string().contains("has already left this device"),
        "{err}"
    );
    assert_eq!(World::doc(&device, &doc).state, DocState::Queued);
}

#[test]
fn a_withdraw_racing_a_background_sync_never_lets_the_withdrawn_submission_reach_the_hub() {
    for round in 0..8 {
        let mut w = World::new();
        let device = w.satker(SATKER);
        let (_, sub) = queued(&w, &device);
        let withdrawn = std::thread::scope(|s| {
            let syncing = s.spawn(|| {
                w.sync(&device);
            });
            let withdrawn = withdraw(&device, &sub).is_ok();
            syncing.join().expect("the sync");
            withdrawn
        });
        // And once more: a later sync must not carry it either.
        w.sync(&device);
        assert_eq!(
            hub_holds(&w, &device, &sub),
            !withdrawn,
            "round {round}: withdrawn {withdrawn}"
        );
    }
}

#[test]
fn a_frame_read_to_send_but_not_yet_received_makes_withdraw_refuse_and_a_withdrawal_keeps_it_out_of_the_next_frame(
) {
    use sync_protocol::Replica;
    let mut w = World::new();
    let device = w.satker(SATKER);
    let (_, first) = queued(&w, &device);
    let stream = StreamId::Origin(device.node_id());
    let replica = crate::device::replica::DeviceReplica::new(device.clone());
    let from = crate::device::replica::hub_acked(&device, &stream)
        .unwrap()
        .unwrap_or(0);

    // A session read the frame to send it: it may be on the wire, so it cannot come back.
    let frame = replica.read(&stream, from, 1 << 20).unwrap();
    assert!(!frame.items.is_empty());
    let err = withdraw(&device, &first).unwrap_err();
    assert!(
        err.to_string().contains("has already left this device"),
        "{err}"
    );

    // Withdrawn first, a read that follows skips every item of it.
    let second_doc = draft_spm(&device, "00002/SPM/2026");
    // The PPSPM's certificate, the one certificate on the device.
    let ppspm_serial = crate::schema::CERTS
        .list(&device.store, "")
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .next()
        .unwrap();
    sign(&device, &second_doc, &ppspm_serial).unwrap();
    let mut recs = vec![World::doc(&device, &second_doc)];
    let (submission, sealed) =
        compose::seal_submission(&device.key, SATKER, "operator02", &recs, device.now()).unwrap();
    device
        .store
        .write(|t| compose::queue(t, device.node_id(), &submission, &sealed, &mut recs))
        .unwrap();
    withdraw(&device, &submission.submission_id).unwrap();
    let next = replica.read(&stream, frame.through, 1 << 20).unwrap();
    assert!(next.items.is_empty(), "withdrawn items were read to send");
    assert_eq!(next.through, device.store.head(&stream).unwrap());
}

#[test]
fn a_withdrawn_spm_frees_its_nomor_for_another_document() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let (doc, sub) = queued(&w, &device);
    let held = crate::schema::NOMORS.list(&device.store, "").unwrap();
    assert_eq!(held.len(), 1, "submit records the nomor: {held:?}");
    assert_eq!(held[0].1, doc);

    withdraw(&device, &sub).unwrap();
    // The KPPN never saw it, so the nomor is free for a corrected document.
    let held = crate::schema::NOMORS.list(&device.store, "").unwrap();
    assert!(held.is_empty(), "the withdrawn SPM still holds {held:?}");
}
