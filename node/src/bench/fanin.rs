//! `fanin`: many satkers deliver to one hub at once, the hub measured alone.
//!
//! The hub runs in its own process, a real `espm serve` ([`hubproc`]) on a data
//! directory prepared here, so `hub_peak_rss_bytes` is the hub's own peak (VmHWM) and
//! `peak_rss_bytes` the load generator's. The load generator is this process: one
//! simulated device per satker ([`load`]), each with its own enrolled key and its own
//! signed items in memory, all connecting at once over real QUIC and TLS.
//!
//! Setup goes through the hub's own functions while its store is open here, before
//! `espm serve` takes it: each device is enrolled ([`authority::enroll_with`]), its
//! PPSPM's certificate request and its operator's activation request are taken in by
//! the hub's replica exactly as they would arrive in a sync ([`HubReplica`]), and both
//! are approved as `espm certs approve` and `espm operators approve` do. The authority
//! key is unsealed once for all of them: Argon2id at 64 MiB costs a quarter of a second
//! per unsealing, which for 500 satkers would be minutes of setup measuring nothing.
//!
//! Before the burst, the hub's cost of an idle connection is measured: [`IDLE_CONNECTIONS`]
//! devices connect, complete the handshake and open no stream, and the hub's resident
//! memory before and after gives `idle_connection_bytes`. After the burst the hub is
//! stopped and its store read back: the scenario fails unless the hub holds every
//! device's stream to its end and has issued a receipt for every document.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use sync_protocol::{
    CertRequest, DeviceRole, FrameItem, Item, Jabatan, OperatorRequest, OperatorRole, Replica,
    SecretKey, SignedItem, StreamId, Subject, VersionVector,
};

use super::{
    fixture::{generate_stream, init_hub, temp_root, Signer, FIRST_SATKER, OPERATOR, PASSPHRASE},
    hubproc::{cpu_seconds, hub_command, udp_drops, HubProcess, ThreadWatch},
    load::{self, Client, ClientRun},
    report, rss, Figures,
};
use crate::{
    cli::run::Output,
    error::{NodeError, Result},
    hub::{authority, limits::MAX_CONNECTIONS, operators as hub_operators, replica::HubReplica},
    node::Node,
    transport::blocking,
};

/// Idle connections opened to measure what one costs the hub (fewer if fewer satkers).
pub(super) const IDLE_CONNECTIONS: usize = 200;

/// What one idle connection may cost the hub, by the target.
pub(super) const IDLE_CONNECTION_TARGET_BYTES: u64 = 100 * 1024;

/// How long the hub is left to settle before its memory is read.
const SETTLE: Duration = Duration::from_millis(1000);

/// `satkers` satkers deliver `docs` documents between them to a hub in its own process,
/// all at once.
pub(super) async fn run(docs: usize, satkers: usize, doc_bytes: usize) -> Result<Output> {
    if satkers > MAX_CONNECTIONS {
        return Err(NodeError::user(format!(
            "--satkers must be at most {MAX_CONNECTIONS} for fanin, the connections a hub serves at once"
        )));
    }
    let root = temp_root()?;
    let dir = root.path().join("hub");
    let addr = free_loopback_port()?;
    init_hub(&dir, &addr.to_string())?;
    let setup_started = Instant::now();
    let prepared = dir.clone();
    let (hub_id, clients) = blocking(move || {
        let hub = Arc::new(Node::open(&prepared)?);
        let clients = prepare(&hub, docs, satkers, doc_bytes)?;
        hub.store.flush()?;
        Ok::<_, NodeError>((hub.node_id(), clients))
    })
    .await??;
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    let log = root.path().join("hub.log");
    let hub = HubProcess::start(hub_command(&dir)?, &log, addr, hub_id, &clients[0]).await?;

    let idle = clients.len().min(IDLE_CONNECTIONS);
    tokio::time::sleep(SETTLE).await;
    let drops_at_start = udp_drops(addr.port());
    let rss_before = hub.status_bytes("VmRSS");
    let (held, _) = load::open_idle(&clients[..idle], hub_id, addr).await?;
    tokio::time::sleep(SETTLE).await;
    let rss_idle = hub.status_bytes("VmRSS");
    load::close_all(held).await;
    let idle_bytes = match (rss_before, rss_idle) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) / idle as u64),
        _ => None,
    };
    tokio::time::sleep(SETTLE).await;

    let threads = ThreadWatch::start(hub.pid());
    let cpu_before = (cpu_seconds(hub.pid()), cpu_seconds(std::process::id()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        tasks.spawn(async move { (i, load::sync(c, hub_id, addr).await) });
    }
    let mut runs = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, Ok(run))) => {
                runs.insert(i, run);
            }
            Ok((i, Err(e))) => failed.push(format!("satker {}: {e}", clients[i].satker)),
            Err(e) => failed.push(format!("a benchmark sync task failed: {e}")),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let hub_peak = hub.status_bytes("VmHWM");
    let cpu = |before: Option<f64>, pid| Some(cpu_seconds(pid)? - before?);
    let hub_cpu = cpu(cpu_before.0, hub.pid());
    let load_cpu = cpu(cpu_before.1, std::process::id());
    let hub_threads = threads.stop().await;
    let drops = udp_drops(addr.port());
    hub.stop().await?;

    let (refused, first_refused) = load::refusals(&runs);
    let errors = failed.len();
    let reread = dir.clone();
    let checked = clients.clone();
    let missing = blocking(move || check(&Node::open(&reread)?, &checked)).await??;
    let first_error = failed.first().cloned();
    let mut out = figures(
        Burst {
            docs,
            satkers,
            seconds,
            clients: &clients,
            runs: &runs,
            errors,
            first_error,
        },
        Measured {
            setup_seconds,
            hub_peak,
            hub_threads,
            hub_drops: (drops_at_start, drops),
            hub_cpu,
            load_cpu,
            idle,
            idle_bytes,
        },
    );
    out.json["refused_items"] = json!(refused);
    out.json["incomplete_satkers"] = json!(missing.len());
    out.json["complete"] = json!(missing.is_empty());
    if let Some(first) = missing.first() {
        // A run that lost documents reports what it saw, and fails.
        out.failed = true;
        out.text = format!(
            "FAILED: the hub does not hold every document with its receipt: {} satker(s) incomplete (first: {first}); the hub refused {refused} item(s){}\n{}",
            missing.len(),
            first_refused
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            out.text
        );
    }
    Ok(out)
}

/// A free UDP port on the loopback for the hub to listen on. Another process could
/// take it between here and `espm serve`; the hub would then fail to start, and say so.
fn free_loopback_port() -> Result<SocketAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(NodeError::io("find a free UDP port on the loopback"))?;
    socket
        .local_addr()
        .map_err(NodeError::io("read a UDP socket's address"))
}

/// Enrolls `satkers` devices with the open hub store `hub`, certifies a PPSPM and
/// activates an operator for each, and makes their `docs` documents between them.
fn prepare(
    hub: &Arc<Node>,
    docs: usize,
    satkers: usize,
    doc_bytes: usize,
) -> Result<Vec<Arc<Client>>> {
    let key = hub.authority(Some(PASSPHRASE))?;
    let authority = || Ok(SecretKey::from_bytes(&key.to_bytes()));
    let mut made = Vec::with_capacity(satkers);
    for i in 0..satkers {
        let satker = (FIRST_SATKER + i as u32).to_string();
        let device = SecretKey::generate();
        let role = DeviceRole::Satker {
            satker: satker.clone(),
        };
        authority::enroll_with(hub, device.public(), role.clone(), authority)?;
        let signer_key = SecretKey::generate();
        let cert_request = SignedItem::seal(
            Item::CertRequest(CertRequest {
                subject: Subject {
                    name: "Siti Rahma".into(),
                    nik: "3171234567890123".into(),
                    nip: "198001012005012001".into(),
                    email: "siti@kemenkeu.go.id".into(),
                    jabatan: Jabatan::Ppspm,
                    unit: satker.clone(),
                    instansi: String::new(),
                },
                satker: satker.clone(),
                device: device.public(),
                key: signer_key.public(),
                requested_at: hub.now(),
            }),
            &signer_key,
        );
        let operator_request = SignedItem::seal(
            Item::OperatorRequest(OperatorRequest {
                username: OPERATOR.into(),
                role: OperatorRole::OperatorSatker,
                satker: satker.clone(),
                device: device.public(),
                sk_penunjukan: None,
                requested_at: hub.now(),
            }),
            &device,
        );
        // The hub takes both in as it would from the device's first sync.
        let own = StreamId::Origin(device.public());
        let requests = [cert_request.clone(), operator_request.clone()]
            .into_iter()
            .zip(1u64..)
            .map(|(item, seq)| FrameItem {
                seq,
                bytes: item.bytes,
            })
            .collect::<Vec<_>>();
        let refused = HubReplica::new(hub.clone(), device.public(), role).receive(
            &own,
            &requests,
            requests.len() as u64,
        )?;
        if let Some(r) = refused.first() {
            return Err(NodeError::user(format!(
                "bench: the hub refused satker {satker}'s setup request: {}",
                r.reason
            )));
        }
        hub_operators::approve_with(hub, &operator_request.address.request_id(), authority)?;
        let issued = authority::approve_with(hub, &cert_request.address.request_id(), authority)?;
        let signer = Signer::new(
            issued.serial,
            issued.subject.jabatan,
            issued.subject.name,
            signer_key,
        );
        let share = docs / satkers + usize::from(i < docs % satkers);
        let stream = generate_stream(&device, &satker, &signer, share, doc_bytes)?;
        made.push((device, satker, stream, requests.len() as u64 + 1));
    }
    // Where each device stands once its setup is done: it has every trust statement,
    // and its notices and documents so far (its certificate and operator activation).
    let trust = hub.store.head(&StreamId::Trust)?;
    let mut clients = Vec::with_capacity(made.len());
    for (key, satker, stream, first_seq) in made {
        let mut follows = VersionVector::new();
        follows.insert(StreamId::Trust, trust);
        for s in [
            StreamId::Notices(satker.clone()),
            StreamId::Scope(satker.clone()),
        ] {
            let head = hub.store.head(&s)?;
            follows.insert(s, head);
        }
        clients.push(Arc::new(Client {
            key,
            satker,
            stream,
            first_seq,
            follows,
        }));
    }
    Ok(clients)
}

/// What the hub lacks of each client's delivery, one line per incomplete satker: the
/// items of its stream the hub does not hold, and the documents without a receipt.
fn check(hub: &Node, clients: &[Arc<Client>]) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for c in clients {
        let held = hub.store.position(&StreamId::Origin(c.id()))?;
        let notices = StreamId::Notices(c.satker.clone());
        let from = c.follows.get(&notices).copied().unwrap_or(0);
        let receipted = receipted(hub, &notices, from)?;
        let unreceipted = c
            .stream
            .doc_ids
            .iter()
            .filter(|d| !receipted.contains(*d))
            .count();
        if held != c.head() || unreceipted > 0 {
            missing.push(format!(
                "satker {}: the hub holds {held} of {} items and has receipted {} of {} documents",
                c.satker,
                c.head(),
                c.stream.doc_ids.len() - unreceipted,
                c.stream.doc_ids.len()
            ));
        }
    }
    Ok(missing)
}

/// The documents the receipts in `stream` after `after` name.
fn receipted(hub: &Node, stream: &StreamId, after: u64) -> Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    let mut pos = after;
    loop {
        let (chunk, through) = hub.store.read_stream(stream, pos, 1 << 20, |_| false)?;
        for (_, bytes) in chunk {
            if let Item::Receipt(r) = SignedItem::open(&bytes)?.item {
                ids.extend(r.doc_ids);
            }
        }
        if through <= pos {
            return Ok(ids);
        }
        pos = through;
    }
}

/// The burst as the load generator saw it.
struct Burst<'a> {
    docs: usize,
    satkers: usize,
    seconds: f64,
    clients: &'a [Arc<Client>],
    runs: &'a BTreeMap<usize, ClientRun>,
    /// Syncs that failed, though the hub holds everything (one that broke after its end).
    errors: usize,
    first_error: Option<String>,
}

/// What was measured of the hub around the burst.
struct Measured {
    setup_seconds: f64,
    hub_peak: Option<u64>,
    /// The most threads the hub ran during the burst.
    hub_threads: u64,
    /// Datagrams the kernel dropped at the hub's socket (full receive buffer): by the
    /// start of the idle measurement, and by the end of the burst.
    hub_drops: (Option<u64>, Option<u64>),
    /// CPU seconds the hub and the load generator used during the burst.
    hub_cpu: Option<f64>,
    load_cpu: Option<f64>,
    idle: usize,
    idle_bytes: Option<u64>,
}

/// The contract's keys, the fanin keys, and the text for people.
fn figures(b: Burst<'_>, m: Measured) -> Output {
    let runs = || b.runs.values();
    let sent: u64 = runs().map(|r| r.sent_items).sum();
    let received: u64 = runs().map(|r| r.received_items).sum();
    // What crossed in the syncs that finished: their devices' own items, and what
    // came back to them.
    let payload: u64 = b
        .runs
        .iter()
        .map(|(i, r)| b.clients[*i].payload_bytes() + r.received_bytes)
        .sum();
    let mut out = report(Figures {
        scenario: "fanin",
        docs: b.docs,
        what: format!(
            "{} satkers delivered {} documents to one hub (its own process) concurrently",
            b.satkers, b.docs
        ),
        seconds: b.seconds,
        wire_bytes: runs()
            .map(|r| r.wire.sent_bytes + r.wire.received_bytes)
            .sum(),
        payload_bytes: payload,
        items: sent + received,
        flights: runs().map(|r| r.wire.round_trips).max().unwrap_or(0),
    });
    let receipts: u64 = runs().map(|r| r.receipts).sum();
    let j = &mut out.json;
    j["satkers"] = json!(b.satkers);
    j["hub_peak_rss_bytes"] = json!(m.hub_peak);
    j["errors"] = json!(b.errors);
    j["sent_items"] = json!(sent);
    j["received_items"] = json!(received);
    j["receipts_received"] = json!(receipts);
    j["setup_seconds"] = json!(m.setup_seconds);
    j["hub_peak_threads"] = json!(m.hub_threads);
    j["hub_udp_drops"] = json!(m.hub_drops.1);
    j["hub_udp_drops_before_idle"] = json!(m.hub_drops.0);
    j["hub_cpu_seconds"] = json!(m.hub_cpu);
    j["load_cpu_seconds"] = json!(m.load_cpu);
    j["idle_connections"] = json!(m.idle);
    j["idle_connection_bytes"] = json!(m.idle_bytes);
    j["idle_connection_target_bytes"] = json!(IDLE_CONNECTION_TARGET_BYTES);
    j["idle_connection_met"] = json!(m.idle_bytes.map(|b| b <= IDLE_CONNECTION_TARGET_BYTES));
    let idle_text = m
        .idle_bytes
        .map(|b| format!("{:.1} KiB", b as f64 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    out.text.push_str(&format!(
        "\n(round trips: the most any one satker needed)\n\
         hub (its own process): peak RSS {}; errors: {} of {} syncs failed{}; {receipts} receipts came back\n\
         CPU during the burst: hub {} s, load generator {} s; the hub ran up to {} threads; the kernel dropped {} datagrams at the hub's socket (receive buffer full)\n\
         an idle connection costs the hub {idle_text} (of {} handshaken idle connections; target at most {} KiB)\n\
         setup (enrolment, certificates, documents) took {:.1} s, not timed",
        rss::rss_text(m.hub_peak),
        b.errors,
        b.satkers,
        b.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        cpu_text(m.hub_cpu),
        cpu_text(m.load_cpu),
        m.hub_threads,
        m.hub_drops
            .1
            .map(|d| d.to_string())
            .unwrap_or_else(|| "an unknown number of".into()),
        m.idle,
        IDLE_CONNECTION_TARGET_BYTES / 1024,
        m.setup_seconds,
    ));
    out
}

/// CPU seconds for people, or "unknown".
fn cpu_text(seconds: Option<f64>) -> String {
    seconds
        .map(|s| format!("{s:.1}"))
        .unwrap_or_else(|| "unknown".into())
}
