//! A store damaged on disk is reported plainly: bytes flipped, overwritten or cut from
//! a stopped node's store files make `espm verify` (and any other command on that
//! store) exit 1 with one message naming the damaged store and pointing to
//! `espm restore`, never a storage-engine log line, a panic or a Debug struct. Real
//! `espm` processes on real sled stores; each case damages its own copy.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;

use serde_json::Value;
use support::*;

/// A satker node, enrolled and synced (so it holds the hub's trust items) with a few
/// drafts, and no process holding its store.
fn satker_with_documents() -> Satker {
    let hub = start_hub();
    let satker = satker(&hub);
    satker.sync();
    for n in 1..=3 {
        satker.new_spm(&format!("0000{n}/SPM/2026"), &format!("{n}500000"));
    }
    drop(hub);
    satker
}

fn store_file(node: &Espm, name: &str) -> std::path::PathBuf {
    node.dir().join("store").join(name)
}

/// How far the store's log file holds anything: sled sizes `db` by whole segments, and
/// past its last record the file is zeros, where a flipped bit is no damage at all.
fn written_len(node: &Espm) -> usize {
    let bytes = std::fs::read(store_file(node, "db")).expect("the store's log file");
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .expect("the log holds records")
        + 1
}

/// The store's snapshot file (sled writes one as the log grows).
fn snapshot(node: &Espm) -> Option<std::path::PathBuf> {
    std::fs::read_dir(node.dir().join("store"))
        .expect("the store directory")
        .map(|e| e.expect("an entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
        })
}

/// What a case does to its copy of the data directory.
type Hurt = Box<dyn Fn(&Espm)>;

fn rewrite(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).expect("read a store file");
    change(&mut bytes);
    std::fs::write(path, bytes).expect("write a store file");
}

/// What nobody at a terminal should see: the storage engine's own words.
fn assert_no_engine_text(text: &str, what: &str) {
    for raw in [
        "panicked",
        "RUST_BACKTRACE",
        "sled",
        "Corruption {",
        "at: ",
        "ReportableBug",
        "Io(",
        " ERROR ",
        " WARN ",
    ] {
        assert!(
            !text.contains(raw),
            "{what}: `{raw}` reaches the user:\n{text}"
        );
    }
}

/// `verify` on a damaged copy: exit 1, stderr one plain message naming the store and
/// `espm restore`, and `--json` an `ok: false` verdict whose failure names the store.
fn assert_verify_reports_damage(node: &Espm, case: &str, file: &str) {
    let out = node.run(&["verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe(&format!("{case}: verify should exit 1"), &out)
    );
    assert_plain_error(&stderr, case);
    assert_no_engine_text(&stderr, case);
    let store = node.dir().join("store").display().to_string();
    assert!(
        stderr.contains(&store) && stderr.contains("damaged"),
        "{case}: stderr does not name the damaged store {store}:\n{stderr}"
    );
    assert!(
        stderr.contains(file),
        "{case}: stderr does not name the damaged file ({file}):\n{stderr}"
    );
    assert!(
        stderr.contains("`espm restore FILE`") && stderr.contains("empty data directory"),
        "{case}: stderr does not point to espm restore:\n{stderr}"
    );
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{case}: stdout is not one JSON document ({e}):\n{stdout}"));
    assert_eq!(v["ok"], Value::Bool(false), "{case}: {v}");
    let failures = v["failures"].as_array().expect("failures is a list");
    assert!(
        failures.iter().any(|f| f["item"] == "store"
            && f["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&store) && r.contains("espm restore"))),
        "{case}: no failure names the store: {v}"
    );
    assert_no_engine_text(&stdout, case);

    // Without --json, the same one message.
    let plain = node.run_plain(&["verify"]);
    assert_eq!(plain.status.code(), Some(1), "{case}: plain verify");
    let plain_err = String::from_utf8_lossy(&plain.stderr).into_owned();
    assert_plain_error(&plain_err, case);
    assert_no_engine_text(&plain_err, case);
    assert!(plain_err.contains("espm restore"), "{case}:\n{plain_err}");
}

#[test]
fn a_store_with_bytes_flipped_in_its_files_is_reported_by_verify_as_damaged() {
    let satker = satker_with_documents();
    let len = written_len(&satker);
    // What is done to the copy, and the file the report must name.
    let cases: Vec<(String, &str, Hurt)> = vec![
        (
            "one byte flipped early in db".into(),
            "file db",
            Box::new(move |n| rewrite(&store_file(n, "db"), |b| b[len / 5] ^= 0x01)),
        ),
        (
            "one byte flipped mid db".into(),
            "file db",
            Box::new(move |n| rewrite(&store_file(n, "db"), |b| b[len / 2] ^= 0x80)),
        ),
        (
            "one byte flipped late in db".into(),
            "file db",
            Box::new(move |n| rewrite(&store_file(n, "db"), |b| b[len * 4 / 5] ^= 0x10)),
        ),
        (
            "a run of bytes overwritten in db".into(),
            "file db",
            Box::new(move |n| {
                rewrite(&store_file(n, "db"), |b| {
                    b[len / 3..len / 3 + 256].iter_mut().for_each(|x| *x = 0xa5)
                })
            }),
        ),
        (
            "db cut in half".into(),
            "file db",
            Box::new(move |n| rewrite(&store_file(n, "db"), |b| b.truncate(len / 2))),
        ),
        (
            "conf zeroed".into(),
            "config file conf",
            Box::new(|n| {
                rewrite(&store_file(n, "conf"), |b| {
                    b.iter_mut().for_each(|x| *x = 0)
                })
            }),
        ),
    ];
    let mut cases = cases;
    if let Some(snap) = snapshot(&satker) {
        let name = snap.file_name().expect("a file name").to_owned();
        cases.push((
            "a byte flipped in the snapshot".into(),
            "snapshot file snap.",
            Box::new(move |n| {
                rewrite(&n.dir().join("store").join(&name), |b| {
                    let mid = b.len() / 2;
                    b[mid] ^= 0x01
                })
            }),
        ));
    }
    for (i, (case, file, hurt)) in cases.iter().enumerate() {
        let copy = satker.copy_data_dir(&format!("damaged-{i}"));
        hurt(&copy);
        assert_verify_reports_damage(&copy, case, file);
    }
}

#[test]
fn any_command_on_a_damaged_store_gives_the_same_plain_message() {
    let satker = satker_with_documents();
    let len = written_len(&satker);
    rewrite(&store_file(&satker, "db"), |b| b[len / 2] ^= 0x04);
    for args in [
        vec!["id"],
        vec!["info"],
        vec!["signers"],
        vec!["sync", "--timeout", "3"],
    ] {
        let what = args.join(" ");
        let err = satker.fail(&args);
        assert_plain_error(&err, &what);
        assert_no_engine_text(&err, &what);
        assert!(
            err.contains("damaged") && err.contains("`espm restore FILE`"),
            "{what}: {err}"
        );
    }
    // Nothing was written to the damaged store meanwhile: it is still found damaged.
    assert_verify_reports_damage(&satker, "after other commands", "file db");
}

#[test]
fn an_item_changed_where_the_storage_engine_cannot_notice_is_named_by_verify() {
    let satker = satker_with_documents();
    // What a flip with a matching checksum would leave: the item's bytes changed under
    // its own address, written through sled itself so sled's checks all pass.
    let address = {
        let db = sled::open(satker.dir().join("store")).expect("open the satker's sled");
        let tree = db.open_tree("espm").expect("the store's tree");
        let (key, value) = tree
            .scan_prefix(b"i/")
            .next()
            .expect("the satker holds items")
            .expect("read an item");
        let mut changed = value.to_vec();
        let mid = changed.len() / 2;
        changed[mid] ^= 0x01;
        tree.insert(&key, changed).expect("change the item");
        db.flush().expect("flush");
        hex::encode(&key[2..])
    };
    let out = satker.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe("verify", &out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("verify --json");
    assert_eq!(v["ok"], Value::Bool(false), "{v}");
    assert!(
        v["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .any(|f| f["item"] == address.as_str()),
        "verify does not name the changed item {address}: {v}"
    );
}
