//! Revocations: the registration authority blocks a lost device, withdraws a signer's
//! certificate, or deactivates an operator. Device and certificate revocations are
//! published in the trust stream, so every node learns of them first; an operator's
//! concerns one satker and travels in that satker's notices stream.

use serde::{Deserialize, Serialize};

use crate::{Address, NodeId, Timestamp};

/// What is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Revoked {
    /// An enrolled device: the hub refuses it from now on.
    Device(NodeId),
    /// A signer certificate, by serial: it signs nothing new from now on.
    Certificate(String),
    /// One activation of an operator of a satker: the operator submits nothing from now
    /// on. Naming the activation lets the same username be activated again later.
    Operator {
        /// The operator's satker.
        satker: String,
        /// The operator's username.
        username: String,
        /// The activation item withdrawn.
        activation: Address,
    },
}

/// The authority's signed statement that something is revoked, from `at`, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The device, certificate or operator.
    pub target: Revoked,
    /// From when, by the hub's clock. What the hub received before stays valid.
    pub at: Timestamp,
    /// The CSO's reason, e.g. a stolen laptop or an official who moved.
    pub reason: String,
}
