//! The signed items of a document's journey as a satker device makes them: the stored
//! attachment, the snapshot that freezes a draft, a signer's signature over it, and the
//! submission that queues signed documents for the KPPN. `espm draft new`, `attach`,
//! `sign` and `submit` build them here, and so does the benchmark's document generator,
//! so generated documents are exactly what people make.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{
    chunk_addresses, chunks_of, Address, AttachmentRef, DocKind, DocSignature, DocState,
    DocumentSnapshot, Item, Jabatan, NodeId, SecretKey, SignedItem, StreamId, Submission,
    SubmittedDoc, Timestamp,
};

use crate::{
    error::{NodeError, Result},
    records::{DocRecord, HistoryEntry, SigRef},
    schema::{MANIFESTS, SUBMISSIONS, WITHDRAWN},
};

/// The certificate a signature is made under, as the signature names it.
#[derive(Clone, Copy, Debug)]
pub struct SignerRef<'a> {
    /// Certificate serial.
    pub serial: &'a str,
    /// The role the certificate grants.
    pub jabatan: Jabatan,
    /// The signer's name on the certificate.
    pub name: &'a str,
}

/// `prefix-` and twelve random hex digits: unique enough per device, short enough to type.
fn random_id(prefix: &str) -> String {
    let mut rnd = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut rnd);
    format!("{prefix}-{}", hex::encode(rnd))
}

/// A fresh document id for a document of `kind`.
pub fn new_doc_id(kind: DocKind) -> String {
    random_id(kind.as_str())
}

/// The record of a document just started as a draft.
pub fn draft_record(doc_id: &str, kind: DocKind, satker: &str, at: Timestamp) -> DocRecord {
    DocRecord {
        doc_id: doc_id.to_string(),
        kind,
        satker: satker.to_string(),
        state: DocState::Draft,
        history: vec![HistoryEntry {
            state: DocState::Draft,
            at,
            reason: None,
        }],
        snapshot: None,
        signatures: Vec::new(),
        submission: None,
        delivered_at: None,
        superseded: Vec::new(),
    }
}

/// The reference to a file of `bytes` called `name`, its chunk list included, as a
/// snapshot carries it.
pub fn attachment(name: &str, bytes: &[u8]) -> AttachmentRef {
    AttachmentRef {
        name: name.to_string(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
        chunks: chunk_addresses(bytes),
    }
}

/// Stores the file `att` refers to as its chunks, the unit that travels and resumes,
/// and a manifest that keeps their order for the snapshot signed later.
pub fn store_attachment(t: &mut Txn<'_>, att: &AttachmentRef, bytes: &[u8]) {
    for (addr, chunk) in att.chunks.iter().zip(chunks_of(bytes)) {
        crate::attachments::store_bytes(t, addr, chunk);
    }
    MANIFESTS.put(t, &att.sha256, &att.chunks);
}

/// The chunk list of the attached file with SHA-256 `sha`, as `store_attachment` kept it.
pub fn manifest(store: &storage::Store, sha: &str) -> Result<Option<Vec<Address>>, StoreError> {
    MANIFESTS.get(store, sha)
}

/// Freezes a draft's fields and attachments (with their chunk lists) into a snapshot
/// sealed by the device key.
pub fn seal_snapshot(
    device: &SecretKey,
    doc_id: &str,
    kind: DocKind,
    satker: &str,
    fields: BTreeMap<String, String>,
    attachments: Vec<AttachmentRef>,
    at: Timestamp,
) -> SignedItem {
    let snap = DocumentSnapshot {
        doc_id: doc_id.to_string(),
        kind,
        satker: satker.to_string(),
        corrects: fields.get(sync_protocol::CORRECTS_FIELD).cloned(),
        fields,
        attachments,
        taken_at: at,
    };
    SignedItem::seal(Item::Snapshot(snap), device)
}

/// Signs `snapshot` with the signer's key at `place`, and records the signature on
/// `rec`, which becomes signed if it was not already.
pub fn sign(
    rec: &mut DocRecord,
    snapshot: Address,
    signer: SignerRef<'_>,
    key: &SecretKey,
    place: &str,
    at: Timestamp,
) -> SignedItem {
    let sig = DocSignature {
        doc_id: rec.doc_id.clone(),
        snapshot,
        serial: signer.serial.to_string(),
        jabatan: signer.jabatan,
        signer_name: signer.name.to_string(),
        signed_at: at,
        place: place.to_string(),
    };
    let sealed = SignedItem::seal(Item::Signature(sig), key);
    rec.signatures.push(SigRef {
        address: sealed.address,
        serial: signer.serial.to_string(),
        jabatan: signer.jabatan,
        name: signer.name.to_string(),
        at,
        place: place.to_string(),
    });
    rec.snapshot = Some(snapshot);
    if rec.state != DocState::Signed {
        rec.enter(DocState::Signed, at, None);
    }
    sealed
}

/// One submission of the signed documents `recs` under a fresh id, checked against the
/// submission limits and sealed by the device key.
pub fn seal_submission(
    device: &SecretKey,
    satker: &str,
    operator: &str,
    recs: &[DocRecord],
    at: Timestamp,
) -> Result<(Submission, SignedItem)> {
    let documents = recs
        .iter()
        .map(|rec| {
            let snapshot = rec.snapshot.ok_or_else(|| {
                NodeError::user(format!("document {} has no signed version", rec.doc_id))
            })?;
            Ok(SubmittedDoc {
                doc_id: rec.doc_id.clone(),
                kind: rec.kind,
                snapshot,
                signatures: rec.signatures.iter().map(|s| s.address).collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let submission = Submission {
        submission_id: random_id("sub"),
        satker: satker.to_string(),
        operator: operator.to_string(),
        documents,
        submitted_at: at,
    };
    submission
        .check_limits()
        .map_err(|e| NodeError::user(e.to_string()))?;
    let sealed = SignedItem::seal(Item::Submission(submission.clone()), device);
    Ok((submission, sealed))
}

/// Stores an item this device authored and appends it to the device's own stream, the
/// one the hub takes from it, inside the caller's write.
pub fn queue_own(t: &mut Txn<'_>, device: NodeId, sealed: &SignedItem) -> Result<(), StoreError> {
    t.put_item(&sealed.bytes)?;
    t.append(
        &StreamId::Origin(device),
        StreamEntry {
            address: sealed.address,
            origin: Some(device),
        },
    )?;
    Ok(())
}

/// Queues a sealed submission on the device's own stream inside one store write: each
/// document's snapshot and signatures (already stored as items), then the submission,
/// and marks the documents queued.
pub fn queue(
    t: &mut Txn<'_>,
    device: NodeId,
    submission: &Submission,
    sealed: &SignedItem,
    recs: &mut [DocRecord],
) -> Result<(), StoreError> {
    let stream = StreamId::Origin(device);
    let entry = |address| StreamEntry {
        address,
        origin: Some(device),
    };
    // Snapshot and signatures go first so the hub holds them when the submission arrives.
    for d in &submission.documents {
        for a in std::iter::once(&d.snapshot).chain(d.signatures.iter()) {
            t.append(&stream, entry(*a))?;
            // Queued again after a withdrawal: it is to be sent after all.
            WITHDRAWN.delete(t, &a.to_hex());
        }
    }
    t.put_item(&sealed.bytes)?;
    t.append(&stream, entry(sealed.address))?;
    for rec in recs.iter_mut() {
        rec.submission = Some(submission.submission_id.clone());
        rec.enter(DocState::Queued, submission.submitted_at, None);
        crate::docs::put(t, rec);
    }
    SUBMISSIONS.put(t, &submission.submission_id, &sealed.address);
    Ok(())
}
