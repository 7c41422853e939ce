//! A satker serving an auditor, in memory: the auditor's client session (the direct
//! replica) and the satker's server session (the share replica) wired together, as
//! the testkit wires a device and its hub.

use std::sync::Arc;

use sync_protocol::{Config, Message, Replica, Session, StreamId};

use super::*;
use crate::{auditor::direct::DirectReplica, node::Node, testkit::World};

/// Runs one session between `client` and `server` to its end; returns what went down.
pub(crate) fn session(client: &mut impl Replica, server: &mut impl Replica) -> Vec<Message> {
    let config = Config::default();
    let mut c = Session::client(config, client).expect("client session");
    let mut s = Session::server(config);
    let mut down = Vec::new();
    for _ in 0..10_000 {
        let mut moved = false;
        while let Some(m) = c.poll_transmit(client).expect("client sends") {
            s.handle(m, server).expect("server takes it");
            moved = true;
        }
        while let Some(m) = s.poll_transmit(server).expect("server sends") {
            down.push(m.clone());
            c.handle(m, client).expect("client takes it");
            moved = true;
        }
        if c.is_done() || !moved {
            return down;
        }
    }
    panic!("the in-memory session did not end");
}

/// Items that came down in frames.
fn items_in(down: &[Message]) -> usize {
    down.iter()
        .map(|m| match m {
            Message::Frame { items, .. } => items.len(),
            _ => 0,
        })
        .sum()
}

/// An auditor of satker 100001 (and `more`), a satker device of it with one SPM
/// submitted and receipted at the hub, and what the hub holds of it synced back.
fn world(more: &[&str]) -> (World, Arc<Node>, Arc<Node>) {
    let mut world = World::new();
    let satker = world.satker("100001");
    let mut scope = vec!["100001"];
    scope.extend_from_slice(more);
    let auditor = world.auditor(&scope);
    let signer = world.ppspm(&satker);
    world.submit_spm(&satker, &signer, "spm-0000000001", Vec::new());
    world.sync(&satker);
    world.sync(&satker);
    (world, satker, auditor)
}

#[test]
fn an_auditor_gets_the_satkers_streams_at_the_hubs_positions_own_items_included() {
    let (world, satker, auditor) = world(&[]);
    let mut client = DirectReplica::new(auditor.clone(), "100001".into());
    let mut server = ShareReplica::new(satker.clone()).unwrap();
    let down = session(&mut client, &mut server);
    assert!(items_in(&down) > 3);
    for stream in shared_streams("100001") {
        let hub_head = world.hub.store.head(&stream).unwrap();
        assert_eq!(
            auditor.store.position(&stream).unwrap(),
            hub_head,
            "{stream}"
        );
        for seq in 1..=hub_head {
            let entry = world.hub.store.entry(&stream, seq).unwrap().unwrap();
            assert!(
                auditor.store.item(&entry.address).unwrap().is_some(),
                "{stream} position {seq} did not reach the auditor"
            );
        }
    }
    // The hub has nothing for it that the satker did not give.
    let trace = world.sync(&auditor);
    assert_eq!(items_in(&trace.down), 0);
}

#[test]
fn an_auditor_gets_the_attachments_of_the_satkers_documents_and_no_other_chunk() {
    let mut world = World::new();
    let satker = world.satker("100001");
    let auditor = world.auditor(&["100001"]);
    let signer = world.ppspm(&satker);
    let pdf = [b"%PDF-1.4\n".as_slice(), &[7u8; 300_000]].concat();
    let attachment = world.attach(&satker, "kontrak.pdf", &pdf);
    world.submit_spm(&satker, &signer, "spm-0000000003", vec![attachment.clone()]);
    // A file of a draft never submitted.
    let draft = world.attach(
        &satker,
        "draft.pdf",
        &[b"%PDF-1.4\n".as_slice(), &[9u8; 1000]].concat(),
    );
    world.sync(&satker);
    world.sync(&satker);
    let mut client = DirectReplica::new(auditor.clone(), "100001".into());
    let mut server = ShareReplica::new(satker.clone()).unwrap();
    session(&mut client, &mut server);
    assert!(!attachment.chunks.is_empty());
    for c in &attachment.chunks {
        assert!(crate::attachments::bytes(&auditor.store, c)
            .unwrap()
            .is_some());
    }
    assert_eq!(
        crate::schema::NEED_COUNTS
            .get(&auditor.store, "100001")
            .unwrap()
            .unwrap_or(0),
        0
    );
    for c in &draft.chunks {
        assert!(crate::attachments::bytes(&satker.store, c)
            .unwrap()
            .is_some());
        assert_eq!(
            server.read_chunk(c).unwrap(),
            None,
            "a draft's chunk was served"
        );
    }
}

#[test]
fn a_satker_serves_only_auditors_with_it_in_scope_not_revoked() {
    let (world, satker, auditor) = world(&[]);
    assert_eq!(admits(&satker, &auditor.node_id()), Ok(()));
    let mut w = world;
    let other = w.auditor(&["100009"]);
    w.sync(&satker);
    assert_eq!(
        admits(&satker, &other.node_id()),
        Err(NotAdmitted::OutOfScope)
    );
    let stranger = sync_protocol::SecretKey::generate().public();
    assert_eq!(admits(&satker, &stranger), Err(NotAdmitted::NotEnrolled));
    let peer = w.satker("100001");
    w.sync(&satker);
    assert_eq!(
        admits(&satker, &peer.node_id()),
        Err(NotAdmitted::NotAnAuditor)
    );
    crate::hub::revoke::device(
        &w.hub,
        auditor.node_id(),
        "laptop hilang",
        Some(crate::testkit::CSO),
    )
    .unwrap();
    w.sync(&satker);
    assert_eq!(
        admits(&satker, &auditor.node_id()),
        Err(NotAdmitted::Revoked)
    );
}

#[test]
fn a_satker_takes_nothing_from_an_auditor() {
    let (_world, satker, auditor) = world(&[]);
    let mut server = ShareReplica::new(satker.clone()).unwrap();
    let own = StreamId::Origin(auditor.node_id());
    assert_eq!(server.accepts(&own).unwrap(), None);
    let before = satker.store.head(&own).unwrap();
    let refused = server.receive(&own, &[], 1);
    assert!(matches!(refused, Err(ProtocolError::Violation(_))));
    assert_eq!(satker.store.head(&own).unwrap(), before);
    assert!(!server.may_serve(&StreamId::Scope("100009".into())));
    assert!(!server.may_serve(&StreamId::Origin(satker.node_id())));
}

#[test]
fn a_position_whose_own_item_is_not_known_ends_what_is_served() {
    let (_world, satker, _auditor) = world(&[]);
    let scope = StreamId::Scope("100001".into());
    let full = ShareReplica::new(satker.clone()).unwrap();
    let head = full.head(&scope).unwrap();
    assert!(head >= 3, "the snapshot, signature and submission");
    // Forget that the hub acknowledged this device's items: their positions are holes.
    let origin = StreamId::Origin(satker.node_id());
    satker
        .store
        .write(|t| {
            crate::schema::PEER_ACKED.put(t, &hex::encode(origin.key()), &0);
            Ok(())
        })
        .unwrap();
    let cut = ShareReplica::new(satker.clone()).unwrap();
    let first_own = (1..=head)
        .find(|s| {
            satker
                .store
                .entry(&scope, *s)
                .unwrap()
                .unwrap()
                .origin
                .is_some()
        })
        .unwrap();
    assert_eq!(cut.head(&scope).unwrap(), first_own - 1);
}

#[test]
fn a_satker_store_from_before_the_copy_fetches_its_streams_again_and_then_serves_them() {
    let mut world = World::new();
    let a = world.satker("100001");
    let b = world.satker("100001");
    let auditor = world.auditor(&["100001"]);
    let signer = world.ppspm(&a);
    world.submit_spm(&a, &signer, "spm-0000000004", Vec::new());
    world.sync(&a);
    // As an older espm left device B: the documents stream received, no copy of it.
    let scope = StreamId::Scope("100001".into());
    let hub_head = world.hub.store.head(&scope).unwrap();
    b.store
        .write(|t| {
            t.set_position(&scope, hub_head);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        ShareReplica::new(b.clone()).unwrap().head(&scope).unwrap(),
        0
    );
    assert_eq!(rewind(&b).unwrap(), vec![scope.clone()]);
    assert_eq!(b.store.position(&scope).unwrap(), 0);
    world.sync(&b);
    assert_eq!(b.store.position(&scope).unwrap(), hub_head);
    let mut client = DirectReplica::new(auditor.clone(), "100001".into());
    let mut server = ShareReplica::new(b.clone()).unwrap();
    assert_eq!(server.head(&scope).unwrap(), hub_head);
    session(&mut client, &mut server);
    assert_eq!(auditor.store.position(&scope).unwrap(), hub_head);
    assert!(rewind(&b).unwrap().is_empty());
}

#[test]
fn two_devices_of_one_satker_each_serve_the_hubs_stream_whole() {
    let mut world = World::new();
    let a = world.satker("100001");
    let b = world.satker("100001");
    let from_a = world.auditor(&["100001"]);
    let from_b = world.auditor(&["100001"]);
    let signer_a = world.ppspm(&a);
    // The same signer on both; the hub takes B's submissions as long as it has the
    // operator, which this test does not need: a refused one leaves no gap.
    let signer_b = &signer_a;
    world.submit_spm(&a, &signer_a, "spm-0000000005", Vec::new());
    world.sync(&a);
    world.submit_spm(&b, signer_b, "spm-0000000006", Vec::new());
    world.sync(&b);
    world.submit_spm(&a, &signer_a, "spm-0000000007", Vec::new());
    for device in [&a, &b, &a, &b] {
        world.sync(device);
    }
    let scope = StreamId::Scope("100001".into());
    let hub_head = world.hub.store.head(&scope).unwrap();
    // A's two documents whole, and B's snapshot and signature: the hub refused B's
    // submission (B has no activated operator), which leaves no position.
    assert_eq!(hub_head, 8);
    assert_eq!(crate::schema::REFUSALS.list(&b.store, "").unwrap().len(), 1);
    for (device, auditor) in [(&a, &from_a), (&b, &from_b)] {
        let mut client = DirectReplica::new(auditor.clone(), "100001".into());
        let mut server = ShareReplica::new(device.clone()).unwrap();
        session(&mut client, &mut server);
        assert_eq!(auditor.store.position(&scope).unwrap(), hub_head);
        for seq in 1..=hub_head {
            let entry = world.hub.store.entry(&scope, seq).unwrap().unwrap();
            assert!(
                auditor.store.item(&entry.address).unwrap().is_some(),
                "{seq}"
            );
        }
        let trace = world.sync(auditor);
        assert_eq!(items_in(&trace.down), 0);
    }
}

#[test]
fn what_a_peer_offers_a_satker_is_declined_and_nothing_of_it_is_kept() {
    let (mut world, a, _auditor) = world(&[]);
    // A device of another satker, with items of its own to send.
    let other = world.satker("100002");
    let signer = world.ppspm(&other);
    world.submit_spm(&other, &signer, "spm-0000000008", Vec::new());
    let origin = StreamId::Origin(other.node_id());
    let snapshot = other.store.entry(&origin, 3).unwrap().map(|e| e.address);
    let mut client = crate::device::replica::DeviceReplica::new(other.clone());
    let mut server = ShareReplica::new(a.clone()).unwrap();
    let down = session(&mut client, &mut server);
    assert_eq!(items_in(&down), 0, "nothing of satker 100002's streams");
    assert_eq!(a.store.position(&origin).unwrap(), 0);
    assert_eq!(a.store.head(&origin).unwrap(), 0);
    if let Some(s) = snapshot {
        assert!(a.store.item(&s).unwrap().is_none());
    }
}

#[test]
fn a_hostile_auditor_session_gets_only_the_shared_streams_and_its_items_go_nowhere() {
    let (_world, satker, auditor) = world(&[]);
    let mut server = ShareReplica::new(satker.clone()).unwrap();
    let mut s = Session::server(Config::default());
    let origin = StreamId::Origin(auditor.node_id());
    let mut want = VersionVector::new();
    want.insert(StreamId::Trust, 0);
    want.insert(StreamId::Scope("100009".into()), 0);
    want.insert(StreamId::Origin(satker.node_id()), 0);
    want.insert(StreamId::Notices("100001".into()), u64::MAX);
    let hello = Message::Hello {
        version: sync_protocol::FORMAT_VERSION,
        want,
        offer: vec![origin.clone()],
        has: VersionVector::new(),
        needs: 0,
        credit: 1 << 20,
    };
    s.handle(hello, &mut server).unwrap();
    // Frames of the offered, declined stream are dropped; of any other, a violation.
    let frame = |stream: StreamId| Message::Frame {
        stream,
        after: 0,
        through: 1,
        items: vec![FrameItem {
            seq: 1,
            bytes: vec![0xa0],
        }],
    };
    s.handle(frame(origin.clone()), &mut server).unwrap();
    // Chunks it may not have are answered as absent, whatever they are.
    s.handle(
        Message::Want {
            chunks: vec![Address([7; 32])],
        },
        &mut server,
    )
    .unwrap();
    let mut streams = Vec::new();
    let mut absent = 0;
    while let Some(m) = s.poll_transmit(&mut server).unwrap() {
        match m {
            Message::Frame { stream, .. } => streams.push(stream),
            Message::NoChunk { .. } => absent += 1,
            _ => {}
        }
    }
    // The auditor already holds the trust stream (it synced with the hub): nothing of
    // what it asked for may go out but that.
    assert!(streams.iter().all(|s| *s == StreamId::Trust), "{streams:?}");
    assert_eq!(absent, 1);
    let scope = StreamId::Scope("100001".into());
    assert!(s.handle(frame(scope), &mut server).is_err());
    assert_eq!(satker.store.head(&origin).unwrap(), 0);
    assert_eq!(satker.store.position(&origin).unwrap(), 0);
}

#[test]
fn a_frame_claiming_more_held_back_positions_than_this_device_queued_is_not_copied() {
    let (_world, satker, _auditor) = world(&[]);
    let scope = StreamId::Scope("100001".into());
    let head = satker.store.head(&scope).unwrap();
    let queued = satker
        .store
        .head(&StreamId::Origin(satker.node_id()))
        .unwrap();
    let through = head + queued + 1;
    assert!(mirror(&satker, &scope, &[], through).is_err());
    assert_eq!(satker.store.head(&scope).unwrap(), head);
    // As many as it queued may be its own.
    mirror(&satker, &scope, &[], head + queued).unwrap();
    assert_eq!(satker.store.head(&scope).unwrap(), head + queued);
}
