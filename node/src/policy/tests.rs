//! The signing policy table as the hub distributes it: issued at `init hub`, taken by
//! devices only from the pinned authority and only if they can apply it, and the one
//! the hub judges submissions by.

use std::collections::BTreeMap;

use sync_protocol::{
    AllOf, AnyOf, DocKind, DocState, Item, Jabatan, Policy, PolicyTable, SecretKey, SignedItem,
    Timestamp,
};

use crate::{
    config::NodeConfig, device::receive::client_receive, node::Node, records::RefusalRecord,
    testkit::World, verdict::Verdict,
};

const SATKER: &str = "123456";

/// The default table, with an SPM needing the KPA as well as the PPSPM.
fn spm_also_needs_the_kpa() -> Policy {
    let mut p = Policy::default();
    p.rules.insert(
        DocKind::Spm,
        AllOf(vec![AnyOf(vec![Jabatan::Ppspm]), AnyOf(vec![Jabatan::Kpa])]),
    );
    p
}

/// A table sealed by `key`, as the hub would serve it in the trust stream.
fn table_by(key: &SecretKey, policy: Policy) -> SignedItem {
    SignedItem::seal(
        Item::PolicyTable(PolicyTable {
            issued_at: Timestamp(4_000_000_000_000),
            policy,
        }),
        key,
    )
}

fn offer(node: &Node, item: &SignedItem) -> Verdict {
    node.store
        .write(|t| client_receive(node, t, SignedItem::open(&item.bytes)))
        .unwrap()
}

#[test]
fn a_new_hub_distributes_the_default_table_and_a_device_takes_it_at_its_first_sync() {
    let mut w = World::new();
    assert_eq!(w.hub.policy().unwrap(), Policy::default());
    let device = w.satker(SATKER);
    assert_eq!(device.policy().unwrap(), Policy::default());
}

#[test]
fn a_device_refuses_a_policy_table_not_signed_by_the_hub_authority() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let stranger = SecretKey::generate();
    // A stranger's key, the hub's service key (which signs receipts, not rules), and
    // the hub's node key (its TLS identity) all fail: only the authority sets rules.
    for key in [&stranger, w.hub.service.as_ref().unwrap(), &w.hub.key] {
        let forged = table_by(key, spm_also_needs_the_kpa());
        assert_eq!(
            offer(&device, &forged).unwrap_err().to_string(),
            "signing policy table is not signed by the hub key that issues it (authority or service key of the hub this node pinned)"
        );
        assert_eq!(device.store.item(&forged.address).unwrap(), None);
        assert_eq!(device.policy().unwrap(), Policy::default());
    }
}

#[test]
fn a_device_refuses_an_authority_signed_table_it_cannot_apply() {
    // A Gaji rule with no group would let every Gaji through unsigned.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let authority = w.hub.authority(Some(crate::testkit::CSO)).unwrap();
    let mut empty = Policy::default();
    empty.rules.insert(DocKind::Gaji, AllOf(Vec::new()));
    let table = table_by(&authority, empty);
    assert_eq!(
        offer(&device, &table).unwrap_err().to_string(),
        "signing policy table refused: the rule for gaji has 0 groups of roles; a rule has 1 to 5"
    );
    assert_eq!(device.store.item(&table.address).unwrap(), None);
    assert_eq!(device.policy().unwrap(), Policy::default());
}

#[test]
fn a_newer_table_from_the_authority_is_in_force_on_the_device_after_its_next_sync() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let first_issued = crate::policy::newest(&w.hub.store)
        .unwrap()
        .unwrap()
        .issued_at;
    let later = Timestamp(first_issued.0 + 1000);
    w.issue_policy(later, spm_also_needs_the_kpa());
    assert_eq!(w.hub.policy().unwrap(), spm_also_needs_the_kpa());
    assert_eq!(device.policy().unwrap(), Policy::default());
    w.sync(&device);
    assert_eq!(device.policy().unwrap(), spm_also_needs_the_kpa());
    // What was in force before the new table stays known, for judging old receipts.
    let before = crate::policy::in_force_at(&device.store, Timestamp(later.0 - 1)).unwrap();
    assert_eq!(before.map(|t| t.policy), Some(Policy::default()));
    let since = crate::policy::in_force_at(&device.store, later).unwrap();
    assert_eq!(since.map(|t| t.policy), Some(spm_also_needs_the_kpa()));
}

#[test]
fn the_hub_refuses_a_submission_that_misses_the_table_it_distributes() {
    // The defaults would take an SPM signed by the PPSPM alone; the table in force
    // wants the KPA too.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    w.issue_policy(w.hub.now(), spm_also_needs_the_kpa());
    let doc = w.submit_spm(&device, &ppspm, "spm-kpa-000001", Vec::new());
    w.sync(&device);
    assert_eq!(w.hub_doc(SATKER, &doc), None);
    let rec = World::doc(&device, &doc);
    assert_eq!(rec.state, DocState::Rejected);
    let reason = rec.history.last().unwrap().reason.clone().unwrap();
    assert_eq!(
        reason,
        format!("refused by the hub: document {doc}: spm needs PPSPM, and KPA; present: PPSPM")
    );
    let refusals: BTreeMap<String, RefusalRecord> = crate::schema::REFUSALS
        .list(&w.hub.store, "")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
}

#[test]
fn a_device_that_holds_no_table_yet_is_told_to_sync() {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig::Satker {
        satker: SATKER.into(),
        hub: "127.0.0.1:1".into(),
        hub_id: SecretKey::generate().public(),
    };
    let (node, _) = Node::create(dir.path(), config, None).unwrap();
    assert_eq!(
        node.policy().unwrap_err().to_string(),
        "this node holds no signing policy table yet; run `espm sync` so it learns the table from the hub"
    );
}
