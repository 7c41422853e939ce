//! What a session needs from the node's store.

use crate::{
    message::{FrameItem, Refusal},
    stream::{StreamId, VersionVector},
    Address, ProtocolError,
};

/// A slice of a stream read for sending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The items the peer may read, in order.
    pub items: Vec<FrameItem>,
    /// The last position this read covers, including skipped items.
    pub through: u64,
}

/// What a session needs from the node's store. Implementations decide authorization:
/// which streams the peer may read and which items it may write.
pub trait Replica {
    /// Streams this node wants from the peer and how far it holds each.
    fn wanted(&self) -> Result<VersionVector, ProtocolError>;
    /// Streams this node offers to the peer.
    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError>;
    /// If this node accepts `stream` from the peer, how far it holds it.
    fn accepts(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError>;
    /// Whether the peer may read `stream` from this node.
    fn may_serve(&self, stream: &StreamId) -> bool;
    /// The last position of `stream` this node holds.
    fn head(&self, stream: &StreamId) -> Result<u64, ProtocolError>;
    /// Items of `stream` after `after`, about `max_bytes` worth (at least one item).
    fn read(&self, stream: &StreamId, after: u64, max_bytes: usize)
        -> Result<Chunk, ProtocolError>;
    /// Verifies and stores a frame's items and advances the stream to `through`. Items
    /// it will not store are returned as refusals. It need not be durable on return:
    /// the session calls [`Replica::commit`] before anything it sends next, so one
    /// flush covers every frame handled since the last message went out, and no ack
    /// ever leaves before the flush that makes it true.
    fn receive(
        &mut self,
        stream: &StreamId,
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError>;
    /// Attachment chunks this node needs from this peer and does not hold, at most
    /// `limit`, oldest need first, passing over those `skip` names (asked already, or
    /// that the peer said it does not hold), so that chunks a peer cannot give never
    /// hide the ones after them.
    fn missing_chunks(
        &self,
        _limit: usize,
        _skip: &dyn Fn(&Address) -> bool,
    ) -> Result<Vec<Address>, ProtocolError> {
        Ok(Vec::new())
    }
    /// How many attachment chunks this node still needs from this peer, for the totals
    /// of a progress display; a count the store keeps, not a scan.
    fn chunks_needed(&self) -> Result<u64, ProtocolError> {
        Ok(0)
    }
    /// How many attachment chunks the items of `stream` after `after` carry, which the
    /// peer will ask for once it holds them: a progress total, read once per session.
    fn chunks_after(&self, _stream: &StreamId, _after: u64) -> Result<u64, ProtocolError> {
        Ok(0)
    }
    /// A chunk this node holds, for a peer that wants it.
    fn read_chunk(&self, _address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        Ok(None)
    }
    /// Stores a chunk whose address was already checked; durable at the next
    /// [`Replica::commit`], which comes before anything the session sends next.
    fn store_chunk(&mut self, address: &Address, _bytes: &[u8]) -> Result<(), ProtocolError> {
        Err(ProtocolError::Replica(format!(
            "this node does not take attachment chunk {}",
            address.short()
        )))
    }
    /// How far the peer acknowledged holding `stream` in an earlier session, if this
    /// node remembers: frames from there can go out with the Hello instead of after the
    /// peer's answer, which saves a round trip. A stale or wrong value costs only a resend.
    fn peer_holds(&self, _stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok(None)
    }
    /// The peer acknowledged holding `stream` through `through`; remember it for the next
    /// session. Need not be flushed: a lost value only makes the next session cautious.
    fn peer_acked(&mut self, _stream: &StreamId, _through: u64) -> Result<(), ProtocolError> {
        Ok(())
    }
    /// Called once on a server, when it holds everything the peer said it sent and every
    /// chunk it asked for, before it says Done: the moment to publish what the session's
    /// work calls for (the hub signs a checkpoint of its log and the inclusion proofs for
    /// the peer's receipts). Returns whether it stored anything; the session then sends
    /// it, after a commit, before its Done.
    fn settle(&mut self) -> Result<bool, ProtocolError> {
        Ok(false)
    }
    /// Makes everything [`Replica::receive`] and [`Replica::store_chunk`] stored so far
    /// durable (a store flush). Called by the session before it lets any message out
    /// after storing something; nothing acknowledged is ever lost in a crash.
    fn commit(&mut self) -> Result<(), ProtocolError>;
    /// The peer refused items this node sent.
    fn peer_refused(
        &mut self,
        stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError>;
}
