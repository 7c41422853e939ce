//! A store damaged on disk, found and named instead of misread.
//!
//! sled checksums every message of its log, but on opening it treats the first message
//! that fails its checksum as the torn end of a crash and silently drops it and
//! everything after it: a byte flipped in the middle of `db` opens as an older store
//! with no error at all. So the store keeps its own watermark: every flush that wrote
//! something first bumps a counter inside sled (`z/flushed`) and, once sled has made it
//! durable, copies it to a small file beside the store (`store.flushed`). A store whose
//! counter is behind that file lost writes it had made durable: it is damaged. The file
//! may lag behind sled (a crash between the two, a failed write), never lead it.
//!
//! sled can also panic on damaged input (its log reader asserts on impossible
//! offsets); [`guard`] turns a panic at the store boundary into the same typed error.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use crate::{Store, StoreEntryCheck, StoreError, Table};

/// The store's own key for its flush counter; no table uses `z/`.
pub(crate) const FLUSHED_KEY: &[u8] = b"z/flushed";

/// The watermark file, in the data directory beside the `store` directory.
pub const FLUSHED_FILE: &str = "store.flushed";

/// What to do about a damaged store, said once for every way it is found.
pub(crate) fn explain(path: &Option<PathBuf>, file: &str, detail: &str) -> String {
    let store = match path {
        Some(p) => format!("the store at {}", p.display()),
        None => "this node's store".to_string(),
    };
    format!(
        "{store} is damaged on disk: {file} {detail}. Restore it from a backup with `espm restore FILE` into an empty data directory"
    )
}

/// A damaged-store error for the store at `path`.
pub(crate) fn damaged(path: &Path, file: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Damaged {
        path: Some(path.to_path_buf()),
        file: file.to_string(),
        detail: detail.into(),
    }
}

/// Which of sled's files a damaged pointer lies in, in `store` (sled's directory).
fn file_of(store: Option<&Path>, at: &Option<sled::DiskPtr>) -> String {
    match at {
        Some(sled::DiskPtr::Blob(..)) => "a file under blobs/".into(),
        Some(sled::DiskPtr::Inline(..)) => "its log file db".into(),
        // sled reports no place for a bad config file or snapshot: check their
        // checksums as sled does, and blame the log when both hold.
        None => match store {
            Some(store) => unsound_side_file(store).unwrap_or_else(|| "its log file db".into()),
            None => "one of its files".into(),
        },
    }
}

/// The config file or newest snapshot whose checksum fails, if one does. Both end in
/// a little-endian CRC-32: the config file's covers all before it, the snapshot's all
/// before its last 12 bytes (an 8-byte length, then the CRC).
fn unsound_side_file(store: &Path) -> Option<String> {
    let sound = |bytes: &[u8], trailer: usize| {
        bytes.len() > trailer.max(8)
            && bytes[bytes.len() - 4..]
                == crc32fast::hash(&bytes[..bytes.len() - trailer]).to_le_bytes()
    };
    if let Ok(conf) = std::fs::read(store.join("conf")) {
        if !sound(&conf, 4) {
            return Some("its config file conf".into());
        }
    }
    let newest = std::fs::read_dir(store)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap.") && !n.ends_with(".in___motion"))
        .max()?;
    match std::fs::read(store.join(&newest)) {
        Ok(snap) if !sound(&snap, 12) => Some(format!("its snapshot file {newest}")),
        _ => None,
    }
}

/// sled's error as ours: damage becomes [`StoreError::Damaged`], the rest stays sled's.
/// `opening` says whether sled was reading its files to open them, where an internal
/// inconsistency ("reportable bug") or a short read can only come from the files.
pub(crate) fn of_sled(
    path: Option<&Path>,
    action: &'static str,
    opening: bool,
    e: sled::Error,
) -> StoreError {
    let file = |at| file_of(path, at);
    let path = path.map(Path::to_path_buf);
    match e {
        sled::Error::Corruption { at, .. } => StoreError::Damaged {
            file: file(&at),
            path,
            detail: "has a record that fails its checksum".into(),
        },
        sled::Error::ReportableBug(_) if opening => StoreError::Damaged {
            path,
            file: "its log file db".into(),
            detail: "holds records that contradict each other".into(),
        },
        sled::Error::Io(ref io)
            if opening
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
        {
            StoreError::Damaged {
                path,
                file: "its log file db".into(),
                detail: "ends in the middle of a record".into(),
            }
        }
        source => StoreError::Sled { action, source },
    }
}

/// Runs `f`, which reads sled's files, turning a panic inside sled into the typed
/// damage error. sled asserts on offsets and lengths it reads back from disk, so a
/// damaged file can make it panic where an intact one never does; a panic trace is no
/// message for the person at the terminal. (The binary's panic hook keeps sled's
/// panic message off stderr; this catches the unwind itself.)
pub(crate) fn guard<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(damaged(
            path,
            "its log file db",
            "cannot be read by the storage engine",
        )),
    }
}

/// The watermark the file beside the store records, if there is a readable one. A
/// store restored or copied without it, or one made before it existed, has none and is
/// not judged by it.
pub(crate) fn recorded_flushes(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(FLUSHED_FILE)).ok()?;
    text.trim().parse().ok()
}

/// Records that the store has made `n` flushes durable. Best effort: a watermark that
/// could not be written only lags, which judges less, never wrongly. Written to a
/// temporary file and renamed, so a crash never leaves half a number.
pub(crate) fn record_flushes(dir: &Path, n: u64) {
    let tmp = dir.join(format!("{FLUSHED_FILE}.tmp"));
    if std::fs::write(&tmp, format!("{n}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(FLUSHED_FILE));
    }
}

/// One stored record that does not read as what its key space holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordProblem {
    /// Which record, named by its table or key space and key.
    pub what: String,
    /// What is wrong with it.
    pub detail: String,
}

/// What reading every record of the store found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordCheck {
    /// Records read, in every tree.
    pub records: u64,
    /// Records of ours that do not decode or point nowhere.
    pub problems: Vec<RecordProblem>,
}

impl Store {
    /// Reads every record of every sled tree, so damage anywhere in the files is found,
    /// and checks that each record of ours decodes as what its table holds and each
    /// stream position names a stored item. Items themselves are checked by the node,
    /// which knows what they mean; the hub log by [`Store::verify_hub_log`]. Damage sled
    /// notices is the error; records that read but are wrong are the problems.
    pub fn check_records(&self) -> Result<RecordCheck, StoreError> {
        guard(&self.path, || {
            let mut out = RecordCheck::default();
            let read = |e| of_sled(Some(&self.path), "read", true, e);
            for name in self.db.tree_names() {
                let tree = self.db.open_tree(&name).map_err(read)?;
                let ours = tree.name() == self.tree.name();
                for r in tree.iter() {
                    let (k, v) = r.map_err(read)?;
                    out.records += 1;
                    if ours {
                        if let Some(p) = self.record_problem(&k, &v)? {
                            out.problems.push(p);
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    fn record_problem(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<RecordProblem>, StoreError> {
        let problem = |what: String, detail: String| Ok(Some(RecordProblem { what, detail }));
        let eight = |what: &str| {
            if value.len() == 8 {
                Ok(None)
            } else {
                problem(
                    format!("{what} {}", hex::encode(key)),
                    format!("{} bytes where 8 were expected", value.len()),
                )
            }
        };
        let prefix = key.get(..2).unwrap_or(key);
        match prefix {
            b"i/" if key.len() != 34 => problem(
                format!("item key {}", hex::encode(key)),
                "not 32 bytes of address".into(),
            ),
            b"i/" | b"l/" => Ok(None),
            // The hub log's head is a record, checked with the whole log by
            // `verify_hub_log`; its subtree roots are 32 bytes each.
            b"h/" if key == b"h/\xffhublog" => Ok(None),
            b"t/" if value.len() != 32 => problem(
                format!("hub log subtree {}", hex::encode(key)),
                format!("{} bytes where 32 were expected", value.len()),
            ),
            b"t/" => Ok(None),
            b"h/" => eight("stream head"),
            b"r/" => eight("receive checkpoint"),
            b"z/" => eight("flush count"),
            b"s/" => match self.entry_check(value) {
                StoreEntryCheck::Ok => Ok(None),
                StoreEntryCheck::Undecodable(detail) => {
                    problem(format!("stream entry {}", hex::encode(&key[2..])), detail)
                }
                StoreEntryCheck::Missing(address) => problem(
                    format!("stream entry {}", hex::encode(&key[2..])),
                    format!("names item {address}, which is not stored"),
                ),
            },
            _ => match Table::ALL.iter().find(|t| t.prefix() == prefix) {
                Some(Table::Counter) => eight("counter"),
                Some(t) => match ciborium::from_reader::<ciborium::Value, _>(value) {
                    Ok(_) => Ok(None),
                    Err(e) => problem(
                        format!("{t:?} record {}", String::from_utf8_lossy(&key[2..])),
                        format!("does not decode: {e}"),
                    ),
                },
                // A key space this build does not know (a newer espm's): nothing to
                // judge it by.
                None => Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests;
