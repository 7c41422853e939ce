//! The hub signs checkpoints of its Merkle log and proves its receipts against them.
//!
//! A checkpoint (size, root, time, and the consistency proof from the one before) is
//! signed with the service key at least every [`CHECKPOINT_EVERY`] entries, published in
//! the trust stream, which every node reads; and when a satker's session settles with
//! the log grown, published in that satker's notices stream (which its devices and its
//! auditors read) with the inclusion proof of each of its receipts against it: with
//! them its nodes can prove delivery offline ([`crate::proof`]). All of them form one
//! chain, each naming the last one signed. Session checkpoints go to the satker's own
//! stream so that 500 sessions ending at once do not each send the others' checkpoints.
//!
//! Checkpoints and proofs are not entries of the log: a checkpoint describes the log,
//! and entering it would change the very tree it names (Certificate Transparency does
//! not log its tree heads either).

use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{
    Checkpoint, Extends, InclusionProof, Inclusions, Item, SignedItem, StreamId, Timestamp,
    MAX_PROOFS_PER_ITEM,
};

use crate::{
    node::Node,
    records::{CheckpointRecord, ProofDue},
    schema::{ISSUED_CHECKPOINT, PROOFS_DUE, PROVEN, RECEIPT_OF},
};

/// The most entries the log grows by between two checkpoints.
pub const CHECKPOINT_EVERY: u64 = 1000;

/// Whether a log of `size` entries is due a checkpoint after one of `last` (none yet:
/// `None`) when `every` entries must never go without one.
pub fn due(size: u64, last: Option<u64>, every: u64) -> bool {
    size >= last.unwrap_or(0).saturating_add(every.max(1))
}

fn service(node: &Node) -> Result<&sync_protocol::SecretKey, StoreError> {
    node.service
        .as_ref()
        .ok_or_else(|| StoreError::Draft("only the hub signs checkpoints".into()))
}

fn publish(t: &mut Txn<'_>, sealed: &SignedItem, stream: &StreamId) -> Result<(), StoreError> {
    t.put_item(&sealed.bytes)?;
    t.append(
        stream,
        StreamEntry {
            address: sealed.address,
            origin: None,
        },
    )?;
    Ok(())
}

/// Signs a checkpoint of the log as `t` sees it into `stream`, unless the last one
/// already covers every entry; returns it.
pub fn issue(
    node: &Node,
    t: &mut Txn<'_>,
    now: Timestamp,
    stream: &StreamId,
) -> Result<Option<CheckpointRecord>, StoreError> {
    let (size, root) = t.hub_log_head()?;
    let last = ISSUED_CHECKPOINT.get_in(t)?;
    if size == 0 || last.is_some_and(|l| l.size >= size) {
        return Ok(None);
    }
    let previous = match last {
        Some(l) => Some(Extends {
            size: l.size,
            root: l.root,
            proof: t
                .hub_log_consistency(l.size, size)?
                .ok_or_else(|| StoreError::Corrupt {
                    what: "hub log".into(),
                    detail: format!("no consistency proof from {} to {size} entries", l.size),
                })?,
        }),
        None => None,
    };
    let checkpoint = Checkpoint {
        size,
        root,
        at: now,
        previous,
    };
    let sealed = SignedItem::seal(Item::Checkpoint(checkpoint), service(node)?);
    publish(t, &sealed, stream)?;
    let record = CheckpointRecord {
        address: sealed.address,
        size,
        root,
    };
    ISSUED_CHECKPOINT.put(t, &record);
    crate::schema::NEWEST_CHECKPOINT.put(t, &record);
    Ok(Some(record))
}

/// Signs a checkpoint if the log grew by [`CHECKPOINT_EVERY`] since the last one; a
/// cheap read when it has not.
pub fn if_due(node: &Node, now: Timestamp) -> Result<(), StoreError> {
    let size = node.store.hub_log_len()?;
    let last = ISSUED_CHECKPOINT.get(&node.store)?.map(|l| l.size);
    if due(size, last, CHECKPOINT_EVERY) {
        node.store
            .write(|t| issue(node, t, now, &StreamId::Trust))?;
    }
    Ok(())
}

/// The key a receipt waits under for its proof: the satker, then its log position
/// zero-padded so the table lists in log order.
fn due_key(satker: &str, seq: u64) -> String {
    format!("{satker}/{seq:020}")
}

/// Notes a receipt just issued: indexed by its documents, and due a proof at the next
/// checkpoint its satker settles.
pub fn receipted(
    t: &mut Txn<'_>,
    satker: &str,
    doc_ids: &[String],
    receipt: sync_protocol::Address,
    submission: sync_protocol::Address,
    seq: u64,
) {
    for id in doc_ids {
        RECEIPT_OF.put(t, &format!("{satker}/{id}"), &receipt);
    }
    PROOFS_DUE.put(
        t,
        &due_key(satker, seq),
        &ProofDue {
            receipt,
            submission,
            seq,
        },
    );
}

/// A session settles: a checkpoint if the log grew since the last, and for a satker's
/// session the inclusion proofs of its receipts against the newest checkpoint. Returns
/// whether anything was published.
pub fn settle(node: &Node, satker: Option<&str>, now: Timestamp) -> Result<bool, StoreError> {
    // An auditor adds nothing to the log: its sessions sign nothing.
    let Some(satker) = satker else {
        return Ok(false);
    };
    let due: Vec<(String, ProofDue)> = PROOFS_DUE.list(&node.store, &format!("{satker}/"))?;
    let notices = StreamId::Notices(satker.to_string());
    node.store.write(|t| {
        let issued = issue(node, t, now, &notices)?;
        let mut published = issued.is_some();
        let Some(checkpoint) = issued.or(ISSUED_CHECKPOINT.get_in(t)?) else {
            return Ok(published);
        };
        let signed_here = issued.is_some();
        if due.is_empty() {
            return Ok(published);
        }
        let covered: Vec<&(String, ProofDue)> = due
            .iter()
            .filter(|(_, d)| d.seq <= checkpoint.size)
            .collect();
        let leaves: Vec<u64> = covered.iter().map(|(_, d)| d.seq - 1).collect();
        let paths = t.hub_log_inclusions(&leaves, checkpoint.size)?;
        let mut proofs = Vec::with_capacity(covered.len());
        for ((key, d), path) in covered.into_iter().zip(paths) {
            let Some(path) = path else {
                continue;
            };
            proofs.push(InclusionProof {
                receipt: d.receipt,
                submission: d.submission,
                leaf_index: d.seq - 1,
                path,
            });
            PROOFS_DUE.delete(t, key);
        }
        if !signed_here && !proofs.is_empty() {
            // The last checkpoint already covers this session (another session's or
            // the periodic one signed it): it goes to this satker too, beside the proofs
            // against it. The same item, one more stream position.
            t.append(
                &notices,
                StreamEntry {
                    address: checkpoint.address,
                    origin: None,
                },
            )?;
        }
        for batch in proofs.chunks(MAX_PROOFS_PER_ITEM) {
            let item = Inclusions {
                checkpoint: checkpoint.address,
                size: checkpoint.size,
                root: checkpoint.root,
                satker: satker.to_string(),
                proofs: batch.to_vec(),
            };
            let sealed = SignedItem::seal(Item::Inclusions(item), service(node)?);
            publish(t, &sealed, &notices)?;
            for p in batch {
                PROVEN.put(t, &p.receipt.to_hex(), &sealed.address);
            }
            published = true;
        }
        Ok(published)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_due_every_thousand_entries_and_not_before() {
        assert!(!due(0, None, 1000));
        assert!(!due(999, None, 1000));
        assert!(due(1000, None, 1000));
        assert!(!due(1999, Some(1000), 1000));
        assert!(due(2000, Some(1000), 1000));
        assert!(!due(5, Some(u64::MAX), 1000));
    }
}
