//! `espm serve --listen ADDR` on a satker: answers auditors in its scope that sync
//! straight from it when the hub is out of reach. The same QUIC and TLS as the hub's
//! (mutual, by node key), the same bounds at accept (a connection limit, a share per
//! key, deadlines per message and per connection), the same session and driver; only
//! the replica differs ([`super::share::ShareReplica`]), and it takes nothing.

use std::{net::SocketAddr, sync::Arc};

use sync_protocol::{NodeId, StreamKind};

use super::share::{admits, ShareReplica};
use crate::{
    error::{NodeError, Result},
    hub::limits::{
        idle_reason, per_device_reason, session_reason, HubLimits, DEADLINE_PASSED, NOT_ADMITTED,
        OVER_LIMIT,
    },
    node::Node,
    transport::{blocking, drive, recv_header, server_endpoint, tls, Deadlines, Reconcile},
};

/// Connections from auditors a satker serves at once: a handful of inspectors at most.
pub const MAX_AUDITOR_CONNECTIONS: usize = 8;

/// The limits a satker serves auditors within.
pub fn auditor_limits() -> HubLimits {
    HubLimits {
        connections: MAX_AUDITOR_CONNECTIONS,
        ..HubLimits::default()
    }
}

/// The satker's endpoint on `addr`; its TLS admits only auditors in this satker's scope.
pub fn endpoint(node: &Arc<Node>, addr: SocketAddr) -> Result<quinn::Endpoint> {
    let admit_node = node.clone();
    let admit = Arc::new(move |id: &NodeId| admits(&admit_node, id).is_ok());
    server_endpoint(addr, tls::server_config(&node.key, admit)?)
}

/// Listens on `addr` for auditors until the endpoint closes.
pub async fn listen(node: Arc<Node>, addr: SocketAddr) -> Result<()> {
    node.require_satker("serve auditors with --listen")?;
    for stream in super::share::shared_streams(node.satker().unwrap_or_default()) {
        if node.store.head(&stream)? < node.store.position(&stream)? {
            tracing::warn!(%stream, "this store received part of the stream before it kept the hub's positions for auditors; auditors get it once a sync with the hub has fetched it again");
        }
    }
    let endpoint = endpoint(&node, addr)?;
    tracing::info!(
        "espm satker {} answering auditors on {addr} (QUIC, ALPN espm/1)",
        node.node_id()
    );
    accept_loop(endpoint, node, auditor_limits()).await;
    Ok(())
}

/// Answers every incoming connection on `endpoint` within `limits`, as the hub does.
pub async fn accept_loop(endpoint: quinn::Endpoint, node: Arc<Node>, limits: HubLimits) {
    crate::hub::admit::accept_each(endpoint, node, limits, |node, conn, limits| async move {
        serve_auditor(node, conn, &limits).await
    })
    .await
}

/// One auditor's connection: its reconciliation sessions, one at a time, within the
/// share per key and the connection deadline of `limits`.
async fn serve_auditor(node: Arc<Node>, conn: quinn::Connection, limits: &HubLimits) -> Result<()> {
    let peer = tls::peer_node_id(&conn)?;
    let _live = match node.live.register(peer, &conn, limits.per_device) {
        Ok(registered) => registered,
        Err(_) => {
            let reason = per_device_reason(limits.per_device);
            conn.close(OVER_LIMIT.into(), reason.as_bytes());
            return Err(NodeError::Refused(format!("auditor {peer}: {reason}")));
        }
    };
    // Again after the handshake: a revocation may have arrived in between.
    if let Err(why) = admits(&node, &peer) {
        conn.close(NOT_ADMITTED.into(), why.to_string().as_bytes());
        return Err(NodeError::Refused(format!("auditor {peer}: {why}")));
    }
    tracing::info!(auditor = %peer, "auditor connected");
    let streams = serve_streams(&node, &conn, peer, limits);
    match tokio::time::timeout(limits.session, streams).await {
        Ok(result) => result,
        Err(_) => {
            let reason = session_reason(limits.session);
            conn.close(DEADLINE_PASSED.into(), reason.as_bytes());
            Err(NodeError::Transport(reason))
        }
    }
}

/// Serves the streams the auditor opens until it closes the connection or stays idle.
async fn serve_streams(
    node: &Arc<Node>,
    conn: &quinn::Connection,
    peer: NodeId,
    limits: &HubLimits,
) -> Result<()> {
    loop {
        let idle = tokio::time::sleep(limits.deadlines.wait);
        tokio::select! {
            accepted = conn.accept_bi() => {
                let Ok((send, recv)) = accepted else { return Ok(()) };
                if let Err(why) = admits(node, &peer) {
                    conn.close(NOT_ADMITTED.into(), why.to_string().as_bytes());
                    return Err(NodeError::Refused(format!("auditor {peer}: {why}")));
                }
                if let Err(e) = serve_stream(node.clone(), peer, send, recv, limits.deadlines).await {
                    conn.close(STREAM_FAILED.into(), sync_protocol::cut_text(&e.to_string(), 512).as_bytes());
                    return Err(e);
                }
            }
            _ = idle => {
                let reason = idle_reason(limits.deadlines.wait);
                conn.close(DEADLINE_PASSED.into(), reason.as_bytes());
                return Ok(());
            }
        }
    }
}

/// The close code of a connection whose stream failed, as the hub's.
const STREAM_FAILED: u32 = 2;

/// One stream the auditor opened: a reconciliation session, and nothing else (an
/// auditor has no drafts).
async fn serve_stream(
    node: Arc<Node>,
    peer: NodeId,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    deadlines: Deadlines,
) -> Result<()> {
    match recv_header(&mut recv, &deadlines).await? {
        None => Ok(()),
        Some(StreamKind::Reconciliation) => {
            let replica = blocking(move || ShareReplica::new(node)).await??;
            let exchange = Reconcile::server(sync_protocol::Config::default(), replica);
            let (done, _wire) = drive(exchange, &mut send, &mut recv, &deadlines).await?;
            tracing::info!(
                auditor = %peer,
                sent = done.session.stats().sent_items,
                "auditor sync session finished"
            );
            Ok(())
        }
        Some(other) => Err(NodeError::Refused(format!(
            "a satker serves auditors reconciliation only, not a {} stream",
            other.name()
        ))),
    }
}
