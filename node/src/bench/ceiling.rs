//! `ceiling`: this machine's raw limits, measured in the same run as a scenario, and
//! what they allow in documents per second.
//!
//! Four limits, each measured for a short, fixed time ([`PART_BUDGET`]) on one thread
//! (QUIC: both ends on a runtime of their own). Verification and hashing are timed by
//! the thread's own CPU time, so other load on the machine does not lower them; the
//! store and QUIC, which wait on the disk and on other threads, by wall time:
//! - ed25519 verifications per second, one by one exactly as
//!   [`sync_protocol::PublicKey::verify`] does them (`verify_strict`), and in batches of
//!   [`BATCH`] different keys and messages with `ed25519_dalek::verify_batch`, each key
//!   decoded from its 32 bytes as it arrives in an item;
//! - durable store writes per second: a real [`storage::Store`], one `write` per frame's
//!   worth of items and one `flush` per flight of frames ([`flush_group`]), as
//!   `replica::receive_frame` and the session's group commit do;
//! - QUIC bytes per second over one stream on loopback, with the project's own TLS and
//!   transport configs (an enrolled device dialling a hub);
//! - SHA-256 bytes per second over item-sized buffers.
//!
//! [`relate`] converts each limit into documents per second by what a scenario moved
//! per document and adds the tightest to the scenario's report; it runs after the
//! scenario's timed part, so it never disturbs it.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sync_protocol::{DocKind, Jabatan, SecretKey};

use crate::{
    cli::run::Output,
    clock,
    error::{NodeError, Result},
    satker::compose::{self, SignerRef},
};

mod parts;

pub(super) use parts::Batch;
use parts::{quic_bytes_per_sec, sha256_bytes_per_sec, store_writes_per_sec};

/// How long each limit is measured. Long enough to be steady, short enough that a whole
/// measurement of the five takes a few seconds in a release build and a debug one.
const PART_BUDGET: Duration = Duration::from_millis(400);

/// Signatures per batch: the hub verifies what arrives in a frame together.
pub(super) const BATCH: usize = 64;

/// The smallest and largest item size measured: a stamp must fit, and an item can be
/// no larger than the protocol allows.
const MIN_ITEM_BYTES: usize = 64;
const MAX_ITEM_BYTES: usize = sync_protocol::MAX_ITEM_BYTES;

/// The satker the modelled documents belong to.
const MODEL_SATKER: &str = "100001";

/// How a receiving replica commits items of `item_bytes`: one store write per frame
/// (every item of the frame and its position), and one flush per flight, which is up to
/// the credit a receiver grants (the frames that arrive while the last flush runs).
/// Returns (items per write, writes per flush). Change this with the ingest policy.
pub(super) fn flush_group(item_bytes: usize) -> (usize, usize) {
    let config = sync_protocol::Config::default();
    let per_frame = (config.frame_bytes / item_bytes.max(1)).max(1);
    (per_frame, config.credit.max(1))
}

/// The machine's raw limits, as measured.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rates {
    /// Item size the verification, store and hashing figures were measured with.
    pub item_bytes: usize,
    /// Single `verify_strict` verifications per second.
    pub verify_per_sec: f64,
    /// Verifications per second in batches of [`BATCH`].
    pub batch_verify_per_sec: f64,
    /// Durable item writes per second, written and flushed as [`flush_group`] says.
    pub store_writes_per_sec: f64,
    /// QUIC stream bytes per second on loopback.
    pub quic_bytes_per_sec: f64,
    /// SHA-256 bytes per second.
    pub sha256_bytes_per_sec: f64,
    /// Bytes the QUIC measurement moved.
    pub quic_bytes: u64,
    /// Time the whole measurement took.
    pub seconds: f64,
}

impl Rates {
    /// The raw figures under the keys the `ceiling` scenario reports.
    fn json(&self) -> Value {
        json!({
            "ed25519_verify_per_sec": self.verify_per_sec,
            "ed25519_batch_verify_per_sec": self.batch_verify_per_sec,
            "store_writes_per_sec": self.store_writes_per_sec,
            "quic_bytes_per_sec": self.quic_bytes_per_sec,
            "sha256_bytes_per_sec": self.sha256_bytes_per_sec,
            "item_bytes": self.item_bytes,
            "batch_size": BATCH,
            "flush_group_items": flush_group(self.item_bytes).0 * flush_group(self.item_bytes).1,
            "quic_bytes": self.quic_bytes,
            "measure_seconds": self.seconds,
            "cpu_bound_clock": if cpu_clock_available() { "thread CPU time" } else { "wall time" },
        })
    }

    /// The raw figures for people, one line each.
    fn text(&self) -> String {
        format!(
            "ed25519: {:.0} verifications/s one by one, {:.0}/s in batches of {BATCH}\n\
             store: {:.0} durable writes/s of {} bytes, one write per {} items, one flush per {} writes\n\
             QUIC loopback: {:.1} MiB/s ({:.1} MiB over one stream)\n\
             SHA-256: {:.1} MiB/s over {} byte buffers",
            self.verify_per_sec,
            self.batch_verify_per_sec,
            self.store_writes_per_sec,
            self.item_bytes,
            flush_group(self.item_bytes).0,
            flush_group(self.item_bytes).1,
            self.quic_bytes_per_sec / (1024.0 * 1024.0),
            self.quic_bytes as f64 / (1024.0 * 1024.0),
            self.sha256_bytes_per_sec / (1024.0 * 1024.0),
            self.item_bytes,
        )
    }
}

/// Measures every limit with items of `item_bytes`. Blocks for a few seconds; on a
/// multi-threaded runtime it lets the other tasks move to another worker meanwhile.
pub(super) fn measure(item_bytes: usize) -> Result<Rates> {
    let item_bytes = item_bytes.clamp(MIN_ITEM_BYTES, MAX_ITEM_BYTES);
    let on_multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let work = || measure_here(item_bytes);
    if on_multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

fn measure_here(item_bytes: usize) -> Result<Rates> {
    let started = Instant::now();
    let batch = Batch::new(BATCH, item_bytes);
    let verify_per_sec = per_second(Clock::Cpu, || {
        if batch.verify_each() {
            Ok(BATCH as u64)
        } else {
            Err(NodeError::user("bench: a valid signature failed to verify"))
        }
    })?;
    let batch_verify_per_sec = per_second(Clock::Cpu, || {
        if batch.verify_batch() {
            Ok(BATCH as u64)
        } else {
            Err(NodeError::user("bench: a valid batch failed to verify"))
        }
    })?;
    let store_writes_per_sec = store_writes_per_sec(item_bytes)?;
    let (quic_bytes, quic_bytes_per_sec) = quic_bytes_per_sec()?;
    let sha256_bytes_per_sec = sha256_bytes_per_sec(item_bytes)?;
    Ok(Rates {
        item_bytes,
        verify_per_sec,
        batch_verify_per_sec,
        store_writes_per_sec,
        quic_bytes_per_sec,
        sha256_bytes_per_sec,
        quic_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How a part is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    /// Wall time: for work that waits on the disk or on another thread.
    Wall,
    /// The measuring thread's own time on a CPU, so that other load on the machine
    /// (builds, the scenario's leftovers) does not lower a CPU-bound limit; wall time
    /// where the kernel does not report it.
    Cpu,
}

/// Nanoseconds the calling thread has run on a CPU, where Linux reports it.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Whether [`Clock::Cpu`] parts are timed by CPU time here (else by wall time).
fn cpu_clock_available() -> bool {
    thread_cpu_ns().is_some()
}

/// Runs `unit` once to warm up, then again and again for [`PART_BUDGET`] of `clock`
/// (and never more than four times that of wall time, on a machine too loaded to give
/// the thread its CPU); what the timed runs returned (operations or bytes), per second.
fn per_second(clock: Clock, mut unit: impl FnMut() -> Result<u64>) -> Result<f64> {
    unit()?;
    let cpu = match clock {
        Clock::Cpu => thread_cpu_ns(),
        Clock::Wall => None,
    };
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        done += unit()?;
        let wall = started.elapsed();
        let spent = match (cpu, thread_cpu_ns()) {
            (Some(from), Some(now)) => Duration::from_nanos(now.saturating_sub(from)),
            _ => wall,
        };
        if spent >= PART_BUDGET || wall >= PART_BUDGET * 4 {
            return Ok(done as f64 / spent.as_secs_f64().max(1e-9));
        }
    }
}

/// What a scenario moved, to convert each limit into documents per second: the
/// documents that crossed in its timed part and, for those documents, the items the
/// receiving side verified, the items it stored, the bytes on the wire and the payload
/// bytes hashed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Work {
    /// Documents that crossed in the timed part.
    pub docs: f64,
    /// Items their receiver verified (one signature each).
    pub verified_items: f64,
    /// Items their receiver stored (one write each).
    pub stored_items: f64,
    /// Bytes on the wire, both ways.
    pub wire_bytes: f64,
    /// Payload bytes, each hashed once for its address.
    pub hashed_bytes: f64,
    /// The scenario's own rate.
    pub docs_per_sec: f64,
}

impl Work {
    /// The usual case: every item that crossed is verified and stored by its receiver.
    pub fn new(
        docs: usize,
        items: u64,
        wire_bytes: u64,
        payload_bytes: u64,
        docs_per_sec: f64,
    ) -> Work {
        Work {
            docs: docs as f64,
            verified_items: items as f64,
            stored_items: items as f64,
            wire_bytes: wire_bytes as f64,
            hashed_bytes: payload_bytes as f64,
            docs_per_sec,
        }
    }

    /// The mean size of the items stored: a frame of them is what one flush covers.
    fn item_bytes(&self) -> usize {
        if self.stored_items > 0.0 {
            (self.hashed_bytes / self.stored_items).round() as usize
        } else {
            super::DEFAULT_DOC_BYTES
        }
    }
}

/// Each limit in documents per second for `work`, and the tightest.
#[derive(Clone, Debug)]
pub(super) struct Relation {
    /// Each limit that `work` uses at all, in documents per second, by name.
    pub ceilings: BTreeMap<&'static str, f64>,
    /// The name of the lowest.
    pub tightest: &'static str,
    /// The lowest, in documents per second.
    pub docs_per_sec: f64,
}

/// Converts `rates` into documents per second by `work`'s cost per document. Batched
/// verification counts: that is what the hub does. `None` if the work used none.
pub(super) fn relation(rates: &Rates, work: &Work) -> Option<Relation> {
    let costs = [
        (
            "ed25519_batch_verify",
            rates.batch_verify_per_sec,
            work.verified_items,
        ),
        (
            "store_writes",
            rates.store_writes_per_sec,
            work.stored_items,
        ),
        ("quic_bytes", rates.quic_bytes_per_sec, work.wire_bytes),
        (
            "sha256_bytes",
            rates.sha256_bytes_per_sec,
            work.hashed_bytes,
        ),
    ];
    let ceilings: BTreeMap<&'static str, f64> = costs
        .into_iter()
        .filter(|&(_, _, used)| used > 0.0 && work.docs > 0.0)
        .map(|(name, rate, used)| (name, rate * work.docs / used))
        .collect();
    let (&tightest, &docs_per_sec) = ceilings.iter().min_by(|a, b| a.1.total_cmp(b.1))?;
    Some(Relation {
        ceilings,
        tightest,
        docs_per_sec,
    })
}

/// Measures the limits for `work` and adds them to the scenario's report: `ceilings`,
/// `tightest_ceiling`, `ceiling_docs_per_sec`, `fraction_of_ceiling`, and the raw
/// figures under `ceiling_rates`. Call it after the timed part. A measurement that
/// fails leaves the scenario's own figures standing and says why in `ceiling_error`.
pub(super) fn relate(out: &mut Output, work: &Work) {
    match measure(work.item_bytes()) {
        Ok(rates) => annotate(out, &rates, work),
        Err(e) => {
            for key in [
                "ceilings",
                "tightest_ceiling",
                "ceiling_docs_per_sec",
                "fraction_of_ceiling",
            ] {
                out.json[key] = Value::Null;
            }
            out.json["ceiling_error"] = json!(e.to_string());
            out.text
                .push_str(&format!("\nceiling: could not be measured: {e}"));
        }
    }
}

/// The keys [`relate`] adds, for `rates` as they bear on `work`; the relation, if any.
fn insert(json: &mut Value, rates: &Rates, work: &Work) -> Option<Relation> {
    json["ceiling_rates"] = rates.json();
    let r = relation(rates, work);
    let (ceilings, tightest, docs_per_sec, fraction) = match &r {
        Some(r) => (
            json!(r.ceilings),
            json!(r.tightest),
            json!(r.docs_per_sec),
            json!(work.docs_per_sec / r.docs_per_sec),
        ),
        None => (Value::Null, Value::Null, Value::Null, Value::Null),
    };
    json["ceilings"] = ceilings;
    json["tightest_ceiling"] = tightest;
    json["ceiling_docs_per_sec"] = docs_per_sec;
    json["fraction_of_ceiling"] = fraction;
    r
}

/// Adds `rates` as they bear on `work` to `out`, keys and text.
fn annotate(out: &mut Output, rates: &Rates, work: &Work) {
    let Some(r) = insert(&mut out.json, rates, work) else {
        out.text
            .push_str("\nceiling: the run moved nothing to compare with the machine's limits");
        return;
    };
    let each: Vec<String> = r
        .ceilings
        .iter()
        .map(|(name, v)| format!("{name} {v:.0}"))
        .collect();
    out.text.push_str(&format!(
        "\nceiling (measured after the run): {:.0} documents/s, bounded by {} ({} documents/s); \
         this run reached {:.2} of it",
        r.docs_per_sec,
        r.tightest,
        each.join(", "),
        work.docs_per_sec / r.docs_per_sec,
    ));
}

/// What the bench's documents cost per document, from documents built as `fixture`
/// builds them: a snapshot of `doc_bytes` of fields and its signature each, and one
/// submission per [`sync_protocol::MAX_SPM_PER_SUBMISSION`].
struct Model {
    /// Bytes of one document's snapshot envelope.
    envelope_bytes: usize,
    /// Items per document.
    items: f64,
    /// Envelope bytes per document.
    bytes: f64,
}

impl Model {
    fn of(doc_bytes: usize) -> Result<Model> {
        let device = SecretKey::generate();
        let signer = SecretKey::generate();
        let now = clock::wall();
        let per_submission = sync_protocol::MAX_SPM_PER_SUBMISSION;
        let (mut recs, mut snapshots, mut bytes) = (Vec::new(), 0usize, 0usize);
        for _ in 0..per_submission {
            let doc_id = compose::new_doc_id(DocKind::Spm);
            let mut rec = compose::draft_record(&doc_id, DocKind::Spm, MODEL_SATKER, now);
            let text = "x".repeat(doc_bytes.saturating_sub("keterangan".len()));
            let fields = BTreeMap::from([("keterangan".to_string(), text)]);
            let snapshot = compose::seal_snapshot(
                &device,
                &doc_id,
                DocKind::Spm,
                MODEL_SATKER,
                fields,
                Vec::new(),
                now,
            );
            let signer_ref = SignerRef {
                serial: "0000000001",
                jabatan: Jabatan::Ppspm,
                name: "Siti Rahma",
            };
            let signature = compose::sign(
                &mut rec,
                snapshot.address,
                signer_ref,
                &signer,
                MODEL_SATKER,
                now,
            );
            snapshots += snapshot.bytes.len();
            bytes += snapshot.bytes.len() + signature.bytes.len();
            recs.push(rec);
        }
        let (_, submission) =
            compose::seal_submission(&device, MODEL_SATKER, "operator01", &recs, now)?;
        bytes += submission.bytes.len();
        let n = per_submission as f64;
        Ok(Model {
            envelope_bytes: snapshots / per_submission,
            items: (2.0 * n + 1.0) / n,
            bytes: bytes as f64 / n,
        })
    }
}

/// The `ceiling` scenario: the limits for documents of `doc_bytes`, and what they allow
/// for `docs` of the bench's documents (each its snapshot, its signature and a share of
/// a submission, crossing once with no wire overhead).
pub(super) async fn run(docs: usize, doc_bytes: usize) -> Result<Output> {
    let model = Model::of(doc_bytes)?;
    let rates = measure(model.envelope_bytes)?;
    let mut work = Work {
        docs: 1.0,
        verified_items: model.items,
        stored_items: model.items,
        wire_bytes: model.bytes,
        hashed_bytes: model.bytes,
        docs_per_sec: 0.0,
    };
    let r = relation(&rates, &work)
        .ok_or_else(|| NodeError::user("bench: the modelled document moves nothing"))?;
    work.docs_per_sec = r.docs_per_sec;
    let seconds = docs as f64 / r.docs_per_sec;
    let peak = super::rss::peak_rss_bytes();
    let mut json = json!({
        "scenario": "ceiling",
        "docs": docs,
        "seconds": seconds,
        "docs_per_sec": r.docs_per_sec,
        "wire_bytes": (model.bytes * docs as f64).round() as u64,
        "payload_bytes": (model.bytes * docs as f64).round() as u64,
        "payload_items": (model.items * docs as f64).round() as u64,
        "round_trips": 0,
        "round_trips_method": "none: no sync runs; seconds is the least time the tightest limit allows for docs",
        "peak_rss_bytes": peak,
        "doc_bytes": doc_bytes,
        "document_envelope_bytes": model.envelope_bytes,
        "items_per_doc": model.items,
        "payload_bytes_per_doc": model.bytes,
    });
    if let (Value::Object(j), Value::Object(raw)) = (&mut json, rates.json()) {
        j.extend(raw);
    }
    let text = format!(
        "ceiling: this machine's raw limits, measured in {:.2} s\n{}\n\
         per document of {doc_bytes} field bytes ({} byte snapshot, {:.1} items, {:.0} payload bytes): \
         at most {:.0} documents/s, bounded by {} ({} documents/s); {docs} documents need at least {seconds:.3} s; peak RSS {}",
        rates.seconds,
        rates.text(),
        model.envelope_bytes,
        model.items,
        model.bytes,
        r.docs_per_sec,
        r.tightest,
        r.ceilings
            .iter()
            .map(|(name, v)| format!("{name} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        super::rss::rss_text(peak),
    );
    insert(&mut json, &rates, &work);
    Ok(Output::new(json, text))
}
