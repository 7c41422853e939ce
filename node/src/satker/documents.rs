//! Drafts on a satker device: new, edit, attach, show. Signing and submitting are in
//! [`super::signing`] and [`super::submit`].

use storage::{Draft, StoreError};
use sync_protocol::{Address, DocKind, DocState, DocumentSnapshot, Item, SignedItem};

use crate::{
    error::{NodeError, Result},
    node::Node,
    records::DocRecord,
    satker::compose,
    satker::upload::Upload,
};

fn parse_assignments(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(NodeError::user(format!("'{p}' must look like FIELD=VALUE"))),
        })
        .collect()
}

pub(super) fn doc_record(node: &Node, doc_id: &str) -> Result<DocRecord> {
    crate::docs::resolve(node, doc_id)
}

pub(super) fn load_draft(node: &Node, doc_id: &str) -> Result<Draft> {
    let bytes: serde_bytes::ByteBuf =
        crate::schema::DRAFTS
            .get(&node.store, doc_id)?
            .ok_or_else(|| {
                NodeError::user(format!(
                    "no draft '{doc_id}' on this device; `espm status` lists the documents"
                ))
            })?;
    Ok(Draft::load(&bytes)?)
}

fn save_draft(t: &mut storage::Txn<'_>, doc_id: &str, draft: &mut Draft) {
    crate::drafts::save_draft(t, doc_id, draft);
}

/// Loads, edits and stores a draft in one write, so edits from another device that a
/// background sync stores meanwhile are merged, not overwritten. A signed document
/// whose content the edit changed is a draft again in the same write: edited after
/// signing is not signed.
fn edit_draft<R>(
    node: &Node,
    t: &mut storage::Txn<'_>,
    rec: &DocRecord,
    edit: impl FnOnce(&mut Draft) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let doc_id = rec.doc_id.as_str();
    let bytes: serde_bytes::ByteBuf = crate::schema::DRAFTS
        .get_in(t, doc_id)?
        .ok_or_else(|| StoreError::Draft(format!("draft {doc_id} vanished while editing")))?;
    let mut draft = Draft::load(&bytes)?;
    let r = edit(&mut draft)?;
    save_draft(t, doc_id, &mut draft);
    let mut current = crate::docs::get(t, &rec.satker, doc_id)?.unwrap_or_else(|| rec.clone());
    if current.state == DocState::Signed {
        let unchanged = match current.snapshot {
            Some(a) => match snapshot_of(node, &a)? {
                Some(snap) => {
                    unchanged_since(&draft, &snap).map_err(|e| StoreError::Draft(e.to_string()))?
                }
                None => false,
            },
            None => false,
        };
        if !unchanged {
            current.edited_after_signing(node.now());
            crate::docs::put(t, &current);
        }
    }
    Ok(r)
}

pub(super) fn editable(rec: &DocRecord) -> Result<()> {
    match rec.state {
        DocState::Draft | DocState::Signed | DocState::Rejected => Ok(()),
        s => Err(NodeError::user(format!(
            "document {} is {s}; it can no longer be edited. If the KPPN rejects it, correct it then",
            rec.doc_id
        ))),
    }
}

/// A draft started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// Its id.
    pub doc_id: String,
    /// Its kind.
    pub kind: DocKind,
}

/// A draft edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edited {
    /// Its id.
    pub doc_id: String,
    /// How many fields changed.
    pub fields: usize,
}

/// A file attached to a draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The draft's id.
    pub doc_id: String,
    /// The file's name.
    pub name: String,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// A document as `draft show` shows it: fields and attachments of the draft here (or of
/// its signed snapshot), and its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// Its journey record.
    pub record: DocRecord,
    /// Field values.
    pub fields: std::collections::BTreeMap<String, String>,
    /// Attached files.
    pub attachments: Vec<sync_protocol::AttachmentRef>,
    /// The time zone its times are shown in to people.
    pub zone: String,
}

/// `espm draft new`
pub fn new(node: &Node, kind: &str, set: &[String]) -> Result<Started> {
    node.require_writer("start drafts")?;
    let satker = node.require_satker("draft new")?.to_string();
    let kind: DocKind = kind.parse()?;
    let fields = parse_assignments(set)?;
    crate::fields::check_values(node, kind, &fields)?;
    let doc_id = compose::new_doc_id(kind);
    let mut draft = Draft::new(&doc_id, kind, &satker)?;
    for (k, v) in &fields {
        draft.set_field(k, v)?;
    }
    let now = node.now();
    node.store.write(|t| {
        save_draft(t, &doc_id, &mut draft);
        let rec = compose::draft_record(&doc_id, kind, &satker, now);
        crate::docs::put(t, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Started { doc_id, kind })
}

/// `espm draft set`
pub fn set(node: &Node, doc_id: &str, pairs: &[String]) -> Result<Edited> {
    node.require_writer("edit drafts")?;
    let fields = parse_assignments(pairs)?;
    let rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    crate::fields::check_values(node, rec.kind, &fields)?;
    // The record's own id, whatever form (bare or SATKER/DOC_ID) the person typed.
    let doc_id = rec.doc_id.as_str();
    // Only for its plain message when there is no draft; the edit reloads it.
    load_draft(node, doc_id)?;
    node.store.write(|t| {
        edit_draft(node, t, &rec, |draft| {
            for (k, v) in &fields {
                draft.set_field(k, v)?;
            }
            Ok(())
        })
    })?;
    node.store.flush()?;
    Ok(Edited {
        doc_id: doc_id.to_string(),
        fields: fields.len(),
    })
}

/// `espm draft attach`: the file as the CLI process read it, never a path, so the
/// serving node reads nothing of its own (its data directory holds the node key).
pub fn attach(node: &Node, doc_id: &str, upload: &Upload) -> Result<Attached> {
    node.require_writer("attach files")?;
    let rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    // The record's own id, whatever form (bare or SATKER/DOC_ID) the person typed.
    let doc_id = rec.doc_id.as_str();
    // Again here: a control request need not come from our own CLI's read.
    upload.check(&upload.name)?;
    // Only for its plain message when there is no draft; the edit reloads it.
    load_draft(node, doc_id)?;
    let attachment = compose::attachment(&upload.name, &upload.bytes);
    let (name, sha) = (attachment.name.clone(), attachment.sha256.clone());
    node.store.write(|t| {
        compose::store_attachment(t, &attachment, &upload.bytes);
        edit_draft(node, t, &rec, |draft| draft.add_attachment(&attachment))
    })?;
    node.store.flush()?;
    Ok(Attached {
        doc_id: doc_id.to_string(),
        name,
        sha256: sha,
    })
}

/// `espm draft unset`: removes the fields named, all or none: a name the draft does
/// not hold is refused, naming it, and nothing changes.
pub fn unset(node: &Node, doc_id: &str, names: &[String]) -> Result<Edited> {
    node.require_writer("edit drafts")?;
    if names.is_empty() {
        return Err(NodeError::user(
            "name the fields to remove: espm draft unset DOC_ID FIELD…",
        ));
    }
    let rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    let doc_id = rec.doc_id.as_str();
    load_draft(node, doc_id)?;
    let missing = node.store.write(|t| {
        let held = {
            let bytes: Option<serde_bytes::ByteBuf> = crate::schema::DRAFTS.get_in(t, doc_id)?;
            match bytes {
                Some(b) => Draft::load(&b)?.fields()?,
                None => Default::default(),
            }
        };
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !held.contains_key(n.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Ok(Some((missing, held.into_keys().collect::<Vec<_>>())));
        }
        edit_draft(node, t, &rec, |draft| {
            for n in names {
                draft.unset_field(n)?;
            }
            Ok(())
        })?;
        Ok(None)
    })?;
    if let Some((missing, held)) = missing {
        let has = if held.is_empty() {
            "it has no fields".to_string()
        } else {
            format!("its fields are {}", held.join(", "))
        };
        return Err(NodeError::user(format!(
            "draft {doc_id} has no field {}; {has}. Nothing was removed",
            missing.join(", ")
        )));
    }
    node.store.flush()?;
    Ok(Edited {
        doc_id: doc_id.to_string(),
        fields: names.len(),
    })
}

/// A file detached from a draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detached {
    /// The draft's id.
    pub doc_id: String,
    /// The file's SHA-256, lowercase hex.
    pub sha256: String,
}

/// `espm draft detach`: removes the attachment with SHA-256 `sha` (as `draft show`
/// prints it, in either case).
pub fn detach(node: &Node, doc_id: &str, sha: &str) -> Result<Detached> {
    node.require_writer("detach files")?;
    let rec = doc_record(node, doc_id)?;
    editable(&rec)?;
    let doc_id = rec.doc_id.as_str();
    load_draft(node, doc_id)?;
    let sha = sha.trim().to_ascii_lowercase();
    let removed = node
        .store
        .write(|t| edit_draft(node, t, &rec, |draft| draft.remove_attachment(&sha)))?;
    if !removed {
        let held: Vec<String> = load_draft(node, doc_id)?
            .attachments()?
            .into_iter()
            .map(|a| format!("{} ({})", a.sha256, a.name))
            .collect();
        let has = if held.is_empty() {
            "it has no attachments".to_string()
        } else {
            format!("its attachments are {}", held.join(", "))
        };
        return Err(NodeError::user(format!(
            "draft {doc_id} has no attachment with SHA-256 {sha}; {has}. `espm draft show {doc_id}` lists them"
        )));
    }
    node.store.flush()?;
    Ok(Detached {
        doc_id: doc_id.to_string(),
        sha256: sha,
    })
}

/// `espm draft show`
pub fn show(node: &Node, doc_id: &str) -> Result<Shown> {
    let rec = doc_record(node, doc_id)?;
    type Content = (
        std::collections::BTreeMap<String, String>,
        Vec<sync_protocol::AttachmentRef>,
    );
    let draft = || -> Result<Option<Content>> {
        Ok(match crate::schema::DRAFTS.get(&node.store, &rec.doc_id)? {
            Some(b) => {
                let d = Draft::load(&b)?;
                Some((d.fields()?, d.attachments()?))
            }
            None => None,
        })
    };
    let snapshot = || -> Result<Option<Content>> {
        Ok(match rec.snapshot {
            Some(a) => snapshot_of(node, &a)?.map(|s| (s.fields, s.attachments)),
            None => None,
        })
    };
    // What was signed, once it is signed; a draft here may hold another device's edits
    // that the signed document refused.
    let content = if rec.shows_draft() {
        draft()?.map_or_else(snapshot, |c| Ok(Some(c)))?
    } else {
        snapshot()?.map_or_else(draft, |c| Ok(Some(c)))?
    };
    let (fields, attachments) = content.unwrap_or_default();
    let mut rec = rec;
    // Records kept before they named the place: the signature item itself says it.
    for s in rec.signatures.iter_mut().chain(rec.superseded.iter_mut()) {
        if s.place.is_empty() {
            if let Some(Item::Signature(sig)) = node
                .store
                .item(&s.address)?
                .and_then(|b| SignedItem::open(&b).ok())
                .map(|i| i.item)
            {
                s.place = sig.place;
            }
        }
    }
    Ok(Shown {
        record: rec,
        fields,
        attachments,
        zone: node.zone()?,
    })
}

pub(super) fn snapshot_of(
    node: &Node,
    addr: &Address,
) -> Result<Option<DocumentSnapshot>, StoreError> {
    Ok(match node.store.item(addr)? {
        Some(b) => match SignedItem::open(&b)?.item {
            Item::Snapshot(s) => Some(s),
            _ => None,
        },
        None => None,
    })
}

/// Whether the draft's content equals what `snapshot` froze.
pub(super) fn unchanged_since(draft: &Draft, snapshot: &DocumentSnapshot) -> Result<bool> {
    let atts = draft.attachments()?;
    Ok(draft.fields()? == snapshot.fields
        && atts.len() == snapshot.attachments.len()
        && atts
            .iter()
            .zip(&snapshot.attachments)
            .all(|(a, b)| a.same_file(b)))
}

#[cfg(test)]
mod tests;
