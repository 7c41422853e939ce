//! The hub's registry of live device connections, by device key: it caps a device's
//! connections and lets a revocation close them at once. Held by the node
//! so the authority that revokes and the endpoint that admits share one registry.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
};

use sync_protocol::NodeId;

use crate::transport::close::NOT_ADMITTED;

/// The hub's live device connections, by device key.
#[derive(Default)]
pub struct LiveConnections {
    devices: Mutex<BTreeMap<NodeId, Vec<quinn::Connection>>>,
}

impl LiveConnections {
    /// Records `conn` as one of `device`'s live connections, unless the device already
    /// holds `limit`; then the error names how many it holds. Unrecorded when the
    /// returned guard drops.
    pub fn register(
        self: &Arc<Self>,
        device: NodeId,
        conn: &quinn::Connection,
        limit: usize,
    ) -> Result<Registered, usize> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let live = devices.entry(device).or_default();
        if live.len() >= limit {
            return Err(live.len());
        }
        live.push(conn.clone());
        Ok(Registered {
            live: self.clone(),
            device,
            id: conn.stable_id(),
        })
    }

    /// Closes every live connection of `device` with `reason`; returns how many.
    pub fn close_device(&self, device: &NodeId, reason: &str) -> usize {
        let conns = self
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(device)
            .unwrap_or_default();
        for conn in &conns {
            conn.close(NOT_ADMITTED.into(), reason.as_bytes());
        }
        if !conns.is_empty() {
            tracing::info!(device = %device, connections = conns.len(), reason, "closed the device's live connections");
        }
        conns.len()
    }

    /// How many live connections `device` holds.
    pub fn count(&self, device: &NodeId) -> usize {
        self.devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(device)
            .map_or(0, Vec::len)
    }
}

/// A connection's entry in [`LiveConnections`]; removed when dropped.
pub struct Registered {
    live: Arc<LiveConnections>,
    device: NodeId,
    id: usize,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut devices = self
            .live
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(live) = devices.get_mut(&self.device) {
            live.retain(|c| c.stable_id() != self.id);
            if live.is_empty() {
                devices.remove(&self.device);
            }
        }
    }
}
