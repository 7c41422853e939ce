//! The hub's hash-chained log: every item the hub accepts or issues gets the next
//! position, and each position's hash covers the previous one, so rewriting or
//! dropping any entry changes every hash after it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sync_protocol::Address;

use crate::{Store, StoreError, Txn};

const HEAD_KEY: &[u8] = b"h/\xffhublog";

/// One position of the hub log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The item logged.
    pub address: Address,
    /// Chain hash through this position.
    pub hash: Address,
}

fn entry_key(seq: u64) -> Vec<u8> {
    [b"l/".as_slice(), &seq.to_be_bytes()].concat()
}

/// The chain hash of position `seq` holding `address`, after `prev`.
pub fn chain_hash(prev: &Address, seq: u64, address: &Address) -> Address {
    let mut h = Sha256::new();
    h.update(b"espm/1/hublog\0");
    h.update(prev.0);
    h.update(seq.to_be_bytes());
    h.update(address.0);
    Address(h.finalize().into())
}

impl Txn<'_> {
    /// Appends `address` to the hub log; returns its position and chain hash.
    pub fn hub_log_append(&mut self, address: Address) -> Result<(u64, Address), StoreError> {
        let seq = self.raw_u64(HEAD_KEY, "hub log head")?;
        let prev = if seq == 0 {
            Address([0; 32])
        } else {
            let raw = self
                .raw_get(&entry_key(seq))?
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("hub log position {seq}"),
                    detail: "missing".into(),
                })?;
            Store::decode_record::<LogEntry>(&raw, "hub log entry")?.hash
        };
        let next = seq + 1;
        let hash = chain_hash(&prev, next, &address);
        self.raw_put(
            entry_key(next),
            Store::encode_record(&LogEntry { address, hash }),
        );
        self.raw_put(HEAD_KEY.to_vec(), next.to_be_bytes().to_vec());
        Ok((next, hash))
    }
}

impl Store {
    /// The hub log's length.
    pub fn hub_log_len(&self) -> Result<u64, StoreError> {
        Store::u64_of(self.raw_get(HEAD_KEY)?, "hub log head")
    }

    /// Recomputes the chain from the start; returns how many positions it checked, or
    /// names the first position whose hash or item does not match.
    pub fn verify_hub_log(&self) -> Result<u64, StoreError> {
        let len = self.hub_log_len()?;
        let mut prev = Address([0; 32]);
        let mut seq = 0u64;
        for r in self.scan_raw(b"l/") {
            let (k, v) = r?;
            seq += 1;
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
            if chain_hash(&prev, seq, &e.address) != e.hash {
                return Err(StoreError::Corrupt {
                    what: format!("hub log position {seq}"),
                    detail: "its chain hash does not match: history was rewritten".into(),
                });
            }
            if self.item(&e.address)?.is_none() {
                return Err(StoreError::Corrupt {
                    what: format!("hub log position {seq}"),
                    detail: format!("names item {} which is not stored", e.address),
                });
            }
            prev = e.hash;
        }
        if seq != len {
            return Err(StoreError::Corrupt {
                what: "hub log".into(),
                detail: format!("head says {len} positions but {seq} are stored"),
            });
        }
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_log_chain_verifies_and_detects_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..5 {
            store
                .write(|t| {
                    let (a, _) = t.put_item(format!("item{i}").as_bytes())?;
                    t.hub_log_append(a)
                })
                .unwrap();
        }
        assert_eq!(store.verify_hub_log().unwrap(), 5);
        // Rewrite position 3 to name another stored item.
        store
            .write(|t| {
                let (a, _) = t.put_item(b"forged")?;
                let e = LogEntry {
                    address: a,
                    hash: chain_hash(&Address([0; 32]), 3, &a),
                };
                t.raw_put(entry_key(3), Store::encode_record(&e));
                Ok(())
            })
            .unwrap();
        let err = store.verify_hub_log().unwrap_err().to_string();
        assert!(err.contains("position 3"), "{err}");
    }
}
