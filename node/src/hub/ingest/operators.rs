//! The hub's operator rules at ingest: who may ask for an operator's activation, and
//! whether the operator a submission names may submit it.

use storage::{StoreError, Table, Txn};
use sync_protocol::{
    item::SignedItem, operator::OperatorRequest, operator::OperatorRole, NodeId, Timestamp,
};

use super::Verdict;
use crate::{
    node::Node,
    records::{hub_operator_key, operator_request_key, HubOperatorRecord},
    trust,
};

/// The hub's decision on an operator activation request from `device`, enrolled for
/// `satker`: only the device itself may ask, for its own satker, with a valid username,
/// and never over a pending request or an active operator of that name.
pub(super) fn check_request(
    t: &Txn<'_>,
    item: &SignedItem,
    r: &OperatorRequest,
    device: NodeId,
    satker: &str,
) -> Result<Verdict, StoreError> {
    if item.author != device {
        return Ok(Err(
            "operator request was not authored by the sending device".into(),
        ));
    }
    if r.device != device {
        return Ok(Err("operator request names another device".into()));
    }
    if r.satker != satker {
        return Ok(Err(format!(
            "this device is enrolled for satker {satker}, not {}",
            r.satker
        )));
    }
    if let Err(e) = r.validate() {
        return Ok(Err(e.to_string()));
    }
    if t.contains(
        Table::OperatorRequest,
        &operator_request_key(&item.address.request_id()),
    )? {
        return Ok(Err(format!(
            "request id {} is already taken by another request; make the request again",
            item.address.request_id()
        )));
    }
    let existing: Option<HubOperatorRecord> =
        t.get(Table::HubOperator, &hub_operator_key(satker, &r.username))?;
    Ok(match existing {
        None => Ok(()),
        Some(op) => match op.activation {
            None => Err(format!(
                "operator {} of satker {satker} already has a pending activation request {}; the KPPN's CSO approves it, or revokes the operator once active",
                r.username,
                op.request.request_id()
            )),
            Some(a) => match trust::of_operator_in(t, &a)? {
                Some(_) => Ok(()),
                None => Err(format!(
                    "operator {} of satker {satker} is already active; the KPPN's CSO must revoke it before it is activated again",
                    r.username
                )),
            },
        },
    })
}

/// Whether `operator` may submit for `satker` from `device` what the hub receives at
/// `at`: activated by this hub for that device, not revoked by then. Returns its role.
pub(super) fn standing(
    node: &Node,
    satker: &str,
    operator: &str,
    device: NodeId,
    at: Timestamp,
) -> Result<Result<OperatorRole, String>, StoreError> {
    let Some(op) = node
        .store
        .get::<HubOperatorRecord>(Table::HubOperator, &hub_operator_key(satker, operator))?
    else {
        return Ok(Err(format!(
            "operator {operator} was never activated for satker {satker} by this KPPN; the CSO activates operators (`espm operators approve`)"
        )));
    };
    let Some(activation) = op.activation else {
        return Ok(Err(format!(
            "operator {operator} of satker {satker} is not active: its request {} waits for the KPPN's CSO",
            op.request.request_id()
        )));
    };
    if op.device != device {
        return Ok(Err(format!(
            "operator {operator} of satker {satker} is activated for another device, not this one"
        )));
    }
    if let Some(r) = trust::of_operator(&node.store, &activation)? {
        if r.applies_to(at) {
            return Ok(Err(format!(
                "operator {operator} of satker {satker} was {}; the hub accepts nothing it submits from then on",
                r.describe()
            )));
        }
    }
    Ok(Ok(op.role))
}
