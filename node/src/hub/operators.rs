//! The CSO's side of operators on the hub: `espm operators` (every satker's),
//! `operators requests`, `operators approve` (the activation, signed with the authority
//! key) and `operators revoke`, both published into the satker's notices stream.

use sync_protocol::{Item, OperatorActivation, Revoked, StreamId, Timestamp};

use super::revoke::reason_given;
use crate::{
    error::{NodeError, Result},
    hub::publish::issue,
    node::Node,
    records::{hub_operator_key, operator_request_key, HubOperatorRecord, HUB_OPERATOR_PREFIX},
    trust::{self, standing_of, Standing},
};

/// One operator as the hub knows it.
#[derive(Clone, Debug)]
pub struct HubOperatorRow {
    /// The hub's record of it.
    pub record: HubOperatorRecord,
    /// Pending, active or revoked.
    pub standing: Standing,
}

/// Every satker's operators: `espm operators` on the hub.
#[derive(Clone, Debug, Default)]
pub struct HubOperators(pub Vec<HubOperatorRow>);

/// Operator activation requests waiting for the CSO: `espm operators requests`.
#[derive(Clone, Debug, Default)]
pub struct OperatorRequests(pub Vec<HubOperatorRecord>);

/// An operator just activated.
#[derive(Clone, Debug)]
pub struct Activated(pub HubOperatorRecord);

/// An operator whose activation is withdrawn from `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRevoked {
    /// Its username.
    pub username: String,
    /// Its satker.
    pub satker: String,
    /// From when.
    pub at: Timestamp,
    /// The time zone its times are shown in to people.
    pub zone: String,
}

/// `espm operators` on the hub: every satker's operators and where they stand.
pub(crate) fn list(node: &Node) -> Result<HubOperators> {
    let mut rows = Vec::new();
    for (_, op) in crate::schema::HUB_OPERATORS.list(&node.store, HUB_OPERATOR_PREFIX)? {
        let standing = standing_of(op.activation.as_ref(), |a| {
            trust::of_operator(&node.store, a)
        })?;
        rows.push(HubOperatorRow {
            record: op,
            standing,
        });
    }
    Ok(HubOperators(rows))
}

/// `espm operators requests`
pub fn requests(node: &Node) -> Result<OperatorRequests> {
    node.require_hub("operators requests")?;
    Ok(OperatorRequests(
        crate::schema::HUB_OPERATORS
            .list(&node.store, HUB_OPERATOR_PREFIX)?
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.activation.is_none())
            .collect(),
    ))
}

/// `espm operators approve`
pub fn approve(node: &Node, request_id: &str, passphrase: Option<&str>) -> Result<Activated> {
    approve_with(node, request_id, || node.authority(passphrase))
}

/// [`approve`] with the authority key from `authority`, called once the request is
/// found approvable: lets one unsealing serve many activations (the benchmark's).
pub fn approve_with(
    node: &Node,
    request_id: &str,
    authority: impl FnOnce() -> Result<sync_protocol::SecretKey>,
) -> Result<Activated> {
    node.require_hub("operators approve")?;
    let request_id = crate::prefix::resolve(
        node,
        crate::schema::OPERATOR_REQUESTS,
        request_id,
        "operator activation request",
    )?;
    let request_id = request_id.as_str();
    let unknown = || {
        NodeError::user(format!(
            "no operator activation request '{request_id}'; `espm operators requests` lists the pending ones"
        ))
    };
    let key_of: String = crate::schema::OPERATOR_REQUESTS
        .get(&node.store, &operator_request_key(request_id))?
        .ok_or_else(unknown)?;
    let mut rec: HubOperatorRecord = crate::schema::HUB_OPERATORS
        .get(&node.store, &key_of)?
        .ok_or_else(unknown)?;
    if rec.request.request_id() != request_id {
        return Err(NodeError::user(format!(
            "request {request_id} was replaced by request {} for operator {} of satker {}; approve that one",
            rec.request.request_id(),
            rec.username,
            rec.satker
        )));
    }
    if rec.activation.is_some() {
        return Err(NodeError::user(format!(
            "request {request_id} was already approved: operator {} of satker {} is activated",
            rec.username, rec.satker
        )));
    }
    if let Some(r) = trust::of_device(&node.store, &rec.device)? {
        return Err(NodeError::user(format!(
            "the device that asked for operator {} was {}; the operator must be added again on an enrolled device",
            rec.username,
            r.describe_in(&node.zone()?)
        )));
    }
    let key = authority()?;
    node.store.write(|t| {
        let activation = OperatorActivation {
            request: rec.request,
            username: rec.username.clone(),
            role: rec.role,
            satker: rec.satker.clone(),
            device: rec.device,
            activated_at: node.now(),
        };
        let sealed = issue(
            t,
            &key,
            Item::OperatorActivation(activation),
            Some(&StreamId::Notices(rec.satker.clone())),
        )?;
        rec.activation = Some(sealed.address);
        crate::schema::HUB_OPERATORS.put(t, &key_of, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Activated(rec))
}

/// `espm operators revoke`
pub fn revoke(
    node: &Node,
    username: &str,
    satker: &str,
    reason: &str,
    passphrase: Option<&str>,
) -> Result<OperatorRevoked> {
    node.require_hub("operators revoke")?;
    let reason = reason_given(reason)?;
    let rec: HubOperatorRecord = crate::schema::HUB_OPERATORS.get(&node.store, &hub_operator_key(satker, username))?
        .ok_or_else(|| {
            NodeError::user(format!(
                "no operator '{username}' of satker {satker} at this hub; `espm operators` lists them"
            ))
        })?;
    let Some(activation) = rec.activation else {
        return Err(NodeError::user(format!(
            "operator {username} of satker {satker} was never activated (request {} is pending), so there is nothing to revoke",
            rec.request.request_id()
        )));
    };
    if let Some(r) = trust::of_operator(&node.store, &activation)? {
        return Err(NodeError::user(format!(
            "operator {username} of satker {satker} was already {}",
            r.describe_in(&node.zone()?)
        )));
    }
    let key = node.authority(passphrase)?;
    let target = Revoked::Operator {
        satker: satker.to_string(),
        username: username.to_string(),
        activation,
    };
    // Only this satker's devices need it, so it travels in its notices stream.
    let r = super::revoke::publish(
        node,
        &key,
        target,
        reason,
        StreamId::Notices(satker.to_string()),
    )?;
    Ok(OperatorRevoked {
        username: username.to_string(),
        satker: satker.to_string(),
        at: r.at,
        zone: node.zone()?,
    })
}
