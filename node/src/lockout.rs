//! Five wrong secrets in a row lock what they guard on this device for five minutes, so
//! a thief at the keyboard cannot guess at leisure: a signer's passphrase, the CSO's
//! passphrase that seals the hub's authority key, an operator's security code. Kept in
//! the store, so restarting the program does not reset it.
//!
//! An attempt is counted in one store write, flushed, before the secret is checked, and
//! taken back only when it proves right: parallel guesses through a serving node's
//! control socket each take a place in the count, and none runs Argon2 once five are in
//! flight or failed. This is an online limit only; a copied key file is guarded by the
//! Argon2id cost alone (storage::sealed_key).

pub use crate::records::Attempts;
use storage::{SealedKey, Store, StoreError, Txn};
use sync_protocol::Timestamp;
use zeroize::Zeroizing;

use crate::{
    clock::{self, Clock},
    error::{NodeError, Result},
    schema::LOCKOUTS,
};

/// Wrong attempts in a row that lock.
pub const MAX_FAILURES: u32 = 5;
/// How long the lock holds.
pub const LOCK_MS: i64 = 5 * 60 * 1000;

/// What a lockout guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guarded {
    /// The signing key of a certificate, by serial.
    Signer(String),
    /// The hub's authority key (the CSO's passphrase).
    Authority,
    /// An operator's security code (TOTP), by username.
    Operator(String),
}

impl Guarded {
    fn key(&self) -> String {
        match self {
            Guarded::Signer(serial) => format!("signer/{serial}"),
            Guarded::Authority => "authority".into(),
            Guarded::Operator(username) => format!("operator/{username}"),
        }
    }

    /// What was wrong, as the refusal says it.
    fn wrong(&self) -> String {
        match self {
            Guarded::Signer(serial) => format!("wrong passphrase for certificate {serial}"),
            Guarded::Authority => "wrong CSO passphrase".into(),
            Guarded::Operator(u) => {
                format!("the security code for operator {u} is wrong or expired")
            }
        }
    }

    /// Who is locked, as the refusal says it.
    fn who(&self) -> String {
        match self {
            Guarded::Signer(serial) => format!("signer {serial}"),
            Guarded::Authority => "the registration authority".into(),
            Guarded::Operator(u) => format!("operator {u}"),
        }
    }

    fn tries(&self) -> &'static str {
        match self {
            Guarded::Operator(_) => "wrong security codes",
            _ => "wrong passphrases",
        }
    }
}

/// The decision on one attempt, before its secret is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go on and check it; it is counted as the n-th in a row until it proves right.
    Counted(u32),
    /// Locked until then; do not check anything.
    Locked(Timestamp),
}

/// Decides an attempt at `now` and updates the count: the rule, free of the store.
pub fn admit(attempts: &mut Attempts, now: Timestamp) -> Admission {
    if let Some(until) = attempts.locked_until {
        if now < until {
            return Admission::Locked(until);
        }
        *attempts = Attempts::default();
    }
    if attempts.failures >= MAX_FAILURES {
        let until = Timestamp(now.0 + LOCK_MS);
        *attempts = Attempts {
            failures: 0,
            locked_until: Some(until),
        };
        return Admission::Locked(until);
    }
    attempts.failures += 1;
    Admission::Counted(attempts.failures)
}

/// Records that a counted attempt proved wrong; returns the lock time if it locked now.
pub fn failed(attempts: &mut Attempts, now: Timestamp) -> Option<Timestamp> {
    if let Some(until) = attempts.locked_until.filter(|u| now < *u) {
        return Some(until);
    }
    if attempts.failures >= MAX_FAILURES {
        let until = Timestamp(now.0 + LOCK_MS);
        *attempts = Attempts {
            failures: 0,
            locked_until: Some(until),
        };
        return Some(until);
    }
    None
}

/// The refusal of an attempt while locked, the time shown in `zone`.
pub fn locked_error(what: &Guarded, until: Timestamp, zone: &str) -> NodeError {
    NodeError::user(format!(
        "{} is locked on this device until {} after {MAX_FAILURES} {} in a row; wait, then try again",
        what.who(),
        clock::local(until, zone),
        what.tries()
    ))
}

/// The refusal of a wrong attempt: how many are left, or that it locked (until a time
/// shown in `zone`).
pub fn wrong_error(
    what: &Guarded,
    counted: u32,
    locked: Option<Timestamp>,
    zone: &str,
) -> NodeError {
    match locked {
        Some(until) => NodeError::user(format!(
            "{}; that was {MAX_FAILURES} in a row, so {} is locked on this device until {}",
            what.wrong(),
            what.who(),
            clock::local(until, zone)
        )),
        None => NodeError::user(format!(
            "{}; nothing was done. Try again ({} more wrong attempt(s) lock it for 5 minutes)",
            what.wrong(),
            MAX_FAILURES.saturating_sub(counted)
        )),
    }
}

/// Counts an attempt inside the caller's write: `Err` if locked (until a time shown in
/// `zone`).
pub fn begin_in(
    t: &mut Txn<'_>,
    what: &Guarded,
    now: Timestamp,
    zone: &str,
) -> Result<u32, NodeError> {
    let key = what.key();
    let mut attempts: Attempts = LOCKOUTS.get_in(t, &key)?.unwrap_or_default();
    let admission = admit(&mut attempts, now);
    LOCKOUTS.put(t, &key, &attempts);
    match admission {
        Admission::Counted(n) => Ok(n),
        Admission::Locked(until) => Err(locked_error(what, until, zone)),
    }
}

/// Inside the caller's write: the counted attempt was wrong; returns the refusal.
pub fn fail_in(
    t: &mut Txn<'_>,
    what: &Guarded,
    counted: u32,
    now: Timestamp,
    zone: &str,
) -> Result<NodeError, StoreError> {
    let key = what.key();
    let mut attempts: Attempts = LOCKOUTS.get_in(t, &key)?.unwrap_or_default();
    let locked = failed(&mut attempts, now);
    LOCKOUTS.put(t, &key, &attempts);
    Ok(wrong_error(what, counted, locked, zone))
}

/// Inside the caller's write: the attempt was right, so the count starts again.
pub fn succeed_in(t: &mut Txn<'_>, what: &Guarded) {
    LOCKOUTS.delete(t, &what.key());
}

/// Until when `what` is locked at `now`, if it is: for listings, which change nothing.
pub fn locked_until(
    store: &storage::Store,
    what: &Guarded,
    now: Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let attempts: Attempts = LOCKOUTS.get(store, &what.key())?.unwrap_or_default();
    Ok(attempts.locked_until.filter(|until| now < *until))
}

/// Unseals `sealed` with `passphrase`, counting the attempt in `store` before Argon2
/// runs; `clock` says when, and a refusal shows times in `zone`.
pub fn unseal(
    store: &Store,
    clock: &dyn Clock,
    zone: &str,
    what: &Guarded,
    sealed: &SealedKey,
    passphrase: &str,
) -> Result<Zeroizing<[u8; 32]>> {
    let now = clock.now();
    // Durable before Argon2 runs, so neither a parallel guess nor killing the program
    // mid-check escapes the count.
    let admitted = store.write(|t| Ok(begin_in(t, what, now, zone)))?;
    store.flush()?;
    let counted = admitted?;
    match sealed.open(passphrase) {
        Ok(secret) => {
            store.write(|t| {
                succeed_in(t, what);
                Ok(())
            })?;
            store.flush()?;
            Ok(secret)
        }
        Err(StoreError::WrongPassphrase) => {
            let refusal = store.write(|t| fail_in(t, what, counted, clock.now(), zone))?;
            store.flush()?;
            Err(refusal)
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests;
