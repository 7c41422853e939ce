//! A timed client sync, run by the very function `espm sync` runs
//! ([`crate::device::sync::sync_once`]), and the accounting of what it carried: wire
//! bytes from the driver, payload from the stream positions before and after.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use sync_protocol::{NodeId, StreamId};

use super::fixture::Hub;
use crate::{
    device::sync::{sync_once, SyncOptions, Synced},
    error::{NodeError, Result},
    node::Node,
};

/// How long one sync may take before the benchmark gives up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1800);

/// What one client sync moved, as the dialling side saw it: `espm sync`'s own result.
pub(super) type SyncRun = Synced;

/// Bytes both ways of everything the sync put on the wire: the reconciliation streams
/// and the draft stream beside them, headers and length prefixes included.
pub(super) fn wire_bytes(run: &SyncRun) -> u64 {
    run.wire.sent_bytes
        + run.wire.received_bytes
        + run.drafts.sent_bytes
        + run.drafts.received_bytes
}

/// One sync of `node` with the hub on its loopback address.
pub(super) async fn sync(node: &Arc<Node>, hub: &Hub) -> Result<SyncRun> {
    sync_via(node, hub.addr).await
}

/// One sync of `node`, exactly as `espm sync` runs it, with its pinned hub dialled at
/// `addr` (the hub itself or a relay in front of it).
///
/// Its `seconds` cover building the client's TLS config, the QUIC handshake and every
/// session, until the device holds everything the hub's Done named and has ended its
/// side of the streams; closing the connection afterwards is not included.
pub(super) async fn sync_via(node: &Arc<Node>, addr: SocketAddr) -> Result<SyncRun> {
    let options = SyncOptions {
        dial: Some(addr),
        ..SyncOptions::within(SYNC_TIMEOUT)
    };
    let run = sync_once(node.clone(), options).await?;
    if let Some(r) = run.refused.first() {
        return Err(NodeError::user(format!(
            "the hub refused {} item(s) during the benchmark (first: {r}); the measurement would be meaningless",
            run.refused.len(),
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
