//! Streams and version vectors: items live in numbered streams, and a version vector
//! says how far a node holds each stream it follows.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// A numbered sequence of items (1, 2, 3, …).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamId {
    /// Items a device authored, in the order it made them.
    Origin(NodeId),
    /// The hub's re-publication of the documents of one satker, from its devices.
    Scope(String),
    /// What the hub says to one satker: receipts, status updates and certificates. A
    /// stream of its own so that, on a thin link, it travels before the documents.
    Notices(String),
    /// Items every node reads: hub identity and device enrollments.
    Trust,
}

impl StreamId {
    /// A stable byte key for stores.
    pub fn key(&self) -> Vec<u8> {
        match self {
            StreamId::Origin(id) => [b"o:".as_slice(), &id.0].concat(),
            StreamId::Scope(s) => [b"s:".as_slice(), s.as_bytes()].concat(),
            StreamId::Notices(s) => [b"n:".as_slice(), s.as_bytes()].concat(),
            StreamId::Trust => b"t:".to_vec(),
        }
    }
}

impl StreamId {
    /// Which stream goes first on a thin link (lower first): trust makes everything
    /// verifiable, notices are small and urgent, documents are large.
    pub fn priority(&self) -> u8 {
        match self {
            StreamId::Trust => 0,
            StreamId::Notices(_) => 1,
            StreamId::Scope(_) => 2,
            StreamId::Origin(_) => 3,
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamId::Origin(id) => write!(f, "device {}…", &id.to_hex()[..12]),
            StreamId::Scope(s) => write!(f, "satker {s}"),
            StreamId::Notices(s) => write!(f, "notices for satker {s}"),
            StreamId::Trust => f.write_str("trust"),
        }
    }
}

/// How far a node holds each stream: the highest sequence number received in order.
pub type VersionVector = BTreeMap<StreamId, u64>;
