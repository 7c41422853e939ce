//! The one error type of the storage crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong with the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another process holds the store open.
    #[error("the store at {path} is in use by another espm process; stop it or run the command against it while it serves")]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// sled failed; usually the disk.
    #[error("store {action} failed: {source}")]
    Sled {
        /// What the store was doing.
        action: &'static str,
        /// sled's error.
        source: sled::Error,
    },
    /// The store's files are damaged on disk: bytes changed, cut short or lost.
    #[error("{}", crate::damage::explain(.path, .file, .detail))]
    Damaged {
        /// The store's directory, when known where the damage was found.
        path: Option<PathBuf>,
        /// Which of its files, in plain words.
        file: String,
        /// What is wrong there.
        detail: String,
    },
    /// A record that does not decode: the store is damaged or from another version.
    #[error("stored {what} is damaged or from an incompatible version: {detail}")]
    Corrupt {
        /// What was read.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The store was written by a newer espm than this one.
    #[error("this data directory was written by a newer espm (store format {found}); this espm reads formats up to {supported}. Install the newer espm to use it")]
    NewerFormat {
        /// The format the store records.
        found: u32,
        /// The newest format this build reads.
        supported: u32,
    },
    /// The passphrase does not open a sealed key.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// A draft operation failed.
    #[error("draft: {0}")]
    Draft(String),
    /// A peer's draft-sync message, or the draft it would make, is over a bound.
    #[error("{}", .bound.explain(*.limit))]
    DraftLimit {
        /// Which bound.
        bound: crate::draft::Bound,
        /// Its limit.
        limit: u64,
    },
    /// An item failed protocol checks.
    #[error(transparent)]
    Protocol(#[from] sync_protocol::ProtocolError),
    /// A background writer panicked while holding the write lock.
    #[error("the store's write lock was poisoned by an earlier failure; restart the node")]
    Poisoned,
}

impl StoreError {
    /// sled's error as ours, for code outside store.rs that has no store path at hand.
    #[allow(dead_code)]
    pub(crate) fn sled(action: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| crate::damage::of_sled(None, action, false, source)
    }

    /// Whether the store's files are damaged, so that restoring a backup is the remedy.
    pub fn is_damage(&self) -> bool {
        matches!(self, StoreError::Damaged { .. })
    }
}
