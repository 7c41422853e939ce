//! The Merkle tree over the hub's log, hashed as Certificate Transparency hashes it
//! (RFC 9162 §2.1): a leaf is SHA-256(0x00 || entry), an interior node SHA-256(0x01 ||
//! left || right), and a tree of n leaves splits at the largest power of two below n.
//! With it anyone can check, offline and with tools that are not ours, that an entry is
//! in the log a signed checkpoint names (an inclusion proof) and that a later checkpoint
//! extends an earlier one rather than rewriting it (a consistency proof).
//!
//! Pure functions over leaf hashes: no IO, no clock. Proofs are computed from the leaf
//! hashes of the tree (the hub holds them all) and verified with the RFC's algorithms
//! (§2.1.3.2 and §2.1.4.2), which need nothing but the proof, the sizes and the roots.
//! This file must never accept a proof the RFC's verification would refuse.

use sha2::{Digest, Sha256};

/// A node or leaf hash of the tree.
pub type Hash = [u8; 32];

/// The hash of one log entry as a leaf: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n > 1): where a tree of n leaves splits.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The root of the tree over `leaves` (leaf hashes); SHA-256 of nothing when empty.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree over `leaves` (RFC 9162 §2.1.3.1),
/// from the leaf up; `None` if there is no such leaf.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// Whether `proof` shows the leaf hash `leaf` at `index` in a tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// The consistency proof from the tree's first `old_size` leaves to all of `leaves`
/// (RFC 9162 §2.1.4.1); `None` unless 0 < old_size <= leaves.len().
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    subproof(old_size, leaves, true, &mut proof);
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], whole, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Whether `proof` shows that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2): the same
/// first `old_size` entries, nothing rewritten.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if proof.is_empty() {
        return false;
    }
    // A first tree that is a whole left subtree is not in the proof: its root is.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *old_root && s_r == *new_root && s_n == 0
}

/// Where the proofs of a large tree come from: the hash of each complete subtree, the
/// 2^`level` leaves from leaf `index << level`, as the hub stores them. With it a proof
/// costs O(log² n) lookups instead of reading every leaf.
pub trait Subtrees {
    /// What a lookup can fail with (a store error).
    type Error;
    /// The root of the complete subtree of 2^`level` leaves starting at leaf
    /// `index << level`.
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The leaf hashes themselves, as a [`Subtrees`]: for the tests, and for trees small
/// enough to hold in memory.
pub struct Leaves<'a>(pub &'a [Hash]);

impl Subtrees for Leaves<'_> {
    type Error = std::convert::Infallible;
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        let start = (index << level) as usize;
        Ok(root(&self.0[start..start + (1usize << level)]))
    }
}

/// The root of the `n` leaves from `start`, where the RFC's recursion reaches it: the
/// left part of every split is a complete, aligned subtree, so it is one lookup.
fn range_root<S: Subtrees>(s: &S, start: u64, n: u64) -> Result<Hash, S::Error> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return s.subtree(level, start >> level);
    }
    let k = split(n as usize) as u64;
    Ok(node_hash(
        &range_root(s, start, k)?,
        &range_root(s, start + k, n - k)?,
    ))
}

/// The root of the first `size` leaves of the tree `s` holds.
pub fn tree_root<S: Subtrees>(s: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(Sha256::digest([]).into());
    }
    range_root(s, 0, size)
}

/// The inclusion proof of leaf `index` in the first `size` leaves of `s` (RFC 9162
/// §2.1.3.1); `None` if `index >= size`.
pub fn tree_inclusion<S: Subtrees>(
    s: &S,
    index: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if index >= size {
        return Ok(None);
    }
    let mut proof = Vec::new();
    range_path(s, index, 0, size, &mut proof)?;
    Ok(Some(proof))
}

fn range_path<S: Subtrees>(
    s: &S,
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n as usize) as u64;
    if m < k {
        range_path(s, m, start, k, out)?;
        out.push(range_root(s, start + k, n - k)?);
    } else {
        range_path(s, m - k, start + k, n - k, out)?;
        out.push(range_root(s, start, k)?);
    }
    Ok(())
}

/// The consistency proof from the first `old_size` leaves of `s` to its first `size`
/// (RFC 9162 §2.1.4.1); `None` unless 0 < old_size <= size.
pub fn tree_consistency<S: Subtrees>(
    s: &S,
    old_size: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if old_size == 0 || old_size > size {
        return Ok(None);
    }
    let mut proof = Vec::new();
    range_subproof(s, old_size, 0, size, true, &mut proof)?;
    Ok(Some(proof))
}

fn range_subproof<S: Subtrees>(
    s: &S,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if m == n {
        if !whole {
            out.push(range_root(s, start, n)?);
        }
        return Ok(());
    }
    let k = split(n as usize) as u64;
    if m <= k {
        range_subproof(s, m, start, k, whole, out)?;
        out.push(range_root(s, start + k, n - k)?);
    } else {
        range_subproof(s, m - k, start + k, n - k, false, out)?;
        out.push(range_root(s, start, k)?);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its complete subtrees, one per set bit
/// of its size, smallest first. Appending a leaf merges equal sizes as binary addition
/// carries; the root folds them. This is how the hub extends its log in O(1) amortised
/// hashes and knows its root after every entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Leaves in the tree.
    pub size: u64,
    /// `(level, root)` of each complete subtree on the right edge, smallest level first.
    pub edge: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Appends a leaf hash; returns the complete subtrees it formed, `(level, index,
    /// root)`, the leaf itself first, which a store keeps for later proofs.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let mut formed = Vec::new();
        let mut carry = leaf;
        let mut level = 0u32;
        let mut index = self.size;
        formed.push((0, index, carry));
        while let Some(&(l, left)) = self.edge.first() {
            if l != level {
                break;
            }
            self.edge.remove(0);
            carry = node_hash(&left, &carry);
            level += 1;
            index >>= 1;
            formed.push((level, index, carry));
        }
        self.edge.insert(0, (level, carry));
        self.size += 1;
        formed
    }

    /// The root of the tree so far (SHA-256 of nothing when empty).
    pub fn root(&self) -> Hash {
        let mut it = self.edge.iter();
        let Some(&(_, mut r)) = it.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in it {
            r = node_hash(left, &r);
        }
        r
    }
}

#[cfg(test)]
mod tests;
