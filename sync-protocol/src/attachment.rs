//! Attachments travel as content-addressed chunks: fetched by hash, verified on
//! arrival, stored one by one, so a transfer cut by an outage resumes at the chunk
//! where it stopped. A file is complete only when its chunks join to its SHA-256.

use sha2::{Digest, Sha256};

use crate::Address;

/// Bytes per chunk: small enough that a lost chunk on a 256 kbit/s link costs about
/// two seconds, large enough that per-chunk overhead stays under 1%.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The most chunks one Want may ask for.
pub const MAX_WANT: usize = 64;

/// The largest file one attachment may be: scans and decrees are at most 1 MB in the
/// regulation, and a thin link cannot carry much more per document.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// The most files one document may carry.
pub const MAX_ATTACHMENTS: usize = 20;

/// How many chunks a file of `size` bytes is cut into.
pub fn expected_chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK_BYTES as u64)
}

/// The chunks of `bytes`, in order.
pub fn chunks_of(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.chunks(CHUNK_BYTES)
}

/// The addresses of the chunks of `bytes`, in order.
pub fn chunk_addresses(bytes: &[u8]) -> Vec<Address> {
    chunks_of(bytes).map(Address::of).collect()
}

/// Whether the joined chunks are the file named by `sha256_hex`.
pub fn joins_to(parts: &[Vec<u8>], sha256_hex: &str) -> bool {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize()) == sha256_hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_complete_only_when_its_chunks_join_to_its_hash() {
        let file: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sha = hex::encode(Sha256::digest(&file));
        let parts: Vec<Vec<u8>> = chunks_of(&file).map(<[u8]>::to_vec).collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(chunk_addresses(&file).len(), 4);
        assert!(joins_to(&parts, &sha));
        assert!(!joins_to(&parts[..3], &sha));
    }
}
