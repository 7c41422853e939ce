//! When a submission counts as delivered on the hub. A receipt says the hub holds the
//! submission, its documents, their signatures and every attachment in full, durably;
//! so a submission whose attachment chunks are still on their way waits here, and the
//! receipt is issued in the same write as the chunk that completes it.

use serde::{Deserialize, Serialize};
use storage::{StoreError, StreamEntry, Table, Txn};
use sync_protocol::{
    item::{Item, SignedItem},
    receipt::Receipt,
    status::DocState,
    stream::StreamId,
    submission::Submission,
    Address, NodeId, Timestamp,
};

use crate::{
    ingest::issue,
    node::Node,
    records::{DocRecord, SigRef},
};

/// A submission the hub holds whose attachments are not complete yet.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Awaiting {
    /// The receipt to issue. Its time stays when the submission arrived: that is the
    /// moment the hub judged its signatures, and the one auditors judge them by.
    receipt: Receipt,
    /// Chunks still missing.
    missing: Vec<Address>,
}

fn awaiting_key(submission: &Address) -> String {
    format!("awaiting/{}", submission.to_hex())
}

/// Where the submission sits in the hub's log, for its receipt.
pub struct LogPosition {
    /// Sequence number in the hash-chained log.
    pub seq: u64,
    /// Chain hash at that position.
    pub hash: Address,
}

/// Records an accepted submission: publishes it to its satker's documents stream,
/// points each document's record at it, and issues the receipt now if every attachment
/// is complete, or later, when the last chunk arrives.
#[allow(clippy::too_many_arguments)]
pub fn accept_submission(
    node: &Node,
    t: &mut Txn<'_>,
    address: Address,
    sub: &Submission,
    satker: &str,
    device: NodeId,
    log: LogPosition,
    now: Timestamp,
) -> Result<(), StoreError> {
    t.append(
        &StreamId::Scope(satker.to_string()),
        StreamEntry {
            address,
            origin: Some(device),
        },
    )?;
    let mut missing = Vec::new();
    for d in &sub.documents {
        let mut rec = t
            .get::<DocRecord>(Table::Doc, &d.doc_id)?
            .unwrap_or(DocRecord {
                doc_id: d.doc_id.clone(),
                kind: d.kind,
                satker: satker.to_string(),
                state: DocState::Queued,
                history: Vec::new(),
                snapshot: None,
                signatures: Vec::new(),
                submission: None,
                delivered_at: None,
            });
        rec.snapshot = Some(d.snapshot);
        rec.submission = Some(sub.submission_id.clone());
        rec.signatures.clear();
        for a in &d.signatures {
            if let Some(Item::Signature(s)) = load(t, a)? {
                rec.signatures.push(SigRef {
                    address: *a,
                    serial: s.serial,
                    jabatan: s.jabatan,
                    name: s.signer_name,
                    at: s.signed_at,
                });
            }
        }
        if let Some(Item::Snapshot(snap)) = load(t, &d.snapshot)? {
            for c in snap.attachments.iter().flat_map(|a| &a.chunks) {
                if !t.contains(Table::Blob, &c.to_hex())? && !missing.contains(c) {
                    missing.push(*c);
                }
            }
        }
        t.put(Table::Doc, &d.doc_id, &rec);
    }
    let receipt = Receipt {
        submission: address,
        submission_id: sub.submission_id.clone(),
        satker: satker.to_string(),
        doc_ids: sub.documents.iter().map(|d| d.doc_id.clone()).collect(),
        delivered_at: now,
        log_seq: log.seq,
        log_hash: log.hash,
    };
    if missing.is_empty() {
        deliver(node, t, receipt)
    } else {
        for id in &receipt.doc_ids {
            if let Some(mut rec) = t.get::<DocRecord>(Table::Doc, id)? {
                rec.enter(
                    DocState::Queued,
                    now,
                    Some(format!(
                        "the hub is still receiving {} attachment chunk(s)",
                        missing.len()
                    )),
                );
                t.put(Table::Doc, id, &rec);
            }
        }
        t.put(
            Table::Meta,
            &awaiting_key(&address),
            &Awaiting { receipt, missing },
        );
        Ok(())
    }
}

/// A chunk landed on the hub: every submission it completes is delivered now, in the
/// same write as the chunk.
pub fn chunk_arrived(node: &Node, t: &mut Txn<'_>, chunk: &Address) -> Result<(), StoreError> {
    for (key, _) in node.store.list::<Awaiting>(Table::Meta, "awaiting/")? {
        // Read again through the write, which may already have changed it.
        let Some(mut waiting) = t.get::<Awaiting>(Table::Meta, &key)? else {
            continue;
        };
        if !waiting.missing.contains(chunk) {
            continue;
        }
        waiting.missing.retain(|c| c != chunk);
        if waiting.missing.is_empty() {
            t.delete(Table::Meta, &key);
            deliver(node, t, waiting.receipt)?;
        } else {
            t.put(Table::Meta, &key, &waiting);
        }
    }
    Ok(())
}

/// Issues the receipt into the satker's notices and moves its documents to Delivered.
fn deliver(node: &Node, t: &mut Txn<'_>, receipt: Receipt) -> Result<(), StoreError> {
    for id in &receipt.doc_ids {
        if let Some(mut rec) = t.get::<DocRecord>(Table::Doc, id)? {
            rec.delivered_at = Some(receipt.delivered_at);
            rec.enter(DocState::Delivered, receipt.delivered_at, None);
            t.put(Table::Doc, id, &rec);
        }
    }
    let notices = StreamId::Notices(receipt.satker.clone());
    let key = node
        .service
        .as_ref()
        .ok_or_else(|| StoreError::Draft("only the hub issues receipts".into()))?;
    issue(t, key, Item::Receipt(receipt), Some(&notices))?;
    Ok(())
}

fn load(t: &Txn<'_>, address: &Address) -> Result<Option<Item>, StoreError> {
    match t.item(address)? {
        Some(bytes) => Ok(Some(SignedItem::open(&bytes)?.item)),
        None => Ok(None),
    }
}
