//! `espm bench`: measurements in one process, on loopback, over real QUIC and real sled
//! stores in a temporary directory. A hub and one or more satker nodes each get their
//! own data directory; the satkers' documents are generated straight into their stores
//! (signed and queued exactly as `sign` and `submit` leave them), so thousands of
//! documents cost seconds to prepare and only the sync itself is timed.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use storage::{SealedKey, StreamEntry, Table};
use sync_protocol::{
    certificate::Jabatan,
    document::{DocKind, DocumentSnapshot},
    session::{Config, Session, Stats},
    signature::DocSignature,
    status::DocState,
    stream::StreamId,
    submission::{Submission, SubmittedDoc, MAX_SPM_PER_SUBMISSION},
    Item, NodeId, SecretKey, SignedItem,
};
use zeroize::Zeroizing;

use crate::{
    cli::{self, Certs, Command, EnrollArgs, Init},
    clock,
    commands::{self, Output, Secrets},
    error::{NodeError, Result},
    ingest::certificate,
    node::Node,
    records::{CertRecord, DocRecord, HistoryEntry, SigRef},
    replica::{NodeReplica, Peer},
    tls,
    transport::{self, WireStats},
};

/// Characters of free text (`uraian`) per generated document, so a document's snapshot
/// is about 10 KiB, like a real SPM with its description of the payment.
pub const DOC_TEXT_BYTES: usize = 10_000;

/// Documents the `incremental` scenario adds after the initial sync.
pub const INCREMENTAL_NEW_DOCS: usize = 10;

/// Documents generated per store write (one atomic batch each).
const GENERATE_BATCH: usize = 250;

/// The signer passphrase of the benchmark's PPSPM.
const PASSPHRASE: &str = "bench-passphrase-ppspm";

/// The satker code of the first satker; others count up from it.
const FIRST_SATKER: u32 = 100_001;

/// How long one sync may take before the benchmark gives up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1800);

/// The scenarios, in the order the CLI lists them.
pub const SCENARIOS: [&str; 5] = ["ingest", "fanin", "incremental", "pull", "limits"];

/// Runs one benchmark scenario and reports what it measured.
pub async fn run(scenario: &str, docs: usize, satkers: usize) -> Result<Output> {
    if !SCENARIOS.contains(&scenario) {
        return Err(NodeError::user(format!(
            "unknown scenario '{scenario}'; choose ingest, fanin, incremental, pull or limits"
        )));
    }
    if docs == 0 {
        return Err(NodeError::user("--docs must be at least 1"));
    }
    if satkers == 0 {
        return Err(NodeError::user("--satkers must be at least 1"));
    }
    match scenario {
        "incremental" => incremental(docs).await,
        "ingest" => ingest(docs).await,
        "fanin" => fanin(docs, satkers).await,
        "pull" => pull(docs).await,
        _ => Err(NodeError::user(format!(
            "the '{scenario}' scenario is not implemented in this build yet; choose ingest, fanin, incremental or pull"
        ))),
    }
}

/// The process's peak resident set size (VmHWM), where the platform reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn rate(docs: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        docs as f64 / seconds
    } else {
        0.0
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn rss_text(rss: Option<u64>) -> String {
    rss.map(|b| format!("{:.1} MiB", mib(b)))
        .unwrap_or_else(|| "unknown".into())
}

fn temp_root() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("espm-bench-")
        .tempdir()
        .map_err(NodeError::io("cannot create a temporary directory"))
}

/// A hub on 127.0.0.1 answering sessions in this process.
struct Hub {
    node: Arc<Node>,
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"bench done");
    }
}

impl Hub {
    fn start(dir: &Path) -> Result<Hub> {
        commands::init(
            dir,
            &Init::Hub {
                kppn: "019".into(),
                name: "KPPN Bench".into(),
                tz: "Asia/Jakarta".into(),
                listen: "127.0.0.1:0".into(),
                service_hours: "08:00-15:00".into(),
                after_hours_quota: 0,
            },
        )?;
        let node = Arc::new(Node::open(dir)?);
        let admit_node = node.clone();
        let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
            Arc::new(move |id: &NodeId| crate::serve::device(&admit_node, id).is_some());
        let endpoint = transport::server_endpoint(
            (Ipv4Addr::LOCALHOST, 0).into(),
            tls::server_config(&node.key, admit)?,
        )?;
        let addr = endpoint
            .local_addr()
            .map_err(NodeError::io("read the hub's UDP address"))?;
        let accept = endpoint.clone();
        let hub = node.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accept.accept().await {
                let node = hub.clone();
                tokio::spawn(async move {
                    match incoming.await {
                        Ok(conn) => {
                            if let Err(e) = crate::serve::serve_connection(node, conn).await {
                                tracing::info!(error = %e, "bench hub: session ended with an error");
                            }
                        }
                        Err(e) => tracing::info!(error = %e, "bench hub: handshake failed"),
                    }
                });
            }
        });
        Ok(Hub {
            node,
            addr,
            endpoint,
        })
    }

    /// Creates a satker node in `dir` pinned to this hub and enrolls it for `satker`.
    async fn satker(&self, dir: &Path, satker: &str) -> Result<Arc<Node>> {
        commands::init(
            dir,
            &Init::Satker {
                satker: satker.to_string(),
                hub: self.addr.to_string(),
                hub_id: self.node.node_id().to_hex(),
            },
        )?;
        let node = Arc::new(Node::open(dir)?);
        commands::execute(
            self.node.clone(),
            Command::Enroll(EnrollArgs {
                node_id: node.node_id().to_hex(),
                satker: Some(satker.to_string()),
                auditor: false,
                scope: Vec::new(),
            }),
            &Secrets::default(),
            false,
        )
        .await?;
        Ok(node)
    }
}

/// What one client sync moved, as the dialling side saw it.
struct SyncRun {
    wire: WireStats,
    stats: Stats,
    seconds: f64,
}

impl SyncRun {
    fn wire_bytes(&self) -> u64 {
        self.wire.sent_bytes + self.wire.received_bytes
    }
}

/// One reconciliation of `node` with the hub, run the way `espm sync` runs it, but
/// keeping the wire statistics. Timed from dialling until the session is done.
async fn sync(node: &Arc<Node>, hub: &Hub) -> Result<SyncRun> {
    let hub_id = hub.node.node_id();
    let addr = hub.addr;
    let work = async {
        let started = Instant::now();
        let (endpoint, conn) = transport::connect(&node.key, hub_id, addr, SYNC_TIMEOUT).await?;
        let result = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| {
                NodeError::Transport(format!("could not open a stream to the hub: {e}"))
            })?;
            let mut replica = NodeReplica::new(node.clone(), Peer::Hub);
            let mut session = Session::client(Config::default(), &replica)?;
            let wire =
                transport::run_session(&mut session, &mut replica, &mut send, &mut recv, |_, _| {})
                    .await?;
            Ok::<_, NodeError>(SyncRun {
                wire,
                stats: session.stats().clone(),
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        .await;
        conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        result
    };
    let run = tokio::time::timeout(SYNC_TIMEOUT, work)
        .await
        .map_err(|_| NodeError::Unreachable {
            addr: addr.to_string(),
            detail: format!(
                "the benchmark sync did not finish within {} s",
                SYNC_TIMEOUT.as_secs()
            ),
        })??;
    if let Some((_, r)) = run.stats.refused_by_peer.first() {
        return Err(NodeError::user(format!(
            "the hub refused {} item(s) during the benchmark (first: item {}: {}); the measurement would be meaningless",
            run.stats.refused_by_peer.len(),
            r.address.short(),
            r.reason
        )));
    }
    Ok(run)
}

/// A PPSPM of a satker, certified by the hub, with the signing key unsealed once.
struct Signer {
    serial: String,
    jabatan: Jabatan,
    name: String,
    key: SecretKey,
}

/// Requests a PPSPM certificate on `node`, has the hub approve it, and unseals the key.
async fn certify_signer(hub: &Hub, node: &Arc<Node>) -> Result<Signer> {
    let secrets = Secrets {
        passphrase: Some(Zeroizing::new(PASSPHRASE.to_string())),
    };
    let requested = commands::execute(
        node.clone(),
        Command::Signer(cli::Signer::Request {
            name: "Siti Rahma".into(),
            nip: "198001012005012001".into(),
            nik: "3171234567890123".into(),
            jabatan: "ppspm".into(),
            email: "siti@kemenkeu.go.id".into(),
            unit: None,
            instansi: String::new(),
        }),
        &secrets,
        false,
    )
    .await?;
    let request_id = requested.json["request_id"]
        .as_str()
        .ok_or_else(|| NodeError::user("bench: signer request printed no request_id"))?
        .to_string();
    sync(node, hub).await?;
    let approved = commands::execute(
        hub.node.clone(),
        Command::Certs(Certs::Approve {
            request_id: request_id.clone(),
        }),
        &Secrets::default(),
        false,
    )
    .await?;
    let serial = approved.json["serial"]
        .as_str()
        .ok_or_else(|| NodeError::user("bench: certs approve printed no serial"))?
        .to_string();
    sync(node, hub).await?;
    let cert = certificate(node, &serial)?.ok_or_else(|| {
        NodeError::user(format!(
            "bench: certificate {serial} did not reach the satker"
        ))
    })?;
    let rec: CertRecord = node
        .store
        .get(Table::Cert, &serial)?
        .ok_or_else(|| NodeError::user(format!("bench: no record of certificate {serial}")))?;
    let sealed: SealedKey = node
        .store
        .get(Table::Key, &rec.request_id)?
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

fn random_hex(bytes: usize) -> String {
    let mut rnd = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut rnd);
    hex::encode(rnd)
}

/// The free text of one document: `DOC_TEXT_BYTES` characters that differ per document.
fn uraian(doc_id: &str) -> String {
    const PHRASE: &str = "Pembayaran belanja barang operasional perkantoran untuk keperluan \
         satuan kerja sesuai kontrak dan berita acara serah terima pekerjaan. ";
    let mut text = format!("{doc_id}: ");
    while text.len() < DOC_TEXT_BYTES {
        text.push_str(PHRASE);
    }
    text.truncate(DOC_TEXT_BYTES);
    text
}

/// A document signed and queued as `sign` and `submit` would have left it.
struct Generated {
    rec: DocRecord,
    snapshot: SignedItem,
    signature: SignedItem,
}

fn generate_doc(node: &Node, satker: &str, signer: &Signer, n: usize) -> Generated {
    let doc_id = format!("spm-{}", random_hex(6));
    let now = clock::now();
    let mut fields = BTreeMap::new();
    fields.insert("nomor".to_string(), format!("{n:05}/SPM/{satker}/2026"));
    fields.insert(
        "nilai".to_string(),
        format!("{}", 1_500_000 + n as u64 * 1_000),
    );
    fields.insert("penerima".to_string(), "CV Maju Bersama".to_string());
    fields.insert("uraian".to_string(), uraian(&doc_id));
    let snap = DocumentSnapshot {
        doc_id: doc_id.clone(),
        kind: DocKind::Spm,
        satker: satker.to_string(),
        fields,
        attachments: Vec::new(),
        corrects: None,
        taken_at: now,
    };
    let snapshot = SignedItem::seal(Item::Snapshot(snap), &node.key);
    let sig = DocSignature {
        doc_id: doc_id.clone(),
        snapshot: snapshot.address,
        serial: signer.serial.clone(),
        jabatan: signer.jabatan,
        signer_name: signer.name.clone(),
        signed_at: now,
        place: satker.to_string(),
    };
    let signature = SignedItem::seal(Item::Signature(sig), &signer.key);
    let rec = DocRecord {
        doc_id,
        kind: DocKind::Spm,
        satker: satker.to_string(),
        state: DocState::Signed,
        history: vec![
            HistoryEntry {
                state: DocState::Draft,
                at: now,
                reason: None,
            },
            HistoryEntry {
                state: DocState::Signed,
                at: now,
                reason: None,
            },
        ],
        snapshot: Some(snapshot.address),
        signatures: vec![SigRef {
            address: signature.address,
            serial: signer.serial.clone(),
            jabatan: signer.jabatan,
            name: signer.name.clone(),
            at: now,
        }],
        submission: None,
        delivered_at: None,
    };
    Generated {
        rec,
        snapshot,
        signature,
    }
}

/// Generates `count` signed SPM on a satker node and queues them in submissions of at
/// most five, writing items, stream entries and records in the order `submit` does.
fn generate(node: &Node, signer: &Signer, count: usize) -> Result<()> {
    let satker = node.require_satker("bench")?.to_string();
    let me = node.node_id();
    let stream = StreamId::Origin(me);
    let entry = |address| StreamEntry {
        address,
        origin: Some(me),
    };
    let mut made = 0;
    while made < count {
        let batch = GENERATE_BATCH.min(count - made);
        let docs: Vec<Generated> = (made..made + batch)
            .map(|n| generate_doc(node, &satker, signer, n))
            .collect();
        made += batch;
        node.store.write(|t| {
            for group in docs.chunks(MAX_SPM_PER_SUBMISSION) {
                let submission = Submission {
                    submission_id: format!("sub-{}", random_hex(6)),
                    satker: satker.clone(),
                    operator: "operator01".into(),
                    documents: group
                        .iter()
                        .map(|g| SubmittedDoc {
                            doc_id: g.rec.doc_id.clone(),
                            kind: g.rec.kind,
                            snapshot: g.snapshot.address,
                            signatures: vec![g.signature.address],
                        })
                        .collect(),
                    submitted_at: clock::now(),
                };
                let sealed = SignedItem::seal(Item::Submission(submission.clone()), &node.key);
                // Snapshot and signatures go first so the hub holds them when the
                // submission arrives.
                for g in group {
                    t.put_item(&g.snapshot.bytes)?;
                    t.put_item(&g.signature.bytes)?;
                    t.append(&stream, entry(g.snapshot.address))?;
                    t.append(&stream, entry(g.signature.address))?;
                }
                t.put_item(&sealed.bytes)?;
                t.append(&stream, entry(sealed.address))?;
                for g in group {
                    let mut rec = g.rec.clone();
                    rec.submission = Some(submission.submission_id.clone());
                    rec.enter(DocState::Queued, submission.submitted_at, None);
                    t.put(Table::Doc, &rec.doc_id, &rec);
                }
                t.put(
                    Table::Submission,
                    &submission.submission_id,
                    &sealed.address,
                );
            }
            Ok(())
        })?;
    }
    node.store.flush()?;
    Ok(())
}

/// Stream positions that tell, after a sync, which items crossed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Marks {
    /// How far the hub holds the client's own stream.
    origin_at_hub: u64,
    /// How far the client holds the trust stream.
    trust_at_client: u64,
    /// How far the client holds its satker's stream.
    scope_at_client: u64,
}

fn scope_of(client: &Node) -> Result<StreamId> {
    Ok(StreamId::Scope(client.require_satker("bench")?.to_string()))
}

fn marks(hub: &Node, client: &Node) -> Result<Marks> {
    Ok(Marks {
        origin_at_hub: hub.store.position(&StreamId::Origin(client.node_id()))?,
        trust_at_client: client.store.position(&StreamId::Trust)?,
        scope_at_client: client.store.position(&scope_of(client)?)?,
    })
}

/// Items and envelope bytes of `from`'s log of `stream` in `after+1..=through`,
/// leaving out entries authored by `skip` (the hub never echoes a device's own items).
fn stream_payload(
    from: &Node,
    stream: &StreamId,
    after: u64,
    through: u64,
    skip: Option<NodeId>,
) -> Result<(u64, u64)> {
    let (mut items, mut bytes) = (0u64, 0u64);
    let mut pos = after;
    while pos < through {
        let (chunk, covered) = from
            .store
            .read_stream(stream, pos, 1 << 20, |e| skip.is_some() && e.origin == skip)?;
        for (seq, b) in chunk {
            if seq > through {
                return Ok((items, bytes));
            }
            items += 1;
            bytes += b.len() as u64;
        }
        if covered <= pos {
            break;
        }
        pos = covered;
    }
    Ok((items, bytes))
}

/// The items (and their envelope bytes) that crossed between `client` and the hub
/// between two marks, in both directions.
fn payload(hub: &Node, client: &Node, before: Marks, after: Marks) -> Result<(u64, u64)> {
    let me = client.node_id();
    let sent = stream_payload(
        client,
        &StreamId::Origin(me),
        before.origin_at_hub,
        after.origin_at_hub,
        None,
    )?;
    let trust = stream_payload(
        hub,
        &StreamId::Trust,
        before.trust_at_client,
        after.trust_at_client,
        Some(me),
    )?;
    let scope = stream_payload(
        hub,
        &scope_of(client)?,
        before.scope_at_client,
        after.scope_at_client,
        Some(me),
    )?;
    Ok((sent.0 + trust.0 + scope.0, sent.1 + trust.1 + scope.1))
}

/// Fails unless the hub holds all of `client`'s stream: a benchmark that lost items
/// must not report a rate.
fn check_delivered(hub: &Node, client: &Node) -> Result<()> {
    let stream = StreamId::Origin(client.node_id());
    let (held, head) = (hub.store.position(&stream)?, client.store.head(&stream)?);
    if held != head {
        return Err(NodeError::user(format!(
            "bench: the hub holds {held} of the satker's {head} items after the sync"
        )));
    }
    Ok(())
}

/// A hub and one satker whose PPSPM is certified, in `root`.
async fn hub_and_satker(root: &Path) -> Result<(Hub, Arc<Node>, Signer)> {
    let hub = Hub::start(&root.join("hub"))?;
    let satker = hub
        .satker(&root.join("satker-1"), &FIRST_SATKER.to_string())
        .await?;
    let signer = certify_signer(&hub, &satker).await?;
    Ok((hub, satker, signer))
}

async fn incremental(docs: usize) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs)?;
    sync(&satker, &hub).await?;
    check_delivered(&hub.node, &satker)?;
    generate(&satker, &signer, INCREMENTAL_NEW_DOCS)?;
    let before = marks(&hub.node, &satker)?;
    let run = sync(&satker, &hub).await?;
    let after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    let (items, payload_bytes) = payload(&hub.node, &satker, before, after)?;
    let wire_bytes = run.wire_bytes();
    let round_trips = run.wire.round_trips;
    let bytes_limit = payload_bytes * 13 / 10 + 4096;
    let within_limits = round_trips <= 3 && wire_bytes <= bytes_limit;
    let rss = peak_rss_bytes();
    let json = json!({
        "scenario": "incremental",
        "docs": docs,
        "new_docs": INCREMENTAL_NEW_DOCS,
        "seconds": run.seconds,
        "docs_per_sec": rate(INCREMENTAL_NEW_DOCS, run.seconds),
        "wire_bytes": wire_bytes,
        "payload_bytes": payload_bytes,
        "payload_items": items,
        "round_trips": round_trips,
        "peak_rss_bytes": rss,
        "bytes_limit": bytes_limit,
        "within_limits": within_limits,
        "sent_items": run.stats.sent_items,
        "received_items": run.stats.received_items,
        "sent_bytes": run.wire.sent_bytes,
        "received_bytes": run.wire.received_bytes,
        "sent_messages": run.wire.sent_messages,
        "received_messages": run.wire.received_messages,
    });
    let text = format!(
        "incremental: {docs} documents already at the hub, {INCREMENTAL_NEW_DOCS} new ones synced in {:.3} s\n\
         round trips: {round_trips} (limit 3)\n\
         wire bytes:  {wire_bytes} (limit {bytes_limit} = 1.3 x {payload_bytes} payload bytes of {items} items + 4096)\n\
         within limits: {}\n\
         messages: {} sent, {} received; peak RSS {}",
        run.seconds,
        if within_limits { "yes" } else { "NO" },
        run.wire.sent_messages,
        run.wire.received_messages,
        rss_text(rss),
    );
    Ok(Output::new(json, text))
}

async fn ingest(docs: usize) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs)?;
    let before = marks(&hub.node, &satker)?;
    let run = sync(&satker, &hub).await?;
    let after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    let (items, payload_bytes) = payload(&hub.node, &satker, before, after)?;
    Ok(report(
        "ingest",
        docs,
        &format!("one satker delivered {docs} documents to the hub"),
        run.seconds,
        run.wire_bytes(),
        payload_bytes,
        items,
        run.wire.round_trips,
    ))
}

async fn fanin(docs: usize, satkers: usize) -> Result<Output> {
    let root = temp_root()?;
    let hub = Hub::start(&root.path().join("hub"))?;
    let mut nodes = Vec::with_capacity(satkers);
    for i in 0..satkers {
        let code = (FIRST_SATKER + i as u32).to_string();
        let node = hub
            .satker(&root.path().join(format!("satker-{}", i + 1)), &code)
            .await?;
        let signer = certify_signer(&hub, &node).await?;
        let share = docs / satkers + usize::from(i < docs % satkers);
        generate(&node, &signer, share)?;
        nodes.push(node);
    }
    let befores = nodes
        .iter()
        .map(|n| marks(&hub.node, n))
        .collect::<Result<Vec<_>>>()?;
    let hub = Arc::new(hub);
    let started = Instant::now();
    let tasks: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (n, hub) = (n.clone(), hub.clone());
            tokio::spawn(async move { sync(&n, &hub).await })
        })
        .collect();
    let mut runs = Vec::with_capacity(tasks.len());
    for t in tasks {
        runs.push(
            t.await.map_err(|e| {
                NodeError::Transport(format!("a benchmark sync task failed: {e}"))
            })??,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let (mut items, mut payload_bytes) = (0, 0);
    for (n, before) in nodes.iter().zip(befores) {
        check_delivered(&hub.node, n)?;
        let after = marks(&hub.node, n)?;
        let (i, b) = payload(&hub.node, n, before, after)?;
        items += i;
        payload_bytes += b;
    }
    let wire_bytes = runs.iter().map(SyncRun::wire_bytes).sum();
    let round_trips = runs.iter().map(|r| r.wire.round_trips).max().unwrap_or(0);
    let mut out = report(
        "fanin",
        docs,
        &format!("{satkers} satkers delivered {docs} documents to one hub concurrently"),
        seconds,
        wire_bytes,
        payload_bytes,
        items,
        round_trips,
    );
    out.json["satkers"] = json!(satkers);
    out.text
        .push_str("\n(round trips: the most any one satker needed)");
    Ok(out)
}

async fn pull(docs: usize) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs)?;
    sync(&satker, &hub).await?;
    check_delivered(&hub.node, &satker)?;
    let code = satker.require_satker("bench")?.to_string();
    let second = hub.satker(&root.path().join("satker-1b"), &code).await?;
    let before = marks(&hub.node, &second)?;
    let run = sync(&second, &hub).await?;
    let after = marks(&hub.node, &second)?;
    let scope = scope_of(&second)?;
    if second.store.position(&scope)? != hub.node.store.head(&scope)? {
        return Err(NodeError::user(
            "bench: the second device did not receive all of its satker's stream",
        ));
    }
    let (items, payload_bytes) = payload(&hub.node, &second, before, after)?;
    Ok(report(
        "pull",
        docs,
        &format!("a second device of the satker pulled {docs} documents from the hub"),
        run.seconds,
        run.wire_bytes(),
        payload_bytes,
        items,
        run.wire.round_trips,
    ))
}

#[allow(clippy::too_many_arguments)]
fn report(
    scenario: &str,
    docs: usize,
    what: &str,
    seconds: f64,
    wire_bytes: u64,
    payload_bytes: u64,
    items: u64,
    round_trips: u64,
) -> Output {
    let rss = peak_rss_bytes();
    let docs_per_sec = rate(docs, seconds);
    let json = json!({
        "scenario": scenario,
        "docs": docs,
        "seconds": seconds,
        "docs_per_sec": docs_per_sec,
        "wire_bytes": wire_bytes,
        "payload_bytes": payload_bytes,
        "payload_items": items,
        "round_trips": round_trips,
        "peak_rss_bytes": rss,
    });
    let text = format!(
        "{scenario}: {what} in {seconds:.3} s ({docs_per_sec:.1} documents/s)\n\
         wire bytes: {wire_bytes} ({:.1} MiB) for {payload_bytes} payload bytes of {items} items\n\
         round trips: {round_trips}; peak RSS {}",
        mib(wire_bytes),
        rss_text(rss),
    );
    Output::new(json, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 8] = [
        "scenario",
        "docs",
        "seconds",
        "docs_per_sec",
        "wire_bytes",
        "payload_bytes",
        "round_trips",
        "peak_rss_bytes",
    ];

    fn check_keys(out: &Output) {
        for k in KEYS {
            assert!(out.json.get(k).is_some(), "missing '{k}' in {}", out.json);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn incremental_sync_cost_follows_the_difference_not_the_history() {
        let small = run("incremental", 50, 1).await.unwrap();
        let out = run("incremental", 200, 1).await.unwrap();
        println!("{}\n{}", out.text, out.json);
        check_keys(&out);
        let j = &out.json;
        assert_eq!(j["scenario"], "incremental");
        assert_eq!(j["docs"], 200);
        assert!(
            j["payload_bytes"].as_u64().unwrap() > (INCREMENTAL_NEW_DOCS * DOC_TEXT_BYTES) as u64
        );
        let wire = j["wire_bytes"].as_u64().unwrap();
        let limit = j["bytes_limit"].as_u64().unwrap();
        assert!(wire <= limit, "{wire} wire bytes > {limit}: {}", out.text);
        // Four times the history, the same exchange: same messages, bytes within a few
        // varint widths of each other.
        assert_eq!(
            small.json["round_trips"], j["round_trips"],
            "{}\n{}",
            small.text, out.text
        );
        let small_wire = small.json["wire_bytes"].as_u64().unwrap();
        assert!(
            wire.abs_diff(small_wire) < 256,
            "{small_wire} vs {wire} wire bytes"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn ingest_fanin_and_pull_deliver_everything() {
        for (scenario, satkers) in [("ingest", 1), ("fanin", 3), ("pull", 1)] {
            let out = run(scenario, 20, satkers).await.unwrap();
            println!("{}", out.text);
            check_keys(&out);
            assert_eq!(out.json["docs"], 20);
            assert!(out.json["payload_bytes"].as_u64().unwrap() > (20 * DOC_TEXT_BYTES) as u64);
            assert!(
                out.json["wire_bytes"].as_u64().unwrap()
                    > out.json["payload_bytes"].as_u64().unwrap() / 2
            );
        }
    }

    #[tokio::test]
    async fn unknown_and_unimplemented_scenarios_are_user_errors() {
        match run("nonsense", 10, 1).await {
            Err(NodeError::User(m)) => assert!(m.contains("choose ingest"), "{m}"),
            other => panic!("expected a user error, got {:?}", other.map(|o| o.json)),
        }
        match run("limits", 10, 1).await {
            Err(NodeError::User(m)) => assert!(m.contains("not implemented"), "{m}"),
            other => panic!("expected a user error, got {:?}", other.map(|o| o.json)),
        }
    }

    /// The figures to report: `cargo test -p node --lib bench -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "takes minutes; run by hand to measure"]
    async fn incremental_at_ten_thousand_documents() {
        let out = run("incremental", 10_000, 1).await.unwrap();
        println!("{}\n{}", out.text, out.json);
        check_keys(&out);
    }

    /// Throughput at 10,000 documents: `cargo test -p node --lib bench -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "takes minutes; run by hand to measure"]
    async fn ingest_fanin_and_pull_at_ten_thousand_documents() {
        for scenario in ["ingest", "fanin", "pull"] {
            let out = run(scenario, 10_000, 4).await.unwrap();
            println!("{}\n{}", out.text, out.json);
            check_keys(&out);
        }
    }
}
