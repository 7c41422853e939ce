//! The QUIC transport: the endpoints that dial and answer ([`connect`]), the header and
//! length-prefixed messages on one bidirectional stream ([`wire`]), and the one loop
//! that drives any sans-IO session over it, its store work off the async threads
//! ([`driver`]).
//!
//! It must never decide what a peer may do: that is the sessions' and the replicas'
//! work. It only carries bytes, within deadlines, and names what went wrong by code.

pub mod close;
mod connect;
mod driver;
pub mod impair;
pub mod tls;
mod wire;

use std::time::Duration;

pub use connect::{
    connect, dial, not_admitted, open_stream, refusal, resolve, server_endpoint, Refusal,
    CONNECT_TIMEOUT,
};
pub use driver::{blocking, drive, Ending, Exchange, Reconcile, ReconcileProgress};
pub use wire::{
    recv_bytes, recv_bytes_within, recv_header, recv_message, recv_message_within, send_bytes,
    send_bytes_within, send_header, send_message, send_message_within,
};

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

impl WireStats {
    /// Adds what another session on the same connection moved.
    pub fn add(&mut self, other: &WireStats) {
        self.sent_bytes += other.sent_bytes;
        self.received_bytes += other.received_bytes;
        self.sent_messages += other.sent_messages;
        self.received_messages += other.received_messages;
        self.round_trips += other.round_trips;
    }
}

#[cfg(test)]
mod tests;
