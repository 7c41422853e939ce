//! Endpoints that dial and answer, the streams a device opens, and what a failed
//! connection means, told by its QUIC and TLS error codes and never by its text.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use sync_protocol::{NodeId, SecretKey, StreamKind};

use super::{close, tls, wire::send_header};
use crate::error::{NodeError, Result};

/// Bytes of datagrams the hub's UDP socket may hold before the kernel drops what
/// arrives. Linux's default (208 KiB, about a hundred handshake datagrams) overflows
/// when a few hundred satkers whose links came back dial at once: the dropped
/// handshakes are retried in step and dropped again, and the last ones time out
/// (`espm bench fanin --satkers 500` lost some 10,000 datagrams and a third of its
/// syncs so). The kernel caps the request at `net.core.rmem_max`.
pub const SERVER_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// A server endpoint bound to `addr`, its socket's receive buffer enlarged to
/// [`SERVER_RECEIVE_BUFFER`] where the system allows.
pub fn server_endpoint(addr: SocketAddr, config: quinn::ServerConfig) -> Result<quinn::Endpoint> {
    let listen = NodeError::io(format!("listen on UDP {addr}"));
    let socket =
        std::net::UdpSocket::bind(addr).map_err(NodeError::io(format!("listen on UDP {addr}")))?;
    let sock = quinn::udp::UdpSockRef::from(&socket);
    let enlarged = quinn::udp::UdpSocketState::new(sock)
        .and_then(|state| state.set_recv_buffer_size((&socket).into(), SERVER_RECEIVE_BUFFER));
    if let Err(e) = enlarged {
        // A smaller buffer only costs retried handshakes in a burst.
        tracing::warn!(error = %e, "could not enlarge the UDP receive buffer");
    }
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        std::sync::Arc::new(quinn::TokioRuntime),
    )
    .map_err(listen)
}

/// How long a dial waits for the hub's handshake before it reports the hub as not
/// answering: a hub that is up answers within a second or two even on a thin, lossy
/// link (a lost Initial costs one probe timeout, about a second, doubling after), and a
/// user, or the background loop, should hear of one that is down within seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves the hub's address `addr` (`host:port`) now, when connecting: `init` only
/// checked its syntax, so a satker set up offline can name its KPPN by host name.
pub async fn resolve(addr: &str) -> Result<Vec<SocketAddr>> {
    let unresolved = |why: String| NodeError::Unreachable {
        addr: addr.to_string(),
        detail: format!("the host name does not resolve{why}"),
    };
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| unresolved(format!(" ({e})")))?
        .collect();
    if addrs.is_empty() {
        return Err(unresolved(String::new()));
    }
    Ok(addrs)
}

/// Resolves `hub` (`host:port`) and dials its addresses in turn until one answers,
/// within `timeout` in all; a refusal ends the attempt at once, since another address
/// of the same hub would refuse alike.
pub async fn dial(
    key: &SecretKey,
    hub_id: NodeId,
    hub: &str,
    timeout: Duration,
) -> Result<(quinn::Endpoint, quinn::Connection)> {
    let addrs = resolve(hub).await?;
    // A name with an IPv6 and an IPv4 address, one of them dead, still answers in time.
    let each = (timeout / addrs.len().max(1) as u32).max(Duration::from_secs(2));
    let mut last = None;
    for addr in addrs.into_iter().take(4) {
        match connect(key, hub_id, addr, each).await {
            Ok(c) => return Ok(c),
            Err(e @ NodeError::Unreachable { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(match last {
        Some(NodeError::Unreachable { detail, .. }) => NodeError::Unreachable {
            addr: hub.to_string(),
            detail,
        },
        _ => NodeError::Unreachable {
            addr: hub.to_string(),
            detail: "no answer".into(),
        },
    })
}

/// Dials the hub at `hub`, accepting only the key `hub_id`, within `timeout`.
pub async fn connect(
    key: &SecretKey,
    hub_id: NodeId,
    hub: SocketAddr,
    timeout: Duration,
) -> Result<(quinn::Endpoint, quinn::Connection)> {
    let config = tls::client_config(key, hub_id)?;
    let local: SocketAddr = match hub {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let endpoint =
        quinn::Endpoint::client(local).map_err(NodeError::io("open a local UDP socket"))?;
    let unreachable = |detail: String| NodeError::Unreachable {
        addr: hub.to_string(),
        detail,
    };
    let connecting = endpoint
        .connect_with(config, hub, tls::SERVER_NAME)
        .map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(conn)) => Ok((endpoint, conn)),
        Ok(Err(e)) => {
            endpoint.close(0u32.into(), b"");
            Err(connection_error(&e, hub, key.public()))
        }
        Err(_) => {
            endpoint.close(0u32.into(), b"");
            Err(unreachable("no answer".into()))
        }
    }
}

/// Opens a stream to the hub on `conn` for a session of `kind`, and says so in the
/// stream's header.
pub async fn open_stream(
    conn: &quinn::Connection,
    kind: StreamKind,
) -> Result<(quinn::SendStream, quinn::RecvStream)> {
    let (mut send, recv) = conn.open_bi().await.map_err(|e| match refusal(&e) {
        Some(_) => lost(&e),
        None => NodeError::Transport(format!(
            "could not open a {} stream to the hub: {e}",
            kind.name()
        )),
    })?;
    send_header(&mut send, kind).await?;
    Ok((send, recv))
}

/// Why a connection was turned down, as its codes tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The hub's TLS refused this node's key: not enrolled, or revoked.
    NotAdmitted,
    /// This node's TLS refused the hub's key: it is not the pinned hub id.
    NotThePinnedHub,
    /// The hub closed a connection it had admitted because it no longer admits the
    /// device (revoked while connected), with the reason it gave.
    Dismissed(String),
    /// The hub serves as many connections as it allows and refused this one.
    Busy,
}

/// What `e` says about who refused whom, by its QUIC and TLS error codes alone; `None`
/// for a connection that failed for any other reason (a lost link, a broken peer).
pub fn refusal(e: &quinn::ConnectionError) -> Option<Refusal> {
    match e {
        // The peer's close: the hub refused us.
        quinn::ConnectionError::ConnectionClosed(c) if c.error_code == tls::not_admitted_code() => {
            Some(Refusal::NotAdmitted)
        }
        quinn::ConnectionError::ConnectionClosed(c)
            if c.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
        {
            Some(Refusal::Busy)
        }
        // Our own TLS gave up: we refused the hub.
        quinn::ConnectionError::TransportError(t) if t.code == tls::not_the_pinned_hub_code() => {
            Some(Refusal::NotThePinnedHub)
        }
        quinn::ConnectionError::ApplicationClosed(c)
            if c.error_code == close::NOT_ADMITTED.into() =>
        {
            Some(Refusal::Dismissed(
                String::from_utf8_lossy(&c.reason).into_owned(),
            ))
        }
        _ => None,
    }
}

/// The hub refused the device `node`: what to tell its user.
pub fn not_admitted(node: NodeId) -> NodeError {
    let id = node.to_hex();
    NodeError::Refused(format!(
        "the hub refused this device: node {id} is not enrolled (or was blocked). Ask the KPPN administrator to run `espm enroll {id}`"
    ))
}

/// Turns a failed connection of the node `me` into the error a person can act on.
pub(super) fn connection_error(
    e: &quinn::ConnectionError,
    hub: SocketAddr,
    me: NodeId,
) -> NodeError {
    let detail = match (refusal(e), e) {
        (Some(Refusal::NotThePinnedHub), _) => {
            return NodeError::Refused(format!(
                "the hub at {hub} did not present the pinned hub id; check --hub-id"
            ))
        }
        // Named with this node's id, so the person knows what to ask for.
        (Some(Refusal::NotAdmitted), _) => return not_admitted(me),
        (Some(Refusal::Busy), _) => {
            "the hub is busy: it serves as many connections as it allows and refused this one"
                .to_string()
        }
        (_, quinn::ConnectionError::TimedOut) => "no answer".to_string(),
        (_, quinn::ConnectionError::VersionMismatch) => {
            "the hub speaks another QUIC version".to_string()
        }
        (
            _,
            quinn::ConnectionError::ConnectionClosed(_)
            | quinn::ConnectionError::ApplicationClosed(_),
        ) => {
            format!("the hub closed the connection ({e})")
        }
        (_, quinn::ConnectionError::Reset) => "the hub reset the connection".to_string(),
        _ => e.to_string(),
    };
    NodeError::Unreachable {
        addr: hub.to_string(),
        detail,
    }
}

/// A broken connection while reading or writing, named by cause; the hub's refusal of
/// our key only shows up here, at the first read after a handshake that looked complete.
pub(super) fn lost(e: &quinn::ConnectionError) -> NodeError {
    match (refusal(e), e) {
        (Some(Refusal::NotAdmitted), _) => {
            NodeError::Refused("the hub does not admit this node's key".into())
        }
        // A revocation, or an enrollment gone, while connected: no retry will help.
        (Some(Refusal::Dismissed(reason)), _) => {
            NodeError::Refused(format!("the hub closed the connection: {reason}"))
        }
        (_, quinn::ConnectionError::TimedOut) => {
            NodeError::Transport("the peer stopped answering".into())
        }
        _ => NodeError::Transport(format!("the connection was lost: {e}")),
    }
}
