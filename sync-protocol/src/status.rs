//! Document states and the hub's signed status updates.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{ProtocolError, Timestamp};

/// Where a document stands on its journey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocState {
    /// Being written on the satker; not yet signed.
    Draft,
    /// Signed as the policy asks; not yet submitted.
    Signed,
    /// Submitted on the satker; waits for a link to the hub.
    Queued,
    /// Pushed to the hub; no receipt yet.
    Delivered,
    /// Receipted by the hub.
    Received,
    /// Being converted by the KPPN (the first processing stage).
    Konversi,
    /// Being validated by the KPPN.
    Validasi,
    /// Being reviewed by the KPPN.
    Reviu,
    /// Approved by the KPPN (SP2D may follow).
    Approved,
    /// Rejected by the KPPN, with a reason.
    Rejected,
}

impl DocState {
    /// Every state, in the order of a document's journey, `rejected` last.
    pub const ALL: [DocState; 10] = [
        DocState::Draft,
        DocState::Signed,
        DocState::Queued,
        DocState::Delivered,
        DocState::Received,
        DocState::Konversi,
        DocState::Validasi,
        DocState::Reviu,
        DocState::Approved,
        DocState::Rejected,
    ];

    /// The KPPN's processing stages a document is advanced to, in order.
    pub fn stages() -> impl Iterator<Item = DocState> {
        std::iter::successors(DocState::Received.next_stage(), |s| s.next_stage())
    }

    /// The contract's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            DocState::Draft => "draft",
            DocState::Signed => "signed",
            DocState::Queued => "queued",
            DocState::Delivered => "delivered",
            DocState::Received => "received",
            DocState::Konversi => "konversi",
            DocState::Validasi => "validasi",
            DocState::Reviu => "reviu",
            DocState::Approved => "approved",
            DocState::Rejected => "rejected",
        }
    }

    /// The processing stage that follows this one at the KPPN, if any.
    pub fn next_stage(self) -> Option<DocState> {
        match self {
            DocState::Received => Some(DocState::Konversi),
            DocState::Konversi => Some(DocState::Validasi),
            DocState::Validasi => Some(DocState::Reviu),
            DocState::Reviu => Some(DocState::Approved),
            _ => None,
        }
    }

    /// Whether the KPPN may still reject a document in this state.
    pub fn rejectable(self) -> bool {
        matches!(
            self,
            DocState::Delivered
                | DocState::Received
                | DocState::Konversi
                | DocState::Validasi
                | DocState::Reviu
        )
    }
}

impl fmt::Display for DocState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocState {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocState::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| ProtocolError::BadIdentifier {
                what: "state",
                text: s.to_string(),
                why: format!(
                    "expected one of {}",
                    DocState::ALL.map(DocState::as_str).join(", ")
                ),
            })
    }
}

/// A KPPN's statement that a document moved to a state. Signed by the hub authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The document.
    pub doc_id: String,
    /// Its satker.
    pub satker: String,
    /// The new state.
    pub state: DocState,
    /// When.
    pub at: Timestamp,
    /// Why, for a rejection.
    pub reason: Option<String>,
    /// The KPPN user or role that acted.
    pub by: String,
}
