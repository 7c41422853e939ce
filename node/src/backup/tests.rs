use std::{collections::BTreeMap, path::Path};

use sha2::{Digest, Sha256};
use storage::{SnapshotPart, StoreError};
use sync_protocol::SecretKey;
use tempfile::TempDir;

use super::*;
use crate::{config::NodeConfig, testkit::World};

/// A satker node with a few store records of its own, in a fresh temporary directory.
fn satker() -> (TempDir, Node) {
    let tmp = tempfile::tempdir().unwrap();
    let config = NodeConfig::Satker {
        satker: "123456".into(),
        hub: "127.0.0.1:1".into(),
        hub_id: SecretKey::generate().public(),
    };
    let (node, _) = Node::create(&tmp.path().join("satker"), config, None).unwrap();
    node.store
        .write(|t| {
            for i in 0..50u32 {
                t.put_item(format!("item {i}").as_bytes())?;
            }
            Ok(())
        })
        .unwrap();
    (tmp, node)
}

/// Every tree and key of a store, as a map.
fn contents(store: &Store) -> BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    let mut tree = Vec::new();
    store
        .snapshot(|p| {
            match p {
                SnapshotPart::Tree(name) => {
                    tree = name.to_vec();
                    out.entry(tree.clone()).or_default();
                }
                SnapshotPart::Pair(k, v) => {
                    out.entry(tree.clone())
                        .or_default()
                        .insert(k.to_vec(), v.to_vec());
                }
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    out.retain(|_, pairs| !pairs.is_empty());
    out
}

/// Every entry of `dir`, so a test can show a refused restore left it as it was.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A backup of `node` in `tmp`, and its bytes.
fn backed_up(tmp: &TempDir, node: &Node) -> (PathBuf, Vec<u8>) {
    let file = tmp.path().join("node.espm-backup");
    backup(node, &file, None).unwrap();
    let bytes = fs::read(&file).unwrap();
    (file, bytes)
}

#[test]
fn a_hub_backed_up_and_restored_has_every_key_file_and_store_record() {
    let world = World::new();
    let tmp = tempfile::tempdir().unwrap();
    let (file, _) = backed_up(&tmp, &world.hub);
    let target = tmp.path().join("restored");
    let restored = restore_node(&file, &target, None).unwrap();
    assert_eq!(restored.role, "hub");
    assert_eq!(restored.node_id, world.hub.node_id().to_hex());
    let node = Node::open(&target).unwrap();
    assert_eq!(node.node_id(), world.hub.node_id());
    assert_eq!(
        node.authority_key().unwrap(),
        world.hub.authority_key().unwrap()
    );
    assert_eq!(contents(&node.store), contents(&world.hub.store));
    for key in ["node.key", "service.key", "authority.key"] {
        assert_eq!(
            fs::read(target.join(key)).unwrap(),
            fs::read(world.hub.dir.join(key)).unwrap(),
            "{key}"
        );
    }
    // The sealed authority key still opens under the CSO's passphrase.
    node.authority(Some(crate::testkit::CSO)).unwrap();
    // No socket and no temporary directory came along or stayed behind.
    assert!(!target.join(crate::control::SOCKET_NAME).exists());
    assert_eq!(listing(tmp.path()), ["node.espm-backup", "restored"]);
}

#[test]
fn a_restore_into_an_existing_empty_directory_fills_it_with_every_file_but_locks_and_sockets() {
    let (tmp, node) = satker();
    fs::create_dir(node.dir.join("notes")).unwrap();
    fs::write(node.dir.join("notes/readme.txt"), b"kept").unwrap();
    fs::write(node.dir.join("serve.lock"), b"123").unwrap();
    #[cfg(unix)]
    let _socket =
        std::os::unix::net::UnixListener::bind(node.dir.join(crate::control::SOCKET_NAME)).unwrap();
    let (file, _) = backed_up(&tmp, &node);
    let target = tmp.path().join("empty");
    fs::create_dir(&target).unwrap();
    restore_node(&file, &target, None).unwrap();
    assert_eq!(
        contents(&Node::open(&target).unwrap().store),
        contents(&node.store)
    );
    assert_eq!(fs::read(target.join("notes/readme.txt")).unwrap(), b"kept");
    // The flush watermark is not restored: the restored store writes its own.
    assert_eq!(
        listing(&target),
        ["node.key", "notes", "store", storage::FLUSHED_FILE]
    );
}

#[test]
fn a_backup_restored_into_a_non_empty_directory_is_refused_and_leaves_it_untouched() {
    let (tmp, node) = satker();
    let (file, _) = backed_up(&tmp, &node);
    let target = tmp.path().join("busy");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("notes.txt"), b"keep me").unwrap();
    let e = restore(&file, &target, None).unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty { .. }), "{e}");
    assert!(e
        .to_string()
        .ends_with("is not empty: restore only into an empty data directory"));
    assert_eq!(listing(&target), ["notes.txt"]);
    assert_eq!(fs::read(target.join("notes.txt")).unwrap(), b"keep me");
    // The node's own directory is not empty either.
    let e = restore(&file, &node.dir, None).unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty { .. }), "{e}");
}

#[test]
fn a_backup_with_any_byte_flipped_is_refused_before_anything_is_written() {
    let (tmp, node) = satker();
    let (file, bytes) = backed_up(&tmp, &node);
    let damaged = tmp.path().join("damaged");
    let target = tmp.path().join("target");
    // Past the magic and the version, every byte is covered by the checksum.
    let step = (bytes.len() / 97).max(1);
    for at in (10..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        fs::write(&damaged, &b).unwrap();
        let e = restore(&damaged, &target, None).unwrap_err();
        assert!(matches!(e, BackupError::Checksum { .. }), "byte {at}: {e}");
        assert!(
            e.to_string().contains("is damaged (checksum mismatch)"),
            "{e}"
        );
        assert!(!target.exists(), "byte {at}: the target was created");
    }
    assert_eq!(
        listing(tmp.path()),
        ["damaged", "node.espm-backup", "satker"]
    );
    drop(file);
}

#[test]
fn a_truncated_backup_is_refused_as_damaged() {
    let (tmp, node) = satker();
    let (_, bytes) = backed_up(&tmp, &node);
    let cut = tmp.path().join("cut");
    let target = tmp.path().join("target");
    for len in [
        8,
        9,
        14,
        45,
        bytes.len() / 2,
        bytes.len() - 33,
        bytes.len() - 1,
    ] {
        fs::write(&cut, &bytes[..len]).unwrap();
        let e = restore(&cut, &target, None).unwrap_err();
        assert!(
            matches!(e, BackupError::Checksum { .. }),
            "{len} bytes: {e}"
        );
        assert!(!target.exists());
    }
    for len in [0, 3, 7] {
        fs::write(&cut, &bytes[..len]).unwrap();
        let e = restore(&cut, &target, None).unwrap_err();
        assert!(
            matches!(e, BackupError::NotABackup { .. }),
            "{len} bytes: {e}"
        );
    }
}

#[test]
fn a_file_without_the_magic_is_not_an_espm_backup() {
    let (tmp, node) = satker();
    let (_, mut bytes) = backed_up(&tmp, &node);
    bytes[0] = b'X';
    let wrong = tmp.path().join("wrong");
    fs::write(&wrong, &bytes).unwrap();
    let e = restore(&wrong, &tmp.path().join("target"), None).unwrap_err();
    assert!(matches!(e, BackupError::NotABackup { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{} is not an espm backup", wrong.display())
    );
}

#[test]
fn a_backup_of_another_version_is_refused_by_name() {
    let (tmp, node) = satker();
    let (_, mut bytes) = backed_up(&tmp, &node);
    bytes[8..10].copy_from_slice(&7u16.to_be_bytes());
    let other = tmp.path().join("other");
    fs::write(&other, &bytes).unwrap();
    let e = restore(&other, &tmp.path().join("target"), None).unwrap_err();
    assert!(matches!(e, BackupError::Version { version: 7, .. }), "{e}");
}

/// A file with a valid checksum around `body` (what follows the version).
fn forged(tmp: &TempDir, body: &[u8]) -> PathBuf {
    let mut bytes = format::MAGIC.to_vec();
    bytes.extend_from_slice(&format::VERSION.to_be_bytes());
    bytes.extend_from_slice(body);
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    let path = tmp.path().join("forged");
    fs::write(&path, &bytes).unwrap();
    path
}

/// A header as a backup's body starts with it.
fn header_bytes() -> Vec<u8> {
    let json =
        br#"{"role":"satker","node_id":"00","created_ms":0,"store_format":2,"espm_version":"0"}"#;
    let mut out = (json.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(json);
    out
}

#[test]
fn a_forged_backup_with_hostile_lengths_is_refused_without_allocating_them() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("header", u32::MAX.to_be_bytes().to_vec()));
    let mut file = header_bytes();
    file.extend_from_slice(b"F\x00\x01k");
    file.extend_from_slice(&u64::MAX.to_be_bytes());
    cases.push(("file", file));
    let mut pair = header_bytes();
    pair.extend_from_slice(b"T\x00\x04espmP");
    pair.extend_from_slice(&u32::MAX.to_be_bytes());
    cases.push(("key", pair));
    let mut escape = header_bytes();
    escape.extend_from_slice(b"F\x00\x0a../outside");
    escape.extend_from_slice(&1u64.to_be_bytes());
    escape.extend_from_slice(b"x");
    cases.push(("path", escape));
    let mut store = header_bytes();
    store.extend_from_slice(b"F\x00\x08store/db");
    store.extend_from_slice(&1u64.to_be_bytes());
    store.extend_from_slice(b"x");
    cases.push(("store path", store));
    let mut unended = header_bytes();
    unended.extend_from_slice(b"T\x00\x04espm");
    cases.push(("no end", unended));
    let mut counts = header_bytes();
    counts.extend_from_slice(b"E");
    counts.extend_from_slice(&[0; 16]);
    counts.extend_from_slice(&5u64.to_be_bytes());
    cases.push(("counts", counts));
    for (what, body) in cases {
        let path = forged(&tmp, &body);
        let e = restore(&path, &target, None).unwrap_err();
        assert!(matches!(e, BackupError::Malformed { .. }), "{what}: {e}");
        assert!(!target.exists(), "{what}");
        assert!(!tmp.path().join("outside").exists());
    }
}

#[test]
fn a_backup_inside_the_data_directory_is_refused() {
    let (_tmp, node) = satker();
    let e = backup(&node, &node.dir.join("self.espm-backup"), None).unwrap_err();
    assert!(matches!(e, BackupError::InsideDataDir { .. }), "{e}");
    assert!(!node.dir.join("self.espm-backup").exists());
}

#[test]
fn a_backup_replaces_an_older_one_whole_and_leaves_no_temporary_file() {
    let (tmp, node) = satker();
    let (file, first) = backed_up(&tmp, &node);
    node.store
        .write(|t| t.put_item(b"one more").map(|_| ()))
        .unwrap();
    let (_, second) = backed_up(&tmp, &node);
    assert_ne!(first, second);
    format::check(&file).unwrap();
    assert_eq!(listing(tmp.path()), ["node.espm-backup", "satker"]);
}
