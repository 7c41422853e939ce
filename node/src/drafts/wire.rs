//! The draft-sync session over one QUIC bidirectional stream: the device opens it on
//! its connection to the hub alongside the reconciliation stream, with a header saying
//! it carries draft sync, and the hub serves it when the header says so. The
//! transport's one driver runs it through [`DraftExchange`].

use std::{sync::Arc, time::Duration};

use sync_protocol::{
    DeviceRole, DraftMessage, DraftReplica, DraftSession, DraftStats, NodeId, ProtocolError,
    StreamKind, HEADER_BYTES,
};

use super::NodeDraftReplica;
use crate::{
    error::Result,
    node::Node,
    transport::{blocking, drive, open_stream, Deadlines, Ending, Exchange},
};

/// Sessions one sync runs at most when either side has more changed drafts than one
/// session announces; the rest wait for the next sync.
const MAX_SESSIONS: usize = 16;

/// How long to wait for the peer to end its side once the session is done.
const LINGER: Duration = Duration::from_secs(10);

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
        let (mut send, mut recv) = open_stream(conn, StreamKind::DraftSync).await?;
        let opened = node.clone();
        // Announcing reads the store, so it runs where the session's other store work does.
        let exchange = blocking(move || {
            let replica = NodeDraftReplica::device(opened.clone())?;
            let session = DraftSession::client(&replica)?;
            Ok::<_, crate::error::NodeError>(DraftExchange {
                session,
                replica,
                node: opened,
            })
        })
        .await??;
        let (done, wire) = drive(exchange, &mut send, &mut recv, &Deadlines::default()).await?;
        total.sent_bytes += HEADER_BYTES as u64 + wire.sent_bytes;
        total.received_bytes += wire.received_bytes;
        total.add(done.session.stats(), "the hub");
        if !done.session.stats().more {
            break;
        }
    }
    Ok(total)
}

/// Serves one draft-sync stream for `device`, enrolled as `role`, whose header was read
/// already, within `deadlines`.
pub async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    node: Arc<Node>,
    device: NodeId,
    role: &DeviceRole,
    deadlines: &Deadlines,
) -> Result<DraftSyncStats> {
    let exchange = DraftExchange {
        session: DraftSession::server(),
        replica: NodeDraftReplica::hub(node.clone(), device, role),
        node,
    };
    let (done, wire) = drive(exchange, &mut send, &mut recv, deadlines).await?;
    let mut total = DraftSyncStats {
        sent_bytes: wire.sent_bytes,
        received_bytes: HEADER_BYTES as u64 + wire.received_bytes,
        ..Default::default()
    };
    total.add(done.session.stats(), "the device");
    Ok(total)
}

/// A draft-sync session and its replica, as the transport's driver runs them.
struct DraftExchange<R> {
    session: DraftSession,
    replica: R,
    /// Whose store to flush once the session is done.
    node: Arc<Node>,
}

impl<R: DraftReplica + Send + 'static> Exchange for DraftExchange<R> {
    type Message = DraftMessage;
    const KIND: StreamKind = StreamKind::DraftSync;

    fn decode(body: &[u8]) -> Result<DraftMessage, ProtocolError> {
        DraftMessage::decode(body)
    }

    fn encode(msg: &DraftMessage) -> Vec<u8> {
        msg.encode()
    }

    fn abort_message(reason: String) -> DraftMessage {
        DraftMessage::DraftAbort { reason }
    }

    fn is_abort(msg: &DraftMessage) -> bool {
        matches!(msg, DraftMessage::DraftAbort { .. })
    }

    fn handle(&mut self, msg: DraftMessage) -> Result<(), ProtocolError> {
        self.session.handle(msg, &mut self.replica)
    }

    fn poll_transmit(&mut self) -> Result<Option<DraftMessage>, ProtocolError> {
        self.session.poll_transmit(&mut self.replica)
    }

    fn is_done(&self) -> bool {
        self.session.is_done()
    }

    fn ending(&self) -> Ending {
        Ending::Linger(LINGER)
    }

    fn finished(&mut self) -> Result<()> {
        // What both sides agreed on is worth keeping even if the link drops now.
        self.node.store.flush()?;
        Ok(())
    }
}
