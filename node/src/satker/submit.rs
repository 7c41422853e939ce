//! `espm submit`: an active operator, proven by a fresh security code, queues signed
//! documents as one submission for the KPPN.

use std::collections::BTreeSet;

use serde_json::json;
use storage::Table;

use sync_protocol::{operator::OperatorRole, policy::Policy, status::DocState};

use super::documents::{doc_record, load_draft, snapshot_of, unchanged_since};
use crate::{
    cli::run::Output,
    error::{NodeError, Result},
    node::Node,
    records::OperatorRecord,
    satker::{compose, operators},
    trust,
};

/// `espm submit`
pub fn submit(node: &Node, doc_ids: &[String], operator: &str, code: &str) -> Result<Output> {
    node.require_writer("submit")?;
    let satker = node.require_satker("submit")?.to_string();
    // Active, of this device, and proven by a right code (counted against the lockout)
    // before anything is said about the documents.
    let (op, step) = operators::admit(node, &satker, operator, code)?;
    let policy = Policy::default();
    let mut recs = Vec::new();
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
        for s in &rec.signatures {
            if let Some(r) = trust::of_certificate(&node.store, &s.serial)? {
                return Err(NodeError::user(format!(
                    "document {id} is signed with certificate {}, which was {}; sign it again with a valid certificate",
                    s.serial,
                    r.describe()
                )));
            }
        }
        let roles: BTreeSet<_> = rec.signatures.iter().map(|s| s.jabatan).collect();
        policy
            .check(rec.kind, &roles)
            .map_err(|e| NodeError::user(format!("document {id}: {e}")))?;
        recs.push(rec);
    }
    let (submission, sealed) =
        compose::seal_submission(&node.key, &satker, operator, &recs, node.now())?;
    let refused = node.store.write(|t| {
        // Checked again under the write lock: two submits with one code may run at
        // once through a serving node's control socket, and only one may pass; and a
        // background sync may have stored a revocation since the code was checked.
        let mut current: OperatorRecord = t
            .get(Table::Operator, operator)?
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
            operators::not_active(&current, &operators::standing_in(t, &current)?)
        {
            return Ok(Some(refusal));
        }
        compose::queue(t, node.node_id(), &submission, &sealed, &mut recs)?;
        current.last_step = Some(step);
        t.put(Table::Operator, operator, &current);
        Ok(None)
    })?;
    if let Some(refusal) = refused {
        return Err(refusal);
    }
    // The used step is durable with the submission, so a crash cannot let it back in.
    node.store.flush()?;
    let ids: Vec<_> = submission
        .documents
        .iter()
        .map(|d| d.doc_id.clone())
        .collect();
    Ok(Output::new(
        json!({ "submission_id": submission.submission_id, "doc_ids": ids }),
        format!(
            "Queued submission {} with {} document(s). It goes to the KPPN at the next sync.",
            submission.submission_id,
            ids.len()
        ),
    ))
}
