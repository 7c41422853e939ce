//! Revocations: the registration authority blocks a lost device or withdraws a signer's
//! certificate. Published in the trust stream, so every node learns of them first.

use serde::{Deserialize, Serialize};

use crate::{NodeId, Timestamp};

/// What is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Revoked {
    /// An enrolled device: the hub refuses it from now on.
    Device(NodeId),
    /// A signer certificate, by serial: it signs nothing new from now on.
    Certificate(String),
}

/// The authority's signed statement that something is revoked, from `at`, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The device or certificate.
    pub target: Revoked,
    /// From when, by the hub's clock. What the hub received before stays valid.
    pub at: Timestamp,
    /// The CSO's reason, e.g. a stolen laptop or an official who moved.
    pub reason: String,
}
