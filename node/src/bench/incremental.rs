//! `incremental`: a satker holding `docs` synced documents adds ten and syncs again.
//! The target: at most 3 round trips, and wire bytes at most 1.3 x the bytes of the
//! items that crossed plus 4 KiB.
//!
//! Two syncs of ten new documents each are measured. The first runs on plain loopback
//! and gives the time and the bytes. The second runs through the impairment relay with
//! a fixed one-way delay and nothing else, so the round-trip time is known and
//! `elapsed / RTT` counts the round trips the sync really cost: handshake, protocol
//! exchanges and the rounds congestion control adds while its window grows. The
//! driver's send-then-wait flights measure none of that: they miss the handshake and
//! the window, and count flights that overlap in time as separate. A third sync through
//! the relay with nothing new gives the fixed cost every sync pays.

use std::time::Duration;

use serde_json::json;

use super::{
    ceiling,
    fixture::{generate, hub_and_satker, temp_root},
    measure,
    measure::{check_delivered, marks, payload, sync, sync_via, wire_bytes},
    rate, rss, INCREMENTAL_NEW_DOCS,
};
use crate::{
    cli::run::Output,
    error::{NodeError, Result},
    transport::impair::{Impairment, Relay, RelayConfig},
};

/// One-way delay of the relayed sync, each direction; the RTT is twice this.
const ONE_WAY_DELAY: Duration = Duration::from_millis(50);

/// The most round trips the incremental sync may take.
pub(super) const ROUND_TRIP_TARGET: f64 = 3.0;

/// Seed of the relay's dice; with no loss or jitter configured it decides nothing.
const RELAY_SEED: u64 = 1;

/// `seconds` in round trips of `rtt`, to one decimal.
fn round_trips(seconds: f64, rtt: Duration) -> f64 {
    (seconds / rtt.as_secs_f64() * 10.0).round() / 10.0
}

/// A path that only delays: no jitter, loss or rate limit, so every extra round trip
/// shows up as exactly one RTT of elapsed time.
fn delay_only() -> Impairment {
    Impairment {
        delay: ONE_WAY_DELAY,
        ..Impairment::none()
    }
}

/// Runs the scenario on top of `docs` already synced documents.
pub(super) async fn run(docs: usize, doc_bytes: usize) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs, doc_bytes)?;
    sync(&satker, &hub).await?;
    check_delivered(&hub.node, &satker)?;

    generate(&satker, &signer, INCREMENTAL_NEW_DOCS, doc_bytes)?;
    let before = marks(&hub.node, &satker)?;
    let run = sync(&satker, &hub).await?;
    let after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    let (items, payload_bytes) = payload(&hub.node, &satker, before, after)?;

    generate(&satker, &signer, INCREMENTAL_NEW_DOCS, doc_bytes)?;
    let relay = Relay::start(
        hub.addr,
        RelayConfig {
            up: delay_only(),
            down: delay_only(),
            seed: RELAY_SEED,
        },
    )
    .await?;
    let slow_before = marks(&hub.node, &satker)?;
    let slow = sync_via(&satker, relay.addr()).await?;
    let slow_after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    let (slow_items, slow_payload) = payload(&hub.node, &satker, slow_before, slow_after)?;
    // The same path with nothing new: the fixed cost every sync pays, which tells the
    // round trips the ten documents added from those any sync takes.
    let empty = sync_via(&satker, relay.addr()).await?;
    let relay_stats = relay.stats();
    relay.stop();
    let dropped = relay_stats.up.dropped() + relay_stats.down.dropped();
    if dropped > 0 {
        return Err(NodeError::user(format!(
            "bench: the delay-only relay dropped {dropped} datagram(s); the round-trip count would include retransmissions"
        )));
    }

    let rtt = ONE_WAY_DELAY * 2;
    let total_rt = round_trips(slow.seconds, rtt);
    let handshake_rt = round_trips(slow.connect_seconds, rtt);
    let session_rt = round_trips(slow.seconds - slow.connect_seconds, rtt);
    let empty_rt = round_trips(empty.seconds, rtt);
    let round_trips_met = total_rt <= ROUND_TRIP_TARGET;
    let wire_bytes = wire_bytes(&run);
    let bytes_limit = payload_bytes * 13 / 10 + 4096;
    let bytes_met = wire_bytes <= bytes_limit;
    let within_limits = round_trips_met && bytes_met;
    let peak = rss::peak_rss_bytes();
    let json = json!({
        "scenario": "incremental",
        "docs": docs,
        "new_docs": INCREMENTAL_NEW_DOCS,
        "seconds": run.seconds,
        "docs_per_sec": rate(INCREMENTAL_NEW_DOCS, run.seconds),
        "wire_bytes": wire_bytes,
        "payload_bytes": payload_bytes,
        "payload_items": items,
        "round_trips": total_rt,
        "round_trips_method": "latency: time from just before dialling until the sync returns, through a relay adding a fixed delay, divided by the RTT",
        "rtt_ms": rtt.as_millis() as u64,
        "handshake_round_trips": handshake_rt,
        "session_round_trips": session_rt,
        "empty_sync_round_trips": empty_rt,
        "latency_run_seconds": slow.seconds,
        "latency_run_wire_bytes": measure::wire_bytes(&slow),
        "latency_run_payload_bytes": slow_payload,
        "latency_run_payload_items": slow_items,
        "flights": run.wire.round_trips,
        "round_trip_target": ROUND_TRIP_TARGET,
        "round_trips_met": round_trips_met,
        "bytes_limit": bytes_limit,
        "bytes_met": bytes_met,
        "within_limits": within_limits,
        "peak_rss_bytes": peak,
        "sent_items": run.sent_items,
        "received_items": run.received_items,
        "sent_bytes": run.wire.sent_bytes,
        "received_bytes": run.wire.received_bytes,
        "sent_messages": run.wire.sent_messages,
        "received_messages": run.wire.received_messages,
    });
    let yes = |ok: bool| if ok { "yes" } else { "NO" };
    let text = format!(
        "incremental: {docs} documents already at the hub, {INCREMENTAL_NEW_DOCS} new ones synced in {:.3} s on loopback\n\
         round trips: {total_rt:.1} (target {ROUND_TRIP_TARGET}: {}) = {handshake_rt:.1} QUIC handshake + {session_rt:.1} session, \
         measured as {:.3} s through a relay with {} ms RTT ({} driver flights); a sync with nothing new takes {empty_rt:.1}\n\
         wire bytes:  {wire_bytes} (limit {bytes_limit} = 1.3 x {payload_bytes} payload bytes of {items} items + 4096: {})\n\
         within limits: {}\n\
         messages: {} sent, {} received; peak RSS {}",
        run.seconds,
        yes(round_trips_met),
        slow.seconds,
        rtt.as_millis(),
        run.wire.round_trips,
        yes(bytes_met),
        yes(within_limits),
        run.wire.sent_messages,
        run.wire.received_messages,
        rss::rss_text(peak),
    );
    let mut out = Output::new(json, text);
    let work = ceiling::Work::new(
        INCREMENTAL_NEW_DOCS,
        items,
        wire_bytes,
        payload_bytes,
        rate(INCREMENTAL_NEW_DOCS, run.seconds),
    );
    ceiling::relate(&mut out, &work);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_are_elapsed_over_rtt_to_one_decimal() {
        let rtt = Duration::from_millis(100);
        assert_eq!(round_trips(0.3, rtt), 3.0);
        assert_eq!(round_trips(0.304, rtt), 3.0);
        assert_eq!(round_trips(0.316, rtt), 3.2);
        assert_eq!(round_trips(0.0, rtt), 0.0);
    }
}
