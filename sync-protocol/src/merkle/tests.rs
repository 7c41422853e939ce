//! The tree against Certificate Transparency's published test vectors (the eight
//! reference entries and the roots of every prefix, as RFC 6962/9162 implementations
//! share them) and against a direct reading of the RFC's definitions for trees of every
//! size up to 70; and proofs that must fail, do.

use super::*;

fn h(hex_text: &str) -> Hash {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

/// The reference entries.
fn entries() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|e| hex::decode(e).unwrap())
    .collect()
}

fn reference_leaves() -> Vec<Hash> {
    entries().iter().map(|e| leaf_hash(e)).collect()
}

/// The published roots of the first 0..=8 reference entries.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn the_roots_of_every_prefix_match_the_published_vectors() {
    let leaves = reference_leaves();
    for (n, expected) in ROOTS.iter().enumerate() {
        assert_eq!(hex::encode(root(&leaves[..n])), *expected, "size {n}");
    }
}

#[test]
fn published_inclusion_proofs_are_made_and_verify() {
    let leaves = reference_leaves();
    let root8 = h(ROOTS[8]);
    for (index, proof) in [
        (
            0usize,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ] {
        let expected: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
        assert_eq!(
            inclusion_proof(index, &leaves).unwrap(),
            expected,
            "leaf {index}"
        );
        assert!(verify_inclusion(
            index as u64,
            8,
            &leaves[index],
            &expected,
            &root8
        ));
    }
}

#[test]
fn published_consistency_proofs_are_made_and_verify() {
    let leaves = reference_leaves();
    for (old, new, proof) in [
        (1usize, 1usize, vec![]),
        (
            1,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            vec![
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            vec![
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ] {
        let expected: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
        assert_eq!(
            consistency_proof(old, &leaves[..new]).unwrap(),
            expected,
            "{old} -> {new}"
        );
        assert!(verify_consistency(
            old as u64,
            new as u64,
            &h(ROOTS[old]),
            &h(ROOTS[new]),
            &expected
        ));
    }
}

/// The RFC's MTH read literally, to check the tree beyond the published sizes.
fn reference_root(entries: &[Vec<u8>]) -> Hash {
    match entries.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(&entries[0]),
        n => {
            let k = (0..)
                .map(|i| 1usize << i)
                .take_while(|k| *k < n)
                .last()
                .unwrap();
            node_hash(
                &reference_root(&entries[..k]),
                &reference_root(&entries[k..]),
            )
        }
    }
}

#[test]
fn every_proof_of_every_tree_up_to_seventy_leaves_verifies_and_a_changed_one_does_not() {
    let entries: Vec<Vec<u8>> = (0..70u32)
        .map(|i| i.to_be_bytes().repeat(i as usize % 5))
        .collect();
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    for n in 1..=entries.len() {
        let r = root(&leaves[..n]);
        assert_eq!(r, reference_root(&entries[..n]), "root of {n}");
        for i in 0..n {
            let proof = inclusion_proof(i, &leaves[..n]).unwrap();
            assert!(verify_inclusion(i as u64, n as u64, &leaves[i], &proof, &r));
            // Another leaf, or the leaf at another position, is refused. (The size is
            // bound by the signed checkpoint that names the root, not by the proof.)
            let other = leaves[(i + 1) % n];
            if other != leaves[i] {
                assert!(!verify_inclusion(i as u64, n as u64, &other, &proof, &r));
            }
            if n > 1 {
                let wrong = (i + 1) % n;
                assert!(!verify_inclusion(
                    wrong as u64,
                    n as u64,
                    &leaves[i],
                    &proof,
                    &r
                ));
            }
        }
        for m in 1..=n {
            let proof = consistency_proof(m, &leaves[..n]).unwrap();
            let old = root(&leaves[..m]);
            assert!(
                verify_consistency(m as u64, n as u64, &old, &r, &proof),
                "{m} -> {n}"
            );
            if m < n {
                // A rewritten history: the same sizes, another first tree.
                let mut forked = leaves[..n].to_vec();
                forked[0] = leaf_hash(b"rewritten");
                let forked_old = root(&forked[..m]);
                assert!(!verify_consistency(
                    m as u64,
                    n as u64,
                    &forked_old,
                    &r,
                    &proof
                ));
                // Nothing proves a tree consistent with itself at another size.
                assert!(!verify_consistency(m as u64, n as u64, &r, &r, &[]));
            }
        }
    }
}

#[test]
fn two_trees_of_one_size_with_different_roots_are_not_consistent() {
    let leaves = reference_leaves();
    let mut fork = leaves.clone();
    fork[3] = leaf_hash(b"another entry");
    assert!(!verify_consistency(8, 8, &root(&leaves), &root(&fork), &[]));
    // A smaller tree never "extends" a bigger one.
    assert!(!verify_consistency(
        8,
        5,
        &root(&leaves),
        &root(&leaves[..5]),
        &[]
    ));
    assert!(consistency_proof(0, &leaves).is_none());
    assert!(consistency_proof(9, &leaves).is_none());
    assert!(inclusion_proof(8, &leaves).is_none());
}

fn leaves_of(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
        .collect()
}

#[test]
fn proofs_from_stored_subtrees_equal_proofs_from_every_leaf() {
    let all = leaves_of(70);
    let source = Leaves(&all);
    for n in 1..=all.len() {
        let tree = &all[..n];
        assert_eq!(
            tree_root(&source, n as u64).unwrap(),
            root(tree),
            "root {n}"
        );
        for m in 0..n {
            assert_eq!(
                tree_inclusion(&source, m as u64, n as u64).unwrap(),
                inclusion_proof(m, tree),
                "inclusion {m} of {n}"
            );
        }
        for old in 0..=n + 1 {
            assert_eq!(
                tree_consistency(&source, old as u64, n as u64).unwrap(),
                consistency_proof(old, tree),
                "consistency {old} to {n}"
            );
        }
    }
    assert_eq!(tree_inclusion(&source, 5, 5).unwrap(), None);
}

#[test]
fn the_frontier_knows_the_root_after_every_append_and_forms_each_subtree_once() {
    let all = leaves_of(70);
    let mut frontier = Frontier::default();
    assert_eq!(frontier.root(), root(&[]));
    let mut formed = std::collections::BTreeMap::new();
    for (i, leaf) in all.iter().enumerate() {
        // The path of a leaf appended last is the frontier before it, smallest first.
        let path: Vec<Hash> = frontier.edge.iter().map(|(_, h)| *h).collect();
        for (level, index, hash) in frontier.push(*leaf) {
            assert!(formed.insert((level, index), hash).is_none());
        }
        let n = i + 1;
        assert_eq!(frontier.root(), root(&all[..n]), "root after {n}");
        assert_eq!(Some(path), inclusion_proof(i, &all[..n]), "path of {i}");
    }
    // Every complete subtree was formed, with the right root.
    for ((level, index), hash) in formed {
        let start = (index << level) as usize;
        assert_eq!(hash, root(&all[start..start + (1 << level)]));
    }
}
