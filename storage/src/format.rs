//! The store's format version, recorded at creation, and the migrations that bring an
//! older store up to it. An older binary refuses a newer store instead of misreading it.
//!
//! Format 1 is every store written before the version was recorded: singletons and
//! several record kinds shared the `m/` table under name prefixes, attachment chunks and
//! file manifests shared `a/`, hub operators and their requests lived under the device
//! operators' `p/`, after-hours counts under the counters' `n/`, draft heads and peer
//! states under one `g/`. Format 2 gives each kind its own table (table.rs). Format 3 makes
//! the hub's hash-chained log a Merkle tree (hublog.rs): the entries stay, their subtrees
//! and roots are computed again.

use crate::{Store, StoreError, Table};

/// The format this build writes.
pub const FORMAT: u32 = 3;

/// The Meta name the format version is kept under.
const FORMAT_KEY: &str = "format";

/// Keys moved at most per atomic write, so a large store migrates in bounded memory; a
/// migration cut short resumes where it stopped, since moved keys are gone from the old
/// place.
const MOVE_BATCH: usize = 1000;

/// One move of format 1 to format 2: keys starting with `from` go to `to` with the rest
/// of the key kept.
struct Move {
    from: &'static [u8],
    to: &'static [u8],
}

/// Format 1 to 2, in an order where no destination is a later move's source.
const TO_2: &[Move] = &[
    Move {
        from: b"m/hub-acked/",
        to: b"K/",
    },
    Move {
        from: b"m/early-notice/",
        to: b"E/",
    },
    Move {
        from: b"m/lockout-operator/",
        to: b"L/operator/",
    },
    Move {
        from: b"m/lockout-authority",
        to: b"L/authority",
    },
    Move {
        from: b"m/lockout/",
        to: b"L/signer/",
    },
    Move {
        from: b"m/awaiting/",
        to: b"A/",
    },
    Move {
        from: b"m/revoked/",
        to: b"R/",
    },
    Move {
        from: b"m/need-count/",
        to: b"N/",
    },
    Move {
        from: b"a/manifest-",
        to: b"M/",
    },
    Move {
        from: b"p/of/",
        to: b"o/",
    },
    Move {
        from: b"p/request/",
        to: b"Q/",
    },
    Move {
        from: b"n/after-hours-",
        to: b"y/",
    },
    Move {
        from: b"g/head/",
        to: b"G/",
    },
    Move {
        from: b"g/peer/",
        to: b"g/",
    },
];

impl Store {
    /// The format recorded in the store; `None` for a store that holds nothing yet.
    fn recorded_format(&self) -> Result<Option<u32>, StoreError> {
        if let Some(v) = self.get::<u32>(Table::Meta, FORMAT_KEY)? {
            return Ok(Some(v));
        }
        // Written before formats were recorded, if it holds anything at all.
        Ok(self.any_key()?.then_some(1))
    }

    /// Brings the store to [`FORMAT`]: records it in a new store, migrates an older one,
    /// and refuses one written by a newer build.
    pub(crate) fn settle_format(&self) -> Result<(), StoreError> {
        match self.recorded_format()? {
            Some(FORMAT) => Ok(()),
            Some(v) if v > FORMAT => Err(StoreError::NewerFormat {
                found: v,
                supported: FORMAT,
            }),
            Some(1) => {
                self.migrate(TO_2)?;
                self.rebuild_hub_log()?;
                self.mark_format()
            }
            Some(2) => {
                self.rebuild_hub_log()?;
                self.mark_format()
            }
            Some(v) => Err(StoreError::Corrupt {
                what: "store format".into(),
                detail: format!("format {v} is not one this build knows how to read"),
            }),
            None => self.mark_format(),
        }
    }

    fn mark_format(&self) -> Result<(), StoreError> {
        self.write(|t| {
            t.put(Table::Meta, FORMAT_KEY, &FORMAT);
            Ok(())
        })?;
        self.flush()
    }

    fn migrate(&self, moves: &[Move]) -> Result<(), StoreError> {
        for m in moves {
            loop {
                let batch = self.raw_prefix(m.from, MOVE_BATCH)?;
                if batch.is_empty() {
                    break;
                }
                self.write(|t| {
                    for (k, v) in &batch {
                        let rest = &k[m.from.len()..];
                        t.raw_put([m.to, rest].concat(), v.to_vec());
                        t.raw_delete(k.to_vec());
                    }
                    Ok(())
                })?;
            }
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests;
