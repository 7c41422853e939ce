//! The lockout rule on its own, and against parallel guesses on a real store.

use std::sync::{Arc, Barrier};

use storage::SealedKey;
use sync_protocol::SecretKey;

use super::*;
use crate::{config::NodeConfig, node::Node};

#[test]
fn five_wrong_attempts_lock_and_the_sixth_is_refused_unchecked() {
    let mut a = Attempts::default();
    let now = Timestamp(1_000);
    for n in 1..=MAX_FAILURES {
        assert_eq!(admit(&mut a, now), Admission::Counted(n));
        let locked = failed(&mut a, now);
        assert_eq!(locked.is_some(), n == MAX_FAILURES, "after {n}");
    }
    assert_eq!(
        admit(&mut a, Timestamp(now.0 + 1)),
        Admission::Locked(Timestamp(now.0 + LOCK_MS))
    );
    // The lock ends on time and the count starts again.
    assert_eq!(
        admit(&mut a, Timestamp(now.0 + LOCK_MS)),
        Admission::Counted(1)
    );
}

#[test]
fn attempts_in_flight_count_before_they_are_checked() {
    let mut a = Attempts::default();
    let now = Timestamp(0);
    for n in 1..=MAX_FAILURES {
        assert_eq!(admit(&mut a, now), Admission::Counted(n));
    }
    // A sixth begun while five are still being checked is refused at once.
    assert!(matches!(admit(&mut a, now), Admission::Locked(_)));
}

fn satker(dir: &std::path::Path) -> Arc<Node> {
    let config = NodeConfig::Satker {
        satker: "123456".into(),
        hub: "127.0.0.1:4433".into(),
        hub_id: SecretKey::generate().public(),
    };
    Arc::new(Node::create(dir, config, None).unwrap().0)
}

#[test]
fn eight_parallel_wrong_passphrases_run_argon2_at_most_five_times_and_lock_the_signer() {
    let dir = tempfile::tempdir().unwrap();
    let node = satker(dir.path());
    let sealed = Arc::new(SealedKey::seal(&[3u8; 32], "kata sandi yang benar").unwrap());
    let what = Guarded::Signer("019-000001".into());
    let start = Arc::new(Barrier::new(8));
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let (node, sealed, what, start) =
                (node.clone(), sealed.clone(), what.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                unseal(
                    &node.store,
                    &*node.clock,
                    "UTC",
                    &what,
                    &sealed,
                    "tebakan salah",
                )
                .unwrap_err()
                .to_string()
            })
        })
        .collect();
    let answers: Vec<String> = tries.into_iter().map(|t| t.join().unwrap()).collect();
    let checked = answers
        .iter()
        .filter(|a| a.starts_with("wrong passphrase"))
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.starts_with("signer 019-000001 is locked"))
        .count();
    assert!(checked <= MAX_FAILURES as usize, "{answers:#?}");
    assert_eq!(checked + refused, 8, "{answers:#?}");
    // Locked now: even the right passphrase waits.
    let err = unseal(
        &node.store,
        &*node.clock,
        "UTC",
        &what,
        &sealed,
        "kata sandi yang benar",
    )
    .unwrap_err();
    assert!(err.to_string().contains("is locked"), "{err}");
}

#[test]
fn a_right_passphrase_starts_the_count_again() {
    let dir = tempfile::tempdir().unwrap();
    let node = satker(dir.path());
    let sealed = SealedKey::seal(&[4u8; 32], "kata sandi yang benar").unwrap();
    let what = Guarded::Signer("019-000002".into());
    for _ in 0..MAX_FAILURES - 1 {
        unseal(
            &node.store,
            &*node.clock,
            "UTC",
            &what,
            &sealed,
            "tebakan salah",
        )
        .unwrap_err();
    }
    assert_eq!(
        *unseal(
            &node.store,
            &*node.clock,
            "UTC",
            &what,
            &sealed,
            "kata sandi yang benar"
        )
        .unwrap(),
        [4u8; 32]
    );
    let err = unseal(
        &node.store,
        &*node.clock,
        "UTC",
        &what,
        &sealed,
        "tebakan salah",
    )
    .unwrap_err();
    assert!(err.to_string().contains("4 more"), "{err}");
}

#[test]
fn a_lock_ends_at_a_local_time_in_the_kppn_zone_with_its_abbreviation() {
    // 2026-11-23 03:15:02 UTC.
    let until = Timestamp(1_795_403_702_000);
    let what = Guarded::Operator("operator01".into());
    for (zone, shown) in [
        ("Asia/Jakarta", "2026-11-23 10:15:02 WIB"),
        ("Asia/Makassar", "2026-11-23 11:15:02 WITA"),
        ("Asia/Jayapura", "2026-11-23 12:15:02 WIT"),
        ("UTC", "2026-11-23 03:15:02 UTC"),
    ] {
        let locked = locked_error(&what, until, zone).to_string();
        assert!(locked.contains(&format!("until {shown} after")), "{locked}");
        let wrong = wrong_error(&what, MAX_FAILURES, Some(until), zone).to_string();
        assert!(wrong.ends_with(&format!("until {shown}")), "{wrong}");
    }
}
