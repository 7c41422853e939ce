//! `espm bench`: measurements in one process, on loopback, over real QUIC and real sled
//! stores in a temporary directory. A hub and one or more satker nodes each get their
//! own data directory; the satkers' documents are generated straight into their stores
//! (signed and queued by the same code as `sign` and `submit`), so thousands of
//! documents cost seconds to prepare and only the sync itself is timed.
//!
//! Scenarios: `ingest`, `fanin` and `pull` measure throughput ([`throughput`]),
//! `incremental` measures the cost of a small sync on top of a large history, round
//! trips included ([`incremental`]), `limits` has hostile devices break the hub's
//! limits while a good satker syncs ([`limits`]), and `outage` measures what a satker
//! sends again when its link fails or its sync is killed mid-attachment ([`outage`]).

mod fixture;
mod hostile;
mod idle;
mod incremental;
mod limits;
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

/// Characters of free text (`keterangan`) per generated document, so a document's snapshot
/// is about 10 KiB, like a real SPM with its description of the payment.
pub const DOC_TEXT_BYTES: usize = 10_000;

/// Documents the `incremental` scenario adds after the initial sync.
pub const INCREMENTAL_NEW_DOCS: usize = 10;

/// The scenarios, in the order the CLI lists them.
pub const SCENARIOS: [&str; 6] = ["ingest", "fanin", "incremental", "pull", "limits", "outage"];

/// Runs one benchmark scenario and reports what it measured.
pub async fn run(args: &BenchArgs) -> Result<Output> {
    let (scenario, docs, satkers) = (args.scenario.as_str(), args.docs, args.satkers);
    if !SCENARIOS.contains(&scenario) {
        return Err(NodeError::user(format!(
            "unknown scenario '{scenario}'; choose ingest, fanin, incremental, pull, limits or outage"
        )));
    }
    if docs == 0 {
        return Err(NodeError::user("--docs must be at least 1"));
    }
    if satkers == 0 {
        return Err(NodeError::user("--satkers must be at least 1"));
    }
    if args.wait_idle && scenario != "limits" {
        return Err(NodeError::user(
            "--wait-idle belongs to the limits scenario only",
        ));
    }
    match scenario {
        "incremental" => incremental::run(docs).await,
        "ingest" => throughput::ingest(docs).await,
        "fanin" => throughput::fanin(docs, satkers).await,
        "pull" => throughput::pull(docs).await,
        "outage" => outage::run(docs, &outage::Setup::issue()).await,
        _ => limits::run(docs, args.wait_idle).await,
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

/// The contract's JSON keys plus the text for people, from one run's figures.
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
    Output::new(json, text)
}
