//! The hub's admission against devices that speak the stream header wrongly, over real
//! QUIC on loopback, with the production accept loop and a real store.

use std::{net::Ipv4Addr, time::Duration};

use sync_protocol::{
    DraftMessage, Message, StreamHeader, VersionVector, FORMAT_VERSION, HEADER_BYTES, STREAM_MAGIC,
};

use super::*;
use crate::{
    testkit::World,
    transport::{connect, open_stream, recv_bytes, send_bytes},
};

#[test]
fn a_long_close_reason_is_cut_on_a_character_boundary() {
    assert_eq!(close_reason("frame refused"), "frame refused");
    // "é" is two bytes; 300 of them straddle the limit mid-character.
    let long = "é".repeat(300);
    let cut = close_reason(&long);
    assert!(cut.len() <= MAX_CLOSE_REASON);
    assert_eq!(cut.len(), MAX_CLOSE_REASON);
    assert!(cut.chars().all(|c| c == 'é'));
    let odd = format!("x{long}");
    assert_eq!(close_reason(&odd).len(), MAX_CLOSE_REASON - 1);
}

/// How long a test waits for the hub to do what it should do at once.
const PATIENCE: Duration = Duration::from_secs(15);

/// A hub serving through the production accept loop, and an enrolled device's
/// connection to it; runs `test` on that connection and returns what it returns.
fn against_the_hub<T, F: std::future::Future<Output = T>>(
    test: impl FnOnce(quinn::Connection) -> F,
) -> T {
    let mut world = World::new();
    let device = world.satker("100001");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoint = endpoint(&world.hub, (Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        tokio::spawn(accept_loop(
            endpoint.clone(),
            world.hub.clone(),
            HubLimits::default(),
        ));
        let (client, conn) = connect(&device.key, world.hub.node_id(), addr, PATIENCE)
            .await
            .unwrap();
        let out = test(conn).await;
        client.close(0u32.into(), b"test done");
        endpoint.close(0u32.into(), b"test done");
        out
    })
}

/// How the hub closed `conn`: its application code and reason.
async fn closed(conn: &quinn::Connection) -> (u64, String) {
    match tokio::time::timeout(PATIENCE, conn.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => (
            c.error_code.into_inner(),
            String::from_utf8_lossy(&c.reason).into_owned(),
        ),
        Ok(other) => panic!("the hub ended the connection otherwise: {other}"),
        Err(_) => panic!("the hub did not close the connection"),
    }
}

/// Opens a stream that begins with `header` and waits for the hub's verdict.
async fn refused_header(conn: &quinn::Connection, header: [u8; HEADER_BYTES]) -> (u64, String) {
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&header).await.unwrap();
    closed(conn).await
}

#[test]
fn a_stream_of_a_kind_the_hub_does_not_know_is_refused_naming_the_kind() {
    let mut header = [0u8; HEADER_BYTES];
    header[..4].copy_from_slice(&STREAM_MAGIC);
    header[4] = 9;
    header[5] = FORMAT_VERSION;
    let (code, reason) = against_the_hub(|conn| async move { refused_header(&conn, header).await });
    assert_eq!(code, u64::from(STREAM_FAILED), "{reason}");
    assert!(reason.contains("stream kind 9"), "{reason}");
}

#[test]
fn a_stream_in_another_format_version_is_refused_naming_the_version() {
    let mut header = StreamHeader::new(StreamKind::Reconciliation).encode();
    header[5] = FORMAT_VERSION + 1;
    let (code, reason) = against_the_hub(|conn| async move { refused_header(&conn, header).await });
    assert_eq!(code, u64::from(STREAM_FAILED), "{reason}");
    assert!(
        reason.contains(&format!("format version {}", FORMAT_VERSION + 1)),
        "{reason}"
    );
}

#[test]
fn a_stream_without_a_header_is_refused_as_such() {
    // What an espm from before headers sends first: a message, length prefix and all.
    let hello = Message::Hello {
        version: FORMAT_VERSION,
        want: VersionVector::new(),
        offer: Vec::new(),
        has: VersionVector::new(),
        needs: 0,
        credit: 0,
    };
    let (code, reason) = against_the_hub(|conn| async move {
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send_bytes(&mut send, &hello.encode()).await.unwrap();
        closed(&conn).await
    });
    assert_eq!(code, u64::from(STREAM_FAILED), "{reason}");
    assert!(
        reason.contains("does not begin with an espm stream header"),
        "{reason}"
    );
}

/// What the hub answered on a stream of `kind` whose first message is `first`: every
/// message it sent (undecoded), and how it closed the connection.
async fn answers(
    conn: &quinn::Connection,
    kind: StreamKind,
    first: Vec<u8>,
) -> (Vec<Vec<u8>>, (u64, String)) {
    let (mut send, mut recv) = open_stream(conn, kind).await.unwrap();
    send_bytes(&mut send, &first).await.unwrap();
    let mut got = Vec::new();
    while let Ok(Ok(Some(body))) = tokio::time::timeout(PATIENCE, recv_bytes(&mut recv)).await {
        got.push(body);
    }
    (got, closed(conn).await)
}

#[test]
fn a_draft_hello_on_a_sync_stream_is_refused_as_a_protocol_violation_and_never_served() {
    let hello = DraftMessage::DraftHello {
        version: FORMAT_VERSION,
        drafts: Vec::new(),
        more: false,
    };
    let (got, (code, reason)) = against_the_hub(|conn| async move {
        answers(&conn, StreamKind::Reconciliation, hello.encode()).await
    });
    assert!(
        got.iter().all(|b| !matches!(
            DraftMessage::decode(b),
            Ok(DraftMessage::DraftWelcome { .. })
        )),
        "the hub served a draft sync on a sync stream"
    );
    // The Abort, in the sync stream's own language, if it arrived before the close.
    for body in &got {
        match Message::decode(body) {
            Ok(Message::Abort { reason }) => assert!(reason.contains("malformed"), "{reason}"),
            other => panic!("the hub answered with {other:?}"),
        }
    }
    assert_eq!(code, u64::from(STREAM_FAILED), "{reason}");
    assert!(reason.contains("malformed sync message"), "{reason}");
}

#[test]
fn a_sync_hello_on_a_draft_stream_is_refused_as_a_protocol_violation_and_never_served() {
    let hello = Message::Hello {
        version: FORMAT_VERSION,
        want: VersionVector::new(),
        offer: Vec::new(),
        has: VersionVector::new(),
        needs: 0,
        credit: 0,
    };
    let (got, (code, reason)) = against_the_hub(|conn| async move {
        answers(&conn, StreamKind::DraftSync, hello.encode()).await
    });
    for body in &got {
        match DraftMessage::decode(body) {
            Ok(DraftMessage::DraftAbort { .. }) => {}
            other => panic!("the hub answered with {other:?}"),
        }
    }
    assert_eq!(code, u64::from(STREAM_FAILED), "{reason}");
    assert!(reason.contains("malformed"), "{reason}");
}
