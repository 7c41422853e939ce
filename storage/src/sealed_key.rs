//! Signer private keys at rest: sealed with XChaCha20-Poly1305 under a key derived from
//! the passphrase by Argon2id. The plaintext key exists only in zeroizing buffers.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::{
    aead::{Aead, KeyInit},
    XChaCha20Poly1305, XNonce,
};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::StoreError;

/// A 32-byte secret sealed under a passphrase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    /// Argon2id salt.
    #[serde(with = "serde_bytes")]
    pub salt: Vec<u8>,
    /// AEAD nonce.
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    /// Sealed secret with its tag.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
    /// Argon2id memory cost in KiB.
    pub m_cost: u32,
    /// Argon2id iterations.
    pub t_cost: u32,
    /// Argon2id lanes.
    pub p_cost: u32,
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|e| StoreError::Corrupt {
        what: "sealed key parameters".into(),
        detail: e.to_string(),
    })?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| StoreError::Corrupt {
            what: "sealed key".into(),
            detail: e.to_string(),
        })?;
    Ok(out)
}

impl SealedKey {
    /// Seals `secret` under `passphrase` with OWASP's recommended Argon2id cost
    /// (19 MiB, 2 passes).
    pub fn seal(secret: &[u8; 32], passphrase: &str) -> Result<SealedKey, StoreError> {
        let (m, t, p) = (19 * 1024, 2, 1);
        let mut salt = vec![0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = vec![0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let key = derive(passphrase, &salt, m, t, p)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), secret.as_slice())
            .map_err(|_| StoreError::Corrupt {
                what: "sealed key".into(),
                detail: "encryption failed".into(),
            })?;
        Ok(SealedKey {
            salt,
            nonce,
            ciphertext,
            m_cost: m,
            t_cost: t,
            p_cost: p,
        })
    }

    /// Opens the sealed secret, or `WrongPassphrase`.
    pub fn open(&self, passphrase: &str) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        if self.nonce.len() != 24 {
            return Err(StoreError::Corrupt {
                what: "sealed key".into(),
                detail: "bad nonce length".into(),
            });
        }
        let key = derive(
            passphrase,
            &self.salt,
            self.m_cost,
            self.t_cost,
            self.p_cost,
        )?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(&self.nonce), self.ciphertext.as_slice())
                .map_err(|_| StoreError::WrongPassphrase)?,
        );
        let arr: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                what: "sealed key".into(),
                detail: "wrong length".into(),
            })?;
        Ok(Zeroizing::new(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_passphrase_opens_and_wrong_one_is_refused() {
        let secret = [7u8; 32];
        let sealed = SealedKey::seal(&secret, "correct horse").unwrap();
        assert!(!sealed.ciphertext.windows(32).any(|w| w == secret));
        assert_eq!(*sealed.open("correct horse").unwrap(), secret);
        assert!(matches!(
            sealed.open("wrong"),
            Err(StoreError::WrongPassphrase)
        ));
    }
}
