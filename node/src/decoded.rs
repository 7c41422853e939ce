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

use storage::{Store, StoreError};
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
    let hit = cache().lock().ok().and_then(|c| c.get(address).cloned());
    if let Some(Ok(hit)) = hit.map(Arc::downcast::<T>) {
        return Ok(Some(hit));
    }
    let Some(bytes) = store.item(address)? else {
        return Ok(None);
    };
    let value = Arc::new(extract(SignedItem::open_stored(&bytes)?.item)?);
    if let Ok(mut c) = cache().lock() {
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(*address, value.clone());
    }
    Ok(Some(value))
}
