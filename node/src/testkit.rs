//! A world for node-API tests: a real hub and real satker and auditor nodes on sled in
//! temporary directories, set up through the same commands people type, and synced by
//! wiring a device's client session and the hub's server session together in memory
//! (as quinn-proto tests do), so a test can watch and cut every message.

use std::{collections::BTreeMap, sync::Arc};

use storage::SealedKey;
use sync_protocol::{
    Address, AttachmentRef, Config, DeviceRole, DocKind, Jabatan, Message, SecretKey, Session,
};
use tempfile::TempDir;
use zeroize::Zeroizing;

use crate::{
    cli::run::{self as commands, Output, Secrets},
    cli::{Command, Init},
    clock,
    device::replica::DeviceReplica,
    hub::admit::device as enrolled,
    hub::replica::HubReplica,
    node::Node,
    records::{CertRecord, DocRecord},
    satker::compose::{self, SignerRef},
    trust::certificate,
};

/// The CSO's passphrase on the test hub.
pub const CSO: &str = "kata sandi CSO uji";

/// A signer's passphrase on the test devices.
pub const SIGNER: &str = "kata sandi penandatangan";

/// A complete, valid field set of an SPM numbered `nomor` worth `nilai` rupiah (one akun
/// line of the whole amount), as tests need one; see `FieldSchemas::default`.
pub fn spm_fields(nomor: &str, nilai: &str) -> BTreeMap<String, String> {
    [
        ("nomor", nomor),
        ("tanggal", "2026-03-02"),
        ("jenis", "LS"),
        ("nilai", nilai),
        ("uraian", "Belanja ATK kantor"),
        ("penerima", "CV Maju Jaya"),
        ("rekening", "1234567890"),
        ("npwp", "012345678901234"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("akun".to_string(), format!("525111:{nilai}"))])
    .collect()
}

/// The same fields as `draft new --set` arguments (`FIELD=VALUE`).
pub fn spm_assignments(nomor: &str, nilai: &str) -> Vec<String> {
    spm_fields(nomor, nilai)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// Runs a command on `node` as a person at its terminal would, with `passphrase`.
pub fn run(
    node: &Arc<Node>,
    cmd: Command,
    passphrase: Option<&str>,
) -> crate::error::Result<Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let secrets = Secrets {
        passphrase: passphrase.map(|p| Zeroizing::new(p.to_string())),
        ..Secrets::default()
    };
    runtime.block_on(commands::execute(node.clone(), cmd, &secrets, false))
}

/// The hub and the nodes made in one test, with their directories.
pub struct World {
    /// The hub.
    pub hub: Arc<Node>,
    dirs: Vec<TempDir>,
}

/// A certified signer on one device.
pub struct Signer {
    /// Certificate serial.
    pub serial: String,
    /// Role.
    pub jabatan: Jabatan,
    /// Name on the certificate.
    pub name: String,
    /// The unsealed signing key.
    pub key: SecretKey,
}

/// What one in-memory sync carried, each way.
#[derive(Default)]
pub struct Trace {
    /// Device to hub.
    pub up: Vec<Message>,
    /// Hub to device.
    pub down: Vec<Message>,
}

impl Trace {
    /// Every chunk address the hub asked the device for.
    pub fn wanted_by_hub(&self) -> Vec<Address> {
        self.down
            .iter()
            .filter_map(|m| match m {
                Message::Want { chunks } => Some(chunks.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// How many chunks the device sent.
    pub fn chunks_up(&self) -> usize {
        self.up
            .iter()
            .filter(|m| matches!(m, Message::Chunk { .. }))
            .count()
    }
}

impl World {
    /// A hub, created as `espm init hub` creates one, open at all hours.
    pub fn new() -> World {
        World::with_hub(
            "Asia/Jakarta",
            "00:00-24:00",
            100,
            Arc::new(crate::clock::WallClock),
        )
    }

    /// A hub in time zone `tz` with `service_hours` and an after-hours `quota`, whose
    /// rules read `clock`.
    pub fn with_hub(
        tz: &str,
        service_hours: &str,
        quota: u32,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> World {
        let dir = tempfile::tempdir().expect("a temp dir");
        let hub_dir = dir.path().join("hub");
        commands::init(
            &hub_dir,
            &Init::Hub {
                kppn: "019".into(),
                name: "KPPN Kotabumi".into(),
                tz: tz.into(),
                listen: "127.0.0.1:0".into(),
                service_hours: service_hours.into(),
                after_hours_quota: quota,
                attachment_expiry: "14d".into(),
            },
            Some(CSO),
        )
        .expect("init hub");
        let hub = Arc::new(Node::open(&hub_dir).expect("open hub").with_clock(clock));
        World {
            hub,
            dirs: vec![dir],
        }
    }

    fn fresh_dir(&mut self, name: &str) -> std::path::PathBuf {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(name);
        self.dirs.push(dir);
        path
    }

    fn init(&mut self, name: &str, init: Init) -> Arc<Node> {
        let dir = self.fresh_dir(name);
        commands::init(&dir, &init, None).expect("init device");
        Arc::new(Node::open(&dir).expect("open device"))
    }

    /// A satker device of `satker`, enrolled and synced once (it knows the hub).
    pub fn satker(&mut self, satker: &str) -> Arc<Node> {
        let node = self.init(
            &format!("satker-{satker}"),
            Init::Satker {
                satker: satker.into(),
                hub: "127.0.0.1:1".into(),
                hub_id: self.hub.node_id().to_hex(),
            },
        );
        self.enroll(&node, Some(satker), Vec::new());
        self.sync(&node);
        node
    }

    /// An auditor reading `scope`, enrolled and synced once.
    pub fn auditor(&mut self, scope: &[&str]) -> Arc<Node> {
        let node = self.init(
            "auditor",
            Init::Auditor {
                hub: "127.0.0.1:1".into(),
                hub_id: self.hub.node_id().to_hex(),
            },
        );
        let scope = scope.iter().map(|s| s.to_string()).collect();
        self.enroll(&node, None, scope);
        self.sync(&node);
        node
    }

    fn enroll(&self, node: &Arc<Node>, satker: Option<&str>, scope: Vec<String>) {
        let role = match satker {
            Some(s) => DeviceRole::Satker { satker: s.into() },
            None => DeviceRole::Auditor { scope },
        };
        crate::hub::authority::enroll(&self.hub, node.node_id(), role, Some(CSO)).expect("enroll");
    }

    /// A PPSPM on `device`, requested, approved by the CSO and synced back, and the
    /// operator `operator01`, activated there the same way (the hub takes submissions
    /// only from operators it activated).
    pub fn ppspm(&self, device: &Arc<Node>) -> Signer {
        let operator = crate::satker::operators::add(device, "operator01", "operator-satker", None)
            .expect("operator add");
        let requested = crate::satker::signers::request(
            device,
            SIGNER,
            crate::satker::signers::RequestArgs {
                name: "Siti Rahma".into(),
                nip: "198001012005012001".into(),
                nik: "3171234567890123".into(),
                jabatan: "ppspm".into(),
                email: "siti@kemenkeu.go.id".into(),
                unit: None,
                instansi: String::new(),
            },
        )
        .expect("signer request");
        self.sync(device);
        crate::hub::operators::approve(&self.hub, &operator.request_id, Some(CSO))
            .expect("operators approve");
        let serial = crate::hub::authority::approve(&self.hub, &requested.request_id, Some(CSO))
            .expect("approve")
            .serial;
        self.sync(device);
        let cert = certificate(device, &serial)
            .expect("read certificate")
            .expect("the certificate reached the device");
        let rec: CertRecord = crate::schema::CERTS
            .get(&device.store, &serial)
            .expect("read")
            .expect("cert record");
        let sealed: SealedKey = crate::schema::KEYS
            .get(&device.store, &rec.request_id)
            .expect("read")
            .expect("sealed key");
        let key = SecretKey::from_bytes(&sealed.open(SIGNER).expect("open"));
        Signer {
            serial,
            jabatan: cert.subject.jabatan,
            name: cert.subject.name,
            key,
        }
    }

    /// One sync of `device` with the hub, in memory, to the end.
    pub fn sync(&self, device: &Arc<Node>) -> Trace {
        self.sync_until(device, |_| false)
    }

    /// One sync that stops (the link is cut) once `cut` says so of what went up.
    pub fn sync_until(&self, device: &Arc<Node>, cut: impl Fn(&Trace) -> bool) -> Trace {
        let id = device.node_id();
        let role = enrolled(&self.hub, &id)
            .expect("the device is enrolled")
            .role;
        let mut hub_side = HubReplica::new(self.hub.clone(), id, role);
        let mut device_side = DeviceReplica::new(device.clone());
        let config = Config::default();
        let mut client = Session::client(config, &device_side).expect("client session");
        let mut server = Session::server(config);
        let mut trace = Trace::default();
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(m) = client
                .poll_transmit(&mut device_side)
                .expect("device sends")
            {
                trace.up.push(m.clone());
                server.handle(m, &mut hub_side).expect("hub takes it");
                moved = true;
                if cut(&trace) {
                    return trace;
                }
            }
            while let Some(m) = server.poll_transmit(&mut hub_side).expect("hub sends") {
                trace.down.push(m.clone());
                client.handle(m, &mut device_side).expect("device takes it");
                moved = true;
            }
            if client.is_done() || !moved {
                return trace;
            }
        }
        panic!("the in-memory sync did not end");
    }

    /// Signs a new SPM of `device`'s satker carrying `attachments` (whose bytes it may
    /// or may not hold) and queues it in a submission of its own, through the code
    /// `sign` and `submit` use; returns the document id.
    pub fn submit_spm(
        &self,
        device: &Arc<Node>,
        signer: &Signer,
        doc_id: &str,
        attachments: Vec<AttachmentRef>,
    ) -> String {
        let fields = spm_fields(&format!("{doc_id}/SPM/2026"), "1500000");
        self.submit_spm_with(device, signer, doc_id, fields, attachments)
    }

    /// As [`World::submit_spm`], with the SPM's `fields` as given: what a device that
    /// skipped `sign`'s and `submit`'s checks would send.
    pub fn submit_spm_with(
        &self,
        device: &Arc<Node>,
        signer: &Signer,
        doc_id: &str,
        fields: BTreeMap<String, String>,
        attachments: Vec<AttachmentRef>,
    ) -> String {
        let satker = device.satker().expect("a satker device").to_string();
        let now = clock::wall();
        let mut rec = compose::draft_record(doc_id, DocKind::Spm, &satker, now);
        let snapshot = compose::seal_snapshot(
            &device.key,
            doc_id,
            DocKind::Spm,
            &satker,
            fields,
            attachments,
            now,
        );
        let signer_ref = SignerRef {
            serial: &signer.serial,
            jabatan: signer.jabatan,
            name: &signer.name,
        };
        let signature = compose::sign(
            &mut rec,
            snapshot.address,
            signer_ref,
            &signer.key,
            &satker,
            now,
        );
        let mut recs = vec![rec];
        let (submission, sealed) =
            compose::seal_submission(&device.key, &satker, "operator01", &recs, now)
                .expect("a submission");
        device
            .store
            .write(|t| {
                t.put_item(&snapshot.bytes)?;
                t.put_item(&signature.bytes)?;
                compose::queue(t, device.node_id(), &submission, &sealed, &mut recs)
            })
            .expect("queue");
        device.store.flush().expect("flush");
        doc_id.to_string()
    }

    /// The hub's authority issues `policy` as the signing policy table in force from
    /// `issued_at`, into the trust stream, as `init hub` issues the first one.
    pub fn issue_policy(
        &self,
        issued_at: sync_protocol::Timestamp,
        policy: sync_protocol::Policy,
    ) -> sync_protocol::SignedItem {
        let authority = self.hub.authority(Some(CSO)).expect("the CSO's passphrase");
        let table = sync_protocol::PolicyTable { issued_at, policy };
        let sealed = self
            .hub
            .store
            .write(|t| crate::hub::publish::issue_policy(t, &authority, table))
            .expect("issue the table");
        self.hub.store.flush().expect("flush");
        sealed
    }

    /// The hub's authority issues `schemas` as the field schema table in force from
    /// `issued_at`, into the trust stream, as `init hub` issues the first one.
    pub fn issue_field_schemas(
        &self,
        issued_at: sync_protocol::Timestamp,
        schemas: sync_protocol::FieldSchemas,
    ) -> sync_protocol::SignedItem {
        let authority = self.hub.authority(Some(CSO)).expect("the CSO's passphrase");
        let table = sync_protocol::FieldSchemaTable { issued_at, schemas };
        let sealed = self
            .hub
            .store
            .write(|t| crate::hub::publish::issue_field_schemas(t, &authority, table))
            .expect("issue the table");
        self.hub.store.flush().expect("flush");
        sealed
    }

    /// Stores `bytes` on `device` as `draft attach` stores a file; returns its reference.
    pub fn attach(&self, device: &Node, name: &str, bytes: &[u8]) -> AttachmentRef {
        let att = compose::attachment(name, bytes);
        device
            .store
            .write(|t| {
                compose::store_attachment(t, &att, bytes);
                Ok(())
            })
            .expect("store the file");
        att
    }

    /// The hub's record of `doc_id` of `satker`.
    pub fn hub_doc(&self, satker: &str, doc_id: &str) -> Option<DocRecord> {
        crate::docs::load(&self.hub.store, satker, doc_id).expect("read")
    }

    /// A device's record of one of its documents.
    pub fn doc(node: &Node, doc_id: &str) -> DocRecord {
        let satker = node.satker().expect("a satker device");
        crate::docs::load(&node.store, satker, doc_id)
            .expect("read")
            .expect("the document is on the device")
    }
}
