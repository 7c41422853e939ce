//! The hub's checks on what devices push, through the replica a hub session drives.
//!
//! This module holds the fixture; the submodules hold the tests, one per kind of
//! sender the hub must not trust with more than its role allows.

mod auditor;
mod operators;
mod rogue_satker;

use std::sync::Arc;

use sync_protocol::{
    CertRequest, FrameItem, Jabatan, OperatorRequest, OperatorRole, PublicKey, Refusal, Replica,
    SecretKey, Subject,
};

use super::*;
use crate::{
    cli::{
        run::{self as commands, Output, Secrets},
        Command, EnrollArgs, Operators, OperatorsArgs,
    },
    clock,
    config::{HubConfig, NodeConfig},
    hub::replica::HubReplica,
    records::{CertRecord, DeviceRecord, DocRecord, HubOperatorRecord, RefusalRecord},
};

/// The satker the devices under test are enrolled for.
const SATKER: &str = "123456";

/// The CSO's passphrase on the hub under test.
const CSO_PASSPHRASE: &str = "kata sandi CSO uji";

/// A satker the devices under test have no business with.
const OTHER_SATKER: &str = "654321";

fn hub(dir: &std::path::Path) -> Arc<Node> {
    let config = NodeConfig::Hub(HubConfig {
        kppn: "019".into(),
        name: "KPPN Kotabumi".into(),
        tz: "Asia/Jakarta".into(),
        listen: "127.0.0.1:0".into(),
        open_minute: 0,
        close_minute: 1440,
        after_hours_quota: 10,
        attachment_expiry_ms: crate::config::DEFAULT_ATTACHMENT_EXPIRY_MS,
    });
    let (node, authority) = Node::create(dir, config, Some(CSO_PASSPHRASE)).unwrap();
    // As `espm init hub` does, the hub issues the default signing policy table.
    let table = sync_protocol::PolicyTable {
        issued_at: node.now(),
        policy: sync_protocol::Policy::default(),
    };
    let authority = authority.unwrap();
    // And the default field schemas.
    let fields = sync_protocol::FieldSchemaTable {
        issued_at: node.now(),
        schemas: sync_protocol::FieldSchemas::default(),
    };
    node.store
        .write(|t| {
            crate::hub::publish::issue_policy(t, &authority, table)?;
            crate::hub::publish::issue_field_schemas(t, &authority, fields).map(|_| ())
        })
        .unwrap();
    Arc::new(node)
}

/// Runs a command on the hub as the CSO would at the hub's terminal.
fn run(hub: &Arc<Node>, cmd: Command) -> Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(commands::execute(
            hub.clone(),
            cmd,
            &Secrets {
                passphrase: Some(zeroize::Zeroizing::new(CSO_PASSPHRASE.to_string())),
                ..Secrets::default()
            },
            false,
        ))
        .unwrap()
}

/// A fresh device key, enrolled for `satker` as `espm enroll` does it.
fn enroll(hub: &Arc<Node>, satker: &str) -> SecretKey {
    let device = SecretKey::generate();
    run(
        hub,
        Command::Enroll(EnrollArgs {
            node_id: device.public().to_hex(),
            satker: Some(satker.into()),
            auditor: false,
            scope: Vec::new(),
        }),
    );
    device
}

/// Someone a satker would register as a signer, with every field well formed.
fn subject(jabatan: Jabatan, satker: &str) -> Subject {
    Subject {
        name: "Siti Rahma".into(),
        nik: "3171234567890123".into(),
        nip: "198001012005012001".into(),
        email: "siti@kemenkeu.go.id".into(),
        jabatan,
        unit: satker.into(),
        instansi: "Kementerian Keuangan".into(),
    }
}

/// A certificate request as `espm signer request` makes it on `device`: the new signing
/// key asks for itself, for the satker the device serves.
fn cert_request(device: PublicKey, key: &SecretKey, jabatan: Jabatan, satker: &str) -> CertRequest {
    CertRequest {
        subject: subject(jabatan, satker),
        satker: satker.into(),
        device,
        key: key.public(),
        requested_at: clock::wall(),
    }
}

/// An operator activation request as `espm operator add` makes it on `device`, sealed
/// by `author` (the device itself when honest).
fn operator_request(
    device: PublicKey,
    author: &SecretKey,
    username: &str,
    role: OperatorRole,
    satker: &str,
) -> SignedItem {
    let request = OperatorRequest {
        username: username.into(),
        role,
        satker: satker.into(),
        device,
        sk_penunjukan: Some("SK KPA No. 12/2026".into()),
        requested_at: clock::wall(),
    };
    SignedItem::seal(Item::OperatorRequest(request), author)
}

/// Activates operator `username` of `satker` for `device` as it happens for real: the
/// device pushes its request through the hub's checks and the CSO runs `operators
/// approve`. Returns the request item.
fn activate_operator(
    hub: &Arc<Node>,
    device: &SecretKey,
    username: &str,
    role: OperatorRole,
    satker: &str,
) -> SignedItem {
    let request = operator_request(device.public(), device, username, role, satker);
    let refusals = push(hub, device, &[&request]);
    assert!(refusals.is_empty(), "{refusals:?}");
    let approved = run(
        hub,
        Command::Operators(OperatorsArgs {
            action: Some(Operators::Approve {
                request_id: request.address.request_id(),
            }),
        }),
    );
    assert_eq!(approved.json["username"], username);
    request
}

/// Pushes `items` from `device` as one frame of its own stream, the way a hub session
/// does, with the role the hub's enrollment record gives the device.
fn push(hub: &Arc<Node>, device: &SecretKey, items: &[&SignedItem]) -> Vec<Refusal> {
    let id = device.public();
    let role = crate::hub::admit::device(hub, &id)
        .expect("only enrolled devices get a session")
        .role;
    let mut replica = HubReplica::new(hub.clone(), id, role);
    let stream = StreamId::Origin(id);
    let after = replica
        .accepts(&stream)
        .unwrap()
        .expect("the hub takes a satker device's own stream");
    let frame: Vec<FrameItem> = items
        .iter()
        .zip(after + 1..)
        .map(|(item, seq)| FrameItem {
            seq,
            bytes: item.bytes.clone(),
        })
        .collect();
    replica
        .receive(&stream, &frame, after + items.len() as u64)
        .unwrap()
}

/// Everything a stored item could have added to on the hub.
#[derive(Debug, PartialEq)]
struct Holdings {
    items: usize,
    hub_log: u64,
    heads: Vec<(StreamId, u64)>,
    requests: Vec<(String, RequestRecord)>,
    docs: Vec<(String, DocRecord)>,
    certs: Vec<(String, CertRecord)>,
    devices: Vec<(String, DeviceRecord)>,
    operators: Vec<(String, HubOperatorRecord)>,
    operator_requests: Vec<(String, String)>,
}

impl Holdings {
    fn of(hub: &Node) -> Holdings {
        let store = &hub.store;
        let mut streams = vec![StreamId::Trust];
        for satker in [SATKER, OTHER_SATKER] {
            streams.push(StreamId::Scope(satker.into()));
            streams.push(StreamId::Notices(satker.into()));
        }
        Holdings {
            items: store.items().count(),
            hub_log: store.hub_log_len().unwrap(),
            heads: streams
                .into_iter()
                .map(|s| {
                    let head = store.head(&s).unwrap();
                    (s, head)
                })
                .collect(),
            requests: crate::schema::REQUESTS.list(store, "").unwrap(),
            docs: crate::schema::DOCS.list(store, "").unwrap(),
            certs: crate::schema::CERTS.list(store, "").unwrap(),
            devices: crate::schema::DEVICES.list(store, "").unwrap(),
            operators: crate::schema::HUB_OPERATORS
                .list(store, crate::records::HUB_OPERATOR_PREFIX)
                .unwrap(),
            operator_requests: crate::schema::OPERATOR_REQUESTS.list(store, "").unwrap(),
        }
    }
}

/// Pushes `item` alone from `device` and checks that the hub refused it for exactly
/// `reason`, logged the refusal against that device, and kept nothing of it: no item,
/// no stream entry, no request, no document, no certificate, no hub log entry.
fn assert_refused(hub: &Arc<Node>, device: &SecretKey, item: &SignedItem, reason: &str) {
    let before = Holdings::of(hub);
    let refusals = push(hub, device, &[item]);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].address, item.address);
    assert_eq!(refusals[0].reason, reason);
    assert_eq!(hub.store.item(&item.address).unwrap(), None);
    let logged: RefusalRecord = crate::schema::REFUSALS
        .get(&hub.store, &item.address.to_hex())
        .unwrap()
        .expect("the hub logs every refusal");
    assert_eq!(logged.reason, reason);
    assert_eq!(logged.device, Some(device.public().to_hex()));
    assert_eq!(Holdings::of(hub), before);
}
