//! What both ends of a reconciliation session do alike with their store: read a frame
//! of a stream, and keep a received frame item by item; the session acknowledges it
//! only after the replica's next commit, one flush for every frame since the last
//! message left (group commit). The hub's and a device's replicas differ only in which items
//! they skip and how they judge an arriving one.

use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{Address, Chunk, FrameItem, ProtocolError, Refusal, SignedItem, StreamId};

use crate::{node::Node, verdict::Verdict};

/// A store failure, as the session reports it.
pub(crate) fn local(e: StoreError) -> ProtocolError {
    ProtocolError::Replica(e.to_string())
}

/// Up to `max_bytes` of `stream` after position `after`, without the entries `skip`
/// names (they leave gaps the receiver skips over).
pub(crate) fn read_frame(
    node: &Node,
    stream: &StreamId,
    after: u64,
    max_bytes: usize,
    skip: impl Fn(&StreamEntry) -> bool,
) -> Result<Chunk, ProtocolError> {
    let (items, through) = node
        .store
        .read_stream(stream, after, max_bytes, skip)
        .map_err(local)?;
    Ok(Chunk {
        items: items
            .into_iter()
            .map(|(seq, bytes)| FrameItem { seq, bytes })
            .collect(),
        through,
    })
}

/// Verifies the signatures of a frame in `body` as it arrives, ahead of its turn, and
/// keeps the items that pass by their address for [`receive_frame`]; anything else
/// (another message, a frame that does not decode, an item that fails) is left for the
/// turn, which judges it and names what is wrong.
pub(crate) fn verify_ahead(body: &[u8]) {
    let Ok(sync_protocol::Message::Frame { items, .. }) = sync_protocol::Message::decode(body)
    else {
        return;
    };
    let bytes: Vec<&[u8]> = items.iter().map(|i| i.bytes.as_slice()).collect();
    let verified: Vec<SignedItem> = SignedItem::open_all(&bytes)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    crate::decoded::remember_verified(verified);
}

/// An item as it arrived: opened and its signature verified, or why it could not be.
pub(crate) type Arrived = Result<SignedItem, ProtocolError>;

/// Keeps each of `items` of `stream` as `judge` decides, in one write with the stream's
/// position and the frame's end at `through`; durable at the replica's next commit,
/// which the session makes before the ack leaves. The frame's signatures are verified together, once, before any item
/// is judged ([`SignedItem::open_all`]); `judge` gets each item opened. Each refusal is
/// passed to `refused` (to log or keep it) and returned for the ack, with its plain
/// message.
pub(crate) fn receive_frame(
    node: &Node,
    stream: &StreamId,
    items: &[FrameItem],
    through: u64,
    judge: impl Fn(&mut Txn<'_>, Arrived) -> Result<Verdict, StoreError>,
    refused: impl Fn(&Address, &str) -> Result<(), StoreError>,
) -> Result<Vec<Refusal>, ProtocolError> {
    // Items verified as their frame arrived ([`verify_ahead`]) are not verified again;
    // the rest are, together.
    let mut opened: Vec<Option<Arrived>> = items
        .iter()
        .map(|i| crate::decoded::take_verified(&Address::of(&i.bytes)).map(Ok))
        .collect();
    let rest: Vec<&[u8]> = items
        .iter()
        .zip(&opened)
        .filter(|(_, o)| o.is_none())
        .map(|(i, _)| i.bytes.as_slice())
        .collect();
    let mut fresh = SignedItem::open_all(&rest).into_iter();
    for slot in opened.iter_mut().filter(|o| o.is_none()) {
        *slot = fresh.next();
    }
    let opened = opened
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(ProtocolError::Replica("an item was not opened".into()))));
    // One write for the frame: each item and its indexes are in it whole, and a later
    // item of the frame sees the earlier ones (a signature its snapshot) through it.
    let refusals = node
        .store
        .write(|t| {
            let mut refusals = Vec::new();
            for (it, arrived) in items.iter().zip(opened) {
                if let Err(why) = judge(t, arrived)? {
                    refusals.push(Refusal {
                        seq: it.seq,
                        address: Address::of(&it.bytes),
                        reason: why.to_string(),
                    });
                }
                t.set_position(stream, it.seq);
            }
            t.set_position(stream, through);
            Ok(refusals)
        })
        .map_err(local)?;
    // Refusals are kept after the frame's write, which holds the store's write lock.
    for r in &refusals {
        refused(&r.address, &r.reason).map_err(local)?;
    }
    Ok(refusals)
}
