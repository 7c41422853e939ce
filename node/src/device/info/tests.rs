//! `espm info` of each role, and the sync record the one sync function leaves.

use std::{sync::Arc, time::Duration};

use super::*;
use crate::{
    device::sync::{sync_once, SyncOptions},
    error::NodeError,
    testkit::World,
};

#[test]
fn a_hub_names_its_listen_address_and_has_never_synced() {
    let world = World::new();
    let i = info(&world.hub).unwrap();
    assert_eq!(i.role, "hub");
    assert_eq!(i.hub, "127.0.0.1:0");
    assert_eq!((i.last_sync, i.last_error, i.queued), (None, None, 0));
    assert_eq!(i.hub_id, None);
}

#[test]
fn what_the_hub_has_not_acknowledged_is_queued_until_a_sync() {
    let mut world = World::new();
    let device = world.satker("100001");
    let signer = world.ppspm(&device);
    let before = info(&device).unwrap();
    assert_eq!(before.queued, 0, "{before:?}");
    assert_eq!(before.satker.as_deref(), Some("100001"));
    assert_eq!(before.hub_id, Some(world.hub.node_id()));
    let scan = world.attach(&device, "scan.pdf", &vec![7u8; 200_000]);
    world.submit_spm(&device, &signer, "SPM-1", vec![scan]);
    let queued = info(&device).unwrap();
    assert!(
        queued.queued > 0,
        "a signed and submitted SPM waits for the hub"
    );
    assert_eq!(queued.queued_chunks, 4, "200 000 bytes in chunks of 64 KiB");
    world.sync(&device);
    let synced = info(&device).unwrap();
    assert_eq!((synced.queued, synced.queued_chunks), (0, 0));
}

#[test]
fn an_auditor_shows_the_scope_its_enrollment_gives() {
    let mut world = World::new();
    let auditor = world.auditor(&["100001", "100002"]);
    let i = info(&auditor).unwrap();
    assert_eq!(i.role, "auditor");
    assert_eq!(
        i.scope,
        Some(vec!["100001".to_string(), "100002".to_string()])
    );
    assert_eq!(i.satker, None);
}

#[test]
fn a_sync_with_a_hub_that_does_not_answer_is_recorded_as_the_last_error() {
    let mut world = World::new();
    let device = world.satker("100001");
    // A bound UDP socket that never answers stands in for a hub that is down.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = SyncOptions {
        dial: Some(silent.local_addr().unwrap()),
        ..SyncOptions::within(Duration::from_millis(500))
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(sync_once(Arc::clone(&device), options));
    assert!(matches!(result, Err(NodeError::Unreachable { .. })));
    let i = info(&device).unwrap();
    assert_eq!(
        i.last_sync, None,
        "the in-memory syncs are not syncs with the hub"
    );
    let error = i.last_error.expect("the failure is recorded");
    assert!(
        // The dial gives up, or the whole sync's time runs out, whichever comes first.
        error
            .message
            .starts_with("cannot reach the hub at 127.0.0.1:"),
        "{}",
        error.message
    );
}

#[test]
fn a_later_success_keeps_the_last_error_and_records_when() {
    let mut world = World::new();
    let device = world.satker("100001");
    record(&device, Err("cannot reach the hub".into())).unwrap();
    record(&device, Ok(())).unwrap();
    let i = info(&device).unwrap();
    assert!(i.last_sync.is_some());
    assert_eq!(
        i.last_error.map(|e| e.message),
        Some("cannot reach the hub".to_string())
    );
}
