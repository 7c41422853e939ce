//! The one loop that drives a sans-IO session over a QUIC stream, whatever the stream
//! carries: each session implements [`Exchange`] through a thin adapter ([`Reconcile`]
//! here, the draft sync's beside the drafts), and [`drive`] runs it within the
//! deadlines it is given, with one Abort path and one accounting of the wire.
//!
//! Every call into the session, and so into its replica, which writes and flushes the
//! store, runs on tokio's blocking pool ([`blocking`]): an fsync never holds an async
//! worker thread, so a hub writing one device's frame still answers every other
//! device. The session moves to the pool for one turn (handle the messages that
//! arrived, take what there is to send) and back, so a stream holds a blocking thread
//! only while its store work runs, never while it waits for its peer.
//!
//! The pipe stays full: while a turn runs, the driver goes on reading what the peer
//! sends (up to [`READ_AHEAD_BYTES`]), and the next turn takes all of it at once. The
//! frames of a window that arrived during one flush are stored by the next turn and
//! covered by one flush, before any of their acks leave (group commit); a turn per
//! flight rather than per message also means fewer hand-offs between threads.

use std::{sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use sync_protocol::{
    cut_text, Message, ProtocolError, Replica, Session, Side, StreamKind, MAX_ABORT_REASON_BYTES,
    PREFIX_BYTES,
};

use super::{
    tls,
    wire::{abort, recv_bytes, send_bytes_within, MessageReader},
    Deadlines, WireStats,
};
use crate::error::{NodeError, Result};

/// Encoded bytes one turn takes from a session before they are written: enough for a
/// window of frames, little enough that a session with much to send holds little.
const TURN_BYTES: usize = 512 * 1024;

/// Bytes of messages read ahead while a turn runs, at most (and one message more):
/// the credit this side grants its peer (8 frames of 64 KiB), so an honest sender never
/// waits for it, and a bound on what a peer can make a session hold.
pub const READ_AHEAD_BYTES: usize = 512 * 1024;

/// A sans-IO session with its replica, as [`drive`] runs it.
pub trait Exchange: Send + 'static {
    /// The session's messages.
    type Message: Send + 'static;
    /// What the stream carries.
    const KIND: StreamKind;
    /// A message off the wire.
    fn decode(body: &[u8]) -> Result<Self::Message, ProtocolError>;
    /// A message for the wire.
    fn encode(msg: &Self::Message) -> Vec<u8>;
    /// The message that tells the peer why this side gives up.
    fn abort_message(reason: String) -> Self::Message;
    /// Whether `msg` is the peer giving up (answering it with an Abort tells it nothing).
    fn is_abort(msg: &Self::Message) -> bool;
    /// Feeds one message from the peer.
    fn handle(&mut self, msg: Self::Message) -> Result<(), ProtocolError>;
    /// Makes durable what the session's reads and writes left pending; called before
    /// the messages of a turn are written, so nothing leaves ahead of its flush.
    fn commit(&mut self) -> Result<(), ProtocolError> {
        Ok(())
    }
    /// Permits for store work this exchange shares with others, taken for each turn:
    /// a hub serving hundreds of devices runs a few turns at a time, not hundreds of
    /// blocking threads each holding a frame. `None` runs every turn at once.
    fn turns(&self) -> Option<Arc<Semaphore>> {
        None
    }
    /// Work on a message as it arrives, before its turn, on the blocking pool and so on
    /// another core than the turn that stores the messages before it: the
    /// reconciliation verifies a frame's signatures here. `None` prepares nothing.
    fn preparer() -> Option<fn(&[u8])> {
        None
    }
    /// The next message to send, if any.
    fn poll_transmit(&mut self) -> Result<Option<Self::Message>, ProtocolError>;
    /// Whether this side's session is finished.
    fn is_done(&self) -> bool;
    /// What this side does once its session is finished.
    fn ending(&self) -> Ending;
    /// Runs once when the session is first found finished, before the stream is ended.
    fn finished(&mut self) -> Result<()> {
        Ok(())
    }
    /// Runs after each message from the peer is handled, with what crossed so far.
    fn progress(&mut self, _wire: &WireStats) {}
}

/// What a side does once its session is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// End our side of the stream and return at once: the device's reconciliation,
    /// whose last acks the hub does not need (the next Hello says where it stands), so
    /// waiting for them would cost a round trip.
    Leave,
    /// Keep answering (chunks asked for late, resends) until the peer ends the stream or
    /// goes quiet: the hub's reconciliation after its Done.
    Answer,
    /// End our side and wait up to this long for the peer to end its own, so our last
    /// message is known delivered before anyone closes the connection; what arrives
    /// meanwhile is ignored: the draft sync.
    Linger(Duration),
}

/// Runs `work`, which reads or writes the store, on tokio's blocking pool, so that no
/// fsync holds an async worker thread. Works on any runtime, current-thread included.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| NodeError::Transport(format!("store work stopped unexpectedly: {e}")))
}

/// An exchange between turns, with whether its [`Exchange::finished`] already ran.
struct Driven<E> {
    exchange: E,
    finished: bool,
}

/// What one turn produced.
struct Turn {
    /// Encoded messages to write, in order.
    out: Vec<Vec<u8>>,
    /// The turn stopped at [`TURN_BYTES`]; take more before waiting for the peer.
    more: bool,
    /// The session is finished.
    done: bool,
}

/// Why a turn failed, and whether the peer should hear of it.
struct Failed {
    error: NodeError,
    tell_peer: bool,
}

impl<E: Exchange> Driven<E> {
    /// One turn on the blocking pool: `incoming` handled in order, then what there is
    /// to send, made durable before it is returned for writing.
    fn turn(&mut self, incoming: Vec<Arc<Vec<u8>>>, wire: &WireStats) -> Result<Turn, Failed> {
        let told = |e: ProtocolError| Failed {
            error: e.into(),
            tell_peer: true,
        };
        for body in incoming {
            let msg = E::decode(&body).map_err(told)?;
            let peer_aborted = E::is_abort(&msg);
            self.exchange.handle(msg).map_err(|e| Failed {
                error: e.into(),
                tell_peer: !peer_aborted,
            })?;
            self.exchange.progress(wire);
        }
        let (mut out, mut bytes) = (Vec::new(), 0);
        let mut turn = Turn {
            out: Vec::new(),
            more: true,
            done: false,
        };
        while bytes < TURN_BYTES {
            let Some(msg) = self.exchange.poll_transmit().map_err(told)? else {
                turn.more = false;
                turn.done = self.exchange.is_done();
                break;
            };
            let body = E::encode(&msg);
            bytes += body.len();
            out.push(body);
        }
        if !out.is_empty() {
            self.exchange.commit().map_err(told)?;
        }
        if turn.done && !self.finished {
            self.finished = true;
            self.exchange.finished().map_err(|error| Failed {
                error,
                tell_peer: false,
            })?;
        }
        turn.out = out;
        Ok(turn)
    }
}

/// Messages smaller than this are not worth preparing on another thread.
const PREPARE_MIN_BYTES: usize = 4 * 1024;

/// Messages prepared at once in this process, across all sessions: about the cores
/// there are to verify on.
const PREPARING_AT_ONCE: usize = 2;

fn preparing() -> Arc<Semaphore> {
    static PREPARING: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    PREPARING
        .get_or_init(|| Arc::new(Semaphore::new(PREPARING_AT_ONCE)))
        .clone()
}

/// What the driver read from the peer while its session was busy.
#[derive(Default)]
struct ReadAhead {
    /// Message bodies not yet handed to the session, in order; shared with the work
    /// preparing them, never copied.
    bodies: Vec<Arc<Vec<u8>>>,
    bytes: usize,
    /// What the exchange does with a message as it arrives ([`Exchange::preparer`]).
    prepare: Option<fn(&[u8])>,
    /// That work, running for bodies not yet handed over; the turn waits for it.
    preparing: Vec<tokio::task::JoinHandle<()>>,
    /// The peer ended its side cleanly (`Ok`) or the read failed (`Err`), after
    /// `bodies`.
    end: Option<Result<()>>,
}

impl ReadAhead {
    /// Reads into the buffer until `until` finishes, as long as there is room and the
    /// stream goes on; `until`'s output.
    async fn during<T>(
        &mut self,
        reader: &mut MessageReader,
        recv: &mut quinn::RecvStream,
        deadlines: &Deadlines,
        wire: &mut WireStats,
        until: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(until);
        loop {
            let room = self.end.is_none() && self.bytes < READ_AHEAD_BYTES;
            tokio::select! {
                biased;
                out = &mut until => return out,
                got = reader.next(recv, deadlines), if room => self.take(got, wire),
            }
        }
    }

    fn take(&mut self, got: Result<Option<Vec<u8>>>, wire: &mut WireStats) {
        match got {
            Ok(Some(body)) => {
                wire.received_bytes += (PREFIX_BYTES + body.len()) as u64;
                wire.received_messages += 1;
                self.bytes += body.len();
                let body = Arc::new(body);
                if let Some(prepare) = self.prepare.filter(|_| body.len() >= PREPARE_MIN_BYTES) {
                    let copy = body.clone();
                    self.preparing.push(tokio::spawn(async move {
                        // However many sessions run, this work holds a core or two,
                        // never a thread per session.
                        let Ok(_permit) = preparing().acquire_owned().await else {
                            return;
                        };
                        let _ = tokio::task::spawn_blocking(move || prepare(&copy)).await;
                    }));
                }
                self.bodies.push(body);
            }
            Ok(None) => self.end = Some(Ok(())),
            Err(e) => self.end = Some(Err(e)),
        }
    }

    /// Everything read so far, for the next turn, once its preparation is done.
    async fn drain(&mut self) -> Vec<Arc<Vec<u8>>> {
        for work in self.preparing.drain(..) {
            // Preparing only saves the turn work; if it failed, the turn does it all.
            let _ = work.await;
        }
        self.bytes = 0;
        std::mem::take(&mut self.bodies)
    }
}

/// Drives `exchange` to its end over one bidirectional stream whose header is already
/// written or read, within `deadlines`; returns it, finished, and what crossed the wire.
pub async fn drive<E: Exchange>(
    exchange: E,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    deadlines: &Deadlines,
) -> Result<(E, WireStats)> {
    let name = E::KIND.name();
    // After its Done the hub only answers late requests; a device that neither asks
    // nor leaves (its keep-alives hold the connection) is not waited for longer than a
    // silent connection would be.
    let after_done = Deadlines {
        wait: deadlines.wait.min(tls::IDLE_TIMEOUT),
        ..*deadlines
    };
    let mut driven = Driven {
        exchange,
        finished: false,
    };
    let mut wire = WireStats::default();
    let mut reader = MessageReader::new();
    let mut ahead = ReadAhead {
        prepare: E::preparer(),
        ..ReadAhead::default()
    };
    let mut flight = false;
    loop {
        let permit = match driven.exchange.turns() {
            Some(turns) => {
                let wait = turns.acquire_owned();
                let permit = ahead
                    .during(&mut reader, recv, deadlines, &mut wire, wait)
                    .await
                    .map_err(|_| NodeError::Transport("the hub is shutting down".into()))?;
                Some(permit)
            }
            None => None,
        };
        let seen = wire.clone();
        let bodies = ahead.drain().await;
        let work = blocking(move || {
            let turn = driven.turn(bodies, &seen);
            drop(permit);
            (driven, turn)
        });
        // The peer's next messages are read while the store works.
        let (back, turn) = ahead
            .during(&mut reader, recv, deadlines, &mut wire, work)
            .await?;
        driven = back;
        let turn = match turn {
            Ok(turn) => turn,
            Err(Failed { error, tell_peer }) => {
                if tell_peer {
                    let reason = cut_text(&error.to_string(), MAX_ABORT_REASON_BYTES).to_string();
                    abort(send, &E::encode(&E::abort_message(reason))).await;
                }
                return Err(error);
            }
        };
        for body in &turn.out {
            let sending = send_bytes_within(send, body, deadlines);
            let sent = ahead
                .during(&mut reader, recv, deadlines, &mut wire, sending)
                .await?;
            wire.sent_bytes += sent as u64;
            wire.sent_messages += 1;
            flight = true;
        }
        if turn.more || !ahead.bodies.is_empty() {
            continue;
        }
        let waiting = match (turn.done, driven.exchange.ending()) {
            (false, _) => deadlines,
            (true, Ending::Answer) => &after_done,
            (true, Ending::Leave) => {
                finish(send, name)?;
                break;
            }
            (true, Ending::Linger(longest)) => {
                finish(send, name)?;
                linger(recv, longest, name).await;
                break;
            }
        };
        if flight {
            wire.round_trips += 1;
            flight = false;
        }
        if ahead.end.is_none() {
            let got = reader.next(recv, waiting).await;
            ahead.take(got, &mut wire);
        }
        if !ahead.bodies.is_empty() {
            continue;
        }
        match ahead.end.take() {
            Some(Ok(())) if turn.done => {
                // The peer has all it needs and ended its side; so do we.
                let _ = send.finish();
                break;
            }
            Some(Ok(())) => {
                return Err(NodeError::Transport(format!(
                    "the peer closed the {name} stream before it finished"
                )))
            }
            Some(Err(NodeError::Protocol(e))) => {
                let reason = cut_text(&e.to_string(), MAX_ABORT_REASON_BYTES).to_string();
                abort(send, &E::encode(&E::abort_message(reason))).await;
                return Err(e.into());
            }
            Some(Err(e)) if turn.done => {
                // The peer left without ending the stream, or went quiet: it was
                // finished, so this is how it says goodbye, not a failure.
                tracing::debug!(error = %e, "the peer left after this side was done");
                let _ = send.finish();
                break;
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok((driven.exchange, wire))
}

/// Ends our side of the stream.
fn finish(send: &mut quinn::SendStream, name: &str) -> Result<()> {
    send.finish().map_err(|_| {
        NodeError::Transport(format!(
            "the {name} stream was closed before it could finish"
        ))
    })
}

/// Waits up to `longest` for the peer to end its side; the session already succeeded,
/// so problems are only logged.
async fn linger(recv: &mut quinn::RecvStream, longest: Duration, name: &str) {
    let drain = async {
        while let Some(bytes) = recv_bytes(recv).await? {
            tracing::debug!(
                bytes = bytes.len(),
                stream = name,
                "ignored a message after the session was done"
            );
        }
        Ok::<(), NodeError>(())
    };
    match tokio::time::timeout(longest, drain).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %e, stream = name, "the peer did not end the stream cleanly")
        }
        Err(_) => tracing::debug!(stream = name, "the peer did not end the stream in time"),
    }
}

/// What a reconciliation session reports as it goes: the session, its replica (for the
/// store's view of what is left to send) and what crossed the wire so far.
pub type ReconcileProgress<R> = Box<dyn FnMut(&Session, &R, &WireStats) + Send>;

/// A reconciliation session and the replica it reads and writes, as the driver runs it.
pub struct Reconcile<R> {
    /// The session.
    pub session: Session,
    /// Its view of the store.
    pub replica: R,
    progress: Option<ReconcileProgress<R>>,
    turns: Option<Arc<Semaphore>>,
}

impl<R: Replica + Send + 'static> Reconcile<R> {
    /// The dialling side. It reads the store, so run it through [`blocking`].
    pub fn client(config: sync_protocol::Config, replica: R) -> Result<Self> {
        Ok(Reconcile {
            session: Session::client(config, &replica)?,
            replica,
            progress: None,
            turns: None,
        })
    }

    /// The hub's side.
    pub fn server(config: sync_protocol::Config, replica: R) -> Self {
        Reconcile {
            session: Session::server(config),
            replica,
            progress: None,
            turns: None,
        }
    }

    /// Takes one of `turns` for each turn of store work ([`Exchange::turns`]).
    pub fn sharing(mut self, turns: Arc<Semaphore>) -> Self {
        self.turns = Some(turns);
        self
    }

    /// Calls `progress` after each message from the peer, on the blocking pool.
    pub fn on_progress(mut self, progress: ReconcileProgress<R>) -> Self {
        self.progress = Some(progress);
        self
    }
}

impl<R: Replica + Send + 'static> Exchange for Reconcile<R> {
    type Message = Message;
    const KIND: StreamKind = StreamKind::Reconciliation;

    fn decode(body: &[u8]) -> Result<Message, ProtocolError> {
        Message::decode(body)
    }

    fn encode(msg: &Message) -> Vec<u8> {
        msg.encode()
    }

    fn abort_message(reason: String) -> Message {
        Message::Abort { reason }
    }

    fn is_abort(msg: &Message) -> bool {
        matches!(msg, Message::Abort { .. })
    }

    fn handle(&mut self, msg: Message) -> Result<(), ProtocolError> {
        self.session.handle(msg, &mut self.replica)
    }

    fn commit(&mut self) -> Result<(), ProtocolError> {
        self.replica.commit()
    }

    fn turns(&self) -> Option<Arc<Semaphore>> {
        self.turns.clone()
    }

    /// A frame's signatures are verified as it arrives, while the frames before it are
    /// stored; its turn then finds them verified ([`crate::replica::receive_frame`]).
    fn preparer() -> Option<fn(&[u8])> {
        Some(crate::replica::verify_ahead)
    }

    fn poll_transmit(&mut self) -> Result<Option<Message>, ProtocolError> {
        self.session.poll_transmit(&mut self.replica)
    }

    fn is_done(&self) -> bool {
        self.session.is_done()
    }

    fn ending(&self) -> Ending {
        match self.session.side() {
            Side::Client => Ending::Leave,
            Side::Server => Ending::Answer,
        }
    }

    fn progress(&mut self, wire: &WireStats) {
        if let Some(p) = &mut self.progress {
            p(&self.session, &self.replica, wire);
        }
    }
}

#[cfg(test)]
mod tests;
