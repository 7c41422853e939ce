//! The hub's log, a Merkle tree hashed as RFC 9162 hashes it: every item the hub
//! accepts or issues is the next entry (the entry is the item's 32-byte address), and
//! the hub signs checkpoints of its size and root. Rewriting or dropping any entry
//! changes every root after it, and anyone holding two checkpoints can tell.
//!
//! Key spaces: `l/SEQ` (u64 big-endian, from 1) → [`LogEntry`]; `t/LEVEL/INDEX` (u8,
//! u64 big-endian) → the 32-byte root of each complete subtree, so that proofs cost
//! O(log² n) reads; `h/\xffhublog` → the right edge of the tree ([`LogHead`]). One entry
//! and its subtrees are written in the caller's transaction, with the item.

use serde::{Deserialize, Serialize};
use sync_protocol::{
    leaf_hash, tree_consistency, tree_inclusion, tree_root, Address, Frontier, MerkleHash, Subtrees,
};

use crate::{Store, StoreError, Txn};

const HEAD_KEY: &[u8] = b"h/\xffhublog";

/// One position of the hub log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The item logged.
    pub address: Address,
    /// The tree's root right after this entry.
    pub root: Address,
}

/// The tree's right edge: its size and the roots of its complete subtrees on that
/// edge, smallest first; enough to append and to know the root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    /// Entries in the log.
    pub size: u64,
    /// `(level, root)` of each complete subtree on the right edge, smallest first.
    pub edge: Vec<(u32, Address)>,
}

impl LogHead {
    fn frontier(&self) -> Frontier {
        Frontier {
            size: self.size,
            edge: self.edge.iter().map(|(l, a)| (*l, a.0)).collect(),
        }
    }
}

/// The stored head record of `head`: key and value, written when a write that appended
/// to the log is applied.
pub(crate) fn head_record(head: &LogHead) -> (Vec<u8>, Vec<u8>) {
    (HEAD_KEY.to_vec(), Store::encode_record(head))
}

fn entry_key(seq: u64) -> Vec<u8> {
    [b"l/".as_slice(), &seq.to_be_bytes()].concat()
}

fn node_key(level: u32, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(11);
    k.extend_from_slice(b"t/");
    k.push(level as u8);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn missing(level: u32, index: u64) -> StoreError {
    StoreError::Corrupt {
        what: format!("hub log subtree {level}/{index}"),
        detail: "missing".into(),
    }
}

fn node_of(
    raw: Option<impl AsRef<[u8]>>,
    level: u32,
    index: u64,
) -> Result<MerkleHash, StoreError> {
    let raw = raw.ok_or_else(|| missing(level, index))?;
    raw.as_ref().try_into().map_err(|_| StoreError::Corrupt {
        what: format!("hub log subtree {level}/{index}"),
        detail: "not 32 bytes".into(),
    })
}

fn head_of(raw: Option<impl AsRef<[u8]>>) -> Result<LogHead, StoreError> {
    match raw {
        None => Ok(LogHead::default()),
        Some(r) => Store::decode_record(r.as_ref(), "hub log head"),
    }
}

/// The log as it stands in a transaction (its own writes included). Each subtree read
/// is kept: proofs against one tree share their upper subtrees and the right edge, and
/// many proofs at once (a session's receipts) then cost one read of each.
struct InTxn<'a, 'b> {
    t: &'a Txn<'b>,
    read: std::cell::RefCell<std::collections::HashMap<(u32, u64), MerkleHash>>,
}

impl<'a, 'b> InTxn<'a, 'b> {
    fn new(t: &'a Txn<'b>) -> Self {
        InTxn {
            t,
            read: Default::default(),
        }
    }
}

impl Subtrees for InTxn<'_, '_> {
    type Error = StoreError;
    fn subtree(&self, level: u32, index: u64) -> Result<MerkleHash, StoreError> {
        if let Some(h) = self.read.borrow().get(&(level, index)) {
            return Ok(*h);
        }
        let h = node_of(self.t.raw_get(&node_key(level, index))?, level, index)?;
        self.read.borrow_mut().insert((level, index), h);
        Ok(h)
    }
}

impl Subtrees for Store {
    type Error = StoreError;
    fn subtree(&self, level: u32, index: u64) -> Result<MerkleHash, StoreError> {
        node_of(self.raw_get(&node_key(level, index))?, level, index)
    }
}

fn hashes(proof: Option<Vec<MerkleHash>>) -> Option<Vec<Address>> {
    proof.map(|p| p.into_iter().map(Address).collect())
}

impl Txn<'_> {
    /// Appends `address` to the hub log; returns its position (from 1) and the tree's
    /// root right after it.
    pub fn hub_log_append(&mut self, address: Address) -> Result<(u64, Address), StoreError> {
        let mut frontier = self.log_frontier()?;
        for (level, index, hash) in frontier.push(leaf_hash(&address.0)) {
            self.raw_put(node_key(level, index), hash.to_vec());
        }
        let seq = frontier.size;
        let root = Address(frontier.root());
        self.raw_put(
            entry_key(seq),
            Store::encode_record(&LogEntry { address, root }),
        );
        // Kept on the write and stored once when it is applied ([`head_record`]): a
        // frame enters dozens of items, and the edge is a few hundred bytes.
        self.log_head = Some(LogHead {
            size: seq,
            edge: frontier
                .edge
                .iter()
                .map(|(l, h)| (*l, Address(*h)))
                .collect(),
        });
        Ok((seq, root))
    }

    /// The right edge as this write sees it: its own appends, else the stored head.
    fn log_frontier(&self) -> Result<Frontier, StoreError> {
        match &self.log_head {
            Some(h) => Ok(h.frontier()),
            None => Ok(head_of(self.raw_get(HEAD_KEY)?)?.frontier()),
        }
    }

    /// The log's size and root as this transaction sees it.
    pub fn hub_log_head(&self) -> Result<(u64, Address), StoreError> {
        let f = self.log_frontier()?;
        Ok((f.size, Address(f.root())))
    }

    /// The RFC 9162 consistency proof from the log's first `old_size` entries to its
    /// first `size`, as this transaction sees it.
    pub fn hub_log_consistency(
        &self,
        old_size: u64,
        size: u64,
    ) -> Result<Option<Vec<Address>>, StoreError> {
        Ok(hashes(tree_consistency(&InTxn::new(self), old_size, size)?))
    }

    /// The RFC 9162 inclusion proofs of leaves `indices` (position `index + 1`) in the
    /// log's first `size` entries, as this transaction sees it; each subtree is read once
    /// for all of them.
    pub fn hub_log_inclusions(
        &self,
        indices: &[u64],
        size: u64,
    ) -> Result<Vec<Option<Vec<Address>>>, StoreError> {
        let tree = InTxn::new(self);
        indices
            .iter()
            .map(|i| Ok(hashes(tree_inclusion(&tree, *i, size)?)))
            .collect()
    }
}

/// What every format of a log entry holds: the address logged.
#[derive(Deserialize)]
struct Logged {
    address: Address,
}

impl Store {
    /// Computes the tree again from the log's entries, in bounded batches: the migration
    /// from the hash-chained log of format 2. Rerunning it after a crash starts again
    /// from the first entry and ends in the same state.
    pub(crate) fn rebuild_hub_log(&self) -> Result<(), StoreError> {
        let mut addresses = Vec::new();
        for r in self.scan_raw(b"l/") {
            let (_, v) = r?;
            addresses.push(Store::decode_record::<Logged>(&v, "hub log entry")?.address);
        }
        if addresses.is_empty() {
            return Ok(());
        }
        let mut frontier = Frontier::default();
        for batch in addresses.chunks(1000) {
            self.write(|t| {
                for a in batch {
                    for (level, index, hash) in frontier.push(leaf_hash(&a.0)) {
                        t.raw_put(node_key(level, index), hash.to_vec());
                    }
                    let e = LogEntry {
                        address: *a,
                        root: Address(frontier.root()),
                    };
                    t.raw_put(entry_key(frontier.size), Store::encode_record(&e));
                }
                let head = LogHead {
                    size: frontier.size,
                    edge: frontier
                        .edge
                        .iter()
                        .map(|(l, h)| (*l, Address(*h)))
                        .collect(),
                };
                t.raw_put(HEAD_KEY.to_vec(), Store::encode_record(&head));
                Ok(())
            })?;
        }
        self.flush()
    }

    /// The hub log's length.
    pub fn hub_log_len(&self) -> Result<u64, StoreError> {
        Ok(head_of(self.raw_get(HEAD_KEY)?)?.size)
    }

    /// The root of the log's first `size` entries.
    pub fn hub_log_root(&self, size: u64) -> Result<Address, StoreError> {
        Ok(Address(tree_root(self, size)?))
    }

    /// The RFC 9162 inclusion proof of leaf `index` in the log's first `size` entries.
    pub fn hub_log_inclusion(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Option<Vec<Address>>, StoreError> {
        Ok(hashes(tree_inclusion(self, index, size)?))
    }

    /// Rebuilds the tree from its entries; returns how many it checked, or names the
    /// first position whose root, subtree or item does not match what is stored.
    pub fn verify_hub_log(&self) -> Result<u64, StoreError> {
        let head = head_of(self.raw_get(HEAD_KEY)?)?;
        let mut frontier = Frontier::default();
        for r in self.scan_raw(b"l/") {
            let (k, v) = r?;
            let seq = frontier.size + 1;
            let at: [u8; 8] = k[2..].try_into().map_err(|_| StoreError::Corrupt {
                what: "hub log key".into(),
                detail: "not 8 bytes".into(),
            })?;
            if u64::from_be_bytes(at) != seq {
                return Err(StoreError::Corrupt {
                    what: format!("hub log position {seq}"),
                    detail: "missing: the log has a gap".into(),
                });
            }
            let e: LogEntry = Store::decode_record(&v, "hub log entry")?;
            for (level, index, hash) in frontier.push(leaf_hash(&e.address.0)) {
                if self.subtree(level, index)? != hash {
                    return Err(StoreError::Corrupt {
                        what: format!("hub log position {seq}"),
                        detail: format!(
                            "its stored subtree {level}/{index} does not match its entries: \
                             history was rewritten"
                        ),
                    });
                }
            }
            if Address(frontier.root()) != e.root {
                return Err(StoreError::Corrupt {
                    what: format!("hub log position {seq}"),
                    detail: "its root does not match its entries: history was rewritten".into(),
                });
            }
            if self.item(&e.address)?.is_none() {
                return Err(StoreError::Corrupt {
                    what: format!("hub log position {seq}"),
                    detail: format!("names item {} which is not stored", e.address),
                });
            }
        }
        if frontier != head.frontier() {
            return Err(StoreError::Corrupt {
                what: "hub log".into(),
                detail: format!(
                    "its head says {} entries with another edge than the {} stored",
                    head.size, frontier.size
                ),
            });
        }
        Ok(frontier.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::{merkle_root, verify_consistency, verify_inclusion};

    fn logged(n: usize) -> (tempfile::TempDir, Store, Vec<Address>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut addresses = Vec::new();
        for i in 0..n {
            let a = store
                .write(|t| {
                    let (a, _) = t.put_item(format!("item{i}").as_bytes())?;
                    t.hub_log_append(a)?;
                    Ok(a)
                })
                .unwrap();
            addresses.push(a);
        }
        (dir, store, addresses)
    }

    #[test]
    fn the_stored_log_is_the_rfc_9162_tree_of_its_entries() {
        let (_dir, store, addresses) = logged(21);
        assert_eq!(store.verify_hub_log().unwrap(), 21);
        let leaves: Vec<MerkleHash> = addresses.iter().map(|a| leaf_hash(&a.0)).collect();
        for n in 1..=21u64 {
            let root = store.hub_log_root(n).unwrap();
            assert_eq!(root.0, merkle_root(&leaves[..n as usize]));
            for m in 0..n {
                let path: Vec<MerkleHash> = store
                    .hub_log_inclusion(m, n)
                    .unwrap()
                    .unwrap()
                    .into_iter()
                    .map(|a| a.0)
                    .collect();
                assert!(verify_inclusion(m, n, &leaves[m as usize], &path, &root.0));
            }
        }
        let (size, root) = store.write(|t| t.hub_log_head()).unwrap();
        assert_eq!((size, root.0), (21, merkle_root(&leaves)));
        let proof: Vec<MerkleHash> = store
            .write(|t| t.hub_log_consistency(7, 21))
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|a| a.0)
            .collect();
        let old = store.hub_log_root(7).unwrap();
        assert!(verify_consistency(7, 21, &old.0, &root.0, &proof));
    }

    #[test]
    fn hub_log_detects_a_rewritten_entry() {
        let (_dir, store, _) = logged(5);
        // Rewrite position 3 to name another stored item, with the root it claims.
        store
            .write(|t| {
                let (a, _) = t.put_item(b"forged")?;
                let e = LogEntry {
                    address: a,
                    root: Address([0; 32]),
                };
                t.raw_put(entry_key(3), Store::encode_record(&e));
                Ok(())
            })
            .unwrap();
        let err = store.verify_hub_log().unwrap_err().to_string();
        assert!(err.contains("position 3"), "{err}");
    }
}
