//! The verdict on an arriving item, shared by both ends of a sync: why a node refuses
//! an item a peer sent, the hub what a device pushes, a device what the hub serves. Each reason is a variant; its `Display` is the message the peer gets
//! in `Refusal.reason` and the KPPN's monitor shows, so no code ever reads that text.

use std::fmt;

use sync_protocol::{
    Address, DocKind, DocState, FieldRefusal, ItemKind, OperatorRole, ProtocolError,
    SignatureRefusal,
};

use crate::trust::RevocationRecord;

/// The outcome of offering one item: stored (or already held), or refused.
pub type Verdict = Result<(), Refused>;

/// Why an item was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The bytes do not open as a signed item.
    Unreadable(ProtocolError),
    /// The item opens but breaks a rule of its own kind (a registration field, an
    /// attachment list, a submission limit, a policy table).
    Invalid(ProtocolError),
    /// The sending device was revoked.
    DeviceRevoked(RevocationRecord),
    /// An auditor device sent something.
    AuditorReadOnly,
    /// A satker device sent a kind only the hub issues.
    MayNotAuthor(ItemKind),
    /// A device sent something another key authored; `what` names the kind.
    NotAuthoredBySender(&'static str),
    /// A device spoke for another satker than the one it is enrolled for.
    OtherSatker {
        /// The device's satker.
        enrolled: String,
        /// The satker the item claims.
        claimed: String,
    },
    /// A certificate request signed by another key than the one it asks to certify.
    RequestNotSelfSigned,
    /// A request names another device than the sender; `what` names the kind.
    NamesAnotherDevice(&'static str),
    /// A request id already in use.
    RequestIdTaken(String),
    /// A certificate request for a NIP and jabatan that already have one pending.
    CertRequestPending {
        /// The NIP.
        nip: String,
        /// The jabatan.
        jabatan: sync_protocol::Jabatan,
        /// The pending request.
        request_id: String,
    },
    /// An operator activation request while one is pending.
    OperatorPending {
        /// The operator.
        username: String,
        /// Its satker.
        satker: String,
        /// The pending request.
        request_id: String,
    },
    /// An operator activation request for an active operator.
    OperatorActive {
        /// The operator.
        username: String,
        /// Its satker.
        satker: String,
    },
    /// A submission by an operator this KPPN never activated.
    OperatorNeverActivated {
        /// The operator.
        operator: String,
        /// Its satker.
        satker: String,
    },
    /// A submission by an operator whose activation request waits for the CSO.
    OperatorNotActive {
        /// The operator.
        operator: String,
        /// Its satker.
        satker: String,
        /// The pending request.
        request_id: String,
    },
    /// A submission by an operator activated for another device.
    OperatorOfAnotherDevice {
        /// The operator.
        operator: String,
        /// Its satker.
        satker: String,
    },
    /// A submission the hub received after the operator was revoked.
    OperatorRevoked {
        /// The operator.
        operator: String,
        /// Its satker.
        satker: String,
        /// The revocation.
        revocation: RevocationRecord,
    },
    /// A signature over a snapshot the hub does not hold.
    SnapshotNotHeld(Address),
    /// A signature naming another document than the snapshot it covers, or a snapshot
    /// of another satker than the sender's.
    SignatureNotOfDocument,
    /// A signature the judge does not count at arrival.
    Signature(SignatureRefusal),
    /// A document in a submission that its operator's role does not submit.
    OperatorMayNotSubmit {
        /// The document.
        doc_id: String,
        /// Its kind.
        kind: DocKind,
        /// The operator.
        operator: String,
        /// The operator's role.
        role: OperatorRole,
    },
    /// A submitted document whose snapshot the hub does not hold.
    SnapshotMissing(String),
    /// A submitted document whose snapshot is of another document, kind or satker.
    SnapshotMismatch(String),
    /// A document snapshot whose fields the hub's field schemas refuse.
    Fields {
        /// The document.
        doc_id: String,
        /// Which field and what it expects.
        refusal: FieldRefusal,
    },
    /// A document delivered before and not rejected since.
    AlreadyDelivered {
        /// The document.
        doc_id: String,
        /// Its state at the hub.
        state: DocState,
    },
    /// A submitted document whose signatures do not make it complete.
    Document {
        /// The document.
        doc_id: String,
        /// Why (boxed: the rarest refusal need not size every verdict).
        why: Box<DocumentRefusal>,
    },
    /// A submission whose attachments would pass the hub's bound on awaited chunks.
    ChunkBacklog {
        /// Chunks of the satker the hub still waits for.
        waiting: u64,
        /// The bound.
        limit: u64,
    },
    /// A hub was asked to pull from another hub.
    HubDoesNotPull,
    /// A hub identity that is not the pinned hub's.
    HubIdentityMismatch,
    /// An operator activation request served by the hub.
    OperatorRequestFromHub,
    /// An item of a kind only the hub issues, not signed by the hub key that issues it.
    NotFromIssuer(ItemKind),
}

/// Why a document of a submission is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentRefusal {
    /// A signature item the hub does not hold.
    SignatureNotHeld(Address),
    /// An address in the signature list that is not a signature.
    NotASignature(Address),
    /// A signature the judge does not count at arrival.
    Signature {
        /// The signature item.
        address: Address,
        /// Why it does not count.
        refusal: SignatureRefusal,
    },
    /// The signatures that count miss the signing policy.
    Incomplete(ProtocolError),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Unreadable(e) | Refused::Invalid(e) => write!(f, "{e}"),
            Refused::DeviceRevoked(r) => write!(
                f,
                "this device was {}; the hub stores nothing it sends from then on",
                r.describe()
            ),
            Refused::AuditorReadOnly => {
                f.write_str("auditor devices are read-only; the hub stores nothing they send")
            }
            Refused::MayNotAuthor(kind) => {
                let name = kind.name();
                let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                write!(f, "a satker device may not author {article} {name}")
            }
            Refused::NotAuthoredBySender(what) => {
                write!(f, "{what} was not authored by the sending device")
            }
            Refused::OtherSatker { enrolled, claimed } => write!(
                f,
                "this device is enrolled for satker {enrolled}, not {claimed}"
            ),
            Refused::RequestNotSelfSigned => f.write_str(
                "certificate request is not signed by the key it asks to certify",
            ),
            Refused::NamesAnotherDevice(what) => write!(f, "{what} names another device"),
            Refused::RequestIdTaken(id) => write!(
                f,
                "request id {id} is already taken by another request; make the request again"
            ),
            Refused::CertRequestPending {
                nip,
                jabatan,
                request_id,
            } => write!(
                f,
                "NIP {nip} already has a pending certificate request {request_id} as {}; the KPPN's CSO approves it (`espm certs approve`) before another is made",
                jabatan.title()
            ),
            Refused::OperatorPending {
                username,
                satker,
                request_id,
            } => write!(
                f,
                "operator {username} of satker {satker} already has a pending activation request {request_id}; the KPPN's CSO approves it, or revokes the operator once active"
            ),
            Refused::OperatorActive { username, satker } => write!(
                f,
                "operator {username} of satker {satker} is already active; the KPPN's CSO must revoke it before it is activated again"
            ),
            Refused::OperatorNeverActivated { operator, satker } => write!(
                f,
                "operator {operator} was never activated for satker {satker} by this KPPN; the CSO activates operators (`espm operators approve`)"
            ),
            Refused::OperatorNotActive {
                operator,
                satker,
                request_id,
            } => write!(
                f,
                "operator {operator} of satker {satker} is not active: its request {request_id} waits for the KPPN's CSO"
            ),
            Refused::OperatorOfAnotherDevice { operator, satker } => write!(
                f,
                "operator {operator} of satker {satker} is activated for another device, not this one"
            ),
            Refused::OperatorRevoked {
                operator,
                satker,
                revocation,
            } => write!(
                f,
                "operator {operator} of satker {satker} was {}; the hub accepts nothing it submits from then on",
                revocation.describe()
            ),
            Refused::SnapshotNotHeld(a) => write!(
                f,
                "signature refers to snapshot {} the hub does not hold",
                a.short()
            ),
            Refused::SignatureNotOfDocument => f.write_str("signature does not match its document"),
            Refused::Signature(r) => match r {
                SignatureRefusal::UnknownCertificate { serial } => {
                    write!(f, "certificate {serial} is unknown to the hub")
                }
                // A certificate binds its holder to one satker; the delivery check would
                // never count this signature, so it has no place in this satker's
                // stream either.
                SignatureRefusal::OtherSatker {
                    serial,
                    certified,
                    document,
                } => write!(
                    f,
                    "certificate {serial} is for satker {certified}; this device is enrolled for satker {document}"
                ),
                SignatureRefusal::OtherSnapshot { .. } | SignatureRefusal::OtherDocument { .. } => {
                    f.write_str("signature does not match its document")
                }
                SignatureRefusal::NotValid { serial, .. } => {
                    write!(f, "certificate {serial} is not valid now")
                }
                other => write!(f, "{other}"),
            },
            Refused::OperatorMayNotSubmit {
                doc_id,
                kind,
                operator,
                role,
            } => write!(
                f,
                "document {doc_id}: a {kind} is submitted by an {}; operator {operator} is an {role}",
                OperatorRole::for_kind(*kind)
            ),
            Refused::SnapshotMissing(doc_id) => {
                write!(f, "document {doc_id}: its snapshot is not held by the hub")
            }
            Refused::SnapshotMismatch(doc_id) => write!(
                f,
                "document {doc_id}: the snapshot does not match the submission"
            ),
            Refused::Fields { doc_id, refusal } => write!(f, "document {doc_id}: {refusal}"),
            Refused::AlreadyDelivered { doc_id, state } => write!(
                f,
                "document {doc_id} was already delivered (state {state})"
            ),
            Refused::Document { doc_id, why } => write!(f, "document {doc_id}: {why}"),
            Refused::ChunkBacklog { waiting, limit } => write!(
                f,
                "the hub still waits for {waiting} attachment chunk(s) of this satker's earlier submissions and takes at most {limit} at once; sync until they arrive (or are refused when they expire), then submit this again"
            ),
            Refused::HubDoesNotPull => f.write_str("a hub does not pull from another hub"),
            Refused::HubIdentityMismatch => {
                f.write_str("hub identity does not match the pinned hub id")
            }
            Refused::OperatorRequestFromHub => f.write_str(
                "operator activation requests go from a device to the hub, never back",
            ),
            Refused::NotFromIssuer(kind) => write!(
                f,
                "{} is not signed by the hub key that issues it (authority or service key of the hub this node pinned)",
                kind.name()
            ),
        }
    }
}

impl fmt::Display for DocumentRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentRefusal::SignatureNotHeld(a) => write!(
                f,
                "signature item {} is not held by the hub (it was refused or never sent)",
                a.short()
            ),
            DocumentRefusal::NotASignature(a) => {
                write!(f, "item {} is not a signature", a.short())
            }
            DocumentRefusal::Signature { address, refusal } => {
                let short = address.short();
                match refusal {
                    SignatureRefusal::UnknownCertificate { serial } => {
                        write!(f, "certificate {serial} is unknown to the hub")
                    }
                    SignatureRefusal::OtherSnapshot { .. } => write!(
                        f,
                        "signature {short} covers another version of the document"
                    ),
                    SignatureRefusal::OtherDocument { .. } => {
                        write!(f, "signature {short} does not match its document")
                    }
                    SignatureRefusal::NotTheCertificatesKey { serial }
                    | SignatureRefusal::OtherSatker { serial, .. }
                    | SignatureRefusal::OtherJabatan { serial, .. } => write!(
                        f,
                        "signature {short} was not made with certificate {serial}"
                    ),
                    SignatureRefusal::NotValid { serial, .. } => {
                        write!(f, "certificate {serial} is not valid now")
                    }
                    SignatureRefusal::Revoked { serial, revocation } => write!(
                        f,
                        "certificate {serial} was {}; a signature made with it counts only if the hub received it before that",
                        revocation.describe()
                    ),
                    other @ SignatureRefusal::NotInRule { .. } => write!(f, "{other}"),
                }
            }
            DocumentRefusal::Incomplete(e) => write!(f, "{e}"),
        }
    }
}
