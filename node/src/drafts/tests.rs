//! The node's draft replica on real sled stores: a hub and devices wired through
//! in-memory draft sessions, to check what each role may send and receive.

use crate::clock;
use std::{
    collections::{BTreeMap, VecDeque},
    time::Instant,
};

use storage::draft::{check_sync_message, Limits, Shape, MAX_DRAFT_BYTES};
use sync_protocol::{DocKind, DraftMessage, DraftSession, DraftStats};
use tempfile::TempDir;

use super::*;
use crate::config::HubConfig;

#[path = "../../../storage/src/draft/craft.rs"]
mod craft;

const SATKER: &str = "123456";

struct Nodes {
    hub: Arc<Node>,
    _dirs: Vec<TempDir>,
}

impl Nodes {
    fn new() -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        let hub = Node::create(
            dir.path(),
            NodeConfig::Hub(HubConfig {
                kppn: "019".into(),
                name: "KPPN Kotabumi".into(),
                tz: "Asia/Jakarta".into(),
                listen: "127.0.0.1:0".into(),
                open_minute: 0,
                close_minute: 1440,
                after_hours_quota: 10,
                attachment_expiry_ms: crate::config::DEFAULT_ATTACHMENT_EXPIRY_MS,
            }),
            Some("kata sandi CSO uji"),
        )
        .unwrap()
        .0;
        Nodes {
            hub: Arc::new(hub),
            _dirs: vec![dir],
        }
    }

    fn device(&mut self, satker: &str) -> Arc<Node> {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::create(
            dir.path(),
            NodeConfig::Satker {
                satker: satker.into(),
                hub: "127.0.0.1:1".into(),
                hub_id: self.hub.node_id(),
            },
            None,
        )
        .unwrap()
        .0;
        self._dirs.push(dir);
        Arc::new(node)
    }
}

fn new_draft(node: &Node, doc_id: &str, field: &str, value: &str) {
    let satker = node.satker().unwrap().to_string();
    let mut draft = Draft::new(doc_id, DocKind::Spm, &satker).unwrap();
    draft.set_field(field, value).unwrap();
    let rec = new_record(doc_id, &draft, clock::wall()).unwrap();
    node.store
        .write(|t| {
            save_draft(t, doc_id, &mut draft);
            crate::docs::put(t, &rec);
            Ok(())
        })
        .unwrap();
}

fn load(node: &Node, key: &str) -> Option<Draft> {
    crate::schema::DRAFTS
        .get(&node.store, key)
        .unwrap()
        .map(|b| Draft::load(&b).unwrap())
}

fn set(node: &Node, doc_id: &str, field: &str, value: &str) {
    let mut draft = load(node, doc_id).unwrap();
    draft.set_field(field, value).unwrap();
    node.store
        .write(|t| {
            save_draft(t, doc_id, &mut draft);
            Ok(())
        })
        .unwrap();
}

fn fields(node: &Node, key: &str) -> Vec<(String, String)> {
    load(node, key)
        .map(|d| d.fields().unwrap().into_iter().collect())
        .unwrap_or_default()
}

/// One draft session between `device` and the hub, which sees it enrolled as `role`.
fn sync(device: &Arc<Node>, hub: &Arc<Node>, role: &DeviceRole) -> (DraftStats, DraftStats) {
    sync_seen(device, hub, role, &mut Vec::new())
}

/// [`sync`], keeping every automerge message that crossed, either way, in `seen`.
fn sync_seen(
    device: &Arc<Node>,
    hub: &Arc<Node>,
    role: &DeviceRole,
    seen: &mut Vec<Vec<u8>>,
) -> (DraftStats, DraftStats) {
    let mut dv = NodeDraftReplica::device(device.clone()).unwrap();
    let mut hv = NodeDraftReplica::hub(hub.clone(), device.node_id(), role);
    let mut client = DraftSession::client(&dv).unwrap();
    let mut server = DraftSession::server();
    let (mut up, mut down) = (VecDeque::new(), VecDeque::new());
    for _ in 0..10_000 {
        while let Some(m) = client.poll_transmit(&mut dv).unwrap() {
            up.push_back(m.encode());
        }
        while let Some(m) = server.poll_transmit(&mut hv).unwrap() {
            down.push_back(m.encode());
        }
        if client.is_done() && server.is_done() && up.is_empty() && down.is_empty() {
            return (client.stats().clone(), server.stats().clone());
        }
        if let Some(b) = up.pop_front() {
            let m = DraftMessage::decode(&b).unwrap();
            if let DraftMessage::DraftTurn { data: Some(d), .. } = &m {
                seen.push(d.clone());
            }
            server.handle(m, &mut hv).unwrap();
        }
        if let Some(b) = down.pop_front() {
            let m = DraftMessage::decode(&b).unwrap();
            if let DraftMessage::DraftTurn { data: Some(d), .. } = &m {
                seen.push(d.clone());
            }
            client.handle(m, &mut dv).unwrap();
        }
    }
    panic!("the draft sessions never finished");
}

fn satker_role(satker: &str) -> DeviceRole {
    DeviceRole::Satker {
        satker: satker.into(),
    }
}

/// Moves the document to signed on `node`, as `espm sign` does.
fn mark_signed(node: &Node, doc_id: &str) {
    node.store
        .write(|t| {
            let satker = node.satker().unwrap().to_string();
            let mut rec: DocRecord = crate::docs::get(t, &satker, doc_id)?.unwrap();
            rec.enter(DocState::Signed, clock::wall(), None);
            crate::docs::put(t, &rec);
            Ok(())
        })
        .unwrap();
}

fn state(node: &Node, doc_id: &str) -> Option<DocState> {
    crate::docs::load(&node.store, node.satker().unwrap(), doc_id)
        .unwrap()
        .map(|r| r.state)
}

#[test]
fn a_draft_reaches_the_other_device_of_its_satker_with_a_draft_record() {
    let mut n = Nodes::new();
    let (a, b) = (n.device(SATKER), n.device(SATKER));
    let role = satker_role(SATKER);
    new_draft(&a, "spm-1", "nomor", "00001/SPM/2026");
    sync(&a, &n.hub, &role);
    let (got, _) = sync(&b, &n.hub, &role);
    assert_eq!(got.changed_here, 1);
    assert_eq!(state(&b, "spm-1"), Some(DocState::Draft));
    assert_eq!(fields(&b, "spm-1"), fields(&a, "spm-1"));

    set(&b, "spm-1", "uraian", "ATK");
    set(&a, "spm-1", "nilai", "1500000");
    for dev in [&b, &a, &b] {
        sync(dev, &n.hub, &role);
    }
    assert_eq!(fields(&a, "spm-1").len(), 3);
    assert_eq!(fields(&a, "spm-1"), fields(&b, "spm-1"));
    assert_eq!(
        fields(&n.hub, &format!("{SATKER}/spm-1")),
        fields(&a, "spm-1")
    );

    let (idle, _) = sync(&a, &n.hub, &role);
    assert_eq!(
        (idle.announced, idle.peer_announced, idle.sent_messages),
        (0, 0, 0)
    );
}

#[test]
fn an_auditor_gets_no_drafts_and_anything_it_pushes_is_refused() {
    let mut n = Nodes::new();
    let (a, auditor) = (n.device(SATKER), n.device(SATKER));
    new_draft(&a, "spm-1", "nomor", "1");
    sync(&a, &n.hub, &satker_role(SATKER));
    new_draft(&auditor, "spm-2", "nomor", "2");
    let audit = DeviceRole::Auditor {
        scope: vec![SATKER.into()],
    };
    let (got, hub) = sync(&auditor, &n.hub, &audit);
    assert_eq!(got.peer_announced, 0);
    assert!(load(&auditor, "spm-1").is_none());
    assert_eq!(got.refused_by_peer.len(), 1);
    assert_eq!(got.refused_by_peer[0].reason, RefusalReason::NotAllowed);
    assert_eq!(hub.refused_here.len(), 1);
    assert!(load(&n.hub, &format!("{SATKER}/spm-2")).is_none());
}

#[test]
fn a_device_may_push_only_drafts_of_its_own_satker_and_sees_no_others() {
    let mut n = Nodes::new();
    let (a, stranger, other) = (n.device(SATKER), n.device("654321"), n.device("654321"));
    new_draft(&a, "spm-1", "nomor", "1");
    sync(&a, &n.hub, &satker_role(SATKER));
    // Drafts claiming satker 654321 from a device the hub enrolled for 123456.
    new_draft(&stranger, "spm-9", "nomor", "9");
    let (got, _) = sync(&stranger, &n.hub, &satker_role(SATKER));
    let wrong = RefusalReason::WrongSatker {
        draft: "654321".into(),
        device: SATKER.into(),
    };
    assert_eq!(got.refused_by_peer[0].reason, wrong);
    assert!(load(&n.hub, &format!("{SATKER}/spm-9")).is_none());
    // A device of another satker is offered nothing of 123456.
    let (got, _) = sync(&other, &n.hub, &satker_role("654321"));
    assert_eq!(got.peer_announced, 0);
    assert!(load(&other, "spm-1").is_none());
}

#[test]
fn a_signed_document_keeps_its_snapshot_when_another_device_edits_the_draft() {
    let mut n = Nodes::new();
    let (a, b) = (n.device(SATKER), n.device(SATKER));
    let role = satker_role(SATKER);
    new_draft(&a, "spm-1", "nomor", "1");
    sync(&a, &n.hub, &role);
    sync(&b, &n.hub, &role);
    mark_signed(&a, "spm-1");
    let before = fields(&a, "spm-1");
    set(&b, "spm-1", "nilai", "999");
    sync(&b, &n.hub, &role);
    let (got, hub) = sync(&a, &n.hub, &role);
    assert_eq!(fields(&a, "spm-1"), before);
    assert!(matches!(
        got.refused_here[0].reason,
        RefusalReason::Frozen { .. }
    ));
    assert_eq!(hub.refused_by_peer.len(), 1);
    let (idle, _) = sync(&a, &n.hub, &role);
    assert_eq!((idle.peer_announced, idle.refused_here.len()), (0, 0));
}

#[test]
fn after_a_sync_only_the_changed_draft_and_its_new_changes_travel() {
    let mut n = Nodes::new();
    let a = n.device(SATKER);
    let role = satker_role(SATKER);
    for i in 0..20 {
        new_draft(
            &a,
            &format!("spm-{i}"),
            "uraian",
            &"Belanja ATK ".repeat(50),
        );
    }
    let (first, _) = sync(&a, &n.hub, &role);
    assert_eq!((first.announced, first.in_step), (20, 20));
    set(&a, "spm-7", "nilai", "10");
    let (one, hub) = sync(&a, &n.hub, &role);
    assert_eq!((one.announced, one.in_step, hub.changed_here), (1, 1, 1));
    assert!(
        one.sent_bytes * 20 < first.sent_bytes,
        "{} bytes for one small edit, {} for all 20 drafts",
        one.sent_bytes,
        first.sent_bytes
    );
}

// Peer input that expands: bounded before automerge sees it (storage's draft guard).

const HOSTILE: [u8; 16] = [0xab; 16];
const MIB: u64 = 1024 * 1024;

fn stored(node: &Node, key: &str) -> Option<Vec<u8>> {
    crate::schema::DRAFTS
        .get(&node.store, key)
        .unwrap()
        .map(|b| b.into_vec())
}

fn invalid_detail(applied: &Applied) -> &str {
    match applied {
        Applied::Refused(RefusalReason::Invalid { detail }) => detail,
        other => panic!("expected an Invalid refusal, got {other:?}"),
    }
}

/// A hub holding satker 123456's draft `spm-1`, and the device that shared it.
fn hub_with_draft(n: &mut Nodes) -> Arc<Node> {
    let a = n.device(SATKER);
    new_draft(&a, "spm-1", "nomor", "00001/SPM/2026");
    sync(&a, &n.hub, &satker_role(SATKER));
    a
}

#[test]
fn a_compressed_change_bomb_from_a_device_is_refused_and_the_hubs_copy_is_unchanged() {
    let mut n = Nodes::new();
    let a = hub_with_draft(&mut n);
    let key = format!("{SATKER}/spm-1");
    let before = stored(&n.hub, &key).unwrap();
    // A well-formed change putting 256 MiB at the draft's root, deflated to ~250 KiB.
    let chunk = craft::compressed_put_string_change(&HOSTILE, "padding", 256 * MIB, b'a');
    let bomb = craft::message(&chunk, &[]);
    assert!(bomb.len() < sync_protocol::MAX_DRAFT_SYNC_BYTES);
    let mut hv = NodeDraftReplica::hub(n.hub.clone(), a.node_id(), &satker_role(SATKER));
    let started = Instant::now();
    let applied = hv.receive("spm-1", &bomb).unwrap();
    eprintln!(
        "hub refused a {} byte bomb in {:?}",
        bomb.len(),
        started.elapsed()
    );
    let detail = invalid_detail(&applied);
    assert!(
        detail.contains("expand to more than 8388608 bytes"),
        "{detail}"
    );
    assert_eq!(stored(&n.hub, &key).unwrap(), before);
    // The device's next sync finds the hub as it was.
    let (idle, _) = sync(&a, &n.hub, &satker_role(SATKER));
    assert_eq!((idle.announced, idle.refused_by_peer.len()), (0, 0));
}

#[test]
fn deflated_column_and_row_bombs_from_a_device_are_refused_and_the_hubs_copy_is_unchanged() {
    let mut n = Nodes::new();
    let a = hub_with_draft(&mut n);
    let key = format!("{SATKER}/spm-1");
    let before = stored(&n.hub, &key).unwrap();
    let mut hv = NodeDraftReplica::hub(n.hub.clone(), a.node_id(), &satker_role(SATKER));
    let column = craft::message(&craft::deflated_column_document(&HOSTILE, 64 * MIB), &[]);
    let applied = hv.receive("spm-1", &column).unwrap();
    assert!(invalid_detail(&applied).contains("more than 8388608 bytes"));
    let rows = craft::message(&craft::rle_row_change(&HOSTILE, 1_000_000_000, "k"), &[]);
    let applied = hv.receive("spm-1", &rows).unwrap();
    assert!(invalid_detail(&applied).contains("more than 100000 operations"));
    assert_eq!(stored(&n.hub, &key).unwrap(), before);
}

#[test]
fn a_change_that_would_leave_an_unloadable_draft_is_refused_and_the_hub_keeps_its_copy() {
    let mut n = Nodes::new();
    let a = hub_with_draft(&mut n);
    let key = format!("{SATKER}/spm-1");
    let before = stored(&n.hub, &key).unwrap();
    // Readable, but not automerge's own encoding: the document automerge saves after
    // applying it no longer loads, which would lose the draft for every device.
    let odd = craft::message(&craft::put_string_change_in_runs(&HOSTILE, "k", b"v"), &[]);
    let mut hv = NodeDraftReplica::hub(n.hub.clone(), a.node_id(), &satker_role(SATKER));
    let applied = hv.receive("spm-1", &odd).unwrap();
    assert!(invalid_detail(&applied).contains("does not load again"));
    assert_eq!(stored(&n.hub, &key).unwrap(), before);
    assert!(load(&n.hub, &key).is_some());
}

/// Letters deflate can shrink only to about three quarters.
fn noise(len: usize, mut x: u64) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

#[test]
fn a_device_cannot_grow_the_hubs_draft_past_its_bound_across_messages() {
    let mut n = Nodes::new();
    let a = n.device(SATKER);
    let role = satker_role(SATKER);
    let key = format!("{SATKER}/spm-1");
    new_draft(&a, "spm-1", "nomor", "1");
    let mut refusal = None;
    for i in 0..8 {
        set(
            &a,
            "spm-1",
            &format!("lampiran{i}"),
            &noise(300 * 1024, i + 1),
        );
        let (got, _) = sync(&a, &n.hub, &role);
        if let Some(r) = got.refused_by_peer.first() {
            refusal = Some((i, r.reason.clone()));
            break;
        }
    }
    let (i, reason) = refusal.expect("the hub took every 300 KiB field");
    assert!(i >= 2, "refused at the {i}th field already");
    assert!(reason.to_string().contains("would grow past"), "{reason}");
    let kept = stored(&n.hub, &key).unwrap();
    assert!(kept.len() <= MAX_DRAFT_BYTES, "{} bytes", kept.len());
    assert!(load(&n.hub, &key).unwrap().fields().unwrap().len() <= i as usize + 1);
}

#[test]
fn drafts_with_long_fields_converge_through_the_hub_in_deflated_documents() {
    let mut n = Nodes::new();
    let (a, b) = (n.device(SATKER), n.device(SATKER));
    let role = satker_role(SATKER);
    // Over 256 bytes, so automerge deflates the column when it saves a whole copy.
    let long = "Belanja barang operasional kantor: kertas, tinta, map. ".repeat(40);
    new_draft(&a, "spm-1", "uraian", &long);
    let mut seen = Vec::new();
    sync_seen(&a, &n.hub, &role, &mut seen);
    sync_seen(&b, &n.hub, &role, &mut seen);
    assert_eq!(fields(&b, "spm-1"), fields(&a, "spm-1"));
    set(&b, "spm-1", "keterangan", &long.to_uppercase());
    set(&a, "spm-1", "nilai", "1500000");
    for dev in [&b, &a, &b] {
        sync_seen(dev, &n.hub, &role, &mut seen);
    }
    assert_eq!(fields(&a, "spm-1").len(), 3);
    assert_eq!(fields(&a, "spm-1"), fields(&b, "spm-1"));
    assert_eq!(
        fields(&n.hub, &format!("{SATKER}/spm-1")),
        fields(&a, "spm-1")
    );
    // What honest nodes sent, as the guard saw it: the whole document, deflated
    // columns and all, for the device that had none, and changes after that.
    let shapes: Vec<Shape> = seen
        .iter()
        .map(|m| check_sync_message(m, &Limits::PEER).unwrap())
        .collect();
    assert!(
        shapes
            .iter()
            .any(|s| s.document_chunks == 1 && s.deflated_columns >= 1),
        "{shapes:?}"
    );
    assert!(shapes.iter().any(|s| s.change_chunks >= 1), "{shapes:?}");
}

/// Device `b` holds `spm-1` as synced; `a` has since added `nilai` through the hub.
/// Returns `b`'s replica and the hub's answer carrying `nilai`.
fn answer_for_b(n: &mut Nodes) -> (Arc<Node>, NodeDraftReplica, Vec<u8>) {
    let (a, b) = (n.device(SATKER), n.device(SATKER));
    let role = satker_role(SATKER);
    new_draft(&a, "spm-1", "nomor", "1");
    sync(&a, &n.hub, &role);
    sync(&b, &n.hub, &role);
    set(&a, "spm-1", "nilai", "1500000");
    sync(&a, &n.hub, &role);
    let mut dv = NodeDraftReplica::device(b.clone()).unwrap();
    let mut hv = NodeDraftReplica::hub(n.hub.clone(), b.node_id(), &role);
    let ask = dv.generate("spm-1").unwrap().unwrap();
    hv.receive("spm-1", &ask).unwrap();
    let answer = hv.generate("spm-1").unwrap().unwrap();
    (b, dv, answer)
}

#[test]
fn an_edit_stored_while_a_peer_message_was_merged_is_kept() {
    let mut n = Nodes::new();
    let (b, mut dv, answer) = answer_for_b(&mut n);
    let state = dv.take_state("spm-1", "spm-1").unwrap();
    let prepared = dv
        .prepare("spm-1", "spm-1", state.clone(), &answer)
        .unwrap();
    assert!(matches!(prepared.outcome, Outcome::Changed { .. }));
    // An edit on b lands after the merge loaded b's copy, before it is stored.
    set(&b, "spm-1", "uraian", "ATK");
    assert!(matches!(
        dv.commit("spm-1", "spm-1", &prepared).unwrap(),
        Commit::Stale
    ));
    assert_eq!(fields(&b, "spm-1").len(), 2, "the stale merge was stored");
    // receive merges again from the stored copy: both edits stand.
    dv.states.insert("spm-1".into(), state);
    assert_eq!(dv.receive("spm-1", &answer).unwrap(), Applied::Changed);
    let got: BTreeMap<String, String> = fields(&b, "spm-1").into_iter().collect();
    assert_eq!(got["uraian"], "ATK");
    assert_eq!(got["nilai"], "1500000");
}

#[test]
fn a_document_signed_while_a_peer_message_was_merged_keeps_its_snapshot() {
    let mut n = Nodes::new();
    let (b, mut dv, answer) = answer_for_b(&mut n);
    let state = dv.take_state("spm-1", "spm-1").unwrap();
    let prepared = dv.prepare("spm-1", "spm-1", state, &answer).unwrap();
    let before = stored(&b, "spm-1").unwrap();
    mark_signed(&b, "spm-1");
    assert!(matches!(
        dv.commit("spm-1", "spm-1", &prepared).unwrap(),
        Commit::Done(Applied::Refused(RefusalReason::Frozen { .. }))
    ));
    assert_eq!(stored(&b, "spm-1").unwrap(), before);
}
