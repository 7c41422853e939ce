//! What a node does with an item: the checks that decide whether it may be stored, and
//! the index updates that go into the same atomic write as the item.
//!
//! The hub checks everything a device sends against the device's enrollment, the
//! certificates it issued and the signing policy. Satker and auditor nodes accept from
//! the hub only what the pinned hub's authority key signed, or device items the hub has
//! already checked and re-published.

use std::collections::BTreeSet;

use storage::{StoreError, StreamEntry, Table, Txn};
use sync_protocol::{
    certificate::Certificate,
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
    attachments, clock,
    config::NodeConfig,
    delivery::{self, accept_submission, LogPosition},
    docs,
    node::{Node, AUDITOR_SCOPE_KEY, AUTHORITY_KEY, HUB_TZ_KEY, SERVICE_KEY},
    notice::{self, Notice},
    records::{
        hub_operator_key, operator_request_key, CertRecord, DeviceRecord, DocRecord, HistoryEntry,
        HubOperatorRecord, OperatorRecord, RequestRecord,
    },
    revocation,
};

/// The outcome of offering one item: stored (or already held), or refused with a reason.
pub type Verdict = Result<(), String>;

/// The certificate with `serial`, if this node holds it.
pub fn certificate(node: &Node, serial: &str) -> Result<Option<Certificate>, StoreError> {
    let Some(rec) = node.store.get::<CertRecord>(Table::Cert, serial)? else {
        return Ok(None);
    };
    let Some(bytes) = node.store.item(&rec.address)? else {
        return Ok(None);
    };
    match SignedItem::open(&bytes)?.item {
        Item::Certificate(c) => Ok(Some(c)),
        _ => Ok(None),
    }
}

fn load(node: &Node, addr: &sync_protocol::Address) -> Result<Option<SignedItem>, StoreError> {
    node.store
        .item(addr)?
        .map(|b| SignedItem::open(&b).map_err(StoreError::from))
        .transpose()
}

/// Seals an item with one of the hub's keys (the authority key for what binds trust,
/// the service key for receipts and status updates), stores it, logs it, and
/// publishes it into `stream`. Returns the sealed item.
pub fn issue(
    t: &mut Txn<'_>,
    key: &sync_protocol::SecretKey,
    item: Item,
    stream: Option<&StreamId>,
) -> Result<SignedItem, StoreError> {
    let sealed = SignedItem::seal(item, key);
    t.put_item(&sealed.bytes)?;
    t.hub_log_append(sealed.address)?;
    if let Some(s) = stream {
        t.append(
            s,
            StreamEntry {
                address: sealed.address,
                origin: None,
            },
        )?;
    }
    Ok(sealed)
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
        if let Some(r) = revocation::of_certificate(&node.store, &s.serial)? {
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
    Ok(revocation::of_certificate_in(t, serial)?
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
    if let Some(r) = revocation::of_device(&node.store, &device)? {
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
    let now = clock::now();
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
            t.put(Table::Operator, &key, &rec);
            t.put(
                Table::Operator,
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

/// A satker or auditor node's decision on an item from the hub, and its indexing.
pub fn client_receive(node: &Node, t: &mut Txn<'_>, bytes: &[u8]) -> Result<Verdict, StoreError> {
    let item = match SignedItem::open(bytes) {
        Ok(i) => i,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if t.has_item(&item.address)? {
        return Ok(Ok(()));
    }
    let pinned = match &node.config {
        NodeConfig::Satker { hub_id, .. } | NodeConfig::Auditor { hub_id, .. } => *hub_id,
        NodeConfig::Hub(_) => return Ok(Err("a hub does not pull from another hub".into())),
    };
    let authority = t.get::<sync_protocol::PublicKey>(Table::Meta, AUTHORITY_KEY)?;
    let from_authority = authority == Some(item.author);
    // Receipts and status updates come from the hub's service key, which the hub
    // identity (signed by the authority) certifies.
    let service = t.get::<sync_protocol::PublicKey>(Table::Meta, SERVICE_KEY)?;
    let from_service = service == Some(item.author);
    match &item.item {
        Item::HubIdentity(h) => {
            if h.node_id != pinned || !h.binding_holds() || h.authority != item.author {
                return Ok(Err("hub identity does not match the pinned hub id".into()));
            }
            t.put(Table::Meta, AUTHORITY_KEY, &h.authority);
            t.put(Table::Meta, SERVICE_KEY, &h.service);
            t.put(Table::Meta, HUB_TZ_KEY, &h.tz);
        }
        Item::Enrollment(e) if from_authority => {
            // An auditor learns its scope from its own enrollment, as the hub granted it.
            if let (NodeConfig::Auditor { .. }, true, DeviceRole::Auditor { scope }) =
                (&node.config, e.node_id == node.node_id(), &e.role)
            {
                t.put(Table::Meta, AUDITOR_SCOPE_KEY, scope);
            }
            t.put(
                Table::Device,
                &e.node_id.to_hex(),
                &DeviceRecord {
                    address: item.address,
                    role: e.role.clone(),
                },
            );
        }
        Item::Certificate(c) if from_authority => {
            let request_id = c.request.request_id();
            t.put(
                Table::Cert,
                &c.serial,
                &CertRecord {
                    address: item.address,
                    request_id: request_id.clone(),
                },
            );
            if let Some(mut req) = t.get::<RequestRecord>(Table::Request, &request_id)? {
                req.serial = Some(c.serial.clone());
                t.put(Table::Request, &request_id, &req);
            }
        }
        Item::Revocation(r) if from_authority => revocation::record(t, r, item.address),
        Item::OperatorActivation(a) if from_authority => {
            // Every device of the satker (and an auditor in scope) keeps it; only the
            // device whose pending request it answers activates its operator.
            if node.satker() == Some(a.satker.as_str()) && a.device == node.node_id() {
                if let Some(mut op) = t.get::<OperatorRecord>(Table::Operator, &a.username)? {
                    if op.request == a.request && op.role == a.role && op.activation.is_none() {
                        op.activation = Some(item.address);
                        t.put(Table::Operator, &a.username, &op);
                    }
                }
            }
        }
        Item::OperatorRequest(_) => {
            return Ok(Err(
                "operator activation requests go from a device to the hub, never back".into(),
            ));
        }
        Item::Receipt(r) if from_service => {
            for id in &r.doc_ids {
                let notice = Notice {
                    state: DocState::Delivered,
                    at: r.delivered_at,
                    reason: None,
                    delivered_at: Some(r.delivered_at),
                };
                notice::note(t, &r.satker, id, notice)?;
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
                return Ok(Err(e.to_string()));
            }
            attachments::need_for_snapshot(t, s, clock::now())?;
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
                };
                notice::catch_up(t, &mut rec)?;
                docs::put(t, &rec);
            }
        }
        Item::Signature(_) | Item::Submission(_) | Item::CertRequest(_) => {}
        other => {
            return Ok(Err(format!(
                "{} is not signed by the hub key that issues it (authority or service key of the hub this node pinned)",
                other.kind().name()
            )));
        }
    }
    t.put_item(bytes)?;
    Ok(Ok(()))
}

mod operators;

#[cfg(test)]
mod tests;
