//! `espm bench`: measurements in one process, on loopback, over real QUIC and real sled
//! stores in a temporary directory. A hub and one or more satker nodes each get their
//! own data directory; the satkers' documents are generated straight into their stores
//! (signed and queued by the same code as `sign` and `submit`), so thousands of
//! documents cost seconds to prepare and only the sync itself is timed.
//!
//! Scenarios: `ingest` and `pull` measure throughput ([`throughput`]), `fanin` many
//! satkers at once against a hub in its own process ([`fanin`]),
//! `incremental` measures the cost of a small sync on top of a large history, round
//! trips included ([`incremental`]), `limits` has hostile devices break the hub's
//! limits while a good satker syncs ([`limits`]), and `outage` measures what a satker
//! sends again when its link fails or its sync is killed mid-attachment ([`outage`]).
//! `ceiling` measures the machine's raw limits; every scenario also reports its
//! fraction of the tightest of them, measured after its timed part ([`ceiling`]).

mod ceiling;
mod fanin;
mod fixture;
mod hostile;
mod hubproc;
mod idle;
mod incremental;
mod limits;
mod load;
mod measure;
mod outage;
mod rss;
mod throughput;
mod violation;

#[cfg(test)]
mod tests;

use serde_json::json;

pub use rss::peak_rss_bytes;

use crate::{
    cli::run::Output,
    cli::BenchArgs,
    error::{NodeError, Result},
};

pub use crate::cli::DEFAULT_DOC_BYTES;

/// The smallest `--doc-bytes`: the fields every generated SPM needs besides its text.
pub const MIN_DOC_BYTES: usize = 256;

/// The largest `--doc-bytes`: a document's snapshot must fit in one item.
pub const MAX_DOC_BYTES: usize = 512 * 1024;

/// Documents the `incremental` scenario adds after the initial sync.
pub const INCREMENTAL_NEW_DOCS: usize = 10;

/// The scenarios, in the order the CLI lists them.
pub const SCENARIOS: [&str; 7] = [
    "ingest",
    "fanin",
    "incremental",
    "pull",
    "limits",
    "outage",
    "ceiling",
];

/// Runs one benchmark scenario and reports what it measured.
pub async fn run(args: &BenchArgs) -> Result<Output> {
    let (scenario, docs, satkers) = (args.scenario.as_str(), args.docs, args.satkers);
    let doc_bytes = args.doc_bytes;
    if !SCENARIOS.contains(&scenario) {
        return Err(NodeError::user(format!(
            "unknown scenario '{scenario}'; choose ingest, fanin, incremental, pull, limits, outage or ceiling"
        )));
    }
    if docs == 0 {
        return Err(NodeError::user("--docs must be at least 1"));
    }
    if satkers == 0 {
        return Err(NodeError::user("--satkers must be at least 1"));
    }
    if !(MIN_DOC_BYTES..=MAX_DOC_BYTES).contains(&doc_bytes) {
        return Err(NodeError::user(format!(
            "--doc-bytes must be between {MIN_DOC_BYTES} and {MAX_DOC_BYTES}"
        )));
    }
    if args.wait_idle && scenario != "limits" {
        return Err(NodeError::user(
            "--wait-idle belongs to the limits scenario only",
        ));
    }
    match scenario {
        "incremental" => incremental::run(docs, doc_bytes).await,
        "ingest" => throughput::ingest(docs, doc_bytes).await,
        "fanin" => fanin::run(docs, satkers, doc_bytes).await,
        "pull" => throughput::pull(docs, doc_bytes).await,
        "outage" => outage::run(docs, doc_bytes, &outage::Setup::issue()).await,
        "ceiling" => ceiling::run(docs, doc_bytes).await,
        _ => limits::run(docs, doc_bytes, args.wait_idle).await,
    }
}

/// Documents per second, or 0 for a run too short to time.
fn rate(docs: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        docs as f64 / seconds
    } else {
        0.0
    }
}

/// The figures every throughput scenario reports.
struct Figures<'a> {
    scenario: &'a str,
    docs: usize,
    what: String,
    seconds: f64,
    wire_bytes: u64,
    payload_bytes: u64,
    items: u64,
    /// Driver flights (see [`crate::transport::WireStats::round_trips`]), not latency.
    flights: u64,
}

/// The contract's JSON keys plus the text for people, from one run's figures, with the
/// machine's limits measured after the run ([`ceiling::relate`]).
fn report(f: Figures<'_>) -> Output {
    let rss = peak_rss_bytes();
    let docs_per_sec = rate(f.docs, f.seconds);
    let json = json!({
        "scenario": f.scenario,
        "docs": f.docs,
        "seconds": f.seconds,
        "docs_per_sec": docs_per_sec,
        "wire_bytes": f.wire_bytes,
        "payload_bytes": f.payload_bytes,
        "payload_items": f.items,
        "round_trips": f.flights,
        "round_trips_method": "flights",
        "peak_rss_bytes": rss,
    });
    let text = format!(
        "{}: {} in {:.3} s ({docs_per_sec:.1} documents/s)\n\
         wire bytes: {} ({:.1} MiB) for {} payload bytes of {} items\n\
         round trips: {} flights (times the client sent and then waited); peak RSS {}",
        f.scenario,
        f.what,
        f.seconds,
        f.wire_bytes,
        rss::mib(f.wire_bytes),
        f.payload_bytes,
        f.items,
        f.flights,
        rss::rss_text(rss),
    );
    let mut out = Output::new(json, text);
    let work = ceiling::Work::new(f.docs, f.items, f.wire_bytes, f.payload_bytes, docs_per_sec);
    ceiling::relate(&mut out, &work);
    out
}
