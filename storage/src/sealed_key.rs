//! Signer private keys at rest: sealed with XChaCha20-Poly1305 under a key derived from
//! the passphrase by Argon2id. The plaintext key exists only in zeroizing buffers.
//! Secrets a node needs without anyone typing a passphrase (operators' TOTP secrets) are
//! sealed the same way under a raw key the caller keeps apart from the store
//! ([`SealedSecret`]).

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

/// Argon2id memory cost of new seals, in KiB: 64 MiB. Above OWASP's current minimum
/// (19 MiB with 2 passes, or 46 MiB with 1): the lockout limits guesses only on the
/// device itself, so a copied store is guarded by this cost alone.
pub const SEAL_M_COST_KIB: u32 = 64 * 1024;
/// Argon2id passes of new seals.
pub const SEAL_T_COST: u32 = 3;
/// Argon2id lanes of new seals.
pub const SEAL_P_COST: u32 = 1;

/// The largest parameters a stored seal may ask for, so a damaged or planted record
/// cannot make opening it take gigabytes or minutes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 8;

impl SealedKey {
    /// Seals `secret` under `passphrase` with the current Argon2id cost
    /// ([`SEAL_M_COST_KIB`], [`SEAL_T_COST`]); the parameters are stored with the seal,
    /// so keys sealed at an older cost still open.
    pub fn seal(secret: &[u8; 32], passphrase: &str) -> Result<SealedKey, StoreError> {
        Self::seal_with(
            secret,
            passphrase,
            SEAL_M_COST_KIB,
            SEAL_T_COST,
            SEAL_P_COST,
        )
    }

    fn seal_with(
        secret: &[u8; 32],
        passphrase: &str,
        m: u32,
        t: u32,
        p: u32,
    ) -> Result<SealedKey, StoreError> {
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

    /// The seal as bytes for a key file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Serializing a plain record into a Vec cannot fail.
        if let Err(e) = ciborium::into_writer(self, &mut out) {
            panic!("sealed key encoding failed: {e}");
        }
        out
    }

    /// A seal read back from a key file.
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedKey, StoreError> {
        ciborium::from_reader(bytes).map_err(|e| StoreError::Corrupt {
            what: "sealed key".into(),
            detail: e.to_string(),
        })
    }

    /// Opens the sealed secret, or `WrongPassphrase`.
    pub fn open(&self, passphrase: &str) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        if self.m_cost > MAX_M_COST_KIB || self.t_cost > MAX_T_COST || self.p_cost > MAX_P_COST {
            return Err(StoreError::Corrupt {
                what: "sealed key".into(),
                detail: format!(
                    "asks for Argon2id cost m={} KiB, t={}, p={}, beyond any this program seals with",
                    self.m_cost, self.t_cost, self.p_cost
                ),
            });
        }
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

/// A short secret sealed with XChaCha20-Poly1305 under a raw 32-byte key that is kept
/// apart from the store, bound to associated data (e.g. whose secret it is), so a record
/// moved under another name no longer opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// AEAD nonce, random per seal.
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    /// Sealed secret with its tag.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

impl SealedSecret {
    /// Seals `secret` under `key`, bound to `aad`.
    pub fn seal(key: &[u8; 32], aad: &[u8], secret: &[u8]) -> Result<SealedSecret, StoreError> {
        let mut nonce = vec![0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(key.into());
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                chacha20poly1305::aead::Payload { msg: secret, aad },
            )
            .map_err(|_| StoreError::Corrupt {
                what: "sealed secret".into(),
                detail: "encryption failed".into(),
            })?;
        Ok(SealedSecret { nonce, ciphertext })
    }

    /// Opens the secret with `key` and the same `aad` it was sealed with. Anything else
    /// (another key, another name, one changed byte) is refused as corrupt.
    pub fn open(&self, key: &[u8; 32], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if self.nonce.len() != 24 {
            return Err(StoreError::Corrupt {
                what: "sealed secret".into(),
                detail: "bad nonce length".into(),
            });
        }
        let cipher = XChaCha20Poly1305::new(key.into());
        cipher
            .decrypt(
                XNonce::from_slice(&self.nonce),
                chacha20poly1305::aead::Payload {
                    msg: &self.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Corrupt {
                what: "sealed secret".into(),
                detail: "it does not open under this node's key for this name: it was altered, moved under another name, or comes from another node".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_seals_cost_at_least_owasps_argon2id_minimum_and_old_seals_still_open() {
        let sealed = SealedKey::seal(&[9u8; 32], "kata sandi panjang").unwrap();
        assert!(
            sealed.m_cost >= 64 * 1024 && sealed.t_cost >= 3,
            "{sealed:?}"
        );
        // A key sealed at the earlier cost (19 MiB, 2 passes) keeps opening.
        let old = SealedKey::seal_with(&[5u8; 32], "kata sandi lama", 19 * 1024, 2, 1).unwrap();
        let reread = SealedKey::from_bytes(&old.to_bytes()).unwrap();
        assert_eq!(*reread.open("kata sandi lama").unwrap(), [5u8; 32]);
    }

    #[test]
    fn a_seal_asking_for_an_absurd_cost_is_refused_without_running_it() {
        let mut sealed = SealedKey::seal(&[1u8; 32], "kata sandi panjang").unwrap();
        sealed.m_cost = u32::MAX;
        assert!(matches!(
            sealed.open("kata sandi panjang"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_sealed_secret_opens_only_under_its_key_and_its_name() {
        let key = [3u8; 32];
        let secret = b"12345678901234567890";
        let sealed = SealedSecret::seal(&key, b"operator01", secret).unwrap();
        assert!(!sealed.ciphertext.windows(secret.len()).any(|w| w == secret));
        assert_eq!(sealed.open(&key, b"operator01").unwrap().as_slice(), secret);
        assert!(sealed.open(&[4u8; 32], b"operator01").is_err());
        assert!(sealed.open(&key, b"operator02").is_err());
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(altered.open(&key, b"operator01").is_err());
        // Each seal has its own nonce, so two seals of one secret look unrelated.
        let again = SealedSecret::seal(&key, b"operator01", secret).unwrap();
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

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
