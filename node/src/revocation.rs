//! Revocations as each node keeps them: the hub records what its CSO revoked, every
//! other node what it learned from the trust stream. A revocation speaks from its own
//! time on: what the hub received before it stays valid.

use serde::{Deserialize, Serialize};
use storage::{Store, StoreError, Table, Txn};
use sync_protocol::{
    revocation::{Revocation, Revoked},
    Address, NodeId, Timestamp,
};

use crate::clock;

/// A revocation this node knows of.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevocationRecord {
    /// The revocation item.
    pub address: Address,
    /// From when.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

impl RevocationRecord {
    /// Whether it covers what the hub received at `received`.
    pub fn applies_to(&self, received: Timestamp) -> bool {
        received >= self.at
    }

    /// How a refusal names it: when and why.
    pub fn describe(&self) -> String {
        format!("revoked on {} ({})", clock::rfc3339(self.at), self.reason)
    }
}

fn key(target: &Revoked) -> String {
    match target {
        Revoked::Device(id) => format!("revoked/device/{}", id.to_hex()),
        Revoked::Certificate(serial) => format!("revoked/cert/{serial}"),
    }
}

/// Records a revocation in the same write as its item.
pub fn record(t: &mut Txn<'_>, r: &Revocation, address: Address) {
    t.put(
        Table::Meta,
        &key(&r.target),
        &RevocationRecord {
            address,
            at: r.at,
            reason: r.reason.clone(),
        },
    );
}

/// The revocation of a device, if any.
pub fn of_device(store: &Store, id: &NodeId) -> Result<Option<RevocationRecord>, StoreError> {
    store.get(Table::Meta, &key(&Revoked::Device(*id)))
}

/// The revocation of a certificate, if any.
pub fn of_certificate(store: &Store, serial: &str) -> Result<Option<RevocationRecord>, StoreError> {
    store.get(Table::Meta, &key(&Revoked::Certificate(serial.to_string())))
}

/// The revocation of a certificate as this write would see it.
pub fn of_certificate_in(
    t: &Txn<'_>,
    serial: &str,
) -> Result<Option<RevocationRecord>, StoreError> {
    t.get(Table::Meta, &key(&Revoked::Certificate(serial.to_string())))
}
