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
/// background sync stores meanwhile are merged, not overwritten.
fn edit_draft(
    t: &mut storage::Txn<'_>,
    doc_id: &str,
    edit: impl FnOnce(&mut Draft) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let bytes: serde_bytes::ByteBuf = crate::schema::DRAFTS
        .get_in(t, doc_id)?
        .ok_or_else(|| StoreError::Draft(format!("draft {doc_id} vanished while editing")))?;
    let mut draft = Draft::load(&bytes)?;
    edit(&mut draft)?;
    save_draft(t, doc_id, &mut draft);
    Ok(())
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
        edit_draft(t, doc_id, |draft| {
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
        edit_draft(t, doc_id, |draft| draft.add_attachment(&attachment))
    })?;
    node.store.flush()?;
    Ok(Attached {
        doc_id: doc_id.to_string(),
        name,
        sha256: sha,
    })
}

/// `espm draft show`
pub fn show(node: &Node, doc_id: &str) -> Result<Shown> {
    let rec = doc_record(node, doc_id)?;
    let (fields, attachments) = match crate::schema::DRAFTS.get(&node.store, &rec.doc_id)? {
        Some(b) => {
            let d = Draft::load(&b)?;
            (d.fields()?, d.attachments()?)
        }
        None => match rec
            .snapshot
            .and_then(|a| node.store.item(&a).ok().flatten())
        {
            Some(bytes) => match SignedItem::open(&bytes)?.item {
                Item::Snapshot(s) => (s.fields, s.attachments),
                _ => Default::default(),
            },
            None => Default::default(),
        },
    };
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
