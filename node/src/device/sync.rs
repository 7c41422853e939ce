//! One sync of a device with its hub: [`sync_once`] is the one sync function, which
//! `espm sync` ([`sync`]), the background loop of `espm serve` ([`client_loop`]) and every
//! `espm bench` scenario run. It reports progress through a callback, so the terminal's
//! progress bar stays front-end code.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use sync_protocol::{Config, Replica, Session, StreamKind, HEADER_BYTES};

use crate::{
    config::NodeConfig,
    device::{info, replica::DeviceReplica},
    drafts::{self, DraftSyncStats},
    error::{NodeError, Result},
    node::Node,
    transport::{
        blocking, connect, dial, drive, not_admitted, open_stream, refusal, Deadlines, Reconcile,
        Refusal, WireStats, CONNECT_TIMEOUT,
    },
};

/// What one sync moved.
#[derive(Debug, Default, Clone)]
pub struct Synced {
    /// Items sent to the hub.
    pub sent_items: u64,
    /// Items received from the hub.
    pub received_items: u64,
    /// Attachment chunks sent.
    pub sent_chunks: u64,
    /// Attachment chunks received.
    pub received_chunks: u64,
    /// Positions of this device's own stream there were to send, as the hub's Hello
    /// said it held it: equal to `sent_items` unless a frame had to be sent again.
    pub items_to_send: u64,
    /// Positions of the hub's streams there were to receive, as its Hello and Done
    /// said: `received_items` and the device's own items the hub never echoes back.
    pub items_to_receive: u64,
    /// Attachment chunks the hub said it needed from this device.
    pub chunks_to_send: u64,
    /// Attachment chunks this device received or still needs.
    pub chunks_to_receive: u64,
    /// Documents the KPPN receipted in this sync, by id.
    pub receipted: BTreeSet<String>,
    /// Documents whose items the hub refused in this sync, by id, with its reason.
    pub refused_documents: BTreeMap<String, String>,
    /// Documents the KPPN rejected, learned in this sync, by id, with its reason.
    pub rejected: BTreeMap<String, String>,
    /// Items the hub refused, each as "item ADDRESS: reason".
    pub refused: Vec<String>,
    /// What crossed the wire on the reconciliation streams, stream headers included.
    pub wire: WireStats,
    /// What the draft sync with the hub moved (satker devices only).
    pub drafts: DraftSyncStats,
    /// From just before dialling until every session was finished (closing the
    /// connection afterwards is not included).
    pub seconds: f64,
    /// From just before dialling until the QUIC connection was established.
    pub connect_seconds: f64,
}

/// How far a running sync has got against its totals, for a progress display. Items
/// are counted as stream positions (see [`sync_protocol::Progress`]); totals are known
/// once the hub's Hello has arrived, and zero while connecting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// This session's items the hub has acknowledged.
    pub acked_items: u64,
    /// This session's items to send in all (it grows if the node makes more meanwhile).
    pub items_to_send: u64,
    /// Bytes sent on the wire.
    pub sent_bytes: u64,
    /// Attachment chunks sent.
    pub sent_chunks: u64,
    /// Attachment chunks the hub said it needs from this device.
    pub chunks_to_send: u64,
    /// Items received.
    pub received_items: u64,
    /// Items to receive in all, as the hub said.
    pub items_to_receive: u64,
    /// Bytes received on the wire.
    pub received_bytes: u64,
    /// Attachment chunks received.
    pub received_chunks: u64,
    /// Attachment chunks to receive in all: received and still needed.
    pub chunks_to_receive: u64,
}

/// Where a sync reports its progress; called off the async threads, after each message.
pub type OnProgress = Arc<dyn Fn(&SyncProgress) + Send + Sync>;

/// How to run one sync.
#[derive(Clone)]
pub struct SyncOptions {
    /// The longest the whole sync may take.
    pub timeout: Duration,
    /// Dial this address instead of the configured hub address (a relay in front of
    /// the hub, say); the hub's key is still the pinned one.
    pub dial: Option<SocketAddr>,
    /// Where to report progress, if anywhere.
    pub progress: Option<OnProgress>,
}

impl SyncOptions {
    /// A sync of the configured hub within `timeout`, reporting no progress.
    pub fn within(timeout: Duration) -> SyncOptions {
        SyncOptions {
            timeout,
            dial: None,
            progress: None,
        }
    }
}

/// `espm sync`: one sync with the pinned hub, which fails if the hub refused any item.
pub async fn sync(node: Arc<Node>, options: SyncOptions) -> Result<Synced> {
    let s = sync_once(node, options).await?;
    if !s.refused.is_empty() {
        let docs = match s.refused_documents.is_empty() {
            true => String::new(),
            false => format!(
                " (document {})",
                s.refused_documents
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(NodeError::Refused(format!(
            "the hub refused {} item(s){docs}: {}. The documents concerned are marked rejected; correct them and submit again",
            s.refused.len(),
            s.refused.join("; ")
        )));
    }
    Ok(s)
}

/// Runs one sync with the pinned hub: the reconciliation sessions and, alongside on the
/// same connection, the draft sync. Items the hub refused are reported, not an error.
pub async fn sync_once(node: Arc<Node>, options: SyncOptions) -> Result<Synced> {
    let (hub, hub_id) =
        match &node.config {
            NodeConfig::Satker { hub, hub_id, .. } | NodeConfig::Auditor { hub, hub_id } => {
                (hub.clone(), *hub_id)
            }
            NodeConfig::Hub(_) => return Err(NodeError::user(
                "the hub does not sync with anyone; run `espm sync` on a satker or auditor node",
            )),
        };
    let timeout = options.timeout;
    let work = async {
        let started = Instant::now();
        // The name is resolved now, not at init: a satker set up offline names its KPPN
        // by host name.
        let within = timeout.min(CONNECT_TIMEOUT);
        let (endpoint, conn) = match options.dial {
            Some(addr) => connect(&node.key, hub_id, addr, within).await?,
            None => dial(&node.key, hub_id, &hub, within).await?,
        };
        let connect_seconds = started.elapsed().as_secs_f64();
        let sessions = async {
            let mut synced = Synced::default();
            // A node that learns new streams in a session (an auditor learning its scope
            // from its own enrollment) follows them at once, on the same connection.
            for _ in 0..MAX_SESSIONS {
                let before = following(&node).await?;
                one_session(&node, &conn, options.progress.clone(), &mut synced).await?;
                if following(&node).await? == before {
                    break;
                }
            }
            Ok::<_, NodeError>(synced)
        };
        // Drafts travel on their own stream alongside, so they cost no extra round trip.
        let drafts = async {
            drafts::run_client(&conn, node.clone())
                .await
                .map_err(|e| refine(e, &conn, &node))
        };
        let (synced, drafts) = tokio::join!(sessions, drafts);
        let seconds = started.elapsed().as_secs_f64();
        let result = synced.and_then(|mut synced| {
            synced.drafts = drafts?;
            synced.seconds = seconds;
            synced.connect_seconds = connect_seconds;
            Ok(synced)
        });
        conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        result
    };
    let result = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| NodeError::Unreachable {
            addr: hub.clone(),
            detail: format!("the sync did not finish within {} s", timeout.as_secs()),
        })
        .and_then(|r| r);
    // Every sync, whichever front-end ran it, leaves its outcome for `espm info`.
    let outcome = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
    let recorder = node.clone();
    match blocking(move || info::record(&recorder, outcome)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) | Err(e) => tracing::warn!("could not record the sync's outcome: {e}"),
    }
    result
}

/// Sessions one sync may run on its connection.
const MAX_SESSIONS: usize = 2;

/// The streams this node follows now.
async fn following(node: &Arc<Node>) -> Result<Vec<sync_protocol::StreamId>> {
    let replica = DeviceReplica::new(node.clone());
    Ok(blocking(move || replica.wanted())
        .await??
        .into_keys()
        .collect())
}

/// One reconciliation on its own stream of `conn`, added into `synced`.
async fn one_session(
    node: &Arc<Node>,
    conn: &quinn::Connection,
    progress: Option<OnProgress>,
    synced: &mut Synced,
) -> Result<()> {
    let (mut send, mut recv) = open_stream(conn, StreamKind::Reconciliation)
        .await
        .map_err(|e| refine(e, conn, node))?;
    let replica = DeviceReplica::new(node.clone());
    let rewinding = node.clone();
    // The client's Hello says what this node holds, which the store tells; a satker
    // whose copy for auditors is behind asks for the rest again first.
    let mut exchange = blocking(move || {
        crate::satker::share::rewind(&rewinding)?;
        Reconcile::client(Config::default(), replica)
    })
    .await??;
    if let Some(report) = progress {
        exchange = exchange.on_progress(Box::new(move |s, r, w| report(&progress_of(s, r, w))));
    }
    let (done, wire) = drive(exchange, &mut send, &mut recv, &Deadlines::default())
        .await
        .map_err(|e| refine(e, conn, node))?;
    let stats = done.session.stats();
    let p = done.session.progress(&done.replica)?;
    synced.items_to_send += p.to_send;
    synced.items_to_receive += p.to_receive;
    synced.chunks_to_send += p.chunks_to_send;
    synced.chunks_to_receive += p.chunks_to_receive;
    let o = done.replica.outcomes();
    synced.receipted.extend(o.receipted);
    synced.refused_documents.extend(o.refused);
    synced.rejected.extend(o.rejected);
    synced.sent_items += stats.sent_items;
    synced.received_items += stats.received_items;
    synced.sent_chunks += stats.sent_chunks;
    synced.received_chunks += stats.received_chunks;
    synced.wire.add(&wire);
    synced.wire.sent_bytes += HEADER_BYTES as u64;
    synced.refused.extend(
        stats
            .refused_by_peer
            .iter()
            .map(|(_, r)| format!("item {}: {}", r.address.short(), r.reason)),
    );
    Ok(())
}

/// Where `s` stands both ways against the totals the hub's Hello gave.
fn progress_of(s: &Session, replica: &DeviceReplica, w: &WireStats) -> SyncProgress {
    let p = s.progress(replica).unwrap_or_default();
    SyncProgress {
        acked_items: p.acked,
        items_to_send: p.to_send,
        sent_bytes: w.sent_bytes,
        sent_chunks: p.chunks_sent,
        chunks_to_send: p.chunks_to_send,
        received_items: p.received,
        items_to_receive: p.to_receive,
        received_bytes: w.received_bytes,
        received_chunks: p.chunks_received,
        chunks_to_receive: p.chunks_to_receive,
    }
}

/// A hub that refuses our key says so only once the handshake looked complete, at the
/// first read or write; its TLS alert, the connection's close code, tells that case
/// from a broken link.
fn refine(e: NodeError, conn: &quinn::Connection, node: &Node) -> NodeError {
    match conn.close_reason().as_ref().and_then(refusal) {
        Some(Refusal::NotAdmitted) => not_admitted(node.node_id()),
        _ => e,
    }
}

/// The background sync of a serving satker or auditor: sync, wait, again; with
/// exponential backoff and full jitter while the hub does not answer, reset by the
/// first sync that works. Each outcome is a timestamped log line.
pub(crate) async fn client_loop(node: Arc<Node>) -> Result<()> {
    let mut failures = 0u32;
    loop {
        match sync_once(node.clone(), SyncOptions::within(Duration::from_secs(60))).await {
            Ok(s) => {
                if failures > 0 || s.sent_items + s.received_items > 0 {
                    tracing::info!(
                        "synced: sent {} item(s), received {} item(s)",
                        s.sent_items,
                        s.received_items
                    );
                }
                for r in &s.refused {
                    tracing::warn!("the hub refused {r}");
                }
                if !s.receipted.is_empty() {
                    let ids: Vec<&str> = s.receipted.iter().map(String::as_str).collect();
                    tracing::info!("receipted by the KPPN: {}", ids.join(", "));
                }
                for (id, reason) in &s.rejected {
                    tracing::warn!("document {id} rejected by the KPPN: {reason}");
                }
                if s.drafts.updated > 0 {
                    tracing::info!(
                        "{} draft(s) updated with edits from other devices",
                        s.drafts.updated
                    );
                }
                for r in &s.drafts.refused {
                    tracing::warn!("{r}");
                }
                failures = 0;
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = backoff(failures, &mut rand::thread_rng());
                tracing::warn!("sync failed: {e}; retrying in {} s", wait.as_secs());
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The longest wait between two attempts of the background sync.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// How long to wait after `failures` syncs in a row failed: exponential (2, 4, 8 … s),
/// capped at [`BACKOFF_CAP`], with full jitter (anything from 1 s to that), so many
/// satkers coming back online together do not all call the hub at once.
pub(crate) fn backoff(failures: u32, rng: &mut impl rand::Rng) -> Duration {
    let cap = 2u64
        .saturating_pow(failures.min(16))
        .min(BACKOFF_CAP.as_secs());
    Duration::from_secs(rng.gen_range(1..=cap.max(1)))
}

#[cfg(test)]
mod tests;
