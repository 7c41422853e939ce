//! `espm sync`: one reconciliation with the hub, as the CLI and the background loop run it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::json;
use sync_protocol::session::{Config, Replica, Session};

use crate::cli::run::Output;
use crate::{
    config::NodeConfig,
    device::replica::DeviceReplica,
    drafts::{self, DraftSyncStats},
    error::{NodeError, Result},
    node::Node,
    transport::{connect, run_session, WireStats},
};

/// The terminal's progress line during `espm sync`.
const BAR_TEMPLATE: &str = "{spinner} [{bar:24}] {pos}/{len} items up · {msg}";

/// What one sync moved.
#[derive(Debug, Default, Clone)]
pub struct SyncSummary {
    /// Items sent to the hub.
    pub sent_items: u64,
    /// Items received from the hub.
    pub received_items: u64,
    /// Bytes sent on the wire.
    pub sent_bytes: u64,
    /// Bytes received on the wire.
    pub received_bytes: u64,
    /// Items the hub refused, with its reasons.
    pub refused: Vec<String>,
    /// Attachment chunks sent.
    pub sent_chunks: u64,
    /// Attachment chunks received.
    pub received_chunks: u64,
    /// What the draft sync with the hub moved (satker devices only).
    pub drafts: DraftSyncStats,
}

async fn resolve(addr: &str) -> Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| NodeError::Unreachable {
            addr: addr.to_string(),
            detail: format!("the address does not resolve ({e})"),
        })?;
    addrs.next().ok_or_else(|| NodeError::Unreachable {
        addr: addr.to_string(),
        detail: "the address does not resolve".into(),
    })
}

/// Runs one reconciliation with the pinned hub.
pub async fn sync_once(
    node: Arc<Node>,
    timeout: Duration,
    bar: Option<&ProgressBar>,
) -> Result<SyncSummary> {
    let (hub, hub_id) =
        match &node.config {
            NodeConfig::Satker { hub, hub_id, .. } | NodeConfig::Auditor { hub, hub_id } => {
                (hub.clone(), *hub_id)
            }
            NodeConfig::Hub(_) => return Err(NodeError::user(
                "the hub does not sync with anyone; run `espm sync` on a satker or auditor node",
            )),
        };
    let addr = resolve(&hub).await?;
    let work = async {
        let (endpoint, conn) = connect(&node.key, hub_id, addr, timeout).await?;
        let sessions = async {
            let mut summary = SyncSummary::default();
            // A node that learns new streams in a session (an auditor learning its scope
            // from its own enrollment) follows them at once, on the same connection.
            for _ in 0..MAX_SESSIONS {
                let before = following(&node)?;
                one_session(&node, &conn, bar, &mut summary).await?;
                if following(&node)? == before {
                    break;
                }
            }
            Ok::<_, NodeError>(summary)
        };
        // Drafts travel on their own stream alongside, so they cost no extra round trip.
        let drafts = async {
            drafts::run_client(&conn, node.clone())
                .await
                .map_err(|e| refine(e, &conn, &node))
        };
        let (summary, drafts) = tokio::join!(sessions, drafts);
        let result = summary.and_then(|mut summary| {
            summary.drafts = drafts?;
            Ok(summary)
        });
        conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        result
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| NodeError::Unreachable {
            addr: hub.clone(),
            detail: format!("the sync did not finish within {} s", timeout.as_secs()),
        })?
}

/// Sessions one sync may run on its connection.
const MAX_SESSIONS: usize = 2;

/// The streams this node follows now.
fn following(node: &Arc<Node>) -> Result<Vec<sync_protocol::stream::StreamId>> {
    let replica = DeviceReplica::new(node.clone());
    Ok(replica.wanted()?.into_keys().collect())
}

/// One reconciliation on its own stream of `conn`, added into `summary`.
async fn one_session(
    node: &Arc<Node>,
    conn: &quinn::Connection,
    bar: Option<&ProgressBar>,
    summary: &mut SyncSummary,
) -> Result<()> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| {
        refine(
            NodeError::Transport(format!("could not open a stream to the hub: {e}")),
            conn,
            node,
        )
    })?;
    let mut replica = DeviceReplica::new(node.clone());
    let mut session = Session::client(Config::default(), &replica)?;
    // A second view of the store for the progress display: the session holds the first
    // one mutably while it runs.
    let heads = DeviceReplica::new(node.clone());
    let wire = run_session(
        &mut session,
        &mut replica,
        &mut send,
        &mut recv,
        |s, w: &WireStats| {
            if let Some(b) = bar {
                show_progress(b, s, &heads, w);
            }
        },
    )
    .await
    .map_err(|e| refine(e, conn, node))?;
    let stats = session.stats();
    summary.sent_items += stats.sent_items;
    summary.received_items += stats.received_items;
    summary.sent_bytes += wire.sent_bytes;
    summary.received_bytes += wire.received_bytes;
    summary.sent_chunks += stats.sent_chunks;
    summary.received_chunks += stats.received_chunks;
    summary.refused.extend(
        stats
            .refused_by_peer
            .iter()
            .map(|(_, r)| format!("item {}: {}", r.address.short(), r.reason)),
    );
    Ok(())
}

/// The bar counts our items acknowledged by the hub against all we have to send; the
/// message adds bytes and chunks both ways, since what the hub will send is not known
/// in advance.
fn show_progress(bar: &ProgressBar, s: &Session, heads: &DeviceReplica, w: &WireStats) {
    if let Ok((done, total)) = s.upload_progress(heads) {
        bar.set_length(total);
        bar.set_position(done);
    }
    let st = s.stats();
    bar.set_message(format!(
        "up {} in {} chunks · down {} items, {} in {} chunks",
        HumanBytes(w.sent_bytes),
        st.sent_chunks,
        st.received_items,
        HumanBytes(w.received_bytes),
        st.received_chunks
    ));
}

/// A hub that rejects our client certificate says so only when we first read; name
/// that case plainly instead of as a broken connection.
fn refine(e: NodeError, conn: &quinn::Connection, node: &Node) -> NodeError {
    let closed = conn
        .close_reason()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let text = format!("{e} {closed}").to_lowercase();
    if text.contains("certificate")
        || text.contains("not admitted")
        || text.contains("crypto")
        || text.contains("alert")
    {
        return NodeError::Refused(format!(
            "the hub refused this device: node {} is not enrolled (or was blocked). Ask the KPPN administrator to run `espm enroll {}`",
            node.node_id().to_hex(),
            node.node_id().to_hex()
        ));
    }
    e
}

/// `espm sync`
pub async fn sync_command(node: Arc<Node>, timeout_s: u64, show_progress: bool) -> Result<Output> {
    let bar = show_progress.then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(BAR_TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message("connecting to the hub…");
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let result = sync_once(node, Duration::from_secs(timeout_s.max(1)), bar.as_ref()).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let s = result?;
    if !s.refused.is_empty() {
        return Err(NodeError::Refused(format!(
            "the hub refused {} item(s): {}. The documents concerned are marked rejected; correct them and submit again",
            s.refused.len(),
            s.refused.join("; ")
        )));
    }
    let mut out = Output::new(
        json!({ "sent_items": s.sent_items, "received_items": s.received_items, "sent_bytes": s.sent_bytes, "received_bytes": s.received_bytes, "sent_chunks": s.sent_chunks, "received_chunks": s.received_chunks }),
        format!(
            "Synced with the hub: sent {} item(s) and {} attachment chunk(s) ({}), received {} item(s) and {} chunk(s) ({}).",
            s.sent_items,
            s.sent_chunks,
            HumanBytes(s.sent_bytes),
            s.received_items,
            s.received_chunks,
            HumanBytes(s.received_bytes)
        ),
    );
    add_drafts(&mut out, &s.drafts);
    Ok(out)
}

/// Adds the draft sync's counts to `espm sync`'s output. A refused draft is reported,
/// not an error: a device refuses edits to a document it has already signed.
fn add_drafts(out: &mut Output, d: &DraftSyncStats) {
    out.json["drafts_announced"] = json!(d.announced);
    out.json["drafts_in_step"] = json!(d.in_step);
    out.json["drafts_updated"] = json!(d.updated);
    out.json["draft_sent_bytes"] = json!(d.sent_bytes);
    out.json["draft_received_bytes"] = json!(d.received_bytes);
    out.json["drafts_refused"] = json!(d.refused);
    if d.in_step + d.updated > 0 {
        out.text.push_str(&format!(
            " Drafts: {} in step with the hub, {} updated with edits from other devices.",
            d.in_step, d.updated
        ));
    }
    for r in &d.refused {
        out.text.push_str(&format!("\n{r}"));
    }
}

/// The background sync of a serving satker or auditor: sync, wait, again; with
/// exponential backoff and full jitter while the hub does not answer.
pub(crate) async fn client_loop(node: Arc<Node>) -> Result<()> {
    let mut failures = 0u32;
    loop {
        match sync_once(node.clone(), Duration::from_secs(60), None).await {
            Ok(s) => {
                if failures > 0 || s.sent_items + s.received_items > 0 {
                    eprintln!(
                        "synced: sent {} item(s), received {} item(s)",
                        s.sent_items, s.received_items
                    );
                }
                for r in &s.refused {
                    eprintln!("the hub refused {r}");
                }
                if s.drafts.updated > 0 {
                    eprintln!(
                        "{} draft(s) updated with edits from other devices",
                        s.drafts.updated
                    );
                }
                for r in &s.drafts.refused {
                    eprintln!("{r}");
                }
                failures = 0;
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Err(e) => {
                failures += 1;
                // Exponential backoff with full jitter, capped at a minute, so many
                // satkers coming back online together do not hammer the hub at once.
                let cap = 2u64.saturating_pow(failures.min(6)).min(60);
                let wait = rand::Rng::gen_range(&mut rand::thread_rng(), 1..=cap.max(1));
                eprintln!("sync failed ({e}); retrying in {wait} s");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_template_is_valid() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }
}
