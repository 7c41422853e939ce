//! The guard against what honest automerge sends and what a hostile peer would craft.

use std::time::Instant;

use sync_protocol::DocKind;

use super::*;
use crate::draft::{craft, Draft, SyncState, MAX_DRAFT_BYTES};

const ACTOR: [u8; 16] = [0xab; 16];
const MIB: u64 = 1024 * 1024;

fn draft() -> Draft {
    let mut d = Draft::new("d1", DocKind::Spm, "123456").unwrap();
    d.set_field("nomor", "00001/SPM/2026").unwrap();
    d
}

/// What `receive_sync_message` makes of `bytes` on a fresh draft, and whether the draft
/// is unchanged afterwards.
fn receive(d: &mut Draft, bytes: &[u8]) -> Result<bool, StoreError> {
    d.receive_sync_message(&mut SyncState::new(), bytes)
}

fn limit_of(e: &StoreError) -> Option<(Bound, u64)> {
    match e {
        StoreError::DraftLimit { bound, limit } => Some((*bound, *limit)),
        _ => None,
    }
}

/// Runs automerge's sync between two drafts, passing every message through the guard
/// first; returns the shapes of all messages.
fn sync_pair(a: &mut Draft, b: &mut Draft) -> Vec<Shape> {
    let (mut sa, mut sb) = (SyncState::new(), SyncState::new());
    let mut shapes = Vec::new();
    for _ in 0..100 {
        let ab = a.generate_sync_message(&mut sa).unwrap();
        if let Some(m) = &ab {
            shapes.push(check_sync_message(m, &Limits::PEER).unwrap());
            b.receive_sync_message(&mut sb, m).unwrap();
        }
        let ba = b.generate_sync_message(&mut sb).unwrap();
        if let Some(m) = &ba {
            shapes.push(check_sync_message(m, &Limits::PEER).unwrap());
            a.receive_sync_message(&mut sa, m).unwrap();
        }
        if ab.is_none() && ba.is_none() {
            return shapes;
        }
    }
    panic!("the drafts never converged");
}

/// Text that deflate cannot shrink to nothing, like a real description.
fn prose(len: usize, seed: u64) -> String {
    let words = [
        "belanja",
        "ATK",
        "kantor",
        "perjalanan",
        "dinas",
        "honor",
        "rapat",
    ];
    let mut x = seed | 1;
    let mut out = String::new();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(words[(x % words.len() as u64) as usize]);
        out.push(' ');
    }
    out.truncate(len);
    out
}

/// Letters deflate can shrink only to about three quarters.
fn noise(len: usize, seed: u64) -> String {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            let v = (next(&mut x) % 62) as u8;
            (match v {
                0..=25 => b'a' + v,
                26..=51 => b'A' + v - 26,
                _ => b'0' + v - 52,
            }) as char
        })
        .collect()
}

#[test]
fn an_honest_first_sync_sends_deflated_document_columns_and_they_pass() {
    let mut a = draft();
    // Over 256 bytes, so automerge deflates the value column when it saves.
    a.set_field("uraian", &prose(4000, 7)).unwrap();
    let mut b = Draft::empty();
    // The empty copy speaks first, as a device pulling a draft it lacks does: automerge
    // then answers with the whole document.
    let shapes = sync_pair(&mut b, &mut a);
    let whole = shapes
        .iter()
        .find(|s| s.document_chunks == 1)
        .expect("automerge sends an empty peer the whole document");
    assert!(whole.deflated_columns >= 1, "{whole:?}");
    assert!(whole.inflated_bytes >= 4000, "{whole:?}");
    assert_eq!(b.fields().unwrap(), a.fields().unwrap());

    // Later edits travel as plain change chunks, on both sides.
    a.set_field("nilai", "1500000").unwrap();
    b.set_field("uraian", &prose(3000, 11)).unwrap();
    let shapes = sync_pair(&mut a, &mut b);
    assert!(shapes.iter().map(|s| s.change_chunks).sum::<u64>() >= 2);
    assert_eq!(a.fields().unwrap(), b.fields().unwrap());
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn a_small_crafted_compressed_change_is_one_automerge_applies() {
    // The bombs below are this change, only bigger: it is well formed, so before the
    // guard automerge would have inflated and kept a bomb's string.
    let mut d = draft();
    let before = d.digest();
    let chunk = craft::compressed_put_string_change(&ACTOR, "padding", 4096, b'a');
    let shape = check_sync_message(&craft::message(&chunk, &[]), &Limits::PEER).unwrap();
    assert_eq!((shape.compressed_changes, shape.rows), (1, 1));
    assert!(receive(&mut d, &craft::message(&chunk, &[])).unwrap());
    assert_ne!(d.digest(), before);
    let saved = Draft::load(&d.save_received().unwrap()).unwrap();
    assert_eq!(saved.fields().unwrap()["nomor"], "00001/SPM/2026");
    // It is byte for byte what automerge itself makes for that edit.
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(&ACTOR[..]));
    automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "abc").unwrap();
    let own = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    assert_eq!(own, craft::put_string_change(&ACTOR, "k", b"abc"));
}

#[test]
fn a_change_that_would_leave_a_draft_that_does_not_load_is_refused() {
    let mut d = draft();
    let odd = craft::put_string_change_in_runs(&ACTOR, "k", b"abc");
    // automerge applies it, but the document it then saves does not load.
    assert!(receive(&mut d, &craft::message(&odd, &[])).unwrap());
    assert!(Draft::load(&d.save()).is_err());
    let e = d.save_received().unwrap_err();
    assert!(e.to_string().contains("does not load again"), "{e}");
}

#[test]
fn a_compressed_change_bomb_is_refused_before_automerge_sees_it() {
    let bomb = craft::message(
        &craft::compressed_put_string_change(&ACTOR, "padding", 256 * MIB, b'a'),
        &[],
    );
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let mut d = draft();
    let before = d.digest();
    let started = Instant::now();
    let e = receive(&mut d, &bomb).unwrap_err();
    eprintln!(
        "a {} byte message inflating to 256 MiB refused in {:?}",
        bomb.len(),
        started.elapsed()
    );
    assert_eq!(limit_of(&e), Some((Bound::Expanded, 8 * MIB)));
    assert!(e.to_string().contains("more than 8388608 bytes"), "{e}");
    assert_eq!(d.digest(), before);
}

#[test]
fn a_document_chunk_whose_deflated_column_inflates_past_the_cap_is_refused() {
    let chunk = craft::deflated_column_document(&ACTOR, 64 * MIB);
    let bomb = craft::message(&chunk, &[]);
    let e = check_sync_message(&bomb, &Limits::PEER).unwrap_err();
    assert_eq!(limit_of(&e), Some((Bound::Expanded, 8 * MIB)));
    let mut d = Draft::empty();
    assert_eq!(
        limit_of(&receive(&mut d, &bomb).unwrap_err()).unwrap().0,
        Bound::Expanded
    );
    assert!(d.is_empty());
    // The same column at 1 MiB is within the cap: the guard passes it on (automerge
    // then refuses it for having no metadata column).
    let small = craft::message(&craft::deflated_column_document(&ACTOR, MIB), &[]);
    let shape = check_sync_message(&small, &Limits::PEER).unwrap();
    assert_eq!((shape.deflated_columns, shape.inflated_bytes), (1, MIB));
}

#[test]
fn a_run_length_run_declaring_a_billion_operations_is_refused() {
    let chunk = craft::rle_row_change(&ACTOR, 1_000_000_000, "k");
    assert!(chunk.len() < 100, "{} bytes", chunk.len());
    let bomb = craft::message(&chunk, &[]);
    let mut d = draft();
    let before = d.digest();
    let e = receive(&mut d, &bomb).unwrap_err();
    assert_eq!(limit_of(&e), Some((Bound::Rows, 100_000)));
    assert!(e.to_string().contains("more than 100000 operations"), "{e}");
    assert_eq!(d.digest(), before);
    // The same change with three rows is one automerge applies.
    let small = craft::message(&craft::rle_row_change(&ACTOR, 3, "k"), &[]);
    assert_eq!(check_sync_message(&small, &Limits::PEER).unwrap().rows, 3);
    assert!(receive(&mut d, &small).unwrap());
}

#[test]
fn rows_are_counted_across_the_chunks_of_one_message() {
    // Each chunk is under the cap; together they are not.
    let one = craft::rle_row_change(&ACTOR, 60_000, "k");
    let two = craft::rle_row_change(&[0xcd; 16], 60_000, "k");
    let e = receive(&mut draft(), &craft::message(&[one, two].concat(), &[])).unwrap_err();
    assert_eq!(limit_of(&e), Some((Bound::Rows, 100_000)));
}

#[test]
fn a_repeated_long_key_counts_as_expanded_bytes() {
    // A 64 KiB key for each of 1000 operations: automerge copies it for every one.
    let key = "k".repeat(64 * 1024);
    let bomb = craft::message(&craft::rle_row_change(&ACTOR, 1000, &key), &[]);
    let e = receive(&mut draft(), &bomb).unwrap_err();
    assert_eq!(limit_of(&e).unwrap().0, Bound::Expanded);
    // The same key for 100 operations is 6.4 MiB: within the cap.
    let fits = craft::message(&craft::rle_row_change(&ACTOR, 100, &key), &[]);
    assert_eq!(check_sync_message(&fits, &Limits::PEER).unwrap().rows, 100);
}

#[test]
fn a_bloom_filter_asking_for_billions_of_probes_is_refused() {
    // automerge would allocate a vector of 4 billion probes for every change it tests.
    let bomb = craft::message(&[], &[craft::bloom(1, 10, u64::from(u32::MAX))]);
    let e = receive(&mut draft(), &bomb).unwrap_err();
    assert_eq!(limit_of(&e), Some((Bound::BloomProbes, 32)));
    // automerge's own filter passes.
    let honest = craft::message(&[], &[craft::bloom(3, 10, 7)]);
    assert!(check_sync_message(&honest, &Limits::PEER).is_ok());
    // A filter with entries and no bits would make automerge divide by zero.
    let empty = craft::message(&[], &[craft::bloom(1, 0, 7)]);
    let e = receive(&mut draft(), &empty).unwrap_err();
    assert!(matches!(e, StoreError::Draft(_)), "{e}");
}

#[test]
fn more_bloom_filters_than_automerge_sends_are_refused() {
    let many: Vec<Vec<u8>> = (0..9).map(|_| craft::bloom(1, 10, 7)).collect();
    let e = receive(&mut draft(), &craft::message(&[], &many)).unwrap_err();
    assert_eq!(limit_of(&e), Some((Bound::Haves, 8)));
}

#[test]
fn chunks_the_guard_cannot_read_are_refused_not_passed_on() {
    let good = craft::rle_row_change(&ACTOR, 3, "k");
    let mut junk_after = good.clone();
    junk_after.extend([1, 2, 3]);
    let mut unknown_type = good.clone();
    unknown_type[8] = 7;
    let mut short = good.clone();
    short.pop();
    let deflated_change_column = craft::sealed_chunk(
        1,
        &craft::change_body(&ACTOR, &[(craft::VALUE | craft::DEFLATE, vec![0; 4])]),
    );
    for chunks in [junk_after, unknown_type, short, deflated_change_column] {
        let e = receive(&mut draft(), &craft::message(&chunks, &[])).unwrap_err();
        assert!(
            matches!(&e, StoreError::Draft(d) if d.starts_with("unreadable sync message")),
            "{e}"
        );
    }
}

#[test]
fn a_peer_cannot_grow_a_draft_past_its_bound() {
    let mut d = draft();
    d.set_field("uraian", &noise(MAX_DRAFT_BYTES * 2, 3))
        .unwrap();
    let Err(e) = d.save_received() else {
        panic!("a draft over the bound was saved");
    };
    assert_eq!(
        limit_of(&e),
        Some((Bound::DraftBytes, MAX_DRAFT_BYTES as u64))
    );
    assert!(e.to_string().contains("shorten its fields"), "{e}");
    assert!(draft().save_received().is_ok());
}

/// xorshift: a fixed, seedable stream of mutations.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn mutated_honest_messages_never_panic_the_guard() {
    let mut a = draft();
    a.set_field("uraian", &prose(2000, 5)).unwrap();
    let (mut sa, sb) = (SyncState::new(), SyncState::new());
    let mut messages = Vec::new();
    // The first messages of a conversation, the whole document among them.
    let mut b = Draft::empty();
    let mut sb = sb;
    for _ in 0..3 {
        if let Some(m) = a.generate_sync_message(&mut sa).unwrap() {
            b.receive_sync_message(&mut sb, &m).unwrap();
            messages.push(m);
        }
        if let Some(m) = b.generate_sync_message(&mut sb).unwrap() {
            a.receive_sync_message(&mut sa, &m).unwrap();
            messages.push(m);
        }
    }
    messages.push(craft::message(&craft::rle_row_change(&ACTOR, 3, "k"), &[]));
    messages.push(craft::message(
        &craft::compressed_put_string_change(&ACTOR, "k", 600, b'x'),
        &[],
    ));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for m in &messages {
        for cut in 0..m.len() {
            let _ = check_sync_message(&m[..cut], &Limits::PEER);
        }
        for _ in 0..2000 {
            let mut bad = m.clone();
            for _ in 0..1 + next(&mut x) % 3 {
                let i = (next(&mut x) % bad.len() as u64) as usize;
                bad[i] = next(&mut x) as u8;
            }
            let _ = check_sync_message(&bad, &Limits::PEER);
        }
    }
}
