//! What crosses the wire and what is signed in espm: the data model (documents,
//! signatures, submissions, receipts, status updates, certificates, enrollments,
//! operator activations),
//! canonical CBOR encoding, content addresses, ed25519 signing, the signing policy
//! table and the one judge of whether a signature counts, and the reconciliation and draft-sync sessions as sans-IO state machines.
//!
//! This crate must never do IO: no sockets, no async runtime, no disk. Callers feed it
//! bytes and messages and ask it for the next ones, so every rule here can be tested
//! deterministically in memory.

#![warn(missing_docs)]

mod address;
mod attachment;
mod certificate;
mod checkpoint;
mod document;
mod draft_sync;
mod encoding;
mod enrollment;
mod error;
mod fields;
mod framing;
mod item;
mod judge;
mod keys;
mod merkle;
mod message;
mod operator;
mod policy;
mod receipt;
mod revocation;
mod session;
mod signature;
mod status;
mod stream;
mod submission;
mod time;

// The crate's whole public surface: modules are private and every item a caller may
// use is named here, so the file layout can change without breaking a caller.
pub use address::Address;
pub use attachment::{
    chunk_addresses, chunks_of, expected_chunks, joins_to, CHUNK_BYTES, MAX_ATTACHMENTS,
    MAX_ATTACHMENT_BYTES, MAX_WANT,
};
pub use certificate::{CertRequest, Certificate, Jabatan, Subject, OFFICIAL_EMAIL_DOMAINS};
pub use checkpoint::{
    branches, contradicts, Checkpoint, Extends, Fork, InclusionProof, Inclusions, TreeHead,
    MAX_PATH, MAX_PROOFS_PER_ITEM,
};
pub use document::{AttachmentRef, DocKind, DocumentSnapshot};
pub use draft_sync::{
    check_doc_id, Announce, Applied, DraftMessage, DraftRefusal, DraftReplica, DraftSession,
    DraftStats, RefusalReason, MAX_ANNOUNCED, MAX_DOC_ID_LEN, MAX_DRAFT_SYNC_BYTES,
};
pub use encoding::{from_canonical, from_cbor, to_canonical, FORMAT_VERSION};
pub use enrollment::{DeviceEnrollment, DeviceRole, HubIdentity, AUTHORITY_BINDING_DOMAIN};
pub use error::ProtocolError;
pub use fields::{
    holds_card_number, FieldRefusal, FieldSchemaTable, FieldSchemas, FieldSpec, FieldType,
    KindSchema, CORRECTS_FIELD, MAX_AKUN_LINES, MAX_NOTE_CHARS, MAX_TEXT_CHARS, TOTAL_FIELD,
};
pub use framing::{
    encode_frame, Fed, FrameDecoder, StreamHeader, StreamKind, HEADER_BYTES, PREFIX_BYTES,
    STREAM_MAGIC,
};
pub use item::{Item, ItemKind, SignedItem, SignedParts};
pub use judge::{
    judge_document, judge_signature, may_sign, revoked_on, CertRevocation, Credential, Document,
    Judgment, Moment, Presented, SignatureRefusal,
};
pub use keys::{NodeId, PublicKey, SecretKey};
pub use merkle::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root as merkle_root,
    tree_consistency, tree_inclusion, tree_root, verify_consistency, verify_inclusion, Frontier,
    Hash as MerkleHash, Leaves, Subtrees,
};
pub use message::{
    cut_text, FrameItem, Message, Refusal, MAX_ABORT_REASON_BYTES, MAX_FRAME_ITEMS, MAX_ITEM_BYTES,
    MAX_MESSAGE_BYTES, MAX_REASON_BYTES,
};
pub use operator::{
    validate_username, OperatorActivation, OperatorRequest, OperatorRole, MAX_SK_REFERENCE_CHARS,
    MAX_USERNAME_CHARS, MIN_USERNAME_CHARS,
};
pub use policy::{AllOf, AnyOf, Policy, PolicyTable, MAX_GROUPS_PER_RULE};
pub use receipt::Receipt;
pub use revocation::{Revocation, Revoked};
pub use session::{Chunk, Config, Progress, Replica, Session, Side, Stats};
pub use signature::DocSignature;
pub use status::{DocState, StatusUpdate};
pub use stream::{StreamId, VersionVector};
pub use submission::{Submission, SubmittedDoc, MAX_SPM_PER_SUBMISSION};
pub use time::Timestamp;
