//! The `fanin` scenario's load generator: simulated satker devices, each with its own
//! enrolled device key and its own stream of signed items held in memory.
//!
//! A simulated device is lightweight where it does not matter to the hub and real where
//! it does. Its items are made by the code `sign` and `submit` use
//! ([`super::fixture::generate_stream`]) and kept in memory, so 500 of them need no sled
//! store each (opening 500 stores at once costs file descriptors, page cache and
//! threads, and would muddle the load generator's own figures); they are served through
//! [`LoadReplica`], an in-memory [`Replica`]. Everything the hub sees is a device's:
//! the device's own key in the client TLS config ([`transport::connect`]), one
//! reconciliation stream per sync driven by the same session and driver as
//! `espm sync` ([`Reconcile::client`], [`drive`]), frames of the device's own stream in
//! order, and a Hello that follows the trust stream, the satker's notices and its
//! documents from where the device stood after its setup, so the hub sends back the
//! receipts of what it delivers. What it leaves out is the device's own bookkeeping:
//! it keeps what arrives by counting it (a real device verifies and stores it, work
//! that would only take CPU from the hub on a shared machine), and it runs no draft
//! sync beside the reconciliation (the benchmark's documents have no drafts to merge).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use sync_protocol::{
    Chunk, Config, FrameItem, ItemKind, NodeId, ProtocolError, Refusal, Replica, SecretKey,
    SignedItem, StreamId, StreamKind, VersionVector, HEADER_BYTES,
};

use super::fixture::GeneratedStream;
use crate::{
    error::{NodeError, Result},
    transport::{self, blocking, drive, open_stream, Deadlines, Reconcile, WireStats},
};

/// One simulated satker device.
pub(super) struct Client {
    /// Its enrolled device key.
    pub key: SecretKey,
    /// Its satker.
    pub satker: String,
    /// Its own stream's items from `first_seq` on, in memory.
    pub stream: GeneratedStream,
    /// The position of `stream`'s first item in the device's own stream: the hub already
    /// holds the ones before (the requests the setup sent).
    pub first_seq: u64,
    /// The streams it follows, and how far it held each when its setup was done.
    pub follows: VersionVector,
}

impl Client {
    /// Its node id.
    pub fn id(&self) -> NodeId {
        self.key.public()
    }

    /// The last position of its own stream.
    pub fn head(&self) -> u64 {
        self.first_seq - 1 + self.stream.items.len() as u64
    }

    /// Envelope bytes of its own items.
    pub fn payload_bytes(&self) -> u64 {
        self.stream.items.iter().map(|i| i.len() as u64).sum()
    }
}

/// What one simulated device's sync moved, as it saw it.
#[derive(Debug, Default, Clone)]
pub(super) struct ClientRun {
    /// Reconciliation bytes and flights, the stream header included.
    pub wire: WireStats,
    /// Items it sent.
    pub sent_items: u64,
    /// Items it received (receipts, mostly).
    pub received_items: u64,
    /// Envelope bytes of the items it received.
    pub received_bytes: u64,
    /// Receipts among them.
    pub receipts: u64,
    /// Items the hub refused, each as "item ADDRESS: reason".
    pub refused: Vec<String>,
}

/// A simulated device's view of its items, for one session.
pub(super) struct LoadReplica {
    client: Arc<Client>,
    /// How far it holds each stream it follows, as items arrive.
    held: VersionVector,
    received_bytes: u64,
    receipts: u64,
}

impl LoadReplica {
    /// A replica for one session of `client`.
    pub fn new(client: Arc<Client>) -> Self {
        LoadReplica {
            held: client.follows.clone(),
            client,
            received_bytes: 0,
            receipts: 0,
        }
    }

    fn own(&self) -> StreamId {
        StreamId::Origin(self.client.id())
    }
}

impl Replica for LoadReplica {
    /// Nothing is kept, so there is nothing to make durable.
    fn commit(&mut self) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        Ok(self.held.clone())
    }

    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        Ok(vec![self.own()])
    }

    /// The hub offers nothing; a device takes only what it asked for in its Hello.
    fn accepts(&self, _stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok(None)
    }

    fn may_serve(&self, stream: &StreamId) -> bool {
        *stream == self.own()
    }

    fn head(&self, stream: &StreamId) -> Result<u64, ProtocolError> {
        if *stream == self.own() {
            return Ok(self.client.head());
        }
        Ok(self.held.get(stream).copied().unwrap_or(0))
    }

    /// As the store reads a stream: whole items after `after` while they fit in
    /// `max_bytes`, at least one.
    fn read(
        &self,
        stream: &StreamId,
        after: u64,
        max_bytes: usize,
    ) -> Result<Chunk, ProtocolError> {
        if *stream != self.own() {
            return Err(ProtocolError::Replica(format!(
                "the simulated device serves only its own stream, not {stream}"
            )));
        }
        let first = self.client.first_seq;
        let skip = after.saturating_add(1).saturating_sub(first) as usize;
        let (mut items, mut bytes, mut through) = (Vec::new(), 0usize, after);
        for (i, item) in self.client.stream.items.iter().enumerate().skip(skip) {
            if !items.is_empty() && bytes + item.len() > max_bytes {
                break;
            }
            bytes += item.len();
            through = first + i as u64;
            items.push(FrameItem {
                seq: through,
                bytes: item.clone(),
            });
        }
        Ok(Chunk { items, through })
    }

    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        for it in items {
            self.received_bytes += it.bytes.len() as u64;
            if SignedItem::kind_of(&it.bytes) == Some(ItemKind::Receipt) {
                self.receipts += 1;
            }
        }
        self.held.insert(stream.clone(), through);
        Ok(Vec::new())
    }

    /// Kept by the session's stats, which the run reports.
    fn peer_refused(
        &mut self,
        _stream: &StreamId,
        _refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
}

/// How long one simulated device's sync may take before it counts as failed.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1800);

/// One sync of `client` with the hub `hub_id` at `addr`: connect with its own key, one
/// reconciliation session, close.
pub(super) async fn sync(
    client: Arc<Client>,
    hub_id: NodeId,
    addr: SocketAddr,
) -> Result<ClientRun> {
    let work = async {
        let (endpoint, conn) =
            transport::connect(&client.key, hub_id, addr, transport::CONNECT_TIMEOUT).await?;
        let result = session(client.clone(), &conn).await;
        conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        result
    };
    tokio::time::timeout(SYNC_TIMEOUT, work)
        .await
        .map_err(|_| NodeError::Unreachable {
            addr: addr.to_string(),
            detail: format!(
                "the sync did not finish within {} s",
                SYNC_TIMEOUT.as_secs()
            ),
        })?
}

/// One reconciliation on its own stream of `conn`, as `espm sync` runs one.
async fn session(client: Arc<Client>, conn: &quinn::Connection) -> Result<ClientRun> {
    let (mut send, mut recv) = open_stream(conn, StreamKind::Reconciliation).await?;
    let replica = LoadReplica::new(client);
    let exchange = blocking(move || Reconcile::client(Config::default(), replica)).await??;
    let (done, mut wire) = drive(exchange, &mut send, &mut recv, &Deadlines::default()).await?;
    wire.sent_bytes += HEADER_BYTES as u64;
    let stats = done.session.stats();
    Ok(ClientRun {
        wire,
        sent_items: stats.sent_items,
        received_items: stats.received_items,
        received_bytes: done.replica.received_bytes,
        receipts: done.replica.receipts,
        refused: stats
            .refused_by_peer
            .iter()
            .map(|(_, r)| format!("item {}: {}", r.address.short(), r.reason))
            .collect(),
    })
}

/// Opens one handshaken connection per client in `clients` at once and holds them;
/// returns them with how long the last handshake took.
pub(super) async fn open_idle(
    clients: &[Arc<Client>],
    hub_id: NodeId,
    addr: SocketAddr,
) -> Result<(Vec<(quinn::Endpoint, quinn::Connection)>, f64)> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in clients {
        let c = c.clone();
        tasks.spawn(async move {
            transport::connect(&c.key, hub_id, addr, transport::CONNECT_TIMEOUT).await
        });
    }
    let mut held = Vec::with_capacity(clients.len());
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(pair)) => held.push(pair),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => {
                first_error = first_error.or(Some(NodeError::Transport(format!(
                    "a benchmark connection task failed: {e}"
                ))))
            }
        }
    }
    if let Some(e) = first_error {
        close_all(held).await;
        return Err(e);
    }
    Ok((held, started.elapsed().as_secs_f64()))
}

/// Closes connections opened by [`open_idle`], waiting briefly for the hub to hear it.
pub(super) async fn close_all(held: Vec<(quinn::Endpoint, quinn::Connection)>) {
    for (endpoint, conn) in &held {
        conn.close(0u32.into(), b"bench done");
        endpoint.close(0u32.into(), b"bench done");
    }
    for (endpoint, _) in held {
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    }
}

/// Items the hub refused across `runs`, and the first, for the report.
pub(super) fn refusals(runs: &BTreeMap<usize, ClientRun>) -> (usize, Option<String>) {
    let n = runs.values().map(|r| r.refused.len()).sum();
    let first = runs.values().find_map(|r| r.refused.first().cloned());
    (n, first)
}
