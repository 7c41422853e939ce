//! `espm backup` and `espm restore`: a consistent snapshot of a node, running or not,
//! into one checksummed file, and a node rebuilt from one in an empty data directory.
//!
//! A backup holds every file of the data directory (the node key, a hub's service and
//! sealed authority keys, whatever else is there) except the store's own files, the
//! control socket and anything that is not a regular file, and then every tree of the
//! store as key/value records read under the store's write lock (see
//! [`storage::Store::snapshot`]). The file format is in [`format`].

pub mod format;
#[cfg(test)]
mod tests;

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use storage::{SnapshotPart, Store, StoreError};
use sync_protocol::Timestamp;

use crate::{error::NodeError, node::Node};

pub use format::Counts;
use format::{FormatError, Header, Meter, Record};

/// The step a backup or restore is at, for a progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Writing the backup file.
    Writing,
    /// Reading the backup whole to check its checksum.
    Checking,
    /// Reading it again to check every record against the format and its bounds.
    Verifying,
    /// Writing the node from it.
    Restoring,
}

/// Where a backup or restore reports how far it is: the step, the bytes of the backup
/// file done, and the file's size when known.
pub type OnProgress = Arc<dyn Fn(Step, u64, Option<u64>) + Send + Sync>;

/// A meter for `step` of a file of `total` bytes, telling `progress` if given.
fn meter(progress: &Option<OnProgress>, step: Step, total: Option<u64>) -> Meter {
    Meter::new(
        progress
            .clone()
            .map(|p| Arc::new(move |done: u64| p(step, done, total)) as format::Report),
    )
}

/// The store's directory inside a data directory, as `Store::open` names it; the
/// snapshot's records replace its files in a backup.
pub(crate) const STORE_DIR: &str = "store";

/// Store records restored per atomic write, and the bytes that end a batch early: a
/// large store is rebuilt in bounded memory.
const IMPORT_BATCH: usize = 10_000;
const IMPORT_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Why a backup or restore failed, in words for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file does not start as an espm backup does.
    #[error("{} is not an espm backup", file.display())]
    NotABackup {
        /// The file.
        file: PathBuf,
    },
    /// A backup in a format version this build does not read.
    #[error("{} is an espm backup of format version {version}, which this espm cannot read; restore it with the espm that wrote it", file.display())]
    Version {
        /// The file.
        file: PathBuf,
        /// The version it says it is.
        version: u16,
    },
    /// The checksum does not match: the file changed after espm wrote it, or was cut short.
    #[error("{} is damaged (checksum mismatch): it is not the file espm wrote, or it was cut short; use another copy of the backup", file.display())]
    Checksum {
        /// The file.
        file: PathBuf,
    },
    /// The checksum matches but the content breaks the format.
    #[error("{} is damaged: {detail}; use another copy of the backup", file.display())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The store in the backup is newer than this build reads.
    #[error("{} holds a store of format {found}, newer than this espm reads ({supported}); restore it with a newer espm", file.display())]
    NewerStore {
        /// The file.
        file: PathBuf,
        /// The store format in the backup.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// The restore target holds something already.
    #[error("{} is not empty: restore only into an empty data directory", dir.display())]
    NotEmpty {
        /// The target data directory.
        dir: PathBuf,
    },
    /// The backup would be written inside the data directory it copies.
    #[error("{} is inside the data directory {}; write the backup outside it, ideally on another disk", file.display(), dir.display())]
    InsideDataDir {
        /// The file asked for.
        file: PathBuf,
        /// The data directory.
        dir: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BackupError> for NodeError {
    fn from(e: BackupError) -> NodeError {
        match e {
            BackupError::Io { action, source } => NodeError::Io { action, source },
            BackupError::Store(s) => NodeError::Store(s),
            other => NodeError::User(other.to_string()),
        }
    }
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let action = action.into();
    move |source| BackupError::Io { action, source }
}

/// A [`FormatError`] about `file` as a [`BackupError`].
fn about(file: &Path) -> impl Fn(FormatError) -> BackupError + '_ {
    move |e| {
        let file = file.to_path_buf();
        match e {
            FormatError::NotABackup => BackupError::NotABackup { file },
            FormatError::Version(version) => BackupError::Version { file, version },
            FormatError::Checksum => BackupError::Checksum { file },
            FormatError::Malformed(detail) => BackupError::Malformed { file, detail },
            FormatError::Io(source) => BackupError::Io {
                action: format!("cannot read the backup {}", file.display()),
                source,
            },
        }
    }
}

/// A backup just written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackedUp {
    /// The backup file, absolute.
    pub file: PathBuf,
    /// The node's role.
    pub role: String,
    /// The node's id, in hex.
    pub node_id: String,
    /// When the snapshot was taken.
    pub created: Timestamp,
    /// What it holds.
    pub counts: Counts,
    /// Its size in bytes.
    pub bytes: u64,
    /// The time zone times are shown to people in (the KPPN's, else UTC).
    pub zone: String,
}

/// A node just restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The backup file.
    pub file: PathBuf,
    /// The data directory restored into.
    pub dir: PathBuf,
    /// The node's role.
    pub role: String,
    /// The node's id, in hex.
    pub node_id: String,
    /// When the backup's snapshot was taken.
    pub created: Timestamp,
    /// What it held.
    pub counts: Counts,
    /// The time zone times are shown to people in (the KPPN's, else UTC).
    pub zone: String,
}

fn absolute(path: &Path) -> Result<PathBuf, BackupError> {
    std::path::absolute(path).map_err(io(format!("cannot resolve {}", path.display())))
}

/// The parent directory of `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot flush the directory {}", dir.display())))
}

/// Every regular file below `dir` a backup carries, as ('/'-separated relative path,
/// full path), in path order: not the store's files (its records stand for them), not
/// lock files, not the control socket or any other non-regular file.
fn data_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut out = Vec::new();
    let mut dirs = vec![(String::new(), dir.to_path_buf())];
    while let Some((rel, d)) = dirs.pop() {
        let entries = fs::read_dir(&d).map_err(io(format!("cannot list {}", d.display())))?;
        for entry in entries {
            let entry = entry.map_err(io(format!("cannot list {}", d.display())))?;
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| BackupError::Io {
                    action: format!("cannot back up {}", path.display()),
                    source: std::io::Error::other("its name is not UTF-8"),
                })?;
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // The store's files stand for its records; a lock file belongs to a
            // running process, not to the node; the flush watermark describes the
            // store's files, not its records, and a copy read after the snapshot
            // would be ahead of it (the restored store writes its own at its flush).
            if rel == STORE_DIR || rel.ends_with(".lock") || rel == storage::FLUSHED_FILE {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(io(format!("cannot read {}", path.display())))?;
            if kind.is_dir() {
                dirs.push((rel, path));
            } else if kind.is_file() {
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a backup of `node` to `file`: to a temporary file beside it, flushed, then
/// renamed, so `file` is never a half-written backup. Works on a serving node (the
/// store's write lock keeps the snapshot consistent) and on a stopped one.
pub fn backup(
    node: &Node,
    file: &Path,
    progress: Option<OnProgress>,
) -> Result<BackedUp, BackupError> {
    let file = absolute(file)?;
    let parent = parent_of(&file).to_path_buf();
    let canonical = |p: &Path| {
        fs::canonicalize(p).map_err(io(format!("cannot find the directory {}", p.display())))
    };
    let dir = canonical(&node.dir)?;
    // A backup inside the data directory would be copied into every later backup.
    if canonical(&parent)?.starts_with(&dir) {
        return Err(BackupError::InsideDataDir { file, dir });
    }
    let header = Header {
        role: node.config.role().to_string(),
        node_id: node.node_id().to_hex(),
        created_ms: node.now().millis(),
        store_format: storage::FORMAT,
        espm_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let writing = format!("cannot write the backup {}", file.display());
    let tmp = tempfile::Builder::new()
        .prefix(".espm-backup-")
        .suffix(".tmp")
        .tempfile_in(&parent)
        .map_err(io(&writing))?;
    let mut w = format::Writer::new(
        tmp.as_file(),
        &header,
        meter(&progress, Step::Writing, None),
    )
    .map_err(io(&writing))?;
    for (rel, path) in data_files(&dir)? {
        let bytes = fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?;
        w.file(&rel, &bytes).map_err(io(&writing))?;
    }
    node.store.snapshot(|part| match part {
        SnapshotPart::Tree(name) => w.tree(name).map_err(io(&writing)),
        SnapshotPart::Pair(k, v) => w.pair(k, v).map_err(io(&writing)),
    })?;
    let (_, counts) = w.finish().map_err(io(&writing))?;
    tmp.as_file().sync_all().map_err(io(&writing))?;
    let bytes = tmp.as_file().metadata().map_err(io(&writing))?.len();
    tmp.persist(&file).map_err(|e| BackupError::Io {
        action: writing.clone(),
        source: e.error,
    })?;
    sync_dir(&parent)?;
    Ok(BackedUp {
        file,
        role: header.role,
        node_id: header.node_id,
        created: Timestamp(header.created_ms),
        counts,
        bytes,
        zone: node.zone().unwrap_or_else(|_| "UTC".to_string()),
    })
}

/// Refuses unless `dir` is missing or an empty directory.
fn require_empty(dir: &Path) -> Result<(), BackupError> {
    match fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(BackupError::NotEmpty {
            dir: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if dir.is_file() => Err(BackupError::Io {
            action: format!("{} is a file, not a data directory", dir.display()),
            source: e,
        }),
        Err(e) => Err(io(format!("cannot read {}", dir.display()))(e)),
    }
}

/// Writes a data-directory file of a backup below `root`, owner-only like every file
/// of a data directory, and flushed.
fn put_file(root: &Path, rel: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let path = root.join(rel);
    let writing = format!("cannot write {}", path.display());
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(&writing))?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(io(&writing))?;
    f.write_all(bytes).map_err(io(&writing))?;
    f.sync_all().map_err(io(&writing))
}

/// The records of a backup poured into a new data directory at `root`.
struct Rebuild<'a> {
    root: &'a Path,
    store: Store,
    tree: Vec<u8>,
    batch: Vec<(Vec<u8>, Vec<u8>)>,
    batch_bytes: usize,
}

impl Rebuild<'_> {
    fn take(&mut self, record: Record) -> Result<(), BackupError> {
        match record {
            Record::File(rel, bytes) => put_file(self.root, &rel, &bytes)?,
            Record::Tree(name) => {
                self.flush_batch()?;
                self.tree = name;
            }
            Record::Pair(k, v) => {
                self.batch_bytes += k.len() + v.len();
                self.batch.push((k, v));
                if self.batch.len() >= IMPORT_BATCH || self.batch_bytes >= IMPORT_BATCH_BYTES {
                    self.flush_batch()?;
                }
            }
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), BackupError> {
        if !self.batch.is_empty() {
            self.store
                .import(&self.tree, std::mem::take(&mut self.batch))?;
            self.batch_bytes = 0;
        }
        Ok(())
    }
}

/// Rebuilds the node backed up in `file` in `dir`, which must be missing or empty.
/// The whole file is checked (magic, version, checksum, every bound) before anything
/// is written; the node is then built in a temporary directory beside `dir` and moved
/// into place, so a restore that fails leaves `dir` as it was.
pub fn restore(
    file: &Path,
    dir: &Path,
    progress: Option<OnProgress>,
) -> Result<Restored, BackupError> {
    let dir = absolute(dir)?;
    require_empty(&dir)?;
    let size = fs::metadata(file)
        .map_err(io(format!("cannot read the backup {}", file.display())))?
        .len();
    format::check_checksum(file, meter(&progress, Step::Checking, Some(size)))
        .map_err(about(file))?;
    let (header, _) = format::read(file, meter(&progress, Step::Verifying, Some(size)), |_| {
        Ok(())
    })
    .map_err(about(file))?;
    if header.store_format > storage::FORMAT {
        return Err(BackupError::NewerStore {
            file: file.to_path_buf(),
            found: header.store_format,
            supported: storage::FORMAT,
        });
    }
    let parent = parent_of(&dir);
    let writing = format!("cannot restore into {}", dir.display());
    fs::create_dir_all(parent).map_err(io(&writing))?;
    let tmp = tempfile::Builder::new()
        .prefix(".espm-restore-")
        .tempdir_in(parent)
        .map_err(io(&writing))?;
    let mut rebuild = Rebuild {
        root: tmp.path(),
        store: Store::open(tmp.path())?,
        tree: Vec::new(),
        batch: Vec::new(),
        batch_bytes: 0,
    };
    let mut failed = None;
    let read = format::read(
        file,
        meter(&progress, Step::Restoring, Some(size)),
        |record| {
            rebuild.take(record).map_err(|e| {
                // Kept whole; the format error only stops the read.
                failed = Some(e);
                FormatError::Malformed(String::new())
            })
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    let (header, counts) = read.map_err(about(file))?;
    rebuild.flush_batch()?;
    rebuild.store.flush()?;
    drop(rebuild);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).map_err(io(&writing))?;
    }
    sync_dir(tmp.path())?;
    // Checked again just before: a node must not land on something made meanwhile.
    require_empty(&dir)?;
    // Renaming over an empty directory replaces it.
    fs::rename(tmp.path(), &dir).map_err(io(&writing))?;
    let _ = tmp.keep();
    sync_dir(parent)?;
    Ok(Restored {
        file: absolute(file)?,
        dir,
        role: header.role,
        node_id: header.node_id,
        created: Timestamp(header.created_ms),
        counts,
        zone: "UTC".to_string(),
    })
}

/// `espm restore`: [`restore`], then the restored node opened once, so a restore that
/// reports success has left a node that opens.
pub fn restore_node(
    file: &Path,
    dir: &Path,
    progress: Option<OnProgress>,
) -> crate::Result<Restored> {
    let mut restored = restore(file, dir, progress)?;
    let node = Node::open(&restored.dir)?;
    restored.zone = node.zone()?;
    if node.node_id().to_hex() != restored.node_id {
        return Err(NodeError::user(format!(
            "{} says it is a backup of node {}, but holds the key of node {}; use another copy of the backup",
            file.display(),
            restored.node_id,
            node.node_id().to_hex()
        )));
    }
    Ok(restored)
}
