//! Hostile devices for the `limits` scenario. Each is enrolled, so TLS admits it, and
//! breaks one limit the hub enforces; each reports what it saw and what the hub said.

use std::time::{Duration, Instant};

use sync_protocol::{
    FrameItem, Message, NodeId, SecretKey, StreamId, StreamKind, VersionVector, FORMAT_VERSION,
    MAX_FRAME_ITEMS, MAX_ITEM_BYTES, MAX_MESSAGE_BYTES,
};

use super::{
    fixture::Hub,
    rss,
    violation::{Outcome, Violation},
};
use crate::{
    error::{NodeError, Result},
    hub::limits::{MAX_CONNECTIONS, MAX_CONNECTIONS_PER_DEVICE},
    transport::tls::MAX_CONCURRENT_STREAMS,
    transport::{self, open_stream, recv_message, send_message},
};

/// The satker the hostile devices are enrolled for; no good device belongs to it.
pub(super) const HOSTILE_SATKER: &str = "100999";

/// How long a hostile device waits for the hub's answer to one violation.
pub(super) const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stream may take to open before it counts as blocked; opening is local
/// bookkeeping when credit is there, so a second is generous.
const STREAM_WAIT: Duration = Duration::from_secs(1);

/// Streams to try at most, so a hub that never pushes back still ends the case.
const MAX_STREAM_TRIES: u32 = 64;

/// A fresh device key, enrolled with the hub for the hostile satker.
pub(super) async fn enrolled(hub: &Hub) -> Result<SecretKey> {
    let key = SecretKey::generate();
    hub.enroll(key.public(), HOSTILE_SATKER).await?;
    Ok(key)
}

/// The name of a message, for reports that must not dump a megabyte frame.
fn name(msg: &Message) -> &'static str {
    match msg {
        Message::Hello { .. } => "Hello",
        Message::Frame { .. } => "Frame",
        Message::Ack { .. } => "Ack",
        Message::Nack { .. } => "Nack",
        Message::Want { .. } => "Want",
        Message::Chunk { .. } => "Chunk",
        Message::NoChunk { .. } => "NoChunk",
        Message::Done { .. } => "Done",
        Message::Abort { .. } => "Abort",
    }
}

/// How the hub ended a connection, in words.
fn describe_close(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) if c.reason.is_empty() => format!(
            "the hub closed the connection (code {}, no reason given)",
            c.error_code
        ),
        quinn::ConnectionError::ApplicationClosed(c) => format!(
            "the hub closed the connection (code {}: {})",
            c.error_code,
            String::from_utf8_lossy(&c.reason)
        ),
        quinn::ConnectionError::ConnectionClosed(c) => {
            format!("the hub's QUIC stack closed the connection: {c}")
        }
        quinn::ConnectionError::TimedOut => "the connection timed out".into(),
        other => format!("the connection ended: {other}"),
    }
}

/// Waits for the connection to close; `None` if it is still open after `wait`.
pub(super) async fn closed_within(conn: &quinn::Connection, wait: Duration) -> Option<String> {
    tokio::time::timeout(wait, conn.closed())
        .await
        .ok()
        .map(|e| describe_close(&e))
}

/// Opens a session offering the device's own stream; returns how far the hub holds it.
async fn hello(
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    me: NodeId,
) -> Result<u64> {
    let own = StreamId::Origin(me);
    let msg = Message::Hello {
        version: FORMAT_VERSION,
        want: VersionVector::new(),
        offer: vec![own.clone()],
        has: VersionVector::new(),
        needs: 0,
        credit: 0,
    };
    send_message(send, &msg).await?;
    match recv_message(recv).await? {
        Some((Message::Hello { want, .. }, _)) => want.get(&own).copied().ok_or_else(|| {
            NodeError::Transport("the hub did not accept the device's own stream".into())
        }),
        Some((other, _)) => Err(NodeError::Transport(format!(
            "the hub answered Hello with {}",
            name(&other)
        ))),
        None => Err(NodeError::Transport(
            "the hub ended the stream instead of answering Hello".into(),
        )),
    }
}

/// The hub's answer to a violating message: its next message, or how the connection ended.
async fn answer(conn: &quinn::Connection, recv: &mut quinn::RecvStream) -> (Outcome, String) {
    let got = tokio::time::timeout(CASE_TIMEOUT, recv_message(recv)).await;
    let (outcome, mut observed) = match got {
        Ok(Ok(Some((Message::Abort { reason }, _)))) => (
            Outcome::Aborted,
            format!("the hub aborted the session: {reason}"),
        ),
        Ok(Ok(Some((Message::Ack { refused, .. }, _)))) if !refused.is_empty() => (
            Outcome::Refused,
            format!(
                "the hub acknowledged the frame and refused the item: {}",
                refused[0].reason
            ),
        ),
        Ok(Ok(Some((other, _)))) => (
            Outcome::Accepted,
            format!("the hub answered {} and carried on", name(&other)),
        ),
        Ok(Ok(None)) | Ok(Err(_)) => match closed_within(conn, CASE_TIMEOUT).await {
            Some(how) => (Outcome::Closed, how),
            None => (
                Outcome::Closed,
                "the hub ended the stream; the connection stayed open".into(),
            ),
        },
        Err(_) => (
            Outcome::Failed,
            format!("no answer within {} s", CASE_TIMEOUT.as_secs()),
        ),
    };
    if outcome == Outcome::Aborted {
        if let Some(how) = closed_within(conn, CASE_TIMEOUT).await {
            observed.push_str(&format!("; then {how}"));
        }
    }
    (outcome, observed)
}

/// The hub's account of why it ended the connection from `peer`.
async fn hub_reason(hub: &Hub, peer: NodeId) -> Option<String> {
    let event = hub.event_for(peer, CASE_TIMEOUT).await?;
    event.error.or(event.closed)
}

/// A length prefix above the message limit, and no body.
pub(super) async fn oversized_message(hub: &Hub, key: SecretKey) -> Violation {
    let v = Violation::new(
        "message size",
        format!("{MAX_MESSAGE_BYTES} bytes per message"),
        format!("a length prefix of {} bytes", MAX_MESSAGE_BYTES + 1),
    );
    let started = Instant::now();
    let run = async {
        let (endpoint, conn) = transport::connect(&key, hub.id(), hub.addr, CASE_TIMEOUT).await?;
        let (mut send, mut recv) = open_stream(&conn, StreamKind::Reconciliation).await?;
        let len = u32::try_from(MAX_MESSAGE_BYTES + 1).unwrap_or(u32::MAX);
        send.write_all(&len.to_be_bytes())
            .await
            .map_err(|e| NodeError::Transport(format!("could not write the prefix: {e}")))?;
        let (outcome, observed) = answer(&conn, &mut recv).await;
        let open = conn.close_reason().is_none();
        endpoint.close(0u32.into(), b"bench done");
        Ok::<_, NodeError>((outcome, observed, open))
    };
    match run.await {
        Ok((outcome, observed, open)) => Violation {
            enforced: Some(matches!(outcome, Outcome::Closed | Outcome::Aborted)),
            outcome,
            observed,
            hub_reason: hub_reason(hub, key.public()).await,
            connection_open_after: Some(open),
            seconds: started.elapsed().as_secs_f64(),
            ..v
        },
        Err(e) => v.failed(&e, started),
    }
}

/// A frame of one more item than the frame limit, each item a single byte.
pub(super) async fn too_many_items(hub: &Hub, key: SecretKey) -> Violation {
    let v = Violation::new(
        "items per frame",
        format!("{MAX_FRAME_ITEMS} items per frame"),
        format!("a frame of {} one-byte items", MAX_FRAME_ITEMS + 1),
    );
    let started = Instant::now();
    let me = key.public();
    let run = async {
        let (endpoint, conn) = transport::connect(&key, hub.id(), hub.addr, CASE_TIMEOUT).await?;
        let (mut send, mut recv) = open_stream(&conn, StreamKind::Reconciliation).await?;
        let pos = hello(&mut send, &mut recv, me).await?;
        let n = MAX_FRAME_ITEMS as u64 + 1;
        let frame = Message::Frame {
            stream: StreamId::Origin(me),
            after: pos,
            through: pos + n,
            items: (1..=n)
                .map(|i| FrameItem {
                    seq: pos + i,
                    bytes: vec![0u8],
                })
                .collect(),
        };
        send_message(&mut send, &frame).await?;
        let (outcome, observed) = answer(&conn, &mut recv).await;
        let open = conn.close_reason().is_none();
        endpoint.close(0u32.into(), b"bench done");
        Ok::<_, NodeError>((outcome, observed, open))
    };
    match run.await {
        Ok((outcome, observed, open)) => Violation {
            enforced: Some(matches!(outcome, Outcome::Closed | Outcome::Aborted)),
            outcome,
            observed,
            hub_reason: hub_reason(hub, me).await,
            connection_open_after: Some(open),
            seconds: started.elapsed().as_secs_f64(),
            ..v
        },
        Err(e) => v.failed(&e, started),
    }
}

/// Ends a session cleanly: Done, the hub's Done, and both sides of the stream finished.
async fn finish_session(send: &mut quinn::SendStream, recv: &mut quinn::RecvStream) -> Result<()> {
    // Naming nothing: the hub holds all of that at once and answers with its own Done.
    let done = Message::Done {
        sent: Default::default(),
    };
    send_message(send, &done).await?;
    loop {
        match recv_message(recv).await? {
            Some((Message::Done { .. }, _)) => break,
            Some((Message::Abort { reason }, _)) => {
                return Err(NodeError::Transport(format!(
                    "the hub aborted the session: {reason}"
                )))
            }
            Some(_) => {}
            None => {
                return Err(NodeError::Transport(
                    "the hub ended the stream before its Done".into(),
                ))
            }
        }
    }
    send.finish()
        .map_err(|e| NodeError::Transport(format!("could not finish the stream: {e}")))?;
    while recv_message(recv).await?.is_some() {}
    Ok(())
}

/// One item above the item limit, which the hub must refuse with a reason while the
/// session and the connection carry on.
pub(super) async fn oversized_item(hub: &Hub, key: SecretKey) -> Violation {
    let v = Violation::new(
        "item size",
        format!("{MAX_ITEM_BYTES} bytes per item"),
        format!("a frame with one item of {} bytes", MAX_ITEM_BYTES + 1),
    );
    let started = Instant::now();
    let me = key.public();
    let run = async {
        let (endpoint, conn) = transport::connect(&key, hub.id(), hub.addr, CASE_TIMEOUT).await?;
        let (mut send, mut recv) = open_stream(&conn, StreamKind::Reconciliation).await?;
        let pos = hello(&mut send, &mut recv, me).await?;
        let frame = Message::Frame {
            stream: StreamId::Origin(me),
            after: pos,
            through: pos + 1,
            items: vec![FrameItem {
                seq: pos + 1,
                bytes: vec![0u8; MAX_ITEM_BYTES + 1],
            }],
        };
        send_message(&mut send, &frame).await?;
        let (outcome, mut observed) = answer(&conn, &mut recv).await;
        if outcome == Outcome::Refused {
            // A refusal, unlike a violation, must leave the session and the connection
            // usable: finish this session, then run a second one on the same connection.
            finish_session(&mut send, &mut recv).await?;
            let (mut send, mut recv) = open_stream(&conn, StreamKind::Reconciliation).await?;
            hello(&mut send, &mut recv, me).await?;
            finish_session(&mut send, &mut recv).await?;
            observed.push_str("; the session then ended cleanly and a second session on the same connection completed");
        }
        let open = conn.close_reason().is_none();
        conn.close(0u32.into(), b"bench done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        Ok::<_, NodeError>((outcome, observed, open))
    };
    match run.await {
        Ok((outcome, observed, open)) => Violation {
            enforced: Some(outcome == Outcome::Refused && open),
            outcome,
            observed,
            // The hub's handler ends normally here; its account is the refusal itself.
            hub_reason: None,
            connection_open_after: Some(open),
            seconds: started.elapsed().as_secs_f64(),
            ..v
        },
        Err(e) => v.failed(&e, started),
    }
}

/// Opens streams, each carrying a Hello the hub leaves waiting, until one will not open.
pub(super) async fn too_many_streams(hub: &Hub, key: SecretKey) -> Violation {
    let v = Violation::new(
        "concurrent streams",
        format!("{MAX_CONCURRENT_STREAMS} open sync streams per connection"),
        format!("open streams one after another, up to {MAX_STREAM_TRIES}, each left mid-session"),
    );
    let started = Instant::now();
    let run = async {
        let (endpoint, conn) = transport::connect(&key, hub.id(), hub.addr, CASE_TIMEOUT).await?;
        let hello = Message::Hello {
            version: FORMAT_VERSION,
            want: VersionVector::new(),
            offer: Vec::new(),
            has: VersionVector::new(),
            needs: 0,
            credit: 0,
        };
        let mut streams = Vec::new();
        let mut blocked = false;
        while streams.len() < MAX_STREAM_TRIES as usize {
            match tokio::time::timeout(STREAM_WAIT, open_stream(&conn, StreamKind::Reconciliation))
                .await
            {
                Ok(Ok((mut send, recv))) => {
                    // Data makes the stream exist at the hub, not only in our bookkeeping.
                    send_message(&mut send, &hello).await?;
                    streams.push((send, recv));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    blocked = true;
                    break;
                }
            }
        }
        let opened = streams.len();
        let open = conn.close_reason().is_none();
        endpoint.close(0u32.into(), b"bench done");
        Ok::<_, NodeError>((opened, blocked, open))
    };
    match run.await {
        Ok((opened, blocked, open)) => {
            let held = blocked && opened as u64 <= u64::from(MAX_CONCURRENT_STREAMS);
            let observed = if blocked {
                format!(
                    "{opened} streams opened; stream {} did not open within {} s, because the hub grants no more stream credit while they are open",
                    opened + 1,
                    STREAM_WAIT.as_secs()
                )
            } else {
                format!("all {opened} streams opened")
            };
            Violation {
                outcome: if blocked {
                    Outcome::Blocked
                } else {
                    Outcome::Accepted
                },
                enforced: Some(held),
                observed,
                // QUIC flow control holds this line before the hub's handler sees anything.
                hub_reason: None,
                connection_open_after: Some(open),
                seconds: started.elapsed().as_secs_f64(),
                ..v
            }
        }
        Err(e) => v.failed(&e, started),
    }
}

/// Connections the device of the finding opened with one key.
pub(super) const FLOOD_CONNECTIONS: usize = 24;

/// How long the flood waits for the hub to read what it sent before measuring.
const FLOOD_SETTLE: Duration = Duration::from_secs(1);

/// The finding's attack, and what it cost the hub.
pub(super) struct Flood {
    /// The verdict, as for every other case.
    pub violation: Violation,
    /// Connections the hub still served once the flood had sent everything.
    pub kept: usize,
    /// Unfinished messages written in full but for their last byte.
    pub messages: usize,
    /// The bench process's peak RSS before the flood and after it (hub and hostile
    /// device are both in this process).
    pub peak_rss: (Option<u64>, Option<u64>),
}

impl Flood {
    /// The report's `flood` object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "connections": FLOOD_CONNECTIONS,
            "kept": self.kept,
            "streams_per_connection": MAX_CONCURRENT_STREAMS,
            "message_bytes_announced": MAX_MESSAGE_BYTES,
            "unfinished_messages_written": self.messages,
            "peak_rss_bytes_before": self.peak_rss.0,
            "peak_rss_bytes_after": self.peak_rss.1,
        })
    }
}

/// Streams left open mid-message, held until the case has measured.
type Held = Vec<(quinn::SendStream, quinn::RecvStream)>;

/// Writes on `conn`, on every stream the hub allows, a message announced at the limit
/// whose body stops one byte short; returns how many it wrote, and the streams.
async fn unfinished_messages(
    conn: quinn::Connection,
    body: std::sync::Arc<Vec<u8>>,
) -> (usize, Held) {
    let mut written = 0;
    let mut streams = Vec::new();
    for _ in 0..MAX_CONCURRENT_STREAMS {
        let Ok(Ok((mut send, recv))) =
            tokio::time::timeout(STREAM_WAIT, open_stream(&conn, StreamKind::Reconciliation)).await
        else {
            break;
        };
        let prefix = u32::try_from(MAX_MESSAGE_BYTES).unwrap_or(u32::MAX);
        let sent = async {
            send.write_all(&prefix.to_be_bytes()).await?;
            send.write_all(&body).await
        };
        if tokio::time::timeout(CASE_TIMEOUT, sent)
            .await
            .is_ok_and(|r| r.is_ok())
        {
            written += 1;
        }
        streams.push((send, recv));
    }
    (written, streams)
}

/// The finding: one key opens 24 connections and leaves a near-limit message
/// unfinished on every stream of each. The hub must keep only the device's share, and
/// buffer no more than what arrived.
pub(super) async fn connection_flood(hub: &Hub, key: SecretKey) -> Flood {
    let v = Violation::new(
        "connections per device",
        format!(
            "{MAX_CONNECTIONS_PER_DEVICE} live connections per device key, {MAX_CONNECTIONS} in total"
        ),
        format!(
            "{FLOOD_CONNECTIONS} connections from one key, each with {MAX_CONCURRENT_STREAMS} messages announced at {MAX_MESSAGE_BYTES} bytes and left one byte short"
        ),
    );
    let started = Instant::now();
    let before = rss::peak_rss_bytes();
    let run = async {
        let mut endpoints = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..FLOOD_CONNECTIONS {
            let (endpoint, conn) =
                transport::connect(&key, hub.id(), hub.addr, CASE_TIMEOUT).await?;
            endpoints.push(endpoint);
            conns.push(conn);
        }
        let body = std::sync::Arc::new(vec![0x55u8; MAX_MESSAGE_BYTES - 1]);
        let writers: Vec<_> = conns
            .iter()
            .map(|c| tokio::spawn(unfinished_messages(c.clone(), body.clone())))
            .collect();
        let mut messages = 0;
        let mut held = Vec::new();
        for w in writers {
            if let Ok((n, streams)) = w.await {
                messages += n;
                held.push(streams);
            }
        }
        // Time for the hub to read what reached it, before measuring.
        tokio::time::sleep(FLOOD_SETTLE).await;
        let kept = conns.iter().filter(|c| c.close_reason().is_none()).count();
        let refused = conns
            .iter()
            .find_map(|c| c.close_reason().map(|e| describe_close(&e)));
        let after = rss::peak_rss_bytes();
        for endpoint in &endpoints {
            endpoint.close(0u32.into(), b"bench done");
        }
        drop(held);
        Ok::<_, NodeError>((kept, refused, messages, after))
    };
    match run.await {
        Ok((kept, refused, messages, after)) => {
            let observed = format!(
                "the hub kept {kept} of {FLOOD_CONNECTIONS} connections, on which {messages} messages were left one byte short; {}; peak RSS of the bench process {} before, {} after",
                refused.unwrap_or_else(|| "it closed none".into()),
                rss::rss_text(before),
                rss::rss_text(after),
            );
            Flood {
                violation: Violation {
                    outcome: if kept < FLOOD_CONNECTIONS {
                        Outcome::Closed
                    } else {
                        Outcome::Accepted
                    },
                    enforced: Some(kept <= MAX_CONNECTIONS_PER_DEVICE),
                    observed,
                    hub_reason: hub_reason(hub, key.public()).await,
                    connection_open_after: Some(kept > 0),
                    seconds: started.elapsed().as_secs_f64(),
                    ..v
                },
                kept,
                messages,
                peak_rss: (before, after),
            }
        }
        Err(e) => Flood {
            violation: v.failed(&e, started),
            kept: 0,
            messages: 0,
            peak_rss: (before, None),
        },
    }
}
