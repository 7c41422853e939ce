//! The hub's operator rules at ingest: who may ask for an operator's activation, and
//! whether the operator a submission names may submit it.

use storage::{StoreError, Txn};
use sync_protocol::{NodeId, OperatorRequest, OperatorRole, SignedItem, Timestamp};

use super::{Refused, Verdict};
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
        return Ok(Err(Refused::NotAuthoredBySender("operator request")));
    }
    if r.device != device {
        return Ok(Err(Refused::NamesAnotherDevice("operator request")));
    }
    if r.satker != satker {
        return Ok(Err(Refused::OtherSatker {
            enrolled: satker.to_string(),
            claimed: r.satker.clone(),
        }));
    }
    if let Err(e) = r.validate() {
        return Ok(Err(Refused::Invalid(e)));
    }
    if crate::schema::OPERATOR_REQUESTS
        .contains(t, &operator_request_key(&item.address.request_id()))?
    {
        return Ok(Err(Refused::RequestIdTaken(item.address.request_id())));
    }
    let existing: Option<HubOperatorRecord> =
        crate::schema::HUB_OPERATORS.get_in(t, &hub_operator_key(satker, &r.username))?;
    Ok(match existing {
        None => Ok(()),
        Some(op) => match op.activation {
            None => Err(Refused::OperatorPending {
                username: r.username.clone(),
                satker: satker.to_string(),
                request_id: op.request.request_id(),
            }),
            Some(a) => match trust::of_operator_in(t, &a)? {
                Some(_) => Ok(()),
                None => Err(Refused::OperatorActive {
                    username: r.username.clone(),
                    satker: satker.to_string(),
                }),
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
) -> Result<Result<OperatorRole, Refused>, StoreError> {
    let Some(op) =
        crate::schema::HUB_OPERATORS.get(&node.store, &hub_operator_key(satker, operator))?
    else {
        return Ok(Err(Refused::OperatorNeverActivated {
            operator: operator.to_string(),
            satker: satker.to_string(),
        }));
    };
    let Some(activation) = op.activation else {
        return Ok(Err(Refused::OperatorNotActive {
            operator: operator.to_string(),
            satker: satker.to_string(),
            request_id: op.request.request_id(),
        }));
    };
    if op.device != device {
        return Ok(Err(Refused::OperatorOfAnotherDevice {
            operator: operator.to_string(),
            satker: satker.to_string(),
        }));
    }
    if let Some(r) = trust::of_operator(&node.store, &activation)? {
        if r.applies_to(at) {
            return Ok(Err(Refused::OperatorRevoked {
                operator: operator.to_string(),
                satker: satker.to_string(),
                revocation: r,
            }));
        }
    }
    Ok(Ok(op.role))
}
