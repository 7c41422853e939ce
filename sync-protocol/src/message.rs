//! Reconciliation messages as they cross the wire, and their framing limits.

use serde::{Deserialize, Serialize};

use crate::{
    encoding::{from_cbor, to_canonical},
    stream::{StreamId, VersionVector},
    Address, ProtocolError,
};

/// The most bytes one item may take; larger ones are refused, never stored. Attachments
/// travel as chunks well under this.
pub const MAX_ITEM_BYTES: usize = 1024 * 1024;

/// The most bytes one message may take on the wire; larger ones close the connection.
/// What one message really needs: a frame carries about 64 KiB of items, or a single
/// item of up to [`MAX_ITEM_BYTES`], and 64 KiB more covers the framing around it (and
/// an item one byte over its limit, which must arrive to be refused with a reason).
/// Every other message is smaller; `framing` tests each kind at its largest honest size.
/// A hub buffers at most this much per stream, so it is what a peer can make it hold.
pub const MAX_MESSAGE_BYTES: usize = MAX_ITEM_BYTES + 64 * 1024;

/// The most items one frame may carry. An honest frame of about 64 KiB holds fewer (a
/// signed envelope is over 96 bytes), and it bounds an Ack, which names up to one
/// refusal per item, to a few hundred KiB.
pub const MAX_FRAME_ITEMS: usize = 1024;

/// The longest refusal reason sent in an Ack, in bytes; longer ones are cut. With
/// [`MAX_FRAME_ITEMS`] it keeps an Ack that refuses a whole frame well within
/// [`MAX_MESSAGE_BYTES`].
pub const MAX_REASON_BYTES: usize = 300;

/// The longest Abort reason sent, in bytes; an error's text can quote what a peer sent.
pub const MAX_ABORT_REASON_BYTES: usize = 1024;

/// `text` cut to at most `max_bytes` bytes, on a character boundary.
pub fn cut_text(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One item inside a frame, with its position in the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameItem {
    /// Sequence number in the stream.
    pub seq: u64,
    /// The item's exact envelope bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// Why a receiver refused one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Position of the refused item in its stream.
    pub seq: u64,
    /// Its content address.
    pub address: Address,
    /// A plain sentence for the people at the sending end.
    pub reason: String,
}

/// A reconciliation message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Message {
    /// Opens a session: which streams the sender wants (and how far it holds them) and
    /// which it can offer.
    Hello {
        /// The protocol version the sender speaks.
        version: u8,
        /// The streams the sender wants, with how far it holds each.
        want: VersionVector,
        /// The streams the sender can offer.
        offer: Vec<StreamId>,
        /// The hub's answer: how far it holds each stream it will send, so the device
        /// knows what it is about to receive (a progress total). Left out when empty.
        #[serde(default, skip_serializing_if = "VersionVector::is_empty")]
        has: VersionVector,
        /// The hub's answer: how many attachment chunks it needs from the device (a
        /// progress total). Left out when none.
        #[serde(default, skip_serializing_if = "is_zero")]
        needs: u64,
        /// Credit: how many frames per stream the sender of this Hello takes in flight
        /// beyond what it has acknowledged; its peer sends no more ahead of its acks.
        /// Left out (zero) for the peer's own window.
        #[serde(default, skip_serializing_if = "is_zero_u32")]
        credit: u32,
    },
    /// Items of `stream` covering positions `after + 1 ..= through`; positions the
    /// receiver may not read are skipped, so `items` can be sparse.
    Frame {
        /// The stream the items belong to.
        stream: StreamId,
        /// The position the frame starts after.
        after: u64,
        /// The last position the frame covers.
        through: u64,
        /// The items, each at its position.
        items: Vec<FrameItem>,
    },
    /// The receiver durably holds `stream` through `through`; refused items are named.
    Ack {
        /// The stream acknowledged.
        stream: StreamId,
        /// The last position durably held.
        through: u64,
        /// The items refused, with why.
        refused: Vec<Refusal>,
    },
    /// A frame arrived that starts beyond what the receiver holds (an earlier frame was
    /// lost or overtaken): resend `stream` from after `through`.
    Nack {
        /// The stream to resend.
        stream: StreamId,
        /// The last position the receiver holds.
        through: u64,
    },
    /// Asks the peer for attachment chunks by address.
    Want {
        /// The chunks asked for.
        chunks: Vec<Address>,
    },
    /// One attachment chunk; its address is the SHA-256 of `bytes`.
    Chunk {
        /// The chunk's address.
        address: Address,
        /// The chunk's bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The peer does not hold a chunk that was asked for.
    NoChunk {
        /// The chunk not held.
        address: Address,
    },
    /// The sender has sent, or is sending, each of its streams through the position
    /// given, and will send nothing more in this session. The device says it in its
    /// first flight; the hub once it holds all of that, has every chunk it needs and has
    /// sent everything up to its own heads. A receiver still behind a position asks for
    /// a resend from where it is.
    Done {
        /// How far each of the sender's streams was sent.
        sent: VersionVector,
    },
    /// The sender is closing the session for the reason given.
    Abort {
        /// Why, in words for the log.
        reason: String,
    },
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Message {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// Decodes a message from the wire.
    pub fn decode(bytes: &[u8]) -> Result<Message, ProtocolError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ProtocolError::Violation(format!(
                "message of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
                bytes.len()
            )));
        }
        from_cbor(bytes, "sync message")
    }
}
