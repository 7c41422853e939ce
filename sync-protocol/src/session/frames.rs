//! Items in frames: sending them by priority within each stream's window, and taking
//! in the peer's frames, acks and resend requests.

use super::*;
use crate::message::{cut_text, MAX_REASON_BYTES};

impl Session {
    pub(super) fn on_frame(
        &mut self,
        stream: StreamId,
        after: u64,
        through: u64,
        items: Vec<FrameItem>,
        replica: &mut impl Replica,
    ) -> Result<(), ProtocolError> {
        if self.side == Side::Server && (!self.hello_received || self.declined.contains(&stream)) {
            // A client may send from its remembered position right behind its Hello. Over
            // a lossy carrier the frame can overtake the Hello, and a declined stream's
            // frames were already on their way: drop them, the client learns from our Hello.
            return Ok(());
        }
        let Some(pos) = self.incoming.get(&stream).copied() else {
            return Err(ProtocolError::Violation(format!(
                "frame for {stream}, which this session did not agree to receive"
            )));
        };
        if through < after {
            return Err(ProtocolError::Violation(format!(
                "frame for {stream} ends ({through}) before it starts ({after})"
            )));
        }
        if after > pos {
            // An earlier frame was lost or overtaken; ask once for a resend from `pos`.
            if self.nacked.get(&stream) != Some(&pos) {
                self.nacked.insert(stream.clone(), pos);
                self.outbox.push_back(Message::Nack {
                    stream,
                    through: pos,
                });
            }
            return Ok(());
        }
        let mut last = after;
        for it in &items {
            if it.seq <= last || it.seq > through {
                return Err(ProtocolError::Violation(format!(
                    "frame for {stream} has item {} out of order or outside {after}..={through}",
                    it.seq
                )));
            }
            last = it.seq;
        }
        if items.len() > MAX_FRAME_ITEMS {
            return Err(ProtocolError::Violation(format!(
                "frame for {stream} carries {} items; the limit is {MAX_FRAME_ITEMS}",
                items.len()
            )));
        }
        let (fresh, oversized): (Vec<FrameItem>, Vec<FrameItem>) = items
            .into_iter()
            .filter(|i| i.seq > pos)
            .partition(|i| i.bytes.len() <= MAX_ITEM_BYTES);
        let mut refused: Vec<Refusal> = oversized
            .iter()
            .map(|i| Refusal {
                seq: i.seq,
                address: crate::Address::of(&i.bytes),
                reason: format!(
                    "item of {} bytes exceeds the limit of {MAX_ITEM_BYTES} bytes",
                    i.bytes.len()
                ),
            })
            .collect();
        if through > pos {
            refused.extend(replica.receive(&stream, &fresh, through)?);
            self.uncommitted = true;
        }
        // A whole frame may be refused; cut reasons keep the Ack within the message limit.
        for r in &mut refused {
            if r.reason.len() > MAX_REASON_BYTES {
                r.reason = cut_text(&r.reason, MAX_REASON_BYTES).to_string();
            }
        }
        self.stats.received_items += fresh.len() as u64;
        self.stats
            .refused_here
            .extend(refused.iter().cloned().map(|r| (stream.clone(), r)));
        let held = through.max(pos);
        self.incoming.insert(stream.clone(), held);
        self.nacked.remove(&stream);
        if self.side == Side::Client {
            // Ask for the chunks this frame made us need before acknowledging it: the
            // ack can be what lets the hub finish, and a Want behind it would be too late.
            self.want_missing(replica)?;
        }
        self.outbox.push_back(Message::Ack {
            stream,
            through: held,
            refused,
        });
        Ok(())
    }

    pub(super) fn on_ack(
        &mut self,
        stream: StreamId,
        through: u64,
        refused: Vec<Refusal>,
        replica: &mut impl Replica,
    ) -> Result<(), ProtocolError> {
        let Some(out) = self.outgoing.get_mut(&stream) else {
            return Err(ProtocolError::Violation(format!(
                "ack for {stream}, which this node never sent"
            )));
        };
        if through > out.sent_max {
            return Err(ProtocolError::Violation(format!(
                "ack for {stream} through {through}, which was never sent"
            )));
        }
        // Acks can arrive twice, or late after a resend; only progress counts.
        if through < out.acked {
            return Ok(());
        }
        out.acked = through;
        // An ack of frames sent before a resend moved the cursor back: they need not
        // go again.
        out.sent_through = out.sent_through.max(through);
        while out.unacked.front().is_some_and(|end| *end <= through) {
            out.unacked.pop_front();
        }
        replica.peer_acked(&stream, through)?;
        if !refused.is_empty() {
            replica.peer_refused(&stream, &refused)?;
            self.stats
                .refused_by_peer
                .extend(refused.into_iter().map(|r| (stream.clone(), r)));
        }
        Ok(())
    }

    pub(super) fn on_nack(&mut self, stream: StreamId, through: u64) -> Result<(), ProtocolError> {
        let Some(out) = self.outgoing.get_mut(&stream) else {
            return Err(ProtocolError::Violation(format!(
                "nack for {stream}, which this node never sent"
            )));
        };
        if through > out.sent_max {
            return Err(ProtocolError::Violation(format!(
                "nack for {stream} at {through}, beyond what was sent"
            )));
        }
        // Go back to what the peer holds and send again from there.
        out.acked = out.acked.max(through);
        out.go_back();
        Ok(())
    }

    /// The next frame to send, by priority and within each stream's window; after this
    /// side's Done, only up to what the Done named (resends the peer asked for).
    pub(super) fn next_frame(
        &mut self,
        replica: &impl Replica,
    ) -> Result<Option<Message>, ProtocolError> {
        // Before the peer's Hello only provisional streams may send; they are all there is.
        // On a thin link the items that make everything else verifiable, and the hub's
        // notices, travel before documents; attachment chunks come after all of them.
        let mut order: Vec<StreamId> = self.outgoing.keys().cloned().collect();
        order.sort_by_key(StreamId::priority);
        // A stream with more to send that waits for its window holds back every stream
        // of lower priority: documents do not squeeze in ahead of a receipt.
        let mut held_back_below: Option<u8> = None;
        let window = self.window();
        for stream in order {
            let mut head = replica.head(&stream)?;
            if let Some(declared) = &self.declared {
                head = head.min(declared.get(&stream).copied().unwrap_or(0));
            }
            let Some(out) = self.outgoing.get_mut(&stream) else {
                continue;
            };
            if out.sent_through >= head {
                continue;
            }
            if held_back_below.is_some_and(|p| stream.priority() > p) {
                continue;
            }
            if out.unacked.len() >= window {
                held_back_below = Some(stream.priority());
                continue;
            }
            let after = out.sent_through;
            let mut chunk = replica.read(&stream, after, self.config.frame_bytes)?;
            if chunk.items.len() > MAX_FRAME_ITEMS {
                // Many tiny items: the rest go in the next frame, which starts after the
                // last one sent, so the peer never sees a frame it must refuse.
                chunk.items.truncate(MAX_FRAME_ITEMS);
                chunk.through = chunk.items.last().map_or(after, |i| i.seq);
            }
            if chunk.through <= after {
                return Err(ProtocolError::Replica(format!(
                    "read of {stream} after {after} made no progress"
                )));
            }
            out.sent_through = chunk.through;
            out.sent_max = out.sent_max.max(chunk.through);
            out.unacked.push_back(chunk.through);
            self.stats.sent_items += chunk.items.len() as u64;
            return Ok(Some(Message::Frame {
                stream,
                after,
                through: chunk.through,
                items: chunk.items,
            }));
        }
        Ok(None)
    }
}
