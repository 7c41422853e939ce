//! The embedded store of an espm node, on sled: items by content address, stream logs
//! and receive checkpoints, typed record tables for the node's indexes, drafts as
//! automerge documents, signer keys sealed under a passphrase, and the hub's log as an
//! RFC 9162 Merkle tree.
//!
//! Every write for one item (the item and all its indexes) is one atomic sled batch.
//! Nothing is durable until [`Store::flush`]; callers must flush before they acknowledge
//! or receipt anything. This crate must never decide policy (who may write what): that
//! is the node's job; it only keeps what it is given, consistently.

#![warn(missing_docs)]

mod damage;
pub mod draft;
mod error;
mod format;
mod hublog;
mod sealed_key;
mod store;
mod table;
mod typed;

pub use damage::{RecordCheck, RecordProblem, FLUSHED_FILE};
pub use draft::Draft;
pub use error::StoreError;
pub use format::FORMAT;
pub use hublog::{LogEntry, LogHead};
pub use sealed_key::{SealedKey, SealedSecret, SEAL_M_COST_KIB, SEAL_P_COST, SEAL_T_COST};
pub(crate) use store::StoreEntryCheck;
pub use store::{SnapshotPart, Store, StreamEntry, StreamRead, Txn};
pub use table::Table;
pub use typed::Typed;
