//! `espm submit`: an active operator, proven by a fresh security code, queues signed
//! documents as one submission for the KPPN.

use sync_protocol::{Address, DocState, OperatorRole, Policy, SignatureRefusal, SignedItem};

use super::documents::{doc_record, load_draft, snapshot_of, unchanged_since};
use crate::{
    error::{NodeError, Result},
    node::Node,
    records::{DocRecord, OperatorRecord},
    satker::{compose, operators},
};

/// A submission queued for the KPPN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Its id, as the operator sees it.
    pub submission_id: String,
    /// The documents it holds, in order.
    pub doc_ids: Vec<String>,
}

/// The judge's answer on a document's signatures as the hub will judge them when it
/// receives the submission: refused now, offline, if the hub would refuse it.
fn judge_signatures(
    node: &Node,
    rec: &DocRecord,
    snapshot: Address,
    policy: &Policy,
) -> Result<()> {
    let id = &rec.doc_id;
    let mut items: Vec<SignedItem> = Vec::with_capacity(rec.signatures.len());
    for s in &rec.signatures {
        let bytes = node.store.item(&s.address)?.ok_or_else(|| {
            NodeError::user(format!(
                "document {id}'s signature by {} is missing from this device; sign it again",
                s.name
            ))
        })?;
        items.push(SignedItem::open(&bytes)?);
    }
    let judgment = crate::docs::judge_now(node, rec, snapshot, &items, policy)?;
    if let Some((_, refusal)) = judgment.first_refusal() {
        return Err(NodeError::user(match refusal {
            SignatureRefusal::Revoked { serial, revocation } => format!(
                "document {id} is signed with certificate {serial}, which was {}; sign it again with a valid certificate",
                crate::clock::revoked_on(revocation.at, &revocation.reason, &node.zone()?)
            ),
            SignatureRefusal::NotValid { serial, .. } => format!(
                "document {id} is signed with certificate {serial}, which is not valid now; sign it again with a valid certificate"
            ),
            other => format!("document {id}: {other}"),
        }));
    }
    judgment
        .complete
        .map_err(|e| NodeError::user(format!("document {id}: {e}")))
}

/// Queues the signed documents `doc_ids` as one submission by `operator`, proven by the
/// security `code`: `espm submit`.
pub fn submit(node: &Node, doc_ids: &[String], operator: &str, code: &str) -> Result<Queued> {
    node.require_writer("submit")?;
    let satker = node.require_satker("submit")?.to_string();
    // Active, of this device, and proven by a right code (counted against the lockout)
    // before anything is said about the documents.
    let (op, step) = operators::admit(node, &satker, operator, code)?;
    let policy = node.policy()?;
    let mut recs = Vec::new();
    let mut nomors = Vec::new();
    for id in doc_ids {
        let rec = doc_record(node, id)?;
        if !op.role.may_submit(rec.kind) {
            return Err(NodeError::user(format!(
                "{} is submitted by an {}; {operator} is an {}. Nothing was submitted",
                rec.kind,
                OperatorRole::for_kind(rec.kind),
                op.role
            )));
        }
        if rec.state != DocState::Signed {
            return Err(NodeError::user(format!(
                "document {id} is {}; only signed documents can be submitted",
                rec.state
            )));
        }
        let snap_addr = rec
            .snapshot
            .ok_or_else(|| NodeError::user(format!("document {id} has no signed version")))?;
        let snap = snapshot_of(node, &snap_addr)?
            .ok_or_else(|| NodeError::user(format!("document {id}'s signed version is missing")))?;
        if !unchanged_since(&load_draft(node, id)?, &snap)? {
            return Err(NodeError::user(format!(
                "document {id} changed after it was signed; sign it again before submitting"
            )));
        }
        // The hub judges by when it receives the submission; a revocation this device has
        // already seen would make the hub refuse it, so say so now, offline.
        judge_signatures(node, &rec, snap_addr, &policy)?;
        nomors.push(crate::nomor::key(&satker, rec.kind, &snap.fields));
        recs.push(rec);
    }
    let (submission, sealed) =
        compose::seal_submission(&node.key, &satker, operator, &recs, node.now())?;
    let zone = node.zone()?;
    let refused = node.store.write(|t| {
        // Checked again under the write lock: two submits with one code may run at
        // once through a serving node's control socket, and only one may pass; and a
        // background sync may have stored a revocation since the code was checked.
        let mut current: OperatorRecord = crate::schema::OPERATORS
            .get_in(t, operator)?
            .unwrap_or_else(|| op.clone());
        if let Some(last) = current.last_step.filter(|last| step <= *last) {
            return Ok(Some(operators::code_used(operator, step, last)));
        }
        if current.request != op.request {
            return Ok(Some(NodeError::user(format!(
                "operator {operator} was added again while submitting; nothing was submitted"
            ))));
        }
        if let Some(refusal) =
            operators::not_active(&current, &operators::standing_in(t, &current)?, &zone)
        {
            return Ok(Some(refusal));
        }
        // An SPM nomor is the satker's once per kind and year: refused when another of
        // its documents was submitted with it, or comes earlier in this submission.
        for (i, (rec, key)) in recs.iter().zip(&nomors).enumerate() {
            let Some(key) = key else { continue };
            let earlier = recs[..i]
                .iter()
                .zip(&nomors)
                .find(|(_, k)| k.as_ref() == Some(key))
                .map(|(r, _)| r.doc_id.clone());
            let other = match earlier {
                Some(e) => Some(e),
                None => crate::nomor::held_by_another(t, key, &rec.doc_id)?,
            };
            if let Some(other) = other {
                return Ok(Some(NodeError::user(crate::nomor::already_submitted(
                    key,
                    &rec.doc_id,
                    &other,
                ))));
            }
        }
        for (rec, key) in recs.iter().zip(&nomors) {
            if let Some(key) = key {
                crate::nomor::record(t, key, &rec.doc_id)?;
            }
        }
        compose::queue(t, node.node_id(), &submission, &sealed, &mut recs)?;
        current.last_step = Some(step);
        crate::schema::OPERATORS.put(t, operator, &current);
        Ok(None)
    })?;
    if let Some(refusal) = refused {
        return Err(refusal);
    }
    // The used step is durable with the submission, so a crash cannot let it back in.
    node.store.flush()?;
    Ok(Queued {
        submission_id: submission.submission_id.clone(),
        doc_ids: submission
            .documents
            .iter()
            .map(|d| d.doc_id.clone())
            .collect(),
    })
}

#[cfg(test)]
pub(crate) mod tests;
