//! Attachment chunks by scope: which chunks each satker's documents still need, which
//! chunks each satker has proven to hold, and the rules that follow from them.
//!
//! Every need belongs to one satker and one document, so the hub asks a device only for
//! chunks its own satker's documents reference, and one satker's unfinished upload never
//! holds back another's. The hub keeps a chunk's bytes once, but counts it held for a
//! satker, and serves it to that satker's devices and to auditors whose scope holds that
//! satker, only once a device of that satker has sent it: naming another satker's chunk
//! in one's own document (its hash leaked, say) does not make the hub hand it over,
//! because the hub asks for it like any other missing chunk, and only someone holding
//! the bytes can answer.
//!
//! Needs are ordered by when they arose, so the oldest document completes first, and
//! they expire (a hub setting, 14 days by default): a submission whose chunks never
//! arrive is refused back to its satker (delivery::refuse_unfinished), and a device that
//! signed a list of invented hashes blocks nothing beyond its own document.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use storage::{Store, StoreError, Table, Txn};
use sync_protocol::{document::DocumentSnapshot, Address, Timestamp};

/// The most chunks one satker's documents may wait for at the hub at once (256 MiB of
/// attachments). A submission that would pass it is refused until earlier ones complete
/// or expire, so one device cannot fill the hub with needs.
pub const MAX_NEEDED_PER_SATKER: u64 = 4096;

/// Who waits for one chunk.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Need {
    /// The documents whose attachments list it.
    pub docs: Vec<String>,
    /// On the hub: the submissions whose receipt waits for it.
    pub submissions: Vec<Address>,
}

fn need_key(satker: &str, since: Timestamp, chunk: &Address) -> String {
    // Zero-padded hex of a non-negative time sorts in time order.
    format!("{satker}/{:016x}/{}", since.0.max(0), chunk.to_hex())
}

fn index_key(satker: &str, chunk: &Address) -> String {
    format!("{satker}/{}", chunk.to_hex())
}

fn count_key(satker: &str) -> String {
    format!("need-count/{satker}")
}

/// The key of a chunk's bytes.
pub fn bytes_key(chunk: &Address) -> String {
    chunk.to_hex()
}

/// How many chunks `satker`'s documents wait for.
pub fn needed_count(t: &Txn<'_>, satker: &str) -> Result<u64, StoreError> {
    Ok(t.get::<u64>(Table::Meta, &count_key(satker))?.unwrap_or(0))
}

fn add_count(t: &mut Txn<'_>, satker: &str, delta: i64) -> Result<(), StoreError> {
    let n = needed_count(t, satker)?;
    let next = n.saturating_add_signed(delta);
    if next == 0 {
        t.delete(Table::Meta, &count_key(satker));
    } else {
        t.put(Table::Meta, &count_key(satker), &next);
    }
    Ok(())
}

/// Records that `doc_id` of `satker` (and, on the hub, `submission`) waits for `chunk`.
/// A chunk already needed keeps its place in the order.
pub fn add_need(
    t: &mut Txn<'_>,
    satker: &str,
    chunk: &Address,
    doc_id: &str,
    submission: Option<Address>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let index = index_key(satker, chunk);
    let (key, mut need) = match t.get::<Timestamp>(Table::NeedIndex, &index)? {
        Some(since) => {
            let key = need_key(satker, since, chunk);
            let need = t.get::<Need>(Table::Need, &key)?.unwrap_or_default();
            (key, need)
        }
        None => {
            t.put(Table::NeedIndex, &index, &now);
            add_count(t, satker, 1)?;
            (need_key(satker, now, chunk), Need::default())
        }
    };
    if !need.docs.iter().any(|d| d == doc_id) {
        need.docs.push(doc_id.to_string());
    }
    if let Some(s) = submission {
        if !need.submissions.contains(&s) {
            need.submissions.push(s);
        }
    }
    t.put(Table::Need, &key, &need);
    Ok(())
}

/// Whether `satker`'s documents wait for `chunk`.
pub fn is_needed(t: &Txn<'_>, satker: &str, chunk: &Address) -> Result<bool, StoreError> {
    t.contains(Table::NeedIndex, &index_key(satker, chunk))
}

/// `chunk` arrived for `satker`: its need is gone. Returns who waited for it.
pub fn fulfil(t: &mut Txn<'_>, satker: &str, chunk: &Address) -> Result<Need, StoreError> {
    let index = index_key(satker, chunk);
    let Some(since) = t.get::<Timestamp>(Table::NeedIndex, &index)? else {
        return Ok(Need::default());
    };
    let key = need_key(satker, since, chunk);
    let need = t.get::<Need>(Table::Need, &key)?.unwrap_or_default();
    t.delete(Table::Need, &key);
    t.delete(Table::NeedIndex, &index);
    add_count(t, satker, -1)?;
    Ok(need)
}

/// Takes `submission` off the waiters of `chunk` of `satker`, dropping the need when
/// nobody waits for it any more.
pub fn forget(
    t: &mut Txn<'_>,
    satker: &str,
    chunk: &Address,
    submission: &Address,
) -> Result<(), StoreError> {
    let index = index_key(satker, chunk);
    let Some(since) = t.get::<Timestamp>(Table::NeedIndex, &index)? else {
        return Ok(());
    };
    let key = need_key(satker, since, chunk);
    let mut need = t.get::<Need>(Table::Need, &key)?.unwrap_or_default();
    need.submissions.retain(|s| s != submission);
    if need.submissions.is_empty() {
        t.delete(Table::Need, &key);
        t.delete(Table::NeedIndex, &index);
        add_count(t, satker, -1)?;
    } else {
        t.put(Table::Need, &key, &need);
    }
    Ok(())
}

/// Up to `limit` chunks the documents of `satkers` need, oldest need first, passing
/// over those `skip` names. An index range read per satker, never a scan of the store.
pub fn missing(
    store: &Store,
    satkers: &[String],
    limit: usize,
    skip: &dyn Fn(&Address) -> bool,
) -> Result<Vec<Address>, StoreError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for satker in satkers {
        for entry in store.iter::<Need>(Table::Need, &format!("{satker}/")) {
            if out.len() >= limit {
                return Ok(out);
            }
            let (key, _) = entry?;
            let Some(chunk) = key.rsplit('/').next().and_then(|h| h.parse().ok()) else {
                continue;
            };
            if !skip(&chunk) && seen.insert(chunk) {
                out.push(chunk);
            }
        }
    }
    Ok(out)
}

/// The needs of `satker` that arose before `cutoff`, oldest first, with their chunks.
pub fn expired(
    store: &Store,
    satker: &str,
    cutoff: Timestamp,
) -> Result<Vec<(Address, Need)>, StoreError> {
    let mut out = Vec::new();
    for entry in store.iter::<Need>(Table::Need, &format!("{satker}/")) {
        let (key, need) = entry?;
        let mut parts = key.rsplitn(2, '/');
        let chunk = parts.next().and_then(|h| h.parse::<Address>().ok());
        let since = parts
            .next()
            .and_then(|rest| rest.rsplit('/').next())
            .and_then(|h| i64::from_str_radix(h, 16).ok());
        let (Some(chunk), Some(since)) = (chunk, since) else {
            continue;
        };
        // Sorted by time within a satker: the first fresh need ends the list.
        if since >= cutoff.0 {
            break;
        }
        out.push((chunk, need));
    }
    Ok(out)
}

/// The satkers that have needs at all, for a sweep over every satker.
pub fn satkers_with_needs(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for entry in store.iter::<u64>(Table::Meta, "need-count/") {
        let (key, _) = entry?;
        if let Some(s) = key.strip_prefix("need-count/") {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Whether `satker`'s devices have sent `chunk` to this hub.
pub fn held_by(t: &Txn<'_>, satker: &str, chunk: &Address) -> Result<bool, StoreError> {
    t.contains(Table::Held, &index_key(satker, chunk))
}

/// Whether a device of `satker` sent `chunk` here, read outside a write.
pub fn is_held_by(store: &Store, satker: &str, chunk: &Address) -> Result<bool, StoreError> {
    Ok(store
        .get::<()>(Table::Held, &index_key(satker, chunk))?
        .is_some())
}

/// Records that a device of `satker` proved to hold `chunk`, and keeps its bytes.
pub fn store_held(t: &mut Txn<'_>, satker: &str, chunk: &Address, bytes: &[u8]) {
    t.put(Table::Held, &index_key(satker, chunk), &());
    store_bytes(t, chunk, bytes);
}

/// Keeps a chunk's bytes (once, whoever sent them).
pub fn store_bytes(t: &mut Txn<'_>, chunk: &Address, bytes: &[u8]) {
    t.put(
        Table::Blob,
        &bytes_key(chunk),
        &serde_bytes::ByteBuf::from(bytes.to_vec()),
    );
}

/// Whether this node holds a chunk's bytes.
pub fn has_bytes(t: &Txn<'_>, chunk: &Address) -> Result<bool, StoreError> {
    t.contains(Table::Blob, &bytes_key(chunk))
}

/// A chunk's bytes, if this node holds them.
pub fn bytes(store: &Store, chunk: &Address) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(store
        .get::<serde_bytes::ByteBuf>(Table::Blob, &bytes_key(chunk))?
        .map(|b| b.into_vec()))
}

/// On a satker or auditor node: notes every chunk of `snap` not held yet, so the next
/// sessions fetch it from the hub.
pub fn need_for_snapshot(
    t: &mut Txn<'_>,
    snap: &DocumentSnapshot,
    now: Timestamp,
) -> Result<(), StoreError> {
    for c in snap.attachments.iter().flat_map(|a| &a.chunks) {
        if !has_bytes(t, c)? {
            add_need(t, &snap.satker, c, &snap.doc_id, None, now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
