//! Time: the clock every rule reads (the wall clock in production, a set one in tests),
//! and how a time is shown in JSON and in a KPPN's time zone.
//!
//! Rules never read the system time themselves: they take `now` from the node's
//! [`Clock`], so each time rule (service hours, expiries, lockouts, validity) can be
//! tested at the edges it cares about.

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use sync_protocol::Timestamp;

/// Where a node's rules get the time.
pub trait Clock: Send + Sync {
    /// Now, as a protocol timestamp.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        wall()
    }
}

/// A clock that says what it is told: for tests of time rules, and for replaying.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock standing at `at`.
    pub fn at(at: Timestamp) -> FixedClock {
        FixedClock(AtomicI64::new(at.0))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }

    /// Moves the clock on by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// The system time. Only [`WallClock`] and the front-ends (progress displays, the bench)
/// read it; rules read a [`Clock`].
pub fn wall() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp(ms)
}

/// RFC 3339 in UTC, the form JSON output uses.
pub fn rfc3339(t: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(t.0) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("@{}ms", t.0),
    }
}

/// Local time in `tz` for people, e.g. `2026-11-23 10:15:02 WIB`.
pub fn local(t: Timestamp, tz: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(t.0) else {
        return rfc3339(t);
    };
    match ts.in_tz(tz) {
        Ok(z) => z.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => rfc3339(t),
    }
}

/// "revoked on TIME (REASON)" for the person at this node, the time in `tz`: how the
/// node's own messages name a revocation (the judge's refusals, which travel, keep UTC).
pub fn revoked_on(at: Timestamp, reason: &str, tz: &str) -> String {
    format!("revoked on {} ({reason})", local(at, tz))
}
