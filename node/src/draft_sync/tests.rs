//! The node's draft replica on real sled stores: a hub and devices wired through
//! in-memory draft sessions, to check what each role may send and receive.

use std::collections::VecDeque;

use sync_protocol::{
    document::DocKind,
    draft_sync::{DraftMessage, DraftSession, DraftStats},
};
use tempfile::TempDir;

use super::*;
use crate::config::HubConfig;

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
    let rec = new_record(doc_id, &draft, clock::now()).unwrap();
    node.store
        .write(|t| {
            save_draft(t, doc_id, &mut draft);
            crate::docs::put(t, &rec);
            Ok(())
        })
        .unwrap();
}

fn load(node: &Node, key: &str) -> Option<Draft> {
    node.store
        .get::<ByteBuf>(Table::Draft, key)
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
            server
                .handle(DraftMessage::decode(&b).unwrap(), &mut hv)
                .unwrap();
        }
        if let Some(b) = down.pop_front() {
            client
                .handle(DraftMessage::decode(&b).unwrap(), &mut dv)
                .unwrap();
        }
    }
    panic!("the draft sessions never finished");
}

fn satker_role(satker: &str) -> DeviceRole {
    DeviceRole::Satker {
        satker: satker.into(),
    }
}

fn state(node: &Node, doc_id: &str) -> Option<DocState> {
    crate::docs::load(&node.store, SATKER, doc_id)
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
    a.store
        .write(|t| {
            let mut rec: DocRecord = crate::docs::get(t, SATKER, "spm-1")?.unwrap();
            rec.enter(DocState::Signed, clock::now(), None);
            crate::docs::put(t, &rec);
            Ok(())
        })
        .unwrap();
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
