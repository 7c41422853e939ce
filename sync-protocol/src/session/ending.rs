//! How a session ends: what each side's Done names, and when each side may say it.

use super::*;

impl Session {
    /// Whether this node holds every stream through what the peer's Done named; streams
    /// this session does not receive (declined ones) do not count.
    pub(super) fn holds_all_peer_sent(&self) -> bool {
        self.peer_sent.as_ref().is_some_and(|sent| {
            sent.iter()
                .all(|(stream, pos)| !matches!(self.incoming.get(stream), Some(held) if held < pos))
        })
    }

    /// Asks, once per position, for a resend of each stream the peer's Done says went
    /// further than this node holds: its tail frame was lost.
    pub(super) fn nack_short_streams(&mut self) {
        let Some(sent) = &self.peer_sent else {
            return;
        };
        for (stream, pos) in sent {
            let Some(held) = self.incoming.get(stream).copied() else {
                continue;
            };
            if held < *pos && self.nacked.get(stream) != Some(&held) {
                self.nacked.insert(stream.clone(), held);
                self.outbox.push_back(Message::Nack {
                    stream: stream.clone(),
                    through: held,
                });
            }
        }
    }

    /// The positions this side's Done names: the heads of what it sends.
    pub(super) fn heads_to_declare(
        &self,
        replica: &impl Replica,
    ) -> Result<VersionVector, ProtocolError> {
        let mut sent = VersionVector::new();
        match self.side {
            Side::Client => {
                for stream in &self.offer {
                    sent.insert(stream.clone(), replica.head(stream)?);
                }
            }
            Side::Server => {
                for (stream, out) in &self.outgoing {
                    sent.insert(stream.clone(), out.sent_through);
                }
            }
        }
        Ok(sent)
    }

    /// Whether every outgoing stream was sent through its head.
    pub(super) fn all_sent(&self, replica: &impl Replica) -> Result<bool, ProtocolError> {
        for (stream, out) in &self.outgoing {
            if out.sent_through < replica.head(stream)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
