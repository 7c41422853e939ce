//! Bytes on one QUIC stream: the header a stream opens with, length-prefixed messages
//! within deadlines, the one best-effort Abort, and what a failed read or write means.

use std::time::Duration;

use sync_protocol::{
    encode_frame, FrameDecoder, Message, StreamHeader, StreamKind, HEADER_BYTES, MAX_MESSAGE_BYTES,
    PREFIX_BYTES,
};
use tokio::time::{timeout_at, Instant};

use super::{connect::lost, Deadlines};
use crate::error::{NodeError, Result};

/// How long to try to deliver an Abort; the session is failing anyway, so never hang on it.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// Writes the header that tells the hub what the stream carries; the opener's first bytes.
pub async fn send_header(send: &mut quinn::SendStream, kind: StreamKind) -> Result<()> {
    send.write_all(&StreamHeader::new(kind).encode())
        .await
        .map_err(write_error)
}

/// Reads the header a device opened its stream with, within the wait deadline, and the
/// kind it names; `None` if the stream ended before any of it. A header this node
/// cannot serve (unknown kind, other format version, no header at all) is a
/// [`NodeError::Protocol`] naming what it found.
pub async fn recv_header(
    recv: &mut quinn::RecvStream,
    deadlines: &Deadlines,
) -> Result<Option<StreamKind>> {
    let mut bytes = [0u8; HEADER_BYTES];
    let deadline = Instant::now() + deadlines.wait;
    match timeout_at(deadline, recv.read_exact(&mut bytes)).await {
        Ok(Ok(())) => Ok(Some(StreamHeader::decode(&bytes)?.kind)),
        Ok(Err(quinn::ReadExactError::FinishedEarly(0))) => Ok(None),
        Ok(Err(quinn::ReadExactError::FinishedEarly(n))) => Err(NodeError::Transport(format!(
            "the peer ended the stream after {n} of the {HEADER_BYTES} bytes of its header"
        ))),
        Ok(Err(quinn::ReadExactError::ReadError(e))) => Err(read_error(e)),
        Err(_) => Err(NodeError::Transport(format!(
            "the peer opened a stream and sent no header for {} s, the longest this side waits",
            deadlines.wait.as_secs_f64()
        ))),
    }
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
        Some(body) => Ok(Some((Message::decode(&body)?, PREFIX_BYTES + body.len()))),
        None => Ok(None),
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
    MessageReader::new().next(recv, deadlines).await
}

/// Reads length-prefixed messages from one stream and keeps a message half read between
/// calls, so a read may be dropped (raced against store work, say) and started again
/// with nothing lost: quinn's `read_chunk` is cancel-safe, and the decoder's state and
/// the message's deadline live here, not in the future.
pub struct MessageReader {
    decoder: FrameDecoder,
    /// When the message now being read must be complete, once its first byte came.
    message_deadline: Option<Instant>,
}

impl Default for MessageReader {
    fn default() -> Self {
        MessageReader::new()
    }
}

impl MessageReader {
    /// A reader at a message boundary.
    pub fn new() -> Self {
        MessageReader {
            decoder: FrameDecoder::new(MAX_MESSAGE_BYTES),
            message_deadline: None,
        }
    }

    /// The next message's body; `None` if the stream ended cleanly at a boundary. The
    /// first byte is awaited up to `wait` from this call, the rest up to `message` from
    /// that first byte.
    pub async fn next(
        &mut self,
        recv: &mut quinn::RecvStream,
        deadlines: &Deadlines,
    ) -> Result<Option<Vec<u8>>> {
        let waited = Instant::now() + deadlines.wait;
        loop {
            let deadline = self.message_deadline.unwrap_or(waited);
            // Never more than this frame still needs, so the next one stays in the stream.
            let read = recv.read_chunk(self.decoder.wanted(), true);
            let chunk = match timeout_at(deadline, read).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) if self.decoder.at_boundary() => return Ok(None),
                Ok(Ok(None)) => return Err(ended_early(&self.decoder)),
                Ok(Err(e)) => return Err(read_error(e)),
                Err(_) => return Err(too_slow(&self.decoder, deadlines)),
            };
            if self.message_deadline.is_none() {
                self.message_deadline = Some(Instant::now() + deadlines.message);
            }
            let mut bytes = &chunk.bytes[..];
            while !bytes.is_empty() {
                let fed = self.decoder.feed(bytes)?;
                if let Some(body) = fed.frame {
                    self.message_deadline = None;
                    return Ok(Some(body));
                }
                bytes = &bytes[fed.consumed..];
            }
        }
    }
}

/// Best effort: writes `abort` (a session's encoded Abort) and ends the stream, without
/// letting a stuck peer hold us; the session is failing anyway, so failures are only logged.
pub(crate) async fn abort(send: &mut quinn::SendStream, abort: &[u8]) {
    match tokio::time::timeout(ABORT_WAIT, send_bytes(send, abort)).await {
        Ok(Ok(_)) => {
            let _ = send.finish();
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "could not send Abort"),
        Err(_) => tracing::debug!("timed out sending Abort"),
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
