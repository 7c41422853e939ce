//! Draft-sync messages as they cross the wire, their limits, and document id checks.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    encoding::{from_cbor, to_canonical},
    message::{MAX_ITEM_BYTES, MAX_MESSAGE_BYTES},
    Address, ProtocolError,
};

/// The most drafts one side announces in a session; the rest wait for the next one.
pub const MAX_ANNOUNCED: usize = 1024;

/// The most bytes one automerge sync message may take.
pub const MAX_DRAFT_SYNC_BYTES: usize = MAX_ITEM_BYTES;

/// The longest document id accepted; ids become store keys.
pub const MAX_DOC_ID_LEN: usize = 96;

/// A draft as one side announces it: its id and a digest of its heads, if held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// Document id.
    pub doc_id: String,
    /// Digest of the draft's heads on the announcing side; `None` if it does not hold it.
    pub digest: Option<Address>,
}

/// Why one side will not exchange a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalReason {
    /// The device's role takes no part in drafts (auditors).
    NotAllowed,
    /// The draft belongs to another satker than the device.
    WrongSatker {
        /// The satker the draft belongs to.
        draft: String,
        /// The satker the device is enrolled for.
        device: String,
    },
    /// The document has moved past draft on this node; its signed version stands.
    Frozen {
        /// Where the document stands now.
        state: String,
    },
    /// The sync message is larger than the limit.
    TooLarge {
        /// The message's size.
        bytes: u64,
        /// The largest allowed.
        limit: u64,
    },
    /// The sync message or the draft it produces does not make sense.
    Invalid {
        /// What does not make sense.
        detail: String,
    },
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::NotAllowed => f.write_str("this device's role takes no part in drafts"),
            RefusalReason::WrongSatker { draft, device } => write!(
                f,
                "the draft belongs to satker {draft}; the device is enrolled for satker {device}"
            ),
            RefusalReason::Frozen { state } => write!(
                f,
                "the document is {state} on this node, so edits from other devices are no longer taken"
            ),
            RefusalReason::TooLarge { bytes, limit } => write!(
                f,
                "its sync message of {bytes} bytes exceeds the limit of {limit} bytes"
            ),
            RefusalReason::Invalid { detail } => write!(f, "the draft is unusable: {detail}"),
        }
    }
}

/// One draft refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftRefusal {
    /// Document id.
    pub doc_id: String,
    /// Why.
    pub reason: RefusalReason,
}

/// A draft-sync message as it crosses the wire, on a stream whose header says it carries
/// draft sync. Its tags differ from every [`crate::message::Message`] tag, so one sent on
/// the wrong kind of stream fails to decode rather than passing for another message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DraftMessage {
    /// Opens the stream (device to hub): drafts changed since last in step with the hub.
    DraftHello {
        /// The draft-sync format version the device speaks.
        version: u8,
        /// The drafts changed since last in step, with their digests.
        drafts: Vec<Announce>,
        /// More drafts changed than could be announced.
        more: bool,
    },
    /// The hub's answer: its digests for the drafts it takes, the ones it refuses, and
    /// its own drafts changed since last in step with this device.
    DraftWelcome {
        /// The hub's digests for the drafts it takes, and its own changed drafts.
        drafts: Vec<Announce>,
        /// The drafts it refuses, with why.
        refused: Vec<DraftRefusal>,
        /// More of the hub's drafts changed than could be announced.
        more: bool,
    },
    /// One turn in the conversation about a draft: an automerge sync message, or none.
    DraftTurn {
        /// The draft's document id.
        doc_id: String,
        /// The automerge sync message; none when the sender has nothing to add.
        #[serde(with = "serde_bytes")]
        data: Option<Vec<u8>>,
    },
    /// A turn that ends the conversation about a draft without taking it.
    DraftRefuse {
        /// The draft's document id.
        doc_id: String,
        /// Why it is not taken.
        reason: RefusalReason,
    },
    /// The sender is closing the stream for the reason given.
    DraftAbort {
        /// Why, in words for the log.
        reason: String,
    },
}

/// Checks a document id: short, and only letters, digits, `-`, `_` and `.`.
pub fn check_doc_id(doc_id: &str) -> Result<(), ProtocolError> {
    let ok = !doc_id.is_empty()
        && doc_id.len() <= MAX_DOC_ID_LEN
        && doc_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ProtocolError::BadIdentifier {
            what: "document id",
            text: doc_id.chars().take(MAX_DOC_ID_LEN).collect(),
            why: format!("must be 1 to {MAX_DOC_ID_LEN} letters, digits, '-', '_' or '.'"),
        })
    }
}

pub(crate) fn check_announced(drafts: &[Announce], limit: usize) -> Result<(), ProtocolError> {
    if drafts.len() > limit {
        return Err(ProtocolError::Violation(format!(
            "{} drafts announced at once; the limit is {limit}",
            drafts.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for a in drafts {
        check_doc_id(&a.doc_id)?;
        if !seen.insert(a.doc_id.as_str()) {
            return Err(ProtocolError::Violation(format!(
                "draft {} announced twice",
                a.doc_id
            )));
        }
    }
    Ok(())
}

impl DraftMessage {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// Decodes a message from the wire and checks its limits.
    pub fn decode(bytes: &[u8]) -> Result<DraftMessage, ProtocolError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ProtocolError::Violation(format!(
                "draft message of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
                bytes.len()
            )));
        }
        let msg: DraftMessage = from_cbor(bytes, "draft sync message")?;
        match &msg {
            DraftMessage::DraftHello { drafts, .. } => check_announced(drafts, MAX_ANNOUNCED)?,
            DraftMessage::DraftWelcome {
                drafts, refused, ..
            } => {
                // The hub answers each announced draft and adds as many of its own.
                check_announced(drafts, 2 * MAX_ANNOUNCED)?;
                if refused.len() > MAX_ANNOUNCED {
                    return Err(ProtocolError::Violation(format!(
                        "{} drafts refused at once; at most {MAX_ANNOUNCED} were announced",
                        refused.len()
                    )));
                }
            }
            DraftMessage::DraftTurn { doc_id, .. } | DraftMessage::DraftRefuse { doc_id, .. } => {
                check_doc_id(doc_id)?
            }
            DraftMessage::DraftAbort { .. } => {}
        }
        Ok(msg)
    }
}
