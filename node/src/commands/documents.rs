//! Drafts, signing and submission on a satker node.

use std::collections::BTreeSet;

use serde_json::json;
use storage::{Draft, SealedKey, StoreError, Table};
use sync_protocol::{
    document::{AttachmentRef, DocKind, DocumentSnapshot},
    operator::OperatorRole,
    policy::Policy,
    status::DocState,
    Address, Item, SecretKey, SignedItem,
};

use super::{operators, Output};
use crate::{
    clock,
    compose::{self, SignerRef},
    error::{NodeError, Result},
    ingest::certificate,
    lockout,
    node::Node,
    records::{CertRecord, DocRecord, OperatorRecord},
    revocation,
    upload::Upload,
};

fn parse_assignments(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(NodeError::user(format!("'{p}' must look like FIELD=VALUE"))),
        })
        .collect()
}

fn doc_record(node: &Node, doc_id: &str) -> Result<DocRecord> {
    crate::docs::resolve(node, doc_id)
}

fn load_draft(node: &Node, doc_id: &str) -> Result<Draft> {
    let bytes: serde_bytes::ByteBuf = node.store.get(Table::Draft, doc_id)?.ok_or_else(|| {
        NodeError::user(format!(
            "no draft '{doc_id}' on this device; `espm status` lists the documents"
        ))
    })?;
    Ok(Draft::load(&bytes)?)
}

fn save_draft(t: &mut storage::Txn<'_>, doc_id: &str, draft: &mut Draft) {
    crate::draft_sync::save_draft(t, doc_id, draft);
}

/// Loads, edits and stores a draft in one write, so edits from another device that a
/// background sync stores meanwhile are merged, not overwritten.
fn edit_draft(
    t: &mut storage::Txn<'_>,
    doc_id: &str,
    edit: impl FnOnce(&mut Draft) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let bytes: serde_bytes::ByteBuf = t
        .get(Table::Draft, doc_id)?
        .ok_or_else(|| StoreError::Draft(format!("draft {doc_id} vanished while editing")))?;
    let mut draft = Draft::load(&bytes)?;
    edit(&mut draft)?;
    save_draft(t, doc_id, &mut draft);
    Ok(())
}

fn editable(rec: &DocRecord) -> Result<()> {
    match rec.state {
        DocState::Draft | DocState::Signed | DocState::Rejected => Ok(()),
        s => Err(NodeError::user(format!(
            "document {} is {s}; it can no longer be edited. If the KPPN rejects it, correct it then",
            rec.doc_id
        ))),
    }
}

/// `espm draft new`
pub fn new(node: &Node, kind: &str, set: &[String]) -> Result<Output> {
    node.require_writer("start drafts")?;
    let satker = node.require_satker("draft new")?.to_string();
    let kind: DocKind = kind.parse()?;
    let fields = parse_assignments(set)?;
    let doc_id = compose::new_doc_id(kind);
    let mut draft = Draft::new(&doc_id, kind, &satker)?;
    for (k, v) in &fields {
        draft.set_field(k, v)?;
    }
    let now = clock::now();
    node.store.write(|t| {
        save_draft(t, &doc_id, &mut draft);
        let rec = compose::draft_record(&doc_id, kind, &satker, now);
        crate::docs::put(t, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "doc_id": doc_id }),
        format!("Started {kind} draft {doc_id}."),
    ))
}

/// `espm draft set`
pub fn set(node: &Node, doc_id: &str, pairs: &[String]) -> Result<Output> {
    node.require_writer("edit drafts")?;
    let fields = parse_assignments(pairs)?;
    let rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    // Only for its plain message when there is no draft; the edit reloads it.
    load_draft(node, doc_id)?;
    node.store.write(|t| {
        edit_draft(t, doc_id, |draft| {
            for (k, v) in &fields {
                draft.set_field(k, v)?;
            }
            Ok(())
        })
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "doc_id": doc_id }),
        format!("Updated {} field(s) of {doc_id}.", fields.len()),
    ))
}

/// `espm draft attach`: the file as the CLI process read it, never a path, so the
/// serving node reads nothing of its own (its data directory holds the node key).
pub fn attach(node: &Node, doc_id: &str, upload: &Upload) -> Result<Output> {
    node.require_writer("attach files")?;
    let rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    // Again here: a control request need not come from our own CLI's read.
    upload.check(&upload.name)?;
    // Only for its plain message when there is no draft; the edit reloads it.
    load_draft(node, doc_id)?;
    let attachment = compose::attachment(&upload.name, &upload.bytes);
    let (name, sha) = (attachment.name.clone(), attachment.sha256.clone());
    node.store.write(|t| {
        compose::store_attachment(t, &attachment, &upload.bytes);
        edit_draft(t, doc_id, |draft| draft.add_attachment(&attachment))
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "doc_id": doc_id, "attachment": sha }),
        format!("Attached {name} ({sha}) to {doc_id}."),
    ))
}

/// `espm draft show`
pub fn show(node: &Node, doc_id: &str) -> Result<Output> {
    let rec = doc_record(node, doc_id)?;
    let (fields, attachments) = match node
        .store
        .get::<serde_bytes::ByteBuf>(Table::Draft, doc_id)?
    {
        Some(b) => {
            let d = Draft::load(&b)?;
            (d.fields()?, d.attachments()?)
        }
        None => match rec
            .snapshot
            .and_then(|a| node.store.item(&a).ok().flatten())
        {
            Some(bytes) => match SignedItem::open(&bytes)?.item {
                Item::Snapshot(s) => (s.fields, s.attachments),
                _ => Default::default(),
            },
            None => Default::default(),
        },
    };
    let sigs: Vec<_> = rec
        .signatures
        .iter()
        .map(|s| json!({ "serial": s.serial, "name": s.name, "jabatan": s.jabatan.as_str(), "signed_at": clock::rfc3339(s.at) }))
        .collect();
    let atts: Vec<_> = attachments
        .iter()
        .map(|a| json!({ "name": a.name, "sha256": a.sha256, "size": a.size }))
        .collect();
    let mut text = format!(
        "{} {} ({}), satker {}\n",
        rec.kind, rec.doc_id, rec.state, rec.satker
    );
    for (k, v) in &fields {
        text.push_str(&format!("  {k} = {v}\n"));
    }
    for a in &attachments {
        text.push_str(&format!(
            "  attachment {} ({} bytes, sha256 {})\n",
            a.name, a.size, a.sha256
        ));
    }
    for s in &rec.signatures {
        text.push_str(&format!(
            "  signed by {} ({}, certificate {}) at {}\n",
            s.name,
            s.jabatan.title(),
            s.serial,
            clock::rfc3339(s.at)
        ));
    }
    Ok(Output::new(
        json!({ "doc_id": rec.doc_id, "kind": rec.kind.as_str(), "state": rec.state.as_str(), "fields": fields, "attachments": atts, "signatures": sigs }),
        text.trim_end(),
    ))
}

fn snapshot_of(node: &Node, addr: &Address) -> Result<Option<DocumentSnapshot>, StoreError> {
    Ok(match node.store.item(addr)? {
        Some(b) => match SignedItem::open(&b)?.item {
            Item::Snapshot(s) => Some(s),
            _ => None,
        },
        None => None,
    })
}

/// Whether the draft's content equals what `snapshot` froze.
fn unchanged_since(draft: &Draft, snapshot: &DocumentSnapshot) -> Result<bool> {
    let atts = draft.attachments()?;
    Ok(draft.fields()? == snapshot.fields
        && atts.len() == snapshot.attachments.len()
        && atts
            .iter()
            .zip(&snapshot.attachments)
            .all(|(a, b)| a.same_file(b)))
}

/// The draft's attachments with their chunk lists, as a snapshot carries them.
fn attachments_with_chunks(node: &Node, draft: &Draft) -> Result<Vec<AttachmentRef>> {
    let mut out = draft.attachments()?;
    for a in out.iter_mut() {
        a.chunks = node
            .store
            .get(Table::Blob, &compose::manifest_key(&a.sha256))?
            .ok_or_else(|| {
                NodeError::user(format!(
                    "the file {} attached to this draft is missing from the store; attach it again",
                    a.name
                ))
            })?;
    }
    Ok(out)
}

/// `espm sign`
pub fn sign(node: &Node, doc_id: &str, serial: &str, passphrase: &str) -> Result<Output> {
    node.require_writer("sign")?;
    let satker = node.require_satker("sign")?.to_string();
    let mut rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    let draft = load_draft(node, doc_id)?;
    let cert = certificate(node, serial)?.ok_or_else(|| {
        NodeError::user(format!(
            "no certificate '{serial}' on this device; `espm signers` lists the usable ones"
        ))
    })?;
    let cert_rec: CertRecord = node
        .store
        .get(Table::Cert, serial)?
        .ok_or_else(|| NodeError::user(format!("no certificate '{serial}'")))?;
    let sealed: SealedKey = node.store.get(Table::Key, &cert_rec.request_id)?.ok_or_else(|| {
        NodeError::user(format!("the key for certificate {serial} is not on this device; sign on the device that requested it"))
    })?;
    if cert.satker != satker {
        return Err(NodeError::user(format!(
            "certificate {serial} is for satker {}, not {satker}",
            cert.satker
        )));
    }
    let now = clock::now();
    if !cert.valid_at(now) {
        return Err(NodeError::user(format!(
            "certificate {serial} is not valid now; ask the KPPN for a new one"
        )));
    }
    let policy = Policy::default();
    if !policy.may_sign(rec.kind, cert.subject.jabatan) {
        return Err(NodeError::user(format!(
            "a {} must be signed by {}; certificate {serial} belongs to a {}",
            rec.kind,
            policy.describe(rec.kind),
            cert.subject.jabatan.title()
        )));
    }
    if let Some(r) = revocation::of_certificate(&node.store, serial)? {
        return Err(NodeError::user(format!(
            "certificate {serial} was {}; it cannot sign anything new. Ask the KPPN's CSO for a new certificate (`espm signer request`)",
            r.describe()
        )));
    }
    let secret = lockout::unseal(
        node,
        &lockout::Guarded::Signer(serial.to_string()),
        &sealed,
        passphrase,
    )?;
    let key = SecretKey::from_bytes(&secret);
    if key.public() != cert.key {
        return Err(NodeError::user(format!(
            "the key on this device does not match certificate {serial}"
        )));
    }
    // Reuse the current snapshot if the draft has not changed since it was taken, so
    // several signers sign the very same bytes.
    let current = match rec.snapshot {
        Some(a) => snapshot_of(node, &a)?
            .filter(|s| unchanged_since(&draft, s).unwrap_or(false))
            .map(|_| a),
        None => None,
    };
    let mut new_snapshot = None;
    let snapshot_addr = match current {
        Some(a) => a,
        None => {
            let sealed = compose::seal_snapshot(
                &node.key,
                doc_id,
                rec.kind,
                &satker,
                draft.fields()?,
                attachments_with_chunks(node, &draft)?,
                now,
            );
            let a = sealed.address;
            new_snapshot = Some(sealed);
            rec.signatures.clear();
            a
        }
    };
    if rec.signatures.iter().any(|s| s.serial == serial) {
        return Err(NodeError::user(format!(
            "{} already signed this version of {doc_id}",
            cert.subject.name
        )));
    }
    let signer = SignerRef {
        serial,
        jabatan: cert.subject.jabatan,
        name: &cert.subject.name,
    };
    let sealed_sig = compose::sign(&mut rec, snapshot_addr, signer, &key, &satker, now);
    drop(key);
    node.store.write(|t| {
        if let Some(s) = &new_snapshot {
            t.put_item(&s.bytes)?;
        }
        t.put_item(&sealed_sig.bytes)?;
        crate::docs::put(t, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "doc_id": doc_id, "serial": serial }),
        format!(
            "{} signed {doc_id} as {} (certificate {serial}).",
            cert.subject.name,
            cert.subject.jabatan.title()
        ),
    ))
}

/// `espm submit`
pub fn submit(node: &Node, doc_ids: &[String], operator: &str, code: &str) -> Result<Output> {
    node.require_writer("submit")?;
    let satker = node.require_satker("submit")?.to_string();
    // Active, of this device, and proven by a right code (counted against the lockout)
    // before anything is said about the documents.
    let (op, step) = operators::admit(node, &satker, operator, code)?;
    let policy = Policy::default();
    let mut recs = Vec::new();
    for id in doc_ids {
        let rec = doc_record(node, id)?;
        if !op.role.may_submit(rec.kind) {
            return Err(NodeError::user(format!(
                "{} is submitted by an {}; {operator} is an {}. Nothing was submitted",
                rec.kind,
                OperatorRole::for_kind(rec.kind),
                op.role
            )));
        }
        if rec.state != DocState::Signed {
            return Err(NodeError::user(format!(
                "document {id} is {}; only signed documents can be submitted",
                rec.state
            )));
        }
        let snap_addr = rec
            .snapshot
            .ok_or_else(|| NodeError::user(format!("document {id} has no signed version")))?;
        let snap = snapshot_of(node, &snap_addr)?
            .ok_or_else(|| NodeError::user(format!("document {id}'s signed version is missing")))?;
        if !unchanged_since(&load_draft(node, id)?, &snap)? {
            return Err(NodeError::user(format!(
                "document {id} changed after it was signed; sign it again before submitting"
            )));
        }
        // The hub judges by when it receives the submission; a revocation this device has
        // already seen would make the hub refuse it, so say so now, offline.
        for s in &rec.signatures {
            if let Some(r) = revocation::of_certificate(&node.store, &s.serial)? {
                return Err(NodeError::user(format!(
                    "document {id} is signed with certificate {}, which was {}; sign it again with a valid certificate",
                    s.serial,
                    r.describe()
                )));
            }
        }
        let roles: BTreeSet<_> = rec.signatures.iter().map(|s| s.jabatan).collect();
        policy
            .check(rec.kind, &roles)
            .map_err(|e| NodeError::user(format!("document {id}: {e}")))?;
        recs.push(rec);
    }
    let (submission, sealed) =
        compose::seal_submission(&node.key, &satker, operator, &recs, clock::now())?;
    let refused = node.store.write(|t| {
        // Checked again under the write lock: two submits with one code may run at
        // once through a serving node's control socket, and only one may pass; and a
        // background sync may have stored a revocation since the code was checked.
        let mut current: OperatorRecord = t
            .get(Table::Operator, operator)?
            .unwrap_or_else(|| op.clone());
        if let Some(last) = current.last_step.filter(|last| step <= *last) {
            return Ok(Some(operators::code_used(operator, step, last)));
        }
        if current.request != op.request {
            return Ok(Some(NodeError::user(format!(
                "operator {operator} was added again while submitting; nothing was submitted"
            ))));
        }
        if let Some(refusal) =
            operators::not_active(&current, &operators::standing_in(t, &current)?)
        {
            return Ok(Some(refusal));
        }
        compose::queue(t, node.node_id(), &submission, &sealed, &mut recs)?;
        current.last_step = Some(step);
        t.put(Table::Operator, operator, &current);
        Ok(None)
    })?;
    if let Some(refusal) = refused {
        return Err(refusal);
    }
    // The used step is durable with the submission, so a crash cannot let it back in.
    node.store.flush()?;
    let ids: Vec<_> = submission
        .documents
        .iter()
        .map(|d| d.doc_id.clone())
        .collect();
    Ok(Output::new(
        json!({ "submission_id": submission.submission_id, "doc_ids": ids }),
        format!(
            "Queued submission {} with {} document(s). It goes to the KPPN at the next sync.",
            submission.submission_id,
            ids.len()
        ),
    ))
}
