//! Authority-issued items (field schema tables, signing policy tables, certificates)
//! decoded once per process and kept by address. Ingest consults them for every item a
//! device sends; decoding a schema table from the store per snapshot was a tenth of the
//! hub's ingest time. A content address names exactly one item, so what was decoded
//! under it stays true for as long as the process runs; only the store's index of which
//! table is newest, or which certificate a serial names, is read again each time.

use std::{
    any::Any,
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use storage::{Store, StoreError, Txn};
use sync_protocol::{Address, Item, SignedItem};

/// Entries kept before the cache starts over: far more than the tables and signer
/// certificates a hub holds, little enough that a store full of them costs a few MiB.
const MAX_ENTRIES: usize = 4096;

type Entry = Arc<dyn Any + Send + Sync>;

fn cache() -> &'static Mutex<HashMap<Address, Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<Address, Entry>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// What `extract` makes of the item at `address` in `store`, decoded once. The item was
/// verified when it was stored; `espm verify` checks the stored bytes again.
pub(crate) fn get<T: Any + Send + Sync>(
    store: &Store,
    address: &Address,
    extract: impl FnOnce(Item) -> Result<T, StoreError>,
) -> Result<Option<Arc<T>>, StoreError> {
    if let Some(hit) = lookup::<T>(address) {
        return Ok(Some(hit));
    }
    let Some(bytes) = store.item(address)? else {
        return Ok(None);
    };
    let value = Arc::new(extract(SignedItem::open_stored(&bytes)?.item)?);
    insert(*address, value.clone());
    Ok(Some(value))
}

fn lookup<T: Any + Send + Sync>(address: &Address) -> Option<Arc<T>> {
    let hit = cache().lock().ok().and_then(|c| c.get(address).cloned())?;
    hit.downcast::<T>().ok()
}

fn insert(address: Address, value: Entry) {
    if let Ok(mut c) = cache().lock() {
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(address, value);
    }
}

/// The item at `address` as the write `t` sees it (the items of the same frame
/// included), decoded once: ingest reads a submission's snapshots and signatures
/// several times while it judges and indexes them. Whether the item is held is asked
/// of `t` every time; only the decoding is kept.
pub(crate) fn item_in(
    t: &Txn<'_>,
    address: &Address,
) -> Result<Option<Arc<SignedItem>>, StoreError> {
    if !t.has_item(address)? {
        return Ok(None);
    }
    if let Some(hit) = lookup::<SignedItem>(address) {
        return Ok(Some(hit));
    }
    let Some(bytes) = t.item(address)? else {
        return Ok(None);
    };
    let item = Arc::new(SignedItem::open_stored(&bytes)?);
    insert(*address, item.clone());
    Ok(Some(item))
}

/// Keeps an item just opened and verified on arrival, so that reading it back while
/// the same frame or a later one is judged costs no decoding.
pub(crate) fn remember(item: &SignedItem) {
    insert(item.address, Arc::new(item.clone()));
}

/// Items verified ahead of the turn that stores them, kept until it takes them; at
/// most this many wait (a few windows of frames), the rest are verified again.
const MAX_VERIFIED: usize = 4096;

fn verified() -> &'static Mutex<HashMap<Address, SignedItem>> {
    static VERIFIED: OnceLock<Mutex<HashMap<Address, SignedItem>>> = OnceLock::new();
    VERIFIED.get_or_init(Mutex::default)
}

/// Keeps items whose signatures were just verified, by address, for the turn that
/// stores them. A content address names exactly those bytes, so a verification found
/// under it holds for whoever sends the same bytes.
pub(crate) fn remember_verified(items: Vec<SignedItem>) {
    if let Ok(mut v) = verified().lock() {
        if v.len() + items.len() > MAX_VERIFIED {
            v.clear();
        }
        for item in items {
            v.insert(item.address, item);
        }
    }
}

/// The item with `address` if its signature was verified ahead, taken out.
pub(crate) fn take_verified(address: &Address) -> Option<SignedItem> {
    verified().lock().ok()?.remove(address)
}
