//! The QUIC transport: length-prefixed messages on one bidirectional stream, the loop that
//! drives a sans-IO [`Session`] over it, and the endpoints that dial and answer.

pub mod impair;
pub mod tls;

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use sync_protocol::{
    framing::{encode_frame, FrameDecoder, PREFIX_BYTES},
    message::{cut_text, Message, MAX_ABORT_REASON_BYTES, MAX_MESSAGE_BYTES},
    session::{Replica, Session, Side},
    NodeId, SecretKey,
};
use tokio::time::{timeout_at, Instant};

use crate::{
    error::{NodeError, Result},
    hub::limits,
};

/// How long to try to deliver an Abort; the session is failing anyway, so never hang on it.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// How long one message may take to cross, from the first byte of its length to its
/// last byte, either way. The largest message (about 1.06 MiB) takes about 35 s at the
/// 256 kbit/s of the worst links the issue names; 120 s leaves room for loss and a
/// short outage, and a slower peer only has to sync again to resume.
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(120);

/// How long to wait for the first byte of the peer's next message. A peer answers each
/// message in well under a second of work; 120 s covers a link that drops for a while.
pub const WAIT_DEADLINE: Duration = Duration::from_secs(120);

/// How long a peer may take over the messages of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// For one message to cross, from the first byte of its length to its last byte.
    pub message: Duration,
    /// For the first byte of the next message to arrive.
    pub wait: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            message: MESSAGE_DEADLINE,
            wait: WAIT_DEADLINE,
        }
    }
}

/// Bytes and messages that crossed the wire in one session.
#[derive(Clone, Debug, Default)]
pub struct WireStats {
    /// Bytes written, including length prefixes.
    pub sent_bytes: u64,
    /// Bytes read, including length prefixes.
    pub received_bytes: u64,
    /// Messages written.
    pub sent_messages: u64,
    /// Messages read.
    pub received_messages: u64,
    /// Flights: times this side sent at least one message and then waited for the
    /// peer's answer. For the dialling side this is the number of round trips.
    pub round_trips: u64,
}

/// Writes one message as a 4-byte big-endian length and its encoding; returns the bytes written.
pub async fn send_message(send: &mut quinn::SendStream, msg: &Message) -> Result<usize> {
    send_bytes(send, &msg.encode()).await
}

/// [`send_message`] within the message deadline.
pub async fn send_message_within(
    send: &mut quinn::SendStream,
    msg: &Message,
    deadlines: &Deadlines,
) -> Result<usize> {
    send_bytes_within(send, &msg.encode(), deadlines).await
}

/// Reads one message and the bytes it took; `None` if the stream ended cleanly before it.
pub async fn recv_message(recv: &mut quinn::RecvStream) -> Result<Option<(Message, usize)>> {
    recv_message_within(recv, &Deadlines::default()).await
}

/// [`recv_message`] within `deadlines`.
pub async fn recv_message_within(
    recv: &mut quinn::RecvStream,
    deadlines: &Deadlines,
) -> Result<Option<(Message, usize)>> {
    match recv_bytes_within(recv, deadlines).await? {
        Some(body) => Ok(Some((Message::decode(&body)?, 4 + body.len()))),
        None => Ok(None),
    }
}

/// Drives `session` to completion over one bidirectional stream and returns what crossed the wire.
///
/// The device returns as soon as its session is finished, without waiting to hear that
/// its last acks arrived: the hub needs none of them (the next Hello says where the
/// device stands), and waiting would cost a round trip. The hub keeps answering after
/// its Done (chunks asked for late, resends) until the device ends the stream or leaves.
pub async fn run_session<R: Replica>(
    session: &mut Session,
    replica: &mut R,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    progress: impl FnMut(&Session, &WireStats),
) -> Result<WireStats> {
    run_session_within(
        session,
        replica,
        send,
        recv,
        &Deadlines::default(),
        progress,
    )
    .await
}

/// [`run_session`] with every read and write of a message within `deadlines`.
pub async fn run_session_within<R: Replica>(
    session: &mut Session,
    replica: &mut R,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    deadlines: &Deadlines,
    mut progress: impl FnMut(&Session, &WireStats),
) -> Result<WireStats> {
    let mut stats = WireStats::default();
    // After its Done the hub only answers late requests; a device that neither asks
    // nor leaves (its keep-alives hold the connection) is not waited for longer than a
    // silent connection would be.
    let after_done = Deadlines {
        wait: deadlines.wait.min(tls::IDLE_TIMEOUT),
        ..*deadlines
    };
    loop {
        let mut flight = false;
        loop {
            match session.poll_transmit(replica) {
                Ok(Some(msg)) => {
                    let n = send_message_within(send, &msg, deadlines).await?;
                    stats.sent_bytes += n as u64;
                    stats.sent_messages += 1;
                    flight = true;
                }
                Ok(None) => break,
                Err(e) => {
                    abort(send, &e.to_string()).await;
                    return Err(e.into());
                }
            }
        }
        let done = session.is_done();
        if done && session.side() == Side::Client {
            send.finish().map_err(|_| {
                NodeError::Transport("the stream was closed before the sync could finish".into())
            })?;
            break;
        }
        if flight {
            stats.round_trips += 1;
        }
        let received = recv_message_within(recv, if done { &after_done } else { deadlines }).await;
        let (msg, n) = match received {
            Ok(Some(got)) => got,
            Ok(None) if done => {
                // The device has all it needs and ended its side; so do we.
                let _ = send.finish();
                break;
            }
            Ok(None) => {
                return Err(NodeError::Transport(
                    "the peer closed the connection before the sync finished".into(),
                ))
            }
            Err(NodeError::Protocol(e)) => {
                abort(send, &e.to_string()).await;
                return Err(e.into());
            }
            Err(e) if done => {
                // The device left without ending the stream, or went quiet: it was
                // finished, so this is how it says goodbye, not a failure.
                tracing::debug!(error = %e, "the device left after the hub's Done");
                let _ = send.finish();
                break;
            }
            Err(e) => return Err(e),
        };
        stats.received_bytes += n as u64;
        stats.received_messages += 1;
        let peer_aborted = matches!(msg, Message::Abort { .. });
        if let Err(e) = session.handle(msg, replica) {
            // Answering an Abort with an Abort would tell the peer nothing new.
            if !peer_aborted {
                abort(send, &e.to_string()).await;
            }
            return Err(e.into());
        }
        progress(session, &stats);
    }
    Ok(stats)
}

/// Best effort: tells the peer why the session ends, without letting a stuck peer hold us.
async fn abort(send: &mut quinn::SendStream, reason: &str) {
    let msg = Message::Abort {
        reason: cut_text(reason, MAX_ABORT_REASON_BYTES).to_string(),
    };
    match tokio::time::timeout(ABORT_WAIT, send_message(send, &msg)).await {
        Ok(Ok(_)) => {
            let _ = send.finish();
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "could not send Abort"),
        Err(_) => tracing::debug!("timed out sending Abort"),
    }
}

/// A server endpoint bound to `addr`.
pub fn server_endpoint(addr: SocketAddr, config: quinn::ServerConfig) -> Result<quinn::Endpoint> {
    quinn::Endpoint::server(config, addr).map_err(NodeError::io(format!("listen on UDP {addr}")))
}

/// Dials the hub at `hub`, accepting only the key `hub_id`, within `timeout`.
pub async fn connect(
    key: &SecretKey,
    hub_id: NodeId,
    hub: SocketAddr,
    timeout: Duration,
) -> Result<(quinn::Endpoint, quinn::Connection)> {
    let config = tls::client_config(key, hub_id)?;
    let local: SocketAddr = match hub {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let endpoint =
        quinn::Endpoint::client(local).map_err(NodeError::io("open a local UDP socket"))?;
    let unreachable = |detail: String| NodeError::Unreachable {
        addr: hub.to_string(),
        detail,
    };
    let connecting = endpoint
        .connect_with(config, hub, tls::SERVER_NAME)
        .map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(conn)) => Ok((endpoint, conn)),
        Ok(Err(e)) => {
            endpoint.close(0u32.into(), b"");
            Err(connection_error(&e, hub))
        }
        Err(_) => {
            endpoint.close(0u32.into(), b"");
            Err(unreachable("no answer".into()))
        }
    }
}

/// Turns a failed connection into the error a person can act on.
fn connection_error(e: &quinn::ConnectionError, hub: SocketAddr) -> NodeError {
    let text = e.to_string();
    if text.contains(tls::HUB_ID_MISMATCH) {
        return NodeError::Refused(format!(
            "the hub at {hub} did not present the pinned hub id; check --hub-id"
        ));
    }
    if text.contains(tls::CLIENT_NOT_ADMITTED) {
        return NodeError::Refused(format!("the hub at {hub} does not admit this node's key"));
    }
    let detail = match e {
        quinn::ConnectionError::TimedOut => "no answer".to_string(),
        // What a hub serving as many connections as it allows answers, before any TLS.
        quinn::ConnectionError::ConnectionClosed(c)
            if c.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
        {
            "the hub is busy: it serves as many connections as it allows and refused this one"
                .to_string()
        }
        quinn::ConnectionError::VersionMismatch => {
            "the hub speaks another QUIC version".to_string()
        }
        quinn::ConnectionError::ConnectionClosed(_)
        | quinn::ConnectionError::ApplicationClosed(_) => {
            format!("the hub closed the connection ({text})")
        }
        quinn::ConnectionError::Reset => "the hub reset the connection".to_string(),
        _ => text,
    };
    NodeError::Unreachable {
        addr: hub.to_string(),
        detail,
    }
}

/// A broken connection while reading, named by cause; the hub's refusal of our key only
/// shows up here, at the first read after a handshake that looked complete.
fn lost(e: &quinn::ConnectionError) -> NodeError {
    let text = e.to_string();
    if text.contains(tls::CLIENT_NOT_ADMITTED) {
        return NodeError::Refused("the hub does not admit this node's key".into());
    }
    match e {
        quinn::ConnectionError::TimedOut => {
            NodeError::Transport("the peer stopped answering".into())
        }
        // A revocation, or an enrollment gone, while connected: no retry will help.
        quinn::ConnectionError::ApplicationClosed(c)
            if c.error_code == limits::NOT_ADMITTED.into() =>
        {
            NodeError::Refused(format!(
                "the hub closed the connection: {}",
                String::from_utf8_lossy(&c.reason)
            ))
        }
        _ => NodeError::Transport(format!("the connection was lost: {text}")),
    }
}

fn read_error(e: quinn::ReadError) -> NodeError {
    match e {
        quinn::ReadError::ConnectionLost(c) => lost(&c),
        quinn::ReadError::Reset(code) => {
            NodeError::Transport(format!("the peer abandoned the stream (code {code})"))
        }
        other => NodeError::Transport(format!("reading from the peer failed: {other}")),
    }
}

fn write_error(e: quinn::WriteError) -> NodeError {
    match e {
        quinn::WriteError::ConnectionLost(c) => lost(&c),
        quinn::WriteError::Stopped(code) => {
            NodeError::Transport(format!("the peer stopped reading the stream (code {code})"))
        }
        other => NodeError::Transport(format!("writing to the peer failed: {other}")),
    }
}

/// Writes one frame: a 4-byte big-endian length, then `body`; returns the bytes written.
pub async fn send_bytes(send: &mut quinn::SendStream, body: &[u8]) -> Result<usize> {
    // The peer would refuse it anyway; failing here names the real culprit.
    let frame = encode_frame(body, MAX_MESSAGE_BYTES)
        .map_err(|e| NodeError::Transport(format!("this node tried to send {e}")))?;
    send.write_all(&frame).await.map_err(write_error)?;
    Ok(frame.len())
}

/// [`send_bytes`] within the message deadline: a peer that stops reading cannot hold
/// the frame, and the task that writes it, for longer.
pub async fn send_bytes_within(
    send: &mut quinn::SendStream,
    body: &[u8],
    deadlines: &Deadlines,
) -> Result<usize> {
    match tokio::time::timeout(deadlines.message, send_bytes(send, body)).await {
        Ok(sent) => sent,
        Err(_) => Err(NodeError::Transport(format!(
            "the peer took more than {} s, the most this side allows for one message, to take one of {} bytes",
            deadlines.message.as_secs_f64(),
            body.len(),
        ))),
    }
}

/// Reads one frame's body, undecoded; `None` if the stream ended cleanly before it.
pub async fn recv_bytes(recv: &mut quinn::RecvStream) -> Result<Option<Vec<u8>>> {
    recv_bytes_within(recv, &Deadlines::default()).await
}

/// [`recv_bytes`] within `deadlines`: the first byte within `wait`, the whole message
/// within `message` of its first byte. The body is read in pieces as it arrives and
/// never allocated to the length the peer announced.
pub async fn recv_bytes_within(
    recv: &mut quinn::RecvStream,
    deadlines: &Deadlines,
) -> Result<Option<Vec<u8>>> {
    let mut decoder = FrameDecoder::new(MAX_MESSAGE_BYTES);
    let mut deadline = Instant::now() + deadlines.wait;
    loop {
        // Never more than this frame still needs, so the next one stays in the stream.
        let read = recv.read_chunk(decoder.wanted(), true);
        let chunk = match timeout_at(deadline, read).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) if decoder.at_boundary() => return Ok(None),
            Ok(Ok(None)) => return Err(ended_early(&decoder)),
            Ok(Err(e)) => return Err(read_error(e)),
            Err(_) => return Err(too_slow(&decoder, deadlines)),
        };
        if decoder.at_boundary() {
            deadline = Instant::now() + deadlines.message;
        }
        let mut bytes = &chunk.bytes[..];
        while !bytes.is_empty() {
            let fed = decoder.feed(bytes)?;
            if let Some(body) = fed.frame {
                return Ok(Some(body));
            }
            bytes = &bytes[fed.consumed..];
        }
    }
}

/// The stream ended inside a message.
fn ended_early(decoder: &FrameDecoder) -> NodeError {
    match decoder.announced() {
        None => NodeError::Transport(
            "the peer ended the stream in the middle of a message header".into(),
        ),
        Some(len) => NodeError::Transport(format!(
            "the peer ended the stream in the middle of a message ({} of {len} bytes)",
            decoder.buffered().saturating_sub(PREFIX_BYTES)
        )),
    }
}

/// A deadline passed: either no message began, or one did not finish in time.
fn too_slow(decoder: &FrameDecoder, deadlines: &Deadlines) -> NodeError {
    if decoder.at_boundary() {
        return NodeError::Transport(format!(
            "the peer sent nothing for {} s, the longest this side waits for a message",
            deadlines.wait.as_secs_f64()
        ));
    }
    let got = match decoder.announced() {
        Some(len) => format!(
            "{} of {len} bytes",
            decoder.buffered().saturating_sub(PREFIX_BYTES)
        ),
        None => format!("{} bytes of its length", decoder.buffered()),
    };
    NodeError::Transport(format!(
        "the peer took more than {} s, the most this side allows for one message, to send one ({got} arrived)",
        deadlines.message.as_secs_f64()
    ))
}

#[cfg(test)]
mod tests;
