//! The one sync function against a real hub on loopback: what a device is told when it
//! is refused, whichever side refuses.

use std::net::Ipv4Addr;

use sync_protocol::{NodeId, SecretKey};

use super::*;
use crate::{
    cli::{run::init, Init},
    hub::{admit, limits::HubLimits},
    testkit::World,
    transport::{server_endpoint, tls},
};

/// A satker device in `dir` pinned to `hub`, not enrolled.
fn stranger(dir: &std::path::Path, hub: &Node) -> Arc<Node> {
    let path = dir.join("stranger");
    init(
        &path,
        &Init::Satker {
            satker: "100002".into(),
            hub: "127.0.0.1:1".into(),
            hub_id: hub.node_id().to_hex(),
        },
        None,
    )
    .unwrap();
    Arc::new(Node::open(&path).unwrap())
}

/// Runs `sync_once` of `device`, dialling `endpoint` served as the hub serves.
fn sync_with(
    device: Arc<Node>,
    hub: Option<Arc<Node>>,
    endpoint: impl FnOnce() -> quinn::Endpoint,
) -> Result<Synced> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoint = endpoint();
        let addr = endpoint.local_addr().unwrap();
        match hub {
            Some(hub) => {
                tokio::spawn(admit::accept_loop(
                    endpoint.clone(),
                    hub,
                    HubLimits::default(),
                ));
            }
            None => {
                // Answers handshakes and nothing else.
                let answering = endpoint.clone();
                tokio::spawn(async move {
                    while let Some(incoming) = answering.accept().await {
                        tokio::spawn(async move { drop(incoming.await) });
                    }
                });
            }
        }
        let options = SyncOptions {
            dial: Some(addr),
            ..SyncOptions::within(Duration::from_secs(15))
        };
        let result = sync_once(device, options).await;
        endpoint.close(0u32.into(), b"test done");
        result
    })
}

#[test]
fn a_device_the_hub_does_not_admit_is_told_it_was_refused_and_what_to_ask_for() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let device = stranger(dir.path(), &world.hub);
    let id = device.node_id().to_hex();
    let hub = world.hub.clone();
    let result = sync_with(device, Some(hub.clone()), || {
        admit::endpoint(&hub, (Ipv4Addr::LOCALHOST, 0).into()).unwrap()
    });
    match result {
        Err(NodeError::Refused(msg)) => assert!(
            msg.contains("the hub refused this device")
                && msg.contains(&id)
                && msg.contains(&format!("espm enroll {id}")),
            "{msg}"
        ),
        other => panic!("expected the hub's refusal, got {other:?}"),
    }
}

#[test]
fn a_hub_that_is_not_the_pinned_one_is_refused_naming_the_hub_id() {
    let mut world = World::new();
    let device = world.satker("100001");
    // Something answering QUIC and TLS with another key than the pinned hub's.
    let impostor = SecretKey::generate();
    let result = sync_with(device, None, || {
        let admit_all: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> = Arc::new(|_: &NodeId| true);
        server_endpoint(
            (Ipv4Addr::LOCALHOST, 0).into(),
            tls::server_config(&impostor, admit_all).unwrap(),
        )
        .unwrap()
    });
    match result {
        Err(NodeError::Refused(msg)) => assert!(msg.contains("--hub-id"), "{msg}"),
        other => panic!("expected the pinned hub id to be named, got {other:?}"),
    }
}

#[test]
fn the_background_sync_backs_off_exponentially_up_to_a_minute_with_jitter() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    for failures in 1..40u32 {
        let ceiling = 2u64.saturating_pow(failures).min(60);
        let waits: Vec<u64> = (0..200)
            .map(|_| backoff(failures, &mut rng).as_secs())
            .collect();
        assert!(
            waits.iter().all(|w| (1..=ceiling).contains(w)),
            "{failures}: {waits:?}"
        );
        // Jittered: not every satker waits the same.
        assert!(
            waits.iter().any(|w| *w != waits[0]),
            "{failures}: no jitter"
        );
    }
    assert_eq!(
        (0..500).map(|_| backoff(u32::MAX, &mut rng)).max(),
        Some(BACKOFF_CAP)
    );
}

#[test]
fn a_hub_named_by_a_host_name_that_does_not_resolve_is_reported_when_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offline");
    // Set up offline: the name is only checked for its form.
    init(
        &path,
        &Init::Satker {
            satker: "100001".into(),
            hub: "kppn019.invalid:4433".into(),
            hub_id: SecretKey::generate().public().to_hex(),
        },
        None,
    )
    .expect("init with a host name that does not resolve");
    let device = Arc::new(Node::open(&path).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(sync_once(
        device,
        SyncOptions::within(Duration::from_secs(15)),
    ));
    match result {
        Err(NodeError::Unreachable { addr, detail }) => {
            assert_eq!(addr, "kppn019.invalid:4433");
            assert!(
                detail.starts_with("the host name does not resolve"),
                "{detail}"
            );
        }
        other => panic!("expected the name not to resolve, got {other:?}"),
    }
}

#[test]
fn a_hub_named_localhost_is_resolved_and_synced_with() {
    let world = World::new();
    let hub = world.hub.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = runtime
        .block_on(async { admit::endpoint(&hub, (Ipv4Addr::LOCALHOST, 0).into()) })
        .unwrap();
    let port = endpoint.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("by-name");
    init(
        &path,
        &Init::Satker {
            satker: "100001".into(),
            hub: format!("localhost:{port}"),
            hub_id: hub.node_id().to_hex(),
        },
        None,
    )
    .unwrap();
    let device = Arc::new(Node::open(&path).unwrap());
    crate::hub::authority::enroll(
        &hub,
        device.node_id(),
        sync_protocol::DeviceRole::Satker {
            satker: "100001".into(),
        },
        Some(crate::testkit::CSO),
    )
    .unwrap();
    let synced = runtime.block_on(async {
        tokio::spawn(admit::accept_loop(
            endpoint.clone(),
            hub.clone(),
            HubLimits::default(),
        ));
        let r = sync_once(device.clone(), SyncOptions::within(Duration::from_secs(15))).await;
        endpoint.close(0u32.into(), b"test done");
        r
    });
    let synced = synced.expect("a sync with the hub named localhost");
    assert!(synced.received_items > 0, "{synced:?}");
    let info = crate::device::info::info(&device).unwrap();
    assert!(
        info.last_sync.is_some() && info.last_error.is_none(),
        "{info:?}"
    );
}

#[test]
fn a_hub_that_does_not_answer_is_reported_by_the_connect_timeout_not_the_sync_timeout() {
    let mut world = World::new();
    let device = world.satker("100001");
    // A bound UDP socket that never answers stands in for a hub that is down.
    let silent = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let options = SyncOptions {
        dial: Some(silent.local_addr().unwrap()),
        ..SyncOptions::within(Duration::from_secs(600))
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match runtime.block_on(sync_once(device, options)) {
        // Not "the sync did not finish within 600 s": the dial gave up on its own.
        Err(NodeError::Unreachable { detail, .. }) => assert_eq!(detail, "no answer"),
        other => panic!("expected the hub to be unreachable, got {other:?}"),
    }
}
