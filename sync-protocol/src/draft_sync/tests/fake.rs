//! A fake CRDT standing in for automerge: a draft is a set of last-writer-wins
//! assignments merged by union, and its sync message carries the sender's digest and
//! the assignments it thinks the receiver lacks.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::super::*;
use crate::encoding::{from_cbor, to_canonical};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Op {
    key: String,
    value: String,
    counter: u64,
    actor: String,
}

#[derive(Serialize, Deserialize)]
struct FakeMsg {
    digest: Address,
    ops: Vec<Op>,
}

/// Lives only as long as a session, like automerge's in-memory sync state, and follows
/// its rules for when there is nothing to say.
#[derive(Default)]
struct FakeState {
    responded: bool,
    in_flight: bool,
    last_sent: Option<Address>,
    their: Option<Address>,
    peer_has: BTreeSet<Op>,
}

/// A node's durable store.
#[derive(Default)]
pub(super) struct MemNode {
    pub(super) name: String,
    pub(super) drafts: BTreeMap<String, BTreeSet<Op>>,
    /// (peer, draft) → the digest both held when last in step.
    pub(super) agreed: BTreeMap<(String, String), Address>,
    /// Drafts this node will not exchange at all.
    pub(super) refuse: BTreeMap<String, RefusalReason>,
    /// Drafts whose content, once applied, this node will not keep.
    pub(super) refuse_content: BTreeMap<String, RefusalReason>,
    pub(super) peer_refusals: Vec<(String, RefusalReason)>,
}

fn digest(ops: &BTreeSet<Op>) -> Address {
    Address::of(&to_canonical(ops))
}

impl MemNode {
    pub(super) fn named(name: &str) -> MemNode {
        MemNode {
            name: name.into(),
            ..Default::default()
        }
    }

    pub(super) fn set(&mut self, doc: &str, key: &str, value: &str) {
        let ops = self.drafts.entry(doc.into()).or_default();
        let counter = ops.iter().map(|o| o.counter).max().unwrap_or(0) + 1;
        ops.insert(Op {
            key: key.into(),
            value: value.into(),
            counter,
            actor: self.name.clone(),
        });
    }

    pub(super) fn fields(&self, doc: &str) -> BTreeMap<String, String> {
        let mut best: BTreeMap<String, &Op> = BTreeMap::new();
        for op in self.drafts.get(doc).into_iter().flatten() {
            let e = best.entry(op.key.clone()).or_insert(op);
            if (op.counter, &op.actor) > (e.counter, &e.actor) {
                *e = op;
            }
        }
        best.into_iter()
            .map(|(k, o)| (k, o.value.clone()))
            .collect()
    }
}

/// One node's side of one session with `peer`.
pub(super) struct View<'a> {
    node: &'a mut MemNode,
    peer: String,
    states: BTreeMap<String, FakeState>,
}

impl DraftReplica for View<'_> {
    fn pending(&self, limit: usize) -> Result<Vec<(String, Address)>, ProtocolError> {
        Ok(self
            .node
            .drafts
            .iter()
            .filter(|(id, _)| !self.node.refuse.contains_key(*id))
            .map(|(id, ops)| (id.clone(), digest(ops)))
            .filter(|(id, d)| self.node.agreed.get(&(self.peer.clone(), id.clone())) != Some(d))
            .take(limit)
            .collect())
    }
    fn digest(&self, doc_id: &str) -> Result<Option<Address>, ProtocolError> {
        Ok(self.node.drafts.get(doc_id).map(digest))
    }
    fn admit(&self, doc_id: &str) -> Result<Option<RefusalReason>, ProtocolError> {
        Ok(self.node.refuse.get(doc_id).cloned())
    }
    fn generate(&mut self, doc_id: &str) -> Result<Option<Vec<u8>>, ProtocolError> {
        let ops = self.node.drafts.get(doc_id).cloned().unwrap_or_default();
        let mine = digest(&ops);
        let st = self.states.entry(doc_id.into()).or_default();
        let missing: Vec<Op> = ops.difference(&st.peer_has).cloned().collect();
        if st.responded && st.last_sent == Some(mine) {
            if missing.is_empty() && st.their == Some(mine) {
                return Ok(None);
            }
            if st.in_flight {
                return Ok(None);
            }
        }
        st.responded = true;
        st.in_flight = true;
        st.last_sent = Some(mine);
        st.peer_has.extend(missing.iter().cloned());
        Ok(Some(to_canonical(&FakeMsg {
            digest: mine,
            ops: missing,
        })))
    }
    fn receive(&mut self, doc_id: &str, bytes: &[u8]) -> Result<Applied, ProtocolError> {
        let msg: FakeMsg = match from_cbor(bytes, "fake sync message") {
            Ok(m) => m,
            Err(e) => {
                return Ok(Applied::Refused(RefusalReason::Invalid {
                    detail: e.to_string(),
                }))
            }
        };
        if let Some(r) = self.node.refuse_content.get(doc_id) {
            return Ok(Applied::Refused(r.clone()));
        }
        let st = self.states.entry(doc_id.into()).or_default();
        st.in_flight = false;
        st.their = Some(msg.digest);
        st.peer_has.extend(msg.ops.iter().cloned());
        if msg.ops.is_empty() {
            return Ok(Applied::Unchanged);
        }
        let ops = self.node.drafts.entry(doc_id.into()).or_default();
        let before = ops.len();
        ops.extend(msg.ops);
        Ok(if ops.len() > before {
            Applied::Changed
        } else {
            Applied::Unchanged
        })
    }
    fn agreed(&mut self, doc_id: &str, digest: &Address) -> Result<(), ProtocolError> {
        self.node
            .agreed
            .insert((self.peer.clone(), doc_id.into()), *digest);
        Ok(())
    }
    fn converged(&mut self, doc_id: &str) -> Result<(), ProtocolError> {
        if let Some(their) = self.states.get(doc_id).and_then(|s| s.their) {
            self.node
                .agreed
                .insert((self.peer.clone(), doc_id.into()), their);
        }
        Ok(())
    }
    fn peer_refused(
        &mut self,
        doc_id: &str,
        digest: Option<&Address>,
        reason: &RefusalReason,
    ) -> Result<(), ProtocolError> {
        self.node
            .peer_refusals
            .push((doc_id.to_string(), reason.clone()));
        if let Some(d) = digest {
            self.agreed(doc_id, d)?;
        }
        Ok(())
    }
}

pub(super) fn view<'a>(node: &'a mut MemNode, peer: &str) -> View<'a> {
    View {
        node,
        peer: peer.into(),
        states: BTreeMap::new(),
    }
}
