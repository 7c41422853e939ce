//! A timed client sync as `espm sync` runs it, and the accounting of what it carried:
//! wire bytes from the driver, payload from the stream positions before and after.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use sync_protocol::{
    session::{Config, Session, Stats},
    stream::StreamId,
    NodeId,
};

use super::fixture::Hub;
use crate::{
    device::replica::DeviceReplica,
    error::{NodeError, Result},
    node::Node,
    transport::{self, WireStats},
};

/// How long one sync may take before the benchmark gives up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1800);

/// What one client sync moved, as the dialling side saw it.
pub(super) struct SyncRun {
    /// Bytes, messages and driver flights on the sync stream.
    pub wire: WireStats,
    /// The session's own counters.
    pub stats: Stats,
    /// From just before dialling until the sync call returned.
    pub seconds: f64,
    /// From just before dialling until the QUIC connection was established.
    pub connect_seconds: f64,
}

impl SyncRun {
    /// Bytes both ways, length prefixes included.
    pub fn wire_bytes(&self) -> u64 {
        self.wire.sent_bytes + self.wire.received_bytes
    }
}

/// One reconciliation of `node` with the hub on its loopback address.
pub(super) async fn sync(node: &Arc<Node>, hub: &Hub) -> Result<SyncRun> {
    sync_via(node, hub.id(), hub.addr).await
}

/// One reconciliation of `node` with the hub `hub_id` dialled at `addr` (the hub itself
/// or a relay in front of it), run the way `espm sync` runs it but keeping the wire
/// statistics.
///
/// The time covers building the client's TLS config, the QUIC handshake, opening the
/// stream and the whole session, until the device holds everything the hub's Done named
/// and has ended its side of the stream. Closing the connection afterwards is not
/// included.
pub(super) async fn sync_via(
    node: &Arc<Node>,
    hub_id: NodeId,
    addr: SocketAddr,
) -> Result<SyncRun> {
    let work = async {
        let started = Instant::now();
        let (endpoint, conn) = transport::connect(&node.key, hub_id, addr, SYNC_TIMEOUT).await?;
        let connect_seconds = started.elapsed().as_secs_f64();
        let result = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| {
                NodeError::Transport(format!("could not open a stream to the hub: {e}"))
            })?;
            let mut replica = DeviceReplica::new(node.clone());
            let mut session = Session::client(Config::default(), &replica)?;
            let wire =
                transport::run_session(&mut session, &mut replica, &mut send, &mut recv, |_, _| {})
                    .await?;
            Ok::<_, NodeError>(SyncRun {
                wire,
                stats: session.stats().clone(),
                seconds: started.elapsed().as_secs_f64(),
                connect_seconds,
            })
        }
        .await;
        conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        result
    };
    let run = tokio::time::timeout(SYNC_TIMEOUT, work)
        .await
        .map_err(|_| NodeError::Unreachable {
            addr: addr.to_string(),
            detail: format!(
                "the benchmark sync did not finish within {} s",
                SYNC_TIMEOUT.as_secs()
            ),
        })??;
    if let Some((_, r)) = run.stats.refused_by_peer.first() {
        return Err(NodeError::user(format!(
            "the hub refused {} item(s) during the benchmark (first: item {}: {}); the measurement would be meaningless",
            run.stats.refused_by_peer.len(),
            r.address.short(),
            r.reason
        )));
    }
    Ok(run)
}

/// Stream positions that tell, after a sync, which items crossed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Marks {
    /// How far the hub holds the client's own stream.
    origin_at_hub: u64,
    /// How far the client holds the trust stream.
    trust_at_client: u64,
    /// How far the client holds its satker's stream.
    scope_at_client: u64,
}

/// The stream of the satker `client` belongs to.
pub(super) fn scope_of(client: &Node) -> Result<StreamId> {
    Ok(StreamId::Scope(client.require_satker("bench")?.to_string()))
}

/// Where `client` and the hub stand now.
pub(super) fn marks(hub: &Node, client: &Node) -> Result<Marks> {
    Ok(Marks {
        origin_at_hub: hub.store.position(&StreamId::Origin(client.node_id()))?,
        trust_at_client: client.store.position(&StreamId::Trust)?,
        scope_at_client: client.store.position(&scope_of(client)?)?,
    })
}

/// Items and envelope bytes of `from`'s log of `stream` in `after+1..=through`,
/// leaving out entries authored by `skip` (the hub never echoes a device's own items).
fn stream_payload(
    from: &Node,
    stream: &StreamId,
    after: u64,
    through: u64,
    skip: Option<NodeId>,
) -> Result<(u64, u64)> {
    let (mut items, mut bytes) = (0u64, 0u64);
    let mut pos = after;
    while pos < through {
        let (chunk, covered) = from
            .store
            .read_stream(stream, pos, 1 << 20, |e| skip.is_some() && e.origin == skip)?;
        for (seq, b) in chunk {
            if seq > through {
                return Ok((items, bytes));
            }
            items += 1;
            bytes += b.len() as u64;
        }
        if covered <= pos {
            break;
        }
        pos = covered;
    }
    Ok((items, bytes))
}

/// Items and envelope bytes of `client`'s own stream in `after+1..=through`.
pub(super) fn origin_payload(client: &Node, after: u64, through: u64) -> Result<(u64, u64)> {
    let stream = StreamId::Origin(client.node_id());
    stream_payload(client, &stream, after, through, None)
}

/// Where the hub holds `client`'s own stream, and how far the stream goes.
pub(super) fn origin_progress(hub: &Node, client: &Node) -> Result<(u64, u64)> {
    let stream = StreamId::Origin(client.node_id());
    Ok((hub.store.position(&stream)?, client.store.head(&stream)?))
}

/// The items (and their envelope bytes) that crossed between `client` and the hub
/// between two marks, in both directions.
pub(super) fn payload(
    hub: &Node,
    client: &Node,
    before: Marks,
    after: Marks,
) -> Result<(u64, u64)> {
    let me = client.node_id();
    let sent = stream_payload(
        client,
        &StreamId::Origin(me),
        before.origin_at_hub,
        after.origin_at_hub,
        None,
    )?;
    let trust = stream_payload(
        hub,
        &StreamId::Trust,
        before.trust_at_client,
        after.trust_at_client,
        Some(me),
    )?;
    let scope = stream_payload(
        hub,
        &scope_of(client)?,
        before.scope_at_client,
        after.scope_at_client,
        Some(me),
    )?;
    Ok((sent.0 + trust.0 + scope.0, sent.1 + trust.1 + scope.1))
}

/// Fails unless the hub holds all of `client`'s stream: a benchmark that lost items
/// must not report a rate.
pub(super) fn check_delivered(hub: &Node, client: &Node) -> Result<()> {
    let (held, head) = origin_progress(hub, client)?;
    if held != head {
        return Err(NodeError::user(format!(
            "bench: the hub holds {held} of the satker's {head} items after the sync"
        )));
    }
    Ok(())
}
