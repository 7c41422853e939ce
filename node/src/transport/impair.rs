//! A userspace UDP relay that impairs a loopback path with delay, jitter, loss, a rate
//! limit and a bounded queue, for testing QUIC sync over bad links where the kernel has
//! no `netem`.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    future::Future,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::{
    net::UdpSocket,
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

use crate::error::{NodeError, Result};

/// Larger than any UDP payload, so no datagram is ever truncated.
const MAX_DATAGRAM: usize = 65_536;

/// Depth of the hand-off from a socket reader to its scheduler; the scheduler drains it
/// at once, so filling it means the relay itself is overwhelmed and drops like a full queue.
const CHANNEL_DEPTH: usize = 4096;

/// Cap on how long one datagram may be held, so absurd configs cannot overflow an `Instant`.
const MAX_HOLD: Duration = Duration::from_secs(3600);

/// How one direction of the path misbehaves.
#[derive(Clone, Debug)]
pub struct Impairment {
    /// Base one-way delay.
    pub delay: Duration,
    /// Uniform ± jitter around the delay; reordering follows when it exceeds the gap between datagrams.
    pub jitter: Duration,
    /// Probability, 0..=1, of dropping a datagram.
    pub loss: f64,
    /// Serialization rate of the bottleneck; `None` or 0 means unlimited.
    pub rate_bits_per_sec: Option<u64>,
    /// Bytes the relay may hold in this direction (waiting out rate and delay); beyond it, tail drop.
    pub queue_bytes: usize,
}

impl Impairment {
    /// A clean path: no delay, no loss, no rate limit, a generous queue.
    pub fn none() -> Self {
        Impairment {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            rate_bits_per_sec: None,
            queue_bytes: 4 << 20,
        }
    }
}

/// Impairments for both directions and the seed that makes their randomness repeatable.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Client to server.
    pub up: Impairment,
    /// Server to client.
    pub down: Impairment,
    /// Seed of the RNG that decides loss and jitter.
    pub seed: u64,
}

/// What happened to datagrams in one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams delivered onward.
    pub forwarded: u64,
    /// Bytes delivered onward.
    pub forwarded_bytes: u64,
    /// Datagrams dropped by random loss.
    pub dropped_loss: u64,
    /// Datagrams dropped because the queue was full.
    pub dropped_queue: u64,
    /// Datagrams dropped because the link was down.
    pub dropped_outage: u64,
    /// Bytes of all dropped datagrams.
    pub dropped_bytes: u64,
}

impl DirectionStats {
    /// Datagrams dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_queue + self.dropped_outage
    }
}

/// Counters of both directions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client to server.
    pub up: DirectionStats,
    /// Server to client.
    pub down: DirectionStats,
}

type Tally = Arc<Mutex<DirectionStats>>;

#[derive(Clone, Copy)]
enum Cause {
    Loss,
    Queue,
    Outage,
}

/// Counts one datagram: forwarded if `cause` is `None`, else dropped for it.
fn record(tally: &Mutex<DirectionStats>, bytes: usize, cause: Option<Cause>) {
    // Counters stay meaningful even if a holder panicked mid-update.
    let mut s = tally.lock().unwrap_or_else(PoisonError::into_inner);
    let bytes = bytes as u64;
    match cause {
        None => {
            s.forwarded += 1;
            s.forwarded_bytes += bytes;
            return;
        }
        Some(Cause::Loss) => s.dropped_loss += 1,
        Some(Cause::Queue) => s.dropped_queue += 1,
        Some(Cause::Outage) => s.dropped_outage += 1,
    }
    s.dropped_bytes += bytes;
}

/// A running impairment relay; dropping it stops the relay.
pub struct Relay {
    addr: SocketAddr,
    server: SocketAddr,
    link_up: Arc<AtomicBool>,
    up: Tally,
    down: Tally,
    /// The socket that faces the server; replaced to make the client appear to move.
    back: watch::Sender<Arc<UdpSocket>>,
    down_tx: mpsc::Sender<Vec<u8>>,
    /// Reads the server-facing socket; replaced with it.
    back_reader: Mutex<Option<JoinHandle<()>>>,
    moves: AtomicU64,
    tasks: Vec<JoinHandle<()>>,
}

fn unspecified_like(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

impl Relay {
    /// Binds 127.0.0.1:0 and starts relaying to `server` (tokio tasks).
    pub async fn start(server: SocketAddr, config: RelayConfig) -> Result<Relay> {
        for (name, imp) in [("up", &config.up), ("down", &config.down)] {
            if !(0.0..=1.0).contains(&imp.loss) {
                return Err(NodeError::user(format!(
                    "relay {name} loss must be between 0 and 1, not {}",
                    imp.loss
                )));
            }
        }
        let front = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(NodeError::io("bind the relay's client-facing UDP socket"))?;
        let back = UdpSocket::bind(unspecified_like(server))
            .await
            .map_err(NodeError::io("bind the relay's server-facing UDP socket"))?;
        let addr = front
            .local_addr()
            .map_err(NodeError::io("read the relay's address"))?;
        let (front, back) = (Arc::new(front), Arc::new(back));
        let link_up = Arc::new(AtomicBool::new(true));
        let (up, down) = (Tally::default(), Tally::default());
        let (client_tx, client_rx) = watch::channel(None::<SocketAddr>);
        let (up_tx, up_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (down_tx, down_rx) = mpsc::channel(CHANNEL_DEPTH);

        let scheduler = |imp, seed, tally: &Tally| Scheduler {
            imp,
            rng: StdRng::seed_from_u64(seed),
            link_up: link_up.clone(),
            tally: tally.clone(),
        };
        // Separate seeds per direction keep one direction's traffic from shifting the other's dice.
        let up_sched = scheduler(config.up, config.seed, &up);
        let down_sched = scheduler(config.down, config.seed ^ 0x9e37_79b9_7f4a_7c15, &down);
        let from_client = move |from: SocketAddr| {
            // Following the latest source is what lets a migrated client keep its path.
            client_tx.send_if_modified(|current| current.replace(from) != Some(from));
            true
        };
        let (back_tx, back_rx) = watch::channel(back.clone());
        let to_client = front.clone();
        let back_reader = tokio::spawn(read_loop(
            back,
            down_tx.clone(),
            down.clone(),
            move |from| from == server,
        ));
        let tasks = vec![
            tokio::spawn(read_loop(front, up_tx, up.clone(), from_client)),
            tokio::spawn(up_sched.run(up_rx, move |data| {
                // Read at release time, so datagrams follow a move of the client's address.
                let sock = back_rx.borrow().clone();
                async move { sock.send_to(&data, server).await.map(|_| ()) }
            })),
            tokio::spawn(down_sched.run(down_rx, move |data| {
                let sock = to_client.clone();
                // Read at release time, so replies follow a client that migrated meanwhile.
                let client = *client_rx.borrow();
                async move {
                    match client {
                        Some(client) => sock.send_to(&data, client).await.map(|_| ()),
                        None => Ok(()),
                    }
                }
            })),
        ];
        Ok(Relay {
            addr,
            server,
            link_up,
            up,
            down,
            back: back_tx,
            down_tx,
            back_reader: Mutex::new(Some(back_reader)),
            moves: AtomicU64::new(0),
            tasks,
        })
    }

    /// Makes the client appear to move, as when a satker's NAT rebinds or its laptop
    /// changes network: from now on the server sees the client's datagrams come from a
    /// new address, and what it sends to the old one is lost. Returns the new address.
    pub async fn move_client(&self) -> Result<SocketAddr> {
        let sock = UdpSocket::bind(unspecified_like(self.server))
            .await
            .map_err(NodeError::io(
                "bind the relay's new server-facing UDP socket",
            ))?;
        let new_addr = sock
            .local_addr()
            .map_err(NodeError::io("read the relay's new address"))?;
        let sock = Arc::new(sock);
        let server = self.server;
        let reader = tokio::spawn(read_loop(
            sock.clone(),
            self.down_tx.clone(),
            self.down.clone(),
            move |from| from == server,
        ));
        self.back.send_replace(sock);
        let old = self
            .back_reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(reader);
        // The old socket closes with its reader: like a NAT mapping that is gone.
        if let Some(old) = old {
            old.abort();
        }
        self.moves.fetch_add(1, Ordering::Relaxed);
        Ok(new_addr)
    }

    /// How many times the client was moved.
    pub fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }

    /// The address clients should dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blackout: while down, every datagram in both directions is dropped (a link outage).
    pub fn set_link(&self, up: bool) {
        self.link_up.store(up, Ordering::Relaxed);
    }

    /// Counters: datagrams/bytes forwarded and dropped (by loss, by queue, by outage), per direction.
    pub fn stats(&self) -> RelayStats {
        let read = |t: &Tally| t.lock().unwrap_or_else(PoisonError::into_inner).clone();
        RelayStats {
            up: read(&self.up),
            down: read(&self.down),
        }
    }

    /// Stops relaying (also on Drop).
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(reader) = self
            .back_reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            reader.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads datagrams that `accept` lets through and hands them to a scheduler.
async fn read_loop(
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<Vec<u8>>,
    tally: Tally,
    mut accept: impl FnMut(SocketAddr) -> bool,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) if accept(from) => match tx.try_send(buf[..n].to_vec()) {
                Ok(()) => {}
                // Never blocking the reader means the kernel never drops where nobody counts it.
                Err(mpsc::error::TrySendError::Full(data)) => {
                    record(&tally, data.len(), Some(Cause::Queue))
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Ok((_, from)) => tracing::debug!(%from, "relay ignored a datagram from a stranger"),
            Err(e) => {
                // Some platforms report an earlier send's ICMP error on the next read; it is
                // not fatal, but a short pause keeps a persistent error from spinning.
                tracing::debug!(error = %e, "relay read failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// One direction's impairment: decides each datagram's fate and releases it on time.
struct Scheduler {
    imp: Impairment,
    rng: StdRng,
    link_up: Arc<AtomicBool>,
    tally: Tally,
}

impl Scheduler {
    async fn run<F, Fut>(mut self, mut rx: mpsc::Receiver<Vec<u8>>, send: F)
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: Future<Output = std::io::Result<()>>,
    {
        // Earliest release first; the arrival number breaks ties in arrival order.
        let mut heap = BinaryHeap::<Reverse<(Instant, u64, Vec<u8>)>>::new();
        let mut held_bytes = 0usize;
        let mut busy_until = Instant::now();
        let mut seq = 0u64;
        loop {
            let now = Instant::now();
            while heap.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
                let Some(Reverse((_, _, data))) = heap.pop() else {
                    break;
                };
                let len = data.len();
                held_bytes = held_bytes.saturating_sub(len);
                // Datagrams still on the wire when the link fails are lost too.
                if !self.link_up.load(Ordering::Relaxed) {
                    record(&self.tally, len, Some(Cause::Outage));
                    continue;
                }
                match send(data).await {
                    Ok(()) => record(&self.tally, len, None),
                    Err(e) => tracing::debug!(error = %e, "relay send failed"),
                }
            }
            let wake = heap.peek().map(|Reverse((at, ..))| *at);
            tokio::select! {
                got = rx.recv() => {
                    let Some(data) = got else { return };
                    if let Some(at) = self.admit(data.len(), held_bytes, &mut busy_until) {
                        held_bytes += data.len();
                        seq += 1;
                        heap.push(Reverse((at, seq, data)));
                    }
                }
                () = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
            }
        }
    }

    /// The release time of a datagram of `len` bytes arriving now, or `None` if it is dropped.
    fn admit(
        &mut self,
        len: usize,
        held_bytes: usize,
        busy_until: &mut Instant,
    ) -> Option<Instant> {
        // Dice are rolled for every datagram, dropped or not, so a seed replays the same fates.
        let lost = self.rng.gen::<f64>() < self.imp.loss;
        let jitter = u64::try_from(self.imp.jitter.min(MAX_HOLD).as_nanos()).unwrap_or(0);
        let offset = self.rng.gen_range(0..=jitter.saturating_mul(2));
        let cause = if !self.link_up.load(Ordering::Relaxed) {
            Some(Cause::Outage)
        } else if lost {
            Some(Cause::Loss)
        } else if held_bytes.saturating_add(len) > self.imp.queue_bytes {
            Some(Cause::Queue)
        } else {
            None
        };
        if cause.is_some() {
            record(&self.tally, len, cause);
            return None;
        }
        // The bottleneck serializes first, then the wire delays: latency is their sum, as on
        // a real link, and the rate still caps throughput however long the delay.
        let now = Instant::now();
        let sent = match self.imp.rate_bits_per_sec.filter(|r| *r > 0) {
            Some(rate) => {
                let nanos = (len as u128 * 8 * 1_000_000_000) / u128::from(rate);
                let serialize = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                *busy_until = (*busy_until).max(now) + serialize.min(MAX_HOLD);
                *busy_until
            }
            None => now,
        };
        let wire = self
            .imp
            .delay
            .saturating_add(Duration::from_nanos(offset))
            .saturating_sub(Duration::from_nanos(jitter))
            .min(MAX_HOLD);
        Some(sent + wire)
    }
}

#[cfg(test)]
mod tests;
