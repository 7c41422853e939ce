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
