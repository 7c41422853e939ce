//! The benchmark's world: an in-process hub answering real QUIC on 127.0.0.1, satker
//! nodes enrolled with it, a certified PPSPM, and signed, queued SPM (with an attached
//! file if asked) generated straight into a satker's store through the same code
//! `attach`, `sign` and `submit` use.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use sync_protocol::{
    AttachmentRef, DeviceRole, DocKind, Jabatan, NodeId, SecretKey, SignedItem,
    MAX_SPM_PER_SUBMISSION,
};

use super::measure::sync;
use crate::{
    cli::run::{self as commands},
    cli::Init,
    clock,
    error::{NodeError, Result},
    hub::{
        authority,
        limits::{Admission, HubLimits},
        operators as hub_operators,
    },
    node::Node,
    records::DocRecord,
    satker::{
        compose::{self, SignerRef},
        operators, signers,
    },
    transport::tls,
    trust::certificate,
};

/// Documents generated per store write (one atomic batch each).
const GENERATE_BATCH: usize = 250;

/// The signer passphrase of the benchmark's PPSPM.
pub(super) const PASSPHRASE: &str = "bench-passphrase-ppspm";

/// The satker code of the first satker; others count up from it.
pub(super) const FIRST_SATKER: u32 = 100_001;

/// A fresh temporary directory for one scenario's nodes; removed when dropped.
pub(super) fn temp_root() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("espm-bench-")
        .tempdir()
        .map_err(NodeError::io("cannot create a temporary directory"))
}

/// Creates the benchmark's hub data directory in `dir`, listening on `listen` once served.
pub(super) fn init_hub(dir: &Path, listen: &str) -> Result<()> {
    commands::init(
        dir,
        &Init::Hub {
            kppn: "019".into(),
            name: "KPPN Bench".into(),
            tz: "Asia/Jakarta".into(),
            listen: listen.into(),
            service_hours: "08:00-15:00".into(),
            after_hours_quota: 0,
            attachment_expiry: "14d".into(),
        },
        Some(PASSPHRASE),
    )?;
    Ok(())
}

/// How one device connection ended at the hub, for scenarios that provoke the ending.
#[derive(Clone, Debug)]
pub(super) struct HubEvent {
    /// The device, once its certificate was read; `None` if the handshake failed.
    pub peer: Option<NodeId>,
    /// The error the hub's connection handler ended with, if any.
    pub error: Option<String>,
    /// Why QUIC closed the connection, if it had closed by the time the handler returned.
    pub closed: Option<String>,
    /// When the handler returned.
    pub at: Instant,
}

/// A hub on 127.0.0.1 answering sessions in this process.
pub(super) struct Hub {
    /// The hub node itself.
    pub node: Arc<Node>,
    /// Where it listens.
    pub addr: SocketAddr,
    endpoint: quinn::Endpoint,
    events: Arc<Mutex<Vec<HubEvent>>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"bench done");
    }
}

impl Hub {
    /// Creates a hub in `dir` and starts answering on an ephemeral loopback port.
    pub fn start(dir: &Path) -> Result<Hub> {
        init_hub(dir, "127.0.0.1:0")?;
        let node = Arc::new(Node::open(dir)?);
        let endpoint = crate::hub::admit::endpoint(&node, (Ipv4Addr::LOCALHOST, 0).into())?;
        let addr = endpoint
            .local_addr()
            .map_err(NodeError::io("read the hub's UDP address"))?;
        let events = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(accept_loop(
            endpoint.clone(),
            node.clone(),
            events.clone(),
            HubLimits::default(),
        ));
        Ok(Hub {
            node,
            addr,
            endpoint,
            events,
        })
    }

    /// The hub's node id, which clients pin.
    pub fn id(&self) -> NodeId {
        self.node.node_id()
    }

    /// Enrolls the device key `id` for `satker`, as `espm enroll` does.
    pub async fn enroll(&self, id: NodeId, satker: &str) -> Result<()> {
        let role = DeviceRole::Satker {
            satker: satker.to_string(),
        };
        authority::enroll(&self.node, id, role, Some(PASSPHRASE))?;
        Ok(())
    }

    /// Creates a satker node in `dir` pinned to this hub and enrolls it for `satker`.
    pub async fn satker(&self, dir: &Path, satker: &str) -> Result<Arc<Node>> {
        commands::init(
            dir,
            &Init::Satker {
                satker: satker.to_string(),
                hub: self.addr.to_string(),
                hub_id: self.id().to_hex(),
            },
            None,
        )?;
        let node = Arc::new(Node::open(dir)?);
        self.enroll(node.node_id(), satker).await?;
        Ok(node)
    }

    /// The first recorded end of a connection from `peer`, waiting up to `timeout` for it.
    pub async fn event_for(&self, peer: NodeId, timeout: Duration) -> Option<HubEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .find(|e| e.peer == Some(peer))
                .cloned();
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Answers every connection with the production hub's admission and handler, within
/// `limits`, noting how each ended.
async fn accept_loop(
    endpoint: quinn::Endpoint,
    node: Arc<Node>,
    events: Arc<Mutex<Vec<HubEvent>>>,
    limits: HubLimits,
) {
    let admission = Admission::new(&limits);
    while let Some(incoming) = endpoint.accept().await {
        let Some((incoming, permit)) = admission.admit(incoming) else {
            continue;
        };
        let node = node.clone();
        let events = events.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let event = match incoming.await {
                Ok(conn) => {
                    let peer = tls::peer_node_id(&conn).ok();
                    let watch = conn.clone();
                    let result = crate::hub::admit::serve_connection(node, conn, &limits).await;
                    if let Err(e) = &result {
                        tracing::info!(error = %e, "bench hub: session ended with an error");
                    }
                    // Read before this last handle goes: dropping it is what closes a
                    // connection the handler gave up on, exactly as on a production hub.
                    let closed = watch.close_reason().map(|e| e.to_string());
                    drop(watch);
                    HubEvent {
                        peer,
                        error: result.err().map(|e| e.to_string()),
                        closed,
                        at: Instant::now(),
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "bench hub: handshake failed");
                    HubEvent {
                        peer: None,
                        error: Some(e.to_string()),
                        closed: None,
                        at: Instant::now(),
                    }
                }
            };
            events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event);
        });
    }
}

/// A PPSPM of a satker, certified by the hub, with the signing key unsealed once.
pub(super) struct Signer {
    serial: String,
    jabatan: Jabatan,
    name: String,
    key: SecretKey,
}

impl Signer {
    /// A signer holding `key`, certified as `serial` with that role and name.
    pub fn new(serial: String, jabatan: Jabatan, name: String, key: SecretKey) -> Signer {
        Signer {
            serial,
            jabatan,
            name,
            key,
        }
    }

    fn as_ref(&self) -> SignerRef<'_> {
        SignerRef {
            serial: &self.serial,
            jabatan: self.jabatan,
            name: &self.name,
        }
    }
}

/// The operator every generated submission names.
pub(super) const OPERATOR: &str = "operator01";

/// Requests a PPSPM certificate on `node` and adds [`OPERATOR`] there, has the hub
/// approve both (the hub accepts submissions only from operators it activated), and
/// unseals the key.
pub(super) async fn certify_signer(hub: &Hub, node: &Arc<Node>) -> Result<Signer> {
    let satker = node.require_satker("bench")?.to_string();
    signers::request(
        node,
        PASSPHRASE,
        signers::RequestArgs {
            name: "Siti Rahma".into(),
            nip: "198001012005012001".into(),
            nik: "3171234567890123".into(),
            jabatan: "ppspm".into(),
            email: "siti@kemenkeu.go.id".into(),
            unit: None,
            instansi: String::new(),
        },
    )?;
    operators::add(node, OPERATOR, "operator-satker", None)?;
    // The activation request is the operator's record on this device, as it queued it.
    let operator_request = crate::schema::OPERATORS
        .get(&node.store, OPERATOR)?
        .ok_or_else(|| NodeError::user("bench: operator add left no operator record"))?
        .request
        .request_id();
    sync(node, hub).await?;
    hub_operators::approve(&hub.node, &operator_request, Some(PASSPHRASE))?;
    // The hub's list of pending requests names this satker's one, the only one it made.
    let request_id = authority::requests(&hub.node)?
        .0
        .into_iter()
        .find(|(_, pending)| pending.satker == satker)
        .map(|(id, _)| id)
        .ok_or_else(|| NodeError::user("bench: the signer request did not reach the hub"))?;
    let serial = authority::approve(&hub.node, &request_id, Some(PASSPHRASE))?.serial;
    sync(node, hub).await?;
    let cert = certificate(node, &serial)?.ok_or_else(|| {
        NodeError::user(format!(
            "bench: certificate {serial} did not reach the satker"
        ))
    })?;
    let rec = crate::schema::CERTS
        .get(&node.store, &serial)?
        .ok_or_else(|| NodeError::user(format!("bench: no record of certificate {serial}")))?;
    let sealed = crate::schema::KEYS
        .get(&node.store, &rec.request_id)?
        .ok_or_else(|| NodeError::user("bench: the signer key is not on the satker node"))?;
    let key = SecretKey::from_bytes(&*sealed.open(PASSPHRASE)?);
    if key.public() != cert.key {
        return Err(NodeError::user(
            "bench: the unsealed key does not match its certificate",
        ));
    }
    Ok(Signer {
        serial,
        jabatan: cert.subject.jabatan,
        name: cert.subject.name,
        key,
    })
}

/// The free text of one document: `len` characters (at least its id) that differ per
/// document.
fn keterangan(doc_id: &str, len: usize) -> String {
    const PHRASE: &str = "Pembayaran belanja barang operasional perkantoran untuk keperluan \
         satuan kerja sesuai kontrak dan berita acara serah terima pekerjaan. ";
    let mut text = format!("{doc_id}: ");
    while text.len() < len {
        text.push_str(PHRASE);
    }
    text.truncate(len.max(doc_id.len()));
    text
}

/// A document drafted and signed as `draft new` and `sign` would have left it.
struct Signed {
    rec: DocRecord,
    snapshot: SignedItem,
    signature: SignedItem,
}

fn sign_new_doc(
    device: &SecretKey,
    satker: &str,
    signer: &Signer,
    (n, doc_bytes): (usize, usize),
    attachments: Vec<AttachmentRef>,
) -> Signed {
    let doc_id = compose::new_doc_id(DocKind::Spm);
    let now = clock::wall();
    // A complete SPM by the default field schemas, as the hub checks it at ingest; the
    // bulk of its text in the free-form `keterangan`.
    let nilai = 1_500_000 + n as u64 * 1_000;
    let mut fields: BTreeMap<String, String> = [
        ("nomor", format!("{n:05}/SPM/{satker}/2026")),
        ("tanggal", "2026-03-02".into()),
        ("jenis", "LS".into()),
        ("nilai", nilai.to_string()),
        ("akun", format!("525111:{nilai}")),
        ("penerima", "CV Maju Bersama".into()),
        ("rekening", "1234567890".into()),
        ("npwp", "012345678901234".into()),
        ("uraian", "Belanja barang operasional perkantoran".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // `--doc-bytes` counts names and values together; the free text takes the rest.
    let used: usize = fields.iter().map(|(k, v)| k.len() + v.len()).sum();
    let text_len = doc_bytes.saturating_sub(used + "keterangan".len());
    fields.insert("keterangan".into(), keterangan(&doc_id, text_len));
    let mut rec = compose::draft_record(&doc_id, DocKind::Spm, satker, now);
    let snapshot = compose::seal_snapshot(
        device,
        &doc_id,
        DocKind::Spm,
        satker,
        fields,
        attachments,
        now,
    );
    let signature = compose::sign(
        &mut rec,
        snapshot.address,
        signer.as_ref(),
        &signer.key,
        satker,
        now,
    );
    Signed {
        rec,
        snapshot,
        signature,
    }
}

/// Generates `count` signed SPM on a satker node and queues them in submissions of at
/// most five, storing what `sign` stores and queueing through `submit`'s own code.
pub(super) fn generate(node: &Node, signer: &Signer, count: usize, doc_bytes: usize) -> Result<()> {
    let satker = node.require_satker("bench")?.to_string();
    let me = node.node_id();
    let mut made = 0;
    while made < count {
        let batch = GENERATE_BATCH.min(count - made);
        let docs: Vec<Signed> = (made..made + batch)
            .map(|n| sign_new_doc(&node.key, &satker, signer, (n, doc_bytes), Vec::new()))
            .collect();
        made += batch;
        let mut groups = Vec::new();
        for group in docs.chunks(MAX_SPM_PER_SUBMISSION) {
            let recs: Vec<DocRecord> = group.iter().map(|g| g.rec.clone()).collect();
            let (submission, sealed) =
                compose::seal_submission(&node.key, &satker, OPERATOR, &recs, clock::wall())?;
            groups.push((group, recs, submission, sealed));
        }
        node.store.write(|t| {
            for (group, recs, submission, sealed) in groups.iter_mut() {
                for g in group.iter() {
                    t.put_item(&g.snapshot.bytes)?;
                    t.put_item(&g.signature.bytes)?;
                }
                compose::queue(t, me, submission, sealed, recs)?;
            }
            Ok(())
        })?;
    }
    node.store.flush()?;
    Ok(())
}

/// A satker device's own stream as [`generate`] would queue it, held in memory: the
/// items in stream order and the ids of the documents they deliver.
pub(super) struct GeneratedStream {
    /// Each document's snapshot and signature, then their submission, per group of five.
    pub items: Vec<Vec<u8>>,
    /// The documents, in the order generated.
    pub doc_ids: Vec<String>,
}

/// Makes what [`generate`] stores, for the device `device` of `satker`, without a store:
/// the same signed SPM (the same code), in submissions of at most five by [`OPERATOR`],
/// in the order `submit` queues them on the device's own stream.
pub(super) fn generate_stream(
    device: &SecretKey,
    satker: &str,
    signer: &Signer,
    count: usize,
    doc_bytes: usize,
) -> Result<GeneratedStream> {
    let mut out = GeneratedStream {
        items: Vec::with_capacity(count * 2 + count / MAX_SPM_PER_SUBMISSION + 1),
        doc_ids: Vec::with_capacity(count),
    };
    let docs: Vec<Signed> = (0..count)
        .map(|n| sign_new_doc(device, satker, signer, (n, doc_bytes), Vec::new()))
        .collect();
    for group in docs.chunks(MAX_SPM_PER_SUBMISSION) {
        let recs: Vec<DocRecord> = group.iter().map(|g| g.rec.clone()).collect();
        let (_, sealed) = compose::seal_submission(device, satker, OPERATOR, &recs, clock::wall())?;
        for g in group {
            out.items.push(g.snapshot.bytes.clone());
            out.items.push(g.signature.bytes.clone());
            out.doc_ids.push(g.rec.doc_id.clone());
        }
        out.items.push(sealed.bytes);
    }
    Ok(out)
}

/// Generates one signed SPM, number `n`, carrying the file `bytes` named `name`, and
/// queues it in a submission of its own: the file is stored as `attach` stores it and
/// the snapshot carries its chunk list as `sign` makes it. Returns that reference.
pub(super) fn generate_with_attachment(
    node: &Node,
    signer: &Signer,
    (n, doc_bytes): (usize, usize),
    name: &str,
    bytes: &[u8],
) -> Result<AttachmentRef> {
    let satker = node.require_satker("bench")?.to_string();
    let att = compose::attachment(name, bytes);
    let doc = sign_new_doc(
        &node.key,
        &satker,
        signer,
        (n, doc_bytes),
        vec![att.clone()],
    );
    let mut recs = vec![doc.rec];
    let (submission, sealed) =
        compose::seal_submission(&node.key, &satker, OPERATOR, &recs, clock::wall())?;
    node.store.write(|t| {
        compose::store_attachment(t, &att, bytes);
        t.put_item(&doc.snapshot.bytes)?;
        t.put_item(&doc.signature.bytes)?;
        compose::queue(t, node.node_id(), &submission, &sealed, &mut recs)
    })?;
    node.store.flush()?;
    Ok(att)
}

/// A hub and one satker whose PPSPM is certified, in `root`.
pub(super) async fn hub_and_satker(root: &Path) -> Result<(Hub, Arc<Node>, Signer)> {
    let hub = Hub::start(&root.join("hub"))?;
    let satker = hub
        .satker(&root.join("satker-1"), &FIRST_SATKER.to_string())
        .await?;
    let signer = certify_signer(&hub, &satker).await?;
    Ok((hub, satker, signer))
}
