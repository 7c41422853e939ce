//! The nomor of an SPM is unique per satker, kind and year of its `tanggal`. A satker
//! device keeps an index of the nomors it submitted and refuses a second document with
//! one at `submit`; the hub keeps an index of the nomors delivered to it, and flags a
//! second document carrying one (another device of the satker, or one that skipped the
//! device's check) in `espm monitor`. Both are index lookups, never scans.

use std::collections::BTreeMap;

use storage::{StoreError, Txn};
use sync_protocol::DocKind;

use crate::schema::{NOMORS, NOMOR_DUPLICATES};

/// One SPM's place in the index: `SATKER/KIND/YYYY/NOMOR`; `None` for a kind that is
/// not an SPM or a document without both a nomor and a dated `tanggal`.
pub fn key(satker: &str, kind: DocKind, fields: &BTreeMap<String, String>) -> Option<String> {
    if !kind.is_spm() {
        return None;
    }
    let nomor = fields.get("nomor")?;
    let year = fields.get("tanggal")?.get(..4)?;
    Some(format!("{satker}/{kind}/{year}/{nomor}"))
}

/// The nomor and year a key names, for messages.
fn describe(key: &str) -> String {
    let mut parts = key.splitn(4, '/');
    let (_, kind, year, nomor) = (parts.next(), parts.next(), parts.next(), parts.next());
    format!(
        "{} nomor {} of {}",
        kind.unwrap_or_default(),
        nomor.unwrap_or_default(),
        year.unwrap_or_default()
    )
}

/// The other document that already holds `key`, if any.
pub fn held_by_another(t: &Txn<'_>, key: &str, doc_id: &str) -> Result<Option<String>, StoreError> {
    Ok(NOMORS.get_in(t, key)?.filter(|held| held != doc_id))
}

/// A satker device's refusal of a second document with a nomor it already submitted.
pub fn already_submitted(key: &str, doc_id: &str, other: &str) -> String {
    format!(
        "{} was already submitted as document {other}; give document {doc_id} its own nomor (`espm draft set {doc_id} nomor=…`), sign it again and submit it. Nothing was submitted",
        describe(key)
    )
}

/// Records `doc_id` as the holder of `key` unless one already holds it.
pub fn record(t: &mut Txn<'_>, key: &str, doc_id: &str) -> Result<(), StoreError> {
    if NOMORS.get_in(t, key)?.is_none() {
        NOMORS.put(t, key, &doc_id.to_string());
    }
    Ok(())
}

/// Frees `key` when `doc_id` holds it: its submission was withdrawn before it left the
/// device, so the KPPN never saw the nomor and another document may carry it.
pub fn release(t: &mut Txn<'_>, key: &str, doc_id: &str) -> Result<(), StoreError> {
    if NOMORS.get_in(t, key)?.as_deref() == Some(doc_id) {
        NOMORS.delete(t, key);
    }
    Ok(())
}

/// On the hub, in the write that accepts a submission: indexes the document's nomor,
/// and flags it for the monitor when another document of the satker delivered it first.
pub fn delivered(
    t: &mut Txn<'_>,
    satker: &str,
    kind: DocKind,
    fields: &BTreeMap<String, String>,
    doc_id: &str,
) -> Result<(), StoreError> {
    let Some(key) = key(satker, kind, fields) else {
        return Ok(());
    };
    match held_by_another(t, &key, doc_id)? {
        None => record(t, &key, doc_id),
        Some(first) => {
            let mut docs = NOMOR_DUPLICATES
                .get_in(t, &key)?
                .unwrap_or_else(|| vec![first]);
            if !docs.iter().any(|d| d == doc_id) {
                docs.push(doc_id.to_string());
            }
            NOMOR_DUPLICATES.put(t, &key, &docs);
            Ok(())
        }
    }
}

/// The hub's alerts on nomors delivered in more than one document, for `espm monitor`.
pub fn duplicate_alerts(store: &storage::Store) -> Result<Vec<String>, StoreError> {
    Ok(NOMOR_DUPLICATES
        .list(store, "")?
        .into_iter()
        .map(|(key, docs)| {
            let satker = key.split('/').next().unwrap_or_default();
            format!(
                "satker {satker}: {} was delivered in {} documents: {}",
                describe(&key),
                docs.len(),
                docs.join(", ")
            )
        })
        .collect())
}

#[cfg(test)]
mod tests;
