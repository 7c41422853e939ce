//! A store written in format 1 migrates to format 2 on opening; a newer one is refused.

use super::*;

/// Raw keys and values as a format 1 store held them.
fn format_1_fixture() -> Vec<(&'static [u8], Vec<u8>)> {
    vec![
        (b"m/config", Store::encode_record(&"a config".to_string())),
        (b"m/hub-acked/6f3a", Store::encode_record(&7u64)),
        (
            b"m/early-notice/123456/spm-1",
            Store::encode_record(&vec![1u8]),
        ),
        (b"m/lockout/019-000001", Store::encode_record(&3u32)),
        (b"m/lockout-authority", Store::encode_record(&4u32)),
        (
            b"m/lockout-operator/operator01",
            Store::encode_record(&5u32),
        ),
        (
            b"m/awaiting/abcd",
            Store::encode_record(&"waiting".to_string()),
        ),
        (
            b"m/revoked/cert/019-000001",
            Store::encode_record(&"revoked".to_string()),
        ),
        (b"m/need-count/123456", Store::encode_record(&2u64)),
        (b"a/0011", vec![9, 9, 9]),
        (b"a/manifest-ffee", Store::encode_record(&vec![1u8, 2])),
        (
            b"p/operator01",
            Store::encode_record(&"device operator".to_string()),
        ),
        (
            b"p/of/123456/operator01",
            Store::encode_record(&"hub operator".to_string()),
        ),
        (
            b"p/request/beef",
            Store::encode_record(&"of/123456/operator01".to_string()),
        ),
        (b"n/cert-serial", 3u64.to_be_bytes().to_vec()),
        (b"n/after-hours-2026-12-05", Store::encode_record(&2u64)),
        (b"g/head/spm-1", Store::encode_record(&"digest".to_string())),
        (
            b"g/peer/aa/spm-1",
            Store::encode_record(&"peer".to_string()),
        ),
        (b"d/123456/spm-1", Store::encode_record(&"doc".to_string())),
    ]
}

fn write_raw(dir: &std::path::Path, entries: &[(&[u8], Vec<u8>)]) {
    // Straight through sled, as the format 1 build left the tree.
    let db = sled::Config::new().path(dir.join("store")).open().unwrap();
    let tree = db.open_tree("espm").unwrap();
    for (k, v) in entries {
        tree.insert(*k, v.clone()).unwrap();
    }
    db.flush().unwrap();
}

#[test]
fn a_format_1_store_is_migrated_to_format_2_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    write_raw(dir.path(), &format_1_fixture());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.get::<u32>(Table::Meta, "format").unwrap(),
        Some(FORMAT)
    );
    let got = |t: Table, k: &str| store.raw_get(&t.key(k)).unwrap().map(|v| v.to_vec());
    assert_eq!(store.get::<u64>(Table::PeerAcked, "6f3a").unwrap(), Some(7));
    assert_eq!(
        store
            .get::<Vec<u8>>(Table::EarlyNotice, "123456/spm-1")
            .unwrap(),
        Some(vec![1])
    );
    assert_eq!(
        store
            .get::<u32>(Table::Lockout, "signer/019-000001")
            .unwrap(),
        Some(3)
    );
    assert_eq!(
        store.get::<u32>(Table::Lockout, "authority").unwrap(),
        Some(4)
    );
    assert_eq!(
        store
            .get::<u32>(Table::Lockout, "operator/operator01")
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        store
            .get::<String>(Table::Awaiting, "abcd")
            .unwrap()
            .as_deref(),
        Some("waiting")
    );
    assert_eq!(
        store
            .get::<String>(Table::Revocation, "cert/019-000001")
            .unwrap()
            .as_deref(),
        Some("revoked")
    );
    assert_eq!(
        store.get::<u64>(Table::NeedCount, "123456").unwrap(),
        Some(2)
    );
    assert_eq!(got(Table::Chunk, "0011"), Some(vec![9, 9, 9]));
    assert_eq!(
        store.get::<Vec<u8>>(Table::Manifest, "ffee").unwrap(),
        Some(vec![1, 2])
    );
    assert_eq!(
        store
            .get::<String>(Table::Operator, "operator01")
            .unwrap()
            .as_deref(),
        Some("device operator")
    );
    assert_eq!(
        store
            .get::<String>(Table::HubOperator, "123456/operator01")
            .unwrap()
            .as_deref(),
        Some("hub operator")
    );
    assert!(store
        .get::<String>(Table::OperatorRequest, "beef")
        .unwrap()
        .is_some());
    assert_eq!(
        got(Table::Counter, "cert-serial"),
        Some(3u64.to_be_bytes().to_vec())
    );
    assert_eq!(
        store.get::<u64>(Table::AfterHours, "2026-12-05").unwrap(),
        Some(2)
    );
    assert!(store
        .get::<String>(Table::DraftHead, "spm-1")
        .unwrap()
        .is_some());
    assert!(store
        .get::<String>(Table::DraftPeer, "aa/spm-1")
        .unwrap()
        .is_some());
    assert!(store
        .get::<String>(Table::Doc, "123456/spm-1")
        .unwrap()
        .is_some());
    // Nothing is left at an old place.
    for (old, _) in format_1_fixture() {
        if old == b"m/config"
            || old == b"d/123456/spm-1"
            || old == b"a/0011"
            || old == b"p/operator01"
            || old == b"n/cert-serial"
        {
            continue;
        }
        assert!(
            store.raw_get(old).unwrap().is_none(),
            "{} is still there",
            String::from_utf8_lossy(old)
        );
    }
    // And opening again changes nothing more.
    drop(store);
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.get::<u64>(Table::PeerAcked, "6f3a").unwrap(), Some(7));
}

#[test]
fn a_store_of_a_newer_format_is_refused_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    write_raw(
        dir.path(),
        &[(b"m/format", Store::encode_record(&(FORMAT + 1)))],
    );
    match Store::open(dir.path()) {
        Err(e @ StoreError::NewerFormat { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("written by a newer espm")
                    && text.contains(&format!("format {}", FORMAT + 1)),
                "{text}"
            );
        }
        Err(other) => panic!("expected NewerFormat, got {other}"),
        Ok(_) => panic!("a newer store was opened"),
    }
}

#[test]
fn a_new_store_records_this_builds_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.get::<u32>(Table::Meta, "format").unwrap(),
        Some(FORMAT)
    );
}

#[test]
fn a_format_2_hash_chained_hub_log_becomes_the_merkle_tree_of_its_entries() {
    #[derive(serde::Serialize)]
    struct ChainedEntry {
        address: sync_protocol::Address,
        hash: sync_protocol::Address,
    }
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<Vec<u8>> = (0..7).map(|i| format!("item {i}").into_bytes()).collect();
    let mut raw: Vec<(Vec<u8>, Vec<u8>)> =
        vec![(b"m/format".to_vec(), Store::encode_record(&2u32))];
    let mut leaves = Vec::new();
    for (i, bytes) in items.iter().enumerate() {
        let a = sync_protocol::Address::of(bytes);
        leaves.push(sync_protocol::leaf_hash(&a.0));
        raw.push(([b"i/".as_slice(), &a.0].concat(), bytes.clone()));
        let e = ChainedEntry {
            address: a,
            hash: sync_protocol::Address([i as u8; 32]),
        };
        let seq = i as u64 + 1;
        raw.push((
            [b"l/".as_slice(), &seq.to_be_bytes()].concat(),
            Store::encode_record(&e),
        ));
    }
    raw.push((b"h/\xffhublog".to_vec(), 7u64.to_be_bytes().to_vec()));
    let borrowed: Vec<(&[u8], Vec<u8>)> =
        raw.iter().map(|(k, v)| (k.as_slice(), v.clone())).collect();
    write_raw(dir.path(), &borrowed);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.verify_hub_log().unwrap(), 7);
    assert_eq!(
        store.hub_log_root(7).unwrap().0,
        sync_protocol::merkle_root(&leaves)
    );
    assert_eq!(
        store.get::<u32>(Table::Meta, "format").unwrap(),
        Some(FORMAT)
    );
}
