//! Drafts across the devices of one satker, relayed by the hub: the node's
//! [`DraftReplica`] over its store, with authorization decided by who the peer is, and
//! (in `wire`) the loops that run a draft-sync session over one QUIC stream.
//!
//! The hub holds its own automerge copy of every draft a device of a satker shared,
//! keyed `satker/doc_id`, and syncs it with each device of that satker; a device keys
//! its drafts by document id. Next to each draft the store keeps the digest of its heads
//! (`head/<key>`), and per peer and draft automerge's stored sync state and the digest
//! both sides last agreed on (`peer/<peer>/<key>`), so only drafts that changed since
//! are announced and automerge sends only the changes the other side lacks.
//!
//! A peer's message is merged outside the store's write lock (the guard, automerge and
//! `save()` can take a while on a large draft) and stored by compare-and-swap on the
//! draft's head digest, so a local edit that lands meanwhile is merged, not overwritten.

mod wire;

use std::{collections::HashMap, sync::Arc};

use serde_bytes::ByteBuf;
use storage::{draft::SyncState, Draft, StoreError, Txn};
use sync_protocol::{
    Address, Applied, DeviceRole, DocState, DraftReplica, NodeId, ProtocolError, RefusalReason,
};

use crate::{
    config::NodeConfig,
    error::{NodeError, Result},
    node::Node,
    records::{DocRecord, HistoryEntry, PeerDraft},
    replica::local,
    schema::{DRAFT_HEADS, DRAFT_PEERS},
};

pub use wire::{run_client, serve_stream, DraftSyncStats};

/// How many times `receive` merges a peer's message again on a fresh copy when local
/// edits keep landing meanwhile; past it the session fails and the next sync tries again.
const MAX_MERGE_ATTEMPTS: usize = 8;

/// Stores a draft and the digest of its heads in one write. Every draft write goes
/// through here (or [`put_draft`]), so a sync can tell changed drafts without loading
/// any, and `receive` can tell whether a draft moved since it loaded it.
pub fn save_draft(t: &mut Txn<'_>, key: &str, draft: &mut Draft) {
    let bytes = draft.save();
    put_draft(t, key, &bytes, &draft.digest());
}

/// Stores saved draft bytes with the digest of their heads.
fn put_draft(t: &mut Txn<'_>, key: &str, bytes: &[u8], digest: &Address) {
    // One copy per save: the write may run again, so it cannot take the bytes.
    crate::schema::DRAFTS.put(t, key, &ByteBuf::from(bytes.to_vec()));
    DRAFT_HEADS.put(t, key, digest);
}

/// A peer's message applied to a copy of a draft, outside the store's write lock.
struct Prepared {
    /// The head digest of the stored draft it was applied to; `None`: there was none.
    base: Option<Address>,
    /// automerge's sync state after the message.
    state: SyncState,
    outcome: Outcome,
}

/// What a peer's message did to the copy.
enum Outcome {
    Refused(RefusalReason),
    Unchanged,
    Changed {
        /// The saved draft, within its bound.
        bytes: Vec<u8>,
        digest: Address,
        /// The journey record to store on a device that had no such document yet.
        record: Option<Box<DocRecord>>,
    },
}

/// What storing a prepared message came to.
enum Commit {
    Done(Applied),
    /// The stored draft moved since it was loaded: prepare again from the stored copy.
    Stale,
}

/// Whose drafts a replica exchanges with its peer.
enum Scope {
    /// On a satker device, with its hub: the device's satker.
    Device { satker: String },
    /// On the hub, with a device enrolled for `satker`.
    Hub { satker: String },
    /// On the hub, with a device whose role takes no part in drafts (auditors).
    Nothing,
}

/// The node's side of one draft-sync session with one peer.
pub struct NodeDraftReplica {
    node: Arc<Node>,
    peer: NodeId,
    scope: Scope,
    /// automerge's sync states for this session; only the shared heads outlive it.
    states: HashMap<String, SyncState>,
}

impl NodeDraftReplica {
    /// On a satker device, for a session with its pinned hub.
    pub fn device(node: Arc<Node>) -> Result<Self> {
        let (satker, hub_id) = match &node.config {
            NodeConfig::Satker { satker, hub_id, .. } => (satker.clone(), *hub_id),
            _ => {
                return Err(NodeError::user(
                    "drafts are shared only between the devices of a satker",
                ))
            }
        };
        Ok(NodeDraftReplica {
            node,
            peer: hub_id,
            scope: Scope::Device { satker },
            states: HashMap::new(),
        })
    }

    /// On the hub, for a session with `device`, enrolled as `role`.
    pub fn hub(node: Arc<Node>, device: NodeId, role: &DeviceRole) -> Self {
        let scope = match role {
            DeviceRole::Satker { satker } => Scope::Hub {
                satker: satker.clone(),
            },
            DeviceRole::Auditor { .. } => Scope::Nothing,
        };
        NodeDraftReplica {
            node,
            peer: device,
            scope,
            states: HashMap::new(),
        }
    }

    /// The store key of a draft; `None` when this peer may have no drafts at all.
    fn key(&self, doc_id: &str) -> Option<String> {
        match &self.scope {
            Scope::Device { .. } => Some(doc_id.to_string()),
            Scope::Hub { satker } => Some(format!("{satker}/{doc_id}")),
            Scope::Nothing => None,
        }
    }

    fn satker(&self) -> &str {
        match &self.scope {
            Scope::Device { satker } | Scope::Hub { satker } => satker,
            Scope::Nothing => "",
        }
    }

    fn peer_key(&self, key: &str) -> String {
        format!("{}/{key}", self.peer.to_hex())
    }

    fn peer_draft(&self, key: &str) -> Result<PeerDraft, ProtocolError> {
        Ok(DRAFT_PEERS
            .get(&self.node.store, &self.peer_key(key))
            .map_err(local)?
            .unwrap_or_default())
    }

    /// This session's sync state for a draft, starting from the stored one.
    fn take_state(&mut self, doc_id: &str, key: &str) -> Result<SyncState, ProtocolError> {
        if let Some(s) = self.states.remove(doc_id) {
            return Ok(s);
        }
        let stored = self.peer_draft(key)?;
        if stored.state.is_empty() {
            return Ok(SyncState::new());
        }
        Draft::decode_sync_state(&stored.state).map_err(local)
    }

    fn write_peer(&self, key: &str, rec: &PeerDraft) -> Result<(), ProtocolError> {
        let k = self.peer_key(key);
        self.node
            .store
            .write(|t| {
                DRAFT_PEERS.put(t, &k, rec);
                Ok(())
            })
            .map_err(local)
    }

    /// Why a device keeps remote edits away from this document, if it does. Once a
    /// document is signed (or further) its snapshot is what signers vouched for and what
    /// `submit` checks the draft against; merging another device's edits would silently
    /// invalidate it. So a device syncs a draft only while it is a draft there, and the
    /// signed version stands; further edits elsewhere stay on the other devices.
    fn frozen(&self, rec: Option<&DocRecord>) -> Option<RefusalReason> {
        let rec = rec?;
        if rec.satker != self.satker() {
            return Some(RefusalReason::WrongSatker {
                draft: rec.satker.clone(),
                device: self.satker().to_string(),
            });
        }
        (rec.state != DocState::Draft).then(|| RefusalReason::Frozen {
            state: rec.state.to_string(),
        })
    }

    /// Checks a received draft's own content before it is kept.
    fn check(&self, draft: &Draft, doc_id: &str) -> Option<RefusalReason> {
        let invalid = |detail: String| Some(RefusalReason::Invalid { detail });
        match draft.doc_id() {
            Ok(id) if id == doc_id => {}
            Ok(id) => return invalid(format!("it names itself {id}, not {doc_id}")),
            Err(e) => return invalid(e.to_string()),
        }
        match draft.satker() {
            Ok(s) if s == self.satker() => {}
            Ok(s) => {
                return Some(RefusalReason::WrongSatker {
                    draft: s,
                    device: self.satker().to_string(),
                })
            }
            Err(e) => return invalid(e.to_string()),
        }
        if let Err(e) = draft
            .kind()
            .map(|_| ())
            .and_then(|_| draft.fields().map(|_| ()))
        {
            return invalid(e.to_string());
        }
        None
    }

    /// Applies a peer's message to a copy of the stored draft without holding the store's
    /// write lock: the guard, automerge and `save()` run here.
    fn prepare(
        &self,
        doc_id: &str,
        key: &str,
        mut state: SyncState,
        bytes: &[u8],
    ) -> Result<Prepared, ProtocolError> {
        let store = &self.node.store;
        let device = matches!(self.scope, Scope::Device { .. });
        let refused = |state, base, reason| {
            Ok(Prepared {
                base,
                state,
                outcome: Outcome::Refused(reason),
            })
        };
        let rec: Option<DocRecord> = if device {
            crate::docs::load(store, self.satker(), doc_id).map_err(local)?
        } else {
            None
        };
        if let Some(reason) = self.frozen(rec.as_ref()) {
            return refused(state, None, reason);
        }
        let stored = crate::schema::DRAFTS.get(store, key).map_err(local)?;
        let mut draft = match &stored {
            Some(b) => Draft::load(b).map_err(local)?,
            None => Draft::empty(),
        };
        // The digest of the copy itself, not a separate read of `head/`, so the base
        // is exactly what the merge started from.
        let base = stored.is_some().then(|| draft.digest());
        let changed = match draft.receive_sync_message(&mut state, bytes) {
            Ok(c) => c,
            Err(e) => {
                let detail = e.to_string();
                return refused(state, base, RefusalReason::Invalid { detail });
            }
        };
        if !draft.is_empty() {
            if let Some(reason) = self.check(&draft, doc_id) {
                return refused(state, base, reason);
            }
        }
        let outcome = if changed {
            let bytes = match draft.save_received() {
                Ok(b) => b,
                Err(e) => {
                    let detail = e.to_string();
                    return refused(state, base, RefusalReason::Invalid { detail });
                }
            };
            let record = device
                .then(|| new_record(doc_id, &draft, self.node.now()).map(Box::new))
                .transpose()
                .map_err(local)?;
            Outcome::Changed {
                bytes,
                digest: draft.digest(),
                record,
            }
        } else {
            Outcome::Unchanged
        };
        Ok(Prepared {
            base,
            state,
            outcome,
        })
    }

    /// Stores a prepared message in one short write if the draft is still the copy it
    /// was applied to, and the document still takes edits from other devices.
    fn commit(
        &self,
        doc_id: &str,
        key: &str,
        prepared: &Prepared,
    ) -> Result<Commit, ProtocolError> {
        let device = matches!(self.scope, Scope::Device { .. });
        let peer_key = self.peer_key(key);
        self.node
            .store
            .write(|t| {
                let rec: Option<DocRecord> = if device {
                    crate::docs::get(t, self.satker(), doc_id)?
                } else {
                    None
                };
                // Signed here since the copy was loaded: the signed snapshot stands.
                if let Some(reason) = self.frozen(rec.as_ref()) {
                    return Ok(Commit::Done(Applied::Refused(reason)));
                }
                let head: Option<Address> = DRAFT_HEADS.get_in(t, key)?;
                if head != prepared.base {
                    return Ok(Commit::Stale);
                }
                let applied = match &prepared.outcome {
                    Outcome::Refused(reason) => {
                        return Ok(Commit::Done(Applied::Refused(reason.clone())))
                    }
                    Outcome::Unchanged => Applied::Unchanged,
                    Outcome::Changed {
                        bytes,
                        digest,
                        record,
                    } => {
                        put_draft(t, key, bytes, digest);
                        if let (None, Some(record)) = (&rec, record) {
                            crate::docs::put(t, record);
                        }
                        Applied::Changed
                    }
                };
                let mut peer: PeerDraft = DRAFT_PEERS.get_in(t, &peer_key)?.unwrap_or_default();
                peer.state = Draft::encode_sync_state(&prepared.state);
                DRAFT_PEERS.put(t, &peer_key, &peer);
                Ok(Commit::Done(applied))
            })
            .map_err(local)
    }
}

impl DraftReplica for NodeDraftReplica {
    fn pending(&self, limit: usize) -> Result<Vec<(String, Address)>, ProtocolError> {
        let prefix = match &self.scope {
            Scope::Device { .. } => String::new(),
            Scope::Hub { satker } => format!("{satker}/"),
            Scope::Nothing => return Ok(Vec::new()),
        };
        let store = &self.node.store;
        let heads: Vec<(String, Address)> = DRAFT_HEADS.list(store, &prefix).map_err(local)?;
        let agreed: HashMap<String, Option<Address>> = DRAFT_PEERS
            .list(store, &self.peer_key(&prefix))
            .map_err(local)?
            .into_iter()
            .map(|(k, p)| (k, p.agreed))
            .collect();
        let mut out = Vec::new();
        for (k, digest) in heads {
            let key = k.as_str();
            let doc_id = &key[prefix.len()..];
            if agreed.get(&self.peer_key(key)) == Some(&Some(digest)) {
                continue;
            }
            if let Scope::Device { .. } = self.scope {
                let rec = crate::docs::load(store, self.satker(), doc_id).map_err(local)?;
                if self.frozen(rec.as_ref()).is_some() {
                    continue;
                }
            }
            out.push((doc_id.to_string(), digest));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn digest(&self, doc_id: &str) -> Result<Option<Address>, ProtocolError> {
        let Some(key) = self.key(doc_id) else {
            return Ok(None);
        };
        DRAFT_HEADS.get(&self.node.store, &key).map_err(local)
    }

    fn admit(&self, doc_id: &str) -> Result<Option<RefusalReason>, ProtocolError> {
        match &self.scope {
            Scope::Nothing => Ok(Some(RefusalReason::NotAllowed)),
            // The hub keys drafts under the device's own satker, so a device can reach
            // no other satker's drafts; their content is checked as it arrives.
            Scope::Hub { .. } => Ok(None),
            Scope::Device { .. } => {
                let rec =
                    crate::docs::load(&self.node.store, self.satker(), doc_id).map_err(local)?;
                Ok(self.frozen(rec.as_ref()))
            }
        }
    }

    fn generate(&mut self, doc_id: &str) -> Result<Option<Vec<u8>>, ProtocolError> {
        let Some(key) = self.key(doc_id) else {
            return Ok(None);
        };
        let mut state = self.take_state(doc_id, &key)?;
        let mut draft = match crate::schema::DRAFTS
            .get(&self.node.store, &key)
            .map_err(local)?
        {
            Some(b) => Draft::load(&b).map_err(local)?,
            None => Draft::empty(),
        };
        let msg = draft.generate_sync_message(&mut state).map_err(local)?;
        self.states.insert(doc_id.to_string(), state);
        Ok(msg)
    }

    fn receive(&mut self, doc_id: &str, bytes: &[u8]) -> Result<Applied, ProtocolError> {
        let Some(key) = self.key(doc_id) else {
            return Ok(Applied::Refused(RefusalReason::NotAllowed));
        };
        let state = self.take_state(doc_id, &key)?;
        for _ in 0..MAX_MERGE_ATTEMPTS {
            let prepared = self.prepare(doc_id, &key, state.clone(), bytes)?;
            // A refused message may have moved the state past what is stored; drop it.
            if let Outcome::Refused(reason) = prepared.outcome {
                return Ok(Applied::Refused(reason));
            }
            match self.commit(doc_id, &key, &prepared)? {
                Commit::Stale => continue,
                Commit::Done(applied) => {
                    self.node.store.flush().map_err(local)?;
                    if !matches!(applied, Applied::Refused(_)) {
                        self.states.insert(doc_id.to_string(), prepared.state);
                    }
                    return Ok(applied);
                }
            }
        }
        Err(ProtocolError::Replica(format!(
            "draft {doc_id} kept changing on this node while a peer's changes were merged \
             into it ({MAX_MERGE_ATTEMPTS} attempts); the next sync tries again"
        )))
    }

    fn agreed(&mut self, doc_id: &str, digest: &Address) -> Result<(), ProtocolError> {
        let Some(key) = self.key(doc_id) else {
            return Ok(());
        };
        let mut rec = self.peer_draft(&key)?;
        rec.agreed = Some(*digest);
        self.write_peer(&key, &rec)
    }

    fn converged(&mut self, doc_id: &str) -> Result<(), ProtocolError> {
        let (Some(key), Some(state)) = (self.key(doc_id), self.states.get(doc_id)) else {
            return Ok(());
        };
        // What the peer last said it holds, not this draft's heads now: an edit made
        // here during the session must still count as changed next time.
        let rec = PeerDraft {
            state: Draft::encode_sync_state(state),
            agreed: Draft::peer_digest(state),
        };
        self.write_peer(&key, &rec)
    }

    fn peer_refused(
        &mut self,
        doc_id: &str,
        digest: Option<&Address>,
        reason: &RefusalReason,
    ) -> Result<(), ProtocolError> {
        tracing::info!(doc_id, peer = %self.peer, %reason, "draft refused by the peer");
        let (Some(key), Some(digest)) = (self.key(doc_id), digest) else {
            return Ok(());
        };
        // Not offered again until it changes, as a refused item is not sent again.
        let mut rec = self.peer_draft(&key)?;
        rec.agreed = Some(*digest);
        self.write_peer(&key, &rec)
    }
}

/// The journey record of a draft another device started, so `status` and `draft show`
/// know it here too.
fn new_record(
    doc_id: &str,
    draft: &Draft,
    now: sync_protocol::Timestamp,
) -> Result<DocRecord, StoreError> {
    Ok(DocRecord {
        doc_id: doc_id.to_string(),
        kind: draft.kind()?,
        satker: draft.satker()?,
        state: DocState::Draft,
        history: vec![HistoryEntry {
            state: DocState::Draft,
            at: now,
            reason: None,
        }],
        snapshot: None,
        signatures: Vec::new(),
        submission: None,
        delivered_at: None,
        superseded: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
