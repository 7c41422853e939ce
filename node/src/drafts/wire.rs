//! The draft-sync session over one QUIC bidirectional stream: the device opens it on
//! its connection to the hub after the reconciliation stream, and the hub serves it
//! when the stream's first message is a draft Hello.

use std::{sync::Arc, time::Duration};

use sync_protocol::{
    draft_sync::{DraftMessage, DraftReplica, DraftSession, DraftStats},
    enrollment::DeviceRole,
    NodeId,
};

use super::NodeDraftReplica;
use crate::{
    error::{NodeError, Result},
    node::Node,
    transport::{recv_bytes, send_bytes},
};

/// Sessions one sync runs at most when either side has more changed drafts than one
/// session announces; the rest wait for the next sync.
const MAX_SESSIONS: usize = 16;

/// How long to wait for the peer to end its side once the session is done.
const LINGER: Duration = Duration::from_secs(10);

/// How long to try to deliver an Abort.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// What one draft sync moved, for summaries and logs.
#[derive(Clone, Debug, Default)]
pub struct DraftSyncStats {
    /// Drafts this side announced as changed.
    pub announced: u64,
    /// Drafts that ended in step with the peer.
    pub in_step: u64,
    /// Drafts here that changed through edits made on other devices.
    pub updated: u64,
    /// Bytes written on the draft stream, including framing.
    pub sent_bytes: u64,
    /// Bytes read from the draft stream, including framing.
    pub received_bytes: u64,
    /// Drafts refused, either way, each as "DOC_ID: reason" with who refused it.
    pub refused: Vec<String>,
}

impl DraftSyncStats {
    fn add(&mut self, s: &DraftStats, peer: &str) {
        self.announced += s.announced;
        self.in_step += s.in_step;
        self.updated += s.changed_here;
        for r in &s.refused_by_peer {
            self.refused.push(format!(
                "draft {}: refused by {peer}: {}",
                r.doc_id, r.reason
            ));
        }
        for r in &s.refused_here {
            self.refused
                .push(format!("draft {}: not taken here: {}", r.doc_id, r.reason));
        }
    }
}

/// Runs the device's draft sync with the hub on `conn`, one stream per session.
pub async fn run_client(conn: &quinn::Connection, node: Arc<Node>) -> Result<DraftSyncStats> {
    let mut total = DraftSyncStats::default();
    if node.satker().is_none() {
        return Ok(total);
    }
    for _ in 0..MAX_SESSIONS {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| {
            NodeError::Transport(format!("could not open the draft stream to the hub: {e}"))
        })?;
        let mut replica = NodeDraftReplica::device(node.clone())?;
        let mut session = DraftSession::client(&replica)?;
        drive(
            &mut session,
            &mut replica,
            &mut send,
            &mut recv,
            &node,
            &mut total,
        )
        .await?;
        total.add(session.stats(), "the hub");
        if !session.stats().more {
            break;
        }
    }
    Ok(total)
}

/// Serves one draft-sync stream for `device`, enrolled as `role`; `first` is the
/// stream's first message, already read to tell the stream's kind.
pub async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    first: &[u8],
    node: Arc<Node>,
    device: NodeId,
    role: &DeviceRole,
) -> Result<DraftSyncStats> {
    let mut total = DraftSyncStats {
        received_bytes: 4 + first.len() as u64,
        ..Default::default()
    };
    let mut replica = NodeDraftReplica::hub(node.clone(), device, role);
    let mut session = DraftSession::server();
    let opened = DraftMessage::decode(first).and_then(|m| session.handle(m, &mut replica));
    if let Err(e) = opened {
        abort(&mut send, &e.to_string()).await;
        return Err(e.into());
    }
    drive(
        &mut session,
        &mut replica,
        &mut send,
        &mut recv,
        &node,
        &mut total,
    )
    .await?;
    total.add(session.stats(), "the device");
    Ok(total)
}

/// Drives `session` to completion over one stream.
async fn drive(
    session: &mut DraftSession,
    replica: &mut impl DraftReplica,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    node: &Node,
    total: &mut DraftSyncStats,
) -> Result<()> {
    loop {
        loop {
            match session.poll_transmit(replica) {
                Ok(Some(msg)) => total.sent_bytes += send_bytes(send, &msg.encode()).await? as u64,
                Ok(None) => break,
                Err(e) => {
                    abort(send, &e.to_string()).await;
                    return Err(e.into());
                }
            }
        }
        if session.is_done() {
            // What both sides agreed on is worth keeping even if the link drops now.
            node.store.flush()?;
            send.finish().map_err(|_| {
                NodeError::Transport("the draft stream was closed before it finished".into())
            })?;
            linger(recv).await;
            return Ok(());
        }
        let bytes = recv_bytes(recv).await?.ok_or_else(|| {
            NodeError::Transport("the peer closed the draft stream before it finished".into())
        })?;
        total.received_bytes += 4 + bytes.len() as u64;
        let msg = match DraftMessage::decode(&bytes) {
            Ok(m) => m,
            Err(e) => {
                abort(send, &e.to_string()).await;
                return Err(e.into());
            }
        };
        let peer_aborted = matches!(msg, DraftMessage::DraftAbort { .. });
        if let Err(e) = session.handle(msg, replica) {
            if !peer_aborted {
                abort(send, &e.to_string()).await;
            }
            return Err(e.into());
        }
    }
}

/// Best effort: tells the peer why the stream ends, without letting a stuck peer hold us.
async fn abort(send: &mut quinn::SendStream, reason: &str) {
    let msg = DraftMessage::DraftAbort {
        reason: reason.to_string(),
    };
    if let Ok(Ok(_)) = tokio::time::timeout(ABORT_WAIT, send_bytes(send, &msg.encode())).await {
        let _ = send.finish();
    }
}

/// Waits for the peer to end its side, so our last message is known delivered before
/// anyone closes the connection; the sync already succeeded, so problems are only logged.
async fn linger(recv: &mut quinn::RecvStream) {
    let drain = async {
        while let Some(bytes) = recv_bytes(recv).await? {
            tracing::debug!(
                bytes = bytes.len(),
                "ignored a draft message after the session was done"
            );
        }
        Ok::<(), NodeError>(())
    };
    match tokio::time::timeout(LINGER, drain).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "the peer did not end the draft stream cleanly"),
        Err(_) => tracing::debug!("the peer did not end the draft stream in time"),
    }
}
