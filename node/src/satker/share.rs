//! What a satker device may share with an auditor that syncs straight from it when the
//! hub is out of reach: the streams the hub publishes for this satker (its documents
//! and its notices) and the trust stream, at the SAME positions the hub gives them, so
//! a later sync of that auditor with the hub starts where this one ended and receives
//! nothing twice. Never a draft, a key, an operator secret or another satker's stream.
//!
//! A satker keeps a copy of the hub's log of those streams as it receives them
//! ([`mirror`]), position by position. The hub never echoes a device's own items back to
//! it, so the copy has a hole at each of them; the hole is marked as this device's
//! own and is filled, when serving, with the device's own items the hub accepted, in
//! the order it sent them (the hub appends them to the stream in that order).

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
};

use storage::{StoreError, StreamEntry};
use sync_protocol::{
    Address, Chunk, DeviceRole, FrameItem, ItemKind, NodeId, ProtocolError, Refusal, Replica,
    SignedItem, StreamId, VersionVector,
};

use crate::{
    config::NodeConfig,
    device::replica::hub_acked,
    node::Node,
    replica::local,
    schema::{DEVICES, REFUSALS, WITHDRAWN},
};

/// The placeholder address of a position the hub held back because this device
/// authored the item there; [`ShareReplica`] resolves it to the item.
const OWN: Address = Address([0; 32]);

/// The streams a satker shares with an auditor in its scope.
pub fn shared_streams(satker: &str) -> [StreamId; 3] {
    [
        StreamId::Trust,
        StreamId::Notices(satker.to_string()),
        StreamId::Scope(satker.to_string()),
    ]
}

/// Whether `stream` is one a satker node keeps a copy of for auditors.
fn is_shared(node: &Node, stream: &StreamId) -> bool {
    match &node.config {
        NodeConfig::Satker { satker, .. } => shared_streams(satker).contains(stream),
        _ => false,
    }
}

/// On a satker node, before a frame of a shared `stream` from the hub is kept: copies
/// its positions after what the copy already holds into this node's log of the
/// stream, each item's address, or [`OWN`] at a position the hub held back. The
/// copy's positions are the hub's; a copy that has fallen behind (a store from before
/// this copy existed) is left as it is, and [`rewind`] has the hub send the rest again.
/// A frame with more held-back positions than this device ever queued items is not
/// copied: no hub frame has them, and a run of them costs a write each.
pub(crate) fn mirror(
    node: &Node,
    stream: &StreamId,
    items: &[FrameItem],
    through: u64,
) -> Result<(), StoreError> {
    if !is_shared(node, stream) {
        return Ok(());
    }
    let head = node.store.head(stream)?;
    if head < node.store.position(stream)? || through <= head {
        return Ok(());
    }
    let by_seq: BTreeMap<u64, Address> = items
        .iter()
        .map(|i| (i.seq, Address::of(&i.bytes)))
        .collect();
    let me = node.node_id();
    let fresh = by_seq.range(head + 1..=through).count() as u64;
    let held_back = (through - head).saturating_sub(fresh);
    let queued = node.store.head(&StreamId::Origin(me))?;
    if held_back > queued {
        return Err(StoreError::Corrupt {
            what: format!("a frame of stream {stream} from the hub"),
            detail: format!(
                "{held_back} positions held back, and this device queued only {queued} items"
            ),
        });
    }
    node.store.write(|t| {
        for seq in head + 1..=through {
            let entry = match by_seq.get(&seq) {
                Some(a) => StreamEntry {
                    address: *a,
                    origin: None,
                },
                None => StreamEntry {
                    address: OWN,
                    origin: Some(me),
                },
            };
            let at = t.append(stream, entry)?;
            if at != seq {
                // Another write got in between: leave the copy as it was.
                return Err(StoreError::Corrupt {
                    what: format!("the copy of stream {stream} kept for auditors"),
                    detail: format!("position {at} where {seq} was expected"),
                });
            }
        }
        Ok(())
    })
}

/// On a satker node whose store received part of a shared stream before it kept the
/// hub's positions of it (a store from an older espm): moves that stream's receive
/// position back to where its copy ends, so the next sync with the hub sends the rest
/// again (items already held are kept as they are) and the copy catches up. Returns
/// the streams moved back.
pub fn rewind(node: &Node) -> Result<Vec<StreamId>, StoreError> {
    let Some(satker) = node.satker() else {
        return Ok(Vec::new());
    };
    let mut moved = Vec::new();
    for stream in shared_streams(satker) {
        let head = node.store.head(&stream)?;
        if head < node.store.position(&stream)? {
            moved.push((stream, head));
        }
    }
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    node.store.write(|t| {
        for (stream, head) in &moved {
            t.set_position(stream, *head);
        }
        Ok(())
    })?;
    node.store.flush()?;
    Ok(moved.into_iter().map(|(s, _)| s).collect())
}

/// Why a satker does not serve a peer that dialled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotAdmitted {
    /// The key has no hub-signed enrollment this node holds.
    NotEnrolled,
    /// The key is enrolled, but not as an auditor.
    NotAnAuditor,
    /// An auditor whose scope does not include this satker.
    OutOfScope,
    /// The hub revoked the key.
    Revoked,
}

impl std::fmt::Display for NotAdmitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotAdmitted::NotEnrolled => "it holds no enrollment by the hub",
            NotAdmitted::NotAnAuditor => "it is not enrolled as an auditor",
            NotAdmitted::OutOfScope => "its auditor scope does not include this satker",
            NotAdmitted::Revoked => "the hub revoked it",
        })
    }
}

/// Whether this satker node serves `peer`: an auditor the hub enrolled (the enrollment
/// reached this node in the trust stream, signed by the hub's authority) whose scope
/// includes this satker, not revoked.
pub fn admits(node: &Node, peer: &NodeId) -> Result<(), NotAdmitted> {
    let Some(satker) = node.satker() else {
        return Err(NotAdmitted::OutOfScope);
    };
    if !matches!(crate::trust::of_device(&node.store, peer), Ok(None)) {
        return Err(NotAdmitted::Revoked);
    }
    match DEVICES.get(&node.store, &peer.to_hex()).ok().flatten() {
        None => Err(NotAdmitted::NotEnrolled),
        Some(d) => match d.role {
            DeviceRole::Auditor { scope } if scope.iter().any(|s| s == satker) => Ok(()),
            DeviceRole::Auditor { .. } => Err(NotAdmitted::OutOfScope),
            DeviceRole::Satker { .. } => Err(NotAdmitted::NotAnAuditor),
        },
    }
}

/// A satker's store as one auditor may read it, for one session: the shared streams
/// as far as every position in them is known, and the attachment chunks of the
/// documents in them. It takes nothing from the auditor.
pub struct ShareReplica {
    node: Arc<Node>,
    satker: String,
    /// This device's own items at the positions of its documents stream the hub held
    /// back, resolved when the session began.
    own: BTreeMap<u64, Address>,
    /// How far the documents stream can be served: to just before the first position
    /// held back whose item is not known here.
    scope_head: u64,
    /// The attachment chunks the served documents name, gathered at the first request.
    chunks: Mutex<Option<HashSet<Address>>>,
}

impl ShareReplica {
    /// A replica for one session of an auditor on satker node `node`. It reads the
    /// store, so run it off the async threads.
    pub fn new(node: Arc<Node>) -> Result<ShareReplica, StoreError> {
        let satker = node.satker().unwrap_or_default().to_string();
        let scope = StreamId::Scope(satker.clone());
        let head = node.store.head(&scope)?;
        let mut entries = Vec::new();
        for seq in 1..=head {
            match node.store.entry(&scope, seq)? {
                Some(entry) => entries.push(entry),
                None => break,
            }
        }
        // An item the hub published from another device of this satker (one this
        // device then queued too, submitting a document signed there) was not
        // appended again for this device.
        let published: HashSet<Address> = entries
            .iter()
            .filter(|e| e.origin.is_none())
            .map(|e| e.address)
            .collect();
        let mut mine = own_items(&node)?
            .into_iter()
            .filter(|a| !published.contains(a));
        let mut own = BTreeMap::new();
        let mut scope_head = entries.len() as u64;
        for (entry, seq) in entries.iter().zip(1u64..) {
            if entry.origin.is_some() {
                match mine.next() {
                    Some(a) => {
                        own.insert(seq, a);
                    }
                    None => {
                        scope_head = seq - 1;
                        break;
                    }
                }
            }
        }
        Ok(ShareReplica {
            node,
            satker,
            own,
            scope_head,
            chunks: Mutex::new(None),
        })
    }

    /// The item at `seq` of `stream`, if this node may and can serve it.
    fn item_at(&self, stream: &StreamId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(entry) = self.node.store.entry(stream, seq)? else {
            return Ok(None);
        };
        let address = match entry.origin {
            Some(_) => match self.own.get(&seq) {
                Some(a) if matches!(stream, StreamId::Scope(_)) => *a,
                _ => return Ok(None),
            },
            None => entry.address,
        };
        // An item this node refused when the hub sent it is not here to serve.
        self.node.store.item(&address)
    }

    /// The chunks named by the snapshots of the served documents stream.
    fn served_chunks(&self) -> Result<HashSet<Address>, StoreError> {
        let scope = StreamId::Scope(self.satker.clone());
        let mut out = HashSet::new();
        for seq in 1..=self.scope_head {
            let Some(bytes) = self.item_at(&scope, seq)? else {
                continue;
            };
            if SignedItem::kind_of(&bytes) != Some(ItemKind::Snapshot) {
                continue;
            }
            if let Ok(SignedItem {
                item: sync_protocol::Item::Snapshot(s),
                ..
            }) = SignedItem::open_stored(&bytes)
            {
                out.extend(s.attachments.iter().flat_map(|a| a.chunks.iter().copied()));
            }
        }
        Ok(out)
    }
}

/// This device's items the hub appended to its satker's documents stream, in the order
/// it sent them: snapshots, signatures and submissions the hub acknowledged and did not
/// refuse, and that were not withdrawn (a withdrawn item never leaves). An item queued
/// again after a withdrawal stands in its own stream twice, and left at the later place.
fn own_items(node: &Node) -> Result<Vec<Address>, StoreError> {
    let origin = StreamId::Origin(node.node_id());
    let acked = hub_acked(node, &origin)?.unwrap_or(0);
    let last = node.store.head(&origin)?.min(acked);
    let mut out = Vec::new();
    for seq in 1..=last {
        let Some(entry) = node.store.entry(&origin, seq)? else {
            continue;
        };
        let key = entry.address.to_hex();
        if WITHDRAWN.get(&node.store, &key)?.is_some() || REFUSALS.get(&node.store, &key)?.is_some()
        {
            continue;
        }
        let Some(bytes) = node.store.item(&entry.address)? else {
            continue;
        };
        if matches!(
            SignedItem::kind_of(&bytes),
            Some(ItemKind::Snapshot | ItemKind::Signature | ItemKind::Submission)
        ) {
            out.push(entry.address);
        }
    }
    let mut seen = HashSet::new();
    let mut last: Vec<Address> = out.into_iter().rev().filter(|a| seen.insert(*a)).collect();
    last.reverse();
    Ok(last)
}

impl Replica for ShareReplica {
    /// The satker answers; it wants nothing from an auditor.
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        Ok(VersionVector::new())
    }

    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        Ok(Vec::new())
    }

    /// Auditors never write: whatever an auditor offers is declined.
    fn accepts(&self, _stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok(None)
    }

    fn may_serve(&self, stream: &StreamId) -> bool {
        shared_streams(&self.satker).contains(stream)
    }

    fn head(&self, stream: &StreamId) -> Result<u64, ProtocolError> {
        match stream {
            StreamId::Scope(_) => Ok(self.scope_head),
            _ => self.node.store.head(stream).map_err(local),
        }
    }

    fn read(
        &self,
        stream: &StreamId,
        after: u64,
        max_bytes: usize,
    ) -> Result<Chunk, ProtocolError> {
        let head = self.head(stream)?;
        let mut chunk = Chunk {
            items: Vec::new(),
            through: after,
        };
        let mut bytes = 0usize;
        for seq in after.saturating_add(1)..=head {
            // A position with nothing to serve is left as a gap the auditor skips over,
            // as the hub leaves one.
            if let Some(item) = self.item_at(stream, seq).map_err(local)? {
                if !chunk.items.is_empty() && bytes + item.len() > max_bytes {
                    break;
                }
                bytes += item.len();
                chunk.items.push(FrameItem { seq, bytes: item });
            }
            chunk.through = seq;
        }
        Ok(chunk)
    }

    fn receive(
        &mut self,
        stream: &StreamId,
        _items: &[FrameItem],
        _through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        Err(ProtocolError::Violation(format!(
            "an auditor sent items of stream {stream}; auditors are read-only and a satker takes nothing from them"
        )))
    }

    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        let mut held = self
            .chunks
            .lock()
            .map_err(|_| ProtocolError::Replica("the chunk list was poisoned".into()))?;
        if held.is_none() {
            *held = Some(self.served_chunks().map_err(local)?);
        }
        // Only a chunk of a document this session serves; anything else gets the same
        // NoChunk whether this node holds the bytes or not.
        match held.as_ref().is_some_and(|h| h.contains(address)) {
            true => crate::attachments::bytes(&self.node.store, address).map_err(local),
            false => Ok(None),
        }
    }

    fn commit(&mut self) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn peer_refused(
        &mut self,
        stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        // The auditor judges as this node did; a refusal means the two disagree on trust.
        for r in refusals {
            tracing::warn!(%stream, item = %r.address.short(), reason = %r.reason, "an auditor refused an item");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
