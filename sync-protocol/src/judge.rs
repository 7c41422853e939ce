//! The one judge of signatures: whether a signature counts for a document at a given
//! moment, under the certificates and revocations a node holds, and whether the
//! signatures that count complete the document under the signing policy table. The
//! hub's ingest, `sign`, `submit` and `verify` all ask it; none decides this itself.
//!
//! Pure: no IO and no clock. Callers load the certificates and revocations the
//! signatures name and say at which moment to judge.

use std::{collections::BTreeSet, fmt};

use crate::{
    certificate::{Certificate, Jabatan},
    document::{DocKind, DocumentSnapshot},
    item::{Item, SignedItem},
    policy::Policy,
    signature::DocSignature,
    Address, ProtocolError, PublicKey, Timestamp,
};

/// The document signatures must be over.
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    /// Its id.
    pub doc_id: &'a str,
    /// Its kind, which the policy table decides by.
    pub kind: DocKind,
    /// The satker that owns it.
    pub satker: &'a str,
    /// The snapshot that must be signed.
    pub snapshot: Address,
}

impl<'a> Document<'a> {
    /// The document a stored snapshot at `address` is.
    pub fn of(snapshot: &'a DocumentSnapshot, address: Address) -> Document<'a> {
        Document {
            doc_id: &snapshot.doc_id,
            kind: snapshot.kind,
            satker: &snapshot.satker,
            snapshot: address,
        }
    }
}

/// A signature as presented: its body and the key that made it (the envelope's author).
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    /// The signature body.
    pub signature: &'a DocSignature,
    /// The key whose signature the envelope carries.
    pub author: PublicKey,
}

impl<'a> Presented<'a> {
    /// The signature an item carries, if it is a signature item.
    pub fn of(item: &'a SignedItem) -> Option<Presented<'a>> {
        match &item.item {
            Item::Signature(signature) => Some(Presented {
                signature,
                author: item.author,
            }),
            _ => None,
        }
    }
}

/// The revocation of a certificate: from when, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRevocation {
    /// From when, by the hub's clock.
    pub at: Timestamp,
    /// The CSO's reason.
    pub reason: String,
}

impl CertRevocation {
    /// How messages name it: when and why.
    pub fn describe(&self) -> String {
        revoked_on(self.at, &self.reason)
    }
}

/// "revoked on TIME (REASON)": how every message names a revocation.
pub fn revoked_on(at: Timestamp, reason: &str) -> String {
    format!("revoked on {} ({reason})", rfc3339(at))
}

/// RFC 3339 in UTC, as the node prints times.
fn rfc3339(t: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(t.0) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("@{}ms", t.0),
    }
}

/// A certificate a node holds, with its revocation if it knows of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// The certificate.
    pub certificate: Certificate,
    /// Its revocation, if any.
    pub revocation: Option<CertRevocation>,
}

/// When a signature is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// As of this instant: when the hub received it (ingest, and `verify` by the
    /// receipt), or when a signature says it was made. The certificate must be valid
    /// then, and only a revocation from then or earlier applies: what the hub received
    /// before a revocation stays valid.
    At(Timestamp),
    /// Not at the hub yet: judged on the device at this instant. The hub will receive
    /// it after every revocation the device already knows of, so each of those applies
    /// whatever the two clocks say.
    Pending(Timestamp),
}

impl Moment {
    fn time(self) -> Timestamp {
        match self {
            Moment::At(t) | Moment::Pending(t) => t,
        }
    }

    fn revoked_by(self, r: &CertRevocation) -> bool {
        match self {
            Moment::At(t) => t >= r.at,
            Moment::Pending(_) => true,
        }
    }
}

/// Why a signature does not count, or a certificate may not sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// No certificate with the serial the signature names.
    UnknownCertificate {
        /// The serial named.
        serial: String,
    },
    /// The signature covers another snapshot than the document's.
    OtherSnapshot {
        /// The certificate serial named.
        serial: String,
    },
    /// The signature names another document than the snapshot it covers.
    OtherDocument {
        /// The certificate serial named.
        serial: String,
    },
    /// The signature was made with another key than the certificate's.
    NotTheCertificatesKey {
        /// The certificate serial named.
        serial: String,
    },
    /// The certificate is for another satker than the document's.
    OtherSatker {
        /// The certificate serial.
        serial: String,
        /// The satker the certificate is for.
        certified: String,
        /// The document's satker.
        document: String,
    },
    /// The signature claims another jabatan than the certificate's.
    OtherJabatan {
        /// The certificate serial.
        serial: String,
        /// The jabatan the certificate is for.
        certified: Jabatan,
        /// The jabatan the signature claims.
        claimed: Jabatan,
    },
    /// The certificate's validity does not cover the moment judged.
    NotValid {
        /// The certificate serial.
        serial: String,
        /// The moment judged.
        at: Timestamp,
    },
    /// The certificate was revoked at or before the moment judged.
    Revoked {
        /// The certificate serial.
        serial: String,
        /// The revocation.
        revocation: CertRevocation,
    },
    /// The certificate's jabatan has no place in the rule for the document's kind.
    NotInRule {
        /// The certificate serial.
        serial: String,
        /// The document kind.
        kind: DocKind,
        /// The certificate's jabatan.
        jabatan: Jabatan,
        /// Who the rule wants, as a sentence.
        needed: String,
    },
}

impl SignatureRefusal {
    /// The serial of the certificate the refusal is about.
    pub fn serial(&self) -> &str {
        match self {
            SignatureRefusal::UnknownCertificate { serial }
            | SignatureRefusal::OtherSnapshot { serial }
            | SignatureRefusal::OtherDocument { serial }
            | SignatureRefusal::NotTheCertificatesKey { serial }
            | SignatureRefusal::OtherSatker { serial, .. }
            | SignatureRefusal::OtherJabatan { serial, .. }
            | SignatureRefusal::NotValid { serial, .. }
            | SignatureRefusal::Revoked { serial, .. }
            | SignatureRefusal::NotInRule { serial, .. } => serial,
        }
    }
}

impl fmt::Display for SignatureRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureRefusal::UnknownCertificate { serial } => {
                write!(f, "certificate {serial} is unknown")
            }
            SignatureRefusal::OtherSnapshot { .. } => {
                f.write_str("signature covers another version of the document")
            }
            SignatureRefusal::OtherDocument { .. } => {
                f.write_str("signature does not match its document")
            }
            SignatureRefusal::NotTheCertificatesKey { serial } => write!(
                f,
                "signature was not made with the key of certificate {serial}"
            ),
            SignatureRefusal::OtherSatker {
                serial,
                certified,
                document,
            } => write!(
                f,
                "certificate {serial} is for satker {certified}, not {document}"
            ),
            SignatureRefusal::OtherJabatan {
                serial,
                certified,
                claimed,
            } => write!(
                f,
                "certificate {serial} is for {}, not {}",
                certified.title(),
                claimed.title()
            ),
            SignatureRefusal::NotValid { serial, at } => {
                write!(f, "certificate {serial} is not valid at {}", rfc3339(*at))
            }
            SignatureRefusal::Revoked { serial, revocation } => write!(
                f,
                "certificate {serial} was {}; it cannot sign anything new",
                revocation.describe()
            ),
            SignatureRefusal::NotInRule {
                serial,
                kind,
                jabatan,
                needed,
            } => write!(
                f,
                "a {kind} must be signed by {needed}; certificate {serial} belongs to a {}",
                jabatan.title()
            ),
        }
    }
}

fn find<'c>(credentials: &'c [Credential], serial: &str) -> Option<&'c Credential> {
    credentials.iter().find(|c| c.certificate.serial == serial)
}

/// The certificate must be for the document's satker: it binds its holder to one.
fn holder(c: &Credential, satker: &str) -> Result<(), SignatureRefusal> {
    let cert = &c.certificate;
    if cert.satker != satker {
        return Err(SignatureRefusal::OtherSatker {
            serial: cert.serial.clone(),
            certified: cert.satker.clone(),
            document: satker.to_string(),
        });
    }
    Ok(())
}

fn valid(c: &Credential, when: Moment) -> Result<(), SignatureRefusal> {
    if !c.certificate.valid_at(when.time()) {
        return Err(SignatureRefusal::NotValid {
            serial: c.certificate.serial.clone(),
            at: when.time(),
        });
    }
    Ok(())
}

fn not_revoked(c: &Credential, when: Moment) -> Result<(), SignatureRefusal> {
    match &c.revocation {
        Some(r) if when.revoked_by(r) => Err(SignatureRefusal::Revoked {
            serial: c.certificate.serial.clone(),
            revocation: r.clone(),
        }),
        _ => Ok(()),
    }
}

/// Whether `sig` counts for `doc` at `when`: made over that very snapshot of that
/// document, with the key of a certificate in `credentials` for the document's satker
/// and the jabatan the signature claims, valid and not revoked then. Returns the
/// jabatan it counts for.
pub fn judge_signature(
    doc: &Document<'_>,
    sig: &Presented<'_>,
    credentials: &[Credential],
    when: Moment,
) -> Result<Jabatan, SignatureRefusal> {
    let s = sig.signature;
    let serial = || s.serial.clone();
    let Some(c) = find(credentials, &s.serial) else {
        return Err(SignatureRefusal::UnknownCertificate { serial: serial() });
    };
    if s.snapshot != doc.snapshot {
        return Err(SignatureRefusal::OtherSnapshot { serial: serial() });
    }
    if s.doc_id != doc.doc_id {
        return Err(SignatureRefusal::OtherDocument { serial: serial() });
    }
    if c.certificate.key != sig.author {
        return Err(SignatureRefusal::NotTheCertificatesKey { serial: serial() });
    }
    holder(c, doc.satker)?;
    if c.certificate.subject.jabatan != s.jabatan {
        return Err(SignatureRefusal::OtherJabatan {
            serial: serial(),
            certified: c.certificate.subject.jabatan,
            claimed: s.jabatan,
        });
    }
    valid(c, when)?;
    not_revoked(c, when)?;
    Ok(s.jabatan)
}

/// Whether the certificate `c` may sign a document of `kind` of `satker` at `when`:
/// for that satker, valid, in a jabatan the policy table wants for that kind, and not
/// revoked. What `sign` asks before it unseals a key.
pub fn may_sign(
    c: &Credential,
    kind: DocKind,
    satker: &str,
    policy: &Policy,
    when: Moment,
) -> Result<(), SignatureRefusal> {
    holder(c, satker)?;
    valid(c, when)?;
    let jabatan = c.certificate.subject.jabatan;
    if !policy.may_sign(kind, jabatan) {
        return Err(SignatureRefusal::NotInRule {
            serial: c.certificate.serial.clone(),
            kind,
            jabatan,
            needed: policy.describe(kind),
        });
    }
    not_revoked(c, when)
}

/// The judge's answer on one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgment {
    /// For each signature presented, in order: the jabatan it counts for, or why not.
    pub signatures: Vec<Result<Jabatan, SignatureRefusal>>,
    /// Whether the signatures that count complete the document under the policy.
    pub complete: Result<(), ProtocolError>,
}

impl Judgment {
    /// The first signature that does not count, by its place among those presented.
    pub fn first_refusal(&self) -> Option<(usize, &SignatureRefusal)> {
        self.signatures
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }
}

/// Judges every signature presented for `doc` at `when`, and whether those that count
/// meet `policy` for the document's kind.
pub fn judge_document(
    doc: &Document<'_>,
    signatures: &[Presented<'_>],
    credentials: &[Credential],
    policy: &Policy,
    when: Moment,
) -> Judgment {
    let signatures: Vec<_> = signatures
        .iter()
        .map(|s| judge_signature(doc, s, credentials, when))
        .collect();
    let counted: BTreeSet<Jabatan> = signatures
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let complete = policy.check(doc.kind, &counted);
    Judgment {
        signatures,
        complete,
    }
}

#[cfg(test)]
mod tests;
