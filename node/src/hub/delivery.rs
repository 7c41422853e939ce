//! When a submission counts as delivered on the hub. A receipt says the hub holds the
//! submission, its documents, their signatures and every attachment in full, durably;
//! so a submission whose attachment chunks are still on their way waits here, and the
//! receipt is issued in the same write as the chunk that completes it. A submission
//! whose chunks do not arrive within the hub's expiry, or whose chunks do not join to
//! the files its documents name, is refused back to the satker with the reason.

use crate::records::Awaiting;
use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{
    joins_to, Address, DocState, Item, NodeId, Receipt, SecretKey, StatusUpdate, StreamId,
    Submission, Timestamp,
};

use crate::{
    attachments, docs,
    hub::publish::issue,
    node::Node,
    records::{DocRecord, SigRef},
    schema::{AWAITING, CHUNKS},
};

fn awaiting_key(submission: &Address) -> String {
    submission.to_hex()
}

/// Where the submission sits in the hub's log, for its receipt.
pub struct LogPosition {
    /// Position in the log, from 1.
    pub seq: u64,
    /// The log's Merkle root right after the submission was entered.
    pub hash: Address,
}

/// The chunks of `sub`'s documents that `satker` has not sent the hub yet, in order.
pub fn chunks_to_fetch(
    t: &Txn<'_>,
    satker: &str,
    sub: &Submission,
) -> Result<Vec<(String, Address)>, StoreError> {
    let mut out: Vec<(String, Address)> = Vec::new();
    for d in &sub.documents {
        if let Some(Item::Snapshot(snap)) = load(t, &d.snapshot)? {
            for c in snap.attachments.iter().flat_map(|a| &a.chunks) {
                if !attachments::held_by(t, satker, c)? && !out.iter().any(|(_, o)| o == c) {
                    out.push((d.doc_id.clone(), *c));
                }
            }
        }
    }
    Ok(out)
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
    for d in &sub.documents {
        let mut rec = docs::get(t, satker, &d.doc_id)?.unwrap_or(DocRecord {
            doc_id: d.doc_id.clone(),
            kind: d.kind,
            satker: satker.to_string(),
            state: DocState::Queued,
            history: Vec::new(),
            snapshot: None,
            signatures: Vec::new(),
            submission: None,
            delivered_at: None,
            superseded: Vec::new(),
        });
        rec.snapshot = Some(d.snapshot);
        rec.submission = Some(sub.submission_id.clone());
        if let Some(Item::Snapshot(snap)) = load(t, &d.snapshot)? {
            crate::nomor::delivered(t, satker, d.kind, &snap.fields, &d.doc_id)?;
        }
        rec.signatures.clear();
        for a in &d.signatures {
            if let Some(Item::Signature(s)) = load(t, a)? {
                rec.signatures.push(SigRef {
                    address: *a,
                    serial: s.serial,
                    jabatan: s.jabatan,
                    name: s.signer_name,
                    at: s.signed_at,
                    place: s.place,
                });
            }
        }
        docs::put(t, &rec);
    }
    let fetch = chunks_to_fetch(t, satker, sub)?;
    let receipt = Receipt {
        submission: address,
        submission_id: sub.submission_id.clone(),
        satker: satker.to_string(),
        doc_ids: sub.documents.iter().map(|d| d.doc_id.clone()).collect(),
        delivered_at: now,
        log_seq: log.seq,
        log_hash: log.hash,
    };
    if fetch.is_empty() {
        return complete(node, t, address, receipt, now);
    }
    for (doc_id, c) in &fetch {
        attachments::add_need(t, satker, c, doc_id, Some(address), now)?;
    }
    for id in &receipt.doc_ids {
        if let Some(mut rec) = docs::get(t, satker, id)? {
            rec.enter(
                DocState::Queued,
                now,
                Some(format!(
                    "the hub is still receiving {} attachment chunk(s)",
                    fetch.len()
                )),
            );
            docs::put(t, &rec);
        }
    }
    let missing = fetch.into_iter().map(|(_, c)| c).collect();
    AWAITING.put(t, &awaiting_key(&address), &Awaiting { receipt, missing });
    Ok(())
}

/// A chunk of `satker` landed on the hub: the submissions that waited for it move on,
/// and those it completes are delivered now, in the same write as the chunk.
pub fn chunk_arrived(
    node: &Node,
    t: &mut Txn<'_>,
    satker: &str,
    chunk: &Address,
    bytes: &[u8],
    now: Timestamp,
) -> Result<(), StoreError> {
    attachments::store_held(t, satker, chunk, bytes);
    let need = attachments::fulfil(t, satker, chunk)?;
    for submission in need.submissions {
        let key = awaiting_key(&submission);
        let Some(mut waiting) = AWAITING.get_in(t, &key)? else {
            continue;
        };
        waiting.missing.retain(|c| c != chunk);
        if waiting.missing.is_empty() {
            AWAITING.delete(t, &key);
            complete(node, t, submission, waiting.receipt, now)?;
        } else {
            AWAITING.put(t, &key, &waiting);
        }
    }
    Ok(())
}

/// Every chunk is here: delivers the submission if its files are whole, and refuses it
/// if a file's chunks do not join to the SHA-256 its document names.
fn complete(
    node: &Node,
    t: &mut Txn<'_>,
    submission: Address,
    receipt: Receipt,
    now: Timestamp,
) -> Result<(), StoreError> {
    if let Some(reason) = broken_file(t, &submission)? {
        return refuse(node, t, &receipt.satker, &receipt.doc_ids, &reason, now);
    }
    deliver(node, t, receipt)
}

/// Why a file of the submission's documents is not whole, if one is not.
fn broken_file(t: &Txn<'_>, submission: &Address) -> Result<Option<String>, StoreError> {
    let Some(Item::Submission(sub)) = load(t, submission)? else {
        return Ok(None);
    };
    for d in &sub.documents {
        let Some(Item::Snapshot(snap)) = load(t, &d.snapshot)? else {
            continue;
        };
        for a in &snap.attachments {
            let mut parts = Vec::with_capacity(a.chunks.len());
            for c in &a.chunks {
                match CHUNKS.get_in(t, &attachments::bytes_key(c))? {
                    Some(b) => parts.push(b.into_vec()),
                    None => return Ok(Some(format!("attachment {} is missing a chunk", a.name))),
                }
            }
            if !joins_to(&parts, &a.sha256) {
                return Ok(Some(format!(
                    "document {}: the chunks of attachment {} do not join to the SHA-256 it names; attach the file again and submit again",
                    d.doc_id, a.name
                )));
            }
        }
    }
    Ok(None)
}

/// Issues the receipt into the satker's notices and moves its documents to Delivered.
fn deliver(node: &Node, t: &mut Txn<'_>, receipt: Receipt) -> Result<(), StoreError> {
    for id in &receipt.doc_ids {
        if let Some(mut rec) = docs::get(t, &receipt.satker, id)? {
            rec.delivered_at = Some(receipt.delivered_at);
            rec.enter(DocState::Delivered, receipt.delivered_at, None);
            docs::put(t, &rec);
        }
    }
    let notices = StreamId::Notices(receipt.satker.clone());
    let (satker, doc_ids, submission, seq) = (
        receipt.satker.clone(),
        receipt.doc_ids.clone(),
        receipt.submission,
        receipt.log_seq,
    );
    let sealed = issue(t, service(node)?, Item::Receipt(receipt), Some(&notices))?;
    crate::hub::checkpoint::receipted(t, &satker, &doc_ids, sealed.address, submission, seq);
    Ok(())
}

/// Refuses documents back to their satker: each becomes rejected with `reason`, here
/// and, through a status update in its notices, on the satker's devices.
fn refuse(
    node: &Node,
    t: &mut Txn<'_>,
    satker: &str,
    doc_ids: &[String],
    reason: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let key = service(node)?;
    for id in doc_ids {
        if let Some(mut rec) = docs::get(t, satker, id)? {
            rec.enter(DocState::Rejected, now, Some(reason.to_string()));
            docs::put(t, &rec);
        }
        let update = StatusUpdate {
            doc_id: id.clone(),
            satker: satker.to_string(),
            state: DocState::Rejected,
            at: now,
            reason: Some(reason.to_string()),
            by: "hub".into(),
        };
        issue(
            t,
            key,
            Item::Status(update),
            Some(&StreamId::Notices(satker.to_string())),
        )?;
    }
    Ok(())
}

/// Refuses a submission still waiting for chunks: drops what it waits for and rejects
/// its documents with `reason`. Returns whether it was waiting.
pub fn refuse_unfinished(
    node: &Node,
    t: &mut Txn<'_>,
    submission: &Address,
    reason: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let key = awaiting_key(submission);
    let Some(waiting) = AWAITING.get_in(t, &key)? else {
        return Ok(false);
    };
    AWAITING.delete(t, &key);
    let satker = waiting.receipt.satker.clone();
    for c in &waiting.missing {
        attachments::forget(t, &satker, c, submission)?;
    }
    refuse(node, t, &satker, &waiting.receipt.doc_ids, reason, now)?;
    Ok(true)
}

/// Refuses every submission of `satker` whose chunks have been awaited longer than the
/// hub's expiry at `now`. One write per submission; returns how many were refused.
pub fn expire_unfinished(
    node: &Node,
    satker: &str,
    now: Timestamp,
    expiry_ms: i64,
) -> Result<usize, StoreError> {
    let cutoff = Timestamp(now.0.saturating_sub(expiry_ms));
    let mut submissions: Vec<Address> = Vec::new();
    for (_, need) in attachments::expired(&node.store, satker, cutoff)? {
        for s in need.submissions {
            if !submissions.contains(&s) {
                submissions.push(s);
            }
        }
    }
    let days = expiry_ms as f64 / (24.0 * 3600.0 * 1000.0);
    let reason = format!(
        "the hub did not receive all attachment chunks of this submission within {} of its arrival, so its documents are refused; sync from the device that holds the files and submit again",
        if days >= 1.0 {
            format!("{days:.0} day(s)")
        } else {
            format!("{} s", expiry_ms / 1000)
        }
    );
    let mut refused = 0;
    for s in &submissions {
        if node
            .store
            .write(|t| refuse_unfinished(node, t, s, &reason, now))?
        {
            refused += 1;
        }
    }
    if refused > 0 {
        node.store.flush()?;
    }
    Ok(refused)
}

/// [`expire_unfinished`] for every satker that has needs.
pub fn expire_all(node: &Node, now: Timestamp, expiry_ms: i64) -> Result<usize, StoreError> {
    let mut refused = 0;
    for satker in attachments::satkers_with_needs(&node.store)? {
        refused += expire_unfinished(node, &satker, now, expiry_ms)?;
    }
    Ok(refused)
}

fn service(node: &Node) -> Result<&SecretKey, StoreError> {
    node.service
        .as_ref()
        .ok_or_else(|| StoreError::Draft("only the hub issues receipts and status updates".into()))
}

/// The body of an item as the write `t` sees it, decoded once ([`crate::decoded`]).
fn load(t: &Txn<'_>, address: &Address) -> Result<Option<Item>, StoreError> {
    Ok(crate::decoded::item_in(t, address)?.map(|i| i.item.clone()))
}
