//! The hub's side of a reconciliation session with one enrolled device: what the device
//! may read (the trust stream, and its own satker's or its auditor scope's streams),
//! what it may write (its own stream, judged by [`super::ingest`]), and which attachment
//! chunks the hub asks it for and serves it.

use std::sync::Arc;

use storage::StoreError;
use sync_protocol::{
    Address, Chunk, DeviceRole, FrameItem, NodeId, ProtocolError, Refusal, Replica, StreamId,
    VersionVector,
};

use super::{checkpoint, delivery, ingest::hub_receive};
use crate::{
    attachments,
    node::Node,
    records::RefusalRecord,
    replica::{local, read_frame, receive_frame},
};

/// The hub's store as one enrolled device may see and change it, for one session.
pub struct HubReplica {
    node: Arc<Node>,
    device: NodeId,
    role: DeviceRole,
    /// A frame or chunk was stored since the last flush: the next commit flushes.
    unflushed: bool,
}

impl HubReplica {
    /// A replica for a session with `device`, enrolled as `role`.
    pub fn new(node: Arc<Node>, device: NodeId, role: DeviceRole) -> Self {
        HubReplica {
            node,
            device,
            role,
            unflushed: false,
        }
    }

    /// The satkers whose streams the device may read.
    fn scopes(&self) -> Vec<String> {
        match &self.role {
            DeviceRole::Satker { satker } => vec![satker.clone()],
            DeviceRole::Auditor { scope } => scope.clone(),
        }
    }

    /// Keeps a refusal for the KPPN's monitor; `by_hub` names the device whose item the
    /// hub refused, so the monitor can flag it.
    fn note_refusal(
        &self,
        address: &Address,
        reason: &str,
        by_hub: bool,
    ) -> Result<(), StoreError> {
        tracing::warn!(device = %self.device, item = %address.short(), %reason, by_hub, "refused an item");
        self.node.store.write(|t| {
            crate::schema::REFUSALS.put(
                t,
                &address.to_hex(),
                &RefusalRecord {
                    reason: reason.to_string(),
                    at: self.node.now(),
                    device: by_hub.then(|| self.device.to_hex()),
                },
            );
            Ok(())
        })
    }
}

impl Replica for HubReplica {
    /// The hub answers; it wants nothing of its own from a device session.
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        Ok(VersionVector::new())
    }

    /// The hub offers nothing unasked: it serves what the device's Hello wants.
    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        Ok(Vec::new())
    }

    fn accepts(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        match (&self.role, stream) {
            (DeviceRole::Satker { .. }, StreamId::Origin(o)) if *o == self.device => {
                Ok(Some(self.node.store.position(stream).map_err(local)?))
            }
            _ => Ok(None),
        }
    }

    fn may_serve(&self, stream: &StreamId) -> bool {
        match stream {
            StreamId::Trust => true,
            StreamId::Scope(s) | StreamId::Notices(s) => self.scopes().contains(s),
            StreamId::Origin(_) => false,
        }
    }

    fn head(&self, stream: &StreamId) -> Result<u64, ProtocolError> {
        self.node.store.head(stream).map_err(local)
    }

    fn read(
        &self,
        stream: &StreamId,
        after: u64,
        max_bytes: usize,
    ) -> Result<Chunk, ProtocolError> {
        // A device's own items are never echoed back to it.
        let me = Some(self.device);
        read_frame(&self.node, stream, after, max_bytes, |e| e.origin == me)
    }

    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        self.unflushed = true;
        receive_frame(
            &self.node,
            stream,
            items,
            through,
            |t, arrived| hub_receive(&self.node, t, self.device, &self.role, arrived),
            // The peer and the monitor get the refusal's plain message.
            |address, reason| self.note_refusal(address, reason, true),
        )
        .and_then(|refusals| {
            checkpoint::if_due(&self.node, self.node.now()).map_err(local)?;
            Ok(refusals)
        })
    }

    /// What the hub still needs of a satker's attachments, the device's total to send.
    fn chunks_needed(&self) -> Result<u64, ProtocolError> {
        let DeviceRole::Satker { satker } = &self.role else {
            return Ok(0);
        };
        Ok(crate::schema::NEED_COUNTS
            .get(&self.node.store, satker)
            .map_err(local)?
            .unwrap_or(0))
    }

    fn missing_chunks(
        &self,
        limit: usize,
        skip: &dyn Fn(&Address) -> bool,
    ) -> Result<Vec<Address>, ProtocolError> {
        // The hub asks a device only for chunks its own satker's documents need; an
        // auditor authors nothing and is asked for nothing.
        let DeviceRole::Satker { satker } = &self.role else {
            return Ok(Vec::new());
        };
        attachments::missing(&self.node.store, std::slice::from_ref(satker), limit, skip)
            .map_err(local)
    }

    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        // A chunk goes to a device or an auditor only if a satker it may read sent it
        // for a document of its own; the answer to anything else is the same NoChunk,
        // whether the hub holds the bytes or not.
        let store = &self.node.store;
        for satker in self.scopes() {
            if attachments::is_held_by(store, &satker, address).map_err(local)? {
                return attachments::bytes(store, address).map_err(local);
            }
        }
        Ok(None)
    }

    fn store_chunk(&mut self, address: &Address, bytes: &[u8]) -> Result<(), ProtocolError> {
        let DeviceRole::Satker { satker } = &self.role else {
            return Err(ProtocolError::Replica(
                "auditor devices are read-only; the hub stores nothing they send".into(),
            ));
        };
        let now = self.node.now();
        self.unflushed = true;
        self.node
            .store
            .write(|t| delivery::chunk_arrived(&self.node, t, satker, address, bytes, now))
            .map_err(local)
    }

    /// The session settles: the hub signs a checkpoint of what it now holds and, for a
    /// satker, proves its receipts against it ([`checkpoint::settle`]).
    fn settle(&mut self) -> Result<bool, ProtocolError> {
        let satker = match &self.role {
            DeviceRole::Satker { satker } => Some(satker.as_str()),
            _ => None,
        };
        let published = checkpoint::settle(&self.node, satker, self.node.now()).map_err(local)?;
        self.unflushed |= published;
        Ok(published)
    }

    /// One flush for every frame and chunk stored since the last message left: each
    /// flight is its own checkpoint, and a cut link resumes after the last one.
    fn commit(&mut self) -> Result<(), ProtocolError> {
        if std::mem::take(&mut self.unflushed) {
            self.node.store.flush().map_err(local)?;
        }
        Ok(())
    }

    fn peer_refused(
        &mut self,
        _stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        // A device refusing what the hub publishes means the two disagree on trust.
        for r in refusals {
            self.note_refusal(&r.address, &r.reason, false)
                .map_err(local)?;
        }
        self.node.store.flush().map_err(local)
    }
}
