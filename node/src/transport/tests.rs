//! The transport against real QUIC on loopback: admission, pinning, framing limits.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use sync_protocol::{encode_frame, Message, NodeId, SecretKey, MAX_MESSAGE_BYTES};

use super::{
    connect::{connection_error, lost},
    *,
};
use crate::error::NodeError;

/// A Done naming nothing: the smallest well-formed message.
fn done() -> Message {
    Message::Done {
        sent: Default::default(),
    }
}

fn localhost() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

/// A hub on 127.0.0.1 that admits only `admitted`, answers each bi stream by
/// reading one message and replying Done.
fn hub(admitted: NodeId) -> (SecretKey, quinn::Endpoint) {
    let hub_key = SecretKey::generate();
    let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
        Arc::new(move |id: &NodeId| *id == admitted);
    let config = tls::server_config(&hub_key, admit).unwrap();
    let endpoint = server_endpoint(localhost(), config).unwrap();
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                assert_eq!(tls::peer_node_id(&conn).unwrap(), admitted);
                let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                    return;
                };
                let (msg, n) = recv_message(&mut recv).await.unwrap().unwrap();
                assert_eq!(msg, done());
                assert_eq!(n, 4 + done().encode().len());
                send_message(&mut send, &done()).await.unwrap();
                send.finish().unwrap();
                assert!(recv_message(&mut recv).await.unwrap().is_none());
                conn.closed().await;
            });
        }
    });
    (hub_key, endpoint)
}

#[tokio::test]
async fn admitted_client_exchanges_messages() {
    let client_key = SecretKey::generate();
    let (hub_key, server) = hub(client_key.public());
    let addr = server.local_addr().unwrap();
    let (endpoint, conn) = connect(&client_key, hub_key.public(), addr, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(tls::peer_node_id(&conn).unwrap(), hub_key.public());
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let sent = send_message(&mut send, &done()).await.unwrap();
    send.finish().unwrap();
    let (msg, got) = recv_message(&mut recv).await.unwrap().unwrap();
    assert_eq!(msg, done());
    assert_eq!(sent, got);
    assert!(recv_message(&mut recv).await.unwrap().is_none());
    conn.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
}

#[tokio::test]
async fn client_not_admitted_gets_no_data() {
    let (hub_key, server) = hub(SecretKey::generate().public());
    let addr = server.local_addr().unwrap();
    let stranger = SecretKey::generate();
    // In TLS 1.3 the client finishes its handshake before the hub checks its
    // certificate, so the refusal may only show up at the first read.
    let Ok((_endpoint, conn)) =
        connect(&stranger, hub_key.public(), addr, Duration::from_secs(5)).await
    else {
        return;
    };
    let result = async {
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| NodeError::Transport(e.to_string()))?;
        send_message(&mut send, &done()).await?;
        recv_message(&mut recv).await
    };
    let outcome = tokio::time::timeout(Duration::from_secs(5), result)
        .await
        .unwrap();
    match outcome {
        Err(NodeError::Refused(_)) => {}
        other => panic!("a client the hub does not admit got {other:?}"),
    }
}

#[tokio::test]
async fn client_without_a_certificate_gets_no_data() {
    let (hub_key, server) = hub(SecretKey::generate().public());
    let addr = server.local_addr().unwrap();
    let mut endpoint = quinn::Endpoint::client((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    endpoint.set_default_client_config(
        crate::transport::tls::anonymous_client_config(hub_key.public()).unwrap(),
    );
    let attempt = async {
        let conn = endpoint
            .connect(addr, crate::transport::tls::SERVER_NAME)
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .await
            .map_err(|e| NodeError::Transport(e.to_string()))?;
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| NodeError::Transport(e.to_string()))?;
        send_message(&mut send, &done()).await?;
        recv_message(&mut recv).await
    };
    let outcome = tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap();
    assert!(
        !matches!(outcome, Ok(Some(_))),
        "a client with no certificate received {outcome:?}"
    );
    assert!(outcome.is_err(), "{outcome:?}");
}

#[tokio::test]
async fn wrong_hub_id_is_refused() {
    let client_key = SecretKey::generate();
    let (_hub_key, server) = hub(client_key.public());
    let addr = server.local_addr().unwrap();
    let other_hub = SecretKey::generate().public();
    match connect(&client_key, other_hub, addr, Duration::from_secs(5)).await {
        Err(NodeError::Refused(msg)) => assert!(msg.contains("--hub-id"), "{msg}"),
        Err(other) => panic!("expected Refused, got {other:?}"),
        Ok(_) => panic!("connected to a hub with the wrong id"),
    }
}

#[tokio::test]
async fn oversized_length_is_refused_without_allocating() {
    let client_key = SecretKey::generate();
    let hub_key = SecretKey::generate();
    let admitted = client_key.public();
    let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
        Arc::new(move |id: &NodeId| *id == admitted);
    let server =
        server_endpoint(localhost(), tls::server_config(&hub_key, admit).unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    let serve = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let (_send, mut recv) = conn.accept_bi().await.unwrap();
        let err = recv_message(&mut recv).await.unwrap_err();
        assert!(
            matches!(err, NodeError::Protocol(ref e) if e.to_string().contains("limit")),
            "{err:?}"
        );
    });
    let (_endpoint, conn) = connect(&client_key, hub_key.public(), addr, Duration::from_secs(5))
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    serve.await.unwrap();
}

#[tokio::test]
async fn unanswered_dial_is_unreachable() {
    // A bound UDP socket that never answers stands in for a hub that is down.
    let silent = std::net::UdpSocket::bind(localhost()).unwrap();
    let addr = silent.local_addr().unwrap();
    let key = SecretKey::generate();
    match connect(
        &key,
        SecretKey::generate().public(),
        addr,
        Duration::from_millis(300),
    )
    .await
    {
        Err(NodeError::Unreachable { detail, .. }) => assert_eq!(detail, "no answer"),
        other => panic!("expected Unreachable, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn messages_written_in_one_piece_are_read_one_at_a_time_and_in_pieces_whole() {
    let client_key = SecretKey::generate();
    let hub_key = SecretKey::generate();
    let admitted = client_key.public();
    let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
        Arc::new(move |id: &NodeId| *id == admitted);
    let server =
        server_endpoint(localhost(), tls::server_config(&hub_key, admit).unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    let big = Message::Abort {
        reason: "x".repeat(200_000),
    };
    let expected = vec![done(), big.clone(), done()];
    let serve = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let (_send, mut recv) = conn.accept_bi().await.unwrap();
        let mut got = Vec::new();
        while let Some((msg, _)) = recv_message(&mut recv).await.unwrap() {
            got.push(msg);
        }
        got
    });
    let (_endpoint, conn) = connect(&client_key, hub_key.public(), addr, Duration::from_secs(5))
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // A small and a large message in one write, then another a few bytes at a time.
    let mut joined = encode_frame(&done().encode(), MAX_MESSAGE_BYTES).unwrap();
    joined.extend(encode_frame(&big.encode(), MAX_MESSAGE_BYTES).unwrap());
    send.write_all(&joined).await.unwrap();
    let last = encode_frame(&done().encode(), MAX_MESSAGE_BYTES).unwrap();
    for piece in last.chunks(3) {
        send.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    send.finish().unwrap();
    assert_eq!(serve.await.unwrap(), expected);
}

/// A connection the hub closed with `code`, saying `reason`.
fn closed_by_hub(code: quinn::TransportErrorCode, reason: &str) -> quinn::ConnectionError {
    quinn::ConnectionError::ConnectionClosed(quinn::ConnectionClose {
        error_code: code,
        frame_type: None,
        reason: reason.as_bytes().to_vec().into(),
    })
}

/// A connection this node's own TLS gave up with `code`, saying `reason`.
fn failed_here(code: quinn::TransportErrorCode, reason: &str) -> quinn::ConnectionError {
    quinn::ConnectionError::TransportError(quinn_proto::TransportError {
        code,
        frame: None,
        reason: reason.into(),
    })
}

/// TLS alert access_denied (RFC 8446 §6.2): the hub's refusal of a key it does not admit.
const ACCESS_DENIED: u8 = 49;

/// TLS alert unknown_ca (RFC 8446 §6.2): this node's refusal of a key that is not the pinned hub's.
const UNKNOWN_CA: u8 = 48;

#[test]
fn the_hubs_refusal_of_this_key_is_told_by_its_tls_alert_and_not_by_any_text() {
    let denied = quinn::TransportErrorCode::crypto(ACCESS_DENIED);
    // No reason text at all: the code alone says the hub refused the key.
    assert!(
        matches!(lost(&closed_by_hub(denied, "")), NodeError::Refused(_)),
        "{:?}",
        lost(&closed_by_hub(denied, ""))
    );
    // Every word the old text search looked for, under a code that means something else.
    let wordy = "espm: this node's key is not admitted by the hub (certificate, crypto alert)";
    let other = closed_by_hub(quinn::TransportErrorCode::PROTOCOL_VIOLATION, wordy);
    assert!(
        matches!(lost(&other), NodeError::Transport(_)),
        "{:?}",
        lost(&other)
    );
}

#[test]
fn this_nodes_refusal_of_a_hub_key_is_told_by_its_tls_alert_and_not_by_any_text() {
    let hub: SocketAddr = (Ipv4Addr::LOCALHOST, 7000).into();
    let me = SecretKey::generate().public();
    let unknown = failed_here(quinn::TransportErrorCode::crypto(UNKNOWN_CA), "");
    match connection_error(&unknown, hub, me) {
        NodeError::Refused(msg) => assert!(msg.contains("--hub-id"), "{msg}"),
        other => panic!("expected the pinned hub id to be named, got {other:?}"),
    }
    let wordy = failed_here(
        quinn::TransportErrorCode::PROTOCOL_VIOLATION,
        "espm: the server certificate is not the pinned hub id",
    );
    assert!(
        matches!(
            connection_error(&wordy, hub, me),
            NodeError::Unreachable { .. }
        ),
        "{:?}",
        connection_error(&wordy, hub, me)
    );
}
