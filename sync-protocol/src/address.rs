//! Content addresses: SHA-256 of an item's exact stored bytes.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ProtocolError;

/// The SHA-256 of an item's canonical bytes; the item's name everywhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl Address {
    /// The address of these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Address(Sha256::digest(bytes).into())
    }

    /// Lowercase hex, the form users see and type.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 16 hex digits: short enough to type, long enough to be unique here.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }

    /// The first 32 hex digits (128 bits): the id of a request the CSO reviews, long
    /// enough that nobody can make another request collide with it.
    pub fn request_id(&self) -> String {
        hex::encode(&self.0[..16])
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.short())
    }
}

impl FromStr for Address {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|e| ProtocolError::BadIdentifier {
            what: "content address",
            text: s.to_string(),
            why: e.to_string(),
        })?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ProtocolError::BadIdentifier {
            what: "content address",
            text: s.to_string(),
            why: "must be 64 hex digits".into(),
        })?;
        Ok(Address(arr))
    }
}
