//! The one error type of the protocol crate.

use thiserror::Error;

/// Everything that can go wrong while encoding, verifying or reconciling.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Bytes that are not valid CBOR for the expected shape.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// Valid CBOR, but not the one canonical encoding of its value.
    #[error("{what} is not canonically encoded; it was re-serialized or altered")]
    NotCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// A format version this build does not understand.
    #[error("unsupported format version {found} (this build speaks {supported})")]
    UnsupportedVersion {
        /// The version the bytes carry.
        found: u8,
        /// The version this build speaks.
        supported: u8,
    },
    /// An ed25519 signature that does not verify.
    #[error("signature on {kind} item {address} does not verify: the item was altered or signed by another key")]
    BadSignature {
        /// The item's kind.
        kind: &'static str,
        /// The item's address.
        address: String,
    },
    /// A public key that is not a valid ed25519 point or not 32 bytes.
    #[error("invalid public key: {0}")]
    BadKey(String),
    /// Text that is not a valid identifier.
    #[error("invalid {what} '{text}': {why}")]
    BadIdentifier {
        /// Which identifier (satker code, username, ...).
        what: &'static str,
        /// The text given.
        text: String,
        /// Why it is not valid.
        why: String,
    },
    /// The item kind was not what the caller expected.
    #[error("expected a {expected} item, found {found}")]
    WrongKind {
        /// The kind the caller expected.
        expected: &'static str,
        /// The kind found.
        found: &'static str,
    },
    /// The signatures present do not satisfy the policy for that document kind.
    #[error("{kind} needs {needed}; present: {present}")]
    PolicyNotMet {
        /// The document kind.
        kind: String,
        /// The roles the policy needs.
        needed: String,
        /// The roles whose signatures are present.
        present: String,
    },
    /// A signing policy table a node cannot apply.
    #[error("signing policy table refused: {0}")]
    BadPolicyTable(String),
    /// A field schema table a node cannot apply.
    #[error("field schema table refused: {0}")]
    BadFieldSchemas(String),
    /// A document's attachment list does not describe a file this system takes.
    #[error("attachment '{name}': {why}")]
    BadAttachment {
        /// The attachment's file name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A submission breaks a limit of the regulation.
    #[error("{0}")]
    SubmissionLimit(String),
    /// The peer broke the reconciliation protocol.
    #[error("protocol violation: {0}")]
    Violation(String),
    /// The local replica failed while the session used it.
    #[error("local store: {0}")]
    Replica(String),
}

impl ProtocolError {
    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        ProtocolError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
