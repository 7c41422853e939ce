//! The hub's signed receipt for a delivered submission.

use serde::{Deserialize, Serialize};

use crate::{Address, Timestamp};

/// Proof that the hub stored and verified a submission. Signed by the hub authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The submission item's address.
    pub submission: Address,
    /// Its id as the operator saw it.
    pub submission_id: String,
    /// The satker.
    pub satker: String,
    /// The documents delivered.
    pub doc_ids: Vec<String>,
    /// When the hub stored it durably.
    pub delivered_at: Timestamp,
    /// Position of the submission in the hub's Merkle log, from 1 (its leaf index + 1).
    pub log_seq: u64,
    /// The RFC 9162 root of the hub's log of `log_seq` entries, right after the
    /// submission was entered.
    pub log_hash: Address,
}
