//! What a satker or auditor node takes from the hub: only what the pinned hub's keys
//! signed, or device items the hub has already checked and re-published, each indexed
//! in the same write as the item.

use storage::{StoreError, Txn};
use sync_protocol::{DeviceRole, DocState, Item};

use crate::{
    attachments,
    config::NodeConfig,
    device::notice::{self, Notice},
    docs,
    node::Node,
    records::{CertRecord, CheckpointRecord, DeviceRecord, DocRecord, HistoryEntry, SigRef},
    replica::Arrived,
    trust,
    verdict::{Refused, Verdict},
};

/// A satker or auditor node's decision on an item from the hub, and its indexing.
pub fn client_receive(
    node: &Node,
    t: &mut Txn<'_>,
    arrived: Arrived,
) -> Result<Verdict, StoreError> {
    let item = match arrived {
        Ok(i) => i,
        Err(e) => return Ok(Err(Refused::Unreadable(e))),
    };
    if t.has_item(&item.address)? {
        return Ok(Ok(()));
    }
    let pinned = match &node.config {
        NodeConfig::Satker { hub_id, .. } | NodeConfig::Auditor { hub_id, .. } => *hub_id,
        NodeConfig::Hub(_) => return Ok(Err(Refused::HubDoesNotPull)),
    };
    let authority = crate::schema::AUTHORITY.get_in(t)?;
    let from_authority = authority == Some(item.author);
    // Receipts and status updates come from the hub's service key, which the hub
    // identity (signed by the authority) certifies.
    let service = crate::schema::SERVICE.get_in(t)?;
    let from_service = service == Some(item.author);
    match &item.item {
        Item::HubIdentity(h) => {
            if h.node_id != pinned || !h.binding_holds() || h.authority != item.author {
                return Ok(Err(Refused::HubIdentityMismatch));
            }
            crate::schema::AUTHORITY.put(t, &h.authority);
            crate::schema::SERVICE.put(t, &h.service);
            crate::schema::HUB_TZ.put(t, &h.tz);
            crate::schema::HUB_IDENTITY.put(t, &item.address);
        }
        Item::Enrollment(e) if from_authority => {
            // An auditor learns its scope from its own enrollment, as the hub granted it.
            if let (NodeConfig::Auditor { .. }, true, DeviceRole::Auditor { scope }) =
                (&node.config, e.node_id == node.node_id(), &e.role)
            {
                crate::schema::AUDITOR_SCOPE.put(t, scope);
            }
            crate::schema::DEVICES.put(
                t,
                &e.node_id.to_hex(),
                &DeviceRecord {
                    address: item.address,
                    role: e.role.clone(),
                    last_seen: None,
                },
            );
        }
        Item::Certificate(c) if from_authority => {
            let request_id = c.request.request_id();
            crate::schema::CERTS.put(
                t,
                &c.serial,
                &CertRecord {
                    address: item.address,
                    request_id: request_id.clone(),
                },
            );
            if let Some(mut req) = crate::schema::REQUESTS.get_in(t, &request_id)? {
                req.serial = Some(c.serial.clone());
                crate::schema::REQUESTS.put(t, &request_id, &req);
            }
        }
        Item::Revocation(r) if from_authority => trust::record(t, r, item.address),
        Item::PolicyTable(p) if from_authority => {
            // Only a table this node can apply replaces the one in force.
            if let Err(e) = p.policy.validate() {
                return Ok(Err(Refused::Invalid(e)));
            }
            crate::policy::record(t, p, item.address)?;
        }
        Item::FieldSchemaTable(f) if from_authority => {
            // Likewise: only field schemas this node can apply.
            if let Err(e) = f.schemas.validate() {
                return Ok(Err(Refused::Invalid(e)));
            }
            crate::fields::record(t, f, item.address)?;
        }
        Item::OperatorActivation(a) if from_authority => {
            // Every device of the satker (and an auditor in scope) keeps it; only the
            // device whose pending request it answers activates its operator.
            if node.satker() == Some(a.satker.as_str()) && a.device == node.node_id() {
                if let Some(mut op) = crate::schema::OPERATORS.get_in(t, &a.username)? {
                    if op.request == a.request && op.role == a.role && op.activation.is_none() {
                        op.activation = Some(item.address);
                        crate::schema::OPERATORS.put(t, &a.username, &op);
                    }
                }
            }
        }
        Item::OperatorRequest(_) => {
            return Ok(Err(Refused::OperatorRequestFromHub));
        }
        Item::Receipt(r) if from_service => {
            for id in &r.doc_ids {
                crate::schema::RECEIPT_OF.put(t, &format!("{}/{id}", r.satker), &item.address);
                let notice = Notice {
                    state: DocState::Delivered,
                    at: r.delivered_at,
                    reason: None,
                    delivered_at: Some(r.delivered_at),
                };
                notice::note(t, &r.satker, id, notice)?;
            }
        }
        Item::Checkpoint(c) if from_service => {
            // Kept whatever it says: a checkpoint that contradicts another is the evidence
            // `espm verify` shows. Only one that extends the newest becomes the newest.
            let newest = crate::schema::NEWEST_CHECKPOINT.get_in(t)?;
            let extends = c.check_extends().is_ok()
                && newest.is_none_or(|n| {
                    c.size > n.size
                        && c.previous_head()
                            .is_none_or(|p| p.size != n.size || p.root == n.root)
                });
            if extends {
                let record = CheckpointRecord {
                    address: item.address,
                    size: c.size,
                    root: c.root,
                };
                crate::schema::NEWEST_CHECKPOINT.put(t, &record);
            }
        }
        Item::Inclusions(i) if from_service => {
            for p in &i.proofs {
                crate::schema::PROVEN.put(t, &p.receipt.to_hex(), &item.address);
            }
        }
        Item::Status(s) if from_service => {
            let notice = Notice {
                state: s.state,
                at: s.at,
                reason: s.reason.clone(),
                delivered_at: None,
            };
            notice::note(t, &s.satker, &s.doc_id, notice)?;
        }
        Item::Snapshot(s) => {
            if let Err(e) = s.check_attachments() {
                return Ok(Err(Refused::Invalid(e)));
            }
            attachments::need_for_snapshot(t, s, node.now())?;
            // Another device of this satker (or, for an auditor, a satker in scope)
            // delivered it; the hub checked it before re-publishing.
            if docs::get(t, &s.satker, &s.doc_id)?.is_none() {
                let mut rec = DocRecord {
                    doc_id: s.doc_id.clone(),
                    kind: s.kind,
                    satker: s.satker.clone(),
                    state: DocState::Signed,
                    history: vec![HistoryEntry {
                        state: DocState::Signed,
                        at: s.taken_at,
                        reason: None,
                    }],
                    snapshot: Some(item.address),
                    signatures: Vec::new(),
                    submission: None,
                    delivered_at: None,
                    superseded: Vec::new(),
                };
                notice::catch_up(t, &mut rec)?;
                docs::put(t, &rec);
            }
        }
        Item::Submission(sub) => index_signatures(t, sub)?,
        Item::Signature(_) | Item::CertRequest(_) => {}
        other => return Ok(Err(Refused::NotFromIssuer(other.kind()))),
    }
    t.put_item(&item.bytes)?;
    if matches!(item.item, Item::Signature(_)) {
        // A submission naming it follows; it is read back from here, not decoded again.
        crate::decoded::remember(&item);
    }
    Ok(Ok(()))
}

/// A submission another device of the satker made (or, on an auditor, one in scope):
/// its documents' records take the snapshot and signatures it names, so `draft show`
/// lists every signer here too. The hub sends the snapshot and signatures ahead of it.
fn index_signatures(t: &mut Txn<'_>, sub: &sync_protocol::Submission) -> Result<(), StoreError> {
    for d in &sub.documents {
        let Some(mut rec) = docs::get(t, &sub.satker, &d.doc_id)? else {
            continue;
        };
        let mut signatures = Vec::with_capacity(d.signatures.len());
        for a in &d.signatures {
            let item = crate::decoded::item_in(t, a).ok().flatten();
            if let Some(Item::Signature(s)) = item.as_deref().map(|i| &i.item) {
                if s.snapshot == d.snapshot && s.doc_id == d.doc_id {
                    signatures.push(SigRef {
                        address: *a,
                        serial: s.serial.clone(),
                        jabatan: s.jabatan,
                        name: s.signer_name.clone(),
                        at: s.signed_at,
                        place: s.place.clone(),
                    });
                }
            }
        }
        if rec.snapshot != Some(d.snapshot) {
            let mut earlier = std::mem::take(&mut rec.signatures);
            rec.superseded.append(&mut earlier);
        }
        rec.snapshot = Some(d.snapshot);
        rec.signatures = signatures;
        rec.submission = Some(sub.submission_id.clone());
        // A draft here (from the draft sync) or a snapshot just received: submitted on
        // the other device. A receipt that overtook it has already moved it further.
        if matches!(rec.state, DocState::Draft | DocState::Signed) {
            rec.enter(DocState::Queued, sub.submitted_at, None);
        }
        docs::put(t, &rec);
    }
    Ok(())
}
