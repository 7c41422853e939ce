//! Five wrong passphrases in a row lock a signer on this device for five minutes, so a
//! thief with the laptop cannot guess at leisure. Kept in the store, so restarting the
//! program does not reset it.

use serde::{Deserialize, Serialize};
use storage::{SealedKey, StoreError, Table};
use sync_protocol::Timestamp;
use zeroize::Zeroizing;

use crate::{
    clock,
    error::{NodeError, Result},
    node::Node,
};

/// Wrong passphrases in a row that lock a signer.
pub const MAX_FAILURES: u32 = 5;
/// How long the lock holds.
pub const LOCK_MS: i64 = 5 * 60 * 1000;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Attempts {
    failures: u32,
    locked_until: Option<Timestamp>,
}

fn key(serial: &str) -> String {
    format!("lockout/{serial}")
}

/// Unseals the signing key of certificate `serial`, counting wrong passphrases.
pub fn unseal(
    node: &Node,
    serial: &str,
    sealed: &SealedKey,
    passphrase: &str,
) -> Result<Zeroizing<[u8; 32]>> {
    let now = clock::now();
    let mut attempts: Attempts = node
        .store
        .get(Table::Meta, &key(serial))?
        .unwrap_or_default();
    if let Some(until) = attempts.locked_until {
        if now < until {
            return Err(NodeError::user(format!(
                "signer {serial} is locked on this device until {} after {MAX_FAILURES} wrong passphrases in a row; wait, then try again",
                clock::rfc3339(until)
            )));
        }
        attempts = Attempts::default();
    }
    match sealed.open(passphrase) {
        Ok(secret) => {
            if attempts != Attempts::default() {
                node.store.write(|t| {
                    t.delete(Table::Meta, &key(serial));
                    Ok(())
                })?;
                node.store.flush()?;
            }
            Ok(secret)
        }
        Err(StoreError::WrongPassphrase) => {
            attempts.failures += 1;
            let message = if attempts.failures >= MAX_FAILURES {
                let until = Timestamp(now.0 + LOCK_MS);
                attempts = Attempts {
                    failures: 0,
                    locked_until: Some(until),
                };
                format!(
                    "wrong passphrase for certificate {serial}; that was {MAX_FAILURES} in a row, so this signer is locked on this device until {}",
                    clock::rfc3339(until)
                )
            } else {
                format!(
                    "wrong passphrase for certificate {serial}; nothing was signed. Try again ({} more wrong attempt(s) lock it for 5 minutes)",
                    MAX_FAILURES - attempts.failures
                )
            };
            // Durable before answering, so killing the program between guesses gains nothing.
            node.store.write(|t| {
                t.put(Table::Meta, &key(serial), &attempts);
                Ok(())
            })?;
            node.store.flush()?;
            Err(NodeError::user(message))
        }
        Err(other) => Err(other.into()),
    }
}
