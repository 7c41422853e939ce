//! `espm export DIR`: every document this node holds in its scope, written for tools
//! that are not ours. Per document a folder with `document.json` (fields, journey,
//! attachments, every signed item with the exact bytes its ed25519 signature covers,
//! and `espm verify`'s result) and its attachments as files; beside them `index.json`
//! and a one-page `report.html`. Built in a temporary sibling folder and renamed onto
//! DIR, so DIR holds a whole export or none.

mod collect;
mod names;
mod report;
mod signed;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde_json::{json, Value};
use sync_protocol::{Item, SignedItem};

use crate::{
    auditor::verify::{self, Verification},
    clock,
    config::NodeConfig,
    docs,
    error::{NodeError, Result},
    node::Node,
    records::DocRecord,
};

use collect::{DocItems, Held};

/// What `espm export` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The folder written, absolute.
    pub dir: PathBuf,
    /// Documents written.
    pub documents: usize,
    /// Documents whose items do not all verify.
    pub failing: usize,
}

/// Writes the export into `dir` (absolute: a serving node resolves no relative path of
/// the user's); a non-empty `dir` is refused unless `force`, which replaces it.
pub fn export(node: &Node, dir: &Path, force: bool) -> Result<Exported> {
    if !dir.is_absolute() {
        return Err(NodeError::user(format!(
            "the export folder {} is not an absolute path; run `espm export DIR` with this version of espm",
            dir.display()
        )));
    }
    check_apart(dir, &node.dir)?;
    check_target(dir, force)?;
    let parent = dir.parent().ok_or_else(|| {
        NodeError::user(format!(
            "cannot export into {}: name a folder inside another one",
            dir.display()
        ))
    })?;
    std::fs::create_dir_all(parent).map_err(NodeError::io(format!(
        "cannot create the folder {}",
        parent.display()
    )))?;
    let tmp = tempfile::Builder::new()
        .prefix(".espm-export-")
        .tempdir_in(parent)
        .map_err(NodeError::io(format!(
            "cannot create a temporary folder in {}",
            parent.display()
        )))?;
    let (documents, failing) = write_tree(node, tmp.path())?;
    // Checked again: another process may have filled DIR while this one wrote.
    check_target(dir, force)?;
    place(tmp, dir, parent)?;
    Ok(Exported {
        dir: dir.to_path_buf(),
        documents,
        failing,
    })
}

/// `path` with its symbolic links resolved as far as it exists.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => resolved(parent).join(name),
        _ => path.to_path_buf(),
    }
}

/// Refuses an export folder that is the data directory, inside it, or holds it: with
/// `--force` the export replaces its folder, and it must never replace the store.
fn check_apart(dir: &Path, data_dir: &Path) -> Result<()> {
    let (target, data) = (resolved(dir), resolved(data_dir));
    if target.starts_with(&data) || data.starts_with(&target) {
        return Err(NodeError::user(format!(
            "{} is or holds this node's data directory {}; nothing was written. Name a folder outside it",
            dir.display(),
            data_dir.display()
        )));
    }
    Ok(())
}

/// Refuses a target that is a file, or a non-empty folder without `force`.
fn check_target(dir: &Path, force: bool) -> Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(NodeError::Io {
                action: format!("cannot read {}", dir.display()),
                source: e,
            })
        }
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Err(NodeError::user(format!(
            "{} exists and is not a folder; nothing was written. Name a new or empty folder",
            dir.display()
        )));
    }
    let empty = std::fs::read_dir(dir)
        .map_err(NodeError::io(format!("cannot read {}", dir.display())))?
        .next()
        .is_none();
    if !empty && !force {
        return Err(NodeError::user(format!(
            "{} is not empty; nothing was written. Name a new or empty folder, or pass --force to replace it",
            dir.display()
        )));
    }
    Ok(())
}

/// Renames the finished export onto `dir`. A folder already there (empty, or replaced
/// under `--force`) is first moved aside into a sibling, restored if the rename fails,
/// and removed once the new export is in place.
fn place(tmp: tempfile::TempDir, dir: &Path, parent: &Path) -> Result<()> {
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(NodeError::io(format!(
            "cannot move the export into {}",
            dir.display()
        )))
    };
    if std::fs::symlink_metadata(dir).is_err() {
        rename(tmp.path(), dir)?;
        let _ = tmp.keep();
        return Ok(());
    }
    let aside = tempfile::Builder::new()
        .prefix(".espm-export-old-")
        .tempdir_in(parent)
        .map_err(NodeError::io(format!(
            "cannot create a temporary folder in {}",
            parent.display()
        )))?;
    // Renaming a folder onto an empty one replaces it; `aside` is empty.
    rename(dir, aside.path())?;
    if let Err(e) = rename(tmp.path(), dir) {
        let _ = std::fs::rename(aside.path(), dir);
        let _ = aside.keep();
        return Err(e);
    }
    let _ = tmp.keep();
    // Dropping `aside` removes the old export.
    drop(aside);
    Ok(())
}

/// The documents this node may show: a satker's own, an auditor's scope, all on a hub.
fn in_scope(node: &Node, rec: &DocRecord, scope: &Option<Vec<String>>) -> bool {
    match &node.config {
        NodeConfig::Hub(_) => true,
        NodeConfig::Satker { satker, .. } => *satker == rec.satker,
        NodeConfig::Auditor { .. } => scope.as_ref().is_none_or(|s| s.contains(&rec.satker)),
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| NodeError::user(format!("cannot encode {}: {e}", path.display())))?;
    bytes.push(b'\n');
    write_file(path, &bytes)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(NodeError::io(format!("cannot write {}", path.display())))
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir(path).map_err(NodeError::io(format!("cannot create {}", path.display())))
}

/// Writes every document into `root`; returns how many, and how many fail to verify.
fn write_tree(node: &Node, root: &Path) -> Result<(usize, usize)> {
    let verification = verify::verify(node)?;
    let mut held = Held::scan(node)?;
    let scope = crate::schema::AUDITOR_SCOPE.get(&node.store)?;
    let tz = node.zone()?;
    let mut folders = BTreeSet::new();
    let mut index = Vec::new();
    let mut rows = Vec::new();
    let mut failing = 0;
    for rec in docs::all(&node.store)? {
        if !in_scope(node, &rec, &scope) {
            continue;
        }
        let folder = names::doc_folder(&rec.satker, &rec.doc_id, &mut folders);
        let dir = root.join(&folder);
        mkdir(&dir)?;
        let items = held.take(node, &rec)?;
        let (document, row) = document(node, &held, &rec, &items, &verification, &dir, &tz)?;
        write_json(&dir.join("document.json"), &document)?;
        let mut row = row;
        row.folder = folder.clone();
        if !row.ok {
            failing += 1;
        }
        index.push(json!({
            "doc_id": rec.doc_id,
            "kind": rec.kind.as_str(),
            "satker": rec.satker,
            "nomor": document["nomor"],
            "nilai": document["nilai"],
            "state": rec.state.as_str(),
            "folder": folder,
            "ok": row.ok,
        }));
        rows.push(row);
    }
    let now = node.now();
    let failures: Vec<Value> = verification
        .failures
        .iter()
        .map(|f| json!({ "item": f.item, "kind": f.kind, "reason": f.reason }))
        .collect();
    write_json(
        &root.join("index.json"),
        &json!({
            "format": 1,
            "exported_at": clock::rfc3339(now),
            "node_id": node.node_id().to_hex(),
            "role": node.config.role(),
            "scope": scope,
            "verification": {
                "ok": verification.ok(),
                "checked": verification.checked,
                "failures": failures,
            },
            "documents": index,
        }),
    )?;
    let header = report::Header {
        node_id: node.node_id().to_hex(),
        role: node.config.role().into(),
        exported_at: now,
        tz,
        checked: verification.checked,
        failures: verification.failures.len(),
    };
    write_file(
        &root.join("report.html"),
        report::page(&header, &rows).as_bytes(),
    )?;
    Ok((rows.len(), failing))
}

/// `document.json` of `rec` (its attachments written into `dir` on the way), and its
/// row in the report.
fn document(
    node: &Node,
    held: &Held,
    rec: &DocRecord,
    items: &DocItems,
    verification: &Verification,
    dir: &Path,
    tz: &str,
) -> Result<(Value, report::Row)> {
    let fields = docs::list::fields(node, rec)?;
    let certificates = held.certificates_for(items);
    let enrollments = held.enrollments_for(items);
    let revocations = held.revocations_for(items, &rec.satker);
    let policies = held.policies_for(node, &items.receipts)?;
    let mut signed: Vec<Value> = Vec::new();
    let mut addresses = BTreeSet::new();
    let groups: [&[SignedItem]; 10] = [
        &items.snapshots,
        &items.signatures,
        &certificates,
        &items.submissions,
        &enrollments,
        &items.receipts,
        &items.statuses,
        &revocations,
        &held.hub_identities,
        &policies,
    ];
    for item in groups.into_iter().flatten() {
        signed.push(signed::object(item)?);
        addresses.insert(item.address.to_hex());
        if let Item::HubIdentity(h) = &item.item {
            signed.push(signed::binding_object(item, h));
        }
    }
    // `verify` names each failing item by address; those of this document are its.
    let failures: Vec<&verify::Failure> = verification
        .failures
        .iter()
        .filter(|f| addresses.contains(&f.item))
        .collect();
    let attachments = write_attachments(node, rec, items, dir)?;
    let journey: Vec<Value> = rec
        .history
        .iter()
        .map(|h| json!({ "state": h.state.as_str(), "at": clock::rfc3339(h.at), "reason": h.reason }))
        .collect();
    let signers: Vec<Value> = rec
        .signatures
        .iter()
        .map(|s| {
            json!({
                "address": s.address.to_hex(),
                "serial": s.serial,
                "name": s.name,
                "jabatan": s.jabatan.as_str(),
                "signed_at": clock::rfc3339(s.at),
                "place": s.place,
            })
        })
        .collect();
    let ok = failures.is_empty();
    let value = json!({
        "doc_id": rec.doc_id,
        "kind": rec.kind.as_str(),
        "satker": rec.satker,
        "state": rec.state.as_str(),
        "nomor": fields.get("nomor"),
        "nilai": fields.get("nilai"),
        "fields": fields,
        "snapshot": rec.snapshot.map(|a| a.to_hex()),
        "submission_id": rec.submission,
        "delivered_at": rec.delivered_at.map(clock::rfc3339),
        "journey": journey,
        "signatures": signers,
        "attachments": attachments.iter().map(|a| a.json()).collect::<Vec<_>>(),
        "verification": {
            "ok": ok,
            "failures": failures
                .iter()
                .map(|f| json!({ "item": f.item, "kind": f.kind, "reason": f.reason }))
                .collect::<Vec<_>>(),
        },
        "signed_items": signed,
        // The same file `espm proof` writes, when this node holds a checkpoint that
        // covers the receipt: `espm check-proof` checks it as it stands.
        "delivery_proof": crate::proof::make(node, &format!("{}/{}", rec.satker, rec.doc_id)).ok(),
    });
    let row = report::Row {
        doc_id: rec.doc_id.clone(),
        kind: rec.kind.as_str().into(),
        satker: rec.satker.clone(),
        nomor: fields.get("nomor").cloned().unwrap_or_default(),
        nilai: fields.get("nilai").cloned().unwrap_or_default(),
        state: rec.state.as_str().into(),
        folder: String::new(),
        ok,
        failures: failures
            .iter()
            .map(|f| format!("{} ({}): {}", f.item, f.kind, f.reason))
            .collect(),
        journey: rec
            .history
            .iter()
            .map(|h| {
                (
                    h.state.as_str().into(),
                    clock::local(h.at, tz),
                    h.reason.clone(),
                )
            })
            .collect(),
        signers: rec
            .signatures
            .iter()
            .map(|s| {
                [
                    s.name.clone(),
                    s.jabatan.title().into(),
                    s.serial.clone(),
                    clock::local(s.at, tz),
                    s.place.clone(),
                ]
            })
            .collect(),
        attachments: attachments
            .iter()
            .map(|a| (a.name.clone(), a.size, a.sha256.clone()))
            .collect(),
    };
    Ok((value, row))
}

/// One attachment of the current snapshot, and where its file was written.
struct Attachment {
    name: String,
    sha256: String,
    size: u64,
    /// `attachments/FILE`, or `None` while chunks are still missing on this node.
    file: Option<String>,
}

impl Attachment {
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size,
            "file": self.file,
            "complete": self.file.is_some(),
        })
    }
}

/// Writes the attachments of `rec`'s current snapshot whose chunks are all here and
/// join to the SHA-256 the snapshot names.
fn write_attachments(
    node: &Node,
    rec: &DocRecord,
    items: &DocItems,
    dir: &Path,
) -> Result<Vec<Attachment>> {
    let Some(snapshot) = rec
        .snapshot
        .and_then(|a| items.snapshots.iter().find(|s| s.address == a))
    else {
        return Ok(Vec::new());
    };
    let Item::Snapshot(s) = &snapshot.item else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut taken = BTreeSet::new();
    for a in &s.attachments {
        let mut parts = Vec::with_capacity(a.chunks.len());
        for c in &a.chunks {
            match crate::attachments::bytes(&node.store, c)? {
                Some(b) => parts.push(b),
                None => break,
            }
        }
        let whole = parts.len() == a.chunks.len() && sync_protocol::joins_to(&parts, &a.sha256);
        let file = if whole {
            let attachments = dir.join("attachments");
            if taken.is_empty() {
                mkdir(&attachments)?;
            }
            let name = names::attachment_file(&a.name, &a.sha256, &mut taken);
            write_file(&attachments.join(&name), &parts.concat())?;
            Some(format!("attachments/{name}"))
        } else {
            None
        };
        out.push(Attachment {
            name: a.name.clone(),
            sha256: a.sha256.clone(),
            size: a.size,
            file,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
