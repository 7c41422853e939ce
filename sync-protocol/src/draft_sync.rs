//! Draft convergence between a satker device and the hub: a sans-IO state machine that
//! carries automerge's own sync messages, one conversation per draft, on one stream.
//!
//! This crate does not know automerge. The node's store is reached only through
//! [`DraftReplica`], whose `generate`/`receive` wrap automerge's sync protocol; the
//! session decides which drafts to talk about and when each conversation is over.
//!
//! Flow: the device opens with [`DraftMessage::DraftHello`], announcing the drafts that
//! changed since they were last in step with the hub (id and a digest of their heads).
//! The hub answers [`DraftMessage::DraftWelcome`]: its digest for each draft it takes,
//! the ones it refuses and why, and its own drafts that changed since they were last in
//! step with this device. Drafts whose digests already agree are settled at once; for
//! the rest the two sides take turns, the device first: a turn carries one automerge
//! sync message or nothing. Two empty turns in a row end a conversation with both sides
//! in step; a [`DraftMessage::DraftRefuse`] turn ends it without. Unchanged drafts are
//! never announced, so a sync costs a Hello and a Welcome plus the conversations about
//! drafts that changed, each of which automerge keeps to the missing changes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::{encoding::FORMAT_VERSION, session::Side, Address, ProtocolError};

use message::check_announced;

mod message;

pub use message::{
    check_doc_id, Announce, DraftMessage, DraftRefusal, RefusalReason, MAX_ANNOUNCED,
    MAX_DOC_ID_LEN, MAX_DRAFT_SYNC_BYTES,
};

/// What applying a peer's sync message did to a draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Stored; the content did not change.
    Unchanged,
    /// Stored; the content changed.
    Changed,
    /// Not kept, for the reason given.
    Refused(RefusalReason),
}

/// What a draft session needs from the node's store. Implementations decide
/// authorization (which drafts the peer may exchange) and keep automerge's per-peer
/// sync state, so a later session starts from what both sides already share.
pub trait DraftReplica {
    /// Drafts whose content changed since they were last in step with this peer, with
    /// the digest of their current heads; at most `limit`, in a stable order.
    fn pending(&self, limit: usize) -> Result<Vec<(String, Address)>, ProtocolError>;
    /// The digest of the draft's current heads, if this node holds it.
    fn digest(&self, doc_id: &str) -> Result<Option<Address>, ProtocolError>;
    /// Why the peer may not exchange this draft with this node, if it may not.
    fn admit(&self, doc_id: &str) -> Result<Option<RefusalReason>, ProtocolError>;
    /// The next automerge sync message about the draft, if there is anything to say.
    fn generate(&mut self, doc_id: &str) -> Result<Option<Vec<u8>>, ProtocolError>;
    /// Applies a peer's sync message and stores the result durably before returning.
    fn receive(&mut self, doc_id: &str, bytes: &[u8]) -> Result<Applied, ProtocolError>;
    /// Both sides hold the draft at `digest`; it is not announced again until it changes.
    fn agreed(&mut self, doc_id: &str, digest: &Address) -> Result<(), ProtocolError>;
    /// A conversation ended with both sides in step; remember what the peer holds.
    fn converged(&mut self, doc_id: &str) -> Result<(), ProtocolError>;
    /// The peer refused the draft this node announced at `digest` (if it announced it).
    fn peer_refused(
        &mut self,
        doc_id: &str,
        digest: Option<&Address>,
        reason: &RefusalReason,
    ) -> Result<(), ProtocolError>;
}

/// Counters for summaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftStats {
    /// Drafts this side announced.
    pub announced: u64,
    /// Drafts the peer announced.
    pub peer_announced: u64,
    /// Drafts that ended in step with the peer.
    pub in_step: u64,
    /// Drafts whose content here changed through the peer's changes.
    pub changed_here: u64,
    /// Automerge sync messages sent.
    pub sent_messages: u64,
    /// Automerge sync messages received.
    pub received_messages: u64,
    /// Bytes of automerge sync messages sent.
    pub sent_bytes: u64,
    /// Bytes of automerge sync messages received.
    pub received_bytes: u64,
    /// Drafts the peer refused.
    pub refused_by_peer: Vec<DraftRefusal>,
    /// Drafts this side refused.
    pub refused_here: Vec<DraftRefusal>,
    /// Either side had more changed drafts than one session announces.
    pub more: bool,
}

/// One conversation about one draft.
#[derive(Debug)]
struct Conv {
    /// This side speaks next.
    our_turn: bool,
    /// The previous turn, whoever took it, carried nothing.
    last_empty: bool,
    finished: bool,
    /// This side's digest when the session began, for refusals of it.
    mine: Option<Address>,
    /// Our next turn refuses the draft, for this reason.
    refuse: Option<RefusalReason>,
    changed: bool,
}

/// One draft-sync session between a device and the hub.
pub struct DraftSession {
    side: Side,
    outbox: VecDeque<DraftMessage>,
    /// Client: the Welcome arrived. Server: the Hello arrived.
    opened: bool,
    /// What the client announced, with its digests.
    announced: BTreeMap<String, Address>,
    convs: BTreeMap<String, Conv>,
    /// Conversations where it is this side's turn, in order.
    ready: VecDeque<String>,
    stats: DraftStats,
}

impl DraftSession {
    /// Starts the device's side; its Hello is the first message out.
    pub fn client(replica: &impl DraftReplica) -> Result<DraftSession, ProtocolError> {
        let mut s = DraftSession::new(Side::Client);
        let mut pending = replica.pending(MAX_ANNOUNCED + 1)?;
        s.stats.more = pending.len() > MAX_ANNOUNCED;
        pending.truncate(MAX_ANNOUNCED);
        let drafts = pending
            .into_iter()
            .map(|(doc_id, digest)| {
                s.announced.insert(doc_id.clone(), digest);
                Announce {
                    doc_id,
                    digest: Some(digest),
                }
            })
            .collect::<Vec<_>>();
        s.stats.announced = drafts.len() as u64;
        s.outbox.push_back(DraftMessage::DraftHello {
            version: FORMAT_VERSION,
            drafts,
            more: s.stats.more,
        });
        Ok(s)
    }

    /// Starts the hub's side; it waits for the device's Hello.
    pub fn server() -> DraftSession {
        DraftSession::new(Side::Server)
    }

    fn new(side: Side) -> DraftSession {
        DraftSession {
            side,
            outbox: VecDeque::new(),
            opened: false,
            announced: BTreeMap::new(),
            convs: BTreeMap::new(),
            ready: VecDeque::new(),
            stats: DraftStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &DraftStats {
        &self.stats
    }

    /// Whether every conversation is over and nothing is left to send.
    pub fn is_done(&self) -> bool {
        self.opened
            && self.outbox.is_empty()
            && self.ready.is_empty()
            && self.convs.values().all(|c| c.finished)
    }

    /// Feeds one message from the peer.
    pub fn handle(
        &mut self,
        msg: DraftMessage,
        replica: &mut impl DraftReplica,
    ) -> Result<(), ProtocolError> {
        match msg {
            DraftMessage::DraftHello {
                version,
                drafts,
                more,
            } => self.on_hello(version, drafts, more, replica),
            DraftMessage::DraftWelcome {
                drafts,
                refused,
                more,
            } => self.on_welcome(drafts, refused, more, replica),
            DraftMessage::DraftTurn { doc_id, data } => self.on_turn(doc_id, data, replica),
            DraftMessage::DraftRefuse { doc_id, reason } => {
                let conv = Self::peer_turn(&mut self.convs, self.opened, &doc_id)?;
                conv.finished = true;
                let mine = conv.mine;
                replica.peer_refused(&doc_id, mine.as_ref(), &reason)?;
                self.stats
                    .refused_by_peer
                    .push(DraftRefusal { doc_id, reason });
                Ok(())
            }
            DraftMessage::DraftAbort { reason } => Err(ProtocolError::Violation(format!(
                "the peer closed the draft sync: {reason}"
            ))),
        }
    }

    fn on_hello(
        &mut self,
        version: u8,
        drafts: Vec<Announce>,
        more: bool,
        replica: &mut impl DraftReplica,
    ) -> Result<(), ProtocolError> {
        if self.side != Side::Server || self.opened {
            return Err(ProtocolError::Violation("unexpected draft Hello".into()));
        }
        if version != FORMAT_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        check_announced(&drafts, MAX_ANNOUNCED)?;
        self.opened = true;
        self.stats.peer_announced = drafts.len() as u64;
        let mut answer = Vec::new();
        let mut refused = Vec::new();
        let mut answered = BTreeSet::new();
        for a in drafts {
            answered.insert(a.doc_id.clone());
            if let Some(reason) = replica.admit(&a.doc_id)? {
                let r = DraftRefusal {
                    doc_id: a.doc_id,
                    reason,
                };
                self.stats.refused_here.push(r.clone());
                refused.push(r);
                continue;
            }
            let mine = replica.digest(&a.doc_id)?;
            self.open(&a.doc_id, mine, a.digest, replica)?;
            answer.push(Announce {
                doc_id: a.doc_id,
                digest: mine,
            });
        }
        let mut own = replica.pending(MAX_ANNOUNCED + 1)?;
        self.stats.more = more || own.len() > MAX_ANNOUNCED;
        own.truncate(MAX_ANNOUNCED);
        for (doc_id, digest) in own {
            if !answered.insert(doc_id.clone()) {
                continue;
            }
            self.stats.announced += 1;
            self.open(&doc_id, Some(digest), None, replica)?;
            answer.push(Announce {
                doc_id,
                digest: Some(digest),
            });
        }
        self.outbox.push_back(DraftMessage::DraftWelcome {
            drafts: answer,
            refused,
            more: self.stats.more,
        });
        Ok(())
    }

    fn on_welcome(
        &mut self,
        drafts: Vec<Announce>,
        refused: Vec<DraftRefusal>,
        more: bool,
        replica: &mut impl DraftReplica,
    ) -> Result<(), ProtocolError> {
        if self.side != Side::Client || self.opened {
            return Err(ProtocolError::Violation("unexpected draft Welcome".into()));
        }
        check_announced(&drafts, 2 * MAX_ANNOUNCED)?;
        self.opened = true;
        self.stats.more |= more;
        let mut answered = BTreeSet::new();
        for r in refused {
            let Some(mine) = self.announced.get(&r.doc_id).copied() else {
                return Err(ProtocolError::Violation(format!(
                    "the hub refused draft {}, which was not announced",
                    r.doc_id
                )));
            };
            if !answered.insert(r.doc_id.clone()) {
                return Err(ProtocolError::Violation(format!(
                    "the hub answered draft {} twice",
                    r.doc_id
                )));
            }
            replica.peer_refused(&r.doc_id, Some(&mine), &r.reason)?;
            self.stats.refused_by_peer.push(r);
        }
        for a in drafts {
            if !answered.insert(a.doc_id.clone()) {
                return Err(ProtocolError::Violation(format!(
                    "the hub answered draft {} twice",
                    a.doc_id
                )));
            }
            if let Some(mine) = self.announced.get(&a.doc_id).copied() {
                self.open(&a.doc_id, Some(mine), a.digest, replica)?;
                continue;
            }
            self.stats.peer_announced += 1;
            let mine = replica.digest(&a.doc_id)?;
            match replica.admit(&a.doc_id)? {
                Some(reason) => {
                    self.convs.insert(
                        a.doc_id.clone(),
                        Conv {
                            our_turn: true,
                            last_empty: false,
                            finished: false,
                            mine,
                            refuse: Some(reason),
                            changed: false,
                        },
                    );
                    self.ready.push_back(a.doc_id);
                }
                // The hub opened a conversation without knowing our digest, so one
                // takes place even if the digests happen to agree.
                None => self.open(&a.doc_id, mine, None, replica)?,
            }
        }
        if let Some(missing) = self.announced.keys().find(|id| !answered.contains(*id)) {
            return Err(ProtocolError::Violation(format!(
                "the hub neither took nor refused draft {missing}"
            )));
        }
        Ok(())
    }

    /// Settles a draft both sides hold at the same digest, or opens a conversation.
    fn open(
        &mut self,
        doc_id: &str,
        mine: Option<Address>,
        theirs: Option<Address>,
        replica: &mut impl DraftReplica,
    ) -> Result<(), ProtocolError> {
        if let (Some(m), Some(t)) = (mine, theirs) {
            if m == t {
                replica.agreed(doc_id, &m)?;
                self.stats.in_step += 1;
                return Ok(());
            }
        }
        // The device speaks first in every conversation, so turns never cross.
        let our_turn = self.side == Side::Client;
        self.convs.insert(
            doc_id.to_string(),
            Conv {
                our_turn,
                last_empty: false,
                finished: false,
                mine,
                refuse: None,
                changed: false,
            },
        );
        if our_turn {
            self.ready.push_back(doc_id.to_string());
        }
        Ok(())
    }

    /// The conversation about `doc_id`, checked to be open and waiting for the peer.
    fn peer_turn<'a>(
        convs: &'a mut BTreeMap<String, Conv>,
        opened: bool,
        doc_id: &str,
    ) -> Result<&'a mut Conv, ProtocolError> {
        if !opened {
            return Err(ProtocolError::Violation(format!(
                "a turn about draft {doc_id} before the session was opened"
            )));
        }
        match convs.get_mut(doc_id) {
            Some(c) if !c.finished && !c.our_turn => Ok(c),
            Some(c) if c.finished => Err(ProtocolError::Violation(format!(
                "a turn about draft {doc_id} after its conversation ended"
            ))),
            Some(_) => Err(ProtocolError::Violation(format!(
                "a turn about draft {doc_id} out of turn"
            ))),
            None => Err(ProtocolError::Violation(format!(
                "a turn about draft {doc_id}, which neither side announced"
            ))),
        }
    }

    fn on_turn(
        &mut self,
        doc_id: String,
        data: Option<Vec<u8>>,
        replica: &mut impl DraftReplica,
    ) -> Result<(), ProtocolError> {
        let conv = Self::peer_turn(&mut self.convs, self.opened, &doc_id)?;
        match data {
            None if conv.last_empty => {
                conv.finished = true;
                replica.converged(&doc_id)?;
                self.stats.in_step += 1;
                if conv.changed {
                    self.stats.changed_here += 1;
                }
                return Ok(());
            }
            None => conv.last_empty = true,
            Some(bytes) => {
                self.stats.received_messages += 1;
                self.stats.received_bytes += bytes.len() as u64;
                conv.last_empty = false;
                if bytes.len() > MAX_DRAFT_SYNC_BYTES {
                    conv.refuse = Some(RefusalReason::TooLarge {
                        bytes: bytes.len() as u64,
                        limit: MAX_DRAFT_SYNC_BYTES as u64,
                    });
                } else {
                    match replica.receive(&doc_id, &bytes)? {
                        Applied::Unchanged => {}
                        Applied::Changed => conv.changed = true,
                        Applied::Refused(reason) => conv.refuse = Some(reason),
                    }
                }
            }
        }
        conv.our_turn = true;
        self.ready.push_back(doc_id);
        Ok(())
    }

    /// The next message to send, if any. Call until it returns `None`, then wait for
    /// the peer.
    pub fn poll_transmit(
        &mut self,
        replica: &mut impl DraftReplica,
    ) -> Result<Option<DraftMessage>, ProtocolError> {
        if let Some(m) = self.outbox.pop_front() {
            return Ok(Some(m));
        }
        let Some(doc_id) = self.ready.pop_front() else {
            return Ok(None);
        };
        let Some(conv) = self.convs.get_mut(&doc_id) else {
            return Err(ProtocolError::Replica(format!(
                "draft {doc_id} was ready without a conversation"
            )));
        };
        conv.our_turn = false;
        let reason = match conv.refuse.take() {
            Some(reason) => reason,
            None => match replica.generate(&doc_id)? {
                Some(bytes) if bytes.len() <= MAX_DRAFT_SYNC_BYTES => {
                    conv.last_empty = false;
                    self.stats.sent_messages += 1;
                    self.stats.sent_bytes += bytes.len() as u64;
                    return Ok(Some(DraftMessage::DraftTurn {
                        doc_id,
                        data: Some(bytes),
                    }));
                }
                Some(bytes) => RefusalReason::TooLarge {
                    bytes: bytes.len() as u64,
                    limit: MAX_DRAFT_SYNC_BYTES as u64,
                },
                None if conv.last_empty => {
                    conv.finished = true;
                    let changed = conv.changed;
                    replica.converged(&doc_id)?;
                    self.stats.in_step += 1;
                    if changed {
                        self.stats.changed_here += 1;
                    }
                    return Ok(Some(DraftMessage::DraftTurn { doc_id, data: None }));
                }
                None => {
                    conv.last_empty = true;
                    return Ok(Some(DraftMessage::DraftTurn { doc_id, data: None }));
                }
            },
        };
        conv.finished = true;
        self.stats.refused_here.push(DraftRefusal {
            doc_id: doc_id.clone(),
            reason: reason.clone(),
        });
        Ok(Some(DraftMessage::DraftRefuse { doc_id, reason }))
    }
}

#[cfg(test)]
mod tests;
