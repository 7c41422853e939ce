//! Messages on a byte stream: a 4-byte big-endian length, then that many bytes of body.
//!
//! [`FrameDecoder`] is sans-IO: it is fed bytes as they arrive and yields whole bodies.
//! It refuses an announced length over its limit as soon as the four length bytes are
//! in, and its buffer grows only with the bytes that actually arrived, never to the
//! length a peer merely announced: a peer that announces a megabyte and sends ten bytes
//! costs ten bytes. Its output depends on nothing but its input, so it can be fuzzed.
//!
//! Before its first message, every stream a device opens carries a [`StreamHeader`]
//! naming what the stream is for and the format it speaks, so the hub dispatches on
//! what the device said instead of guessing from the first message.

use crate::{encoding::FORMAT_VERSION, ProtocolError};

/// The bytes every stream header begins with, so a peer that writes something else
/// first (an espm from before stream headers, or not espm at all) is told so plainly.
pub const STREAM_MAGIC: [u8; 4] = *b"espm";

/// Bytes of a stream header: the magic, the kind, the format version.
pub const HEADER_BYTES: usize = STREAM_MAGIC.len() + 2;

/// What a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// A reconciliation session (`crate::session`).
    Reconciliation,
    /// A draft-sync session (`crate::draft_sync`).
    DraftSync,
}

impl StreamKind {
    /// Every kind, in the order of their codes.
    pub const ALL: [StreamKind; 2] = [StreamKind::Reconciliation, StreamKind::DraftSync];

    /// The kind's byte in the header.
    pub fn code(self) -> u8 {
        match self {
            StreamKind::Reconciliation => 1,
            StreamKind::DraftSync => 2,
        }
    }

    /// The kind with this header byte, if there is one.
    pub fn from_code(code: u8) -> Option<StreamKind> {
        StreamKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// What the kind is called in messages people read.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Reconciliation => "sync",
            StreamKind::DraftSync => "draft sync",
        }
    }
}

/// The first bytes of a stream: its kind and the format version its messages are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    /// What the stream carries.
    pub kind: StreamKind,
    /// The format version of its messages; this build speaks [`FORMAT_VERSION`].
    pub version: u8,
}

impl StreamHeader {
    /// The header this build writes for a stream of `kind`.
    pub fn new(kind: StreamKind) -> StreamHeader {
        StreamHeader {
            kind,
            version: FORMAT_VERSION,
        }
    }

    /// The header's bytes on the wire.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[..STREAM_MAGIC.len()].copy_from_slice(&STREAM_MAGIC);
        out[STREAM_MAGIC.len()] = self.kind.code();
        out[STREAM_MAGIC.len() + 1] = self.version;
        out
    }

    /// Reads a header this build can serve from exactly [`HEADER_BYTES`] bytes. A header
    /// of another length, without the magic, of a kind this build does not know, or in
    /// another format version is refused, naming what it found.
    pub fn decode(bytes: &[u8]) -> Result<StreamHeader, ProtocolError> {
        let [m0, m1, m2, m3, kind, version] =
            <[u8; HEADER_BYTES]>::try_from(bytes).map_err(|_| {
                ProtocolError::Violation(format!(
                    "a stream header is {HEADER_BYTES} bytes; this one is {}",
                    bytes.len()
                ))
            })?;
        if [m0, m1, m2, m3] != STREAM_MAGIC {
            return Err(ProtocolError::Violation(
                "the stream does not begin with an espm stream header; the peer may run an espm older than this node, which it must update"
                    .into(),
            ));
        }
        let Some(kind) = StreamKind::from_code(kind) else {
            return Err(ProtocolError::Violation(format!(
                "the stream header names stream kind {kind}, which this node does not know ({})",
                known_kinds()
            )));
        };
        if version != FORMAT_VERSION {
            return Err(ProtocolError::Violation(format!(
                "the {} stream header names format version {version}, and this node speaks version {FORMAT_VERSION}; update the older of the two",
                kind.name()
            )));
        }
        Ok(StreamHeader { kind, version })
    }
}

/// The kinds this build knows, as "1 is sync, 2 is draft sync".
fn known_kinds() -> String {
    StreamKind::ALL
        .iter()
        .map(|k| format!("{} is {}", k.code(), k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bytes of the length prefix in front of every message body.
pub const PREFIX_BYTES: usize = 4;

/// Frames `body` for the wire: its length as 4 big-endian bytes, then the body itself.
/// A body over `limit` is refused, since the peer would refuse it anyway.
pub fn encode_frame(body: &[u8], limit: usize) -> Result<Vec<u8>, ProtocolError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= limit)
        .ok_or_else(|| {
            ProtocolError::Violation(format!(
                "a message of {} bytes exceeds the limit of {limit} bytes",
                body.len()
            ))
        })?;
    let mut frame = Vec::with_capacity(PREFIX_BYTES + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(body);
    Ok(frame)
}

/// What one call to [`FrameDecoder::feed`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input taken; the rest belongs to the next frame, to be fed again.
    pub consumed: usize,
    /// The body of the frame those bytes completed, if they completed one.
    pub frame: Option<Vec<u8>>,
}

/// Reassembles length-prefixed frames from bytes fed in pieces of any size.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
    prefix: [u8; PREFIX_BYTES],
    prefix_len: usize,
    /// The body length the current frame's prefix announced, once all of it is in.
    announced: Option<usize>,
    body: Vec<u8>,
    /// Set once the input broke the rules; every later feed gets the same error.
    failed: Option<ProtocolError>,
}

impl FrameDecoder {
    /// A decoder that refuses bodies over `limit` bytes.
    pub fn new(limit: usize) -> FrameDecoder {
        FrameDecoder {
            limit,
            prefix: [0; PREFIX_BYTES],
            prefix_len: 0,
            announced: None,
            body: Vec::new(),
            failed: None,
        }
    }

    /// Bytes the current frame still needs: the rest of its prefix, or of its body.
    /// Reading no more than this from a stream leaves the next frame where it is.
    pub fn wanted(&self) -> usize {
        match self.announced {
            None => PREFIX_BYTES - self.prefix_len,
            Some(len) => len - self.body.len(),
        }
    }

    /// Bytes of the current, unfinished frame held so far, prefix included.
    pub fn buffered(&self) -> usize {
        self.prefix_len + self.body.len()
    }

    /// Bytes allocated for the current frame's body; at most twice what arrived of it.
    pub fn capacity(&self) -> usize {
        self.body.capacity()
    }

    /// The body length the current frame announced, once its prefix is complete.
    pub fn announced(&self) -> Option<usize> {
        self.announced
    }

    /// Whether the decoder sits between frames, so the stream may end here cleanly.
    pub fn at_boundary(&self) -> bool {
        self.buffered() == 0
    }

    /// Takes bytes from `input` up to the end of the current frame at most. An announced
    /// length over the limit is an error as soon as the prefix is complete.
    pub fn feed(&mut self, input: &[u8]) -> Result<Fed, ProtocolError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut consumed = 0;
        if self.announced.is_none() {
            let take = (PREFIX_BYTES - self.prefix_len).min(input.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&input[..take]);
            self.prefix_len += take;
            consumed = take;
            if self.prefix_len < PREFIX_BYTES {
                return Ok(Fed {
                    consumed,
                    frame: None,
                });
            }
            let len = u32::from_be_bytes(self.prefix) as usize;
            if len > self.limit {
                let e = ProtocolError::Violation(format!(
                    "the peer announced a message of {len} bytes, more than the limit of {} bytes",
                    self.limit
                ));
                self.failed = Some(e.clone());
                return Err(e);
            }
            self.announced = Some(len);
        }
        let len = self.announced.unwrap_or(0);
        let rest = &input[consumed..];
        let take = (len - self.body.len()).min(rest.len());
        self.grow(take, len);
        self.body.extend_from_slice(&rest[..take]);
        consumed += take;
        if self.body.len() < len {
            return Ok(Fed {
                consumed,
                frame: None,
            });
        }
        self.prefix_len = 0;
        self.announced = None;
        Ok(Fed {
            consumed,
            frame: Some(std::mem::take(&mut self.body)),
        })
    }

    /// Makes room for `more` bytes of a body of `len`: doubling, so a large body costs
    /// few copies, but never past what arrived times two nor past `len`.
    fn grow(&mut self, more: usize, len: usize) {
        let needed = self.body.len() + more;
        if needed <= self.body.capacity() {
            return;
        }
        let target = needed.max(2 * self.body.len()).min(len);
        self.body.reserve_exact(target - self.body.len());
    }
}

#[cfg(test)]
mod tests;
