//! ed25519 keys. Every signature is domain-separated by purpose, so a signature made
//! for one kind of item can never be replayed as another.

use std::{fmt, str::FromStr};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::ProtocolError;

/// An ed25519 public key; for nodes it is also the node id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// A node's identity: its public key.
pub type NodeId = PublicKey;

impl PublicKey {
    /// Lowercase hex: the text form printed by `espm id`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A short fingerprint people compare aloud or side by side, e.g. `3f2a-91c0-7be4`:
    /// the first 48 bits of the key's SHA-256, so a look-alike id gives a different one.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let h = hex::encode(&Sha256::digest(self.0)[..6]);
        format!("{}-{}-{}", &h[0..4], &h[4..8], &h[8..12])
    }

    /// Verifies `signature` over `message` under the purpose `domain`.
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        key.verify_strict(&domain_message(domain, message), &sig)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}…)", &self.to_hex()[..12])
    }
}

impl FromStr for PublicKey {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ProtocolError::BadIdentifier {
            what: "node id",
            text: s.to_string(),
            why: why.to_string(),
        };
        let bytes = hex::decode(s.trim()).map_err(|_| bad("must be 64 hex digits"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| bad("must be 64 hex digits"))?;
        VerifyingKey::from_bytes(&arr).map_err(|_| bad("not an ed25519 public key"))?;
        Ok(PublicKey(arr))
    }
}

/// An ed25519 signing key. The inner key zeroizes itself on drop.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        SecretKey(SigningKey::generate(&mut OsRng))
    }

    /// Rebuilds a key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(bytes))
    }

    /// The 32 secret bytes, for sealing at rest; callers must zeroize their copy.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` under the purpose `domain`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        self.0.sign(&domain_message(domain, message)).to_bytes()
    }

    /// The dalek key, for TLS certificate generation.
    pub fn dalek(&self) -> &SigningKey {
        &self.0
    }
}

pub(crate) fn domain_message(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + 1 + message.len());
    m.extend_from_slice(domain);
    m.push(0);
    m.extend_from_slice(message);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_for_one_purpose_fails_for_another() {
        let k = SecretKey::generate();
        let sig = k.sign(b"espm/1/a", b"hello");
        assert!(k.public().verify(b"espm/1/a", b"hello", &sig));
        assert!(!k.public().verify(b"espm/1/b", b"hello", &sig));
        assert!(!k.public().verify(b"espm/1/a", b"hellp", &sig));
    }

    #[test]
    fn node_id_round_trips_through_text() {
        let k = SecretKey::generate().public();
        assert_eq!(k.to_hex().parse::<PublicKey>().unwrap(), k);
        assert!("abc".parse::<PublicKey>().is_err());
    }
}
