//! The CSO's side of operators on the hub: `espm operators` (every satker's),
//! `operators requests`, `operators approve` (the activation, signed with the authority
//! key) and `operators revoke`, both published into the satker's notices stream.

use serde_json::json;
use storage::Table;
use sync_protocol::{operator::OperatorActivation, revocation::Revoked, stream::StreamId, Item};

use super::revoke::reason_given;
use crate::{cli::run::Output, satker::operators::standing_of};
use crate::{
    clock,
    error::{NodeError, Result},
    hub::publish::issue,
    node::Node,
    records::{hub_operator_key, operator_request_key, HubOperatorRecord, HUB_OPERATOR_PREFIX},
    trust,
};

/// `espm operators` on the hub: every satker's operators and where they stand.
pub(crate) fn list(node: &Node) -> Result<Output> {
    let mut rows = Vec::new();
    for (_, op) in node
        .store
        .list::<HubOperatorRecord>(Table::Operator, HUB_OPERATOR_PREFIX)?
    {
        let s = standing_of(op.activation.as_ref(), |a| {
            trust::of_operator(&node.store, a)
        })?;
        rows.push((op, s));
    }
    let json: Vec<_> = rows
        .iter()
        .map(|(op, s)| json!({ "username": op.username, "role": op.role.as_str(), "status": s.as_str(), "satker": op.satker }))
        .collect();
    let mut text = String::new();
    if rows.is_empty() {
        text.push_str("No operators at this hub.");
    } else {
        text.push_str(&format!(
            "{:<20} {:<20} {:<10} {}\n",
            "USERNAME", "ROLE", "SATKER", "STATUS"
        ));
        for (op, s) in &rows {
            text.push_str(&format!(
                "{:<20} {:<20} {:<10} {}\n",
                op.username,
                op.role.as_str(),
                op.satker,
                s.as_str()
            ));
        }
    }
    Ok(Output::new(json.into(), text.trim_end()))
}

/// `espm operators requests`
pub fn requests(node: &Node) -> Result<Output> {
    node.require_hub("operators requests")?;
    let pending: Vec<HubOperatorRecord> = node
        .store
        .list::<HubOperatorRecord>(Table::Operator, HUB_OPERATOR_PREFIX)?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.activation.is_none())
        .collect();
    let json: Vec<_> = pending
        .iter()
        .map(|r| {
            json!({
                "request_id": r.request.request_id(),
                "username": r.username,
                "role": r.role.as_str(),
                "satker": r.satker,
                "device": r.device.to_hex(),
                "sk_penunjukan": r.sk_penunjukan,
            })
        })
        .collect();
    let mut text = String::new();
    if pending.is_empty() {
        text.push_str("No pending operator activation requests.");
    } else {
        text.push_str(&format!(
            "{:<34} {:<20} {:<20} {:<10} {}\n",
            "REQUEST", "USERNAME", "ROLE", "SATKER", "SK PENUNJUKAN"
        ));
        for r in &pending {
            text.push_str(&format!(
                "{:<34} {:<20} {:<20} {:<10} {}\n",
                r.request.request_id(),
                r.username,
                r.role.as_str(),
                r.satker,
                r.sk_penunjukan.as_deref().unwrap_or("-")
            ));
        }
        text.push_str(
            "Check each operator's SK Penunjukan before `espm operators approve REQUEST`.",
        );
    }
    Ok(Output::new(json.into(), text.trim_end()))
}

/// `espm operators approve`
pub fn approve(node: &Node, request_id: &str, passphrase: Option<&str>) -> Result<Output> {
    node.require_hub("operators approve")?;
    let unknown = || {
        NodeError::user(format!(
            "no operator activation request '{request_id}'; `espm operators requests` lists the pending ones"
        ))
    };
    let key_of: String = node
        .store
        .get(Table::Operator, &operator_request_key(request_id))?
        .ok_or_else(unknown)?;
    let mut rec: HubOperatorRecord = node
        .store
        .get(Table::Operator, &key_of)?
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
            r.describe()
        )));
    }
    let key = node.authority(passphrase)?;
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
        t.put(Table::Operator, &key_of, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "username": rec.username, "satker": rec.satker }),
        format!(
            "Activated operator {} ({}) of satker {} on device {}. The activation reaches the satker at its next sync.",
            rec.username,
            rec.role.title(),
            rec.satker,
            rec.device
        ),
    ))
}

/// `espm operators revoke`
pub fn revoke(
    node: &Node,
    username: &str,
    satker: &str,
    reason: &str,
    passphrase: Option<&str>,
) -> Result<Output> {
    node.require_hub("operators revoke")?;
    let reason = reason_given(reason)?;
    let rec: HubOperatorRecord = node
        .store
        .get(Table::Operator, &hub_operator_key(satker, username))?
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
            r.describe()
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
    Ok(Output::new(
        json!({ "username": username, "satker": satker }),
        format!(
            "Operator {username} of satker {satker} is revoked from {}: the hub refuses submissions by it that reach it from now on, and the satker's devices refuse to submit as it once they sync.",
            clock::rfc3339(r.at)
        ),
    ))
}
