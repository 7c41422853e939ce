//! `espm sync --from ADDR --from-id SATKER_NODE_ID` on an auditor: one reconciliation
//! straight with a satker node in its scope, when the hub is out of reach. The same
//! QUIC, TLS (mutual, by node key), session and driver as a sync with the hub; the
//! auditor takes only that satker's streams and the trust stream, at the hub's
//! positions, judges every item as it judges the hub's (only what the hub's keys signed,
//! or device items of that satker), and sends nothing.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use sync_protocol::{
    Address, Chunk, Config, FrameItem, Item, NodeId, ProtocolError, Refusal, Replica, SignedItem,
    StreamId, VersionVector, HEADER_BYTES,
};

use crate::{
    config::NodeConfig,
    device::{
        replica::DeviceReplica,
        sync::{OnProgress, Synced},
    },
    error::{NodeError, Result},
    node::Node,
    replica::local,
    satker::share::shared_streams,
    schema::{AUDITOR_SCOPE, DEVICES},
    transport::{blocking, drive, open_stream, refusal, tls, Deadlines, Reconcile, Refusal as Why},
};

/// How to run one direct sync.
#[derive(Clone)]
pub struct DirectOptions {
    /// The satker node's address.
    pub from: SocketAddr,
    /// The satker node's id, which its TLS must present.
    pub from_id: NodeId,
    /// The longest the whole sync may take.
    pub timeout: Duration,
    /// Where to report progress, if anywhere.
    pub progress: Option<OnProgress>,
}

/// Why an auditor does not sync from a node, decided before anything is received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectRefusal {
    /// Only an auditor syncs straight from a satker.
    NotAnAuditor,
    /// The auditor has not learned its scope from the hub yet.
    NoScope,
    /// This node holds no hub-signed enrollment of the key.
    NotEnrolled(NodeId),
    /// The key is enrolled, but not as a satker device.
    NotASatker(NodeId),
    /// The satker is not in this auditor's scope.
    OutOfScope(String),
    /// The hub revoked the key.
    Revoked(NodeId),
    /// The satker node refused this auditor's key.
    RefusedBySatker,
    /// The node at the address did not present the key named.
    NotThatNode(NodeId),
}

impl std::fmt::Display for DirectRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectRefusal::NotAnAuditor => write!(
                f,
                "`espm sync --from` runs on an auditor node; a satker syncs with its hub"
            ),
            DirectRefusal::NoScope => write!(
                f,
                "this auditor does not know its scope yet; sync once with the hub (`espm sync`) before syncing from a satker"
            ),
            DirectRefusal::NotEnrolled(id) => write!(
                f,
                "node {id} is not a satker device the hub enrolled, as far as this auditor knows; check --from-id, or sync with the hub first"
            ),
            DirectRefusal::NotASatker(id) => write!(
                f,
                "node {id} is not enrolled as a satker device; --from-id must name one"
            ),
            DirectRefusal::OutOfScope(s) => write!(
                f,
                "satker {s} is not in this auditor's scope, so this auditor does not sync from it"
            ),
            DirectRefusal::Revoked(id) => write!(
                f,
                "the hub revoked device {id}; this auditor does not sync from it"
            ),
            DirectRefusal::RefusedBySatker => write!(
                f,
                "the satker node refused this auditor: it holds no hub enrollment of this node with that satker in scope (or the hub revoked it). The satker must sync with the hub first"
            ),
            DirectRefusal::NotThatNode(id) => write!(
                f,
                "the node at that address is not {id}; check --from and --from-id"
            ),
        }
    }
}

impl From<DirectRefusal> for NodeError {
    fn from(r: DirectRefusal) -> NodeError {
        NodeError::Refused(r.to_string())
    }
}

/// The satker whose device `from` is, if this auditor may sync from it: a satker
/// device the hub enrolled, not revoked, whose satker is in this auditor's scope.
pub fn satker_of(node: &Node, from: &NodeId) -> std::result::Result<String, DirectRefusal> {
    if !matches!(node.config, NodeConfig::Auditor { .. }) {
        return Err(DirectRefusal::NotAnAuditor);
    }
    let scope = AUDITOR_SCOPE.get(&node.store).ok().flatten();
    let Some(scope) = scope else {
        return Err(DirectRefusal::NoScope);
    };
    if !matches!(crate::trust::of_device(&node.store, from), Ok(None)) {
        return Err(DirectRefusal::Revoked(*from));
    }
    match DEVICES.get(&node.store, &from.to_hex()).ok().flatten() {
        None => Err(DirectRefusal::NotEnrolled(*from)),
        Some(d) => match d.role {
            sync_protocol::DeviceRole::Satker { satker } if scope.contains(&satker) => Ok(satker),
            sync_protocol::DeviceRole::Satker { satker } => Err(DirectRefusal::OutOfScope(satker)),
            sync_protocol::DeviceRole::Auditor { .. } => Err(DirectRefusal::NotASatker(*from)),
        },
    }
}

/// One sync of this auditor straight from a satker node.
pub async fn sync_from_satker(node: Arc<Node>, options: DirectOptions) -> Result<Synced> {
    let checked = node.clone();
    let from_id = options.from_id;
    let satker = blocking(move || satker_of(&checked, &from_id)).await??;
    let from = options.from;
    let work = async {
        let started = std::time::Instant::now();
        let (endpoint, conn) = connect(&node, &options).await?;
        let connect_seconds = started.elapsed().as_secs_f64();
        let session = session(&node, &conn, &satker, options.progress.clone()).await;
        conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        let mut synced = session?;
        synced.seconds = started.elapsed().as_secs_f64();
        synced.connect_seconds = connect_seconds;
        Ok(synced)
    };
    tokio::time::timeout(options.timeout, work)
        .await
        .map_err(|_| {
            NodeError::Transport(format!(
                "the sync with the satker node at {from} did not finish within {} s",
                options.timeout.as_secs()
            ))
        })?
}

/// Dials the satker node, accepting only the key `from_id`.
async fn connect(node: &Node, o: &DirectOptions) -> Result<(quinn::Endpoint, quinn::Connection)> {
    let config = tls::client_config(&node.key, o.from_id)?;
    let local: SocketAddr = match o.from {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let endpoint =
        quinn::Endpoint::client(local).map_err(NodeError::io("open a local UDP socket"))?;
    let unreachable = |detail: String| {
        NodeError::Transport(format!(
            "cannot reach the satker node at {}: {detail}. Check the link and the address",
            o.from
        ))
    };
    let connecting = endpoint
        .connect_with(config, o.from, tls::SERVER_NAME)
        .map_err(|e| unreachable(e.to_string()))?;
    let within = o.timeout.min(crate::transport::CONNECT_TIMEOUT);
    match tokio::time::timeout(within, connecting).await {
        Ok(Ok(conn)) => Ok((endpoint, conn)),
        Ok(Err(e)) => {
            endpoint.close(0u32.into(), b"");
            Err(match refusal(&e) {
                Some(Why::NotAdmitted | Why::Dismissed(_)) => DirectRefusal::RefusedBySatker.into(),
                Some(Why::NotThePinnedHub) => DirectRefusal::NotThatNode(o.from_id).into(),
                _ => unreachable(e.to_string()),
            })
        }
        Err(_) => {
            endpoint.close(0u32.into(), b"");
            Err(unreachable("no answer".into()))
        }
    }
}

/// A satker that refuses our key says so at the first read or write, by close code.
fn refine(e: NodeError, conn: &quinn::Connection) -> NodeError {
    match conn.close_reason().as_ref().and_then(refusal) {
        Some(Why::NotAdmitted | Why::Dismissed(_)) => DirectRefusal::RefusedBySatker.into(),
        _ => e,
    }
}

/// The one reconciliation session with the satker.
async fn session(
    node: &Arc<Node>,
    conn: &quinn::Connection,
    satker: &str,
    progress: Option<OnProgress>,
) -> Result<Synced> {
    let (mut send, mut recv) = open_stream(conn, sync_protocol::StreamKind::Reconciliation)
        .await
        .map_err(|e| refine(e, conn))?;
    let replica = DirectReplica::new(node.clone(), satker.to_string());
    let mut exchange = blocking(move || Reconcile::client(Config::default(), replica)).await??;
    if let Some(report) = progress {
        exchange = exchange.on_progress(Box::new(move |s, r, w| {
            let p = s.progress(r).unwrap_or_default();
            report(&crate::device::sync::SyncProgress {
                received_items: p.received,
                items_to_receive: p.to_receive,
                received_bytes: w.received_bytes,
                sent_bytes: w.sent_bytes,
                received_chunks: p.chunks_received,
                chunks_to_receive: p.chunks_to_receive,
                ..Default::default()
            })
        }));
    }
    let (done, wire) = drive(exchange, &mut send, &mut recv, &Deadlines::default())
        .await
        .map_err(|e| refine(e, conn))?;
    let stats = done.session.stats();
    let p = done.session.progress(&done.replica)?;
    let mut synced = Synced {
        received_items: stats.received_items,
        received_chunks: stats.received_chunks,
        items_to_receive: p.to_receive,
        chunks_to_receive: p.chunks_to_receive,
        wire,
        ..Synced::default()
    };
    synced.wire.sent_bytes += HEADER_BYTES as u64;
    let o = done.replica.inner.outcomes();
    synced.receipted = o.receipted;
    synced.rejected = o.rejected;
    Ok(synced)
}

/// The auditor's store as one session with a satker reads and changes it: a device's
/// replica ([`DeviceReplica`]) narrowed to that satker's shared streams, offering
/// nothing, and refusing any item that names another satker or that a device of
/// another satker made.
pub struct DirectReplica {
    inner: DeviceReplica,
    node: Arc<Node>,
    satker: String,
}

impl DirectReplica {
    /// A replica for one session with a device of `satker`.
    pub fn new(node: Arc<Node>, satker: String) -> DirectReplica {
        DirectReplica {
            inner: DeviceReplica::new(node.clone()),
            node,
            satker,
        }
    }

    /// Why this auditor will not take `bytes` from this satker, if it will not: an
    /// item of another satker, or a document item no device of this satker made.
    fn out_of_scope(&self, bytes: &[u8]) -> Option<String> {
        let item = SignedItem::open_stored(bytes).ok()?;
        let names = match &item.item {
            Item::Snapshot(s) => Some(&s.satker),
            Item::Submission(s) => Some(&s.satker),
            Item::Receipt(r) => Some(&r.satker),
            Item::Status(s) => Some(&s.satker),
            Item::OperatorActivation(a) => Some(&a.satker),
            _ => None,
        };
        if let Some(s) = names.filter(|s| **s != self.satker) {
            return Some(format!(
                "it concerns satker {s}, and this sync is with satker {}",
                self.satker
            ));
        }
        if matches!(item.item, Item::Snapshot(_) | Item::Submission(_)) {
            let author = DEVICES
                .get(&self.node.store, &item.author.to_hex())
                .ok()
                .flatten();
            let ours = matches!(author.map(|d| d.role),
                Some(sync_protocol::DeviceRole::Satker { satker }) if satker == self.satker);
            if !ours {
                return Some(format!(
                    "no device the hub enrolled for satker {} made it",
                    self.satker
                ));
            }
        }
        None
    }
}

impl Replica for DirectReplica {
    fn wanted(&self) -> std::result::Result<VersionVector, ProtocolError> {
        let mut vv = VersionVector::new();
        for s in shared_streams(&self.satker) {
            let pos = self.node.store.position(&s).map_err(local)?;
            vv.insert(s, pos);
        }
        Ok(vv)
    }

    /// An auditor never writes.
    fn offered(&self) -> std::result::Result<Vec<StreamId>, ProtocolError> {
        Ok(Vec::new())
    }

    fn accepts(&self, _stream: &StreamId) -> std::result::Result<Option<u64>, ProtocolError> {
        Ok(None)
    }

    fn may_serve(&self, _stream: &StreamId) -> bool {
        false
    }

    fn head(&self, stream: &StreamId) -> std::result::Result<u64, ProtocolError> {
        self.inner.head(stream)
    }

    fn read(
        &self,
        stream: &StreamId,
        _after: u64,
        _max_bytes: usize,
    ) -> std::result::Result<Chunk, ProtocolError> {
        Err(ProtocolError::Replica(format!(
            "an auditor serves nothing, not stream {stream}"
        )))
    }

    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> std::result::Result<Vec<Refusal>, ProtocolError> {
        if !shared_streams(&self.satker).contains(stream) {
            return Err(ProtocolError::Violation(format!(
                "the satker sent stream {stream}, which it does not share"
            )));
        }
        let mut refused = Vec::new();
        let mut kept = Vec::with_capacity(items.len());
        for it in items {
            match self.out_of_scope(&it.bytes) {
                Some(reason) => {
                    tracing::warn!(item = %Address::of(&it.bytes).short(), %reason, "refused an item from the satker");
                    refused.push(Refusal {
                        seq: it.seq,
                        address: Address::of(&it.bytes),
                        reason,
                    });
                }
                None => kept.push(it.clone()),
            }
        }
        let mut more = self.inner.receive(stream, &kept, through)?;
        refused.append(&mut more);
        Ok(refused)
    }

    fn missing_chunks(
        &self,
        limit: usize,
        skip: &dyn Fn(&Address) -> bool,
    ) -> std::result::Result<Vec<Address>, ProtocolError> {
        crate::attachments::missing(
            &self.node.store,
            std::slice::from_ref(&self.satker),
            limit,
            skip,
        )
        .map_err(local)
    }

    fn chunks_needed(&self) -> std::result::Result<u64, ProtocolError> {
        Ok(crate::schema::NEED_COUNTS
            .get(&self.node.store, &self.satker)
            .map_err(local)?
            .unwrap_or(0))
    }

    fn store_chunk(
        &mut self,
        address: &Address,
        bytes: &[u8],
    ) -> std::result::Result<(), ProtocolError> {
        self.inner.store_chunk(address, bytes)
    }

    fn commit(&mut self) -> std::result::Result<(), ProtocolError> {
        self.inner.commit()
    }

    fn peer_refused(
        &mut self,
        _stream: &StreamId,
        _refusals: &[Refusal],
    ) -> std::result::Result<(), ProtocolError> {
        // The auditor sent nothing, so there is nothing of its own to refuse.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
