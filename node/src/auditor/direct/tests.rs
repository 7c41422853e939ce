//! What an auditor takes from a satker it syncs straight from.

use sync_protocol::{FrameItem, Replica, StreamId};

use super::*;
use crate::testkit::World;

#[test]
fn an_item_of_another_satker_coming_through_a_satker_is_refused_and_not_kept() {
    let mut world = World::new();
    let _a = world.satker("100001");
    let b = world.satker("100002");
    let auditor = world.auditor(&["100001", "100002"]);
    let signer = world.ppspm(&b);
    world.submit_spm(&b, &signer, "spm-0000000002", Vec::new());
    world.sync(&b);
    // Satker B's snapshot, as the hub published it, offered by satker A as its own.
    let b_scope = StreamId::Scope("100002".into());
    let snapshot = world.hub.store.entry(&b_scope, 1).unwrap().unwrap().address;
    let bytes = world.hub.store.item(&snapshot).unwrap().unwrap();
    let a_scope = StreamId::Scope("100001".into());
    let at = auditor.store.position(&a_scope).unwrap() + 1;
    let mut replica = DirectReplica::new(auditor.clone(), "100001".into());
    let refused = replica
        .receive(&a_scope, &[FrameItem { seq: at, bytes }], at)
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].reason.contains("satker 100002"),
        "{}",
        refused[0].reason
    );
    assert!(auditor.store.item(&snapshot).unwrap().is_none());
    // A stream the satker does not share is a violation, not something to keep.
    let other = replica.receive(&b_scope, &[], 1);
    assert!(matches!(other, Err(ProtocolError::Violation(_))));
}

#[test]
fn an_auditor_syncs_only_from_an_enrolled_satker_device_in_its_scope() {
    let mut world = World::new();
    let a = world.satker("100001");
    let b = world.satker("100002");
    let auditor = world.auditor(&["100001"]);
    assert_eq!(satker_of(&auditor, &a.node_id()), Ok("100001".to_string()));
    assert_eq!(
        satker_of(&auditor, &b.node_id()),
        Err(DirectRefusal::OutOfScope("100002".into()))
    );
    let stranger = sync_protocol::SecretKey::generate().public();
    assert_eq!(
        satker_of(&auditor, &stranger),
        Err(DirectRefusal::NotEnrolled(stranger))
    );
    assert_eq!(
        satker_of(&a, &b.node_id()),
        Err(DirectRefusal::NotAnAuditor)
    );
    let other = world.auditor(&["100001"]);
    world.sync(&auditor);
    assert_eq!(
        satker_of(&auditor, &other.node_id()),
        Err(DirectRefusal::NotASatker(other.node_id()))
    );
    crate::hub::revoke::device(
        &world.hub,
        a.node_id(),
        "laptop hilang",
        Some(crate::testkit::CSO),
    )
    .unwrap();
    world.sync(&auditor);
    assert_eq!(
        satker_of(&auditor, &a.node_id()),
        Err(DirectRefusal::Revoked(a.node_id()))
    );
}
