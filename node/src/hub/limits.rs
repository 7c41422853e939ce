//! What an enrolled device may hold of the hub: connections, in total and per device,
//! and time, per message and per session; and the registry of live connections that
//! lets a revocation close a device's connections at once.
//!
//! TLS admits only enrolled devices, but an enrolled device can still be lost, stolen or
//! buggy. Every resource one can tie up is bounded here or in the transport: an incoming
//! connection beyond the total is refused before its handshake, a device's connections
//! beyond its share are closed with the limit named, and a peer that is too slow or
//! stays too long is dropped with the deadline named.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::transport::Deadlines;

/// Connections the hub serves at once, from every device together. One KPPN serves a
/// few hundred satker, each with a device or two, and one connection per sync.
pub const MAX_CONNECTIONS: usize = 1024;

/// Live connections one device key may hold. A device syncs over one; a second covers
/// an `espm sync` typed while `espm serve` syncs in the background, or a reconnect
/// before the hub noticed the old connection was gone (the idle timeout reclaims it).
pub const MAX_CONNECTIONS_PER_DEVICE: usize = 2;

/// The longest the hub serves one connection. A sync resumes where it stopped, so a
/// backlog too large for 30 minutes on a thin link costs only a new connection, while a
/// device cannot hold a connection, and what it buffered, for ever.
pub const SESSION_DEADLINE: Duration = Duration::from_secs(30 * 60);

pub use crate::transport::close::{DEADLINE_PASSED, NOT_ADMITTED, OVER_LIMIT};

/// The reason a revoked device's live connections are closed with.
pub const REVOKED_REASON: &str = "this device was revoked";

/// The hub's limits, with the defaults `espm serve` uses; tests set them small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubLimits {
    /// Connections served at once, in total.
    pub connections: usize,
    /// Live connections per device key.
    pub per_device: usize,
    /// Per message, and for the next message (or stream) to begin.
    pub deadlines: Deadlines,
    /// For a whole connection.
    pub session: Duration,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            connections: MAX_CONNECTIONS,
            per_device: MAX_CONNECTIONS_PER_DEVICE,
            deadlines: Deadlines::default(),
            session: SESSION_DEADLINE,
        }
    }
}

/// Turns of store work the hub runs at once, across all devices: enough to keep both
/// cores busy while one turn waits for its flush, few enough that five hundred devices
/// syncing at once hold a handful of frames in memory, not five hundred.
pub const STORE_TURNS: usize = 4;

/// Bytes of frames in flight the hub grants across all its sessions, shared out in the
/// credit each session's Hello carries: one device alone may keep its whole window in
/// flight, five hundred at once two frames each.
pub const CREDIT_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// The fewest frames in flight any session is granted: one being stored, one arriving.
const MIN_CREDIT: usize = 2;

/// The permits for store turns every session of this hub process shares.
pub fn store_turns() -> Arc<Semaphore> {
    static TURNS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    TURNS
        .get_or_init(|| Arc::new(Semaphore::new(STORE_TURNS)))
        .clone()
}

/// Reconciliation sessions running now, for the credit each new one is granted.
static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A running session, counted while it lives.
pub struct SessionSlot(());

impl Drop for SessionSlot {
    fn drop(&mut self) {
        SESSIONS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The session settings for one more device session, and its place in the count: its
/// credit is its share of [`CREDIT_BUDGET_BYTES`] among the sessions running, between
/// two frames and the full window.
pub fn session_config() -> (sync_protocol::Config, SessionSlot) {
    let running = SESSIONS.fetch_add(1, Ordering::AcqRel) + 1;
    let mut config = sync_protocol::Config::default();
    let share = CREDIT_BUDGET_BYTES / running / config.frame_bytes.max(1);
    config.credit = share.clamp(MIN_CREDIT, config.credit.max(MIN_CREDIT));
    (config, SessionSlot(()))
}

/// Why the hub closes a device's connection beyond its share, naming the limit.
pub fn per_device_reason(limit: usize) -> String {
    format!(
        "this device already holds {limit} connections to the hub, the most one device may; close one or wait for it to end"
    )
}

/// Why the hub ends a connection that outlived the session deadline.
pub fn session_reason(limit: Duration) -> String {
    format!(
        "the hub ends a connection after {} s (its session deadline); sync again to continue where this one stopped",
        limit.as_secs_f64()
    )
}

/// Why the hub ends a connection on which no stream was open for the wait deadline.
pub fn idle_reason(limit: Duration) -> String {
    format!(
        "no sync stream was open on this connection for {} s, the longest the hub waits",
        limit.as_secs_f64()
    )
}

/// The hub's door: a connection is admitted only while the total is under its limit.
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    /// A door for `limits.connections` connections at once.
    pub fn new(limits: &HubLimits) -> Admission {
        Admission {
            permits: Arc::new(Semaphore::new(limits.connections)),
            limit: limits.connections,
        }
    }

    /// A permit to serve `incoming`, held until the connection ends; `None` when the
    /// hub serves all it may, in which case `incoming` is refused at once, before any
    /// handshake work, rather than queued: the device backs off and tries again.
    pub fn admit(&self, incoming: quinn::Incoming) -> Option<(quinn::Incoming, Permit)> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Some((incoming, Permit { _held: permit })),
            Err(_) => {
                tracing::warn!(
                    from = %incoming.remote_address(),
                    limit = self.limit,
                    "refused a connection: the hub serves as many as it allows"
                );
                incoming.refuse();
                None
            }
        }
    }
}

/// One admitted connection's place in the total; released when dropped.
pub struct Permit {
    _held: OwnedSemaphorePermit,
}

pub use crate::live::{LiveConnections, Registered};

#[cfg(test)]
mod tests;
