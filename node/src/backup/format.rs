//! The backup file format, version 1. All integers big-endian.
//!
//! ```text
//! magic "ESPM-BAK" | version u16 | header length u32 | header (JSON, see Header)
//! records, each a tag byte:
//!   'F' path length u16 | path (UTF-8, '/'-separated, relative) | length u64 | bytes
//!   'T' name length u16 | name          a store tree; the pairs after it are its own
//!   'P' key length u32 | key | value length u32 | value
//!   'E' files u64 | trees u64 | pairs u64   the end, with the counts written
//! SHA-256 of every byte before it (32 bytes)
//! ```
//!
//! A reader checks the magic, the version, then the checksum over the whole file, then
//! the records one by one against the bounds below, before a caller writes anything;
//! every length is checked against the bound and against what is left of the file
//! before anything is allocated for it.

use std::{
    fs::File,
    io::{self, BufReader, BufWriter, Read, Write},
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every backup.
pub const MAGIC: &[u8; 8] = b"ESPM-BAK";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes before the header: magic, version and the header's length.
const PREAMBLE: u64 = 8 + 2 + 4;
/// Bytes of the checksum that ends the file.
const DIGEST: u64 = 32;

/// The largest header accepted.
pub const MAX_HEADER: u32 = 64 * 1024;
/// The longest file path or tree name accepted.
pub const MAX_NAME: u16 = 1024;
/// The largest data-directory file accepted (key files are under a kilobyte).
pub const MAX_FILE: u64 = 16 * 1024 * 1024;
/// The longest store key accepted.
pub const MAX_KEY: u32 = 64 * 1024;
/// The largest store value accepted: an item holding a whole attachment (at most
/// 10 MiB) fits with room to spare.
pub const MAX_VALUE: u32 = 64 * 1024 * 1024;

/// What a backup says about itself, before its records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `hub`, `satker` or `auditor`.
    pub role: String,
    /// The node's id, in hex.
    pub node_id: String,
    /// When the snapshot was taken, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// The store format of the snapshot (storage::FORMAT when it was taken).
    pub store_format: u32,
    /// The espm version that wrote it.
    pub espm_version: String,
}

/// How many of each record a backup holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Data-directory files.
    pub files: u64,
    /// Store trees.
    pub trees: u64,
    /// Store keys.
    pub pairs: u64,
}

/// Why a file could not be read as a backup. The path is the caller's to add.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// It does not start with the magic.
    #[error("not an espm backup")]
    NotABackup,
    /// A version this build does not read.
    #[error("backup format version {0}, which this espm does not read")]
    Version(u16),
    /// The checksum over the content does not match the one stored.
    #[error("checksum mismatch")]
    Checksum,
    /// The checksum matched but a record breaks the format or its bounds.
    #[error("{0}")]
    Malformed(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn malformed(what: impl Into<String>) -> FormatError {
    FormatError::Malformed(what.into())
}

/// Where a long read or write reports the bytes it has done so far.
pub type Report = Arc<dyn Fn(u64) + Send + Sync>;

/// Counts bytes done and tells a [`Report`] at most once per mebibyte, and at the end.
#[derive(Default)]
pub struct Meter {
    done: u64,
    next: u64,
    report: Option<Report>,
}

impl Meter {
    /// A meter telling `report`, or nobody.
    pub fn new(report: Option<Report>) -> Meter {
        Meter {
            done: 0,
            next: 0,
            report,
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        if self.done >= self.next {
            self.next = self.done + (1 << 20);
            if let Some(r) = &self.report {
                r(self.done);
            }
        }
    }

    fn end(&self) {
        if let Some(r) = &self.report {
            r(self.done);
        }
    }
}

/// Writes a backup to any sink, hashing as it goes.
pub struct Writer<W: Write> {
    out: BufWriter<W>,
    hash: Sha256,
    counts: Counts,
    meter: Meter,
}

impl<W: Write> Writer<W> {
    /// Starts a backup with `header`.
    pub fn new(sink: W, header: &Header, meter: Meter) -> io::Result<Self> {
        let mut w = Writer {
            out: BufWriter::with_capacity(1 << 20, sink),
            hash: Sha256::new(),
            counts: Counts::default(),
            meter,
        };
        let json = serde_json::to_vec(header).map_err(io::Error::other)?;
        w.put(MAGIC)?;
        w.put(&VERSION.to_be_bytes())?;
        w.put(&(json.len() as u32).to_be_bytes())?;
        w.put(&json)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.meter.add(bytes.len() as u64);
        self.out.write_all(bytes)
    }

    fn name(&mut self, tag: u8, name: &[u8]) -> io::Result<()> {
        let len = u16::try_from(name.len())
            .ok()
            .filter(|l| *l <= MAX_NAME)
            .ok_or_else(|| io::Error::other("a name in the data directory is too long"))?;
        self.put(&[tag])?;
        self.put(&len.to_be_bytes())?;
        self.put(name)
    }

    /// A data-directory file at relative path `path` ('/'-separated).
    pub fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() as u64 > MAX_FILE {
            return Err(io::Error::other(format!(
                "{path} in the data directory is larger than {MAX_FILE} bytes"
            )));
        }
        self.name(b'F', path.as_bytes())?;
        self.put(&(bytes.len() as u64).to_be_bytes())?;
        self.put(bytes)?;
        self.counts.files += 1;
        Ok(())
    }

    /// A store tree; the pairs written after it are its own.
    pub fn tree(&mut self, name: &[u8]) -> io::Result<()> {
        self.name(b'T', name)?;
        self.counts.trees += 1;
        Ok(())
    }

    /// A key and value of the current tree.
    pub fn pair(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if key.len() as u64 > MAX_KEY as u64 || value.len() as u64 > MAX_VALUE as u64 {
            return Err(io::Error::other(format!(
                "a store record is larger than a backup holds ({} byte key, {} byte value)",
                key.len(),
                value.len()
            )));
        }
        self.put(b"P")?;
        self.put(&(key.len() as u32).to_be_bytes())?;
        self.put(key)?;
        self.put(&(value.len() as u32).to_be_bytes())?;
        self.put(value)?;
        self.counts.pairs += 1;
        Ok(())
    }

    /// Ends the backup: the counts, then the checksum. Returns the sink, flushed, and
    /// what was written.
    pub fn finish(mut self) -> io::Result<(W, Counts)> {
        let c = self.counts;
        self.put(b"E")?;
        for n in [c.files, c.trees, c.pairs] {
            self.put(&n.to_be_bytes())?;
        }
        let digest = std::mem::take(&mut self.hash).finalize();
        self.out.write_all(&digest)?;
        self.meter.end();
        let sink = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok((sink, c))
    }
}

/// One record as a reader hands it on.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// A data-directory file: its checked relative path and its bytes.
    File(PathBuf, Vec<u8>),
    /// A store tree begins.
    Tree(Vec<u8>),
    /// A key and value of the current tree.
    Pair(Vec<u8>, Vec<u8>),
}

/// Reads a backup file, hashing as it goes and never reading past its content.
struct Reader {
    input: BufReader<File>,
    hash: Sha256,
    meter: Meter,
    /// Bytes of content (everything before the checksum) not yet read.
    left: u64,
}

impl Reader {
    fn take(&mut self, n: u64, what: &str) -> Result<Vec<u8>, FormatError> {
        if n > self.left {
            return Err(malformed(format!(
                "{what} of {n} bytes runs past the end of the file"
            )));
        }
        let mut buf = vec![0; n as usize];
        self.input.read_exact(&mut buf)?;
        self.hash.update(&buf);
        self.meter.add(n);
        self.left -= n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FormatError> {
        let v = self.take(N as u64, what)?;
        Ok(v.try_into().unwrap_or([0; N]))
    }

    fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn bounded(&mut self, len: u64, max: u64, what: &str) -> Result<Vec<u8>, FormatError> {
        if len > max {
            return Err(malformed(format!(
                "{what} of {len} bytes is over the limit of {max}"
            )));
        }
        self.take(len, what)
    }
}

/// Opens `path` and checks its magic and version, returning the reader placed after
/// them, positioned to read the header length.
fn open(path: &Path, meter: Meter) -> Result<Reader, FormatError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 8];
    if size < MAGIC.len() as u64 {
        return Err(FormatError::NotABackup);
    }
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(FormatError::NotABackup);
    }
    if size < PREAMBLE + DIGEST {
        // An espm backup cut short: no checksum left to check it by.
        return Err(FormatError::Checksum);
    }
    let mut hash = Sha256::new();
    hash.update(magic);
    let mut r = Reader {
        input,
        hash,
        meter,
        left: size - DIGEST - 8,
    };
    r.meter.add(8);
    let version = r.u16("version")?;
    if version != VERSION {
        return Err(FormatError::Version(version));
    }
    Ok(r)
}

/// Checks the magic, the version and the checksum of the whole file, reading it once
/// in bounded pieces.
pub fn check_checksum(path: &Path, meter: Meter) -> Result<(), FormatError> {
    let mut r = open(path, meter)?;
    let mut buf = vec![0u8; 1 << 20];
    while r.left > 0 {
        let n = (r.left as usize).min(buf.len());
        r.input.read_exact(&mut buf[..n])?;
        r.hash.update(&buf[..n]);
        r.meter.add(n as u64);
        r.left -= n as u64;
    }
    r.meter.end();
    let mut stored = [0u8; 32];
    r.input.read_exact(&mut stored)?;
    if r.hash.finalize().as_slice() != stored {
        return Err(FormatError::Checksum);
    }
    Ok(())
}

/// A relative path of a data-directory file, refused if it could point anywhere but
/// inside the directory being restored, or into the store the records rebuild.
fn checked_path(bytes: Vec<u8>) -> Result<PathBuf, FormatError> {
    let text = String::from_utf8(bytes).map_err(|_| malformed("a file path is not UTF-8"))?;
    let path = PathBuf::from(&text);
    let plain = !text.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    let first = path.components().next().map(|c| c.as_os_str().to_owned());
    if !plain || first.as_deref() == Some(std::ffi::OsStr::new(super::STORE_DIR)) {
        return Err(malformed(format!(
            "file path {text:?} is not a plain path inside the data directory"
        )));
    }
    Ok(path)
}

/// Reads the backup at `path` from its header to its end, handing each record to
/// `each` and checking the checksum at the end. Returns the header and the counts.
/// Call [`check_checksum`] first to tell damage from a malformed record.
pub fn read(
    path: &Path,
    meter: Meter,
    mut each: impl FnMut(Record) -> Result<(), FormatError>,
) -> Result<(Header, Counts), FormatError> {
    let mut r = open(path, meter)?;
    let len = r.u32("header length")?;
    let header = r.bounded(len as u64, MAX_HEADER as u64, "the header")?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|e| malformed(format!("the header is unreadable: {e}")))?;
    let mut counts = Counts::default();
    let mut in_tree = false;
    loop {
        let [tag] = r.array::<1>("a record tag")?;
        match tag {
            b'F' => {
                let n = r.u16("a file path length")?;
                let name = r.bounded(n as u64, MAX_NAME as u64, "a file path")?;
                let path = checked_path(name)?;
                let n = r.u64("a file length")?;
                let bytes = r.bounded(n, MAX_FILE, "a file")?;
                counts.files += 1;
                each(Record::File(path, bytes))?;
            }
            b'T' => {
                let n = r.u16("a tree name length")?;
                let name = r.bounded(n as u64, MAX_NAME as u64, "a tree name")?;
                counts.trees += 1;
                in_tree = true;
                each(Record::Tree(name))?;
            }
            b'P' => {
                if !in_tree {
                    return Err(malformed("a store record comes before any tree"));
                }
                let n = r.u32("a key length")?;
                let key = r.bounded(n as u64, MAX_KEY as u64, "a key")?;
                let n = r.u32("a value length")?;
                let value = r.bounded(n as u64, MAX_VALUE as u64, "a value")?;
                counts.pairs += 1;
                each(Record::Pair(key, value))?;
            }
            b'E' => {
                let written = Counts {
                    files: r.u64("the file count")?,
                    trees: r.u64("the tree count")?,
                    pairs: r.u64("the record count")?,
                };
                if written != counts {
                    return Err(malformed(format!(
                        "it ends saying it holds {written:?} but holds {counts:?}"
                    )));
                }
                if r.left != 0 {
                    return Err(malformed(format!("{} bytes follow its end record", r.left)));
                }
                break;
            }
            other => return Err(malformed(format!("unknown record tag {other:#04x}"))),
        }
    }
    let mut stored = [0u8; 32];
    r.input.read_exact(&mut stored)?;
    r.meter.end();
    // The file may have changed since check_checksum read it.
    if r.hash.finalize().as_slice() != stored {
        return Err(FormatError::Checksum);
    }
    Ok((header, counts))
}

/// Checks a whole backup without keeping anything: magic, version, checksum, every
/// record against the bounds. Returns its header and counts.
pub fn check(path: &Path) -> Result<(Header, Counts), FormatError> {
    check_checksum(path, Meter::default())?;
    read(path, Meter::default(), |_| Ok(()))
}
