//! Instants on the wire: whole milliseconds since the Unix epoch, UTC. Integers keep the
//! encoding canonical; time zones are a display concern of the node.

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The milliseconds value.
    pub fn millis(self) -> i64 {
        self.0
    }
}
