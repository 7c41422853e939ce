//! `espm sign`: a signer signs a document as it stands now, with a certificate of this
//! device, after the judge has said the KPPN would count that signature.

use storage::{Draft, SealedKey};
use sync_protocol::{
    judge_signature, may_sign, AttachmentRef, Document, Jabatan, Moment, Presented, SecretKey,
    SignatureRefusal,
};

use super::documents::{doc_record, editable, load_draft, snapshot_of, unchanged_since};
use crate::{
    error::{NodeError, Result},
    lockout,
    node::Node,
    records::CertRecord,
    satker::compose::{self, SignerRef},
    trust,
};

/// A signature just made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The document.
    pub doc_id: String,
    /// The certificate signed under.
    pub serial: String,
    /// The signer's name on the certificate.
    pub name: String,
    /// The jabatan signed in.
    pub jabatan: Jabatan,
}

/// Why this certificate may not sign, as `sign` tells the signer what to do about it.
fn refused(refusal: SignatureRefusal) -> NodeError {
    NodeError::user(match &refusal {
        SignatureRefusal::NotValid { serial, .. } => {
            format!("certificate {serial} is not valid now; ask the KPPN for a new one")
        }
        SignatureRefusal::Revoked { .. } => {
            format!("{refusal}. Ask the KPPN's CSO for a new certificate (`espm signer request`)")
        }
        SignatureRefusal::NotTheCertificatesKey { serial } => {
            format!("the key on this device does not match certificate {serial}")
        }
        _ => refusal.to_string(),
    })
}

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

/// The most characters a signing place may have: a town's name, not a letter.
pub const MAX_PLACE_CHARS: usize = 100;

/// Signs document `doc_id` as it stands now with the certificate `serial` of this
/// device, whose key `passphrase` unseals, at `place` (the satker code without one):
/// `espm sign`.
pub fn sign(
    node: &Node,
    doc_id: &str,
    serial: &str,
    passphrase: &str,
    place: Option<&str>,
) -> Result<Signed> {
    node.require_writer("sign")?;
    let satker = node.require_satker("sign")?.to_string();
    let serial = crate::prefix::resolve(node, crate::schema::CERTS, serial, "certificate")?;
    let serial = serial.as_str();
    let place = match place.map(str::trim) {
        None => satker.clone(),
        Some(p) if p.is_empty() || p.chars().count() > MAX_PLACE_CHARS || p.chars().any(char::is_control) => {
            return Err(NodeError::user(format!(
                "--place must name where the signer signs, e.g. --place Kotabumi: 1 to {MAX_PLACE_CHARS} characters on one line"
            )))
        }
        Some(p) => p.to_string(),
    };
    let mut rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    let draft = load_draft(node, doc_id)?;
    // Before the passphrase: a document that is not complete costs no attempt.
    crate::fields::check_document(node, rec.kind, &draft.fields()?)?;
    let credential = trust::credential(node, serial)?.ok_or_else(|| {
        NodeError::user(format!(
            "no certificate '{serial}' on this device; `espm signers` lists the usable ones"
        ))
    })?;
    let cert_rec: CertRecord = crate::schema::CERTS
        .get(&node.store, serial)?
        .ok_or_else(|| NodeError::user(format!("no certificate '{serial}'")))?;
    let sealed: SealedKey = crate::schema::KEYS.get(&node.store, &cert_rec.request_id)?.ok_or_else(|| {
        NodeError::user(format!("the key for certificate {serial} is not on this device; sign on the device that requested it"))
    })?;
    let cert = &credential.certificate;
    // Asked before the passphrase is tried, so a certificate that may not sign costs
    // the signer no attempt against the lockout.
    let now = node.now();
    let policy = node.policy()?;
    may_sign(
        &credential,
        rec.kind,
        &satker,
        &policy,
        Moment::Pending(now),
    )
    .map_err(refused)?;
    let secret = lockout::unseal(
        &node.store,
        &*node.clock,
        &node.zone()?,
        &lockout::Guarded::Signer(serial.to_string()),
        &sealed,
        passphrase,
    )?;
    let key = SecretKey::from_bytes(&secret);
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
            // Signatures over the earlier version stay shown, as no longer matching.
            let mut earlier = std::mem::take(&mut rec.signatures);
            rec.superseded.append(&mut earlier);
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
    let sealed_sig = compose::sign(&mut rec, snapshot_addr, signer, &key, &place, now);
    drop(key);
    // The signature as the hub will judge it: made with the certificate's key over
    // this very snapshot.
    let doc = Document {
        doc_id: &rec.doc_id,
        kind: rec.kind,
        satker: &satker,
        snapshot: snapshot_addr,
    };
    if let Some(presented) = Presented::of(&sealed_sig) {
        judge_signature(
            &doc,
            &presented,
            std::slice::from_ref(&credential),
            Moment::Pending(now),
        )
        .map_err(refused)?;
    }
    node.store.write(|t| {
        if let Some(s) = &new_snapshot {
            t.put_item(&s.bytes)?;
        }
        t.put_item(&sealed_sig.bytes)?;
        crate::docs::put(t, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Signed {
        doc_id: doc_id.to_string(),
        serial: serial.to_string(),
        name: cert.subject.name.clone(),
        jabatan: cert.subject.jabatan,
    })
}

#[cfg(test)]
pub(crate) mod tests;
