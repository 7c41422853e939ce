//! `outage`: what a satker resends when its link fails. Through the impairment relay
//! on the issue's poor path (by default 300 ms ± 50 ms, 5% loss, 256 kbit/s, a 64 KiB
//! queue each way), a satker delivers `docs` documents of ~10 KiB and one carrying a
//! 2 MiB attachment in one sync while the link is cut three times, for 10 s each, at
//! 20%, 50% and 80% of the attachment. Then a second document with a fresh 2 MiB
//! attachment is synced, the sync is killed with the link down when about half the file
//! has crossed, and a new sync finishes the job.
//!
//! Per outage it reports the bytes going up that the outage destroyed, which is what
//! QUIC had in flight and had to send again; for the whole sync, the items and chunks
//! the session sent against those the hub lacked, so anything the session itself sent
//! twice shows up; and for the killed sync, the items and chunks the new sync sent that
//! the hub already held. Its `goodput_ratio` is how much of the link's rate the sync
//! used while the link was up (see [`Goodput`] for what counts as carried). The issue's bound for what an interruption may cost is one
//! frame (64 KiB) per stream in flight, counted on the upload: the satker's own stream
//! while the hub lacks part of it, and the attachment transfer while the hub lacks
//! chunks.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{rngs::StdRng, RngCore, SeedableRng};
use serde_json::{json, Value};
use sync_protocol::{joins_to, Address, AttachmentRef, Config, StreamId, CHUNK_BYTES};
use tokio::task::JoinHandle;

use super::{
    ceiling,
    fixture::{generate, generate_with_attachment, hub_and_satker, temp_root, Hub},
    measure::{
        check_delivered, marks, origin_payload, origin_progress, payload, sync_via, wire_bytes,
        SyncRun,
    },
    rate, rss,
};
use crate::{
    cli::run::Output,
    device::replica,
    error::{NodeError, Result},
    node::Node,
    transport::{
        impair::{Impairment, Relay, RelayConfig, RelayStats},
        tls::{IDLE_TIMEOUT, KEEP_ALIVE},
    },
};

/// Where in the first attachment the link is cut, as fractions of its bytes.
const CUTS: [f64; 3] = [0.2, 0.5, 0.8];

/// Where in the second attachment the sync is killed.
const KILL_AT: f64 = 0.5;

/// How often the relay's counters are read while waiting for a cut.
const POLL: Duration = Duration::from_millis(10);

/// The path, the outages and the files of one run.
#[derive(Clone, Debug)]
pub(super) struct Setup {
    /// How each direction of the relay misbehaves.
    pub link: Impairment,
    /// How long each outage lasts, and how long the link stays down after the kill.
    pub outage: Duration,
    /// Bytes of each of the two attachments.
    pub attachment_bytes: usize,
    /// Seed of the relay's dice and of the attachments' bytes.
    pub seed: u64,
}

impl Setup {
    /// The issue's impaired path with three 10 s outages inside a 2 MiB attachment.
    pub fn issue() -> Setup {
        Setup {
            link: Impairment {
                delay: Duration::from_millis(300),
                jitter: Duration::from_millis(50),
                loss: 0.05,
                rate_bits_per_sec: Some(256_000),
                queue_bytes: 64 * 1024,
            },
            outage: Duration::from_secs(10),
            attachment_bytes: 2 * 1024 * 1024,
            seed: 2026,
        }
    }

    fn describe(&self) -> String {
        let l = &self.link;
        format!(
            "delay {} ms ± {} ms, {}% loss, {} kbit/s, {} KiB queue each way, seed {}",
            l.delay.as_millis(),
            l.jitter.as_millis(),
            l.loss * 100.0,
            l.rate_bits_per_sec.map_or(0, |r| r / 1000),
            l.queue_bytes / 1024,
            self.seed
        )
    }
}

/// Incompressible bytes, the same for the same seed: a scan compresses no better.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// The attachment's chunks, each once: a file that repeats a chunk sends it once.
fn distinct_chunks(att: &AttachmentRef) -> Vec<Address> {
    let mut distinct = att.chunks.clone();
    distinct.sort();
    distinct.dedup();
    distinct
}

/// How many distinct chunks the attachment has.
fn chunk_count(att: &AttachmentRef) -> u64 {
    distinct_chunks(att).len() as u64
}

/// How many of the attachment's distinct chunks the hub holds.
fn held_chunks(hub: &Node, att: &AttachmentRef) -> Result<u64> {
    let mut held = 0;
    for c in distinct_chunks(att) {
        let chunk = crate::schema::CHUNKS.get(&hub.store, &c.to_hex())?;
        held += u64::from(chunk.is_some());
    }
    Ok(held)
}

/// Upload streams with something still to cross: the satker's own stream while the hub
/// lacks part of it, and the attachment while the hub lacks chunks of it.
fn streams_in_flight(hub: &Node, satker: &Node, att: &AttachmentRef) -> Result<u64> {
    let (held, head) = origin_progress(hub, satker)?;
    let chunks_missing = held_chunks(hub, att)? < chunk_count(att);
    Ok(u64::from(held < head) + u64::from(chunks_missing))
}

/// Fails unless the hub holds every chunk of `att` and they join to its SHA-256.
fn check_attachment(hub: &Node, att: &AttachmentRef) -> Result<()> {
    let mut parts = Vec::with_capacity(att.chunks.len());
    for c in &att.chunks {
        match crate::schema::CHUNKS.get(&hub.store, &c.to_hex())? {
            Some(b) if Address::of(&b) == *c => parts.push(b.into_vec()),
            Some(_) => {
                return Err(NodeError::user(format!(
                    "bench: the hub holds an altered chunk of {}",
                    att.name
                )))
            }
            None => {
                return Err(NodeError::user(format!(
                    "bench: the hub lacks chunks of {} after the sync",
                    att.name
                )))
            }
        }
    }
    if !joins_to(&parts, &att.sha256) {
        return Err(NodeError::user(format!(
            "bench: the chunks of {} at the hub do not join to its SHA-256",
            att.name
        )));
    }
    Ok(())
}

/// Fails unless every document of the satker has its receipt on both sides.
fn check_receipts(hub: &Node, satker: &Node) -> Result<u64> {
    let docs = crate::docs::all(&satker.store)?;
    let mut missing = 0;
    for rec in &docs {
        let at_hub = crate::docs::load(&hub.store, &rec.satker, &rec.doc_id)?;
        if rec.delivered_at.is_none() || at_hub.and_then(|r| r.delivered_at).is_none() {
            missing += 1;
        }
    }
    if missing > 0 {
        return Err(NodeError::user(format!(
            "bench: {missing} of {} documents have no receipt on both the hub and the satker",
            docs.len()
        )));
    }
    Ok(docs.len() as u64)
}

/// Starts a sync of `satker` through the relay as a task of its own, so the benchmark
/// can cut the link or kill it while it runs.
fn spawn_sync(satker: &Arc<Node>, relay: &Relay) -> SyncTask {
    let (node, addr) = (satker.clone(), relay.addr());
    tokio::spawn(async move { sync_via(&node, addr).await })
}

/// A sync running as a task of its own.
type SyncTask = JoinHandle<Result<SyncRun>>;

/// The result of a sync task, its panic or cancellation turned into an error.
async fn join(task: &mut SyncTask) -> Result<SyncRun> {
    task.await
        .map_err(|e| NodeError::Transport(format!("a benchmark sync task failed: {e}")))?
}

/// Waits until `bytes` have gone up through the relay; fails if the sync ends first,
/// since a cut after the sync would prove nothing.
async fn wait_for_upload(relay: &Relay, bytes: u64, task: &mut SyncTask, what: &str) -> Result<()> {
    while relay.stats().up.forwarded_bytes < bytes {
        if task.is_finished() {
            join(task).await?;
            return Err(NodeError::user(format!(
                "bench: the sync finished before {what}; the attachment crossed too fast to cut"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// One outage and what it cost.
struct Cut {
    /// Where in the attachment it was meant to land.
    fraction: f64,
    /// Bytes gone up through the relay when the link went down.
    up_at_cut: u64,
    /// Chunks of the attachment the hub held then.
    chunks_held: u64,
    /// Upload streams in flight then.
    streams: u64,
    /// The relay's counters as the link went down and as it came back.
    before: RelayStats,
    after: RelayStats,
    /// How long the link was actually down, as the clock saw it, not as asked.
    down_for: Duration,
}

impl Cut {
    fn dropped_up_bytes(&self) -> u64 {
        self.after
            .up
            .dropped_bytes
            .saturating_sub(self.before.up.dropped_bytes)
    }

    /// The issue's bound: one frame per stream in flight.
    fn bound(&self, frame: u64) -> u64 {
        frame * self.streams
    }

    fn json(&self, n: usize, chunks: u64, frame: u64) -> Value {
        let (a, b) = (&self.after, &self.before);
        json!({
            "outage": n,
            "at_fraction": self.fraction,
            "up_bytes_at_cut": self.up_at_cut,
            "hub_chunks_at_cut": self.chunks_held,
            "chunks": chunks,
            "streams_in_flight": self.streams,
            "dropped_up_bytes": self.dropped_up_bytes(),
            "dropped_up_datagrams": a.up.dropped_outage.saturating_sub(b.up.dropped_outage),
            "dropped_down_bytes": a.down.dropped_bytes.saturating_sub(b.down.dropped_bytes),
            "dropped_down_datagrams": a.down.dropped_outage.saturating_sub(b.down.dropped_outage),
            "bound_bytes": self.bound(frame),
            "within_bound": self.dropped_up_bytes() <= self.bound(frame),
        })
    }
}

/// How much of the link's capacity the sync used while the link was up.
///
/// "Carried" is what the relay delivered to the hub during the sync, in the direction
/// of the bulk transfer (up: the documents and the attachment): every datagram that
/// crossed the bottleneck and left the far end, QUIC headers, acks and retransmissions
/// of datagrams lost at random included, since each of them took its turn on the link.
/// The down direction is a link of its own with its own rate, so adding its bytes would
/// count one direction's traffic against the other's capacity. The relay drops random
/// losses before its bottleneck, so a lost datagram takes no capacity and the ratio
/// cannot exceed 1 by more than what the queue held at the start.
struct Goodput {
    /// Bytes the relay delivered up during the sync.
    carried_bytes: u64,
    /// The sync's duration less the time the link was down.
    seconds_outside_outages: f64,
    /// The bottleneck's rate up, in bytes per second; `None` on an unlimited link.
    link_bytes_per_sec: Option<f64>,
}

impl Goodput {
    fn new(carried_bytes: u64, seconds: f64, cuts: &[Cut], link: &Impairment) -> Goodput {
        let down: f64 = cuts.iter().map(|c| c.down_for.as_secs_f64()).sum();
        Goodput {
            carried_bytes,
            seconds_outside_outages: (seconds - down).max(0.0),
            link_bytes_per_sec: link
                .rate_bits_per_sec
                .filter(|r| *r > 0)
                .map(|r| r as f64 / 8.0),
        }
    }

    /// What the link could have carried while it was up.
    fn capacity(&self) -> Option<f64> {
        self.link_bytes_per_sec
            .map(|r| r * self.seconds_outside_outages)
            .filter(|c| *c > 0.0)
    }

    /// `bytes` as a fraction of the capacity; `None` on an unlimited link.
    fn ratio_of(&self, bytes: u64) -> Option<f64> {
        self.capacity().map(|c| bytes as f64 / c)
    }

    /// The carried bytes as a fraction of the capacity.
    fn ratio(&self) -> Option<f64> {
        self.ratio_of(self.carried_bytes)
    }

    /// Its keys in the scenario's JSON, with the ratio of the upload's payload alone.
    fn json(&self, payload: u64) -> Value {
        json!({
            "goodput_ratio": self.ratio(),
            "carried_bytes": self.carried_bytes,
            "seconds_outside_outages": self.seconds_outside_outages,
            "link_bytes_per_sec": self.link_bytes_per_sec,
            "payload_goodput_ratio": self.ratio_of(payload),
        })
    }
}

/// Cuts the link for `outage`, noting where the transfer stood and what was lost.
async fn cut(
    relay: &Relay,
    hub: &Node,
    satker: &Node,
    att: &AttachmentRef,
    outage: Duration,
    fraction: f64,
) -> Result<Cut> {
    let (chunks_held, streams) = (held_chunks(hub, att)?, streams_in_flight(hub, satker, att)?);
    let before = relay.stats();
    relay.set_link(false);
    let went_down = Instant::now();
    tokio::time::sleep(outage).await;
    relay.set_link(true);
    let down_for = went_down.elapsed();
    Ok(Cut {
        fraction,
        up_at_cut: before.up.forwarded_bytes,
        chunks_held,
        streams,
        before,
        after: relay.stats(),
        down_for,
    })
}

/// Waits until the hub holds no connection of `satker`. On a lossy path the closing
/// frame of a finished sync can be lost, and the hub then keeps its connection until its
/// idle timeout; the killed sync's connection, which the hub also keeps, and the one
/// that resumes it must be the device's only two, the most the hub admits.
async fn wait_for_release(hub: &Node, satker: &Node) -> Result<()> {
    let deadline = Instant::now() + IDLE_TIMEOUT + KEEP_ALIVE;
    while hub.live.count(&satker.node_id()) > 0 {
        if Instant::now() > deadline {
            return Err(NodeError::user(
                "bench: the hub still holds the satker's finished sync past its idle timeout",
            ));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// What the sync after a killed one sent that the hub already held.
struct Resume {
    /// Chunks of the attachment the killed sync left at the hub.
    chunks_held: u64,
    /// Upload streams the killed sync left unfinished.
    streams: u64,
    /// The sync that finished the job.
    run: SyncRun,
    resent_items: u64,
    resent_item_bytes: u64,
    resent_chunks: u64,
}

impl Resume {
    /// Every resent chunk counted as full, which only the last of a file may not be.
    fn resent_bytes(&self) -> u64 {
        self.resent_item_bytes + self.resent_chunks * CHUNK_BYTES as u64
    }
}

/// Syncs a document with a fresh attachment, kills the sync about half way through the
/// file, and measures what a new sync sends again.
async fn kill_and_resume(
    hub: &Hub,
    satker: &Arc<Node>,
    relay: &Relay,
    att: &AttachmentRef,
    setup: &Setup,
) -> Result<Resume> {
    wait_for_release(&hub.node, satker).await?;
    let (held, head) = origin_progress(&hub.node, satker)?;
    let (_, item_bytes) = origin_payload(satker, held, head)?;
    let threshold = relay.stats().up.forwarded_bytes
        + item_bytes
        + (setup.attachment_bytes as f64 * KILL_AT) as u64;
    let mut task = spawn_sync(satker, relay);
    wait_for_upload(relay, threshold, &mut task, "the kill").await?;
    // The laptop lid closes: the link goes first, so the dying connection's goodbye is
    // lost as a killed process's would never be sent.
    relay.set_link(false);
    task.abort();
    if let Ok(run) = (&mut task).await {
        run?;
        return Err(NodeError::user(
            "bench: the sync finished before it could be killed",
        ));
    }
    tokio::time::sleep(setup.outage).await;
    // Nothing reaches the hub while the link is down, so this is what the killed sync left.
    let chunks_held = held_chunks(&hub.node, att)?;
    if chunks_held == 0 || chunks_held == chunk_count(att) {
        return Err(NodeError::user(format!(
            "bench: the kill came when the hub held {chunks_held} of {} chunks; it must land inside the attachment",
            chunk_count(att)
        )));
    }
    let streams = streams_in_flight(&hub.node, satker, att)?;
    let origin = StreamId::Origin(satker.node_id());
    let remembered = replica::hub_acked(satker, &origin)?.unwrap_or(0);
    let (pos_before, _) = origin_progress(&hub.node, satker)?;
    relay.set_link(true);
    let run = sync_via(satker, relay.addr()).await?;
    let (pos_after, _) = origin_progress(&hub.node, satker)?;
    let resent_items = run
        .sent_items
        .saturating_sub(pos_after.saturating_sub(pos_before));
    // A session sends its stream in order from where it remembers the hub's ack, so
    // what it sent again are the first items after that.
    let (_, resent_item_bytes) = origin_payload(satker, remembered, remembered + resent_items)?;
    let stored = held_chunks(&hub.node, att)?.saturating_sub(chunks_held);
    Ok(Resume {
        chunks_held,
        streams,
        resent_items,
        resent_item_bytes,
        resent_chunks: run.sent_chunks.saturating_sub(stored),
        run,
    })
}

/// The goodput line of the text output.
fn goodput_text(g: &Goodput, payload: u64) -> String {
    match (g.ratio(), g.ratio_of(payload), g.link_bytes_per_sec) {
        (Some(ratio), Some(of_payload), Some(rate)) => format!(
            "goodput: {} bytes delivered up in {:.1} s outside the outages on a {rate:.0} bytes/s link: \
             {ratio:.2} of its capacity ({of_payload:.2} counting payload only)",
            g.carried_bytes, g.seconds_outside_outages,
        ),
        _ => format!(
            "goodput: {} bytes delivered up in {:.1} s outside the outages on an unlimited link",
            g.carried_bytes, g.seconds_outside_outages,
        ),
    }
}

/// Runs the scenario with `docs` plain documents on the path and outages of `setup`.
pub(super) async fn run(docs: usize, doc_bytes: usize, setup: &Setup) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs, doc_bytes)?;
    let file = noise(setup.seed, setup.attachment_bytes);
    let first =
        generate_with_attachment(&satker, &signer, (docs, doc_bytes), "lampiran-1.pdf", &file)?;
    let relay = Relay::start(
        hub.addr,
        RelayConfig {
            up: setup.link.clone(),
            down: setup.link.clone(),
            seed: setup.seed,
        },
    )
    .await?;
    let frame = Config::default().frame_bytes as u64;
    let chunks = chunk_count(&first);

    let before = marks(&hub.node, &satker)?;
    let (held, head) = origin_progress(&hub.node, &satker)?;
    let (needed_items, item_bytes) = origin_payload(&satker, held, head)?;
    let needed_chunks = chunks.saturating_sub(held_chunks(&hub.node, &first)?);
    let start = relay.stats();
    let mut task = spawn_sync(&satker, &relay);
    let mut cuts = Vec::with_capacity(CUTS.len());
    for (n, fraction) in CUTS.into_iter().enumerate() {
        // Items cross before any chunk, so past them the bytes measure the attachment.
        let threshold = start.up.forwarded_bytes
            + item_bytes
            + (setup.attachment_bytes as f64 * fraction) as u64;
        let what = format!("outage {}", n + 1);
        wait_for_upload(&relay, threshold, &mut task, &what).await?;
        cuts.push(cut(&relay, &hub.node, &satker, &first, setup.outage, fraction).await?);
    }
    let run = join(&mut task).await?;
    let end = relay.stats();
    let after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    check_attachment(&hub.node, &first)?;
    let outage_drops = (end.up.dropped_outage + end.down.dropped_outage)
        .saturating_sub(start.up.dropped_outage + start.down.dropped_outage);
    if outage_drops == 0 {
        return Err(NodeError::user(
            "bench: the outages dropped nothing; they missed the transfer",
        ));
    }
    let (items, item_payload) = payload(&hub.node, &satker, before, after)?;
    let payload_bytes = item_payload + first.size;
    let up_bytes = end
        .up
        .forwarded_bytes
        .saturating_sub(start.up.forwarded_bytes);
    let up_payload = item_bytes + first.size;
    let resent_items = run.sent_items.saturating_sub(needed_items);
    let resent_chunks = run.sent_chunks.saturating_sub(needed_chunks);
    let goodput = Goodput::new(up_bytes, run.seconds, &cuts, &setup.link);

    let second = generate_with_attachment(
        &satker,
        &signer,
        (docs + 1, doc_bytes),
        "lampiran-2.pdf",
        &noise(setup.seed.wrapping_add(1), setup.attachment_bytes),
    )?;
    let resume = kill_and_resume(&hub, &satker, &relay, &second, setup).await?;
    relay.stop();
    check_delivered(&hub.node, &satker)?;
    check_attachment(&hub.node, &second)?;
    let receipts = check_receipts(&hub.node, &satker)?;

    let outages_within = cuts.iter().all(|c| c.dropped_up_bytes() <= c.bound(frame));
    let resume_bound = frame * resume.streams;
    let resent_within_bound = resume.resent_bytes() <= resume_bound;
    let synced = docs + 1;
    let peak = rss::peak_rss_bytes();
    let path = setup.describe();
    let l = &setup.link;
    let mut json = json!({
        "scenario": "outage",
        "docs": docs,
        "synced_docs": synced,
        "seconds": run.seconds,
        "docs_per_sec": rate(synced, run.seconds),
        "wire_bytes": wire_bytes(&run),
        "payload_bytes": payload_bytes,
        "payload_items": items,
        "round_trips": run.wire.round_trips,
        "round_trips_method": "flights",
        "peak_rss_bytes": peak,
        "path": {
            "delay_ms": l.delay.as_millis() as u64,
            "jitter_ms": l.jitter.as_millis() as u64,
            "loss": l.loss,
            "rate_bits_per_sec": l.rate_bits_per_sec,
            "queue_bytes": l.queue_bytes,
            "seed": setup.seed,
        },
        "outage_seconds": setup.outage.as_secs_f64(),
        "attachment_bytes": setup.attachment_bytes,
        "frame_bytes": frame,
        "outages": cuts.iter().enumerate().map(|(n, c)| c.json(n + 1, chunks, frame)).collect::<Vec<_>>(),
        "outages_within_bound": outages_within,
        "up_forwarded_bytes": up_bytes,
        "up_payload_bytes": up_payload,
        "sent_items": run.sent_items,
        "needed_items": needed_items,
        "resent_items": resent_items,
        "sent_chunks": run.sent_chunks,
        "needed_chunks": needed_chunks,
        "resent_chunks": resent_chunks,
        "resume": {
            "killed_at_fraction": KILL_AT,
            "hub_chunks_at_kill": resume.chunks_held,
            "chunks": chunk_count(&second),
            "streams_in_flight": resume.streams,
            "seconds": resume.run.seconds,
            "sent_items": resume.run.sent_items,
            "sent_chunks": resume.run.sent_chunks,
            "resent_items": resume.resent_items,
            "resent_item_bytes": resume.resent_item_bytes,
            "resent_chunks": resume.resent_chunks,
            "resent_bytes": resume.resent_bytes(),
            "bound_bytes": resume_bound,
        },
        "resent_within_bound": resent_within_bound,
        "receipts": receipts,
        "attachments_complete": true,
    });
    // Merged rather than written inline: one json! of every key exceeds the macro's
    // recursion limit.
    if let (Some(all), Value::Object(more)) = (json.as_object_mut(), goodput.json(up_payload)) {
        all.extend(more);
    }
    let yes = |ok: bool| if ok { "yes" } else { "NO" };
    let mut text = format!(
        "outage: {docs} documents of ~10 KiB and one with a {:.1} MiB attachment delivered in one sync of {:.1} s \
         ({:.2} documents/s) through a relay ({path}), cut {} times for {} s\n",
        rss::mib(first.size),
        run.seconds,
        rate(synced, run.seconds),
        cuts.len(),
        setup.outage.as_secs_f64(),
    );
    for (n, c) in cuts.iter().enumerate() {
        text.push_str(&format!(
            "outage {} at {:.0}% of the attachment (hub held {}/{chunks} chunks): {} bytes up lost in flight, \
             bound {} ({} stream(s) x {frame}): {}\n",
            n + 1,
            c.fraction * 100.0,
            c.chunks_held,
            c.dropped_up_bytes(),
            c.bound(frame),
            c.streams,
            yes(c.dropped_up_bytes() <= c.bound(frame)),
        ));
    }
    text.push_str(&format!(
        "session: {} of {needed_items} items and {} of {needed_chunks} chunks sent, {resent_items} items and \
         {resent_chunks} chunks sent twice\n\
         bytes up the relay: {up_bytes} for {up_payload} payload bytes ({:.2}x)\n\
         {}\n\
         killed sync: at {:.0}% of a second attachment the hub held {}/{} chunks; the next sync sent {} items and \
         {} chunks, {} items and {} chunks of them already at the hub: {} bytes resent, bound {} ({} stream(s) x {frame}): {}\n\
         {receipts} documents have their receipts and both attachments are complete\n\
         wire bytes: {} for {payload_bytes} payload bytes of {items} items and {} chunks; {} flights; peak RSS {}",
        run.sent_items,
        run.sent_chunks,
        up_bytes as f64 / up_payload as f64,
        goodput_text(&goodput, up_payload),
        KILL_AT * 100.0,
        resume.chunks_held,
        chunk_count(&second),
        resume.run.sent_items,
        resume.run.sent_chunks,
        resume.resent_items,
        resume.resent_chunks,
        resume.resent_bytes(),
        resume_bound,
        resume.streams,
        yes(resent_within_bound),
        wire_bytes(&run),
        run.sent_chunks,
        run.wire.round_trips,
        rss::rss_text(peak),
    ));
    let mut out = Output::new(json, text);
    // The chunks are stored and hashed like items, but carry no signature.
    let work = ceiling::Work {
        stored_items: (items + needed_chunks) as f64,
        ..ceiling::Work::new(
            synced,
            items,
            wire_bytes(&run),
            payload_bytes,
            rate(synced, run.seconds),
        )
    };
    ceiling::relate(&mut out, &work);
    Ok(out)
}
