//! Two sessions wired together in memory with in-memory replicas.

use std::collections::BTreeMap;

use super::*;
use crate::{Address, SecretKey};

/// Per stream: the position held and the payloads received.
type Received = BTreeMap<StreamId, (u64, Vec<Vec<u8>>)>;

/// A replica that keeps streams as vectors. `refuse` names payloads it refuses.
#[derive(Default)]
struct MemReplica {
    logs: BTreeMap<StreamId, Vec<Vec<u8>>>,
    received: BTreeMap<StreamId, (u64, Vec<Vec<u8>>)>,
    wants: Vec<StreamId>,
    offers: Vec<StreamId>,
    serves: Vec<StreamId>,
    refuse: Vec<Vec<u8>>,
    /// The reason given for refused payloads, if not the default.
    refusal: Option<String>,
    peer_refusals: Vec<Refusal>,
    reads: usize,
    chunks: BTreeMap<Address, Vec<u8>>,
    needs: Vec<Address>,
    chunk_writes: usize,
    /// Chunks this replica learns it needs once it receives an item.
    needs_on_receive: Vec<Address>,
    /// Whether this replica keeps the peer's acks between sessions.
    remember: bool,
    /// Attachment chunks each item of its logs carries, for progress totals.
    chunks_per_item: u64,
    peer_acks: BTreeMap<StreamId, u64>,
    /// What `received` and `chunks` were at the last commit: what survives a crash.
    durable: (Received, BTreeMap<Address, Vec<u8>>),
    commits: usize,
    /// What a server appends to a stream when its session settles (a checkpoint).
    on_settle: Option<(StreamId, Vec<u8>)>,
    /// The commit count when it settled, each time it did.
    settled: Vec<usize>,
}

impl MemReplica {
    /// How far this replica durably holds `stream`.
    fn durable_position(&self, stream: &StreamId) -> u64 {
        self.durable.0.get(stream).map(|r| r.0).unwrap_or(0)
    }

    /// The process died: whatever was stored and not committed is gone.
    fn crash(&mut self) {
        self.received = self.durable.0.clone();
        self.chunks = self.durable.1.clone();
    }
}

impl Replica for MemReplica {
    fn settle(&mut self) -> Result<bool, ProtocolError> {
        self.settled.push(self.commits);
        let Some((stream, item)) = self.on_settle.take() else {
            return Ok(false);
        };
        self.logs.entry(stream).or_default().push(item);
        Ok(true)
    }
    fn commit(&mut self) -> Result<(), ProtocolError> {
        self.commits += 1;
        self.durable = (self.received.clone(), self.chunks.clone());
        Ok(())
    }
    fn wanted(&self) -> Result<VersionVector, ProtocolError> {
        Ok(self
            .wants
            .iter()
            .map(|s| (s.clone(), self.received.get(s).map(|r| r.0).unwrap_or(0)))
            .collect())
    }
    fn offered(&self) -> Result<Vec<StreamId>, ProtocolError> {
        Ok(self.offers.clone())
    }
    fn accepts(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok(self
            .wants
            .contains(stream)
            .then(|| self.received.get(stream).map(|r| r.0).unwrap_or(0)))
    }
    fn may_serve(&self, stream: &StreamId) -> bool {
        self.serves.contains(stream)
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
            items: vec![],
            through: after,
        };
        let mut bytes = 0;
        for (i, b) in log.iter().enumerate().skip(after as usize) {
            if !chunk.items.is_empty() && bytes + b.len() > max_bytes {
                break;
            }
            bytes += b.len();
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
        items: &[FrameItem],
        through: u64,
    ) -> Result<Vec<Refusal>, ProtocolError> {
        self.reads += 1;
        if !items.is_empty() {
            self.needs.append(&mut self.needs_on_receive);
        }
        let mut refused = vec![];
        let entry = self.received.entry(stream.clone()).or_default();
        for it in items {
            if self.refuse.contains(&it.bytes) {
                refused.push(Refusal {
                    seq: it.seq,
                    address: Address::of(&it.bytes),
                    reason: self.refusal.clone().unwrap_or_else(|| "not allowed".into()),
                });
            } else if !entry.1.contains(&it.bytes) {
                entry.1.push(it.bytes.clone());
            }
        }
        entry.0 = through;
        Ok(refused)
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
    fn chunks_after(&self, stream: &StreamId, after: u64) -> Result<u64, ProtocolError> {
        Ok(self.head(stream)?.saturating_sub(after) * self.chunks_per_item)
    }
    fn chunks_needed(&self) -> Result<u64, ProtocolError> {
        Ok(self
            .needs
            .iter()
            .filter(|a| !self.chunks.contains_key(a))
            .count() as u64)
    }
    fn read_chunk(&self, address: &Address) -> Result<Option<Vec<u8>>, ProtocolError> {
        Ok(self.chunks.get(address).cloned())
    }
    fn store_chunk(&mut self, address: &Address, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.chunk_writes += 1;
        self.chunks.insert(*address, bytes.to_vec());
        Ok(())
    }
    fn peer_holds(&self, stream: &StreamId) -> Result<Option<u64>, ProtocolError> {
        Ok(self
            .remember
            .then(|| self.peer_acks.get(stream).copied())
            .flatten())
    }
    fn peer_acked(&mut self, stream: &StreamId, through: u64) -> Result<(), ProtocolError> {
        self.peer_acks.insert(stream.clone(), through);
        Ok(())
    }
    fn peer_refused(
        &mut self,
        _stream: &StreamId,
        refusals: &[Refusal],
    ) -> Result<(), ProtocolError> {
        self.peer_refusals.extend_from_slice(refusals);
        Ok(())
    }
}

fn satker_and_hub(client_items: usize, hub_items: usize) -> (MemReplica, MemReplica, StreamId) {
    let device = StreamId::Origin(SecretKey::generate().public());
    let scope = StreamId::Scope("123456".into());
    let mut client = MemReplica::default();
    client.logs.insert(
        device.clone(),
        (0..client_items)
            .map(|i| format!("doc-{i}").into_bytes())
            .collect(),
    );
    client.offers = vec![device.clone()];
    client.serves = vec![device.clone()];
    client.wants = vec![scope.clone(), StreamId::Trust];
    let mut hub = MemReplica::default();
    hub.logs.insert(
        scope.clone(),
        (0..hub_items)
            .map(|i| format!("receipt-{i}").into_bytes())
            .collect(),
    );
    hub.logs
        .insert(StreamId::Trust, vec![b"hub-identity".to_vec()]);
    hub.wants = vec![device.clone()];
    hub.serves = vec![scope, StreamId::Trust];
    (client, hub, device)
}

/// Runs both sessions to completion over a perfect in-memory link; returns round trips
/// (a flight of client messages answered by a flight of hub messages) and messages.
fn run(client: &mut MemReplica, hub: &mut MemReplica, config: Config) -> (usize, Session, Session) {
    let mut c = Session::client(config, client).unwrap();
    let mut h = Session::server(config);
    let mut flights = 0;
    let mut rounds = 0;
    while !(c.is_done() && h.is_done()) {
        rounds += 1;
        assert!(rounds < 10_000, "sessions did not converge");
        let mut to_hub = vec![];
        while let Some(m) = c.poll_transmit(client).unwrap() {
            to_hub.push(m);
        }
        flights += usize::from(!to_hub.is_empty());
        for m in to_hub {
            h.handle(m, hub).unwrap();
        }
        let mut to_client = vec![];
        while let Some(m) = h.poll_transmit(hub).unwrap() {
            to_client.push(m);
        }
        for m in to_client {
            c.handle(m, client).unwrap();
        }
    }
    (flights, c, h)
}

mod checkpoint;
mod limits;
mod pipeline;
mod priority;
mod progress;
mod settle;

#[test]
fn both_directions_arrive_and_the_session_ends() {
    let (mut client, mut hub, device) = satker_and_hub(30, 7);
    let (_, c, h) = run(
        &mut client,
        &mut hub,
        Config {
            frame_bytes: 40,
            window: 2,
            credit: 2,
        },
    );
    assert_eq!(hub.received[&device].1.len(), 30);
    assert_eq!(
        client.received[&StreamId::Scope("123456".into())].1.len(),
        7
    );
    assert_eq!(client.received[&StreamId::Trust].1.len(), 1);
    assert_eq!(c.stats().sent_items, 30);
    assert_eq!(h.stats().received_items, 30);
}

#[test]
fn second_session_sends_only_the_difference() {
    let (mut client, mut hub, device) = satker_and_hub(1000, 3);
    run(&mut client, &mut hub, Config::default());
    let log = client.logs.get_mut(&device).unwrap();
    for i in 0..10 {
        log.push(format!("new-{i}").into_bytes());
    }
    let (flights, c, h) = run(&mut client, &mut hub, Config::default());
    assert_eq!(c.stats().sent_items, 10);
    assert_eq!(h.stats().sent_items, 0);
    assert_eq!(hub.received[&device].1.len(), 1010);
    assert_eq!(
        flights, 2,
        "Hello and Done, then the frames the hub's Hello asked for"
    );
}

#[test]
fn a_sync_with_nothing_new_is_one_flight_each_way() {
    let (mut client, mut hub, _) = satker_and_hub(20, 4);
    run(&mut client, &mut hub, Config::default());
    let (flights, c, h) = run(&mut client, &mut hub, Config::default());
    assert_eq!(flights, 1);
    assert_eq!(c.stats().sent_items + h.stats().sent_items, 0);
}

#[test]
fn a_tail_frame_lost_before_the_hubs_done_is_asked_for_again() {
    let (mut client, mut hub, _) = satker_and_hub(0, 6);
    let config = Config {
        frame_bytes: 20,
        window: 8,
        credit: 8,
    };
    let scope = StreamId::Scope("123456".into());
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    while let Some(m) = c.poll_transmit(&mut client).unwrap() {
        h.handle(m, &mut hub).unwrap();
    }
    let mut from_hub = vec![];
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        from_hub.push(m);
    }
    assert!(
        matches!(from_hub.last(), Some(Message::Done { .. })),
        "the hub says Done without waiting for acks: {from_hub:?}"
    );
    // The last frame of the scope stream is lost on the way.
    let last_frame = from_hub
        .iter()
        .rposition(|m| matches!(m, Message::Frame { stream, .. } if *stream == scope))
        .unwrap();
    from_hub.remove(last_frame);
    for m in from_hub {
        c.handle(m, &mut client).unwrap();
    }
    let mut nacks = 0;
    while let Some(m) = c.poll_transmit(&mut client).unwrap() {
        nacks += usize::from(matches!(m, Message::Nack { .. }));
        h.handle(m, &mut hub).unwrap();
    }
    assert_eq!(nacks, 1);
    assert!(!c.is_done(), "the device knows it lacks the tail");
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        c.handle(m, &mut client).unwrap();
    }
    while c.poll_transmit(&mut client).unwrap().is_some() {}
    assert!(c.is_done());
    assert_eq!(client.received[&scope].1.len(), 6);
}

#[test]
fn refused_items_are_reported_to_the_sender_and_not_resent() {
    let (mut client, mut hub, _) = satker_and_hub(5, 0);
    hub.refuse = vec![b"doc-2".to_vec()];
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(client.peer_refusals.len(), 1);
    assert_eq!(client.peer_refusals[0].seq, 3);
    assert_eq!(c.stats().refused_by_peer.len(), 1);
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(c.stats().sent_items, 0);
}

#[test]
fn hub_never_serves_a_stream_it_did_not_grant() {
    let (mut client, mut hub, _) = satker_and_hub(1, 1);
    let other = StreamId::Scope("999999".into());
    hub.logs.insert(other.clone(), vec![b"secret".to_vec()]);
    client.wants.push(other.clone());
    run(&mut client, &mut hub, Config::default());
    assert!(!client.received.contains_key(&other));
}

#[test]
fn a_frame_for_an_unagreed_stream_is_a_violation() {
    let (mut client, mut hub, _) = satker_and_hub(1, 1);
    let mut h = Session::server(Config::default());
    let mut c = Session::client(Config::default(), &client).unwrap();
    let hello = c.poll_transmit(&mut client).unwrap().unwrap();
    h.handle(hello, &mut hub).unwrap();
    let err = h
        .handle(
            Message::Frame {
                stream: StreamId::Trust,
                after: 0,
                through: 1,
                items: vec![],
            },
            &mut hub,
        )
        .unwrap_err();
    assert!(matches!(err, ProtocolError::Violation(_)));
}

#[test]
fn a_frame_that_skips_ahead_asks_for_a_resend_and_a_repeat_is_harmless() {
    let (mut client, mut hub, device) = satker_and_hub(3, 0);
    let mut h = Session::server(Config::default());
    let mut c = Session::client(Config::default(), &client).unwrap();
    let hello = c.poll_transmit(&mut client).unwrap().unwrap();
    h.handle(hello, &mut hub).unwrap();
    assert!(matches!(
        h.poll_transmit(&mut hub).unwrap(),
        Some(Message::Hello { .. })
    ));
    let item = |seq: u64| FrameItem {
        seq,
        bytes: format!("doc-{}", seq - 1).into_bytes(),
    };
    let frame = Message::Frame {
        stream: device.clone(),
        after: 0,
        through: 2,
        items: vec![item(1), item(2)],
    };
    h.handle(frame.clone(), &mut hub).unwrap();
    // The same frame again (a retransmission after a lost ack) stores nothing twice.
    h.handle(frame, &mut hub).unwrap();
    assert_eq!(hub.received[&device].1.len(), 2);
    let _acks = (
        h.poll_transmit(&mut hub).unwrap(),
        h.poll_transmit(&mut hub).unwrap(),
    );
    let gap = |after| Message::Frame {
        stream: device.clone(),
        after,
        through: after + 1,
        items: vec![],
    };
    h.handle(gap(5), &mut hub).unwrap();
    h.handle(gap(6), &mut hub).unwrap();
    assert_eq!(
        h.poll_transmit(&mut hub).unwrap(),
        Some(Message::Nack {
            stream: device.clone(),
            through: 2
        })
    );
    // One gap, one Nack: the frames behind it do not each ask again.
    let mut more_nacks = 0;
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        more_nacks += matches!(m, Message::Nack { .. }) as usize;
    }
    assert_eq!(more_nacks, 0);
}

/// A tiny deterministic generator so lossy runs are repeatable without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Runs both sessions over a link that drops `loss`% of messages and delivers the rest
/// in a shuffled order; when nothing is in flight, both sides' timers fire.
fn run_lossy(
    client: &mut MemReplica,
    hub: &mut MemReplica,
    loss: u64,
    seed: u64,
) -> (Session, Session) {
    let config = Config {
        frame_bytes: 40,
        window: 3,
        credit: 3,
    };
    let mut rng = Lcg(seed);
    let mut c = Session::client(config, client).unwrap();
    let mut h = Session::server(config);
    let mut to_hub: Vec<Message> = vec![];
    let mut to_client: Vec<Message> = vec![];
    for _ in 0..100_000 {
        if c.is_done() && h.is_done() {
            return (c, h);
        }
        while let Some(m) = c.poll_transmit(client).unwrap() {
            to_hub.push(m);
        }
        while let Some(m) = h.poll_transmit(hub).unwrap() {
            to_client.push(m);
        }
        if to_hub.is_empty() && to_client.is_empty() {
            c.on_timeout();
            h.on_timeout();
            continue;
        }
        // Deliver one message from a random position of a random direction: reordering.
        let towards_hub = !to_hub.is_empty() && (to_client.is_empty() || rng.chance(50));
        let queue = if towards_hub {
            &mut to_hub
        } else {
            &mut to_client
        };
        let i = (rng.next() as usize) % queue.len().min(3);
        let m = queue.remove(i);
        if rng.chance(loss) {
            continue;
        }
        if towards_hub {
            h.handle(m, hub).unwrap();
        } else {
            c.handle(m, client).unwrap();
        }
    }
    panic!("sessions did not converge over the lossy link");
}

#[test]
fn everything_arrives_once_over_a_link_that_drops_and_reorders() {
    for seed in 1..=20 {
        let (mut client, mut hub, device) = satker_and_hub(40, 15);
        run_lossy(&mut client, &mut hub, 20, seed);
        let got = &hub.received[&device].1;
        assert_eq!(got.len(), 40, "seed {seed}");
        for i in 0..40 {
            assert!(
                got.contains(&format!("doc-{i}").into_bytes()),
                "seed {seed}: doc-{i} missing"
            );
        }
        assert_eq!(
            client.received[&StreamId::Scope("123456".into())].1.len(),
            15,
            "seed {seed}"
        );
    }
}

#[test]
fn a_new_session_after_a_dropped_link_resends_only_what_was_not_acknowledged() {
    let (mut client, mut hub, device) = satker_and_hub(100, 0);
    let config = Config {
        frame_bytes: 50,
        window: 2,
        credit: 2,
    };
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    // Run until the hub holds some items, then cut the link mid-session.
    let mut delivered = 0;
    while hub.received.get(&device).map(|r| r.1.len()).unwrap_or(0) < 40 {
        while let Some(m) = c.poll_transmit(&mut client).unwrap() {
            h.handle(m, &mut hub).unwrap();
            delivered += 1;
        }
        while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
            c.handle(m, &mut client).unwrap();
        }
    }
    assert!(delivered > 0);
    let held = hub.received[&device].0;
    // The link is gone; the next connection starts a fresh session from the checkpoint.
    let (_, c2, _) = run(&mut client, &mut hub, config);
    assert_eq!(hub.received[&device].1.len(), 100);
    assert_eq!(
        c2.stats().sent_items,
        100 - held,
        "only the unacknowledged tail is resent"
    );
}

#[test]
fn an_oversized_item_is_refused_with_a_reason_and_the_rest_arrive() {
    let (mut client, mut hub, device) = satker_and_hub(3, 0);
    let big = vec![7u8; crate::message::MAX_ITEM_BYTES + 1];
    client.logs.get_mut(&device).unwrap().insert(1, big);
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(hub.received[&device].1.len(), 3);
    assert_eq!(c.stats().refused_by_peer.len(), 1);
    assert!(c.stats().refused_by_peer[0]
        .1
        .reason
        .contains("exceeds the limit"));
}

fn with_attachment(client: &mut MemReplica, hub: &mut MemReplica, size: usize) -> Vec<Address> {
    let file: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
    let addrs = crate::attachment::chunk_addresses(&file);
    for (a, c) in addrs.iter().zip(crate::attachment::chunks_of(&file)) {
        client.chunks.insert(*a, c.to_vec());
    }
    hub.needs = addrs.clone();
    addrs
}

#[test]
fn attachment_chunks_arrive_after_the_items_and_verify() {
    let (mut client, mut hub, device) = satker_and_hub(5, 1);
    let addrs = with_attachment(&mut client, &mut hub, 2 * 1024 * 1024);
    let (_, c, h) = run(&mut client, &mut hub, Config::default());
    assert_eq!(hub.received[&device].1.len(), 5);
    assert_eq!(h.stats().received_chunks, addrs.len() as u64);
    assert_eq!(c.stats().sent_chunks, addrs.len() as u64);
    for a in &addrs {
        assert_eq!(Address::of(&hub.chunks[a]), *a);
    }
}

#[test]
fn an_interrupted_attachment_resumes_at_the_chunk_where_it_stopped() {
    let (mut client, mut hub, _) = satker_and_hub(1, 0);
    let addrs = with_attachment(&mut client, &mut hub, 2 * 1024 * 1024);
    let config = Config::default();
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    let mut rounds = 0;
    while hub.chunks.len() < 10 {
        rounds += 1;
        assert!(
            rounds < 1000,
            "no progress: hub holds {} chunks",
            hub.chunks.len()
        );
        while let Some(m) = c.poll_transmit(&mut client).unwrap() {
            h.handle(m, &mut hub).unwrap();
        }
        while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
            c.handle(m, &mut client).unwrap();
        }
    }
    let before = hub.chunk_writes;
    // Link gone; a new session fetches only the chunks still missing.
    let (_, c2, _) = run(&mut client, &mut hub, config);
    assert_eq!(hub.chunks.len(), addrs.len());
    assert_eq!(c2.stats().sent_chunks as usize, addrs.len() - before);
    assert_eq!(hub.chunk_writes, addrs.len(), "no chunk was stored twice");
}

#[test]
fn chunks_the_device_cannot_give_do_not_hide_the_chunks_it_can() {
    let (mut client, mut hub, _) = satker_and_hub(1, 0);
    // Forty chunks nobody holds (a rogue device signed invented hashes) are needed
    // first; the one real chunk comes after them in the hub's order.
    let invented: Vec<Address> = (0..40u8).map(|i| Address([i; 32])).collect();
    let real = with_attachment(&mut client, &mut hub, 1000);
    hub.needs = invented.iter().chain(real.iter()).copied().collect();
    let (_, c, h) = run(&mut client, &mut hub, Config::default());
    assert_eq!(h.stats().received_chunks, 1, "the real chunk arrived");
    assert_eq!(c.stats().sent_chunks, 1);
    assert!(hub.chunks.contains_key(&real[0]));
}

#[test]
fn a_chunk_that_does_not_match_its_address_is_a_violation() {
    let (mut client, mut hub, _) = satker_and_hub(0, 0);
    let addrs = with_attachment(&mut client, &mut hub, 1000);
    let mut c = Session::client(Config::default(), &client).unwrap();
    let mut h = Session::server(Config::default());
    h.handle(c.poll_transmit(&mut client).unwrap().unwrap(), &mut hub)
        .unwrap();
    h.handle(
        Message::Done {
            sent: VersionVector::new(),
        },
        &mut hub,
    )
    .unwrap();
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        if matches!(m, Message::Want { .. }) {
            break;
        }
    }
    let err = h
        .handle(
            Message::Chunk {
                address: addrs[0],
                bytes: b"forged".to_vec(),
            },
            &mut hub,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("does not match its address"),
        "{err}"
    );
    assert!(hub.chunks.is_empty());
}
