//! The sled-backed store and its atomic write transactions.
//!
//! One sled tree holds everything under short key prefixes, so that all the writes for
//! one item, whatever indexes they touch, go into a single atomic `sled::Batch`:
//! `i/` items by address, `s/` stream logs, `h/` stream heads, `r/` receive checkpoints,
//! `l/` the hub log, `z/` the flush watermark (damage.rs), and the record tables of
//! [`Table`].

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, MutexGuard,
    },
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sync_protocol::{Address, NodeId, StreamId};

use crate::{damage, StoreError, Table};

/// One position of a stream log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEntry {
    /// The item at this position.
    pub address: Address,
    /// The device that authored it, when it came from a device; lets the hub skip
    /// echoing a device's own items back to it.
    pub origin: Option<NodeId>,
}

/// Items read from a stream for sending: `(position, bytes)` pairs and the last
/// position the read covered, skipped entries included.
pub type StreamRead = (Vec<(u64, Vec<u8>)>, u64);

/// What one stream position holds, as the store-wide check sees it.
pub(crate) enum StoreEntryCheck {
    /// A stream entry naming a stored item.
    Ok,
    /// Bytes that are no stream entry.
    Undecodable(String),
    /// An entry naming an item that is not stored.
    Missing(Address),
}

/// An open store. Cheap to share behind an `Arc`; writes are serialized internally.
pub struct Store {
    pub(crate) db: sled::Db,
    pub(crate) tree: sled::Tree,
    write_lock: Mutex<()>,
    /// The data directory, where the flush watermark lives (damage.rs).
    dir: PathBuf,
    /// sled's directory inside it, named in damage reports.
    pub(crate) path: PathBuf,
    /// Whether anything was written since the last flush bumped the watermark.
    dirty: AtomicBool,
    /// The highest watermark written beside the store, so concurrent flushes never
    /// lower it.
    recorded: Mutex<u64>,
}

fn stream_prefix(tag: u8, stream: &StreamId) -> Vec<u8> {
    let k = stream.key();
    let mut out = Vec::with_capacity(4 + k.len());
    out.push(tag);
    out.push(b'/');
    out.extend_from_slice(&(k.len() as u16).to_be_bytes());
    out.extend_from_slice(&k);
    out
}

fn log_key(stream: &StreamId, seq: u64) -> Vec<u8> {
    let mut k = stream_prefix(b's', stream);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn item_key(addr: &Address) -> Vec<u8> {
    [b"i/".as_slice(), &addr.0].concat()
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    ciborium::from_reader(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Serializing plain records into a Vec cannot fail.
    if let Err(e) = ciborium::into_writer(value, &mut out) {
        panic!("record encoding failed: {e}");
    }
    out
}

fn u64_of(bytes: Option<sled::IVec>, what: &str) -> Result<u64, StoreError> {
    match bytes {
        None => Ok(0),
        Some(b) => {
            let arr: [u8; 8] = b.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                what: what.to_string(),
                detail: format!("{} bytes where 8 were expected", b.len()),
            })?;
            Ok(u64::from_be_bytes(arr))
        }
    }
}

/// sled's page cache. Its default (1 GiB) is sized for a database server; a satker
/// laptop runs this beside everything else, and the working set of a sync is the tail
/// of a few streams, so a small cache costs little speed.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How often, and how long apart, opening retries a store that looks locked.
const LOCK_RETRIES: u32 = 20;
const LOCK_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(25);

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        // sled releases its file lock from a background thread after the last handle
        // drops, so a store this process just closed can look locked for a moment.
        // A few short retries cover that; another process's lock still fails quickly.
        let mut attempts = 0;
        loop {
            match Store::open_once(dir) {
                Err(StoreError::Locked { .. }) if attempts < LOCK_RETRIES => {
                    attempts += 1;
                    std::thread::sleep(LOCK_RETRY_WAIT);
                }
                other => return other,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("store");
        let (db, tree) = damage::guard(&path, || {
            let db = sled::Config::new()
                .path(&path)
                .cache_capacity(CACHE_BYTES)
                .open()
                .map_err(|e| match e {
                    sled::Error::Io(ref io)
                        if io.kind() == std::io::ErrorKind::WouldBlock
                            || io.to_string().contains("lock") =>
                    {
                        StoreError::Locked { path: path.clone() }
                    }
                    other => damage::of_sled(Some(&path), "open", true, other),
                })?;
            let tree = db
                .open_tree("espm")
                .map_err(|e| damage::of_sled(Some(&path), "open", true, e))?;
            Ok((db, tree))
        })?;
        // Before anything is written: a store that lost durable writes must be left as
        // it is for the person restoring it.
        let flushes = damage::guard(&path, || {
            let v = tree
                .get(damage::FLUSHED_KEY)
                .map_err(|e| damage::of_sled(Some(&path), "open", true, e))?;
            u64_of(v, "flush count")
        })?;
        if let Some(recorded) = damage::recorded_flushes(dir) {
            if flushes < recorded {
                return Err(damage::damaged(
                    &path,
                    "its log file db",
                    "lost writes it had made durable (the storage engine stopped reading at a damaged record and dropped everything after it)",
                ));
            }
        }
        let store = Store {
            db,
            tree,
            write_lock: Mutex::new(()),
            dir: dir.to_path_buf(),
            path,
            dirty: AtomicBool::new(false),
            recorded: Mutex::new(flushes),
        };
        store.settle_format()?;
        Ok(store)
    }

    /// sled's error as ours, naming this store when it is damage.
    fn sled_err(&self, action: &'static str) -> impl FnOnce(sled::Error) -> StoreError + '_ {
        move |e| damage::of_sled(Some(&self.path), action, false, e)
    }

    /// Bumps the flush watermark inside sled, without counting as a write itself (or
    /// every flush would leave the next one something to flush).
    fn bump_flushes(&self) -> Result<u64, StoreError> {
        let _guard = self.write_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let n = u64_of(self.raw(damage::FLUSHED_KEY)?, "flush count")? + 1;
        self.tree
            .insert(damage::FLUSHED_KEY, &n.to_be_bytes())
            .map_err(self.sled_err("write"))?;
        Ok(n)
    }

    /// Whether the store holds any key at all.
    pub(crate) fn any_key(&self) -> Result<bool, StoreError> {
        Ok(self.tree.first().map_err(self.sled_err("read"))?.is_some())
    }

    /// Up to `limit` raw keys and values under `prefix`, for migrations.
    pub(crate) fn raw_prefix(
        &self,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .take(limit)
            .map(|r| r.map_err(self.sled_err("scan")))
            .collect()
    }

    /// Makes every applied write durable. Call before acknowledging anything.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mark = if self.dirty.swap(false, Ordering::SeqCst) {
            Some(self.bump_flushes()?)
        } else {
            None
        };
        self.db.flush().map_err(self.sled_err("flush"))?;
        // Only now is the watermark durable inside sled, so only now may the file
        // beside the store claim it.
        if let Some(n) = mark {
            let mut recorded = self.recorded.lock().map_err(|_| StoreError::Poisoned)?;
            if n > *recorded {
                damage::record_flushes(&self.dir, n);
                *recorded = n;
            }
        }
        Ok(())
    }

    fn raw(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.tree.get(key).map_err(self.sled_err("read"))
    }

    /// The bytes of the item at `addr`.
    pub fn item(&self, addr: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.raw(&item_key(addr))?.map(|v| v.to_vec()))
    }

    /// Every stored item, in address order.
    pub fn items(&self) -> impl Iterator<Item = Result<(Address, Vec<u8>), StoreError>> + '_ {
        self.tree.scan_prefix(b"i/").map(|r| {
            let (k, v) = r.map_err(self.sled_err("scan"))?;
            let arr: [u8; 32] = k[2..].try_into().map_err(|_| StoreError::Corrupt {
                what: "item key".into(),
                detail: "not 32 bytes".into(),
            })?;
            Ok((Address(arr), v.to_vec()))
        })
    }

    /// The last position of our log of `stream`.
    pub fn head(&self, stream: &StreamId) -> Result<u64, StoreError> {
        u64_of(self.raw(&stream_prefix(b'h', stream))?, "stream head")
    }

    /// How far we hold `stream` as received from a peer.
    pub fn position(&self, stream: &StreamId) -> Result<u64, StoreError> {
        u64_of(
            self.raw(&stream_prefix(b'r', stream))?,
            "receive checkpoint",
        )
    }

    /// The entry at `seq` of our log of `stream`.
    pub fn entry(&self, stream: &StreamId, seq: u64) -> Result<Option<StreamEntry>, StoreError> {
        self.raw(&log_key(stream, seq))?
            .map(|v| decode(&v, "stream entry"))
            .transpose()
    }

    /// Reads our log of `stream` after `after`: about `max_bytes` of items (at least
    /// one), skipping entries `skip` rejects. Returns the items and the last position
    /// covered, skipped entries included.
    pub fn read_stream(
        &self,
        stream: &StreamId,
        after: u64,
        max_bytes: usize,
        skip: impl Fn(&StreamEntry) -> bool,
    ) -> Result<StreamRead, StoreError> {
        let start = log_key(stream, after.saturating_add(1));
        let end = log_key(stream, u64::MAX);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut through = after;
        for r in self.tree.range(start..=end) {
            let (k, v) = r.map_err(self.sled_err("scan"))?;
            let seq = u64::from_be_bytes(k[k.len() - 8..].try_into().map_err(|_| {
                StoreError::Corrupt {
                    what: "stream key".into(),
                    detail: "short".into(),
                }
            })?);
            let entry: StreamEntry = decode(&v, "stream entry")?;
            if skip(&entry) {
                through = seq;
                continue;
            }
            let item = self
                .item(&entry.address)?
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("stream {stream} position {seq}"),
                    detail: format!("names item {} which is not stored", entry.address),
                })?;
            if !out.is_empty() && bytes + item.len() > max_bytes {
                break;
            }
            bytes += item.len();
            out.push((seq, item));
            through = seq;
        }
        Ok((out, through))
    }

    /// A record from a table.
    pub fn get<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.raw(&table.key(key))?
            .map(|v| decode(&v, &format!("{table:?} record {key}")))
            .transpose()
    }

    /// Every record of a table whose key starts with `prefix`, in key order.
    pub fn list<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let p = table.key(prefix);
        let skip = table.prefix().len();
        self.tree
            .scan_prefix(&p)
            .map(|r| {
                let (k, v) = r.map_err(self.sled_err("scan"))?;
                let key = String::from_utf8_lossy(&k[skip..]).into_owned();
                let val = decode(&v, &format!("{table:?} record {key}"))?;
                Ok((key, val))
            })
            .collect()
    }

    /// The records of a table whose key starts with `prefix`, in key order, read lazily:
    /// callers that need only the first few stop early instead of loading the range.
    pub fn iter<'a, T: DeserializeOwned + 'a>(
        &'a self,
        table: Table,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, T), StoreError>> + 'a {
        let skip = table.prefix().len();
        self.tree.scan_prefix(table.key(prefix)).map(move |r| {
            let (k, v) = r.map_err(self.sled_err("scan"))?;
            let key = String::from_utf8_lossy(&k[skip..]).into_owned();
            let val = decode(&v, &format!("{table:?} record {key}"))?;
            Ok((key, val))
        })
    }

    /// Runs `f` as one atomic write: either all it wrote is applied, or none of it.
    /// Not durable until [`Store::flush`].
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let guard = self.write_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let mut txn = Txn {
            store: self,
            overlay: BTreeMap::new(),
            log_head: None,
            _guard: guard,
        };
        let r = f(&mut txn)?;
        if let Some(head) = txn.log_head.take() {
            let (k, v) = crate::hublog::head_record(&head);
            txn.overlay.insert(k, Some(v));
        }
        let mut batch = sled::Batch::default();
        for (k, v) in std::mem::take(&mut txn.overlay) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.tree
            .apply_batch(batch)
            .map_err(self.sled_err("write"))?;
        self.dirty.store(true, Ordering::SeqCst);
        Ok(r)
    }

    /// Overwrites the entry at `seq` of our log of `stream`, keeping the head. Exists for
    /// repair tools and for tests that must tamper with an outgoing stream; normal
    /// operation only appends.
    pub fn replace_stream_entry(
        &self,
        stream: &StreamId,
        seq: u64,
        entry: StreamEntry,
    ) -> Result<(), StoreError> {
        if seq == 0 || seq > self.head(stream)? {
            return Err(StoreError::Corrupt {
                what: format!("stream {stream}"),
                detail: format!("has no position {seq}"),
            });
        }
        self.write(|t| {
            t.put_raw(log_key(stream, seq), encode(&entry));
            Ok(())
        })
    }

    /// Whether `value`, read at a stream position, is an entry naming a stored item.
    pub(crate) fn entry_check(&self, value: &[u8]) -> StoreEntryCheck {
        match decode::<StreamEntry>(value, "stream entry") {
            Err(e) => StoreEntryCheck::Undecodable(e.to_string()),
            // The all-zero address marks a position of a copied stream whose item this
            // device authored itself and keeps in its own stream (the node's
            // `satker/share.rs`): there is no item under it to find.
            Ok(entry) if entry.address == Address([0; 32]) => StoreEntryCheck::Ok,
            Ok(entry) => match self.tree.contains_key(item_key(&entry.address)) {
                Ok(true) => StoreEntryCheck::Ok,
                _ => StoreEntryCheck::Missing(entry.address),
            },
        }
    }

    /// Size of the store on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(self.sled_err("stat"))
    }

    /// Hands every tree of the store and every key in it to `sink`, as of one moment:
    /// each tree's name, then its pairs in key order. Consistent because every write
    /// goes through [`Store::write`], which holds the write lock from its first read to
    /// its applied batch, and this holds the same lock for the whole walk: no write is
    /// half in the copy, and writers wait until it returns. Reads go on meanwhile.
    pub fn snapshot<E: From<StoreError>>(
        &self,
        mut sink: impl FnMut(SnapshotPart<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let _guard = self.write_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let mut names = self.db.tree_names();
        names.sort();
        for name in names {
            let tree = self.db.open_tree(&name).map_err(StoreError::sled("open"))?;
            sink(SnapshotPart::Tree(&name))?;
            for r in tree.iter() {
                let (k, v) = r.map_err(StoreError::sled("scan"))?;
                sink(SnapshotPart::Pair(&k, &v))?;
            }
        }
        Ok(())
    }

    /// Writes `pairs` into the tree named `tree`, overwriting, as one atomic batch: the
    /// other half of [`Store::snapshot`], for restoring one into a new store. Not
    /// durable until [`Store::flush`].
    pub fn import(&self, tree: &[u8], pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let _guard = self.write_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = self.db.open_tree(tree).map_err(StoreError::sled("open"))?;
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        tree.apply_batch(batch).map_err(StoreError::sled("write"))
    }
}

/// One piece of a [`Store::snapshot`]: a tree begins, or a pair of the current tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotPart<'a> {
    /// The name of the tree the pairs after it belong to.
    Tree(&'a [u8]),
    /// A key and its value.
    Pair(&'a [u8], &'a [u8]),
}

/// One atomic write. Reads through it see its own pending writes.
pub struct Txn<'a> {
    store: &'a Store,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The hub log's right edge as this write extends it, written once when the write
    /// is applied rather than once per entry (`hublog.rs`).
    pub(crate) log_head: Option<crate::LogHead>,
    _guard: MutexGuard<'a, ()>,
}

impl Txn<'_> {
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.store.raw(key)?.map(|v| v.to_vec())),
        }
    }

    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.insert(key, Some(value));
    }

    /// Whether `key` holds a value as this write would leave it, copying nothing.
    fn has_raw(&self, key: &[u8]) -> Result<bool, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.is_some()),
            None => self
                .store
                .tree
                .contains_key(key)
                .map_err(self.store.sled_err("read")),
        }
    }

    fn u64_at(&self, key: &[u8], what: &str) -> Result<u64, StoreError> {
        u64_of(self.raw(key)?.map(sled::IVec::from), what)
    }

    /// Whether the item is stored (or being stored in this write).
    pub fn has_item(&self, addr: &Address) -> Result<bool, StoreError> {
        self.has_raw(&item_key(addr))
    }

    /// The item's bytes, as this write would leave them.
    pub fn item(&self, addr: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        self.raw(&item_key(addr))
    }

    /// Whether a record exists, as this write would leave it.
    pub fn contains(&self, table: Table, key: &str) -> Result<bool, StoreError> {
        self.has_raw(&table.key(key))
    }

    /// Stores item bytes by their address; storing the same bytes twice is a no-op.
    /// Returns the address and whether it was new.
    pub fn put_item(&mut self, bytes: &[u8]) -> Result<(Address, bool), StoreError> {
        let addr = Address::of(bytes);
        if self.has_item(&addr)? {
            return Ok((addr, false));
        }
        self.put_raw(item_key(&addr), bytes.to_vec());
        Ok((addr, true))
    }

    /// Appends an entry to our log of `stream`; returns its position.
    pub fn append(&mut self, stream: &StreamId, entry: StreamEntry) -> Result<u64, StoreError> {
        let hk = stream_prefix(b'h', stream);
        let seq = self.u64_at(&hk, "stream head")? + 1;
        self.put_raw(hk, seq.to_be_bytes().to_vec());
        self.put_raw(log_key(stream, seq), encode(&entry));
        Ok(seq)
    }

    /// Records that we hold `stream` from a peer through `seq`.
    pub fn set_position(&mut self, stream: &StreamId, seq: u64) {
        self.put_raw(stream_prefix(b'r', stream), seq.to_be_bytes().to_vec());
    }

    /// A record, as this write would leave it.
    pub fn get<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.raw(&table.key(key))?
            .map(|v| decode(&v, &format!("{table:?} record {key}")))
            .transpose()
    }

    /// Writes a record.
    pub fn put<T: Serialize>(&mut self, table: Table, key: &str, value: &T) {
        self.put_raw(table.key(key), encode(value));
    }

    /// Removes a record.
    pub fn delete(&mut self, table: Table, key: &str) {
        self.overlay.insert(table.key(key), None);
    }

    /// Increments and returns a named counter (starting at 1).
    pub fn next_counter(&mut self, name: &str) -> Result<u64, StoreError> {
        let key = Table::Counter.key(name);
        let n = self.u64_at(&key, "counter")? + 1;
        self.put_raw(key, n.to_be_bytes().to_vec());
        Ok(n)
    }

    pub(crate) fn raw_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.raw(key)
    }

    pub(crate) fn raw_put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.put_raw(key, value)
    }

    pub(crate) fn raw_delete(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }
}

impl Store {
    pub(crate) fn raw_get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.raw(key)
    }

    pub(crate) fn scan_raw(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + '_ {
        self.tree
            .scan_prefix(prefix)
            .map(|r| r.map_err(self.sled_err("scan")))
    }

    pub(crate) fn decode_record<T: DeserializeOwned>(
        bytes: &[u8],
        what: &str,
    ) -> Result<T, StoreError> {
        decode(bytes, what)
    }

    pub(crate) fn encode_record<T: Serialize>(value: &T) -> Vec<u8> {
        encode(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_an_item_and_its_indexes_is_atomic_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let stream = StreamId::Scope("123456".into());
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .write(|t| {
                    let (addr, new) = t.put_item(b"hello")?;
                    assert!(new);
                    t.append(
                        &stream,
                        StreamEntry {
                            address: addr,
                            origin: None,
                        },
                    )?;
                    t.put(Table::Meta, "k", &"v".to_string());
                    Ok(())
                })
                .unwrap();
            // A failing write leaves nothing behind.
            let r: Result<(), _> = store.write(|t| {
                t.put_item(b"never")?;
                Err(StoreError::Draft("boom".into()))
            });
            assert!(r.is_err());
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.head(&stream).unwrap(), 1);
        assert_eq!(
            store.item(&Address::of(b"hello")).unwrap().unwrap(),
            b"hello"
        );
        assert!(store.item(&Address::of(b"never")).unwrap().is_none());
        assert_eq!(store.get::<String>(Table::Meta, "k").unwrap().unwrap(), "v");
    }

    #[test]
    fn an_item_received_twice_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = store.write(|t| t.put_item(b"x")).unwrap();
        let second = store.write(|t| t.put_item(b"x")).unwrap();
        assert!(first.1 && !second.1);
        assert_eq!(store.items().count(), 1);
    }

    #[test]
    fn stream_reads_skip_filtered_entries_but_cover_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = StreamId::Trust;
        let me = sync_protocol::SecretKey::generate().public();
        store
            .write(|t| {
                for (i, origin) in [None, Some(me), None].into_iter().enumerate() {
                    let (a, _) = t.put_item(format!("item{i}").as_bytes())?;
                    t.append(&s, StreamEntry { address: a, origin })?;
                }
                Ok(())
            })
            .unwrap();
        let (items, through) = store
            .read_stream(&s, 0, 1 << 20, |e| e.origin == Some(me))
            .unwrap();
        assert_eq!(through, 3);
        assert_eq!(items.iter().map(|i| i.0).collect::<Vec<_>>(), vec![1, 3]);
        let (items, through) = store.read_stream(&s, 0, 1, |_| false).unwrap();
        assert_eq!((items.len(), through), (1, 1));
    }

    #[test]
    fn a_snapshot_imported_into_a_new_store_holds_every_key() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = Store::open(a.path()).unwrap();
        from.write(|t| {
            t.put_item(b"hello")?;
            t.put(Table::Meta, "k", &"v".to_string());
            Ok(())
        })
        .unwrap();
        type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
        let mut parts: Vec<(Vec<u8>, Pairs)> = Vec::new();
        from.snapshot(|p| {
            match p {
                SnapshotPart::Tree(name) => parts.push((name.to_vec(), Vec::new())),
                SnapshotPart::Pair(k, v) => {
                    parts.last_mut().unwrap().1.push((k.to_vec(), v.to_vec()))
                }
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
        let to = Store::open(b.path()).unwrap();
        for (name, pairs) in parts {
            to.import(&name, pairs).unwrap();
        }
        assert_eq!(to.item(&Address::of(b"hello")).unwrap().unwrap(), b"hello");
        assert_eq!(to.get::<String>(Table::Meta, "k").unwrap().unwrap(), "v");
    }
}
