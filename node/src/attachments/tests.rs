//! Attachment chunks by scope, through the hub's real replica on real sled stores, with
//! device and hub sessions wired together in memory.

use std::sync::Arc;

use sync_protocol::{
    Address, AttachmentRef, Config, DocState, Message, Session, Timestamp, CHUNK_BYTES,
};

use super::*;
use crate::{
    clock, config::DEFAULT_ATTACHMENT_EXPIRY_MS, device::replica::DeviceReplica,
    hub::admit::device as enrolled, hub::delivery, hub::replica::HubReplica, node::Node,
    testkit::World,
};

/// A PDF-looking file of `len` bytes that differs per `seed`.
fn file(seed: u32, len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..len.saturating_sub(9)).map(|i| ((i as u32).wrapping_mul(31) ^ seed) as u8));
    bytes
}

/// An attachment whose chunk list a rogue device invented: hashes nobody can answer,
/// all sorting before any real hash, sized to match the list so the hub takes it.
fn invented(chunks: usize) -> AttachmentRef {
    AttachmentRef {
        name: "palsu.pdf".into(),
        sha256: "00".repeat(32),
        size: (chunks * CHUNK_BYTES) as u64,
        chunks: (0..chunks)
            .map(|i| {
                let mut a = [0u8; 32];
                a[31] = i as u8;
                a[30] = (i >> 8) as u8;
                Address(a)
            })
            .collect(),
    }
}

/// What the hub answers `node` when it asks for `chunks` at the start of a session.
fn ask_hub(world: &World, node: &Arc<Node>, chunks: Vec<Address>) -> Vec<Message> {
    let id = node.node_id();
    let role = enrolled(&world.hub, &id).unwrap().role;
    let mut hub_side = HubReplica::new(world.hub.clone(), id, role);
    let device_side = DeviceReplica::new(node.clone());
    let mut device_side = device_side;
    let mut client = Session::client(Config::default(), &device_side).unwrap();
    let mut server = Session::server(Config::default());
    let hello = client.poll_transmit(&mut device_side).unwrap().unwrap();
    server.handle(hello, &mut hub_side).unwrap();
    while server.poll_transmit(&mut hub_side).unwrap().is_some() {}
    server
        .handle(Message::Want { chunks }, &mut hub_side)
        .unwrap();
    let mut answers = Vec::new();
    while let Some(m) = server.poll_transmit(&mut hub_side).unwrap() {
        if matches!(m, Message::Chunk { .. } | Message::NoChunk { .. }) {
            answers.push(m);
        }
    }
    answers
}

fn served(answers: &[Message]) -> usize {
    answers
        .iter()
        .filter(|m| matches!(m, Message::Chunk { .. }))
        .count()
}

#[test]
fn an_auditor_is_asked_for_no_chunks_and_told_no_other_satkers_hashes() {
    let mut w = World::new();
    let a = w.satker("100001");
    let siti = w.ppspm(&a);
    let scan = w.attach(&a, "sk.pdf", &file(1, 3 * CHUNK_BYTES));
    let doc = w.submit_spm(&a, &siti, "spm-a1", vec![scan.clone()]);
    // The link drops before any chunk goes up: the hub waits for all three.
    w.sync_until(&a, |t| !t.wanted_by_hub().is_empty() || t.chunks_up() > 0);
    assert_eq!(w.hub_doc("100001", &doc).unwrap().state, DocState::Queued);

    let auditor = w.auditor(&["100002"]);
    let trace = w.sync(&auditor);
    assert_eq!(
        trace.wanted_by_hub(),
        Vec::<Address>::new(),
        "the hub asked an auditor for chunks"
    );
    let b = w.satker("100002");
    let trace = w.sync(&b);
    assert!(
        trace
            .wanted_by_hub()
            .iter()
            .all(|c| !scan.chunks.contains(c)),
        "the hub told satker 100002 the hashes of satker 100001's file"
    );
}

#[test]
fn a_chunk_goes_only_to_peers_that_may_read_a_document_naming_it() {
    let mut w = World::new();
    let a = w.satker("100001");
    let siti = w.ppspm(&a);
    let scan = w.attach(&a, "sk.pdf", &file(2, 2 * CHUNK_BYTES + 10));
    let doc = w.submit_spm(&a, &siti, "spm-a1", vec![scan.clone()]);
    w.sync(&a);
    assert_eq!(
        w.hub_doc("100001", &doc).unwrap().state,
        DocState::Delivered
    );

    let outsider = w.auditor(&["100002"]);
    assert_eq!(served(&ask_hub(&w, &outsider, scan.chunks.clone())), 0);
    let other_satker = w.satker("100002");
    assert_eq!(served(&ask_hub(&w, &other_satker, scan.chunks.clone())), 0);
    // Those allowed to read the document get every chunk.
    let insider = w.auditor(&["100002", "100001"]);
    assert_eq!(served(&ask_hub(&w, &insider, scan.chunks.clone())), 3);
    let a2 = w.satker("100001");
    assert_eq!(served(&ask_hub(&w, &a2, scan.chunks.clone())), 3);
    // And a second device of the satker fetched them in its own first sync.
    for c in &scan.chunks {
        assert!(bytes(&a2.store, c).unwrap().is_some());
    }
}

#[test]
fn naming_another_satkers_chunks_in_ones_own_document_does_not_get_them() {
    let mut w = World::new();
    let a = w.satker("100001");
    let siti = w.ppspm(&a);
    let scan = w.attach(&a, "sk.pdf", &file(3, CHUNK_BYTES + 5));
    w.submit_spm(&a, &siti, "spm-a1", vec![scan.clone()]);
    w.sync(&a);
    // Satker 100002 learned the file's hashes (not its bytes) and lists them as its own.
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    let doc = w.submit_spm(&b, &budi, "spm-b1", vec![scan.clone()]);
    let trace = w.sync(&b);
    assert_eq!(
        trace.wanted_by_hub(),
        scan.chunks,
        "the hub must ask satker 100002 for the chunks it named"
    );
    assert_eq!(
        w.hub_doc("100002", &doc).unwrap().state,
        DocState::Queued,
        "satker 100002 never sent the chunks, so its document is not delivered"
    );
    let b2 = w.satker("100002");
    assert_eq!(served(&ask_hub(&w, &b2, scan.chunks.clone())), 0);
}

#[test]
fn one_satkers_unfinished_upload_does_not_hold_back_another_satkers_receipt() {
    let mut w = World::new();
    // Satker 100002's device signed a list of 40 chunks that do not exist.
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    let stuck = w.submit_spm(&b, &budi, "spm-b1", vec![invented(40)]);
    w.sync(&b);
    assert_eq!(w.hub_doc("100002", &stuck).unwrap().state, DocState::Queued);
    // Satker 100001's one-chunk file is delivered in its first sync.
    let a = w.satker("100001");
    let siti = w.ppspm(&a);
    let scan = w.attach(&a, "sk.pdf", &file(4, 1000));
    let doc = w.submit_spm(&a, &siti, "spm-a1", vec![scan.clone()]);
    let trace = w.sync(&a);
    assert_eq!(trace.wanted_by_hub(), scan.chunks);
    assert_eq!(
        w.hub_doc("100001", &doc).unwrap().state,
        DocState::Delivered
    );
    assert_eq!(World::doc(&a, &doc).state, DocState::Delivered);
}

#[test]
fn a_submission_whose_chunks_never_arrive_is_refused_back_after_the_expiry() {
    let mut w = World::new();
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    let stuck = w.submit_spm(&b, &budi, "spm-b1", vec![invented(3)]);
    w.sync(&b);
    let now = clock::wall();
    // A day before the expiry nothing happens; after it the submission is refused.
    let early = Timestamp(now.0 + DEFAULT_ATTACHMENT_EXPIRY_MS - 24 * 3600 * 1000);
    assert_eq!(
        delivery::expire_unfinished(&w.hub, "100002", early, DEFAULT_ATTACHMENT_EXPIRY_MS).unwrap(),
        0
    );
    let late = Timestamp(now.0 + DEFAULT_ATTACHMENT_EXPIRY_MS + 1000);
    assert_eq!(
        delivery::expire_unfinished(&w.hub, "100002", late, DEFAULT_ATTACHMENT_EXPIRY_MS).unwrap(),
        1
    );
    let at_hub = w.hub_doc("100002", &stuck).unwrap();
    assert_eq!(at_hub.state, DocState::Rejected);
    let t = w.hub.store.write(|t| needed_count(t, "100002")).unwrap();
    assert_eq!(t, 0, "the refused submission's needs are gone");
    let trace = w.sync(&b);
    assert_eq!(trace.wanted_by_hub(), Vec::<Address>::new());
    let rec = World::doc(&b, &stuck);
    assert_eq!(rec.state, DocState::Rejected);
    let reason = rec
        .history
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap_or_default();
    assert!(
        reason.contains("did not receive all attachment chunks") && reason.contains("14 day"),
        "{reason}"
    );
}

#[test]
fn a_chunk_list_that_does_not_match_the_declared_file_size_is_refused() {
    let mut w = World::new();
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    let mut padded = w.attach(&b, "sk.pdf", &file(5, 1000));
    padded.chunks.extend(invented(5).chunks);
    let doc = w.submit_spm(&b, &budi, "spm-b1", vec![padded]);
    let trace = w.sync(&b);
    assert!(trace.wanted_by_hub().is_empty());
    assert!(w.hub_doc("100002", &doc).is_none());
    let rec = World::doc(&b, &doc);
    assert_eq!(rec.state, DocState::Rejected);
    let reason = rec
        .history
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap_or_default();
    assert!(
        reason.contains("lists 6 chunks, but a file of 1000 bytes has 1"),
        "{reason}"
    );
}

#[test]
fn chunks_that_do_not_join_to_the_named_file_refuse_the_submission() {
    let mut w = World::new();
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    let mut lie = w.attach(&b, "sk.pdf", &file(6, 2 * CHUNK_BYTES));
    lie.sha256 = "ab".repeat(32);
    let doc = w.submit_spm(&b, &budi, "spm-b1", vec![lie]);
    w.sync(&b);
    assert_eq!(w.hub_doc("100002", &doc).unwrap().state, DocState::Rejected);
    w.sync(&b);
    let rec = World::doc(&b, &doc);
    assert_eq!(rec.state, DocState::Rejected);
    let reason = rec
        .history
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap_or_default();
    assert!(reason.contains("do not join to the SHA-256"), "{reason}");
}

#[test]
fn a_satker_cannot_make_the_hub_wait_for_more_than_its_limit_of_chunks() {
    let mut w = World::new();
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    let big = |from: usize| -> Vec<AttachmentRef> {
        (0..20)
            .map(|f| {
                let mut att = invented(160);
                for (i, c) in att.chunks.iter_mut().enumerate() {
                    let n = from + f * 160 + i;
                    c.0[28] = 1;
                    c.0[29] = (n >> 16) as u8;
                    c.0[30] = (n >> 8) as u8;
                    c.0[31] = n as u8;
                }
                att
            })
            .collect()
    };
    let first = w.submit_spm(&b, &budi, "spm-b1", big(0));
    let second = w.submit_spm(&b, &budi, "spm-b2", big(100_000));
    w.sync(&b);
    assert_eq!(w.hub_doc("100002", &first).unwrap().state, DocState::Queued);
    assert!(w.hub_doc("100002", &second).is_none());
    let rec = World::doc(&b, &second);
    assert_eq!(rec.state, DocState::Rejected);
    let reason = rec
        .history
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap_or_default();
    assert!(reason.contains("takes at most 4096 at once"), "{reason}");
}

#[test]
fn a_document_id_another_satker_uses_is_its_own_document_there() {
    let mut w = World::new();
    let a = w.satker("100001");
    let siti = w.ppspm(&a);
    let doc = w.submit_spm(&a, &siti, "spm-sama", Vec::new());
    w.sync(&a);
    crate::testkit::run(
        &w.hub,
        crate::cli::Command::Reject(crate::cli::RejectArgs {
            doc_id: doc.clone(),
            reason: "nilai tidak sesuai kontrak".into(),
        }),
        None,
    )
    .unwrap();
    let before = w.hub_doc("100001", &doc).unwrap();
    assert_eq!(before.state, DocState::Rejected);
    // Satker 100002 learned the rejected id and submits a document under it.
    let b = w.satker("100002");
    let budi = w.ppspm(&b);
    w.submit_spm(&b, &budi, &doc, Vec::new());
    w.sync(&b);
    assert_eq!(World::doc(&b, &doc).state, DocState::Delivered);
    assert_eq!(
        w.hub_doc("100001", &doc).unwrap(),
        before,
        "satker 100001's record changed"
    );
    assert_eq!(
        w.hub_doc("100002", &doc).unwrap().state,
        DocState::Delivered
    );
    // The KPPN names which one it means.
    let err = crate::testkit::run(
        &w.hub,
        crate::cli::Command::Take(crate::cli::DocArg {
            doc_id: doc.clone(),
        }),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("100001 and 100002") && err.contains("SATKER/"),
        "{err}"
    );
    crate::testkit::run(
        &w.hub,
        crate::cli::Command::Take(crate::cli::DocArg {
            doc_id: format!("100002/{doc}"),
        }),
        None,
    )
    .unwrap();
    assert_eq!(w.hub_doc("100002", &doc).unwrap().state, DocState::Received);
}
