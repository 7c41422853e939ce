//! `limits`: first the finding, one key holding 24 connections with unfinished
//! near-limit messages on each, with the process's peak RSS before and after; then,
//! while a well-behaved satker syncs its documents to the hub, hostile devices
//! (enrolled, so TLS admits them) break each limit the hub enforces: message size,
//! items per frame, item size, concurrent streams, and idle connections. The report
//! says what each hostile device observed; the scenario fails outright unless the good
//! satker's sync completes with every document delivered and the hub still answers a
//! sync afterwards.

use std::time::Instant;

use serde_json::json;

use super::{
    ceiling,
    fixture::{generate, hub_and_satker, temp_root},
    hostile, idle,
    measure::{check_delivered, marks, payload, sync, wire_bytes},
    rate, rss,
};
use crate::{
    cli::run::Output,
    error::{NodeError, Result},
};

/// Runs the scenario with `docs` documents for the good satker; `wait_idle` also waits
/// out the hub's idle timeout (over a minute).
pub(super) async fn run(docs: usize, doc_bytes: usize, wait_idle: bool) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs, doc_bytes)?;
    let mut keys = Vec::new();
    for _ in 0..7 {
        keys.push(hostile::enrolled(&hub).await?);
    }
    let [flooder, message, items, item, streams, silent, quiet]: [_; 7] = keys
        .try_into()
        .map_err(|_| NodeError::user("bench: could not enroll the hostile devices"))?;
    // On its own, first, so the peak RSS it reports is the flood's and nothing else's.
    let flood = hostile::connection_flood(&hub, flooder).await;

    let before = marks(&hub.node, &satker)?;
    let good = async {
        let run = sync(&satker, &hub).await;
        (run, Instant::now())
    };
    let attacks = async {
        let started = Instant::now();
        let (a, b, c, d, mut idle) = tokio::join!(
            hostile::oversized_message(&hub, message),
            hostile::too_many_items(&hub, items),
            hostile::oversized_item(&hub, item),
            hostile::too_many_streams(&hub, streams),
            idle::run(&hub, silent, quiet, wait_idle),
        );
        let mut all = vec![flood.violation.clone(), a, b, c, d];
        all.append(&mut idle);
        (all, started)
    };
    let ((good, good_done), (violations, attacks_started)) = tokio::join!(good, attacks);
    let good = good.map_err(|e| {
        NodeError::user(format!(
            "bench: the good satker's sync failed while hostile devices attacked the hub: {e}"
        ))
    })?;
    let after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    let (payload_items, payload_bytes) = payload(&hub.node, &satker, before, after)?;
    let probe = sync(&satker, &hub).await.map_err(|e| {
        NodeError::user(format!(
            "bench: the hub stopped answering after the hostile devices: {e}"
        ))
    })?;

    let overlapped = attacks_started < good_done;
    let tested: Vec<_> = violations.iter().filter(|v| v.enforced.is_some()).collect();
    let all_enforced = tested.iter().all(|v| v.enforced == Some(true));
    let skipped = violations.len() - tested.len();
    let docs_per_sec = rate(docs, good.seconds);
    let wire_bytes = wire_bytes(&good);
    let peak = rss::peak_rss_bytes();
    let json = json!({
        "scenario": "limits",
        "docs": docs,
        "seconds": good.seconds,
        "docs_per_sec": docs_per_sec,
        "wire_bytes": wire_bytes,
        "payload_bytes": payload_bytes,
        "payload_items": payload_items,
        "round_trips": good.wire.round_trips,
        "round_trips_method": "flights",
        "peak_rss_bytes": peak,
        "violations": violations.iter().map(|v| v.json()).collect::<Vec<_>>(),
        "flood": flood.json(),
        "all_enforced": all_enforced,
        "skipped": skipped,
        "overlapped": overlapped,
        "good_sync_completed": true,
        "hub_answered_after": true,
        "probe_seconds": probe.seconds,
    });
    let mut text = format!(
        "limits: a good satker delivered {docs} documents in {:.3} s ({docs_per_sec:.1} documents/s, {wire_bytes} wire bytes){} while hostile devices broke the hub's limits:\n",
        good.seconds,
        if overlapped { "" } else { " (it finished before the attacks began)" },
    );
    for v in &violations {
        text.push_str(&v.text());
        text.push('\n');
    }
    text.push_str(&format!(
        "the finding (one key, {} connections, {} unfinished messages of {} bytes each): the hub kept {} connections; peak RSS {} before, {} after\n",
        hostile::FLOOD_CONNECTIONS,
        crate::transport::tls::MAX_CONCURRENT_STREAMS,
        sync_protocol::MAX_MESSAGE_BYTES,
        flood.kept,
        rss::rss_text(flood.peak_rss.0),
        rss::rss_text(flood.peak_rss.1),
    ));
    text.push_str(&format!(
        "every limit tested held: {}{}\n\
         the hub stayed up: all {docs} documents arrived and it answered another sync in {:.3} s; peak RSS {}",
        if all_enforced { "yes" } else { "NO" },
        if skipped > 0 {
            format!(" ({skipped} skipped)")
        } else {
            String::new()
        },
        probe.seconds,
        rss::rss_text(peak),
    ));
    let mut out = Output::new(json, text);
    let work = ceiling::Work::new(docs, payload_items, wire_bytes, payload_bytes, docs_per_sec);
    ceiling::relate(&mut out, &work);
    Ok(out)
}
