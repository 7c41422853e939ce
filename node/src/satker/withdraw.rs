//! `espm withdraw`: takes back a queued submission while it has not left this device.
//! Once a session has read it to send, the KPPN may hold it, and only the KPPN can
//! reject its documents.

use std::collections::BTreeSet;

use storage::{StoreError, Txn};
use sync_protocol::{Address, DocState, Item, SignedItem, StreamId};

use crate::{
    device::replica::hub_acked,
    error::{NodeError, Result},
    node::Node,
    schema::{SENT, SUBMISSIONS, WITHDRAWN},
};

/// A submission taken back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawn {
    /// Its id.
    pub submission_id: String,
    /// The documents it held, signed again.
    pub doc_ids: Vec<String>,
}

/// Takes back the queued submission `submission_id` in one write, under the lock every
/// read of the device's stream for sending takes: either it has not been read to send
/// and is never sent, or it is refused here.
pub fn withdraw(node: &Node, submission_id: &str) -> Result<Withdrawn> {
    node.require_writer("withdraw submissions")?;
    let satker = node.require_satker("withdraw")?.to_string();
    let stream = StreamId::Origin(node.node_id());
    let acked = hub_acked(node, &stream)?.unwrap_or(0);
    let now = node.now();
    let outcome = node.store.write(|t| {
        let Some(address) = SUBMISSIONS.get_in(t, submission_id)? else {
            return Ok(Err(NodeError::user(format!(
                "no queued submission '{submission_id}' on this device; `espm status DOC_ID` shows the submission of each document"
            ))));
        };
        let Some(Item::Submission(sub)) = node
            .store
            .item(&address)?
            .and_then(|b| SignedItem::open(&b).ok())
            .map(|i| i.item)
        else {
            return Ok(Err(NodeError::user(format!(
                "submission {submission_id} is missing from this device's store; nothing was withdrawn"
            ))));
        };
        let left = SENT.get_in(t)?.unwrap_or(0).max(acked);
        // The entries not yet read to send; the submission must be among them.
        let mut unsent = Vec::new();
        for seq in left + 1..=node.store.head(&stream)? {
            if let Some(e) = node.store.entry(&stream, seq)? {
                unsent.push(e.address);
            }
        }
        if !unsent.contains(&address) {
            return Ok(Err(NodeError::user(format!(
                "submission {submission_id} has already left this device for the KPPN and can no longer be withdrawn; ask the KPPN to reject its documents, then correct them and submit again"
            ))));
        }
        // Its documents' snapshots and signatures go with it, where they have not left
        // either; queueing them again (`submit`) takes them out of this set.
        let mine: BTreeSet<_> = sub
            .documents
            .iter()
            .flat_map(|d| std::iter::once(d.snapshot).chain(d.signatures.iter().copied()))
            .chain(std::iter::once(address))
            .collect();
        for a in unsent.iter().filter(|a| mine.contains(a)) {
            WITHDRAWN.put(t, &a.to_hex(), a);
        }
        let mut doc_ids = Vec::new();
        for d in &sub.documents {
            if let Some(mut rec) = crate::docs::get(t, &satker, &d.doc_id)? {
                if rec.state == DocState::Queued
                    && rec.submission.as_deref() == Some(submission_id)
                {
                    rec.submission = None;
                    rec.enter(
                        DocState::Signed,
                        now,
                        Some(format!("submission {submission_id} withdrawn")),
                    );
                    crate::docs::put(t, &rec);
                    release_nomor(node, t, &satker, d.snapshot, &d.doc_id)?;
                }
            }
            doc_ids.push(d.doc_id.clone());
        }
        SUBMISSIONS.delete(t, submission_id);
        Ok(Ok(doc_ids))
    })?;
    let doc_ids = outcome?;
    node.store.flush()?;
    Ok(Withdrawn {
        submission_id: submission_id.to_string(),
        doc_ids,
    })
}

/// Frees the nomor the withdrawn document's snapshot holds on this device.
fn release_nomor(
    node: &Node,
    t: &mut Txn<'_>,
    satker: &str,
    snapshot: Address,
    doc_id: &str,
) -> std::result::Result<(), StoreError> {
    let snap = node
        .store
        .item(&snapshot)?
        .and_then(|b| SignedItem::open(&b).ok())
        .map(|i| i.item);
    if let Some(Item::Snapshot(snap)) = snap {
        if let Some(key) = crate::nomor::key(satker, snap.kind, &snap.fields) {
            crate::nomor::release(t, &key, doc_id)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
