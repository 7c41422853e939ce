//! Attachment chunks: asked for by address a few at a time, answered from the store.

use super::*;

impl Session {
    /// A chunk we asked for: checked against its address before it is stored.
    pub(super) fn on_chunk(
        &mut self,
        address: Address,
        bytes: Vec<u8>,
        replica: &mut impl Replica,
    ) -> Result<(), ProtocolError> {
        if !self.wanted_chunks.remove(&address) {
            return Err(ProtocolError::Violation(format!(
                "chunk {} was never asked for",
                address.short()
            )));
        }
        if Address::of(&bytes) != address {
            return Err(ProtocolError::Violation(format!(
                "chunk {} does not match its address: it was altered on the way",
                address.short()
            )));
        }
        replica.store_chunk(&address, &bytes)?;
        self.uncommitted = true;
        self.stats.received_chunks += 1;
        Ok(())
    }

    /// The peer does not hold a chunk we asked for; not asked for again this session.
    pub(super) fn on_no_chunk(&mut self, address: Address) {
        self.wanted_chunks.remove(&address);
        self.unobtainable.insert(address);
    }

    pub(super) fn on_want(
        &mut self,
        chunks: Vec<Address>,
        replica: &mut impl Replica,
    ) -> Result<(), ProtocolError> {
        // A Want can come after our Done: the client learned of chunks from our last
        // frames, and the session lasts until it has them.
        if chunks.len() > MAX_WANT {
            return Err(ProtocolError::Violation(format!(
                "asked for {} chunks at once; the limit is {MAX_WANT}",
                chunks.len()
            )));
        }
        for address in chunks {
            match replica.read_chunk(&address)? {
                Some(bytes) => {
                    self.stats.sent_chunks += 1;
                    self.outbox.push_back(Message::Chunk { address, bytes });
                }
                None => self.outbox.push_back(Message::NoChunk { address }),
            }
        }
        Ok(())
    }

    /// Chunks to ask for next, within the window, if any are missing.
    pub(super) fn next_want(
        &mut self,
        replica: &impl Replica,
    ) -> Result<Option<Vec<Address>>, ProtocolError> {
        let window = self.config.window * 4;
        if self.wanted_chunks.len() >= window {
            return Ok(None);
        }
        let room = (window - self.wanted_chunks.len()).min(MAX_WANT);
        let skip = |a: &Address| self.wanted_chunks.contains(a) || self.unobtainable.contains(a);
        let mut missing = replica.missing_chunks(room, &skip)?;
        // A replica that ignores `skip` must not make us ask twice or past the window.
        missing.retain(|a| !skip(a));
        missing.truncate(room);
        if missing.is_empty() {
            return Ok(None);
        }
        self.wanted_chunks.extend(missing.iter().copied());
        Ok(Some(missing))
    }

    /// Queues a Want for missing chunks now.
    pub(super) fn want_missing(&mut self, replica: &impl Replica) -> Result<(), ProtocolError> {
        if let Some(chunks) = self.next_want(replica)? {
            self.outbox.push_back(Message::Want { chunks });
        }
        Ok(())
    }
}
