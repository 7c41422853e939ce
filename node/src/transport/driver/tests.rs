//! The driver over real QUIC on loopback, with real stores: where the replicas' store
//! work runs.

use std::{
    net::Ipv4Addr,
    sync::{Arc, Mutex, PoisonError},
    thread::ThreadId,
};

use sync_protocol::{
    Address, Chunk, Config, FrameItem, NodeId, ProtocolError, Refusal, Replica, StreamId,
    VersionVector,
};

use super::*;
use crate::{
    device::replica::DeviceReplica,
    hub::{admit, replica::HubReplica},
    node::Node,
    testkit::World,
    transport::{connect, open_stream, recv_header, server_endpoint, tls},
};

/// Every replica call of one test: which side, which call, on which thread.
type Calls = Arc<Mutex<Vec<(String, ThreadId)>>>;

/// A real replica that notes the thread each of its calls runs on.
struct Watched<R> {
    inner: R,
    side: &'static str,
    calls: Calls,
}

impl<R> Watched<R> {
    fn note(&self, call: &str) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((format!("{} {call}", self.side), std::thread::current().id()));
    }
}

impl<R: Replica> Replica for Watched<R> {
    fn commit(&mut self) -> Result<(), ProtocolError> {
        self.note("commit");
        self.inner.commit()
    }
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        self.note("wanted");
        self.inner.wanted()
    }
    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        self.note("offered");
        self.inner.offered()
    }
    fn accepts(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        self.note("accepts");
        self.inner.accepts(stream)
    }
    fn may_serve(&self, stream: &StreamId) -> bool {
        self.note("may_serve");
        self.inner.may_serve(stream)
    }
    fn head(&self, stream: &StreamId) -> Result<u64, ProtocolError> {
        self.note("head");
        self.inner.head(stream)
    }
    fn read(&self, stream: &StreamId, after: u64, max: usize) -> Result<Chunk, ProtocolError> {
        self.note("read");
        self.inner.read(stream, after, max)
    }
    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        self.note("receive");
        self.inner.receive(stream, items, through)
    }
    fn missing_chunks(
        &self,
        limit: usize,
        skip: &dyn Fn(&Address) -> bool,
    ) -> Result<Vec<Address>, ProtocolError> {
        self.note("missing_chunks");
        self.inner.missing_chunks(limit, skip)
    }
    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        self.note("read_chunk");
        self.inner.read_chunk(address)
    }
    fn store_chunk(&mut self, address: &Address, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.note("store_chunk");
        self.inner.store_chunk(address, bytes)
    }
    fn peer_holds(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        self.note("peer_holds");
        self.inner.peer_holds(stream)
    }
    fn peer_acked(&mut self, stream: &StreamId, through: u64) -> Result<(), ProtocolError> {
        self.note("peer_acked");
        self.inner.peer_acked(stream, through)
    }
    fn peer_refused(
        &mut self,
        stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        self.note("peer_refused");
        self.inner.peer_refused(stream, refusals)
    }
}

/// Serves one reconciliation stream of one connection on `endpoint` the way the hub's
/// admission does, with the hub's replica watched.
async fn serve_one(endpoint: quinn::Endpoint, hub: Arc<Node>, calls: Calls) {
    let conn = endpoint.accept().await.unwrap().await.unwrap();
    let peer = tls::peer_node_id(&conn).unwrap();
    let role = admit::device(&hub, &peer)
        .expect("the device is enrolled")
        .role;
    let (mut send, mut recv) = conn.accept_bi().await.unwrap();
    let kind = recv_header(&mut recv, &Deadlines::default()).await.unwrap();
    assert_eq!(kind, Some(StreamKind::Reconciliation));
    let replica = Watched {
        inner: HubReplica::new(hub, peer, role),
        side: "hub",
        calls,
    };
    let exchange = Reconcile::server(Config::default(), replica);
    drive(exchange, &mut send, &mut recv, &Deadlines::default())
        .await
        .unwrap();
    conn.closed().await;
}

#[test]
fn every_replica_call_of_both_sides_runs_off_the_async_worker_thread() {
    let mut world = World::new();
    let device = world.satker("100001");
    let signer = world.ppspm(&device);
    // Something to carry each way: a submission up, its receipt down.
    world.submit_spm(&device, &signer, "spm-driver-1", Vec::new());
    let calls: Calls = Arc::default();
    // On a current-thread runtime every task, both sides' included, is polled on the
    // thread that calls `block_on`: this one. Store work must happen anywhere else.
    let worker = std::thread::current().id();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let hub = world.hub.clone();
        let admit_all: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> = Arc::new(|_: &NodeId| true);
        let endpoint = server_endpoint(
            (Ipv4Addr::LOCALHOST, 0).into(),
            tls::server_config(&hub.key, admit_all).unwrap(),
        )
        .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let server = tokio::spawn(serve_one(endpoint, hub.clone(), calls.clone()));

        let (client, conn) = connect(&device.key, hub.node_id(), addr, Duration::from_secs(10))
            .await
            .unwrap();
        let (mut send, mut recv) = open_stream(&conn, StreamKind::Reconciliation)
            .await
            .unwrap();
        let replica = Watched {
            inner: DeviceReplica::new(device.clone()),
            side: "device",
            calls: calls.clone(),
        };
        let exchange = blocking(move || Reconcile::client(Config::default(), replica))
            .await
            .unwrap()
            .unwrap();
        let (done, _) = drive(exchange, &mut send, &mut recv, &Deadlines::default())
            .await
            .unwrap();
        assert!(done.session.stats().sent_items > 0, "nothing went up");
        assert!(done.session.stats().received_items > 0, "nothing came down");
        conn.close(0u32.into(), b"done");
        server.await.unwrap();
        client.wait_idle().await;
    });
    let calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
    for side in ["hub receive", "device receive", "device peer_acked"] {
        assert!(
            calls.iter().any(|(call, _)| call == side),
            "the session never made the call {side}: {calls:?}"
        );
    }
    let on_worker: Vec<_> = calls.iter().filter(|(_, t)| *t == worker).collect();
    assert!(
        on_worker.is_empty(),
        "store work ran on the async worker thread: {on_worker:?}"
    );
}
