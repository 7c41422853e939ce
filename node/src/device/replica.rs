//! A device's side of a reconciliation session with its pinned hub: the streams it
//! follows (trust, and its satker's or auditor scope's notices and documents), the one
//! it offers (a satker device's own), what it keeps of what arrives (judged by
//! [`super::receive`]), and the attachment chunks it fetches.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use storage::StoreError;
use sync_protocol::{
    Address, Chunk, DocState, FrameItem, Item, ItemKind, ProtocolError, Refusal, Replica,
    SignedItem, StreamId, VersionVector,
};

use super::receive::client_receive;
use crate::{
    attachments,
    config::NodeConfig,
    docs,
    node::Node,
    records::RefusalRecord,
    replica::{local, receive_frame},
    schema::{AUDITOR_SCOPE, PEER_ACKED, SENT, WITHDRAWN},
};

/// Where a device keeps how far the hub acknowledged one of its streams.
fn hub_acked_key(stream: &StreamId) -> String {
    hex::encode(stream.key())
}

/// How far the hub last acknowledged a device's `stream`, as the device remembers it: the
/// position its next session starts sending from.
pub(crate) fn hub_acked(node: &Node, stream: &StreamId) -> Result<Option<u64>, StoreError> {
    PEER_ACKED.get(&node.store, &hub_acked_key(stream))
}

/// The satkers a device follows: its own, or an auditor's scope as its enrollment says.
pub fn scopes(node: &Node) -> Vec<String> {
    match &node.config {
        NodeConfig::Satker { satker, .. } => vec![satker.clone()],
        _ => AUDITOR_SCOPE
            .get(&node.store)
            .ok()
            .flatten()
            .unwrap_or_default(),
    }
}

/// A device's store as its sessions with the hub read and change it.
pub struct DeviceReplica {
    node: Arc<Node>,
    outcomes: Mutex<Outcomes>,
    /// Something was written since the last flush (a frame read and marked sent, a
    /// frame or chunk stored): the next commit flushes.
    unflushed: AtomicBool,
}

/// What a session told this device about its documents, for the sync's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Documents the KPPN receipted, by id.
    pub receipted: BTreeSet<String>,
    /// Documents whose items the hub refused at ingest, by id, with its reason.
    pub refused: BTreeMap<String, String>,
    /// Documents the KPPN rejected, by id, with its reason.
    pub rejected: BTreeMap<String, String>,
}

impl DeviceReplica {
    /// A replica for one session with the pinned hub.
    pub fn new(node: Arc<Node>) -> Self {
        DeviceReplica {
            node,
            outcomes: Mutex::default(),
            unflushed: AtomicBool::new(false),
        }
    }

    /// What this session told the device about its documents so far.
    pub fn outcomes(&self) -> Outcomes {
        self.outcomes.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Notes a receipt or a rejection among items just stored.
    fn note_outcome(&self, item: SignedItem) {
        let Ok(mut o) = self.outcomes.lock() else {
            return;
        };
        match item.item {
            Item::Receipt(r) => o.receipted.extend(r.doc_ids),
            Item::Status(s) if s.state == DocState::Rejected => {
                let reason = s.reason.unwrap_or_else(|| "rejected by the KPPN".into());
                o.rejected.insert(s.doc_id, reason);
            }
            _ => {}
        }
    }

    /// The hub refused an item this device sent: keeps the reason, and marks the
    /// documents it concerns rejected with it, so the people here see why.
    fn record_refusal(&self, addr: &Address, reason: &str) -> Result<(), StoreError> {
        let node = &self.node;
        let item = node
            .store
            .item(addr)?
            .and_then(|b| SignedItem::open_stored(&b).ok());
        let doc_ids: Vec<String> = match item.map(|i| i.item) {
            Some(Item::Submission(s)) => s.documents.into_iter().map(|d| d.doc_id).collect(),
            Some(Item::Signature(s)) => vec![s.doc_id],
            Some(Item::Snapshot(s)) => vec![s.doc_id],
            _ => Vec::new(),
        };
        if let Ok(mut o) = self.outcomes.lock() {
            for id in &doc_ids {
                o.refused.insert(id.clone(), reason.to_string());
            }
        }
        // A device sends only its own satker's documents, so the refused ones are its.
        let satker = node.satker().unwrap_or_default().to_string();
        node.store.write(|t| {
            crate::schema::REFUSALS.put(
                t,
                &addr.to_hex(),
                &RefusalRecord {
                    reason: reason.to_string(),
                    at: self.node.now(),
                    device: None,
                },
            );
            for id in &doc_ids {
                if let Some(mut rec) = docs::get(t, &satker, id)? {
                    if rec.state != DocState::Rejected {
                        rec.enter(
                            DocState::Rejected,
                            self.node.now(),
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

impl Replica for DeviceReplica {
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        let mut vv = VersionVector::new();
        let scopes = scopes(&self.node);
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

    /// The hub offers nothing; a device takes only what it asked for in its Hello.
    fn accepts(&self, _stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok(None)
    }

    fn may_serve(&self, stream: &StreamId) -> bool {
        matches!(stream, StreamId::Origin(o) if *o == self.node.node_id())
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
        let node = &self.node;
        // Read and marked as sent in one write: `withdraw` takes the same lock, so an
        // item is either withdrawn before any read that would send it, or read (and
        // then refused withdrawal) first; never both.
        let chunk = node
            .store
            .write(|t| {
                let withdrawn: std::collections::HashSet<Address> = WITHDRAWN
                    .list(&node.store, "")?
                    .into_iter()
                    .map(|(_, a)| a)
                    .collect();
                let (items, through) = node
                    .store
                    .read_stream(stream, after, max_bytes, |e| withdrawn.contains(&e.address))?;
                if SENT.get_in(t)?.unwrap_or(0) < through {
                    SENT.put(t, &through);
                }
                Ok(Chunk {
                    items: items
                        .into_iter()
                        .map(|(seq, bytes)| FrameItem { seq, bytes })
                        .collect(),
                    through,
                })
            })
            .map_err(local)?;
        // Durable before the frame leaves, so a crash cannot let a sent item be
        // withdrawn: the driver commits (flushes) before it writes what a turn produced.
        self.unflushed.store(true, Ordering::Release);
        Ok(chunk)
    }

    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        self.unflushed.store(true, Ordering::Release);
        // A satker keeps the hub's positions of what it may share with an auditor.
        if let Err(e) = crate::satker::share::mirror(&self.node, stream, items, through) {
            tracing::warn!(%stream, "the copy kept for auditors was not extended: {e}");
        }
        receive_frame(
            &self.node,
            stream,
            items,
            through,
            |t, arrived| {
                let kind = arrived.as_ref().ok().map(SignedItem::kind);
                let outcome = matches!(kind, Some(ItemKind::Receipt | ItemKind::Status))
                    .then(|| arrived.as_ref().ok().cloned())
                    .flatten();
                let verdict = client_receive(&self.node, t, arrived)?;
                if let (true, Some(item)) = (verdict.is_ok(), outcome) {
                    self.note_outcome(item);
                }
                Ok(verdict)
            },
            |_, _| Ok(()),
        )
    }

    fn missing_chunks(
        &self,
        limit: usize,
        skip: &dyn Fn(&Address) -> bool,
    ) -> Result<Vec<Address>, ProtocolError> {
        attachments::missing(&self.node.store, &scopes(&self.node), limit, skip).map_err(local)
    }

    /// Read once per sync from the hub's checkpoint on: the chunks of the snapshots in
    /// this device's items the hub does not hold yet.
    fn chunks_after(&self, stream: &StreamId, after: u64) -> Result<u64, ProtocolError> {
        let head = self.node.store.head(stream).map_err(local)?;
        let mut n = 0u64;
        for seq in after.saturating_add(1)..=head {
            let Some(entry) = self.node.store.entry(stream, seq).map_err(local)? else {
                continue;
            };
            // A withdrawn item never leaves, so its chunks are never asked for.
            if WITHDRAWN
                .get(&self.node.store, &entry.address.to_hex())
                .map_err(local)?
                .is_some()
            {
                continue;
            }
            if let Some(bytes) = self.node.store.item(&entry.address).map_err(local)? {
                n = n.saturating_add(SignedItem::attachment_chunks(&bytes));
            }
        }
        Ok(n)
    }

    fn chunks_needed(&self) -> Result<u64, ProtocolError> {
        let mut n = 0u64;
        for satker in scopes(&self.node) {
            n = n.saturating_add(
                crate::schema::NEED_COUNTS
                    .get(&self.node.store, &satker)
                    .map_err(local)?
                    .unwrap_or(0),
            );
        }
        Ok(n)
    }

    /// The hub asks a device only for its own satker's chunks.
    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        attachments::bytes(&self.node.store, address).map_err(local)
    }

    fn store_chunk(&mut self, address: &Address, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.unflushed.store(true, Ordering::Release);
        let scopes = scopes(&self.node);
        self.node
            .store
            .write(|t| {
                attachments::store_bytes(t, address, bytes);
                for satker in &scopes {
                    attachments::fulfil(t, satker, address)?;
                }
                Ok(())
            })
            .map_err(local)
    }

    /// One flush for every frame and chunk stored, and every frame read for sending,
    /// since the last message left.
    fn commit(&mut self) -> Result<(), ProtocolError> {
        if self.unflushed.swap(false, Ordering::AcqRel) {
            self.node.store.flush().map_err(local)?;
        }
        Ok(())
    }

    fn peer_holds(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        hub_acked(&self.node, stream).map_err(local)
    }

    fn peer_acked(&mut self, stream: &StreamId, through: u64) -> Result<(), ProtocolError> {
        // Not flushed on its own: it rides along with the next flush, and a value lost
        // in a crash only makes the next session start from the hub's answer.
        self.node
            .store
            .write(|t| {
                PEER_ACKED.put(t, &hub_acked_key(stream), &through);
                Ok(())
            })
            .map_err(local)
    }

    fn peer_refused(
        &mut self,
        _stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        for r in refusals {
            self.record_refusal(&r.address, &r.reason).map_err(local)?;
        }
        self.node.store.flush().map_err(local)
    }
}
