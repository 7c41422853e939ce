//! Hand-made automerge chunks and sync messages for tests: the shapes an honest encoder
//! makes, sized as a hostile peer would size them. Test code only; it names nothing of
//! the storage crate (only flate2, sha2 and std), so node's tests include it too.
//!
//! Layouts follow the binary format spec
//! (<https://automerge.org/automerge-binary-format-spec/>) and automerge 0.6's
//! `storage/change.rs` and `storage/document.rs`.

#![allow(dead_code)]

use std::io::Write;

use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// One column: its specification and its data.
pub type Column = (u64, Vec<u8>);

/// Column specifications used here: `id << 4 | type`, bit 3 for deflate.
pub const KEY_STRING: u64 = 0x15;
pub const INSERT: u64 = 0x34;
pub const ACTION: u64 = 0x42;
pub const VALUE_META: u64 = 0x56;
pub const VALUE: u64 = 0x57;
pub const PRED_GROUP: u64 = 0x70;
pub const DEFLATE: u64 = 0x08;

/// Appends `v` as unsigned LEB128.
pub fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `v` as signed LEB128.
pub fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// automerge's chunk hash: SHA-256 over the type, the uLEB length and the body, fed in
/// pieces so a body of hundreds of MiB never sits in memory.
pub struct ChunkHash(Sha256);

impl ChunkHash {
    pub fn new(chunk_type: u8, body_len: u64) -> ChunkHash {
        let mut head = vec![chunk_type];
        uleb(&mut head, body_len);
        let mut h = Sha256::new();
        h.update(&head);
        ChunkHash(h)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn checksum(self) -> [u8; 4] {
        let d = self.0.finalize();
        [d[0], d[1], d[2], d[3]]
    }
}

/// A whole chunk: magic, checksum, type, uLEB length, body.
pub fn chunk(chunk_type: u8, checksum: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(checksum);
    out.push(chunk_type);
    uleb(&mut out, body.len() as u64);
    out.extend(body);
    out
}

/// A chunk whose checksum is that of its own body (document and change chunks).
pub fn sealed_chunk(chunk_type: u8, body: &[u8]) -> Vec<u8> {
    let mut h = ChunkHash::new(chunk_type, body.len() as u64);
    h.update(body);
    chunk(chunk_type, h.checksum(), body)
}

/// A V2 sync message: no heads or needs, the given encoded bloom filters as "have"
/// entries, and `changes` as its one change-list entry (automerge's V2 layout).
pub fn message(changes: &[u8], blooms: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0x43];
    uleb(&mut out, 0); // heads
    uleb(&mut out, 0); // need
    uleb(&mut out, blooms.len() as u64);
    for bloom in blooms {
        uleb(&mut out, 0); // last_sync
        uleb(&mut out, bloom.len() as u64);
        out.extend(bloom);
    }
    if changes.is_empty() {
        uleb(&mut out, 0);
    } else {
        uleb(&mut out, 1);
        uleb(&mut out, changes.len() as u64);
        out.extend(changes);
    }
    out
}

/// An encoded bloom filter: entries, bits per entry, probes, then the bits.
pub fn bloom(entries: u64, bits_per_entry: u64, probes: u64) -> Vec<u8> {
    let mut out = Vec::new();
    uleb(&mut out, entries);
    uleb(&mut out, bits_per_entry);
    uleb(&mut out, probes);
    out.extend(vec![0xff; (entries * bits_per_entry).div_ceil(8) as usize]);
    out
}

/// The start of a change body by a fresh `actor` with no dependencies (sequence 1,
/// first op 1), ending with the metadata of `columns` (specification, data length).
pub fn change_head(actor: &[u8], columns: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    uleb(&mut out, 0); // dependencies
    uleb(&mut out, actor.len() as u64);
    out.extend(actor);
    uleb(&mut out, 1); // seq
    uleb(&mut out, 1); // start op
    sleb(&mut out, 0); // time
    uleb(&mut out, 0); // message
    uleb(&mut out, 0); // other actors
    uleb(&mut out, columns.len() as u64);
    for (spec, len) in columns {
        uleb(&mut out, *spec);
        uleb(&mut out, *len);
    }
    out
}

/// A change body from whole columns.
pub fn change_body(actor: &[u8], columns: &[Column]) -> Vec<u8> {
    let meta: Vec<(u64, u64)> = columns.iter().map(|(s, d)| (*s, d.len() as u64)).collect();
    let mut out = change_head(actor, &meta);
    for (_, data) in columns {
        out.extend(data);
    }
    out
}

/// Columns of one op putting a string of `len` bytes at `key` of the root map, all
/// but the value's bytes: (columns before the value, the pred column after it). Each
/// holds one literal, as automerge's own encoder writes a lone value, so the change
/// hashes the same when automerge re-encodes it to save the document.
fn put_string_columns(key: &str, len: u64, lone: i64) -> (Vec<Column>, Column) {
    let mut key_col = Vec::new();
    sleb(&mut key_col, lone);
    uleb(&mut key_col, key.len() as u64);
    key_col.extend(key.as_bytes());
    let mut insert = Vec::new();
    uleb(&mut insert, 1); // one false
    let mut action = Vec::new();
    sleb(&mut action, lone);
    uleb(&mut action, 1); // set
    let mut meta = Vec::new();
    sleb(&mut meta, lone);
    uleb(&mut meta, (len << 4) | 6); // a string of len bytes
    let mut pred = Vec::new();
    sleb(&mut pred, lone);
    uleb(&mut pred, 0); // overwrites nothing
    (
        vec![
            (KEY_STRING, key_col),
            (INSERT, insert),
            (ACTION, action),
            (VALUE_META, meta),
        ],
        (PRED_GROUP, pred),
    )
}

/// A plain change chunk putting `value` at root key `key`.
pub fn put_string_change(actor: &[u8], key: &str, value: &[u8]) -> Vec<u8> {
    put_string_change_as(actor, key, value, -1)
}

/// [`put_string_change`] with each lone value written as a run of one instead of a
/// literal: still readable, but not what automerge writes, so its hash changes when
/// automerge re-encodes it and the saved document no longer loads.
pub fn put_string_change_in_runs(actor: &[u8], key: &str, value: &[u8]) -> Vec<u8> {
    put_string_change_as(actor, key, value, 1)
}

fn put_string_change_as(actor: &[u8], key: &str, value: &[u8], lone: i64) -> Vec<u8> {
    let (mut cols, pred) = put_string_columns(key, value.len() as u64, lone);
    cols.push((VALUE, value.to_vec()));
    cols.push(pred);
    sealed_chunk(1, &change_body(actor, &cols))
}

/// A compressed change chunk (type 2) putting `len` copies of `fill` at root key `key`:
/// a valid change whose DEFLATE stream is about a thousandth of what it inflates to.
/// Built in 64 KiB pieces, so making it takes no more memory than its result.
pub fn compressed_put_string_change(actor: &[u8], key: &str, len: u64, fill: u8) -> Vec<u8> {
    let (cols, pred) = put_string_columns(key, len, -1);
    let mut meta: Vec<(u64, u64)> = cols.iter().map(|(s, d)| (*s, d.len() as u64)).collect();
    meta.push((VALUE, len));
    meta.push((pred.0, pred.1.len() as u64));
    let mut head = change_head(actor, &meta);
    for (_, data) in &cols {
        head.extend(data);
    }
    let body_len = head.len() as u64 + len + pred.1.len() as u64;
    let mut hash = ChunkHash::new(1, body_len);
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let mut feed = |bytes: &[u8]| {
        hash.update(bytes);
        deflate.write_all(bytes).unwrap();
    };
    feed(&head);
    let block = vec![fill; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64);
        feed(&block[..n as usize]);
        left -= n;
    }
    feed(&pred.1);
    let deflated = deflate.finish().unwrap();
    chunk(2, hash.checksum(), &deflated)
}

/// A plain change chunk of `rows` operations in a few dozen bytes: every column one
/// run-length run (put null at root key `key`, `rows` times).
pub fn rle_row_change(actor: &[u8], rows: i64, key: &str) -> Vec<u8> {
    let run = |value: &[u8]| {
        let mut out = Vec::new();
        sleb(&mut out, rows);
        out.extend(value);
        out
    };
    let mut key_value = Vec::new();
    uleb(&mut key_value, key.len() as u64);
    key_value.extend(key.as_bytes());
    let mut insert = Vec::new();
    uleb(&mut insert, rows as u64);
    let cols = vec![
        (KEY_STRING, run(&key_value)),
        (INSERT, insert),
        (ACTION, run(&[1])),
        (VALUE_META, run(&[0])),
        (PRED_GROUP, run(&[0])),
    ];
    sealed_chunk(1, &change_body(actor, &cols))
}

/// A document chunk with one actor, no heads and one DEFLATE-compressed value column of
/// `len` zero bytes.
pub fn deflated_column_document(actor: &[u8], len: u64) -> Vec<u8> {
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let block = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64);
        deflate.write_all(&block[..n as usize]).unwrap();
        left -= n;
    }
    let deflated = deflate.finish().unwrap();
    let mut body = Vec::new();
    uleb(&mut body, 1);
    uleb(&mut body, actor.len() as u64);
    body.extend(actor);
    uleb(&mut body, 0); // heads
    uleb(&mut body, 0); // change columns
    uleb(&mut body, 1); // op columns
    uleb(&mut body, VALUE | DEFLATE);
    uleb(&mut body, deflated.len() as u64);
    body.extend(&deflated);
    sealed_chunk(0, &body)
}
