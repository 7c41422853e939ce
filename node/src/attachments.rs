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

use crate::records::Need;
use std::collections::BTreeSet;

use storage::{Store, StoreError, Txn};
use sync_protocol::{Address, DocumentSnapshot, Timestamp};

use crate::schema::{CHUNKS, HELD, NEEDS, NEED_COUNTS, NEED_INDEX};

/// The most chunks one satker's documents may wait for at the hub at once (256 MiB of
/// attachments). A submission that would pass it is refused until earlier ones complete
/// or expire, so one device cannot fill the hub with needs.
pub const MAX_NEEDED_PER_SATKER: u64 = 4096;

fn need_key(satker: &str, since: Timestamp, chunk: &Address) -> String {
    // Zero-padded hex of a non-negative time sorts in time order.
    format!("{satker}/{:016x}/{}", since.0.max(0), chunk.to_hex())
}

fn index_key(satker: &str, chunk: &Address) -> String {
    format!("{satker}/{}", chunk.to_hex())
}

/// The key of a chunk's bytes.
pub fn bytes_key(chunk: &Address) -> String {
    chunk.to_hex()
}

/// How many chunks `satker`'s documents wait for.
pub fn needed_count(t: &Txn<'_>, satker: &str) -> Result<u64, StoreError> {
    Ok(NEED_COUNTS.get_in(t, satker)?.unwrap_or(0))
}

fn add_count(t: &mut Txn<'_>, satker: &str, delta: i64) -> Result<(), StoreError> {
    let n = needed_count(t, satker)?;
    let next = n.saturating_add_signed(delta);
    if next == 0 {
        NEED_COUNTS.delete(t, satker);
    } else {
        NEED_COUNTS.put(t, satker, &next);
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
    let (key, mut need) = match NEED_INDEX.get_in(t, &index)? {
        Some(since) => {
            let key = need_key(satker, since, chunk);
            let need = NEEDS.get_in(t, &key)?.unwrap_or_default();
            (key, need)
        }
        None => {
            NEED_INDEX.put(t, &index, &now);
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
    NEEDS.put(t, &key, &need);
    Ok(())
}

/// Whether `satker`'s documents wait for `chunk`.
pub fn is_needed(t: &Txn<'_>, satker: &str, chunk: &Address) -> Result<bool, StoreError> {
    NEED_INDEX.contains(t, &index_key(satker, chunk))
}

/// `chunk` arrived for `satker`: its need is gone. Returns who waited for it.
pub fn fulfil(t: &mut Txn<'_>, satker: &str, chunk: &Address) -> Result<Need, StoreError> {
    let index = index_key(satker, chunk);
    let Some(since) = NEED_INDEX.get_in(t, &index)? else {
        return Ok(Need::default());
    };
    let key = need_key(satker, since, chunk);
    let need = NEEDS.get_in(t, &key)?.unwrap_or_default();
    NEEDS.delete(t, &key);
    NEED_INDEX.delete(t, &index);
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
    let Some(since) = NEED_INDEX.get_in(t, &index)? else {
        return Ok(());
    };
    let key = need_key(satker, since, chunk);
    let mut need = NEEDS.get_in(t, &key)?.unwrap_or_default();
    need.submissions.retain(|s| s != submission);
    if need.submissions.is_empty() {
        NEEDS.delete(t, &key);
        NEED_INDEX.delete(t, &index);
        add_count(t, satker, -1)?;
    } else {
        NEEDS.put(t, &key, &need);
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
        for entry in NEEDS.iter(store, &format!("{satker}/")) {
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
    for entry in NEEDS.iter(store, &format!("{satker}/")) {
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
    for entry in NEED_COUNTS.iter(store, "") {
        let (satker, _) = entry?;
        out.push(satker);
    }
    Ok(out)
}

/// Whether `satker`'s devices have sent `chunk` to this hub.
pub fn held_by(t: &Txn<'_>, satker: &str, chunk: &Address) -> Result<bool, StoreError> {
    HELD.contains(t, &index_key(satker, chunk))
}

/// Whether a device of `satker` sent `chunk` here, read outside a write.
pub fn is_held_by(store: &Store, satker: &str, chunk: &Address) -> Result<bool, StoreError> {
    Ok(HELD.get(store, &index_key(satker, chunk))?.is_some())
}

/// Records that a device of `satker` proved to hold `chunk`, and keeps its bytes.
pub fn store_held(t: &mut Txn<'_>, satker: &str, chunk: &Address, bytes: &[u8]) {
    HELD.put(t, &index_key(satker, chunk), &());
    store_bytes(t, chunk, bytes);
}

/// Keeps a chunk's bytes (once, whoever sent them).
pub fn store_bytes(t: &mut Txn<'_>, chunk: &Address, bytes: &[u8]) {
    CHUNKS.put(
        t,
        &bytes_key(chunk),
        &serde_bytes::ByteBuf::from(bytes.to_vec()),
    );
}

/// Whether this node holds a chunk's bytes.
pub fn has_bytes(t: &Txn<'_>, chunk: &Address) -> Result<bool, StoreError> {
    CHUNKS.contains(t, &bytes_key(chunk))
}

/// A chunk's bytes, if this node holds them.
pub fn bytes(store: &Store, chunk: &Address) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(CHUNKS.get(store, &bytes_key(chunk))?.map(|b| b.into_vec()))
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
