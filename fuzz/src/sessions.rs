//! The two sans-IO sessions fed what a hostile peer could send: sequences of
//! well-formed messages in any order with any contents, built from the fuzz bytes. A
//! session may refuse (the connection is then dropped) but must never panic, and
//! `poll_transmit` must always run dry.

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use sync_protocol::{
    Address, Announce, Applied, Chunk, Config, DraftMessage, DraftRefusal, DraftReplica,
    DraftSession, FrameItem, Message, NodeId, ProtocolError, Refusal, RefusalReason, Replica,
    SecretKey, Session, StreamId, VersionVector,
};

/// Messages one side may send before the session must have answered each.
const MAX_MESSAGES: usize = 64;

/// Polls a session may answer one message with; more means it never runs dry.
const MAX_POLLS: usize = 10_000;

fn device() -> NodeId {
    SecretKey::from_bytes(&[9u8; 32]).public()
}

fn address(u: &mut Unstructured<'_>) -> Result<Address> {
    // A small space of addresses, so asked-for chunks and held ones collide often.
    Ok(Address([u.int_in_range(0..=4u8)?; 32]))
}

fn stream(u: &mut Unstructured<'_>) -> Result<StreamId> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => StreamId::Trust,
        1 => StreamId::Origin(device()),
        2 => StreamId::Scope("123456".into()),
        3 => StreamId::Notices("123456".into()),
        _ => StreamId::Scope(u.arbitrary::<String>()?),
    })
}

fn position(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => u64::MAX,
        1 => u.arbitrary()?,
        _ => u.int_in_range(0..=12)?,
    })
}

fn vector(u: &mut Unstructured<'_>) -> Result<VersionVector> {
    let mut vv = VersionVector::new();
    for _ in 0..u.int_in_range(0..=4u8)? {
        vv.insert(stream(u)?, position(u)?);
    }
    Ok(vv)
}

fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=max)?;
    Ok(u.bytes(len.min(u.len()))?.to_vec())
}

fn message(u: &mut Unstructured<'_>) -> Result<Message> {
    Ok(match u.int_in_range(0..=8u8)? {
        0 => Message::Hello {
            version: if u.ratio(1, 8)? { u.arbitrary()? } else { 1 },
            want: vector(u)?,
            offer: (0..u.int_in_range(0..=3u8)?)
                .map(|_| stream(u))
                .collect::<Result<_>>()?,
            has: vector(u)?,
            needs: u.arbitrary()?,
            credit: u.arbitrary()?,
        },
        1 => {
            let after = position(u)?;
            let n = u.int_in_range(0..=4u8)?;
            let mut items = Vec::new();
            for i in 0..n {
                items.push(FrameItem {
                    seq: after.wrapping_add(1 + u64::from(i)),
                    bytes: bytes(u, 64)?,
                });
            }
            Message::Frame {
                stream: stream(u)?,
                after,
                through: position(u)?,
                items,
            }
        }
        2 => Message::Ack {
            stream: stream(u)?,
            through: position(u)?,
            refused: (0..u.int_in_range(0..=2u8)?)
                .map(|_| {
                    Ok(Refusal {
                        seq: position(u)?,
                        address: address(u)?,
                        reason: u.arbitrary()?,
                    })
                })
                .collect::<Result<_>>()?,
        },
        3 => Message::Nack {
            stream: stream(u)?,
            through: position(u)?,
        },
        4 => Message::Want {
            chunks: (0..u.int_in_range(0..=70u8)?)
                .map(|_| address(u))
                .collect::<Result<_>>()?,
        },
        5 => {
            let data = bytes(u, 32)?;
            let address = if u.arbitrary()? {
                Address::of(&data)
            } else {
                address(u)?
            };
            Message::Chunk {
                address,
                bytes: data,
            }
        }
        6 => Message::NoChunk {
            address: address(u)?,
        },
        7 => Message::Done { sent: vector(u)? },
        _ => Message::Abort {
            reason: u.arbitrary()?,
        },
    })
}

/// A replica kept in memory: a few items in the trust and satker streams, a device
/// stream it accepts, chunks it holds and needs.
#[derive(Default)]
struct Memory {
    logs: BTreeMap<StreamId, Vec<Vec<u8>>>,
    received: BTreeMap<StreamId, u64>,
    chunks: BTreeMap<Address, Vec<u8>>,
    needs: Vec<Address>,
}

impl Memory {
    fn new() -> Memory {
        let mut m = Memory::default();
        m.logs
            .insert(StreamId::Trust, (0..5u8).map(|i| vec![i; 10]).collect());
        m.logs.insert(
            StreamId::Scope("123456".into()),
            (0..8u8).map(|i| vec![i; 200]).collect(),
        );
        m.chunks.insert(Address([1; 32]), vec![1; 16]);
        m.needs = vec![Address([2; 32]), Address([3; 32])];
        m
    }
}

impl Replica for Memory {
    fn commit(&mut self) -> Result<(), ProtocolError> {
        Ok(())
    }
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        Ok(VersionVector::from([(StreamId::Trust, 0)]))
    }
    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        Ok(vec![StreamId::Origin(device())])
    }
    fn accepts(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok((*stream == StreamId::Origin(device()))
            .then(|| self.received.get(stream).copied().unwrap_or(0)))
    }
    fn may_serve(&self, stream: &StreamId) -> bool {
        self.logs.contains_key(stream)
    }
    fn head(&self, stream: &StreamId) -> Result<u64, ProtocolError> {
        Ok(self.logs.get(stream).map(|l| l.len() as u64).unwrap_or(0))
    }
    fn read(
        &self,
        stream: &StreamId,
        after: u64,
        max_bytes: usize,
    ) -> Result<Chunk, ProtocolError> {
        let log = self.logs.get(stream).cloned().unwrap_or_default();
        let mut chunk = Chunk {
            items: Vec::new(),
            through: after,
        };
        let mut total = 0;
        for (i, b) in log
            .iter()
            .enumerate()
            .skip(after.min(log.len() as u64) as usize)
        {
            if !chunk.items.is_empty() && total + b.len() > max_bytes {
                break;
            }
            total += b.len();
            chunk.items.push(FrameItem {
                seq: i as u64 + 1,
                bytes: b.clone(),
            });
            chunk.through = i as u64 + 1;
        }
        Ok(chunk)
    }
    fn receive(
        &mut self,
        stream: &StreamId,
        _items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        self.received.insert(stream.clone(), through);
        Ok(Vec::new())
    }
    fn missing_chunks(
        &self,
        limit: usize,
        skip: &dyn Fn(&Address) -> bool,
    ) -> Result<Vec<Address>, ProtocolError> {
        Ok(self
            .needs
            .iter()
            .filter(|a| !self.chunks.contains_key(a) && !skip(a))
            .take(limit)
            .copied()
            .collect())
    }
    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        Ok(self.chunks.get(address).cloned())
    }
    fn store_chunk(&mut self, address: &Address, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.chunks.insert(*address, bytes.to_vec());
        Ok(())
    }
    fn peer_refused(&mut self, _: &StreamId, _: &[Refusal]) -> Result<(), ProtocolError> {
        Ok(())
    }
}

/// Drains a session's output; false if it refused along the way.
fn drain(session: &mut Session, replica: &mut Memory) -> bool {
    for _ in 0..MAX_POLLS {
        match session.poll_transmit(replica) {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
    panic!("poll_transmit did not run dry after {MAX_POLLS} messages");
}

fn feed(session: &mut Session, replica: &mut Memory, u: &mut Unstructured<'_>) {
    if !drain(session, replica) {
        return;
    }
    for _ in 0..MAX_MESSAGES {
        let Ok(m) = message(u) else { return };
        if u.ratio(1, 16).unwrap_or(false) {
            session.on_timeout();
        }
        if session.handle(m, replica).is_err() || !drain(session, replica) {
            return;
        }
    }
}

/// The reconciliation session on both ends: first byte picks the side.
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut replica = Memory::new();
    let config = Config::default();
    let mut session = if u.arbitrary::<bool>().unwrap_or(false) {
        Session::server(config)
    } else {
        match Session::client(config, &replica) {
            Ok(s) => s,
            Err(_) => return,
        }
    };
    feed(&mut session, &mut replica, &mut u);
}

fn doc_id(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => "spm-1".into(),
        1 => "spm-2".into(),
        2 => "spm-3".into(),
        _ => u.arbitrary()?,
    })
}

fn digest(u: &mut Unstructured<'_>) -> Result<Option<Address>> {
    Ok(if u.arbitrary()? {
        Some(address(u)?)
    } else {
        None
    })
}

fn announces(u: &mut Unstructured<'_>) -> Result<Vec<Announce>> {
    (0..u.int_in_range(0..=4u8)?)
        .map(|_| {
            Ok(Announce {
                doc_id: doc_id(u)?,
                digest: digest(u)?,
            })
        })
        .collect()
}

fn reason(u: &mut Unstructured<'_>) -> Result<RefusalReason> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => RefusalReason::NotAllowed,
        1 => RefusalReason::WrongSatker {
            draft: u.arbitrary()?,
            device: u.arbitrary()?,
        },
        2 => RefusalReason::Frozen {
            state: u.arbitrary()?,
        },
        3 => RefusalReason::TooLarge {
            bytes: u.arbitrary()?,
            limit: u.arbitrary()?,
        },
        _ => RefusalReason::Invalid {
            detail: u.arbitrary()?,
        },
    })
}

fn draft_message(u: &mut Unstructured<'_>) -> Result<DraftMessage> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => DraftMessage::DraftHello {
            version: if u.ratio(1, 8)? { u.arbitrary()? } else { 1 },
            drafts: announces(u)?,
            more: u.arbitrary()?,
        },
        1 => DraftMessage::DraftWelcome {
            drafts: announces(u)?,
            refused: (0..u.int_in_range(0..=2u8)?)
                .map(|_| {
                    Ok(DraftRefusal {
                        doc_id: doc_id(u)?,
                        reason: reason(u)?,
                    })
                })
                .collect::<Result<_>>()?,
            more: u.arbitrary()?,
        },
        2 => DraftMessage::DraftTurn {
            doc_id: doc_id(u)?,
            data: if u.arbitrary()? {
                Some(bytes(u, 32)?)
            } else {
                None
            },
        },
        3 => DraftMessage::DraftRefuse {
            doc_id: doc_id(u)?,
            reason: reason(u)?,
        },
        _ => DraftMessage::DraftAbort {
            reason: u.arbitrary()?,
        },
    })
}

/// Drafts kept as opaque byte strings: enough to drive the session's bookkeeping.
#[derive(Default)]
struct Drafts {
    docs: BTreeMap<String, Vec<u8>>,
}

impl DraftReplica for Drafts {
    fn pending(&self, limit: usize) -> Result<Vec<(String, Address)>, ProtocolError> {
        Ok(self
            .docs
            .iter()
            .take(limit)
            .map(|(k, v)| (k.clone(), Address::of(v)))
            .collect())
    }
    fn digest(&self, doc_id: &str) -> Result<Option<Address>, ProtocolError> {
        Ok(self.docs.get(doc_id).map(|v| Address::of(v)))
    }
    fn admit(&self, doc_id: &str) -> Result<Option<RefusalReason>, ProtocolError> {
        Ok((doc_id == "spm-3").then_some(RefusalReason::NotAllowed))
    }
    fn generate(&mut self, doc_id: &str) -> Result<Option<Vec<u8>>, ProtocolError> {
        Ok(self.docs.get(doc_id).filter(|v| !v.is_empty()).cloned())
    }
    fn receive(&mut self, doc_id: &str, bytes: &[u8]) -> Result<Applied, ProtocolError> {
        let entry = self.docs.entry(doc_id.to_string()).or_default();
        if bytes.first() == Some(&0xee) {
            return Ok(Applied::Refused(RefusalReason::Invalid {
                detail: "fuzz".into(),
            }));
        }
        let changed = entry.as_slice() != bytes;
        *entry = bytes.to_vec();
        Ok(if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        })
    }
    fn agreed(&mut self, _: &str, _: &Address) -> Result<(), ProtocolError> {
        Ok(())
    }
    fn converged(&mut self, _: &str) -> Result<(), ProtocolError> {
        Ok(())
    }
    fn peer_refused(
        &mut self,
        _: &str,
        _: Option<&Address>,
        _: &RefusalReason,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
}

fn drain_drafts(session: &mut DraftSession, replica: &mut Drafts) -> bool {
    for _ in 0..MAX_POLLS {
        match session.poll_transmit(replica) {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
    panic!("the draft session's poll_transmit did not run dry after {MAX_POLLS} messages");
}

/// The draft-sync session on both ends: first byte picks the side.
pub fn draft_session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut replica = Drafts::default();
    replica.docs.insert("spm-1".into(), vec![1, 2, 3]);
    replica.docs.insert("spm-2".into(), Vec::new());
    let mut session = if u.arbitrary::<bool>().unwrap_or(false) {
        DraftSession::server()
    } else {
        match DraftSession::client(&replica) {
            Ok(s) => s,
            Err(_) => return,
        }
    };
    if !drain_drafts(&mut session, &mut replica) {
        return;
    }
    for _ in 0..MAX_MESSAGES {
        let Ok(m) = draft_message(&mut u) else { return };
        if session.handle(m, &mut replica).is_err() || !drain_drafts(&mut session, &mut replica) {
            return;
        }
    }
}
