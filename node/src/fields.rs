//! The field schema tables a node holds, kept as the signing policy tables are
//! (`policy.rs`): the hub's authority issues one at `init hub` (the defaults of
//! `FieldSchemas::default`) and any later one into the trust stream; every other node
//! takes them from there, authority-signed only. The table in force is the newest held.
//!
//! And the one rule every front-end applies to a document's fields, by the table in
//! force: [`check_values`] as fields are typed (`draft new --set`, `draft set`),
//! [`check_document`] before a document is signed and when the hub ingests it.

use std::{collections::BTreeMap, sync::Arc};

use storage::{Store, StoreError, Txn};
use sync_protocol::{Address, DocKind, FieldRefusal, FieldSchemaTable, FieldSchemas, Item};

use crate::{
    error::{NodeError, Result},
    node::Node,
    records::FieldSchemaIndex as Held,
    schema::FIELD_SCHEMAS,
};

/// Records a field schema table item in the same write as the item itself.
pub fn record(
    t: &mut Txn<'_>,
    table: &FieldSchemaTable,
    address: Address,
) -> Result<(), StoreError> {
    let mut held: Held = FIELD_SCHEMAS.get_in(t)?.unwrap_or_default();
    if !held.0.iter().any(|(_, a)| *a == address) {
        held.0.push((table.issued_at, address));
        held.0.sort();
        FIELD_SCHEMAS.put(t, &held);
    }
    Ok(())
}

/// The newest table this node holds, if any.
pub fn newest(store: &Store) -> Result<Option<FieldSchemaTable>, StoreError> {
    Ok(newest_shared(store)?.map(|t| (*t).clone()))
}

/// The newest table, decoded once and shared rather than copied: ingest checks every
/// snapshot by it.
pub fn newest_shared(store: &Store) -> Result<Option<Arc<FieldSchemaTable>>, StoreError> {
    let held: Held = FIELD_SCHEMAS.get(store)?.unwrap_or_default();
    let Some((_, address)) = held.0.last() else {
        return Ok(None);
    };
    crate::decoded::get(store, address, |item| match item {
        Item::FieldSchemaTable(t) => Ok(t),
        other => Err(StoreError::Corrupt {
            what: "field schema table index".into(),
            detail: format!("it names a {}", other.kind().name()),
        }),
    })
}

/// The field schemas in force on this node: the newest table it holds.
pub fn in_force(node: &Node) -> Result<FieldSchemas> {
    match newest(&node.store)? {
        Some(table) => Ok(table.schemas),
        None if node.service.is_some() => Err(NodeError::user(
            "this hub holds no field schema table: `espm init hub` issues one, so this data directory was made by an older espm; create the hub again with `espm init hub`",
        )),
        None => Err(NodeError::user(
            "this node holds no field schema table yet; run `espm sync` so it learns the document fields from the hub",
        )),
    }
}

/// A refusal as the person who typed the field reads it.
pub fn refused(refusal: FieldRefusal) -> NodeError {
    NodeError::user(refusal.to_string())
}

/// Checks each field as typed: known to the kind, of its type, no payment-card number.
/// A device that has not learned the schemas yet (set up offline, never synced) takes
/// the values as they are: drafting needs no link, and `sign`, which needs the hub's
/// certificate anyway, checks the whole document by the schemas once they are here.
pub fn check_values(node: &Node, kind: DocKind, fields: &[(String, String)]) -> Result<()> {
    let Some(table) = newest(&node.store)? else {
        return Ok(());
    };
    let schemas = table.schemas;
    for (name, value) in fields {
        schemas.check_value(kind, name, value).map_err(refused)?;
    }
    Ok(())
}

/// Checks a whole document's fields by the table in force: before signing.
pub fn check_document(node: &Node, kind: DocKind, fields: &BTreeMap<String, String>) -> Result<()> {
    let what = kind.as_str();
    in_force(node)?
        .check_document(kind, fields)
        .map_err(|r| NodeError::user(format!("{r}; the {what} cannot be signed until it is")))
}

/// One kind as `espm kinds` shows it: its fields by the field schemas in force, and who
/// signs it by the signing policy table in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind.
    pub kind: DocKind,
    /// Its fields, in the order people fill them in.
    pub fields: Vec<sync_protocol::FieldSpec>,
    /// The roles that must sign: all of these groups, one role of each.
    pub signers: Vec<Vec<sync_protocol::Jabatan>>,
    /// The same as a sentence ("Bendahara, and KPA or PPK").
    pub signers_text: String,
}

/// Every kind, or the one named: `espm kinds [KIND]`.
pub fn kinds(node: &Node, kind: Option<&str>) -> Result<Vec<KindInfo>> {
    let wanted: Vec<DocKind> = match kind {
        Some(k) => vec![k.parse()?],
        None => DocKind::ALL.to_vec(),
    };
    let schemas = in_force(node)?;
    let policy = node.policy()?;
    wanted
        .into_iter()
        .map(|kind| {
            let fields = schemas.of(kind).map_err(refused)?.0.clone();
            let signers = policy
                .requirement(kind)?
                .0
                .iter()
                .map(|group| group.0.clone())
                .collect();
            Ok(KindInfo {
                kind,
                fields,
                signers,
                signers_text: policy.describe(kind),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
