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

pub mod address;
pub mod attachment;
pub mod certificate;
pub mod document;
pub mod draft_sync;
pub mod encoding;
pub mod enrollment;
pub mod error;
pub mod framing;
pub mod item;
pub mod judge;
pub mod keys;
pub mod message;
pub mod operator;
pub mod policy;
pub mod receipt;
pub mod revocation;
pub mod session;
pub mod signature;
pub mod status;
pub mod stream;
pub mod submission;
pub mod time;

pub use address::Address;
pub use error::ProtocolError;
pub use item::{Item, ItemKind, SignedItem};
pub use keys::{NodeId, PublicKey, SecretKey};
pub use time::Timestamp;
