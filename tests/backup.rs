//! `espm backup` and `espm restore` with real processes: a backup of a hub taken while
//! it serves a satker's sync, restored into an empty directory and served again on the
//! same address; refusals that leave everything as it was; a satker's keys surviving
//! the trip.

#[path = "support/mod.rs"]
mod support;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use espm_node::transport::impair::{Impairment, Relay, RelayConfig};
use serde_json::Value;
use support::*;
use sync_protocol::{NodeId, StreamId};

/// Documents in the batch the backup cuts through.
const DOCS: usize = 20;
/// Bytes of free text in each, so the batch takes a while on the slow link.
const DOC_BYTES: usize = 10 * 1024;

/// A link slow enough that a sync of the batch takes seconds, so a backup lands in it.
fn slow_link() -> Impairment {
    Impairment {
        delay: Duration::from_millis(10),
        rate_bits_per_sec: Some(512_000),
        queue_bytes: 128 * 1024,
        ..Impairment::none()
    }
}

/// `count` signed SPM of about [`DOC_BYTES`], submitted five to a submission (the
/// most one holds), each by another operator since a code submits once. The operators
/// are activated first, so only the sync under test carries the documents.
fn signed_and_submitted(
    hub: &Hub,
    satker: &Satker,
    serials: &Serials,
    uri: &str,
    count: usize,
) -> Vec<String> {
    let uraian = "Belanja barang operasional kantor. ".repeat(DOC_BYTES / 35);
    let docs: Vec<String> = (0..count)
        .map(|i| {
            let doc = satker.new_spm(&format!("{i:05}/SPM/2026"), "2500000");
            satker.ok(&["draft", "set", &doc, &format!("keterangan={uraian}")]);
            satker.sign(&doc, &serials.ppspm);
            doc
        })
        .collect();
    let colleagues: Vec<(String, String, String)> = (1..count.div_ceil(5))
        .map(|n| {
            let operator = format!("operator{:02}", n + 1);
            let (uri, request_id) = satker.request_operator(&operator, "operator-satker");
            (operator, uri, request_id)
        })
        .collect();
    satker.sync();
    for (operator, _, request_id) in &colleagues {
        approve_operator(hub, request_id, operator, "operator-satker", SATKER_CODE);
    }
    satker.sync();
    for (n, batch) in docs.chunks(5).enumerate() {
        let ids: Vec<&str> = batch.iter().map(String::as_str).collect();
        match n {
            0 => satker.submit(&ids, uri),
            _ => {
                let (operator, uri, _) = &colleagues[n - 1];
                satker.submit_as(&ids, operator, uri)
            }
        };
    }
    docs
}

fn spawn_sync(satker: &Satker) -> std::process::Child {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(satker.dir())
        .args(["--json", "sync", "--timeout", "300"])
        .env_remove("ESPM_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sync")
}

/// How far the (stopped) hub in `dir` holds the satker's own stream, and how long
/// that stream is on the (stopped) satker: what a sync between them must carry.
fn origin_positions(hub_dir: &Path, satker: &Satker) -> (u64, u64) {
    let id: NodeId = satker.node_id.parse().expect("satker node id");
    let stream = StreamId::Origin(id);
    let at_hub = storage::Store::open(hub_dir)
        .expect("open the hub's store")
        .position(&stream)
        .expect("hub position");
    let head = storage::Store::open(satker.dir())
        .expect("open the satker's store")
        .head(&stream)
        .expect("satker head");
    (at_hub, head)
}

/// The hub's inbox as doc ids, each checked to appear once.
fn inbox_once(hub: &Hub) -> Vec<String> {
    let v = hub.ok(&["inbox"]);
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("`inbox` is not a list: {v}"))
        .iter()
        .map(|e| id_of(e, "doc_id"))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a document is in the inbox twice: {v}");
    ids
}

#[test]
fn a_backup_of_a_serving_hub_taken_mid_sync_restores_a_hub_the_satker_finishes_with() {
    println!("network path: userspace UDP relay on loopback (delay 10 ms, 512 kbit/s); the backup is taken through the serving hub's control socket while the satker's batch crosses it");
    let mut hub = start_hub();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let relay = rt
        .block_on(Relay::start(
            hub.addr().parse().expect("hub address"),
            RelayConfig {
                up: slow_link(),
                down: slow_link(),
                seed: 14,
            },
        ))
        .expect("relay");
    let satker = init_satker(&relay.addr().to_string(), &hub.id);
    enroll(&hub, &satker);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    let docs = signed_and_submitted(&hub, &satker, &serials, &uri, DOCS);

    // The backup is named relative to the directory it is typed in; the serving hub,
    // which writes it, works elsewhere.
    let outside = tempfile::tempdir().expect("a directory for the backup");
    let started = Instant::now();
    let child = spawn_sync(&satker);
    let batch_bytes = (DOCS * DOC_BYTES) as u64;
    while relay.stats().up.forwarded_bytes < batch_bytes / 2 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the batch never started crossing the relay"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let backed_up = hub.ok_in(outside.path(), &["backup", "hub.espm-backup"]);
    let file = outside.path().join("hub.espm-backup");
    assert_eq!(str_of(&backed_up, "file"), file.display().to_string());
    assert_eq!(str_of(&backed_up, "role"), "hub");
    assert_eq!(str_of(&backed_up, "node_id"), hub.id);
    let first = child
        .wait_with_output()
        .expect("the sync the backup cut through");
    assert!(
        first.status.success(),
        "{}",
        describe("sync during the backup", &first)
    );
    let first: Value = serde_json::from_slice(&first.stdout).expect("sync JSON");
    println!("sync during the backup: {first}");
    // A snapshot and a signature per document, and one submission per five.
    let batch_items = DOCS as u64 * 2 + DOCS.div_ceil(5) as u64;
    assert_eq!(first["sent_items"].as_u64(), Some(batch_items), "{first}");
    assert_eq!(inbox_once(&hub).len(), DOCS);

    hub.stop();
    let mut restored = Espm::new("restored-hub");
    restored.set_default_passphrase(CSO_PASSPHRASE);
    let r = restored.ok(&["restore", file.to_str().expect("utf-8 path")]);
    assert_eq!(str_of(&r, "file"), file.display().to_string());
    assert_eq!(str_of(&r, "node_id"), hub.id);
    let verified = restored.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");

    // What the backup caught of the batch, and so what the satker must send again.
    let (held, head) = origin_positions(restored.dir(), &satker);
    println!("the backup holds the satker's stream through {held} of {head}");
    assert!(
        held < head,
        "the backup holds the whole batch: it was taken after the sync, not during it"
    );

    let mut hub = Hub {
        served: None,
        espm: restored,
        port: hub.port,
        id: hub.id.clone(),
        ip: hub.ip.clone(),
    };
    hub.start();
    let again = satker.sync();
    println!("sync with the restored hub: {again}");
    assert_eq!(
        again["sent_items"].as_u64(),
        Some(head - held),
        "the satker should send exactly what the restored hub lacks: {again}"
    );
    // Every document at the hub once, each with its receipt at the satker.
    let mut want = docs.clone();
    want.sort();
    assert_eq!(inbox_once(&hub), want);
    let verified = hub.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
    for doc in &docs {
        assert_eq!(satker.state(doc), "delivered", "{doc}");
    }
    let last = satker.sync();
    assert_eq!(last["sent_items"].as_u64(), Some(0), "{last}");
    // What the restored hub does next reaches the satker.
    take_and_approve(&hub, &docs[DOCS - 1]);
    satker.sync();
    assert_eq!(satker.state(&docs[DOCS - 1]), "approved");
}

/// A stopped hub with its backup in a directory of its own.
fn hub_and_backup() -> (Hub, tempfile::TempDir, std::path::PathBuf) {
    let hub = init_hub();
    let outside = tempfile::tempdir().expect("a directory for the backup");
    // A stopped node is backed up by the command itself, opening the store.
    let v = hub.ok_in(outside.path(), &["backup", "hub.espm-backup"]);
    let file = outside.path().join("hub.espm-backup");
    assert_eq!(str_of(&v, "file"), file.display().to_string());
    (hub, outside, file)
}

#[test]
fn a_backup_restored_into_a_non_empty_directory_is_refused_and_leaves_it_untouched() {
    let (hub, _outside, file) = hub_and_backup();
    let target = Espm::new("busy");
    std::fs::create_dir_all(target.dir()).unwrap();
    std::fs::write(target.dir().join("catatan.txt"), b"jangan dihapus").unwrap();
    let err = target.fail(&["restore", file.to_str().unwrap()]);
    assert_plain_error(&err, "restore into a non-empty directory");
    assert!(
        err.contains(&format!(
            "{} is not empty: restore only into an empty data directory",
            target.dir().display()
        )),
        "{err}"
    );
    let names: Vec<_> = std::fs::read_dir(target.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["catatan.txt"]);
    assert_eq!(
        std::fs::read(target.dir().join("catatan.txt")).unwrap(),
        b"jangan dihapus"
    );
    // The hub's own directory is not empty either.
    let err = hub.fail(&["restore", file.to_str().unwrap()]);
    assert!(err.contains("is not empty"), "{err}");
    hub.ok(&["verify"]);
}

#[test]
fn a_backup_with_one_byte_flipped_is_refused_by_restore_before_anything_is_written() {
    let (_hub, outside, file) = hub_and_backup();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let damaged = outside.path().join("damaged.espm-backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = Espm::new("target");
    let err = target.fail(&["restore", damaged.to_str().unwrap()]);
    assert_plain_error(&err, "restore of a damaged backup");
    assert!(
        err.contains(&format!(
            "{} is damaged (checksum mismatch)",
            damaged.display()
        )),
        "{err}"
    );
    assert!(!target.dir().exists(), "restore wrote into the target");
    let parent = target.dir().parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".espm-restore"))
        .collect();
    assert!(left.is_empty(), "temporary directories left: {left:?}");
    // Not a backup at all.
    let err = target.fail(&["restore", _hub.dir().join("node.key").to_str().unwrap()]);
    assert!(err.contains("is not an espm backup"), "{err}");
}

#[test]
fn a_satker_backed_up_and_restored_keeps_its_signers_and_keys() {
    let mut hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let outside = tempfile::tempdir().expect("a directory for the backup");
    satker.ok_in(outside.path(), &["backup", "satker.espm-backup"]);
    let file = outside.path().join("satker.espm-backup");

    let copy = Espm::new("restored-satker");
    let r = copy.ok(&["restore", file.to_str().unwrap()]);
    assert_eq!(str_of(&r, "node_id"), satker.node_id);
    assert_eq!(str_of(&r, "role"), "satker");
    let restored = Satker::new(copy, satker.node_id.clone());
    restored.enrolled_at(&hub);
    let info = restored.ok(&["info"]);
    assert_eq!(str_of(&info, "node_id"), satker.node_id);
    assert_eq!(str_of(&info, "role"), "satker");
    assert_eq!(restored.signers(), satker.signers());
    // The sealed signer key opens under its passphrase and signs.
    let doc = restored.new_spm("00001/SPM/2026", "1500000");
    restored.sign(&doc, &serials.ppspm);
    // And the hub still knows it as the same device.
    restored.sync();
    hub.stop();
}

/// A satker restored from a backup older than its last sync numbers its new items at
/// positions of its stream the hub already holds (the ones made after the backup), so
/// the hub takes them for what it has and the new document stays queued for good, with
/// `info` saying nothing is queued. The sync protocol must notice a hub ahead of the
/// device's own stream; until it does, this test shows the loss.
#[test]
#[ignore = "known gap in the sync protocol, not in backup: a device restored from an older backup reuses stream positions the hub holds (reported with issue 14)"]
fn a_satker_restored_from_an_older_backup_still_delivers_what_it_makes_next() {
    let mut hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    let outside = tempfile::tempdir().expect("a directory for the backup");
    satker.ok_in(outside.path(), &["backup", "satker.espm-backup"]);
    let file = outside.path().join("satker.espm-backup");
    // Work done after the backup, delivered, and then the laptop is lost.
    let after = satker.new_spm("00001/SPM/2026", "1500000");
    satker.sign(&after, &serials.ppspm);
    satker.submit(&[&after], &uri);
    satker.sync();

    let copy = Espm::new("restored-satker");
    copy.ok(&["restore", file.to_str().unwrap()]);
    let restored = Satker::new(copy, satker.node_id.clone());
    restored.enrolled_at(&hub);
    let doc = restored.new_spm("00002/SPM/2026", "1700000");
    restored.sign(&doc, &serials.ppspm);
    restored.submit(&[&doc], &uri);
    restored.sync();
    assert!(
        inbox(&hub).contains_key(&doc),
        "the restored satker's new document never reached the hub"
    );
    assert_eq!(restored.state(&doc), "delivered");
    hub.stop();
}

/// A hub restored from a backup older than what its devices have received publishes
/// its next items at positions of its streams the devices already hold (the ones it
/// published after the backup), so they never reach those devices. The sync protocol
/// must notice a device ahead of the hub's stream; until it does, this test shows it.
#[test]
#[ignore = "known gap in the sync protocol, not in backup: a hub restored from an older backup republishes at stream positions its devices hold (reported with issue 14)"]
fn a_hub_restored_from_an_older_backup_still_reaches_devices_that_synced_since() {
    let mut hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    let a = satker.new_spm("00001/SPM/2026", "1500000");
    satker.sign(&a, &serials.ppspm);
    let b = satker.new_spm("00002/SPM/2026", "1700000");
    satker.sign(&b, &serials.ppspm);
    satker.submit(&[&a, &b], &uri);
    satker.sync();
    let outside = tempfile::tempdir().expect("a directory for the backup");
    hub.ok_in(outside.path(), &["backup", "hub.espm-backup"]);
    let file = outside.path().join("hub.espm-backup");
    // Published after the backup, and received by the satker.
    take_and_approve(&hub, &a);
    satker.sync();
    assert_eq!(satker.state(&a), "approved");

    hub.stop();
    let mut restored = Espm::new("restored-hub");
    restored.set_default_passphrase(CSO_PASSPHRASE);
    restored.ok(&["restore", file.to_str().unwrap()]);
    let mut hub = Hub {
        served: None,
        espm: restored,
        port: hub.port,
        id: hub.id.clone(),
        ip: hub.ip.clone(),
    };
    hub.start();
    hub.ok(&["take", &b]);
    satker.sync();
    assert_eq!(
        satker.state(&b),
        "received",
        "what the restored hub published never reached the satker"
    );
    hub.stop();
}
