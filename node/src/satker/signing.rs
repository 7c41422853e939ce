//! `espm sign`: a signer signs a document as it stands now, with a certificate of this
//! device, after the checks that the KPPN would make of that signature.

use serde_json::json;
use storage::{Draft, SealedKey, Table};
use sync_protocol::{document::AttachmentRef, policy::Policy, SecretKey};

use super::documents::{doc_record, editable, load_draft, snapshot_of, unchanged_since};
use crate::{
    cli::run::Output,
    error::{NodeError, Result},
    node::Node,
    records::CertRecord,
    satker::{
        compose::{self, SignerRef},
        lockout,
    },
    trust::{self, certificate},
};

/// The draft's attachments with their chunk lists, as a snapshot carries them.
fn attachments_with_chunks(node: &Node, draft: &Draft) -> Result<Vec<AttachmentRef>> {
    let mut out = draft.attachments()?;
    for a in out.iter_mut() {
        a.chunks = compose::manifest(&node.store, &a.sha256)?.ok_or_else(|| {
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
    let now = node.now();
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
    if let Some(r) = trust::of_certificate(&node.store, serial)? {
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
