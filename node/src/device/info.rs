//! What a node says about itself in `espm info`: its id, role, scope and hub, the last
//! successful sync and the last error (recorded by the one sync function), and what it
//! still has to send.

use std::sync::Arc;

use sync_protocol::{NodeId, Replica, StreamId, Timestamp};

use crate::{
    config::NodeConfig,
    device::replica::{hub_acked, scopes, DeviceReplica},
    error::Result,
    node::Node,
    records::SyncError,
    schema::SYNC_RECORD,
};

/// Records that a sync finished now (`Ok`) or failed with `error`, durably.
pub(crate) fn record(node: &Node, outcome: std::result::Result<(), String>) -> Result<()> {
    let now = node.now();
    node.store.write(|t| {
        let mut rec = SYNC_RECORD.get_in(t)?.unwrap_or_default();
        match outcome {
            Ok(()) => rec.last_sync = Some(now),
            Err(message) => rec.last_error = Some(SyncError { at: now, message }),
        }
        SYNC_RECORD.put(t, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(())
}

/// This node as `espm info` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// This node's id.
    pub node_id: NodeId,
    /// `hub`, `satker` or `auditor`.
    pub role: &'static str,
    /// A satker device's satker code.
    pub satker: Option<String>,
    /// The satkers an auditor reads, as its enrollment says (empty before its first sync).
    pub scope: Option<Vec<String>>,
    /// The hub's address as this node was set up with it; a hub's own listen address.
    pub hub: String,
    /// The pinned hub id (devices only).
    pub hub_id: Option<NodeId>,
    /// The last successful sync (never on a hub).
    pub last_sync: Option<Timestamp>,
    /// The last failed sync.
    pub last_error: Option<SyncError>,
    /// Items of this device's own stream the hub has not acknowledged holding.
    pub queued: u64,
    /// Attachment chunks those queued items carry, which the hub will ask for. Chunks
    /// of items it already holds but has not fetched in full are not known here.
    pub queued_chunks: u64,
    /// The KPPN's time zone, when this node knows it, for showing times to people.
    pub tz: Option<String>,
}

/// `espm info`: what this node is and how its syncing stands.
pub fn info(node: &Arc<Node>) -> Result<Info> {
    let record = SYNC_RECORD.get(&node.store)?.unwrap_or_default();
    let (hub, hub_id) = match &node.config {
        NodeConfig::Hub(h) => (h.listen.clone(), None),
        NodeConfig::Satker { hub, hub_id, .. } | NodeConfig::Auditor { hub, hub_id } => {
            (hub.clone(), Some(*hub_id))
        }
    };
    let (queued, queued_chunks) = match &node.config {
        NodeConfig::Satker { .. } => {
            let own = StreamId::Origin(node.node_id());
            let head = node.store.head(&own)?;
            let acked = hub_acked(node, &own)?.unwrap_or(0);
            let replica = DeviceReplica::new(node.clone());
            // Withdrawn items stay on the stream but never leave: not queued.
            let mut queued = 0u64;
            for seq in acked.saturating_add(1)..=head {
                if let Some(e) = node.store.entry(&own, seq)? {
                    if crate::schema::WITHDRAWN
                        .get(&node.store, &e.address.to_hex())?
                        .is_none()
                    {
                        queued += 1;
                    }
                }
            }
            (queued, replica.chunks_after(&own, acked)?)
        }
        _ => (0, 0),
    };
    Ok(Info {
        node_id: node.node_id(),
        role: node.config.role(),
        satker: node.satker().map(str::to_string),
        scope: matches!(node.config, NodeConfig::Auditor { .. }).then(|| scopes(node)),
        hub,
        hub_id,
        last_sync: record.last_sync,
        last_error: record.last_error,
        queued,
        queued_chunks,
        tz: node.tz()?,
    })
}

#[cfg(test)]
mod tests;
