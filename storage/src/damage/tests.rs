use std::path::Path;

use sync_protocol::{Address, StreamId};

use crate::{Store, StoreError, StreamEntry, Table};

const ITEMS: u32 = 120;

/// A store of `ITEMS` items, each with a stream position and a record, flushed after
/// every few writes as a node does, in `dir`.
fn build(dir: &Path) {
    let store = Store::open(dir).unwrap();
    for i in 0..ITEMS {
        store
            .write(|t| {
                let (address, _) = t.put_item(item(i).as_bytes())?;
                t.append(
                    &StreamId::Trust,
                    StreamEntry {
                        address,
                        origin: None,
                    },
                )?;
                t.put(Table::Doc, &format!("123456/{i}"), &format!("record {i}"));
                Ok(())
            })
            .unwrap();
        if i % 4 == 3 {
            store.flush().unwrap();
        }
    }
    store.flush().unwrap();
}

fn item(i: u32) -> String {
    format!("item {i} {}", "isi ".repeat(60))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Opens the damaged copy and reads everything: either all of the original data, or
/// the typed damage error. Anything else (a panic, fewer items, wrong bytes) fails.
fn judge(dir: &Path, case: &str) {
    let got = (|| -> Result<(), StoreError> {
        let store = Store::open(dir)?;
        let check = store.check_records()?;
        assert!(check.problems.is_empty(), "{case}: {:?}", check.problems);
        let items: Vec<_> = store.items().collect::<Result<_, _>>()?;
        assert_eq!(items.len(), ITEMS as usize, "{case}: items lost silently");
        for (address, bytes) in &items {
            assert_eq!(Address::of(bytes), *address, "{case}: an item changed");
        }
        for i in 0..ITEMS {
            let r: Option<String> = store.get(Table::Doc, &format!("123456/{i}"))?;
            assert_eq!(r, Some(format!("record {i}")), "{case}: a record changed");
        }
        assert_eq!(store.head(&StreamId::Trust)?, u64::from(ITEMS), "{case}");
        Ok(())
    })();
    match got {
        Ok(()) => {}
        Err(e @ StoreError::Damaged { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("espm restore"), "{case}: {msg}");
            assert!(msg.contains(&dir.display().to_string()), "{case}: {msg}");
        }
        Err(other) => panic!("{case}: not reported as damage: {other} / {other:?}"),
    }
}

/// The next of a small deterministic sequence, so a failing case can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

fn damage_copies(name: &str, cases: usize, mut hurt: impl FnMut(&Path, usize)) {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    for n in 0..cases {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(base.path(), copy.path());
        hurt(&copy.path().join("store"), n);
        judge(copy.path(), &format!("{name} #{n}"));
    }
}

#[test]
fn a_byte_flipped_anywhere_in_the_log_is_reported_as_damage_or_changes_nothing() {
    let mut seed = 14;
    damage_copies("flip", 40, |store, _| {
        let path = store.join("db");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = next(&mut seed) as usize % bytes.len();
        bytes[at] ^= 1 << (next(&mut seed) % 8);
        std::fs::write(&path, bytes).unwrap();
    });
}

#[test]
fn a_run_of_bytes_overwritten_in_the_log_is_reported_as_damage_or_changes_nothing() {
    let mut seed = 7;
    damage_copies("run", 16, |store, _| {
        let path = store.join("db");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = next(&mut seed) as usize % bytes.len();
        let fill = next(&mut seed) as u8;
        for b in bytes.iter_mut().skip(at).take(200) {
            *b = fill;
        }
        std::fs::write(&path, bytes).unwrap();
    });
}

#[test]
fn a_truncated_log_is_reported_as_damage() {
    damage_copies("truncate", 6, |store, n| {
        let path = store.join("db");
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len * n as u64 / 6).unwrap();
    });
}

#[test]
fn a_zeroed_or_flipped_config_file_is_reported_as_damage() {
    damage_copies("conf", 2, |store, n| {
        let path = store.join("conf");
        let mut bytes = std::fs::read(&path).unwrap();
        if n == 0 {
            bytes.iter_mut().for_each(|b| *b = 0);
        } else {
            bytes[3] ^= 0x10;
        }
        std::fs::write(&path, bytes).unwrap();
    });
}

#[test]
fn a_damaged_config_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let conf = dir.path().join("store/conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    bytes.iter_mut().for_each(|b| *b = 0);
    std::fs::write(&conf, bytes).unwrap();
    let e = Store::open(dir.path())
        .err()
        .expect("opened with a zeroed conf");
    assert!(e.to_string().contains("its config file conf"), "{e}");
}

#[test]
fn a_log_cut_short_is_named_with_its_file_and_the_way_to_restore() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let path = dir.path().join("store/db");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let e = Store::open(dir.path())
        .err()
        .expect("opened a store cut in half");
    assert!(e.is_damage(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("file db"), "{msg}");
    assert!(
        msg.contains(
            "Restore it from a backup with `espm restore FILE` into an empty data directory"
        ),
        "{msg}"
    );
}

#[test]
fn a_store_copied_without_its_watermark_opens_as_before() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    std::fs::remove_file(dir.path().join(super::FLUSHED_FILE)).unwrap();
    judge(dir.path(), "no watermark");
    // And it records one again from its next flush on.
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|t| {
            t.put(Table::Meta, "k", &1u64);
            Ok(())
        })
        .unwrap();
    store.flush().unwrap();
    assert!(super::recorded_flushes(dir.path()).is_some());
}

#[test]
fn a_flush_with_nothing_written_leaves_the_watermark_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let before = super::recorded_flushes(dir.path());
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(super::recorded_flushes(dir.path()), before);
}

#[test]
fn a_record_that_does_not_decode_is_named_by_its_table() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|t| {
            // A CBOR array header promising more elements than follow.
            t.raw_put(Table::Doc.key("123456/7"), vec![0x9f, 0x01]);
            t.raw_put(Table::Counter.key("cert-serial"), vec![1, 2, 3]);
            Ok(())
        })
        .unwrap();
    let check = store.check_records().unwrap();
    let named: Vec<_> = check.problems.iter().map(|p| p.what.as_str()).collect();
    assert!(named.contains(&"Doc record 123456/7"), "{named:?}");
    assert!(named.iter().any(|w| w.starts_with("counter")), "{named:?}");
    assert!(check.records > u64::from(ITEMS) * 3, "{check:?}");
}

#[test]
fn a_stream_position_naming_a_missing_item_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gone = Address::of(b"never stored");
    store
        .write(|t| {
            t.append(
                &StreamId::Trust,
                StreamEntry {
                    address: gone,
                    origin: None,
                },
            )?;
            Ok(())
        })
        .unwrap();
    let check = store.check_records().unwrap();
    assert_eq!(check.problems.len(), 1, "{check:?}");
    assert!(
        check.problems[0].detail.contains(&gone.to_string()),
        "{check:?}"
    );
}

#[test]
fn a_panic_while_sled_reads_its_files_is_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let got: Result<(), StoreError> = super::guard(dir.path(), || panic!("a sled assertion"));
    let e = got.unwrap_err();
    assert!(e.is_damage(), "{e:?}");
    assert!(e.to_string().contains("`espm restore FILE`"), "{e}");
}
