//! The reconciliation session: a sans-IO state machine in the style of quinn-proto.
//!
//! Each side feeds received messages to [`Session::handle`] and asks
//! [`Session::poll_transmit`] for the next message to send. The node's store is reached
//! only through the [`Replica`] trait, so two sessions and two in-memory replicas can be
//! wired together in a test with no sockets, clocks or disk.
//!
//! Flow: the client says which streams it wants (with its version vector) and which it
//! offers; the server answers with the positions it holds of the offered streams it
//! accepts. Each side then sends only what the other lacks, in bounded frames, at most
//! `window` frames unacknowledged per stream. Acks come after the receiver has stored a
//! frame durably, so the receiver's version vector is the resumable checkpoint.
//!
//! The end costs no round trip of its own. The client's first flight carries its Hello,
//! the frames from where it remembers the hub's checkpoint, and `Done` with the heads it
//! will send through. The server says `Done`, with its own heads, as soon as it holds
//! all of that, has every chunk it needs and has sent (not necessarily had acknowledged)
//! everything up to its heads, including the receipts it made while receiving. A side
//! that sees a `Done` naming a position it has not reached asks for a resend, so a lost
//! tail frame is recovered without waiting for acks. The client is finished once it
//! holds everything the server's `Done` names and every chunk it asked for; the server
//! keeps answering (chunks asked for late, resends) until the client ends the stream.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::{
    attachment::MAX_WANT,
    encoding::FORMAT_VERSION,
    message::{FrameItem, Message, Refusal, MAX_FRAME_ITEMS, MAX_ITEM_BYTES},
    stream::{StreamId, VersionVector},
    Address, ProtocolError,
};

/// Which end of the connection this session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The satker or auditor node that dialled.
    Client,
    /// The hub.
    Server,
}

/// Tunables for a session.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Target payload bytes per frame.
    pub frame_bytes: usize,
    /// Frames in flight per stream before waiting for an ack, at most; fewer if the
    /// peer's Hello grants less credit.
    pub window: usize,
    /// Frames per stream this side takes in flight ahead of its acks, told to the peer
    /// in the Hello: what its receive buffer holds without stalling the sender.
    pub credit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            frame_bytes: 64 * 1024,
            window: 8,
            credit: 8,
        }
    }
}

/// Counters for progress display and summaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Items sent in frames.
    pub sent_items: u64,
    /// Items received in frames and stored or already held.
    pub received_items: u64,
    /// Items the peer refused, with its reasons.
    pub refused_by_peer: Vec<(StreamId, Refusal)>,
    /// Items this node refused.
    pub refused_here: Vec<(StreamId, Refusal)>,
    /// Attachment chunks sent.
    pub sent_chunks: u64,
    /// Attachment chunks received and stored.
    pub received_chunks: u64,
}

#[derive(Debug)]
struct Outgoing {
    /// The peer durably holds the stream through here.
    acked: u64,
    /// Frames were sent through here: where the next frame starts (moved back to
    /// `acked` to resend).
    sent_through: u64,
    /// The furthest any frame of this session reached: acks and resend requests up to
    /// here are genuine even after a resend moved `sent_through` back, since a peer
    /// handed several messages at once may answer frames sent before the resend.
    sent_max: u64,
    /// End positions of frames sent but not yet acknowledged, oldest first.
    unacked: VecDeque<u64>,
    /// Started from this node's memory of the peer, not yet confirmed by its Hello.
    provisional: bool,
    /// Where this session started sending from, for progress.
    start: u64,
}

impl Outgoing {
    fn from(peer_has: u64, provisional: bool) -> Outgoing {
        Outgoing {
            acked: peer_has,
            sent_through: peer_has,
            sent_max: peer_has,
            unacked: VecDeque::new(),
            provisional,
            start: peer_has,
        }
    }

    /// Sends again from what the peer is known to hold.
    fn go_back(&mut self) {
        self.sent_through = self.acked;
        self.unacked.clear();
    }
}

/// One reconciliation between two nodes.
pub struct Session {
    side: Side,
    config: Config,
    outbox: VecDeque<Message>,
    hello_received: bool,
    outgoing: BTreeMap<StreamId, Outgoing>,
    incoming: BTreeMap<StreamId, u64>,
    /// What the peer's Done said it sent, once it said it.
    peer_sent: Option<VersionVector>,
    /// What this side's Done said it sent, once it said it; nothing beyond is sent after.
    declared: Option<VersionVector>,
    /// The streams the client offered, which its Done covers.
    offer: Vec<StreamId>,
    /// The client holds all the server's Done named and every chunk it asked for.
    finished: bool,
    /// Chunks asked for and not yet answered.
    wanted_chunks: BTreeSet<Address>,
    /// Chunks the peer said it does not hold; not asked for again in this session.
    unobtainable: BTreeSet<Address>,
    hello: Option<Message>,
    /// Streams the client offered that this server declined; frames for them that were
    /// already on their way are dropped, not treated as a violation.
    declined: BTreeSet<StreamId>,
    /// Per stream, the position a Nack was last sent for, so a burst of frames behind
    /// one gap asks for one resend, not one per frame.
    nacked: BTreeMap<StreamId, u64>,
    /// Where each stream this session receives stood when it started, for progress.
    received_from: VersionVector,
    /// How far the peer's Hello said it holds the streams it sends us, for progress.
    peer_has: VersionVector,
    /// How many attachment chunks the peer's Hello said it needs from us, and how many
    /// the items we send it in this session carry.
    peer_needs: u64,
    /// The credit the peer's Hello granted, if it said.
    peer_credit: Option<usize>,
    /// Frames or chunks were stored since the replica last committed: it commits before
    /// the next message leaves.
    uncommitted: bool,
    /// The server called [`Replica::settle`] already.
    settled: bool,
    stats: Stats,
}

/// Where a session stands against what it knows it has to do, for a progress display.
/// Stream positions are counted, not items: a position is an item, or one the receiver
/// may not read (its own, never echoed back), so they match item counts on a device's
/// own stream and whenever nothing is skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Positions of this session's sending the peer has acknowledged.
    pub acked: u64,
    /// Positions this session has to send (grows if the node makes more meanwhile).
    pub to_send: u64,
    /// Positions of the peer's streams received in this session.
    pub received: u64,
    /// Positions to receive, as far as the peer's Hello and Done said; known once the
    /// peer's Hello has arrived (zero before, and from a peer that does not say).
    pub to_receive: u64,
    /// Attachment chunks sent.
    pub chunks_sent: u64,
    /// Chunks to send: what the peer said it needs, and at least what was sent.
    pub chunks_to_send: u64,
    /// Attachment chunks received.
    pub chunks_received: u64,
    /// Chunks to receive: those received and those this node still needs.
    pub chunks_to_receive: u64,
}

impl Session {
    /// Starts the dialling side; its Hello is the first message out.
    pub fn client(config: Config, replica: &impl Replica) -> Result<Session, ProtocolError> {
        let want = replica.wanted()?;
        let offer = replica.offered()?;
        let mut s = Session::new(Side::Client, config);
        s.incoming = want.clone();
        s.received_from = want.clone();
        s.offer = offer.clone();
        // Streams whose last acknowledged position we remember start sending with the
        // Hello: the hub's answer then only confirms, and a small difference crosses in
        // the first flight.
        for stream in &offer {
            if let Some(peer_has) = replica.peer_holds(stream)? {
                s.outgoing
                    .insert(stream.clone(), Outgoing::from(peer_has, true));
            }
        }
        let hello = Message::Hello {
            version: FORMAT_VERSION,
            want,
            offer,
            has: VersionVector::new(),
            needs: 0,
            credit: config.credit as u32,
        };
        s.hello = Some(hello.clone());
        s.outbox.push_back(hello);
        Ok(s)
    }

    /// Starts the answering side; it waits for the client's Hello.
    pub fn server(config: Config) -> Session {
        Session::new(Side::Server, config)
    }

    fn new(side: Side, config: Config) -> Session {
        Session {
            side,
            config,
            outbox: VecDeque::new(),
            hello_received: false,
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            peer_sent: None,
            declared: None,
            offer: Vec::new(),
            finished: false,
            wanted_chunks: BTreeSet::new(),
            unobtainable: BTreeSet::new(),
            hello: None,
            declined: BTreeSet::new(),
            nacked: BTreeMap::new(),
            received_from: VersionVector::new(),
            peer_has: VersionVector::new(),
            peer_needs: 0,
            peer_credit: None,
            uncommitted: false,
            settled: false,
            stats: Stats::default(),
        }
    }

    /// Frames per stream this side may have in flight: its own window, or less if the
    /// peer granted less credit.
    fn window(&self) -> usize {
        let credit = self.peer_credit.unwrap_or(self.config.window);
        self.config.window.min(credit).max(1)
    }

    /// Which end of the connection this session is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The version vector this node holds of what it receives in this session.
    pub fn received_vector(&self) -> &VersionVector {
        &self.incoming
    }

    /// Items of this session's sending the peer has acknowledged, and how many there
    /// are to send in all (which grows if the node makes more while syncing).
    pub fn upload_progress(&self, replica: &impl Replica) -> Result<(u64, u64), ProtocolError> {
        let (mut done, mut total) = (0, 0);
        for (stream, out) in &self.outgoing {
            let head = replica.head(stream)?.max(out.acked);
            done += out.acked.saturating_sub(out.start);
            total += head.saturating_sub(out.start);
        }
        Ok((done, total))
    }

    /// Where this session stands: positions and chunks done against what it knows it
    /// has to do either way.
    pub fn progress(&self, replica: &impl Replica) -> Result<Progress, ProtocolError> {
        let (acked, to_send) = self.upload_progress(replica)?;
        let (mut received, mut to_receive) = (0u64, 0u64);
        for (stream, held) in &self.incoming {
            let start = self.received_from.get(stream).copied().unwrap_or(0);
            let said = self
                .peer_has
                .get(stream)
                .copied()
                .max(self.peer_sent.as_ref().and_then(|d| d.get(stream).copied()))
                .unwrap_or(0);
            received = received.saturating_add(held.saturating_sub(start));
            to_receive = to_receive.saturating_add(said.max(*held).saturating_sub(start));
        }
        let st = &self.stats;
        Ok(Progress {
            acked,
            to_send,
            received,
            to_receive,
            chunks_sent: st.sent_chunks,
            chunks_to_send: self.peer_needs.max(st.sent_chunks),
            chunks_received: st.received_chunks,
            chunks_to_receive: st.received_chunks.saturating_add(replica.chunks_needed()?),
        })
    }

    /// Whether the session has finished: the client holds everything the server's Done
    /// named and every chunk it asked for; the server has said Done (and keeps answering
    /// late requests until the client ends the stream).
    pub fn is_done(&self) -> bool {
        match self.side {
            Side::Client => self.finished && self.outbox.is_empty(),
            Side::Server => self.declared.is_some(),
        }
    }

    /// Feeds one message from the peer.
    pub fn handle(
        &mut self,
        msg: Message,
        replica: &mut impl Replica,
    ) -> Result<(), ProtocolError> {
        match msg {
            Message::Hello {
                version,
                want,
                offer,
                has,
                needs,
                credit,
            } => {
                if !self.hello_received && credit > 0 {
                    self.peer_credit = Some(credit as usize);
                }
                self.on_hello(version, want, offer, (has, needs), replica)
            }
            Message::Frame {
                stream,
                after,
                through,
                items,
            } => self.on_frame(stream, after, through, items, replica),
            Message::Ack {
                stream,
                through,
                refused,
            } => self.on_ack(stream, through, refused, replica),
            Message::Nack { stream, through } => self.on_nack(stream, through),
            Message::Want { chunks } => self.on_want(chunks, replica),
            Message::Chunk { address, bytes } => self.on_chunk(address, bytes, replica),
            Message::NoChunk { address } => {
                self.on_no_chunk(address);
                Ok(())
            }
            Message::Done { sent } => {
                // A Done may overtake the Hello on a carrier that reorders; it is kept,
                // and nothing finishes before the Hello anyway.
                let repeated = self.peer_sent.is_some();
                self.peer_sent = Some(sent);
                // A repeated Done from the client means ours was lost: say it again.
                if let (Side::Server, true, Some(ours)) = (self.side, repeated, &self.declared) {
                    self.outbox.push_back(Message::Done { sent: ours.clone() });
                }
                Ok(())
            }
            Message::Abort { reason } => Err(ProtocolError::Violation(format!(
                "the peer closed the session: {reason}"
            ))),
        }
    }

    fn on_hello(
        &mut self,
        version: u8,
        want: VersionVector,
        offer: Vec<StreamId>,
        (has, needs): (VersionVector, u64),
        replica: &mut impl Replica,
    ) -> Result<(), ProtocolError> {
        if self.hello_received {
            // The client repeats its Hello when our answer was lost: answer again. A
            // repeated answer from the hub carries nothing new.
            if let (Side::Server, Some(h)) = (self.side, &self.hello) {
                self.outbox.push_back(h.clone());
            }
            return Ok(());
        }
        if version != FORMAT_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        self.hello_received = true;
        // A provisional stream the peer did not take is dropped; one it took is
        // corrected to what the peer really holds.
        self.outgoing
            .retain(|stream, out| !out.provisional || want.contains_key(stream));
        for (stream, peer_has) in want {
            if !replica.may_serve(&stream) {
                self.outgoing.remove(&stream);
                continue;
            }
            match self.outgoing.get_mut(&stream) {
                Some(out) if out.provisional => {
                    out.provisional = false;
                    out.start = peer_has;
                    if peer_has < out.acked {
                        // The peer holds less than it once acknowledged (restored from
                        // a backup, say): what went out from the remembered position
                        // will be nacked, so start again from what it holds.
                        out.acked = peer_has;
                        out.go_back();
                    } else if peer_has > out.acked {
                        // Our memory was behind (an ack not yet written when the link
                        // dropped): frames already out are acked as duplicates.
                        out.acked = peer_has;
                        out.sent_through = out.sent_through.max(peer_has);
                        out.sent_max = out.sent_max.max(peer_has);
                        while out.unacked.front().is_some_and(|end| *end <= peer_has) {
                            out.unacked.pop_front();
                        }
                    }
                }
                _ => {
                    self.outgoing
                        .insert(stream, Outgoing::from(peer_has, false));
                }
            }
        }
        if self.side == Side::Server {
            let mut accepted = VersionVector::new();
            for stream in offer {
                match replica.accepts(&stream)? {
                    Some(pos) => {
                        accepted.insert(stream, pos);
                    }
                    None => {
                        self.declined.insert(stream);
                    }
                }
            }
            self.incoming = accepted.clone();
            self.received_from = accepted.clone();
            // What we will send and what we need tell the device its totals.
            let mut has = VersionVector::new();
            for stream in self.outgoing.keys() {
                has.insert(stream.clone(), replica.head(stream)?);
            }
            let hello = Message::Hello {
                version: FORMAT_VERSION,
                want: accepted,
                offer: Vec::new(),
                has,
                needs: replica.chunks_needed()?,
                credit: self.config.credit as u32,
            };
            self.hello = Some(hello.clone());
            self.outbox.push_back(hello);
        } else if !offer.is_empty() {
            return Err(ProtocolError::Violation(
                "the hub offered streams in its Hello".into(),
            ));
        } else {
            // Only the streams this session receives count; the rest of what a peer
            // says is dropped, so it cannot make us keep more than we asked for.
            self.peer_has = has
                .into_iter()
                .filter(|(stream, _)| self.incoming.contains_key(stream))
                .collect();
            // What the hub needs for items it holds, and what the items we are about
            // to send it carry: it asks for those once it holds them.
            let mut carried = 0u64;
            for (stream, out) in &self.outgoing {
                carried = carried.saturating_add(replica.chunks_after(stream, out.start)?);
            }
            self.peer_needs = needs.saturating_add(carried);
        }
        Ok(())
    }

    /// The driver's retransmission timer fired: nothing arrived from the peer for a
    /// while, so whatever was sent and not acknowledged is assumed lost and sent again.
    /// Over a reliable transport this never fires; it exists for lossy carriers and is
    /// what the in-memory tests drive.
    pub fn on_timeout(&mut self) {
        if !self.hello_received {
            if let (Side::Client, Some(h)) = (self.side, &self.hello) {
                self.outbox.push_back(h.clone());
            }
        }
        for out in self.outgoing.values_mut() {
            out.go_back();
        }
        // A resend asked for and not answered is asked for again.
        self.nacked.clear();
        if self.side == Side::Client && self.peer_sent.is_none() {
            if let Some(sent) = &self.declared {
                self.outbox.push_back(Message::Done { sent: sent.clone() });
            }
        }
    }

    /// The next message to send, if any. Call until it returns `None`, then wait for
    /// the peer.
    pub fn poll_transmit(
        &mut self,
        replica: &mut impl Replica,
    ) -> Result<Option<Message>, ProtocolError> {
        // Group commit: one flush for everything stored since the last message went
        // out, before any ack (or Done) that says it is held.
        if self.uncommitted {
            replica.commit()?;
            self.uncommitted = false;
        }
        // Only the server's Done is evidence of loss: it comes after all the frames it
        // names. The client's comes early, before frames its window holds back.
        if self.side == Side::Client && self.outbox.is_empty() {
            self.nack_short_streams();
        }
        if let Some(m) = self.outbox.pop_front() {
            return Ok(Some(m));
        }
        if let Some(frame) = self.next_frame(replica)? {
            return Ok(Some(frame));
        }
        if self.side == Side::Client && self.declared.is_none() {
            // Said in the first flight, right behind the frames that fit in it: the hub
            // then knows when it holds everything without waiting for another message.
            let sent = self.heads_to_declare(replica)?;
            self.declared = Some(sent.clone());
            return Ok(Some(Message::Done { sent }));
        }
        if !self.hello_received {
            return Ok(None);
        }
        // Attachments come after items: the hub asks for chunks only once it holds all
        // the device said it sent, and a few at a time, so documents are never stuck
        // behind a large file. A device asks as it goes: the hub sends it items first
        // anyway, and it is not finished until it has the chunks it asked for.
        let may_fetch = self.side == Side::Client || self.holds_all_peer_sent();
        if may_fetch {
            if let Some(chunks) = self.next_want(replica)? {
                return Ok(Some(Message::Want { chunks }));
            }
        }
        let fetched = self.wanted_chunks.is_empty();
        match self.side {
            Side::Client => {
                self.finished = fetched && self.holds_all_peer_sent();
            }
            Side::Server => {
                if self.declared.is_none() && fetched && self.holds_all_peer_sent() && !self.settled
                {
                    self.settled = true;
                    if replica.settle()? {
                        // Durable before any of it leaves, like everything else we send.
                        replica.commit()?;
                        if let Some(frame) = self.next_frame(replica)? {
                            return Ok(Some(frame));
                        }
                    }
                }
                if self.declared.is_none()
                    && fetched
                    && self.holds_all_peer_sent()
                    && self.all_sent(replica)?
                {
                    // Not waiting for the acks of our last frames saves a round trip: the
                    // device asks for a resend if the Done names more than it holds.
                    let sent = self.heads_to_declare(replica)?;
                    self.declared = Some(sent.clone());
                    return Ok(Some(Message::Done { sent }));
                }
            }
        }
        Ok(None)
    }
}

mod chunks;
mod ending;
mod frames;
mod replica;

pub use replica::{Chunk, Replica};

#[cfg(test)]
mod tests;
