//! Document records, keyed by satker and document id. A document id is unique only
//! within the satker that made it: a rogue satker that learns another's id gets its own
//! record under that id, never the other satker's, and no refusal it receives says
//! whether the id exists elsewhere.

pub mod list;

use storage::{Store, StoreError, Txn};
use sync_protocol::{
    judge_document, Address, Document, Judgment, Moment, Policy, Presented, SignedItem,
};

use crate::{
    error::{NodeError, Result},
    node::Node,
    records::DocRecord,
};

/// The judge's answer now on `rec`'s snapshot and the signature `items` presented for
/// it under `policy`: what the hub would answer were the document submitted now.
pub(crate) fn judge_now(
    node: &Node,
    rec: &DocRecord,
    snapshot: Address,
    items: &[SignedItem],
    policy: &Policy,
) -> Result<Judgment> {
    let presented: Vec<Presented<'_>> = items.iter().filter_map(Presented::of).collect();
    let credentials =
        crate::trust::credentials(node, presented.iter().map(|p| p.signature.serial.as_str()))?;
    let doc = Document {
        doc_id: &rec.doc_id,
        kind: rec.kind,
        satker: &rec.satker,
        snapshot,
    };
    Ok(judge_document(
        &doc,
        &presented,
        &credentials,
        policy,
        Moment::Pending(node.now()),
    ))
}

fn key(satker: &str, doc_id: &str) -> String {
    format!("{satker}/{doc_id}")
}

fn by_id_key(doc_id: &str, satker: &str) -> String {
    format!("{doc_id}/{satker}")
}

/// The record of `doc_id` of `satker`, as this write would leave it.
pub fn get(t: &Txn<'_>, satker: &str, doc_id: &str) -> Result<Option<DocRecord>, StoreError> {
    crate::schema::DOCS.get_in(t, &key(satker, doc_id))
}

/// The record of `doc_id` of `satker`, read outside a write.
pub fn load(store: &Store, satker: &str, doc_id: &str) -> Result<Option<DocRecord>, StoreError> {
    crate::schema::DOCS.get(store, &key(satker, doc_id))
}

/// Stores a record and its index entry in the caller's write.
pub fn put(t: &mut Txn<'_>, rec: &DocRecord) {
    crate::schema::DOCS.put(t, &key(&rec.satker, &rec.doc_id), rec);
    crate::schema::DOC_IDS.put(t, &by_id_key(&rec.doc_id, &rec.satker), &());
}

/// Every record, in satker and id order.
pub fn all(store: &Store) -> Result<Vec<DocRecord>, StoreError> {
    Ok(crate::schema::DOCS
        .list(store, "")?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// The document a person names: `DOC_ID`, or `SATKER/DOC_ID` where one id is used by
/// several satkers. On a satker node a bare id is that satker's.
pub fn resolve(node: &Node, text: &str) -> Result<DocRecord> {
    let not_found = || {
        NodeError::user(format!(
            "no document '{text}' on this node; `espm status` lists the documents"
        ))
    };
    if let Some((satker, doc_id)) = text.split_once('/') {
        return load(&node.store, satker, doc_id)?.ok_or_else(not_found);
    }
    if let Some(satker) = node.satker() {
        return load(&node.store, satker, text)?.ok_or_else(not_found);
    }
    let satkers: Vec<String> = crate::schema::DOC_IDS
        .list(&node.store, &format!("{text}/"))?
        .into_iter()
        .filter_map(|(k, _)| k.rsplit_once('/').map(|(_, s)| s.to_string()))
        .collect();
    match satkers.as_slice() {
        [] => Err(not_found()),
        [satker] => load(&node.store, satker, text)?.ok_or_else(not_found),
        many => Err(NodeError::user(format!(
            "document id '{text}' is used by satker {}; name it as SATKER/{text}",
            many.join(" and ")
        ))),
    }
}

/// Documents as `espm status` shows them, with the KPPN's time zone for local times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journeys {
    /// The records, one when a document was named.
    pub records: Vec<DocRecord>,
    /// Whether one document was asked for (shown whole) or all of them.
    pub one: bool,
    /// The time zone times are shown in: the KPPN's once this node knows it, else UTC.
    pub tz: Option<String>,
    /// For all documents: one compact row each, beside its record.
    pub rows: Vec<list::Row>,
}

/// The journey of one document, or of all, on this node: `espm status [DOC_ID]`.
pub fn journeys(node: &Node, doc_id: Option<&str>) -> Result<Journeys> {
    let tz = Some(node.zone()?);
    Ok(match doc_id {
        Some(id) => Journeys {
            records: vec![resolve(node, id)?],
            one: true,
            tz,
            rows: Vec::new(),
        },
        None => {
            let records = all(&node.store)?;
            let rows = records
                .iter()
                .map(|r| list::row(node, r))
                .collect::<Result<Vec<_>>>()?;
            Journeys {
                records,
                one: false,
                tz,
                rows,
            }
        }
    })
}
