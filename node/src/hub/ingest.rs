//! What the hub does with an item a device sends: the checks that decide whether it
//! may be stored (against the device's enrollment, and through the judge against the
//! certificates the hub issued and the signing policy table it distributes), and the
//! index updates that go into the same atomic write.

use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{
    judge_signature, DeviceRole, DocState, Document, Item, Moment, NodeId, Policy, Presented,
    SignatureRefusal, SignedItem, StreamId, Submission, SubmittedDoc, Timestamp,
};

use crate::{
    attachments, docs,
    hub::delivery::{self, accept_submission, LogPosition},
    node::Node,
    records::{hub_operator_key, operator_request_key, HubOperatorRecord, RequestRecord},
    replica::Arrived,
    trust,
};

pub use crate::verdict::{DocumentRefusal, Refused, Verdict};

/// An item as this write sees it: items of the same frame are in it, not yet stored.
fn load(
    t: &Txn<'_>,
    addr: &sync_protocol::Address,
) -> Result<Option<std::sync::Arc<SignedItem>>, StoreError> {
    crate::decoded::item_in(t, addr)
}

/// The table the hub judges submissions by: the newest it issued.
fn policy(node: &Node) -> Result<Policy, StoreError> {
    crate::policy::newest(&node.store)?
        .map(|t| t.policy)
        .ok_or_else(|| StoreError::Corrupt {
            what: "signing policy table".into(),
            detail: "this hub holds none; `espm init hub` issues it, so the store was made by an older espm".into(),
        })
}

/// The hub's re-check of a snapshot's fields by the field schemas it issued last: a
/// device that skipped `sign`'s check (or forged a snapshot) is caught here.
fn check_fields(node: &Node, s: &sync_protocol::DocumentSnapshot) -> Result<Verdict, StoreError> {
    let table = crate::fields::newest_shared(&node.store)?.ok_or_else(|| StoreError::Corrupt {
        what: "field schema table".into(),
        detail:
            "this hub holds none; `espm init hub` issues it, so the store was made by an older espm"
                .into(),
    })?;
    Ok(table
        .schemas
        .check_document(s.kind, &s.fields)
        .map_err(|refusal| Refused::Fields {
            doc_id: s.doc_id.clone(),
            refusal,
        }))
}

/// The judge's answer on a submitted document's signatures at `at`, the hub's arrival
/// time: every signature must count, and those that count must meet the policy.
fn judge_document(
    (node, t): (&Node, &Txn<'_>),
    satker: &str,
    d: &SubmittedDoc,
    policy: &Policy,
    at: Timestamp,
) -> Result<Result<(), DocumentRefusal>, StoreError> {
    let mut items = Vec::with_capacity(d.signatures.len());
    for addr in &d.signatures {
        let Some(sig) = load(t, addr)? else {
            return Ok(Err(DocumentRefusal::SignatureNotHeld(*addr)));
        };
        if !matches!(sig.item, Item::Signature(_)) {
            return Ok(Err(DocumentRefusal::NotASignature(*addr)));
        }
        items.push(sig);
    }
    let presented: Vec<Presented<'_>> = items.iter().filter_map(|i| Presented::of(i)).collect();
    let credentials =
        trust::credentials(node, presented.iter().map(|p| p.signature.serial.as_str()))?;
    let doc = Document {
        doc_id: &d.doc_id,
        kind: d.kind,
        satker,
        snapshot: d.snapshot,
    };
    let judgment =
        sync_protocol::judge_document(&doc, &presented, &credentials, policy, Moment::At(at));
    if let Some((i, refusal)) = judgment.first_refusal() {
        return Ok(Err(DocumentRefusal::Signature {
            address: d.signatures[i],
            refusal: refusal.clone(),
        }));
    }
    Ok(judgment.complete.map_err(DocumentRefusal::Incomplete))
}

/// The hub's decision on a signature item at `now`: over a snapshot of the sender's
/// satker the hub holds, and counted by the judge.
fn check_signature(
    (node, t): (&Node, &Txn<'_>),
    item: &SignedItem,
    s: &sync_protocol::DocSignature,
    satker: &str,
    now: Timestamp,
) -> Result<Verdict, StoreError> {
    let Some(snap) = load(t, &s.snapshot)? else {
        return Ok(Err(Refused::SnapshotNotHeld(s.snapshot)));
    };
    let Item::Snapshot(d) = &snap.item else {
        return Ok(Err(Refused::SignatureNotOfDocument));
    };
    let credentials = trust::credentials(node, [s.serial.as_str()])?;
    let presented = Presented {
        signature: s,
        author: item.author,
    };
    let judged = judge_signature(
        &Document::of(d, snap.address),
        &presented,
        &credentials,
        Moment::At(now),
    );
    Ok(match judged {
        // An unknown serial is named first, whatever the snapshot.
        Err(r @ SignatureRefusal::UnknownCertificate { .. }) => Err(Refused::Signature(r)),
        _ if d.satker != satker => Err(Refused::SignatureNotOfDocument),
        Err(r) => Err(Refused::Signature(r)),
        Ok(_) => Ok(()),
    })
}

/// The hub's decision on an item sent by an enrolled device, and its indexing.
pub fn hub_receive(
    node: &Node,
    t: &mut Txn<'_>,
    device: NodeId,
    role: &DeviceRole,
    arrived: Arrived,
) -> Result<Verdict, StoreError> {
    let item = match arrived {
        Ok(i) => i,
        Err(e) => return Ok(Err(Refused::Unreadable(e))),
    };
    if t.has_item(&item.address)? {
        return Ok(Ok(()));
    }
    if let Some(r) = trust::of_device(&node.store, &device)? {
        return Ok(Err(Refused::DeviceRevoked(r)));
    }
    let DeviceRole::Satker { satker } = role else {
        return Ok(Err(Refused::AuditorReadOnly));
    };
    let now = node.now();
    let scope = StreamId::Scope(satker.clone());
    let verdict: Verdict = match &item.item {
        Item::CertRequest(r) => {
            if r.key != item.author {
                Err(Refused::RequestNotSelfSigned)
            } else if r.device != device {
                Err(Refused::NamesAnotherDevice("certificate request"))
            } else if &r.satker != satker {
                Err(Refused::OtherSatker {
                    enrolled: satker.clone(),
                    claimed: r.satker.clone(),
                })
            } else if crate::schema::REQUESTS.contains(t, &item.address.request_id())? {
                // 128 bits make this unreachable by chance; never let it replace a
                // request the CSO may already have reviewed.
                Err(Refused::RequestIdTaken(item.address.request_id()))
            } else if let Some(request_id) =
                trust::pending_request(&node.store, satker, &r.subject.nip, r.subject.jabatan)?
            {
                Err(Refused::CertRequestPending {
                    nip: r.subject.nip.clone(),
                    jabatan: r.subject.jabatan,
                    request_id,
                })
            } else {
                r.subject.validate().map_err(Refused::Invalid)
            }
        }
        Item::OperatorRequest(r) => operators::check_request(t, &item, r, device, satker)?,
        Item::Snapshot(s) => {
            match own_work(&item, device, "document snapshot", &s.satker, satker)
                .and_then(|()| s.check_attachments().map_err(Refused::Invalid))
            {
                Ok(()) => check_fields(node, s)?,
                refused => refused,
            }
        }
        Item::Signature(s) => check_signature((node, t), &item, s, satker, now)?,
        Item::Submission(sub) => match own_work(&item, device, "submission", &sub.satker, satker) {
            Ok(()) => check_submission(node, t, satker, device, sub, now)?,
            refused => refused,
        },
        other => Err(Refused::MayNotAuthor(other.kind())),
    };
    if verdict.is_err() {
        return Ok(verdict);
    }
    t.put_item(&item.bytes)?;
    crate::decoded::remember(&item);
    let (log_seq, log_hash) = t.hub_log_append(item.address)?;
    match &item.item {
        Item::CertRequest(r) => {
            let rec = RequestRecord {
                address: item.address,
                name: r.subject.name.clone(),
                jabatan: r.subject.jabatan,
                satker: r.satker.clone(),
                serial: None,
            };
            crate::schema::REQUESTS.put(t, &item.address.request_id(), &rec);
        }
        Item::OperatorRequest(r) => {
            // Not published anywhere: the CSO reviews it here, and the answer (the
            // activation) is what travels back.
            let key = hub_operator_key(&r.satker, &r.username);
            let rec = HubOperatorRecord {
                username: r.username.clone(),
                role: r.role,
                satker: r.satker.clone(),
                device,
                request: item.address,
                sk_penunjukan: r.sk_penunjukan.clone(),
                activation: None,
            };
            crate::schema::HUB_OPERATORS.put(t, &key, &rec);
            crate::schema::OPERATOR_REQUESTS.put(
                t,
                &operator_request_key(&item.address.request_id()),
                &key,
            );
        }
        Item::Snapshot(_) => {
            // Its chunks are asked for once a submission of it is accepted: a snapshot
            // alone is not yet anything the hub must complete.
            t.append(
                &scope,
                StreamEntry {
                    address: item.address,
                    origin: Some(device),
                },
            )?;
        }
        Item::Signature(_) => {
            t.append(
                &scope,
                StreamEntry {
                    address: item.address,
                    origin: Some(device),
                },
            )?;
        }
        Item::Submission(sub) => {
            let log = LogPosition {
                seq: log_seq,
                hash: log_hash,
            };
            accept_submission(node, t, item.address, sub, satker, device, log, now)?;
        }
        _ => {}
    }
    Ok(Ok(()))
}

/// A device may author snapshots and submissions only with its own key and only for
/// the satker it is enrolled for.
fn own_work(
    item: &SignedItem,
    device: NodeId,
    what: &'static str,
    claimed: &str,
    enrolled: &str,
) -> Verdict {
    if item.author != device {
        Err(Refused::NotAuthoredBySender(what))
    } else if claimed != enrolled {
        Err(Refused::OtherSatker {
            enrolled: enrolled.to_string(),
            claimed: claimed.to_string(),
        })
    } else {
        Ok(())
    }
}

fn check_submission(
    node: &Node,
    t: &Txn<'_>,
    satker: &str,
    device: NodeId,
    sub: &Submission,
    now: Timestamp,
) -> Result<Verdict, StoreError> {
    if let Err(e) = sub.check_limits() {
        return Ok(Err(Refused::Invalid(e)));
    }
    let role = match operators::standing(node, satker, &sub.operator, device, now)? {
        Ok(role) => role,
        Err(refused) => return Ok(Err(refused)),
    };
    for d in &sub.documents {
        if !role.may_submit(d.kind) {
            return Ok(Err(Refused::OperatorMayNotSubmit {
                doc_id: d.doc_id.clone(),
                kind: d.kind,
                operator: sub.operator.clone(),
                role,
            }));
        }
    }
    let policy = policy(node)?;
    for d in &sub.documents {
        let Some(snap) = load(t, &d.snapshot)? else {
            return Ok(Err(Refused::SnapshotMissing(d.doc_id.clone())));
        };
        match &snap.item {
            Item::Snapshot(s) if s.doc_id == d.doc_id && s.kind == d.kind && s.satker == satker => {
            }
            _ => return Ok(Err(Refused::SnapshotMismatch(d.doc_id.clone()))),
        }
        // Only this satker's own record of the id counts: another satker's document
        // with the same id is another document, and this refusal must not tell of it.
        if let Some(rec) = docs::get(t, satker, &d.doc_id)? {
            if rec.state != DocState::Rejected {
                return Ok(Err(Refused::AlreadyDelivered {
                    doc_id: d.doc_id.clone(),
                    state: rec.state,
                }));
            }
        }
        if let Err(why) = judge_document((node, t), satker, d, &policy, now)? {
            return Ok(Err(Refused::Document {
                doc_id: d.doc_id.clone(),
                why: Box::new(why),
            }));
        }
    }
    let waiting = attachments::needed_count(t, satker)?;
    let more = delivery::chunks_to_fetch(t, satker, sub)?
        .iter()
        .filter(|(_, c)| !matches!(attachments::is_needed(t, satker, c), Ok(true)))
        .count() as u64;
    if more > 0 && waiting + more > attachments::MAX_NEEDED_PER_SATKER {
        return Ok(Err(Refused::ChunkBacklog {
            waiting,
            limit: attachments::MAX_NEEDED_PER_SATKER,
        }));
    }
    Ok(Ok(()))
}

mod operators;

#[cfg(test)]
mod tests;
