//! The node's side of the reconciliation session: streams read from and written to
//! the store, with authorization decided by who the peer is.

use std::sync::Arc;

use storage::{StoreError, Table};
use sync_protocol::{
    enrollment::DeviceRole,
    message::{FrameItem, Refusal},
    session::{Chunk, Replica},
    status::DocState,
    stream::{StreamId, VersionVector},
    Address, Item, NodeId, ProtocolError, SignedItem,
};

use crate::{
    attachments, clock,
    config::NodeConfig,
    delivery, docs,
    ingest::{client_receive, hub_receive, Verdict},
    node::Node,
    records::RefusalRecord,
};

fn local(e: StoreError) -> ProtocolError {
    ProtocolError::Replica(e.to_string())
}

/// Where a device keeps how far the hub acknowledged one of its streams.
fn hub_acked_key(stream: &StreamId) -> String {
    format!("hub-acked/{}", hex::encode(stream.key()))
}

/// How far the hub last acknowledged a device's `stream`, as the device remembers it: the
/// position its next session starts sending from.
pub(crate) fn hub_acked(node: &Node, stream: &StreamId) -> Result<Option<u64>, StoreError> {
    node.store.get::<u64>(Table::Meta, &hub_acked_key(stream))
}

/// Who is at the other end of a session.
pub enum Peer {
    /// On the hub: an enrolled device.
    Device { id: NodeId, role: DeviceRole },
    /// On a satker or auditor: the pinned hub.
    Hub,
}

/// A replica over the node's store for one session with `peer`.
pub struct NodeReplica {
    node: Arc<Node>,
    peer: Peer,
}

impl NodeReplica {
    /// A replica for a session with `peer`.
    pub fn new(node: Arc<Node>, peer: Peer) -> Self {
        NodeReplica { node, peer }
    }

    fn scopes(&self) -> Vec<String> {
        match (&self.peer, &self.node.config) {
            (
                Peer::Device {
                    role: DeviceRole::Satker { satker },
                    ..
                },
                _,
            ) => vec![satker.clone()],
            (
                Peer::Device {
                    role: DeviceRole::Auditor { scope },
                    ..
                },
                _,
            ) => scope.clone(),
            (Peer::Hub, NodeConfig::Satker { satker, .. }) => vec![satker.clone()],
            (Peer::Hub, _) => self
                .node
                .store
                .get::<Vec<String>>(Table::Meta, crate::node::AUDITOR_SCOPE_KEY)
                .ok()
                .flatten()
                .unwrap_or_default(),
        }
    }

    fn record_refusal(
        &self,
        addr: &Address,
        reason: &str,
        device: Option<String>,
    ) -> Result<(), StoreError> {
        let node = &self.node;
        let item = node
            .store
            .item(addr)?
            .and_then(|b| SignedItem::open(&b).ok());
        let doc_ids: Vec<String> = match item.map(|i| i.item) {
            Some(Item::Submission(s)) => s.documents.into_iter().map(|d| d.doc_id).collect(),
            Some(Item::Signature(s)) => vec![s.doc_id],
            Some(Item::Snapshot(s)) => vec![s.doc_id],
            _ => Vec::new(),
        };
        // A device sends only its own satker's documents, so the refused ones are its.
        let satker = node.satker().unwrap_or_default().to_string();
        node.store.write(|t| {
            t.put(
                Table::Refusal,
                &addr.to_hex(),
                &RefusalRecord {
                    reason: reason.to_string(),
                    at: clock::now(),
                    device: device.clone(),
                },
            );
            for id in &doc_ids {
                if let Some(mut rec) = docs::get(t, &satker, id)? {
                    if rec.state != DocState::Rejected {
                        rec.enter(
                            DocState::Rejected,
                            clock::now(),
                            Some(format!("refused by the hub: {reason}")),
                        );
                        docs::put(t, &rec);
                    }
                }
            }
            Ok(())
        })
    }
}

impl Replica for NodeReplica {
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        let mut vv = VersionVector::new();
        let scopes = self.scopes();
        let notices = scopes.iter().cloned().map(StreamId::Notices);
        let documents = scopes.iter().cloned().map(StreamId::Scope);
        for s in std::iter::once(StreamId::Trust)
            .chain(notices)
            .chain(documents)
        {
            let pos = self.node.store.position(&s).map_err(local)?;
            vv.insert(s, pos);
        }
        Ok(vv)
    }

    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        Ok(match self.node.config {
            NodeConfig::Satker { .. } => vec![StreamId::Origin(self.node.node_id())],
            _ => Vec::new(),
        })
    }

    fn accepts(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        match (&self.peer, stream) {
            (
                Peer::Device {
                    id,
                    role: DeviceRole::Satker { .. },
                },
                StreamId::Origin(o),
            ) if o == id => Ok(Some(self.node.store.position(stream).map_err(local)?)),
            _ => Ok(None),
        }
    }

    fn may_serve(&self, stream: &StreamId) -> bool {
        match (&self.peer, stream) {
            (Peer::Device { .. }, StreamId::Trust) => true,
            (Peer::Device { .. }, StreamId::Scope(s) | StreamId::Notices(s)) => {
                self.scopes().contains(s)
            }
            (Peer::Hub, StreamId::Origin(o)) => *o == self.node.node_id(),
            _ => false,
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
        let me = match &self.peer {
            Peer::Device { id, .. } => Some(*id),
            Peer::Hub => None,
        };
        // A device's own items are never echoed back to it.
        let (items, through) = self
            .node
            .store
            .read_stream(stream, after, max_bytes, |e| me.is_some() && e.origin == me)
            .map_err(local)?;
        Ok(Chunk {
            items: items
                .into_iter()
                .map(|(seq, bytes)| FrameItem { seq, bytes })
                .collect(),
            through,
        })
    }

    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        let mut refusals = Vec::new();
        for it in items {
            let verdict: Verdict = self
                .node
                .store
                .write(|t| {
                    let v = match &self.peer {
                        Peer::Device { id, role } => {
                            hub_receive(&self.node, t, *id, role, &it.bytes)?
                        }
                        Peer::Hub => client_receive(&self.node, t, &it.bytes)?,
                    };
                    t.set_position(stream, it.seq);
                    Ok(v)
                })
                .map_err(local)?;
            if let Err(reason) = verdict {
                let address = Address::of(&it.bytes);
                if let Peer::Device { id, .. } = &self.peer {
                    tracing::warn!(device = %id, item = %address.short(), %reason, "refused an item");
                    let device = Some(id.to_hex());
                    self.node
                        .store
                        .write(|t| {
                            t.put(
                                Table::Refusal,
                                &address.to_hex(),
                                &RefusalRecord {
                                    reason: reason.clone(),
                                    at: clock::now(),
                                    device,
                                },
                            );
                            Ok(())
                        })
                        .map_err(local)?;
                }
                refusals.push(Refusal {
                    seq: it.seq,
                    address,
                    reason,
                });
            }
        }
        self.node
            .store
            .write(|t| {
                t.set_position(stream, through);
                Ok(())
            })
            .map_err(local)?;
        // Group commit: one flush per frame, before the ack leaves.
        self.node.store.flush().map_err(local)?;
        Ok(refusals)
    }

    fn missing_chunks(
        &self,
        limit: usize,
        skip: &dyn Fn(&Address) -> bool,
    ) -> Result<Vec<Address>, ProtocolError> {
        let satkers = match &self.peer {
            // The hub asks a device only for chunks its own satker's documents need;
            // an auditor authors nothing and is asked for nothing.
            Peer::Device {
                role: DeviceRole::Satker { satker },
                ..
            } => vec![satker.clone()],
            Peer::Device { .. } => return Ok(Vec::new()),
            Peer::Hub => self.scopes(),
        };
        attachments::missing(&self.node.store, &satkers, limit, skip).map_err(local)
    }

    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        let store = &self.node.store;
        let allowed = match &self.peer {
            // A chunk goes to a device or an auditor only if a satker it may read sent
            // it for a document of its own; the answer to anything else is the same
            // NoChunk, whether the hub holds the bytes or not.
            Peer::Device { .. } => {
                let mut allowed = false;
                for satker in self.scopes() {
                    if attachments::is_held_by(store, &satker, address).map_err(local)? {
                        allowed = true;
                        break;
                    }
                }
                allowed
            }
            // The hub asks a device only for its own satker's chunks.
            Peer::Hub => true,
        };
        if !allowed {
            return Ok(None);
        }
        attachments::bytes(store, address).map_err(local)
    }

    fn store_chunk(&mut self, address: &Address, bytes: &[u8]) -> Result<(), ProtocolError> {
        let scopes = self.scopes();
        let now = clock::now();
        self.node
            .store
            .write(|t| {
                match &self.peer {
                    Peer::Device {
                        role: DeviceRole::Satker { satker },
                        ..
                    } => delivery::chunk_arrived(&self.node, t, satker, address, bytes, now)?,
                    Peer::Device { .. } => {
                        return Err(StoreError::Draft(
                            "auditor devices are read-only; the hub stores nothing they send"
                                .into(),
                        ))
                    }
                    Peer::Hub => {
                        attachments::store_bytes(t, address, bytes);
                        for satker in &scopes {
                            attachments::fulfil(t, satker, address)?;
                        }
                    }
                }
                Ok(())
            })
            .map_err(local)?;
        // Each chunk is its own checkpoint: a cut link resumes at the next one.
        self.node.store.flush().map_err(local)
    }

    fn peer_holds(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        match self.peer {
            Peer::Hub => hub_acked(&self.node, stream).map_err(local),
            // The hub learns a device's position from its Hello each time.
            Peer::Device { .. } => Ok(None),
        }
    }

    fn peer_acked(&mut self, stream: &StreamId, through: u64) -> Result<(), ProtocolError> {
        if let Peer::Hub = self.peer {
            // Not flushed on its own: it rides along with the next flush, and a value
            // lost in a crash only makes the next session start from the hub's answer.
            self.node
                .store
                .write(|t| {
                    t.put(Table::Meta, &hub_acked_key(stream), &through);
                    Ok(())
                })
                .map_err(local)?;
        }
        Ok(())
    }

    fn peer_refused(
        &mut self,
        _stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        for r in refusals {
            self.record_refusal(&r.address, &r.reason, None)
                .map_err(local)?;
        }
        self.node.store.flush().map_err(local)
    }
}
