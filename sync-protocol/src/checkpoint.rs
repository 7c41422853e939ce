//! The hub's signed checkpoints and the inclusion proofs it sends against them, as a
//! transparency log's signed tree heads are (RFC 9162 §4.10): a checkpoint names the
//! size and root of the hub's Merkle log at a time, and proves with a consistency proof
//! that it extends the checkpoint before it; the inclusion proofs show a satker's
//! submissions are in the log that checkpoint names.
//!
//! Pure data and pure checks: whoever holds two tree heads can tell, offline, whether
//! they are one history or two. Nothing here trusts the hub: a claim that does not
//! verify is reported, never repaired.

use serde::{Deserialize, Serialize};

use crate::{leaf_hash, verify_consistency, verify_inclusion, Address, Timestamp};

/// The most inclusion proofs one [`Inclusions`] item carries, so that it stays well
/// within a frame; more receipts are spread over several items.
pub const MAX_PROOFS_PER_ITEM: usize = 256;

/// The longest proof path accepted: a tree of 2^64 entries needs 64 hashes.
pub const MAX_PATH: usize = 64;

/// A tree size and root: what a checkpoint says, and what every receipt says about the
/// log right after its submission was entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeHead {
    /// Entries in the log.
    pub size: u64,
    /// The RFC 9162 root of those entries.
    pub root: Address,
}

/// The checkpoint a new one extends, with the RFC 9162 consistency proof from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extends {
    /// The earlier checkpoint's size.
    pub size: u64,
    /// The earlier checkpoint's root.
    pub root: Address,
    /// The consistency proof from that tree to this one.
    pub proof: Vec<Address>,
}

/// The hub's signed statement of its log: signed by its service key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Entries in the log.
    pub size: u64,
    /// The RFC 9162 root over them.
    pub root: Address,
    /// When the hub signed it.
    pub at: Timestamp,
    /// The checkpoint this one extends; none for the first.
    pub previous: Option<Extends>,
}

/// One submission's place in the log a checkpoint names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The receipt the hub issued for it.
    pub receipt: Address,
    /// The submission item: its address is the log entry.
    pub submission: Address,
    /// Its leaf index (the receipt's `log_seq` minus one).
    pub leaf_index: u64,
    /// The RFC 9162 inclusion proof, from the leaf up.
    pub path: Vec<Address>,
}

/// The hub's inclusion proofs for one satker's receipts against one checkpoint, sent to
/// that satker's scope so its nodes can prove delivery offline. Signed by the service key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inclusions {
    /// The checkpoint item the proofs are against.
    pub checkpoint: Address,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Address,
    /// The satker whose receipts these are.
    pub satker: String,
    /// The proofs.
    pub proofs: Vec<InclusionProof>,
}

/// Why two tree heads, or a checkpoint and its own claim, are not one history.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fork {
    /// Two heads of one size with different roots.
    #[error("two different logs of {size} entries: roots {first} and {second}")]
    SameSize {
        /// The size both claim.
        size: u64,
        /// One root.
        first: Address,
        /// The other.
        second: Address,
    },
    /// A checkpoint whose consistency proof does not show it extends the tree it names.
    #[error(
        "the log of {size} entries does not extend the earlier log of {from} entries \
         (root {from_root}): its consistency proof fails, so history was rewritten"
    )]
    DoesNotExtend {
        /// The newer size.
        size: u64,
        /// The size it claims to extend.
        from: u64,
        /// The root it claims to extend.
        from_root: Address,
    },
}

impl Checkpoint {
    /// Its tree head.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root,
        }
    }

    /// The head it says it extends.
    pub fn previous_head(&self) -> Option<TreeHead> {
        self.previous.as_ref().map(|p| TreeHead {
            size: p.size,
            root: p.root,
        })
    }

    /// Whether its own consistency proof shows it extends the checkpoint it names.
    pub fn check_extends(&self) -> Result<(), Fork> {
        let Some(p) = &self.previous else {
            return Ok(());
        };
        let proof: Vec<[u8; 32]> = p.proof.iter().map(|a| a.0).collect();
        if p.proof.len() <= MAX_PATH
            && verify_consistency(p.size, self.size, &p.root.0, &self.root.0, &proof)
        {
            Ok(())
        } else {
            Err(Fork::DoesNotExtend {
                size: self.size,
                from: p.size,
                from_root: p.root,
            })
        }
    }
}

/// Whether two checkpoints both claim to come next after the same checkpoint (or both
/// to be the first): the hub signs one chain, each checkpoint naming the last it signed,
/// so two different successors of one checkpoint are two histories, even when each on
/// its own extends it.
pub fn branches(a: &Checkpoint, b: &Checkpoint) -> bool {
    a.previous_head() == b.previous_head() && a.head() != b.head()
}

/// Whether two tree heads contradict each other: the same size with different roots.
/// (Heads of different sizes are checked through the consistency proofs that link them.)
pub fn contradicts(a: TreeHead, b: TreeHead) -> Option<Fork> {
    (a.size == b.size && a.root != b.root).then_some(Fork::SameSize {
        size: a.size,
        first: a.root,
        second: b.root,
    })
}

impl InclusionProof {
    /// Whether it shows its submission in the tree of `head`.
    pub fn holds(&self, head: TreeHead) -> bool {
        let path: Vec<[u8; 32]> = self.path.iter().map(|a| a.0).collect();
        self.path.len() <= MAX_PATH
            && verify_inclusion(
                self.leaf_index,
                head.size,
                &leaf_hash(&self.submission.0),
                &path,
                &head.root.0,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{consistency_proof, inclusion_proof, merkle_root, MerkleHash};

    fn log(entries: &[&str]) -> Vec<MerkleHash> {
        entries
            .iter()
            .map(|e| leaf_hash(&Address::of(e.as_bytes()).0))
            .collect()
    }

    fn checkpoint(leaves: &[MerkleHash], from: Option<usize>) -> Checkpoint {
        Checkpoint {
            size: leaves.len() as u64,
            root: Address(merkle_root(leaves)),
            at: Timestamp(0),
            previous: from.map(|m| Extends {
                size: m as u64,
                root: Address(merkle_root(&leaves[..m])),
                proof: consistency_proof(m, leaves)
                    .unwrap()
                    .into_iter()
                    .map(Address)
                    .collect(),
            }),
        }
    }

    #[test]
    fn a_checkpoint_that_extends_the_one_before_it_is_one_history() {
        let leaves = log(&["a", "b", "c", "d", "e", "f", "g"]);
        checkpoint(&leaves, Some(3)).check_extends().unwrap();
        checkpoint(&leaves, None).check_extends().unwrap();
        checkpoint(&leaves, Some(7)).check_extends().unwrap();
    }

    #[test]
    fn a_checkpoint_that_rewrote_an_early_entry_does_not_extend_the_one_before_it() {
        let honest = log(&["a", "b", "c", "d", "e"]);
        let rewritten = log(&["a", "B", "c", "d", "e", "f"]);
        let mut forged = checkpoint(&rewritten, Some(3));
        // It claims to extend the honest tree of 3 with the rewritten tree's proof.
        forged.previous.as_mut().unwrap().root = Address(merkle_root(&honest[..3]));
        assert!(matches!(
            forged.check_extends(),
            Err(Fork::DoesNotExtend {
                size: 6,
                from: 3,
                ..
            })
        ));
        // A "previous" bigger than the checkpoint never extends.
        let mut shrunk = checkpoint(&honest, Some(5));
        shrunk.size = 4;
        shrunk.root = Address(merkle_root(&honest[..4]));
        assert!(shrunk.check_extends().is_err());
    }

    #[test]
    fn two_checkpoints_of_one_size_with_different_roots_contradict() {
        let a = checkpoint(&log(&["a", "b", "c"]), None);
        let b = checkpoint(&log(&["a", "x", "c"]), None);
        assert!(matches!(
            contradicts(a.head(), b.head()),
            Some(Fork::SameSize { size: 3, .. })
        ));
        assert_eq!(contradicts(a.head(), a.head()), None);
        let bigger = checkpoint(&log(&["a", "b", "c", "d"]), Some(3));
        assert_eq!(contradicts(a.head(), bigger.head()), None);
    }

    #[test]
    fn two_checkpoints_that_both_follow_one_checkpoint_are_two_histories() {
        let first = log(&["a", "b", "c"]);
        let one = checkpoint(&log(&["a", "b", "c", "d"]), Some(3));
        let other = checkpoint(&log(&["a", "b", "c", "x", "y"]), Some(3));
        // Each extends the first on its own; together they branch.
        one.check_extends().unwrap();
        other.check_extends().unwrap();
        assert!(branches(&one, &other));
        assert!(!branches(&one, &one));
        // The next one in an honest chain names the one before it, not the first.
        let next = checkpoint(&log(&["a", "b", "c", "d", "e"]), Some(4));
        assert!(!branches(&one, &next));
        // Two different first checkpoints branch too.
        assert!(branches(
            &checkpoint(&first, None),
            &checkpoint(&log(&["q"]), None)
        ));
    }

    #[test]
    fn an_inclusion_proof_holds_only_for_its_own_entry_and_tree() {
        let names = ["s1", "s2", "s3", "s4", "s5"];
        let leaves = log(&names);
        let head = checkpoint(&leaves, None).head();
        let proof = InclusionProof {
            receipt: Address([9; 32]),
            submission: Address::of(b"s4"),
            leaf_index: 3,
            path: inclusion_proof(3, &leaves)
                .unwrap()
                .into_iter()
                .map(Address)
                .collect(),
        };
        assert!(proof.holds(head));
        let mut other = proof.clone();
        other.submission = Address::of(b"s5");
        assert!(!other.holds(head));
        let mut moved = proof.clone();
        moved.leaf_index = 2;
        assert!(!moved.holds(head));
        let mut tampered = proof.clone();
        tampered.path[0].0[0] ^= 1;
        assert!(!tampered.holds(head));
        let forked = checkpoint(&log(&["s1", "s2", "x", "s4", "s5"]), None).head();
        assert!(!proof.holds(forked));
    }
}
