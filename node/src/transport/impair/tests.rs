//! The relay against real UDP sockets and a real QUIC connection on loopback.

use std::sync::Arc;

use sync_protocol::{Message, NodeId, SecretKey};

use super::*;
use crate::{transport, transport::tls};

/// A relay in front of a UDP echo server, and a client socket connected to the relay.
async fn echo_through(up: Impairment, down: Impairment) -> (Relay, UdpSocket) {
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            let _ = server.send_to(&buf[..n], from).await;
        }
    });
    let relay = Relay::start(server_addr, RelayConfig { up, down, seed: 7 })
        .await
        .unwrap();
    let sock = client(relay.addr()).await;
    (relay, sock)
}

async fn client(to: SocketAddr) -> UdpSocket {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    sock.connect(to).await.unwrap();
    sock
}

/// The next datagram within `wait`, or `None`.
async fn recv_within(sock: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn clean_relay_returns_every_datagram() {
    let (relay, sock) = echo_through(Impairment::none(), Impairment::none()).await;
    for i in 0..100u32 {
        sock.send(&i.to_be_bytes()).await.unwrap();
        let got = recv_within(&sock, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got, i.to_be_bytes());
    }
    let stats = relay.stats();
    assert_eq!((stats.up.forwarded, stats.down.forwarded), (100, 100));
    assert_eq!(stats.up.forwarded_bytes, 400);
    assert_eq!(stats.up.dropped() + stats.down.dropped(), 0);
}

#[tokio::test]
async fn loss_drops_about_its_share() {
    let up = Impairment {
        loss: 0.3,
        ..Impairment::none()
    };
    let (relay, sock) = echo_through(up, Impairment::none()).await;
    let sock = Arc::new(sock);
    // Read while sending, so no echo is lost to a full client socket buffer.
    let reader = sock.clone();
    let count = tokio::spawn(async move {
        let mut received = 0u64;
        while recv_within(&reader, Duration::from_millis(500))
            .await
            .is_some()
        {
            received += 1;
        }
        received
    });
    for i in 0..500u32 {
        sock.send(&i.to_be_bytes()).await.unwrap();
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let received = count.await.unwrap();
    let up = relay.stats().up;
    assert!((100..=200).contains(&up.dropped_loss), "{up:?}");
    assert_eq!(up.dropped_loss, up.dropped());
    assert_eq!(up.dropped_bytes, up.dropped_loss * 4);
    assert_eq!(up.forwarded, 500 - up.dropped_loss);
    assert_eq!(received, up.forwarded);
}

#[tokio::test]
async fn delay_applies_each_way() {
    let slow = Impairment {
        delay: Duration::from_millis(100),
        ..Impairment::none()
    };
    let (_relay, sock) = echo_through(slow.clone(), slow).await;
    let start = std::time::Instant::now();
    sock.send(b"ping").await.unwrap();
    let got = recv_within(&sock, Duration::from_secs(2)).await.unwrap();
    let rtt = start.elapsed();
    assert_eq!(got, b"ping");
    assert!(rtt >= Duration::from_millis(180), "round trip took {rtt:?}");
}

#[tokio::test]
async fn outage_drops_everything_until_restored() {
    let (relay, sock) = echo_through(Impairment::none(), Impairment::none()).await;
    relay.set_link(false);
    for _ in 0..20 {
        sock.send(b"lost").await.unwrap();
    }
    assert!(recv_within(&sock, Duration::from_millis(300))
        .await
        .is_none());
    let up = relay.stats().up;
    assert_eq!((up.dropped_outage, up.forwarded), (20, 0));
    relay.set_link(true);
    sock.send(b"back").await.unwrap();
    let got = recv_within(&sock, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got, b"back");
}

#[tokio::test]
async fn rate_limit_serializes() {
    let up = Impairment {
        rate_bits_per_sec: Some(800_000),
        queue_bytes: 64 << 10,
        ..Impairment::none()
    };
    let (relay, sock) = echo_through(up, Impairment::none()).await;
    let start = std::time::Instant::now();
    for i in 0..50u8 {
        sock.send(&[i; 1000]).await.unwrap();
    }
    for i in 0..50u8 {
        let got = recv_within(&sock, Duration::from_secs(3)).await.unwrap();
        assert_eq!(got, [i; 1000]);
    }
    let last = start.elapsed();
    // 50 datagrams of 1000 bytes at 800 kbit/s serialize for 10 ms each.
    assert!(
        last >= Duration::from_millis(450),
        "last arrived after {last:?}"
    );
    assert_eq!(relay.stats().up.dropped(), 0);
}

#[tokio::test]
async fn full_queue_tail_drops() {
    let up = Impairment {
        rate_bits_per_sec: Some(80_000),
        queue_bytes: 10_000,
        ..Impairment::none()
    };
    let (relay, sock) = echo_through(up, Impairment::none()).await;
    for _ in 0..30 {
        sock.send(&[0; 1000]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Ten fit; the rest arrive while the first is still serializing for 100 ms.
    assert_eq!(relay.stats().up.dropped_queue, 20, "{:?}", relay.stats());
}

#[tokio::test]
async fn replies_follow_a_migrated_client() {
    let (relay, first) = echo_through(Impairment::none(), Impairment::none()).await;
    first.send(b"one").await.unwrap();
    let got = recv_within(&first, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got, b"one");
    let second = client(relay.addr()).await;
    second.send(b"two").await.unwrap();
    let got = recv_within(&second, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got, b"two");
    assert!(recv_within(&first, Duration::from_millis(100))
        .await
        .is_none());
}

/// A QUIC echo hub admitting one client key. The task answers one connection and
/// returns the client addresses it saw, one per message, and how many connections came.
async fn echo_hub() -> (
    SecretKey,
    SecretKey,
    SocketAddr,
    tokio::task::JoinHandle<(Vec<SocketAddr>, usize)>,
) {
    let (client_key, hub_key) = (SecretKey::generate(), SecretKey::generate());
    let admitted = client_key.public();
    let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
        Arc::new(move |id: &NodeId| *id == admitted);
    let config = tls::server_config(&hub_key, admit).unwrap();
    let server = transport::server_endpoint((Ipv4Addr::LOCALHOST, 0).into(), config).unwrap();
    let server_addr = server.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let mut seen = vec![];
        while let Some((msg, _)) = transport::recv_message(&mut recv).await.unwrap() {
            seen.push(conn.remote_address());
            transport::send_message(&mut send, &msg).await.unwrap();
        }
        send.finish().unwrap();
        conn.closed().await;
        // Any further dial would be a reconnection, not a migration.
        let more = tokio::time::timeout(Duration::from_millis(200), server.accept())
            .await
            .is_ok() as usize;
        (seen, 1 + more)
    });
    (client_key, hub_key, server_addr, task)
}

#[tokio::test]
async fn a_client_whose_address_changes_keeps_its_connection() {
    let (client_key, hub_key, server_addr, hub) = echo_hub().await;
    let slow = Impairment {
        delay: Duration::from_millis(20),
        ..Impairment::none()
    };
    let config = RelayConfig {
        up: slow.clone(),
        down: slow,
        seed: 5,
    };
    let relay = Relay::start(server_addr, config).await.unwrap();
    let exchange = async {
        let (endpoint, conn) = transport::connect(
            &client_key,
            hub_key.public(),
            relay.addr(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        for i in 0..6 {
            if i == 3 {
                relay.move_client().await.unwrap();
            }
            let msg = Message::Abort {
                reason: i.to_string().repeat(5000),
            };
            transport::send_message(&mut send, &msg).await.unwrap();
            let (got, _) = transport::recv_message(&mut recv).await.unwrap().unwrap();
            assert_eq!(got, msg);
        }
        send.finish().unwrap();
        assert!(transport::recv_message(&mut recv).await.unwrap().is_none());
        conn.close(0u32.into(), b"done");
        endpoint.close(0u32.into(), b"done");
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap();
    let (seen, connections) = hub.await.unwrap();
    assert_eq!(relay.moves(), 1);
    assert_eq!(connections, 1, "the client had to dial again");
    assert_eq!(seen.len(), 6);
    assert_ne!(seen[0], seen[5], "the hub never saw the client move");
}

#[tokio::test]
async fn quic_works_through_a_bad_link() {
    let (client_key, hub_key, server_addr, _hub) = echo_hub().await;
    let bad = Impairment {
        delay: Duration::from_millis(50),
        jitter: Duration::from_millis(20),
        loss: 0.05,
        rate_bits_per_sec: None,
        queue_bytes: 64 << 10,
    };
    let config = RelayConfig {
        up: bad.clone(),
        down: bad,
        seed: 11,
    };
    let relay = Relay::start(server_addr, config).await.unwrap();
    let exchange = async {
        let (endpoint, conn) = transport::connect(
            &client_key,
            hub_key.public(),
            relay.addr(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        for i in 0..5 {
            // Several datagrams long, so loss and reordering land mid-message.
            let msg = Message::Abort {
                reason: i.to_string().repeat(3000),
            };
            transport::send_message(&mut send, &msg).await.unwrap();
            let (got, _) = transport::recv_message(&mut recv).await.unwrap().unwrap();
            assert_eq!(got, msg);
        }
        send.finish().unwrap();
        assert!(transport::recv_message(&mut recv).await.unwrap().is_none());
        conn.close(0u32.into(), b"done");
        endpoint.close(0u32.into(), b"done");
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap();
    let stats = relay.stats();
    assert!(
        stats.up.forwarded > 0 && stats.down.forwarded > 0,
        "{stats:?}"
    );
}
