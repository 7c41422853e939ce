//! Documents one line each, as `espm draft list` and `espm status` without an id show
//! them: kind, nomor, nilai, state and what each waits for, judged by the judge with the
//! policy table in force and the signatures present.

use std::collections::{BTreeMap, BTreeSet};

use sync_protocol::{DocKind, DocState, Item, Jabatan, Policy, SignedItem};

use crate::{error::Result, node::Node, records::DocRecord};

/// One document in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Its id.
    pub doc_id: String,
    /// Its satker.
    pub satker: String,
    /// Its kind.
    pub kind: DocKind,
    /// Its `nomor` field, where it has one.
    pub nomor: Option<String>,
    /// Its `nilai` field, where it has one.
    pub nilai: Option<String>,
    /// Its state.
    pub state: DocState,
    /// What it waits for: "PPSPM signature", "TOTP submit", "sync", …; empty when it
    /// waits for nothing (approved).
    pub waiting_for: String,
}

/// Documents as `espm draft list` shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// One row per document, in satker and id order.
    pub rows: Vec<Row>,
}

/// The fields of a document as this node holds it: the draft on a satker device while
/// it is unsigned, else the latest signed snapshot.
pub fn fields(node: &Node, rec: &DocRecord) -> Result<BTreeMap<String, String>> {
    if rec.shows_draft() && node.satker() == Some(rec.satker.as_str()) {
        if let Some(b) = crate::schema::DRAFTS.get(&node.store, &rec.doc_id)? {
            return Ok(storage::Draft::load(&b)?.fields()?);
        }
    }
    let Some(addr) = rec.snapshot else {
        return Ok(BTreeMap::new());
    };
    Ok(
        match node
            .store
            .item(&addr)?
            .and_then(|b| SignedItem::open(&b).ok())
        {
            Some(SignedItem {
                item: Item::Snapshot(s),
                ..
            }) => s.fields,
            _ => BTreeMap::new(),
        },
    )
}

/// The jabatan whose signatures on `rec` count now under `policy`, as the judge says.
fn counted(node: &Node, rec: &DocRecord, policy: &Policy) -> Result<BTreeSet<Jabatan>> {
    let Some(snapshot) = rec.snapshot else {
        return Ok(BTreeSet::new());
    };
    let mut items = Vec::with_capacity(rec.signatures.len());
    for s in &rec.signatures {
        if let Some(b) = node.store.item(&s.address)? {
            items.push(SignedItem::open(&b)?);
        }
    }
    let judgment = super::judge_now(node, rec, snapshot, &items, policy)?;
    Ok(judgment
        .signatures
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect())
}

/// What `rec` waits for now.
pub fn waiting_for(node: &Node, rec: &DocRecord) -> Result<String> {
    Ok(match rec.state {
        DocState::Draft | DocState::Signed => {
            // A device that has not synced yet does not know which signatures count.
            let Some(table) = crate::policy::newest(&node.store)? else {
                return Ok("sync (the signing policy table)".into());
            };
            let missing = table
                .policy
                .missing(rec.kind, &counted(node, rec, &table.policy)?);
            if missing.is_empty() {
                "TOTP submit".into()
            } else {
                missing
                    .iter()
                    .map(|g| format!("{g} signature"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
        DocState::Queued => "sync".into(),
        DocState::Delivered => "KPPN to take it in".into(),
        DocState::Received => "KPPN konversi".into(),
        DocState::Konversi => "KPPN validasi".into(),
        DocState::Validasi => "KPPN reviu".into(),
        DocState::Reviu => "KPPN approval".into(),
        DocState::Approved => String::new(),
        DocState::Rejected => "correction".into(),
    })
}

/// The row of one document.
pub fn row(node: &Node, rec: &DocRecord) -> Result<Row> {
    let f = fields(node, rec)?;
    Ok(Row {
        doc_id: rec.doc_id.clone(),
        satker: rec.satker.clone(),
        kind: rec.kind,
        nomor: f.get("nomor").cloned(),
        nilai: f.get("nilai").cloned(),
        state: rec.state,
        waiting_for: waiting_for(node, rec)?,
    })
}

/// `espm draft list [--state STATE]`
pub fn list(node: &Node, state: Option<&str>) -> Result<Listing> {
    let state: Option<DocState> = state.map(str::parse).transpose()?;
    let rows = super::all(&node.store)?
        .iter()
        .filter(|r| state.is_none_or(|s| r.state == s))
        .map(|r| row(node, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(Listing { rows })
}
