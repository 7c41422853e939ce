//! Opening many items at once, as a frame brings them: one batched ed25519 verification
//! (ed25519-dalek's `verify_batch`) instead of one per item, which costs about half as
//! much per signature, and each author's key decompressed once instead of per item.
//!
//! The batch checks one random linear combination of the signature equations,
//! cofactorless like the `verify_strict` that [`SignedItem::open`] uses. What
//! `verify_strict` checks beyond the equation is checked per item first: neither the key
//! nor R is of small order, and R is canonically encoded (`verify_strict` compares R's
//! bytes with a canonical encoding, the batch only compares points). A batch that fails
//! is verified item by item, so exactly the bad items are refused and the good ones of
//! the same frame are kept.
//!
//! One difference remains, and only the holder of a signing key can reach it: an R with
//! a small-order component added on purpose fails `verify_strict` but can pass a batch
//! whose coefficients cancel that component (with probability up to 1/8). That is no
//! forgery: the signer spoils their own signature. `espm verify` opens every item with
//! `verify_strict` and names such an item.

use std::sync::OnceLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, VerifyingKey};

use super::{Sealed, SignedItem};
use crate::{keys::domain_message, ProtocolError};

/// Signatures per batch: past a few hundred the multiscalar multiplication gains little
/// and a batch that fails costs more to sort out.
const BATCH: usize = 128;

/// The encodings, sign bit cleared, of the eight points of small order: an R among
/// them is refused as `verify_strict` refuses it, whatever its sign bit.
fn small_order_ys() -> &'static [[u8; 32]; 8] {
    static YS: OnceLock<[[u8; 32]; 8]> = OnceLock::new();
    YS.get_or_init(|| {
        EIGHT_TORSION.map(|p| {
            let mut y = p.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
    })
}

/// Whether `y` (sign bit cleared) is below the field prime 2^255 - 19, i.e. a canonical
/// encoding of a coordinate.
fn canonical_y(y: &[u8; 32]) -> bool {
    let top_all_ones = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff);
    !(top_all_ones && y[0] >= 0xed)
}

/// Whether R, the first half of a signature, passes the checks `verify_strict` makes of
/// it beyond the equation.
fn r_acceptable(r: &[u8; 32]) -> bool {
    let mut y = *r;
    y[31] &= 0x7f;
    canonical_y(&y) && !small_order_ys().contains(&y)
}

/// An item whose envelope was read, with the key and signature to verify.
struct Pending {
    index: usize,
    sealed: Sealed,
    key: VerifyingKey,
    signature: Signature,
}

impl SignedItem {
    /// Opens each of `items` as [`SignedItem::open`] would, verifying their signatures
    /// in batches; the results are in the order of `items`.
    pub fn open_all(items: &[&[u8]]) -> Vec<Result<SignedItem, ProtocolError>> {
        open_all(items)
    }
}

fn open_all(items: &[&[u8]]) -> Vec<Result<SignedItem, ProtocolError>> {
    let mut results: Vec<Option<Result<SignedItem, ProtocolError>>> =
        (0..items.len()).map(|_| None).collect();
    // Few authors sign the items of one frame (a device, its signers, the hub): each
    // key is decompressed once.
    let mut keys: Vec<([u8; 32], Option<VerifyingKey>)> = Vec::new();
    let mut pending = Vec::with_capacity(items.len());
    for (index, bytes) in items.iter().enumerate() {
        let sealed = match Sealed::read(bytes) {
            Ok(s) => s,
            Err(e) => {
                results[index] = Some(Err(e));
                continue;
            }
        };
        let author = sealed.env.author.0;
        let key = match keys.iter().find(|(k, _)| *k == author) {
            Some((_, key)) => *key,
            None => {
                let key = VerifyingKey::from_bytes(&author)
                    .ok()
                    .filter(|k| !k.is_weak());
                keys.push((author, key));
                key
            }
        };
        let signature = Signature::from_slice(&sealed.env.sig)
            .ok()
            .filter(|s| r_acceptable(s.r_bytes()));
        match (key, signature) {
            (Some(key), Some(signature)) => pending.push(Pending {
                index,
                sealed,
                key,
                signature,
            }),
            _ => results[index] = Some(Err(sealed.bad_signature())),
        }
    }
    while !pending.is_empty() {
        let rest = pending.split_off(BATCH.min(pending.len()));
        let batch = std::mem::replace(&mut pending, rest);
        let messages: Vec<Vec<u8>> = batch
            .iter()
            .map(|p| domain_message(&p.sealed.kind.domain(), &p.sealed.env.body))
            .collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<Signature> = batch.iter().map(|p| p.signature).collect();
        let keys: Vec<VerifyingKey> = batch.iter().map(|p| p.key).collect();
        let all_good = ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok();
        for (p, message) in batch.into_iter().zip(&messages) {
            let good = all_good || p.key.verify_strict(message, &p.signature).is_ok();
            results[p.index] = Some(if good {
                p.sealed.open_body(items[p.index])
            } else {
                Err(p.sealed.bad_signature())
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ProtocolError::malformed("item envelope", "not read"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        status::{DocState, StatusUpdate},
        Item, ItemKind, SecretKey, Timestamp,
    };

    fn status(n: i64, key: &SecretKey) -> SignedItem {
        SignedItem::seal(
            Item::Status(StatusUpdate {
                doc_id: format!("d{n}"),
                satker: "123456".into(),
                state: DocState::Konversi,
                at: Timestamp(n),
                reason: None,
                by: "hub".into(),
            }),
            key,
        )
    }

    /// Bytes whose signature is flipped in its last byte (the envelope ends with it).
    fn spoiled(item: &SignedItem) -> Vec<u8> {
        let mut b = item.bytes.clone();
        let last = b.len() - 1;
        b[last] ^= 1;
        b
    }

    #[test]
    fn a_batch_of_good_items_opens_as_one_by_one() {
        let keys: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
        let items: Vec<SignedItem> = (0..300).map(|n| status(n, &keys[n as usize % 3])).collect();
        let bytes: Vec<&[u8]> = items.iter().map(|i| i.bytes.as_slice()).collect();
        let opened = open_all(&bytes);
        assert_eq!(opened.len(), 300);
        for (item, got) in items.iter().zip(opened) {
            let got = got.unwrap();
            assert_eq!(got.address, item.address);
            assert_eq!(got.author, item.author);
            assert_eq!(got.bytes, item.bytes);
        }
    }

    #[test]
    fn one_bad_signature_in_a_batch_refuses_that_item_only() {
        let key = SecretKey::generate();
        let items: Vec<SignedItem> = (0..200).map(|n| status(n, &key)).collect();
        let mut bytes: Vec<Vec<u8>> = items.iter().map(|i| i.bytes.clone()).collect();
        bytes[7] = spoiled(&items[7]);
        bytes[150] = b"not an envelope".to_vec();
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let opened = open_all(&refs);
        for (i, got) in opened.iter().enumerate() {
            match (i, got) {
                (7, Err(ProtocolError::BadSignature { address, .. })) => {
                    assert_eq!(*address, crate::Address::of(&bytes[7]).to_hex())
                }
                (150, Err(ProtocolError::Malformed { .. })) => {}
                (7 | 150, other) => panic!("item {i}: {other:?}"),
                (_, Ok(item)) => assert_eq!(item.address, items[i].address),
                (_, Err(e)) => panic!("item {i} refused: {e}"),
            }
        }
    }

    #[test]
    fn every_item_open_refuses_the_batch_refuses() {
        // Signatures made for another kind, by a small-order key, with a small-order or
        // non-canonical R: `verify_strict` refuses each, and so must the batch.
        let key = SecretKey::generate();
        let good = status(1, &key);
        let body = Item::Status(StatusUpdate {
            doc_id: "d2".into(),
            satker: "123456".into(),
            state: DocState::Konversi,
            at: Timestamp(2),
            reason: None,
            by: "hub".into(),
        })
        .encode_body();
        let wrong_kind = SignedItem::seal_raw_body(ItemKind::Receipt, body.clone(), &key);
        let mut cases = vec![wrong_kind, spoiled(&good)];
        for torsion in small_order_ys() {
            // The envelope's last 64 bytes are the signature: put a small-order R in it.
            let mut b = good.bytes.clone();
            let at = b.len() - 64;
            b[at..at + 32].copy_from_slice(torsion);
            cases.push(b);
        }
        let mut bytes: Vec<&[u8]> = vec![good.bytes.as_slice()];
        bytes.extend(cases.iter().map(Vec::as_slice));
        let opened = open_all(&bytes);
        assert!(opened[0].is_ok());
        for (i, got) in opened.iter().enumerate().skip(1) {
            assert!(got.is_err(), "case {i} was accepted");
            assert!(SignedItem::open(bytes[i]).is_err(), "case {i}");
        }
    }

    #[test]
    fn non_canonical_coordinates_are_recognised() {
        let mut p = [0xffu8; 32];
        p[31] = 0x7f;
        p[0] = 0xed; // exactly the prime
        assert!(!canonical_y(&p));
        p[0] = 0xec; // the prime minus one
        assert!(canonical_y(&p));
        assert!(canonical_y(&[0u8; 32]));
    }
}
