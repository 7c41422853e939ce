//! The idle-connection cases of the `limits` scenario. The hub's QUIC idle timeout is
//! a minute and it waits two for a stream on a quiet connection, so they run only when
//! asked for; otherwise the report names the configured values and says the case was
//! skipped.

use std::time::{Duration, Instant};

use sync_protocol::SecretKey;

use super::{
    fixture::Hub,
    hostile::{closed_within, CASE_TIMEOUT},
    violation::{Outcome, Violation},
};
use crate::{
    error::NodeError,
    transport::impair::{Impairment, Relay, RelayConfig},
    transport::tls::{IDLE_TIMEOUT, KEEP_ALIVE},
    transport::{self, WAIT_DEADLINE},
};

/// How long past the idle timeout to keep waiting before calling a connection open.
const IDLE_MARGIN: Duration = Duration::from_secs(20);

fn idle_configured() -> String {
    format!(
        "QUIC idle timeout {} s; keep-alive pings every {} s from both sides; the hub closes a connection with no stream open for {} s",
        IDLE_TIMEOUT.as_secs(),
        KEEP_ALIVE.as_secs(),
        WAIT_DEADLINE.as_secs()
    )
}

/// The idle-connection cases. Waiting them out takes over a minute, so unless `wait`
/// is set they are reported as skipped with the configured values.
pub(super) async fn run(
    hub: &Hub,
    silent: SecretKey,
    live: SecretKey,
    wait: bool,
) -> Vec<Violation> {
    if !wait {
        let mut v = Violation::new(
            "idle connection",
            idle_configured(),
            "a connection that opens no stream".into(),
        );
        v.outcome = Outcome::Skipped;
        v.enforced = None;
        v.observed = format!(
            "not waited for: it takes over {} s; `espm bench limits --wait-idle` holds a silent and a quiet connection that long",
            WAIT_DEADLINE.as_secs()
        );
        return vec![v];
    }
    let (a, b) = tokio::join!(silent_peer(hub, silent), quiet_peer(hub, live));
    vec![a, b]
}

/// Connects through a relay, then cuts the link: the hub hears nothing from then on.
async fn silent_peer(hub: &Hub, key: SecretKey) -> Violation {
    let v = Violation::new(
        "idle connection (silent peer)",
        idle_configured(),
        "connect, open no stream, then go silent (the link is cut at a relay)".into(),
    );
    let started = Instant::now();
    let me = key.public();
    let run = async {
        let relay = Relay::start(
            hub.addr,
            RelayConfig {
                up: Impairment::none(),
                down: Impairment::none(),
                seed: 1,
            },
        )
        .await?;
        let (endpoint, _conn) =
            transport::connect(&key, hub.id(), relay.addr(), CASE_TIMEOUT).await?;
        relay.set_link(false);
        let cut = Instant::now();
        let event = hub.event_for(me, IDLE_TIMEOUT + IDLE_MARGIN).await;
        endpoint.close(0u32.into(), b"bench done");
        Ok::<_, NodeError>((event, cut))
    };
    match run.await {
        Ok((Some(event), cut)) => {
            let after = event.at.saturating_duration_since(cut).as_secs_f64();
            let how = event
                .closed
                .clone()
                .or(event.error.clone())
                .unwrap_or_else(|| "closed".into());
            Violation {
                outcome: Outcome::TimedOut,
                enforced: Some(after <= (IDLE_TIMEOUT + IDLE_MARGIN).as_secs_f64()),
                observed: format!(
                    "the hub dropped the connection {after:.1} s after it went silent"
                ),
                hub_reason: Some(how),
                connection_open_after: Some(false),
                seconds: started.elapsed().as_secs_f64(),
                ..v
            }
        }
        Ok((None, _)) => Violation {
            outcome: Outcome::StayedOpen,
            enforced: Some(false),
            observed: format!(
                "the hub still held the connection {} s after it went silent",
                (IDLE_TIMEOUT + IDLE_MARGIN).as_secs()
            ),
            connection_open_after: Some(true),
            seconds: started.elapsed().as_secs_f64(),
            ..v
        },
        Err(e) => v.failed(&e, started),
    }
}

/// Connects and does nothing, while its QUIC stack keeps answering as every espm client does.
async fn quiet_peer(hub: &Hub, key: SecretKey) -> Violation {
    let v = Violation::new(
        "idle connection (quiet but live peer)",
        idle_configured(),
        "connect, open no stream, keep the connection (its QUIC stack still answers)".into(),
    );
    let started = Instant::now();
    let run = async {
        let (endpoint, conn) = transport::connect(&key, hub.id(), hub.addr, CASE_TIMEOUT).await?;
        let closed = closed_within(&conn, WAIT_DEADLINE + IDLE_MARGIN).await;
        endpoint.close(0u32.into(), b"bench done");
        Ok::<_, NodeError>(closed)
    };
    match run.await {
        Ok(Some(how)) => Violation {
            outcome: Outcome::Closed,
            enforced: Some(true),
            observed: how,
            connection_open_after: Some(false),
            seconds: started.elapsed().as_secs_f64(),
            ..v
        },
        Ok(None) => Violation {
            outcome: Outcome::StayedOpen,
            enforced: Some(false),
            observed: format!(
                "still open after {} s: the hub did not reclaim a device that holds a connection without syncing",
                (WAIT_DEADLINE + IDLE_MARGIN).as_secs()
            ),
            connection_open_after: Some(true),
            seconds: started.elapsed().as_secs_f64(),
            ..v
        },
        Err(e) => v.failed(&e, started),
    }
}
