//! The parts of a ceiling measurement: signatures to verify, a store to write, a QUIC
//! stream to fill and buffers to hash, each timed by [`per_second`].

use std::{hint::black_box, net::Ipv4Addr, sync::Arc, time::Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use sync_protocol::{NodeId, PublicKey, SecretKey, StreamId};

use super::{flush_group, per_second, Clock, BATCH, PART_BUDGET};
use crate::{
    error::{NodeError, Result},
    transport::{self, tls},
};

/// The most the QUIC measurement moves, if the time runs out later.
const QUIC_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes per write on the QUIC stream.
const QUIC_WRITE_BYTES: usize = 64 * 1024;

/// The purpose the measured signatures are made under; its length is that of a real one.
const DOMAIN: &[u8] = b"espm/1/bench-ceiling";

/// Different keys, each signing a different message of an item's size.
pub(in crate::bench) struct Batch {
    bodies: Vec<Vec<u8>>,
    /// What each signature covers: the purpose, a zero byte, the body.
    signed: Vec<Vec<u8>>,
    keys: Vec<PublicKey>,
    signatures: Vec<[u8; 64]>,
}

impl Batch {
    /// `size` fresh keys signing `size` random bodies of `item_bytes`.
    pub(in crate::bench) fn new(size: usize, item_bytes: usize) -> Batch {
        let mut rng = rand::thread_rng();
        let mut batch = Batch {
            bodies: Vec::with_capacity(size),
            signed: Vec::with_capacity(size),
            keys: Vec::with_capacity(size),
            signatures: Vec::with_capacity(size),
        };
        for _ in 0..size {
            let key = SecretKey::generate();
            let mut body = vec![0u8; item_bytes];
            rng.fill_bytes(&mut body);
            batch.signatures.push(key.sign(DOMAIN, &body));
            batch.signed.push([DOMAIN, &[0], &body].concat());
            batch.keys.push(key.public());
            batch.bodies.push(body);
        }
        batch
    }

    /// Verifies each signature on its own, as an item's envelope is checked today.
    pub(in crate::bench) fn verify_each(&self) -> bool {
        self.keys
            .iter()
            .zip(&self.bodies)
            .zip(&self.signatures)
            .all(|((key, body), sig)| key.verify(DOMAIN, body, sig))
    }

    /// Verifies all signatures in one batch, decoding each key and signature from its
    /// bytes as they arrive in items.
    pub(in crate::bench) fn verify_batch(&self) -> bool {
        let keys: std::result::Result<Vec<_>, _> = self
            .keys
            .iter()
            .map(|k| ed25519_dalek::VerifyingKey::from_bytes(&k.0))
            .collect();
        let Ok(keys) = keys else {
            return false;
        };
        let signatures: Vec<_> = self
            .signatures
            .iter()
            .map(ed25519_dalek::Signature::from_bytes)
            .collect();
        let messages: Vec<&[u8]> = self.signed.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }

    /// Flips one bit of signature `i`, for tests that a batch really is verified.
    #[cfg(test)]
    pub(in crate::bench) fn spoil(&mut self, i: usize) {
        self.signatures[i][7] ^= 0x10;
    }
}

/// Durable item writes per second: a frame's worth of items in one `write` with their
/// stream positions, and one `flush` per flight of such writes ([`flush_group`]), as
/// `replica::receive_frame` and the session's group commit do.
pub(super) fn store_writes_per_sec(item_bytes: usize) -> Result<f64> {
    let dir = super::super::fixture::temp_root()?;
    let store = storage::Store::open(dir.path())?;
    let stream = StreamId::Origin(SecretKey::generate().public());
    let (per_write, writes) = flush_group(item_bytes);
    let mut item = vec![0xa5u8; item_bytes];
    rand::thread_rng().fill_bytes(&mut item);
    let mut seq = 0u64;
    per_second(Clock::Wall, || {
        for _ in 0..writes {
            store.write(|t| {
                for _ in 0..per_write {
                    seq += 1;
                    // Each item differs, or the store would keep it once.
                    item[..8].copy_from_slice(&seq.to_be_bytes());
                    t.put_item(&item)?;
                    t.set_position(&stream, seq);
                }
                Ok(())
            })?;
        }
        store.flush()?;
        Ok((per_write * writes) as u64)
    })
}

/// SHA-256 bytes per second over [`BATCH`] different buffers of `item_bytes`.
pub(super) fn sha256_bytes_per_sec(item_bytes: usize) -> Result<f64> {
    let mut rng = rand::thread_rng();
    let buffers: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| {
            let mut b = vec![0u8; item_bytes];
            rng.fill_bytes(&mut b);
            b
        })
        .collect();
    per_second(Clock::Cpu, || {
        for b in &buffers {
            black_box(Sha256::digest(black_box(b)));
        }
        Ok((BATCH * item_bytes) as u64)
    })
}

/// Bytes moved and bytes per second over one QUIC stream on loopback, on a runtime of
/// its own in a thread of its own, so it works under any caller.
pub(super) fn quic_bytes_per_sec() -> Result<(u64, f64)> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(NodeError::io("start a runtime for the QUIC measurement"))?;
            runtime.block_on(quic_transfer())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NodeError::Transport(
                "the QUIC measurement stopped unexpectedly".into(),
            ))
        })
    })
}

fn quic_error(what: &str) -> impl FnOnce(String) -> NodeError + '_ {
    move |e| NodeError::Transport(format!("bench ceiling: {what}: {e}"))
}

/// An enrolled device streams to a hub for [`PART_BUDGET`] (at most
/// [`QUIC_MAX_BYTES`]); timed from its first write until the hub's count comes back.
async fn quic_transfer() -> Result<(u64, f64)> {
    let hub_key = SecretKey::generate();
    let device_key = SecretKey::generate();
    let device = device_key.public();
    let admit = Arc::new(move |id: &NodeId| *id == device);
    let server = tls::server_config(&hub_key, admit)?;
    let endpoint = transport::server_endpoint((Ipv4Addr::LOCALHOST, 0).into(), server)?;
    let addr = endpoint
        .local_addr()
        .map_err(NodeError::io("read the measurement hub's UDP address"))?;
    let hub = tokio::spawn(count_stream(endpoint.clone()));
    let (client, conn) = transport::connect(
        &device_key,
        hub_key.public(),
        addr,
        transport::CONNECT_TIMEOUT,
    )
    .await?;
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| quic_error("open a stream")(e.to_string()))?;
    let chunk = vec![0x5au8; QUIC_WRITE_BYTES];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < QUIC_MAX_BYTES && started.elapsed() < PART_BUDGET {
        send.write_all(&chunk)
            .await
            .map_err(|e| quic_error("write")(e.to_string()))?;
        sent += chunk.len() as u64;
    }
    send.finish()
        .map_err(|e| quic_error("finish")(e.to_string()))?;
    let reply = recv
        .read_to_end(8)
        .await
        .map_err(|e| quic_error("read the count")(e.to_string()))?;
    let seconds = started.elapsed().as_secs_f64();
    conn.close(0u32.into(), b"measured");
    client.close(0u32.into(), b"measured");
    hub.await
        .map_err(|e| quic_error("the hub's task")(e.to_string()))??;
    endpoint.close(0u32.into(), b"measured");
    let counted = <[u8; 8]>::try_from(reply.as_slice())
        .map(u64::from_be_bytes)
        .map_err(|_| quic_error("the count")("not 8 bytes".into()))?;
    if counted != sent {
        return Err(NodeError::Transport(format!(
            "bench ceiling: the hub received {counted} of {sent} bytes"
        )));
    }
    Ok((sent, sent as f64 / seconds))
}

/// The hub's side: accepts one connection and one stream, reads it to its end, and
/// answers with the byte count; returns once the device has closed.
async fn count_stream(endpoint: quinn::Endpoint) -> Result<()> {
    let incoming = endpoint
        .accept()
        .await
        .ok_or_else(|| NodeError::Transport("bench ceiling: the endpoint closed".into()))?;
    let conn = incoming
        .await
        .map_err(|e| quic_error("accept")(e.to_string()))?;
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| quic_error("accept a stream")(e.to_string()))?;
    let mut counted = 0u64;
    while let Some(chunk) = recv
        .read_chunk(usize::MAX, true)
        .await
        .map_err(|e| quic_error("read")(e.to_string()))?
    {
        counted += chunk.bytes.len() as u64;
    }
    send.write_all(&counted.to_be_bytes())
        .await
        .map_err(|e| quic_error("answer")(e.to_string()))?;
    send.finish()
        .map_err(|e| quic_error("finish the answer")(e.to_string()))?;
    conn.closed().await;
    Ok(())
}
