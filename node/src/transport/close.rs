//! The QUIC application close codes a hub ends a connection with, so a device tells why
//! it was dropped by a number, never by the reason's text.

/// The QUIC application close code for a device the hub does not (or no longer) admit.
pub const NOT_ADMITTED: u32 = 1;

/// The close code for a connection beyond a limit on connections.
pub const OVER_LIMIT: u32 = 3;

/// The close code for a connection that outlived a deadline.
pub const DEADLINE_PASSED: u32 = 4;
