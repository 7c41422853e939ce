//! Operators at both ends: the hub takes an activation request only from the device
//! itself for its own satker, and a submission only from an operator it activated for
//! the submitting device, of the role every document needs, not revoked when the
//! submission arrives; a satker node takes only authority-signed activations.

use crate::clock;
use std::sync::Arc;

use sync_protocol::{DocKind, Jabatan, OperatorActivation, OperatorRole, SecretKey};

use super::{
    activate_operator, assert_refused, cert_request, enroll, hub, operator_request, push, run,
    OTHER_SATKER, SATKER,
};
use crate::{
    cli::{Certs, Command, Operator, Operators, OperatorsArgs},
    config::NodeConfig,
    device::receive::client_receive,
    hub::ingest::*,
    records::{hub_operator_key, DocRecord, HubOperatorRecord, OperatorRecord},
    satker::compose::{self, SignerRef},
};

const OPERATOR: &str = "operator01";

/// A hub; a satker device with a certified PPSPM; a colleague device of the same
/// satker; a device of another satker.
struct World {
    _dir: tempfile::TempDir,
    hub: Arc<Node>,
    device: SecretKey,
    colleague: SecretKey,
    ppspm: (SecretKey, String),
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let device = enroll(&hub, SATKER);
        let colleague = enroll(&hub, SATKER);
        let key = SecretKey::generate();
        let request = cert_request(device.public(), &key, Jabatan::Ppspm, SATKER);
        let request = SignedItem::seal(Item::CertRequest(request), &key);
        assert!(push(&hub, &device, &[&request]).is_empty());
        let approved = run(
            &hub,
            Command::Certs(crate::cli::CertsArgs {
                action: Some(Certs::Approve {
                    request_id: request.address.request_id(),
                }),
            }),
        );
        let serial = approved.json["serial"].as_str().unwrap().to_string();
        World {
            _dir: dir,
            hub,
            device,
            colleague,
            ppspm: (key, serial),
        }
    }

    /// A PPSPM-signed SPM whose snapshot (by `author`) and signature the hub holds.
    fn signed_spm(&self, author: &SecretKey) -> DocRecord {
        let now = clock::wall();
        let doc_id = compose::new_doc_id(DocKind::Spm);
        let mut rec = compose::draft_record(&doc_id, DocKind::Spm, SATKER, now);
        let fields = crate::testkit::spm_fields("00001/SPM/2026", "1500000");
        let snapshot = compose::seal_snapshot(
            author,
            &doc_id,
            DocKind::Spm,
            SATKER,
            fields,
            Vec::new(),
            now,
        );
        let signer = SignerRef {
            serial: &self.ppspm.1,
            jabatan: Jabatan::Ppspm,
            name: "Siti Rahma",
        };
        let sig = compose::sign(
            &mut rec,
            snapshot.address,
            signer,
            &self.ppspm.0,
            SATKER,
            now,
        );
        assert!(push(&self.hub, author, &[&snapshot, &sig]).is_empty());
        rec
    }

    /// A submission of one fresh signed SPM by `author`, naming `operator`.
    fn submission(&self, author: &SecretKey, operator: &str) -> (DocRecord, SignedItem) {
        let rec = self.signed_spm(author);
        let (_, sealed) = compose::seal_submission(
            author,
            SATKER,
            operator,
            std::slice::from_ref(&rec),
            clock::wall(),
        )
        .unwrap();
        (rec, sealed)
    }

    fn hub_operator(&self, satker: &str, username: &str) -> Option<HubOperatorRecord> {
        crate::schema::HUB_OPERATORS
            .get(&self.hub.store, &hub_operator_key(satker, username))
            .unwrap()
    }

    fn revoke(&self, username: &str, reason: &str) -> String {
        run(
            &self.hub,
            Command::Operators(OperatorsArgs {
                action: Some(Operators::Revoke {
                    username: username.into(),
                    satker: SATKER.into(),
                    reason: reason.into(),
                }),
            }),
        );
        let activation = self
            .hub_operator(SATKER, username)
            .unwrap()
            .activation
            .unwrap();
        trust::of_operator(&self.hub.store, &activation)
            .unwrap()
            .unwrap()
            .describe()
    }
}

// Submissions.

#[test]
fn a_submission_by_an_operator_activated_for_the_sending_device_is_delivered() {
    // The control for the refusals below, which vary one thing each.
    let w = World::new();
    activate_operator(
        &w.hub,
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    let (rec, sealed) = w.submission(&w.device, OPERATOR);
    assert!(push(&w.hub, &w.device, &[&sealed]).is_empty());
    let held: DocRecord = crate::docs::load(&w.hub.store, SATKER, &rec.doc_id)
        .unwrap()
        .unwrap();
    assert_eq!(held.state, DocState::Delivered);
}

#[test]
fn the_hub_refuses_a_submission_naming_an_operator_it_never_activated() {
    let w = World::new();
    let (_, sealed) = w.submission(&w.device, OPERATOR);
    assert_refused(
        &w.hub,
        &w.device,
        &sealed,
        &format!("operator {OPERATOR} was never activated for satker {SATKER} by this KPPN; the CSO activates operators (`espm operators approve`)"),
    );
}

#[test]
fn the_hub_refuses_a_submission_naming_an_operator_whose_request_is_still_pending() {
    let w = World::new();
    let request = operator_request(
        w.device.public(),
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    assert!(push(&w.hub, &w.device, &[&request]).is_empty());
    let (_, sealed) = w.submission(&w.device, OPERATOR);
    assert_refused(
        &w.hub,
        &w.device,
        &sealed,
        &format!(
            "operator {OPERATOR} of satker {SATKER} is not active: its request {} waits for the KPPN's CSO",
            request.address.request_id()
        ),
    );
}

#[test]
fn the_hub_refuses_a_submission_naming_an_operator_activated_for_another_device() {
    // The colleague's operator holds its secret on the colleague's device; this device
    // cannot have checked its code.
    let w = World::new();
    activate_operator(
        &w.hub,
        &w.colleague,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    let (_, sealed) = w.submission(&w.device, OPERATOR);
    assert_refused(
        &w.hub,
        &w.device,
        &sealed,
        &format!(
            "operator {OPERATOR} of satker {SATKER} is activated for another device, not this one"
        ),
    );
}

#[test]
fn the_hub_refuses_a_submission_by_a_revoked_operator_that_arrives_after_the_revocation() {
    // Queued on the device before it learned of the revocation; the hub judges by when
    // the submission reaches it.
    let w = World::new();
    activate_operator(
        &w.hub,
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    let (_, sealed) = w.submission(&w.device, OPERATOR);
    let revoked = w.revoke(OPERATOR, "pindah tugas");
    assert!(revoked.contains("pindah tugas"), "{revoked}");
    assert_refused(
        &w.hub,
        &w.device,
        &sealed,
        &format!(
            "operator {OPERATOR} of satker {SATKER} was {revoked}; the hub accepts nothing it submits from then on"
        ),
    );
}

#[test]
fn the_hub_refuses_a_submission_by_an_operator_of_the_wrong_role() {
    let w = World::new();
    activate_operator(
        &w.hub,
        &w.device,
        "bendahara01",
        OperatorRole::OperatorBendahara,
        SATKER,
    );
    let (rec, sealed) = w.submission(&w.device, "bendahara01");
    assert_refused(
        &w.hub,
        &w.device,
        &sealed,
        &format!(
            "document {}: a spm is submitted by an operator-satker; operator bendahara01 is an operator-bendahara",
            rec.doc_id
        ),
    );
}

// Activation requests.

#[test]
fn a_well_formed_operator_request_from_the_device_itself_is_stored_as_pending() {
    // The control for the request refusals below.
    let w = World::new();
    let request = operator_request(
        w.device.public(),
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    assert!(push(&w.hub, &w.device, &[&request]).is_empty());
    let rec = w.hub_operator(SATKER, OPERATOR).unwrap();
    assert_eq!(rec.request, request.address);
    assert_eq!(rec.device, w.device.public());
    assert_eq!(rec.activation, None);
    let listed = run(
        &w.hub,
        Command::Operators(OperatorsArgs {
            action: Some(Operators::Requests),
        }),
    );
    assert_eq!(listed.json[0]["request_id"], request.address.request_id());
    assert_eq!(listed.json[0]["satker"], SATKER);
}

#[test]
fn the_hub_refuses_an_operator_request_for_another_satker() {
    let w = World::new();
    let request = operator_request(
        w.device.public(),
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        OTHER_SATKER,
    );
    assert_refused(
        &w.hub,
        &w.device,
        &request,
        &format!("this device is enrolled for satker {SATKER}, not {OTHER_SATKER}"),
    );
}

#[test]
fn the_hub_refuses_an_operator_request_authored_by_another_key() {
    // Signed by the colleague's key but pushed, and naming, this device: a device asks
    // only for operators whose secret it made itself.
    let w = World::new();
    let request = operator_request(
        w.device.public(),
        &w.colleague,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    assert_refused(
        &w.hub,
        &w.device,
        &request,
        "operator request was not authored by the sending device",
    );
}

#[test]
fn the_hub_refuses_an_operator_request_naming_another_device() {
    let w = World::new();
    let request = operator_request(
        w.colleague.public(),
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    assert_refused(
        &w.hub,
        &w.device,
        &request,
        "operator request names another device",
    );
}

#[test]
fn the_hub_refuses_an_operator_request_with_a_username_the_rules_forbid() {
    let w = World::new();
    let request = operator_request(
        w.device.public(),
        &w.device,
        "op 1",
        OperatorRole::OperatorSatker,
        SATKER,
    );
    assert_refused(
        &w.hub,
        &w.device,
        &request,
        "invalid username 'op 1': must be 8 to 64 letters or digits (a-z, A-Z, 0-9)",
    );
}

#[test]
fn a_second_request_for_a_pending_or_active_operator_is_refused_and_one_after_revocation_is_taken()
{
    let w = World::new();
    let first = activate_operator(
        &w.hub,
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    // Active: the colleague's device cannot take the name over.
    let again = operator_request(
        w.colleague.public(),
        &w.colleague,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    assert_refused(
        &w.hub,
        &w.colleague,
        &again,
        &format!("operator {OPERATOR} of satker {SATKER} is already active; the KPPN's CSO must revoke it before it is activated again"),
    );
    w.revoke(OPERATOR, "SK dicabut");
    // Revoked: a new request is taken, and is pending.
    assert!(push(&w.hub, &w.colleague, &[&again]).is_empty());
    let rec = w.hub_operator(SATKER, OPERATOR).unwrap();
    assert_eq!((rec.request, rec.activation), (again.address, None));
    assert_ne!(rec.request, first.address);
    // Pending: a third one waits its turn.
    let third = operator_request(
        w.device.public(),
        &w.device,
        OPERATOR,
        OperatorRole::OperatorBendahara,
        SATKER,
    );
    assert_refused(
        &w.hub,
        &w.device,
        &third,
        &format!(
            "operator {OPERATOR} of satker {SATKER} already has a pending activation request {}; the KPPN's CSO approves it, or revokes the operator once active",
            again.address.request_id()
        ),
    );
}

#[test]
fn a_satker_device_may_not_author_an_operator_activation() {
    let w = World::new();
    let request = operator_request(
        w.device.public(),
        &w.device,
        OPERATOR,
        OperatorRole::OperatorSatker,
        SATKER,
    );
    let forged = OperatorActivation {
        request: request.address,
        username: OPERATOR.into(),
        role: OperatorRole::OperatorSatker,
        satker: SATKER.into(),
        device: w.device.public(),
        activated_at: clock::wall(),
    };
    let forged = SignedItem::seal(Item::OperatorActivation(forged), &w.device);
    assert_refused(
        &w.hub,
        &w.device,
        &forged,
        "a satker device may not author an operator activation",
    );
    let (_, sealed) = w.submission(&w.device, OPERATOR);
    assert_refused(
        &w.hub,
        &w.device,
        &sealed,
        &format!("operator {OPERATOR} was never activated for satker {SATKER} by this KPPN; the CSO activates operators (`espm operators approve`)"),
    );
}

// The satker's side.

/// A satker node that pinned `authority`, with operator01 added (pending).
fn satker_with_pending_operator(
    dir: &std::path::Path,
    authority: &SecretKey,
) -> (Arc<Node>, OperatorRecord) {
    let config = NodeConfig::Satker {
        satker: SATKER.into(),
        hub: "127.0.0.1:4433".into(),
        hub_id: SecretKey::generate().public(),
    };
    let node = Arc::new(Node::create(dir, config, None).unwrap().0);
    node.store
        .write(|t| {
            crate::schema::AUTHORITY.put(t, &authority.public());
            Ok(())
        })
        .unwrap();
    run(
        &node,
        Command::Operator(Operator::Add {
            username: OPERATOR.into(),
            role: "operator-satker".into(),
            sk_penunjukan: None,
        }),
    );
    let op: OperatorRecord = crate::schema::OPERATORS
        .get(&node.store, OPERATOR)
        .unwrap()
        .unwrap();
    assert_eq!(op.activation, None);
    (node, op)
}

fn activation_for(op: &OperatorRecord, device: sync_protocol::NodeId) -> OperatorActivation {
    OperatorActivation {
        request: op.request,
        username: op.username.clone(),
        role: op.role,
        satker: SATKER.into(),
        device,
        activated_at: clock::wall(),
    }
}

/// What the node answers to `item`, as the hub would read it in the refusal.
fn offer(node: &Node, item: &SignedItem) -> Result<(), String> {
    node.store
        .write(|t| client_receive(node, t, SignedItem::open(&item.bytes)))
        .unwrap()
        .map_err(|refused| refused.to_string())
}

#[test]
fn a_satker_node_refuses_an_operator_activation_not_signed_by_the_authority() {
    let dir = tempfile::tempdir().unwrap();
    let authority = SecretKey::generate();
    let (node, op) = satker_with_pending_operator(dir.path(), &authority);
    let forged = SignedItem::seal(
        Item::OperatorActivation(activation_for(&op, node.node_id())),
        &SecretKey::generate(),
    );
    assert_eq!(
        offer(&node, &forged),
        Err("operator activation is not signed by the hub key that issues it (authority or service key of the hub this node pinned)".into())
    );
    assert_eq!(node.store.item(&forged.address).unwrap(), None);
    let still: OperatorRecord = crate::schema::OPERATORS
        .get(&node.store, OPERATOR)
        .unwrap()
        .unwrap();
    assert_eq!(still.activation, None);

    // The same activation signed by the pinned authority activates the operator.
    let real = SignedItem::seal(
        Item::OperatorActivation(activation_for(&op, node.node_id())),
        &authority,
    );
    assert_eq!(offer(&node, &real), Ok(()));
    let active: OperatorRecord = crate::schema::OPERATORS
        .get(&node.store, OPERATOR)
        .unwrap()
        .unwrap();
    assert_eq!(active.activation, Some(real.address));
}

#[test]
fn a_satker_node_activates_no_operator_with_an_activation_for_another_device() {
    // A colleague device's activation of the same name travels in the same notices
    // stream; it is kept, but the operator here stays pending.
    let dir = tempfile::tempdir().unwrap();
    let authority = SecretKey::generate();
    let (node, op) = satker_with_pending_operator(dir.path(), &authority);
    let elsewhere = SignedItem::seal(
        Item::OperatorActivation(activation_for(&op, SecretKey::generate().public())),
        &authority,
    );
    assert_eq!(offer(&node, &elsewhere), Ok(()));
    assert!(node.store.item(&elsewhere.address).unwrap().is_some());
    let still: OperatorRecord = crate::schema::OPERATORS
        .get(&node.store, OPERATOR)
        .unwrap()
        .unwrap();
    assert_eq!(still.activation, None);
}
