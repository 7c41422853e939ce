//! The guard every automerge sync message from a peer passes before automerge sees it.
//!
//! automerge 0.6 trusts what a message says it expands to: it inflates compressed change
//! chunks (type 2) and DEFLATE-compressed document columns with no bound, and turns
//! run-length-encoded columns into one operation per declared row, so a few bytes can
//! declare a billion operations. A 510 KiB message once raised a hub to 2 GiB. This guard
//! walks the same binary format (<https://automerge.org/automerge-binary-format-spec/>)
//! without building anything: it inflates into a buffer under a cap on the bytes one
//! message may expand to, and counts rows by reading only run headers. automerge keeps
//! no public API for either, hence our own parser; it allocates nothing a peer sizes
//! beyond the caps, uses checked arithmetic throughout and never panics.
//!
//! Honest peers do send deflated data: a device meeting a copy with nothing in it gets
//! the whole document (`save()`), whose columns over 256 bytes are deflated. So deflated
//! data is inflated under the cap, not refused.

use std::{fmt, io::Read};

use automerge::sync::Message;

use crate::StoreError;

/// What one peer's sync message may expand to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes its deflated chunks and columns may inflate to, together with the
    /// copies of values that run-length runs repeat.
    pub expanded_bytes: u64,
    /// Most operation rows its chunks may declare: per chunk the longest column, summed.
    pub rows: u64,
    /// Most bloom filters ("have" entries); automerge sends at most one.
    pub haves: u64,
    /// Most probes a bloom filter may ask for per hash; automerge uses 7.
    pub bloom_probes: u64,
}

impl Limits {
    /// The limits every peer's message is held to. Honest drafts are a few dozen field
    /// edits: a few KiB and rows; these leave two orders of magnitude of room while
    /// keeping what automerge builds from one message to tens of MiB.
    pub const PEER: Limits = Limits {
        expanded_bytes: 8 * 1024 * 1024,
        rows: 100_000,
        haves: 8,
        bloom_probes: 32,
    };
}

/// Which bound a peer's draft-sync message, or the draft it would make, went over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// [`Limits::expanded_bytes`].
    Expanded,
    /// [`Limits::rows`].
    Rows,
    /// [`Limits::haves`].
    Haves,
    /// [`Limits::bloom_probes`].
    BloomProbes,
    /// [`super::MAX_DRAFT_BYTES`], checked once the message is applied.
    DraftBytes,
}

impl Bound {
    /// The plain sentence for a refusal at `limit`: what was refused and what to do.
    pub fn explain(&self, limit: u64) -> String {
        match self {
            Bound::Expanded => format!(
                "draft sync message refused: its contents expand to more than {limit} bytes \
                 once inflated, the most one message may; a draft this large cannot sync, \
                 so shorten its fields"
            ),
            Bound::Rows => format!(
                "draft sync message refused: it declares more than {limit} operations, the \
                 most one message may; a draft with this much history cannot sync, so start \
                 a new draft from its current fields"
            ),
            Bound::Haves => format!(
                "draft sync message refused: it carries more than {limit} bloom filters \
                 (automerge sends one); the sending node is not an espm node"
            ),
            Bound::BloomProbes => format!(
                "draft sync message refused: its bloom filter asks for more than {limit} \
                 probes per change (automerge uses 7); the sending node is not an espm node"
            ),
            Bound::DraftBytes => format!(
                "draft sync message refused: the draft would grow past {limit} bytes, the \
                 most a draft may hold and still travel whole in one sync message; shorten \
                 its fields or start a new draft"
            ),
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Expanded => "expanded bytes",
            Bound::Rows => "operation rows",
            Bound::Haves => "bloom filters",
            Bound::BloomProbes => "bloom filter probes",
            Bound::DraftBytes => "draft bytes",
        })
    }
}

/// What a message that passed the guard holds, for tests and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Document chunks (a whole copy, as automerge sends to an empty peer).
    pub document_chunks: u64,
    /// Plain change chunks.
    pub change_chunks: u64,
    /// Compressed change chunks (type 2).
    pub compressed_changes: u64,
    /// DEFLATE-compressed columns in document chunks.
    pub deflated_columns: u64,
    /// Bytes its deflated data inflated to.
    pub inflated_bytes: u64,
    /// Bytes counted against [`Limits::expanded_bytes`]: inflated bytes plus repeated values.
    pub expanded_bytes: u64,
    /// Rows counted against [`Limits::rows`].
    pub rows: u64,
}

/// Checks an encoded sync message from a peer against `limits` without letting automerge
/// expand any of it. Pure, so it can be fuzzed.
pub fn check_sync_message(bytes: &[u8], limits: &Limits) -> Result<Shape, StoreError> {
    // automerge's envelope decoder only splits the message: every length it reads is
    // backed by bytes that are there, and nothing is inflated.
    let message = Message::decode(bytes).map_err(|e| unreadable(e.to_string()))?;
    check_message(&message, limits)
}

/// [`check_sync_message`] on a message already split by automerge's decoder.
pub(crate) fn check_message(message: &Message, limits: &Limits) -> Result<Shape, StoreError> {
    if message.have.len() as u64 > limits.haves {
        return Err(over(Bound::Haves, limits.haves));
    }
    for have in &message.have {
        check_bloom(&have.bloom.to_bytes(), limits)?;
    }
    let mut guard = Guard {
        limits,
        shape: Shape::default(),
    };
    for chunks in message.changes.iter() {
        guard.chunks(chunks)?;
    }
    Ok(guard.shape)
}

fn unreadable(detail: impl fmt::Display) -> StoreError {
    StoreError::Draft(format!("unreadable sync message: {detail}"))
}

fn over(bound: Bound, limit: u64) -> StoreError {
    StoreError::DraftLimit { bound, limit }
}

/// A bloom filter as automerge encodes it: nothing when empty, else entry count, bits per
/// entry, probes, then the bits. automerge allocates a vector of `probes` entries for
/// every hash it tests, and divides by the bit count.
fn check_bloom(bytes: &[u8], limits: &Limits) -> Result<(), StoreError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader(bytes);
    let entries = r.uleb()?;
    let _bits_per_entry = r.uleb()?;
    let probes = r.uleb()?;
    if probes > limits.bloom_probes {
        return Err(over(Bound::BloomProbes, limits.bloom_probes));
    }
    if entries > 0 && r.0.is_empty() {
        return Err(unreadable("a bloom filter with entries but no bits"));
    }
    Ok(())
}

/// A cursor over untrusted bytes; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn uleb(&mut self) -> Result<u64, StoreError> {
        leb128::read::unsigned(&mut self.0).map_err(|e| unreadable(format!("a number: {e}")))
    }

    fn sleb(&mut self) -> Result<i64, StoreError> {
        leb128::read::signed(&mut self.0).map_err(|e| unreadable(format!("a number: {e}")))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], StoreError> {
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.0.len())
            .ok_or_else(|| unreadable("a length past the end of its data"))?;
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A uLEB length followed by that many bytes.
    fn prefixed(&mut self) -> Result<&'a [u8], StoreError> {
        let n = self.uleb()?;
        self.take(n)
    }

    /// A uLEB count followed by that many `width`-byte items.
    fn counted(&mut self, width: u64) -> Result<(), StoreError> {
        let n = self.uleb()?;
        let bytes = n
            .checked_mul(width)
            .ok_or_else(|| unreadable("a count past the end of its data"))?;
        self.take(bytes).map(|_| ())
    }

    /// Column metadata: a count, then (specification, length) pairs.
    fn columns(&mut self) -> Result<Vec<(u64, u64)>, StoreError> {
        let n = self.uleb()?;
        let mut cols = Vec::new();
        for _ in 0..n {
            // Each pair takes at least two bytes, so this loop ends with the data.
            let spec = self.uleb()?;
            let len = self.uleb()?;
            cols.push((spec, len));
        }
        Ok(cols)
    }
}

const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
/// Bit 3 of a column specification: the column's data is DEFLATE-compressed.
const DEFLATE_BIT: u64 = 0b1000;

/// How a column's data encodes its rows (the low three bits of its specification).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    /// Run-length encoded counts of rows in the following grouped columns.
    Group,
    /// Run-length encoded unsigned integers (actor indexes, integers, value metadata).
    Unsigned,
    /// Run-length encoded signed deltas.
    Delta,
    /// Alternating run lengths of false and true.
    Boolean,
    /// Run-length encoded length-prefixed strings.
    String,
    /// Raw value bytes, sized by the metadata column: no rows of its own.
    Raw,
}

impl ColumnType {
    fn of(spec: u64) -> ColumnType {
        match spec & 0b111 {
            0 => ColumnType::Group,
            3 => ColumnType::Delta,
            4 => ColumnType::Boolean,
            5 => ColumnType::String,
            7 => ColumnType::Raw,
            // 1 actor, 2 integer, 6 value metadata
            _ => ColumnType::Unsigned,
        }
    }
}

struct Guard<'l> {
    limits: &'l Limits,
    shape: Shape,
}

impl Guard<'_> {
    /// Counts `n` more bytes against the expansion budget.
    fn expand(&mut self, n: u64) -> Result<(), StoreError> {
        let limit = self.limits.expanded_bytes;
        self.shape.expanded_bytes = self
            .shape
            .expanded_bytes
            .checked_add(n)
            .filter(|total| *total <= limit)
            .ok_or_else(|| over(Bound::Expanded, limit))?;
        Ok(())
    }

    /// Rows this message may still declare.
    fn rows_left(&self) -> u64 {
        self.limits.rows.saturating_sub(self.shape.rows)
    }

    /// Inflates a DEFLATE stream, reading no more than one byte past the budget.
    fn inflate(&mut self, deflated: &[u8]) -> Result<Vec<u8>, StoreError> {
        let room = self
            .limits
            .expanded_bytes
            .saturating_sub(self.shape.expanded_bytes);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(deflated)
            .take(room.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| unreadable(format!("deflated data that does not inflate: {e}")))?;
        let n = out.len() as u64;
        self.expand(n)?;
        self.shape.inflated_bytes = self.shape.inflated_bytes.saturating_add(n);
        Ok(out)
    }

    /// A sequence of chunks, as one entry of a message's change list holds.
    fn chunks(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let mut r = Reader(data);
        while !r.is_empty() {
            if r.take(4)? != CHUNK_MAGIC {
                return Err(unreadable("a chunk without automerge's magic bytes"));
            }
            let _checksum = r.take(4)?;
            let chunk_type = r.take(1)?[0];
            let body = r.prefixed()?;
            let rows = match chunk_type {
                DOCUMENT => {
                    self.shape.document_chunks += 1;
                    self.document(body)?
                }
                CHANGE => {
                    self.shape.change_chunks += 1;
                    self.change(body)?
                }
                COMPRESSED_CHANGE => {
                    self.shape.compressed_changes += 1;
                    let inflated = self.inflate(body)?;
                    self.change(&inflated)?
                }
                other => return Err(unreadable(format!("a chunk of unknown type {other}"))),
            };
            // rows never exceeds rows_left, so this stays within the limit.
            self.shape.rows = self.shape.rows.saturating_add(rows);
        }
        Ok(())
    }

    /// A change chunk's body; returns its rows.
    fn change(&mut self, body: &[u8]) -> Result<u64, StoreError> {
        let mut r = Reader(body);
        r.counted(32)?; // dependencies
        r.prefixed()?; // actor
        r.uleb()?; // sequence number
        r.uleb()?; // start op
        r.sleb()?; // time
        r.prefixed()?; // message
        let others = r.uleb()?;
        for _ in 0..others {
            r.prefixed()?;
        }
        let cols = r.columns()?;
        if cols.iter().any(|(spec, _)| spec & DEFLATE_BIT != 0) {
            // automerge refuses these too; the whole chunk is what gets compressed.
            return Err(unreadable("a change chunk with deflated columns"));
        }
        self.columns(&cols, &mut r)
    }

    /// A document chunk's body; returns its rows.
    fn document(&mut self, body: &[u8]) -> Result<u64, StoreError> {
        let mut r = Reader(body);
        let actors = r.uleb()?;
        for _ in 0..actors {
            r.prefixed()?;
        }
        r.counted(32)?; // heads
        let change_cols = r.columns()?;
        let op_cols = r.columns()?;
        let changes = self.columns(&change_cols, &mut r)?;
        let ops = self.columns(&op_cols, &mut r)?;
        // What follows (the heads' indexes) is plain numbers, expanded into nothing.
        Ok(changes.max(ops))
    }

    /// The data of `cols`, read from `r` in order; returns the rows of the longest one.
    fn columns(&mut self, cols: &[(u64, u64)], r: &mut Reader<'_>) -> Result<u64, StoreError> {
        let mut most = 0;
        for &(spec, len) in cols {
            let data = r.take(len)?;
            let rows = if spec & DEFLATE_BIT != 0 {
                self.shape.deflated_columns += 1;
                let inflated = self.inflate(data)?;
                self.rows(ColumnType::of(spec), &inflated)?
            } else {
                self.rows(ColumnType::of(spec), data)?
            };
            most = most.max(rows);
        }
        Ok(most)
    }

    /// Counts a column's rows from its run headers, refusing past the rows left.
    fn rows(&mut self, kind: ColumnType, data: &[u8]) -> Result<u64, StoreError> {
        let (left, limit) = (self.rows_left(), self.limits.rows);
        let add = |rows: u64, n: u64| {
            rows.checked_add(n)
                .filter(|r| *r <= left)
                .ok_or_else(|| over(Bound::Rows, limit))
        };
        let mut r = Reader(data);
        let mut rows = 0u64;
        // In a group column each value counts rows of the grouped columns; their sum is
        // held to the same bound, so a group cannot promise more than it may deliver.
        let mut grouped = 0u64;
        match kind {
            ColumnType::Raw => return Ok(0),
            ColumnType::Boolean => {
                while !r.is_empty() {
                    rows = add(rows, r.uleb()?)?;
                }
            }
            _ => {
                while !r.is_empty() {
                    let n = r.sleb()?;
                    if n > 0 {
                        let n = n.unsigned_abs();
                        rows = add(rows, n)?;
                        let v = value(kind, &mut r)?;
                        if kind == ColumnType::Group {
                            grouped = add(grouped, n.saturating_mul(v))?;
                        } else if kind == ColumnType::String {
                            // automerge hashes the string again for every row (and
                            // copies it for some uses): each repeat is work it does.
                            self.expand(n.saturating_sub(1).saturating_mul(v))?;
                        }
                    } else if n < 0 {
                        rows = add(rows, n.unsigned_abs())?;
                        for _ in 0..n.unsigned_abs() {
                            let v = value(kind, &mut r)?;
                            if kind == ColumnType::Group {
                                grouped = add(grouped, v)?;
                            }
                        }
                    } else {
                        // a run of nulls: just its length
                        rows = add(rows, r.uleb()?)?;
                    }
                }
            }
        }
        Ok(rows)
    }
}

/// Skips one value of a run-length encoded column: for strings returns the length, for
/// unsigned and group columns the value, for deltas zero.
fn value(kind: ColumnType, r: &mut Reader<'_>) -> Result<u64, StoreError> {
    match kind {
        ColumnType::String => Ok(r.prefixed()?.len() as u64),
        ColumnType::Delta => r.sleb().map(|_| 0),
        _ => r.uleb(),
    }
}

#[cfg(test)]
mod tests;
