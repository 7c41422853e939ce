//! What both ends of a reconciliation session do alike with their store: read a frame
//! of a stream, and keep a received frame item by item, acknowledging only after one
//! flush (group commit). The hub's and a device's replicas differ only in which items
//! they skip and how they judge an arriving one.

use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{Address, Chunk, FrameItem, ProtocolError, Refusal, StreamId};

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

/// Keeps each of `items` of `stream` as `judge` decides, each in one write with the
/// stream's position, then records the frame's end at `through` and flushes once before
/// the ack leaves. Each refusal is passed to `refused` (to log or keep it) and returned
/// for the ack, with its plain message.
pub(crate) fn receive_frame(
    node: &Node,
    stream: &StreamId,
    items: &[FrameItem],
    through: u64,
    judge: impl Fn(&mut Txn<'_>, &[u8]) -> Result<Verdict, StoreError>,
    refused: impl Fn(&Address, &str) -> Result<(), StoreError>,
) -> Result<Vec<Refusal>, ProtocolError> {
    let mut refusals = Vec::new();
    for it in items {
        let verdict = node
            .store
            .write(|t| {
                let v = judge(t, &it.bytes)?;
                t.set_position(stream, it.seq);
                Ok(v)
            })
            .map_err(local)?;
        if let Err(why) = verdict {
            let reason = why.to_string();
            let address = Address::of(&it.bytes);
            refused(&address, &reason).map_err(local)?;
            refusals.push(Refusal {
                seq: it.seq,
                address,
                reason,
            });
        }
    }
    node.store
        .write(|t| {
            t.set_position(stream, through);
            Ok(())
        })
        .map_err(local)?;
    // Group commit: one flush per frame, before the ack leaves.
    node.store.flush().map_err(local)?;
    Ok(refusals)
}
