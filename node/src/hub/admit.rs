//! Admitting devices: the hub's listener, bounded at accept, and each device
//! connection's streams (a reconciliation session or a draft sync, as the stream's
//! header says), each under the deadlines of [`super::limits`]; and the sweep that refuses submissions whose
//! attachments never arrived.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use sync_protocol::{cut_text, StreamKind, HEADER_BYTES};

use super::{
    limits::{
        idle_reason, per_device_reason, session_reason, Admission, HubLimits, DEADLINE_PASSED,
        NOT_ADMITTED, OVER_LIMIT, REVOKED_REASON,
    },
    replica::HubReplica,
};
use crate::{
    drafts,
    error::{NodeError, Result},
    node::Node,
    records::DeviceRecord,
    transport::{drive, recv_header, server_endpoint, tls, Deadlines, Reconcile},
};

/// Refuses submissions whose attachments did not arrive in time, now and then: often
/// enough that a refusal follows the expiry closely, rarely enough to cost nothing.
pub(crate) async fn expiry_sweep(node: Arc<Node>, expiry_ms: i64) {
    let every = Duration::from_millis((expiry_ms / 4).clamp(1_000, 3_600_000) as u64);
    loop {
        let swept = node.clone();
        let done = tokio::task::spawn_blocking(move || {
            crate::hub::delivery::expire_all(&swept, swept.now(), expiry_ms)
        })
        .await;
        match done {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(
                refused = n,
                "refused submissions whose attachments did not arrive in time"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not expire unfinished submissions"),
            Err(e) => tracing::warn!(error = %e, "the expiry sweep stopped unexpectedly"),
        }
        tokio::time::sleep(every).await;
    }
}

/// The enrollment of a device the hub admits: enrolled and not revoked. Checked in the
/// TLS handshake, again right after it, and at every new stream.
pub(crate) fn device(node: &Node, id: &sync_protocol::NodeId) -> Option<DeviceRecord> {
    if !matches!(crate::trust::of_device(&node.store, id), Ok(None)) {
        return None;
    }
    crate::schema::DEVICES
        .get(&node.store, &id.to_hex())
        .ok()
        .flatten()
}

/// The hub's endpoint on `addr`; its TLS admits only enrolled, unrevoked devices.
pub(crate) fn endpoint(node: &Arc<Node>, addr: SocketAddr) -> Result<quinn::Endpoint> {
    let admit_node = node.clone();
    let admit = Arc::new(move |id: &sync_protocol::NodeId| device(&admit_node, id).is_some());
    server_endpoint(addr, tls::server_config(&node.key, admit)?)
}

pub(crate) async fn hub_loop(node: Arc<Node>, addr: SocketAddr) -> Result<()> {
    let endpoint = endpoint(&node, addr)?;
    tracing::info!(
        "espm hub {} listening on {addr} (QUIC, ALPN espm/1)",
        node.node_id()
    );
    accept_loop(endpoint, node, HubLimits::default()).await;
    Ok(())
}

/// Answers every incoming connection on `endpoint` within `limits`, until it closes.
pub(crate) async fn accept_loop(endpoint: quinn::Endpoint, node: Arc<Node>, limits: HubLimits) {
    accept_each(endpoint, node, limits, |node, conn, limits| async move {
        serve_connection(node, conn, &limits).await
    })
    .await
}

/// Admits each incoming connection within `limits` (a permit held from before the
/// handshake to the end of the connection, the bound every listener keeps) and answers
/// it with `serve`: the hub's devices, or a satker's auditors.
pub(crate) async fn accept_each<S, F>(
    endpoint: quinn::Endpoint,
    node: Arc<Node>,
    limits: HubLimits,
    serve: S,
) where
    S: Fn(Arc<Node>, quinn::Connection, HubLimits) -> F + Copy + Send + 'static,
    F: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let admission = Admission::new(&limits);
    while let Some(incoming) = endpoint.accept().await {
        let Some((incoming, permit)) = admission.admit(incoming) else {
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            // Held through the handshake too: that is work a flood would make us do.
            let _permit = permit;
            match incoming.await {
                Ok(conn) => {
                    if let Err(e) = serve(node, conn, limits).await {
                        tracing::info!(error = %e, "session ended with an error");
                    }
                }
                Err(e) => tracing::info!(error = %e, "handshake failed"),
            }
        });
    }
}

/// Records when `peer` connected, for `espm devices`. Not flushed on its own: it rides
/// along with the next flush, and one lost in a crash only shows an older time.
fn seen(node: &Node, peer: &sync_protocol::NodeId) {
    let key = peer.to_hex();
    let now = node.now();
    let written = node.store.write(|t| {
        if let Some(mut rec) = crate::schema::DEVICES.get_in(t, &key)? {
            rec.last_seen = Some(now);
            crate::schema::DEVICES.put(t, &key, &rec);
        }
        Ok(())
    });
    if let Err(e) = written {
        tracing::warn!(device = %peer, "could not record when the device was last seen: {e}");
    }
}

/// The hub's side of one device connection: every session the device opens on it,
/// within the per-device share and the session deadline of `limits`.
pub(crate) async fn serve_connection(
    node: Arc<Node>,
    conn: quinn::Connection,
    limits: &HubLimits,
) -> Result<()> {
    let peer = tls::peer_node_id(&conn)?;
    // Registered before the enrollment check: a revocation published in between finds
    // this connection and closes it, and one published before fails the check.
    let _live = match node.live.register(peer, &conn, limits.per_device) {
        Ok(registered) => registered,
        Err(held) => {
            let reason = per_device_reason(limits.per_device);
            tracing::warn!(device = %peer, held, "closed a connection beyond the device's share");
            conn.close(OVER_LIMIT.into(), reason.as_bytes());
            return Err(NodeError::Refused(format!("device {peer}: {reason}")));
        }
    };
    // Re-check after the handshake as well: the device list may have changed since.
    let Some(dev) = device(&node, &peer) else {
        conn.close(NOT_ADMITTED.into(), b"device not enrolled");
        return Err(NodeError::Refused(format!("device {peer} is not enrolled")));
    };
    tracing::info!(device = %peer, "device connected");
    seen(&node, &peer);
    let streams = serve_streams(&node, &conn, peer, dev, limits);
    match tokio::time::timeout(limits.session, streams).await {
        Ok(result) => result,
        Err(_) => {
            let reason = session_reason(limits.session);
            tracing::warn!(device = %peer, "{reason}");
            conn.close(DEADLINE_PASSED.into(), reason.as_bytes());
            Err(NodeError::Transport(reason))
        }
    }
}

/// Serves the streams a device opens on `conn` until it closes, a stream fails, or no
/// stream is open for the wait deadline.
async fn serve_streams(
    node: &Arc<Node>,
    conn: &quinn::Connection,
    peer: sync_protocol::NodeId,
    dev: DeviceRecord,
    limits: &HubLimits,
) -> Result<()> {
    // Streams run side by side (a sync and a draft sync, say), so one connection costs
    // the device no extra round trips; QUIC caps how many it may open at once.
    let mut streams = tokio::task::JoinSet::new();
    loop {
        // Renewed whenever something happens; it only counts while no stream is open.
        let idle = tokio::time::sleep(limits.deadlines.wait);
        tokio::select! {
            accepted = conn.accept_bi() => {
                let Ok((send, recv)) = accepted else { break };
                // A device revoked while connected gets no new session on this connection.
                if device(node, &peer).is_none() {
                    conn.close(NOT_ADMITTED.into(), REVOKED_REASON.as_bytes());
                    return Err(NodeError::Refused(format!("device {peer} was revoked")));
                }
                let deadlines = limits.deadlines;
                streams.spawn(serve_stream(node.clone(), peer, dev.role.clone(), send, recv, deadlines));
            }
            Some(done) = streams.join_next() => finished(conn, done)?,
            _ = idle, if streams.is_empty() => {
                // Keep-alives hold a quiet connection open at the QUIC level; a device
                // that syncs nothing on it gives it back.
                let reason = idle_reason(limits.deadlines.wait);
                tracing::info!(device = %peer, "{reason}");
                conn.close(DEADLINE_PASSED.into(), reason.as_bytes());
                return Err(NodeError::Transport(reason));
            }
        }
    }
    while let Some(done) = streams.join_next().await {
        finished(conn, done)?;
    }
    Ok(())
}

/// The application close code of a connection the hub ends because a stream failed.
const STREAM_FAILED: u32 = 2;

/// Longest close reason sent: it must fit in one packet with room to spare.
const MAX_CLOSE_REASON: usize = 512;

/// The first stream that fails ends the connection with its error. The reason goes in
/// the connection close itself: an Abort written to the stream just before is often
/// lost when the connection goes, and the device deserves to know why.
fn finished(
    conn: &quinn::Connection,
    done: std::result::Result<Result<()>, tokio::task::JoinError>,
) -> Result<()> {
    let result = match done {
        Ok(result) => result,
        Err(e) => Err(NodeError::Transport(format!(
            "a stream of this connection stopped unexpectedly: {e}"
        ))),
    };
    if let Err(e) = &result {
        tracing::info!(error = %e, "a stream failed; closing its connection");
        conn.close(
            STREAM_FAILED.into(),
            close_reason(&e.to_string()).as_bytes(),
        );
    }
    result
}

/// `reason` cut to [`MAX_CLOSE_REASON`] bytes on a character boundary.
fn close_reason(reason: &str) -> &str {
    cut_text(reason, MAX_CLOSE_REASON)
}

/// One stream a device opened: a reconciliation session or a draft sync, as its header
/// says. A header this hub cannot serve fails the stream, and so the connection, with
/// the header's fault as the reason.
async fn serve_stream(
    node: Arc<Node>,
    peer: sync_protocol::NodeId,
    role: sync_protocol::DeviceRole,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    deadlines: Deadlines,
) -> Result<()> {
    let Some(kind) = recv_header(&mut recv, &deadlines).await? else {
        return Ok(());
    };
    match kind {
        StreamKind::DraftSync => {
            let d = drafts::serve_stream(send, recv, node, peer, &role, &deadlines).await?;
            tracing::info!(device = %peer, in_step = d.in_step, updated = d.updated, refused = d.refused.len(), "draft sync finished");
        }
        StreamKind::Reconciliation => {
            // Its credit is its share of what the hub lets all devices keep in flight, and
            // its store work takes turns with every other device's.
            let (config, _slot) = super::limits::session_config();
            let exchange = Reconcile::server(config, HubReplica::new(node, peer, role))
                .sharing(super::limits::store_turns());
            let (done, wire) = drive(exchange, &mut send, &mut recv, &deadlines).await?;
            tracing::info!(
                device = %peer,
                received = done.session.stats().received_items,
                sent = done.session.stats().sent_items,
                bytes_in = HEADER_BYTES as u64 + wire.received_bytes,
                bytes_out = wire.sent_bytes,
                "sync session finished"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
