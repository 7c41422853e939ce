//! Operators: `espm operator add` and `espm operators` on a satker device, and the
//! CSO's `espm operators requests|approve|revoke` on the hub.
//!
//! An operator's TOTP secret is made on the device and stays there, sealed under a key
//! derived from the node key (kept in the owner-only `node.key` file, apart from the
//! store), so a copy of the store alone holds no usable secret. The device queues an
//! activation request; the CSO checks the SK Penunjukan and approves it with the
//! authority key; the activation syncs back and only then may the operator submit.

use sha2::{Digest, Sha256};
use storage::{SealedSecret, StoreError, Txn};
use sync_protocol::{
    validate_username, Item, OperatorRequest, OperatorRole, SignedItem, Timestamp,
};
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::{
    error::{NodeError, Result},
    lockout::{self, Guarded},
    node::Node,
    records::OperatorRecord,
    trust::{self},
    trust::{standing_of, Standing},
};

/// Domain of the key that seals TOTP secrets, so it can never equal a key the node key
/// is used as or for elsewhere (TLS identity, device signatures).
const SEAL_KEY_DOMAIN: &[u8] = b"espm/1/operator-totp-seal-key\0";

/// Bytes of a new TOTP secret: 160 bits, as RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;

/// The key TOTP secrets are sealed under: a domain-separated SHA-256 of the node key.
/// The node key is 32 uniformly random bytes, so one hash is a sound derivation; it
/// lives in `node.key`, never in the store.
fn seal_key(node: &Node) -> Zeroizing<[u8; 32]> {
    let secret = Zeroizing::new(node.key.to_bytes());
    let mut h = Sha256::new();
    h.update(SEAL_KEY_DOMAIN);
    h.update(secret.as_slice());
    Zeroizing::new(h.finalize().into())
}

/// Associated data of an operator's sealed secret: the username, so a record copied
/// under another operator's name does not open.
fn aad(username: &str) -> Vec<u8> {
    format!("espm operator totp secret/{username}").into_bytes()
}

/// The operator's TOTP secret, unsealed for one check.
fn open_secret(node: &Node, op: &OperatorRecord) -> Result<Zeroizing<Vec<u8>>> {
    op.secret
        .open(&seal_key(node), &aad(&op.username))
        .map_err(|_| {
            NodeError::user(format!(
                "operator {}'s security token on this device does not open (the store was altered or copied from another node); add the operator again",
                op.username
            ))
        })
}

/// The TOTP of an operator: RFC 6238, SHA-1, 6 digits, 30 s, one step of drift allowed.
pub fn totp_for(secret: &[u8], username: &str, satker: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        Some(format!("espm satker {satker}")),
        username.to_string(),
    )
    .map_err(|e| NodeError::user(format!("operator {username}'s token cannot be built: {e}")))
}

/// The time step (RFC 6238 counter) of `code` at `unix_secs`: the current step or, to
/// bear with an authenticator whose clock is off, one of the `skew` steps on either side.
/// `None` if the code belongs to none of them.
pub fn matching_step(totp: &TOTP, code: &str, unix_secs: u64) -> Option<u64> {
    let now = unix_secs / totp.step;
    let skew = u64::from(totp.skew);
    // The current step first: with one step of drift either side, a code could in
    // principle match two steps, and the current one is the honest reading.
    let mut steps = vec![now];
    for d in 1..=skew {
        steps.extend(now.checked_sub(d));
        steps.extend(now.checked_add(d));
    }
    steps.into_iter().find(|s| {
        s.checked_mul(totp.step)
            .is_some_and(|t| same_code(&totp.generate(t), code))
    })
}

/// Compares codes without stopping at the first wrong digit, so timing does not tell a
/// guesser how many leading digits were right.
fn same_code(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Where a device's operator stands on this device at `now`.
fn standing(node: &Node, op: &OperatorRecord, now: Timestamp) -> Result<Standing> {
    let s = standing_of(op.activation.as_ref(), |a| {
        trust::of_operator(&node.store, a)
    })?;
    if s == Standing::Active {
        let guarded = Guarded::Operator(op.username.clone());
        if let Some(until) = lockout::locked_until(&node.store, &guarded, now)? {
            return Ok(Standing::Locked(until));
        }
    }
    Ok(s)
}

/// Where an operator stands as this write sees it, locks aside: the queueing write
/// re-checks it, since a background sync may store a revocation meanwhile.
pub(super) fn standing_in(t: &Txn<'_>, op: &OperatorRecord) -> Result<Standing, StoreError> {
    standing_of(op.activation.as_ref(), |a| trust::of_operator_in(t, a))
}

/// The refusal of a submission by an operator that is not active, in plain words.
/// Times are shown in `zone`.
pub(super) fn not_active(op: &OperatorRecord, s: &Standing, zone: &str) -> Option<NodeError> {
    let u = &op.username;
    match s {
        Standing::Active | Standing::Locked(_) => None,
        Standing::Pending => Some(NodeError::user(format!(
            "operator {u} is not active yet: it waits for the KPPN's CSO to approve request {}. Run `espm sync` once the CSO has approved it (`espm operators approve {}` on the hub); nothing was submitted",
            op.request.request_id(),
            op.request.request_id()
        ))),
        Standing::Revoked(r) => Some(NodeError::user(format!(
            "operator {u} was {}; it can submit nothing from then on. Ask the KPPN's CSO, or add the operator again (`espm operator add`) for a new activation; nothing was submitted",
            r.describe_in(zone)
        ))),
    }
}

/// The refusal of a code whose step is not newer than `last`, the step of the last code
/// this operator submitted with on this node.
pub(super) fn code_used(operator: &str, step: u64, last: u64) -> NodeError {
    if step == last {
        NodeError::user(format!(
            "the security code for operator {operator} was already used; nothing was submitted. Wait for the next code in the authenticator app"
        ))
    } else {
        NodeError::user(format!(
            "the security code for operator {operator} is older than one already used; nothing was submitted. Wait for the next code in the authenticator app"
        ))
    }
}

/// The operator `username` of this device, active and proven by `code`; returns it with
/// the code's time step. The attempt is counted, checked and (if wrong) recorded in one
/// store write, flushed before answering, so parallel guesses through a serving node's
/// control socket cannot get past five; a right code starts the count again.
pub(super) fn admit(
    node: &Node,
    satker: &str,
    username: &str,
    code: &str,
) -> Result<(OperatorRecord, u64)> {
    let op: OperatorRecord = crate::schema::OPERATORS
        .get(&node.store, username)?
        .ok_or_else(|| {
            NodeError::user(format!(
                "no operator '{username}' on this device; create one with `espm operator add`"
            ))
        })?;
    let now = node.now();
    if let Some(refusal) = not_active(&op, &standing(node, &op, now)?, &node.zone()?) {
        return Err(refusal);
    }
    let totp = totp_for(&open_secret(node, &op)?, username, satker)?;
    let unix_secs = u64::try_from(now.0 / 1000).unwrap_or(0);
    let what = Guarded::Operator(username.to_string());
    let zone = node.zone()?;
    let outcome = node.store.write(|t| {
        let counted = match lockout::begin_in(t, &what, now, &zone) {
            Ok(n) => n,
            Err(locked) => return Ok(Err(locked)),
        };
        let step = match code.len() {
            6 => matching_step(&totp, code, unix_secs),
            _ => None,
        };
        let Some(step) = step else {
            return Ok(Err(lockout::fail_in(t, &what, counted, now, &zone)?));
        };
        let last = crate::schema::OPERATORS
            .get_in(t, username)?
            .and_then(|current| current.last_step);
        if let Some(last) = last.filter(|last| step <= *last) {
            // A used code proves nothing now: it stays counted as an attempt that was
            // not proven right, and says so before anything about the documents.
            return Ok(Err(code_used(username, step, last)));
        }
        lockout::succeed_in(t, &what);
        Ok(Ok(step))
    })?;
    node.store.flush()?;
    Ok((op, outcome?))
}

/// An operator just made on this device, waiting for the KPPN.
#[derive(Clone, Debug)]
pub struct OperatorAdded {
    /// Its username.
    pub username: String,
    /// Its role.
    pub role: OperatorRole,
    /// The activation request the CSO approves.
    pub request_id: String,
    /// The `otpauth://` URI for the operator's authenticator app (it holds the secret).
    pub otpauth_uri: Zeroizing<String>,
}

/// A satker device's own operators, with where each stands here.
#[derive(Clone, Debug)]
pub struct OperatorList(
    pub Vec<(OperatorRecord, Standing)>,
    /// The time zone a lock's end is shown in.
    pub String,
);

/// `espm operator add`
pub fn add(node: &Node, username: &str, role: &str, sk: Option<&str>) -> Result<OperatorAdded> {
    let satker = node.require_satker("operator add")?.to_string();
    validate_username(username).map_err(|e| NodeError::user(format!("{e}; choose another")))?;
    let role: OperatorRole = role.parse()?;
    let now = node.now();
    if let Some(existing) = crate::schema::OPERATORS.get(&node.store, username)? {
        match standing(node, &existing, now)? {
            Standing::Revoked(_) => {}
            Standing::Pending => {
                return Err(NodeError::user(format!(
                    "operator {username} already exists on this device and waits for the KPPN to approve request {}",
                    existing.request.request_id()
                )))
            }
            Standing::Active | Standing::Locked(_) => {
                return Err(NodeError::user(format!(
                    "operator {username} already exists on this device and is active"
                )))
            }
        }
    }
    let request = OperatorRequest {
        username: username.to_string(),
        role,
        satker: satker.clone(),
        device: node.node_id(),
        sk_penunjukan: sk.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        requested_at: now,
    };
    request
        .validate()
        .map_err(|e| NodeError::user(format!("{e}. Correct it and add the operator again")))?;
    let mut secret = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let sealed_secret = SealedSecret::seal(&seal_key(node), &aad(username), &secret)?;
    let uri = Zeroizing::new(totp_for(&secret, username, &satker)?.get_url());
    drop(secret);
    let sealed = SignedItem::seal(Item::OperatorRequest(request), &node.key);
    let request_id = sealed.address.request_id();
    let rec = OperatorRecord {
        username: username.to_string(),
        role,
        secret: sealed_secret,
        last_step: None,
        request: sealed.address,
        activation: None,
    };
    node.store.write(|t| {
        crate::satker::compose::queue_own(t, node.node_id(), &sealed)?;
        crate::schema::OPERATORS.put(t, username, &rec);
        // A new secret starts a new count: wrong codes for the revoked one say nothing.
        lockout::succeed_in(t, &Guarded::Operator(username.to_string()));
        Ok(())
    })?;
    node.store.flush()?;
    Ok(OperatorAdded {
        username: username.to_string(),
        role,
        request_id,
        otpauth_uri: uri,
    })
}

/// `espm operators` on a satker device: its own operators (the hub lists every
/// satker's with `hub::operators::list`).
pub fn list(node: &Node) -> Result<OperatorList> {
    node.require_satker("operators")?;
    let now = node.now();
    let mut rows = Vec::new();
    for (_, op) in crate::schema::OPERATORS.list(&node.store, "")? {
        let s = standing(node, &op, now)?;
        rows.push((op, s));
    }
    Ok(OperatorList(rows, node.zone()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn a_code_one_step_off_is_accepted_and_two_steps_off_is_not() {
        let totp = totp_for(SECRET, "operator01", "123456").unwrap();
        // Mid-step, so the result cannot depend on rounding at a step boundary.
        let now = 1_790_000_015;
        let step = now / 30;
        let code_of = |s: u64| totp.generate(s * 30);
        assert_eq!(matching_step(&totp, &code_of(step), now), Some(step));
        assert_eq!(
            matching_step(&totp, &code_of(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&totp, &code_of(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(matching_step(&totp, &code_of(step - 2), now), None);
        assert_eq!(matching_step(&totp, &code_of(step + 2), now), None);
        assert_eq!(matching_step(&totp, &code_of(step)[..5], now), None);
        assert_eq!(matching_step(&totp, "", now), None);
    }

    #[test]
    fn a_code_at_either_end_of_time_is_checked_without_overflow() {
        let totp = totp_for(SECRET, "operator01", "123456").unwrap();
        assert_eq!(matching_step(&totp, &totp.generate(0), 0), Some(0));
        assert_eq!(matching_step(&totp, "000000", u64::MAX), None);
    }

    fn satker_node(dir: &std::path::Path) -> Node {
        let config = crate::config::NodeConfig::Satker {
            satker: "123456".into(),
            hub: "127.0.0.1:4433".into(),
            hub_id: sync_protocol::SecretKey::generate().public(),
        };
        Node::create(dir, config, None).unwrap().0
    }

    #[test]
    fn an_operators_sealed_secret_moved_under_another_name_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let node = satker_node(dir.path());
        add(&node, "operator01", "operator-satker", None).unwrap();
        add(&node, "operator02", "operator-satker", None).unwrap();
        let one: OperatorRecord = crate::schema::OPERATORS
            .get(&node.store, "operator01")
            .unwrap()
            .unwrap();
        let mut two: OperatorRecord = crate::schema::OPERATORS
            .get(&node.store, "operator02")
            .unwrap()
            .unwrap();
        assert!(open_secret(&node, &two).is_ok());
        // operator02's record now carries operator01's sealed secret.
        two.secret = one.secret.clone();
        assert!(open_secret(&node, &two).is_err());
        assert_eq!(open_secret(&node, &one).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn an_operator_cannot_be_added_twice_while_pending() {
        let dir = tempfile::tempdir().unwrap();
        let node = satker_node(dir.path());
        let first = add(&node, "operator01", "operator-satker", None).unwrap();
        let request_id = first.request_id.clone();
        let err = add(&node, "operator01", "operator-bendahara", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&request_id), "{err}");
        let rec: OperatorRecord = crate::schema::OPERATORS
            .get(&node.store, "operator01")
            .unwrap()
            .unwrap();
        assert_eq!(rec.request.request_id(), request_id);
        assert_eq!(rec.role, OperatorRole::OperatorSatker);
    }
}
