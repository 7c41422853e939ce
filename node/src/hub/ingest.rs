//! What the hub does with an item a device sends: the checks that decide whether it
//! may be stored (against the device's enrollment, the certificates the hub issued and
//! the signing policy), and the index updates that go into the same atomic write.

use std::collections::BTreeSet;

use storage::{StoreError, StreamEntry, Table, Txn};
use sync_protocol::{
    enrollment::DeviceRole,
    item::{Item, SignedItem},
    operator::OperatorRole,
    policy::Policy,
    status::DocState,
    stream::StreamId,
    submission::Submission,
    NodeId, Timestamp,
};

use crate::{
    attachments, docs,
    hub::delivery::{self, accept_submission, LogPosition},
    node::Node,
    records::{hub_operator_key, operator_request_key, HubOperatorRecord, RequestRecord},
    trust::{self, certificate},
};

/// The outcome of offering one item: stored (or already held), or refused with a reason.
pub type Verdict = Result<(), String>;

fn load(node: &Node, addr: &sync_protocol::Address) -> Result<Option<SignedItem>, StoreError> {
    node.store
        .item(addr)?
        .map(|b| SignedItem::open(&b).map_err(StoreError::from))
        .transpose()
}

/// Checks the signatures a submitted document carries against certificates and policy.
fn check_document_signatures(
    node: &Node,
    satker: &str,
    kind: sync_protocol::document::DocKind,
    snapshot: &sync_protocol::Address,
    signatures: &[sync_protocol::Address],
    at: Timestamp,
) -> Result<Verdict, StoreError> {
    let mut roles = BTreeSet::new();
    for addr in signatures {
        let Some(sig) = load(node, addr)? else {
            return Ok(Err(format!(
                "signature item {} is not held by the hub (it was refused or never sent)",
                addr.short()
            )));
        };
        let Item::Signature(s) = &sig.item else {
            return Ok(Err(format!("item {} is not a signature", addr.short())));
        };
        if &s.snapshot != snapshot {
            return Ok(Err(format!(
                "signature {} covers another version of the document",
                addr.short()
            )));
        }
        let Some(cert) = certificate(node, &s.serial)? else {
            return Ok(Err(format!(
                "certificate {} is unknown to the hub",
                s.serial
            )));
        };
        if cert.key != sig.author || cert.satker != satker || cert.subject.jabatan != s.jabatan {
            return Ok(Err(format!(
                "signature {} was not made with certificate {}",
                addr.short(),
                s.serial
            )));
        }
        if !cert.valid_at(at) {
            return Ok(Err(format!("certificate {} is not valid now", s.serial)));
        }
        if let Some(r) = trust::of_certificate(&node.store, &s.serial)? {
            if r.applies_to(at) {
                return Ok(Err(format!(
                    "certificate {} was {}; a signature made with it counts only if the hub received it before that",
                    s.serial,
                    r.describe()
                )));
            }
        }
        roles.insert(s.jabatan);
    }
    Ok(Policy::default()
        .check(kind, &roles)
        .map_err(|e| e.to_string()))
}

/// Why a signature with certificate `serial` is refused at `at`, if it was revoked by then.
fn revoked_at(t: &Txn<'_>, serial: &str, at: Timestamp) -> Result<Option<String>, StoreError> {
    Ok(trust::of_certificate_in(t, serial)?
        .filter(|r| r.applies_to(at))
        .map(|r| {
            format!(
                "certificate {serial} was {}; it cannot sign anything new",
                r.describe()
            )
        }))
}

/// The hub's decision on an item sent by an enrolled device, and its indexing.
pub fn hub_receive(
    node: &Node,
    t: &mut Txn<'_>,
    device: NodeId,
    role: &DeviceRole,
    bytes: &[u8],
) -> Result<Verdict, StoreError> {
    let item = match SignedItem::open(bytes) {
        Ok(i) => i,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if t.has_item(&item.address)? {
        return Ok(Ok(()));
    }
    if let Some(r) = trust::of_device(&node.store, &device)? {
        return Ok(Err(format!(
            "this device was {}; the hub stores nothing it sends from then on",
            r.describe()
        )));
    }
    let DeviceRole::Satker { satker } = role else {
        return Ok(Err(
            "auditor devices are read-only; the hub stores nothing they send".into(),
        ));
    };
    let now = node.now();
    let scope = StreamId::Scope(satker.clone());
    let verdict: Verdict = match &item.item {
        Item::CertRequest(r) => {
            if r.key != item.author {
                Err("certificate request is not signed by the key it asks to certify".into())
            } else if r.device != device {
                Err("certificate request names another device".into())
            } else if &r.satker != satker {
                Err(format!(
                    "this device is enrolled for satker {satker}, not {}",
                    r.satker
                ))
            } else if t.contains(Table::Request, &item.address.request_id())? {
                // 128 bits make this unreachable by chance; never let it replace a
                // request the CSO may already have reviewed.
                Err(format!(
                    "request id {} is already taken by another request; make the request again",
                    item.address.request_id()
                ))
            } else {
                r.subject.validate().map_err(|e| e.to_string())
            }
        }
        Item::OperatorRequest(r) => operators::check_request(t, &item, r, device, satker)?,
        Item::Snapshot(s) => own_work(&item, device, "document snapshot", &s.satker, satker)
            .and_then(|()| s.check_attachments().map_err(|e| e.to_string())),
        Item::Signature(s) => match load(node, &s.snapshot)? {
            None => Err(format!(
                "signature refers to snapshot {} the hub does not hold",
                s.snapshot.short()
            )),
            Some(snap) => match (&snap.item, certificate(node, &s.serial)?) {
                (Item::Snapshot(d), Some(cert)) if d.doc_id == s.doc_id && &d.satker == satker => {
                    if cert.key != item.author {
                        Err(format!(
                            "signature was not made with the key of certificate {}",
                            s.serial
                        ))
                    } else if &cert.satker != satker {
                        // A certificate binds its holder to one satker; the delivery
                        // check would never count this signature, so it has no place in
                        // this satker's stream either.
                        Err(format!(
                            "certificate {} is for satker {}; this device is enrolled for satker {satker}",
                            s.serial, cert.satker
                        ))
                    } else if cert.subject.jabatan != s.jabatan {
                        Err(format!(
                            "certificate {} is for {}, not {}",
                            s.serial,
                            cert.subject.jabatan.title(),
                            s.jabatan.title()
                        ))
                    } else if !cert.valid_at(now) {
                        Err(format!("certificate {} is not valid now", s.serial))
                    } else if let Some(reason) = revoked_at(t, &s.serial, now)? {
                        Err(reason)
                    } else {
                        Ok(())
                    }
                }
                (_, None) => Err(format!("certificate {} is unknown to the hub", s.serial)),
                _ => Err("signature does not match its document".into()),
            },
        },
        Item::Submission(sub) => match own_work(&item, device, "submission", &sub.satker, satker) {
            Ok(()) => check_submission(node, t, satker, device, sub, now)?,
            refused => refused,
        },
        other => {
            let name = other.kind().name();
            let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            Err(format!("a satker device may not author {article} {name}"))
        }
    };
    if let Err(reason) = verdict {
        return Ok(Err(reason));
    }
    t.put_item(bytes)?;
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
            t.put(Table::Request, &item.address.request_id(), &rec);
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
            t.put(Table::HubOperator, &key, &rec);
            t.put(
                Table::OperatorRequest,
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
    what: &str,
    claimed: &str,
    enrolled: &str,
) -> Verdict {
    if item.author != device {
        Err(format!("{what} was not authored by the sending device"))
    } else if claimed != enrolled {
        Err(format!(
            "this device is enrolled for satker {enrolled}, not {claimed}"
        ))
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
        return Ok(Err(e.to_string()));
    }
    let role = match operators::standing(node, satker, &sub.operator, device, now)? {
        Ok(role) => role,
        Err(reason) => return Ok(Err(reason)),
    };
    for d in &sub.documents {
        if !role.may_submit(d.kind) {
            return Ok(Err(format!(
                "document {}: a {} is submitted by an {}; operator {} is an {role}",
                d.doc_id,
                d.kind,
                OperatorRole::for_kind(d.kind),
                sub.operator
            )));
        }
    }
    for d in &sub.documents {
        let Some(snap) = load(node, &d.snapshot)? else {
            return Ok(Err(format!(
                "document {}: its snapshot is not held by the hub",
                d.doc_id
            )));
        };
        match &snap.item {
            Item::Snapshot(s) if s.doc_id == d.doc_id && s.kind == d.kind && s.satker == satker => {
            }
            _ => {
                return Ok(Err(format!(
                    "document {}: the snapshot does not match the submission",
                    d.doc_id
                )))
            }
        }
        // Only this satker's own record of the id counts: another satker's document
        // with the same id is another document, and this refusal must not tell of it.
        if let Some(rec) = docs::get(t, satker, &d.doc_id)? {
            if rec.state != DocState::Rejected {
                return Ok(Err(format!(
                    "document {} was already delivered (state {})",
                    d.doc_id, rec.state
                )));
            }
        }
        if let Err(reason) =
            check_document_signatures(node, satker, d.kind, &d.snapshot, &d.signatures, now)?
        {
            return Ok(Err(format!("document {}: {reason}", d.doc_id)));
        }
    }
    let waiting = attachments::needed_count(t, satker)?;
    let more = delivery::chunks_to_fetch(t, satker, sub)?
        .iter()
        .filter(|(_, c)| !matches!(attachments::is_needed(t, satker, c), Ok(true)))
        .count() as u64;
    if more > 0 && waiting + more > attachments::MAX_NEEDED_PER_SATKER {
        return Ok(Err(format!(
            "the hub still waits for {waiting} attachment chunk(s) of this satker's earlier submissions and takes at most {} at once; sync until they arrive (or are refused when they expire), then submit this again",
            attachments::MAX_NEEDED_PER_SATKER
        )));
    }
    Ok(Ok(()))
}

mod operators;

#[cfg(test)]
mod tests;
