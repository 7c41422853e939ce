//! Checkpoints and delivery proofs through the real sync session, in memory: a satker's
//! session ends with a signed checkpoint and the proof of its receipts, the proof checks
//! offline and a tampered one does not, and a hub that signs two histories is caught.

use std::sync::Arc;

use storage::StreamEntry;
use sync_protocol::{Address, Checkpoint, Extends, Item, SignedItem, StreamId};

use crate::{
    auditor::verify::verify,
    node::Node,
    proof,
    schema::{NEWEST_CHECKPOINT, PROVEN, RECEIPT_OF},
    testkit::World,
};

const SATKER: &str = "123456";

/// A hub that receipted one SPM of a satker device, and the device after its sync.
fn delivered() -> (World, Arc<Node>, String) {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let doc = w.submit_spm(&device, &ppspm, "spm-bukti-0001", Vec::new());
    w.sync(&device);
    (w, device, doc)
}

/// The hub publishes `checkpoint`, signed with its service key, in the trust stream.
fn hub_publishes(w: &World, checkpoint: Checkpoint) -> Address {
    let key = w.hub.service.as_ref().expect("the hub has a service key");
    let sealed = SignedItem::seal(Item::Checkpoint(checkpoint), key);
    w.hub
        .store
        .write(|t| {
            t.put_item(&sealed.bytes)?;
            t.append(
                &StreamId::Trust,
                StreamEntry {
                    address: sealed.address,
                    origin: None,
                },
            )?;
            Ok(())
        })
        .unwrap();
    sealed.address
}

#[test]
fn a_satker_session_ends_with_a_signed_checkpoint_and_the_proof_of_its_receipt() {
    let (w, device, doc) = delivered();
    let newest = NEWEST_CHECKPOINT
        .get(&device.store)
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(newest.size, w.hub.store.hub_log_len().unwrap());
    let receipt = RECEIPT_OF
        .get(&device.store, &format!("{SATKER}/{doc}"))
        .unwrap()
        .expect("the receipt is indexed");
    assert!(PROVEN
        .get(&device.store, &receipt.to_hex())
        .unwrap()
        .is_some());
    let p = proof::make(&device, &doc).unwrap();
    let text = serde_json::to_string(&p).unwrap();
    let checked = proof::check(&text, &w.hub.node_id());
    assert!(checked.ok, "{checked:?}");
    assert_eq!(checked.doc_id, doc);
    assert_eq!(checked.checkpoint.unwrap().address, newest.address);
    // The hub proves it from its own tree too.
    assert!(
        proof::check(
            &serde_json::to_string(&proof::make(&w.hub, &doc).unwrap()).unwrap(),
            &w.hub.node_id()
        )
        .ok
    );
    assert!(verify(&device).unwrap().ok());
    assert!(verify(&w.hub).unwrap().ok());
}

#[test]
fn a_tampered_delivery_proof_is_refused() {
    let (w, device, doc) = delivered();
    let good = proof::make(&device, &doc).unwrap();
    let hub = w.hub.node_id();
    let refused = |p: &proof::DeliveryProof| {
        let c = proof::check(&serde_json::to_string(p).unwrap(), &hub);
        assert!(!c.ok && c.reason.is_some(), "{c:?}");
    };
    let mut p = good.clone();
    p.leaf_index += 1;
    refused(&p);
    let mut p = good.clone();
    let mut h = p.inclusion[0].clone().into_bytes();
    h[0] = if h[0] == b'0' { b'1' } else { b'0' };
    p.inclusion[0] = String::from_utf8(h).unwrap();
    refused(&p);
    let mut p = good.clone();
    p.doc_id = "spm-lain-0002".into();
    refused(&p);
    let mut p = good.clone();
    p.receipt = p.submission.clone();
    refused(&p);
    let mut p = good.clone();
    p.inclusion.pop();
    refused(&p);
    // A byte changed inside the signed receipt.
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    let mut p = good.clone();
    let mut bytes = B64.decode(&p.receipt).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    p.receipt = B64.encode(bytes);
    refused(&p);
    // Checked against another hub.
    let other = World::new();
    let c = proof::check(&serde_json::to_string(&good).unwrap(), &other.hub.node_id());
    assert!(!c.ok);
    assert!(proof::check("not json", &hub).reason.is_some());
}

#[test]
fn a_hub_that_signs_two_logs_of_one_size_is_shown_with_both_checkpoints() {
    let (w, device, _) = delivered();
    let real = NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap();
    let forged = hub_publishes(
        &w,
        Checkpoint {
            size: real.size,
            root: Address([7; 32]),
            at: w.hub.now(),
            previous: None,
        },
    );
    w.sync(&device);
    // The newest checkpoint stays the one that extends what the device held.
    assert_eq!(NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap(), real);
    let v = verify(&device).unwrap();
    assert!(!v.ok());
    let f = v
        .failures
        .iter()
        .find(|f| f.reason.contains("FORKED HISTORY"))
        .expect("the fork is reported");
    assert!(
        f.evidence.contains(&real.address) && f.evidence.contains(&forged),
        "{f:?}"
    );
    assert!(v.evidence.contains_key(&forged) && v.evidence.contains_key(&real.address));
    // The hub's own verify says its log is not what it signed.
    assert!(verify(&w.hub)
        .unwrap()
        .failures
        .iter()
        .any(|f| f.item == forged.to_hex()));
}

#[test]
fn a_checkpoint_whose_tree_does_not_extend_the_one_before_it_fails_verification() {
    let (w, device, _) = delivered();
    let real = NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap();
    let forged = hub_publishes(
        &w,
        Checkpoint {
            size: real.size + 5,
            root: Address([9; 32]),
            at: w.hub.now(),
            previous: Some(Extends {
                size: real.size,
                root: real.root,
                proof: vec![Address([1; 32]), Address([2; 32])],
            }),
        },
    );
    w.sync(&device);
    assert_eq!(NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap(), real);
    let v = verify(&device).unwrap();
    assert!(
        v.failures
            .iter()
            .any(|f| f.item == forged.to_hex() && f.reason.contains("does not extend")),
        "{:?}",
        v.failures
    );
}

#[test]
fn a_second_session_proves_against_a_checkpoint_that_extends_the_first() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    w.submit_spm(&device, &ppspm, "spm-bukti-0001", Vec::new());
    w.sync(&device);
    let first = NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap();
    let doc = w.submit_spm(&device, &ppspm, "spm-bukti-0002", Vec::new());
    w.sync(&device);
    let second = NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap();
    assert!(second.size > first.size);
    let p = proof::make(&device, &doc).unwrap();
    assert!(proof::check(&serde_json::to_string(&p).unwrap(), &w.hub.node_id()).ok);
    assert!(
        verify(&device).unwrap().ok(),
        "{:?}",
        verify(&device).unwrap().failures
    );
}

#[test]
fn two_checkpoints_that_both_follow_the_same_one_are_a_fork_even_when_each_extends_it() {
    let (w, device, _) = delivered();
    let real = NEWEST_CHECKPOINT.get(&device.store).unwrap().unwrap();
    // A second "first" checkpoint of a longer, different log: on its own it claims to
    // extend nothing, so no proof fails; beside the real first one it is a branch.
    let forged = hub_publishes(
        &w,
        Checkpoint {
            size: real.size + 3,
            root: Address([5; 32]),
            at: w.hub.now(),
            previous: None,
        },
    );
    w.sync(&device);
    let v = verify(&device).unwrap();
    let f = v
        .failures
        .iter()
        .find(|f| f.reason.contains("both follow"))
        .unwrap_or_else(|| panic!("the branch is reported: {:?}", v.failures));
    // The other half of the evidence is the hub's real first checkpoint (earlier
    // sessions, the signer's certificate, already had one signed).
    assert!(
        f.evidence.contains(&forged) && f.evidence.len() == 2,
        "{f:?}"
    );
    let first = f.evidence.iter().find(|a| **a != forged).unwrap();
    let Item::Checkpoint(c) = SignedItem::open(&device.store.item(first).unwrap().unwrap())
        .unwrap()
        .item
    else {
        panic!("the evidence is a checkpoint");
    };
    assert!(c.previous.is_none() && c.size <= real.size);
}

#[test]
fn a_receipt_covered_by_another_sessions_checkpoint_is_proven_against_it_there_too() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let doc = w.submit_spm(&device, &ppspm, "spm-bukti-0003", Vec::new());
    // The link drops right after the hub took the device's first flight: the receipt is
    // issued, the session never settles.
    w.sync_until(&device, |t| {
        t.up.iter()
            .any(|m| matches!(m, sync_protocol::Message::Done { .. }))
    });
    assert!(RECEIPT_OF
        .get(&w.hub.store, &format!("{SATKER}/{doc}"))
        .unwrap()
        .is_some());
    // Another satker's session settles first: its checkpoint covers this receipt.
    crate::hub::checkpoint::settle(&w.hub, Some("654321"), w.hub.now()).unwrap();
    // The next session adds nothing to the log, and still brings the proof and the
    // checkpoint it is against.
    w.sync(&device);
    let p = proof::make(&device, &doc).unwrap();
    let checked = proof::check(&serde_json::to_string(&p).unwrap(), &w.hub.node_id());
    assert!(checked.ok, "{checked:?}");
    assert!(verify(&device).unwrap().ok());
}
