//! Hostile enrolled devices against a real hub: its own store in a temporary directory,
//! real QUIC on loopback, and the production accept loop and connection handler.

use std::{net::Ipv4Addr, net::SocketAddr, sync::Arc, time::Duration};

use sync_protocol::{
    Message, NodeId, SecretKey, StreamKind, VersionVector, FORMAT_VERSION, MAX_ITEM_BYTES,
    MAX_MESSAGE_BYTES,
};

use super::*;
use crate::{
    cli::run::{self as commands, Secrets},
    cli::{Command, Devices, EnrollArgs, Init},
    error::NodeError,
    node::Node,
    transport::tls,
    transport::{self, recv_message, send_message},
};

/// How long a test waits for something the hub should do at once or within a deadline
/// set to a second or two; generous, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(15);

/// A hub answering on loopback within `limits`, through the production accept loop.
struct TestHub {
    node: Arc<Node>,
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
    _dir: tempfile::TempDir,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"test done");
    }
}

impl TestHub {
    async fn start(limits: HubLimits) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        commands::init(
            dir.path(),
            &Init::Hub {
                kppn: "019".into(),
                name: "KPPN Test".into(),
                tz: "Asia/Jakarta".into(),
                listen: "127.0.0.1:0".into(),
                service_hours: "08:00-15:00".into(),
                after_hours_quota: 0,
                attachment_expiry: "14d".into(),
            },
            Some(crate::testkit::CSO),
        )
        .unwrap();
        let node = Arc::new(Node::open(dir.path()).unwrap());
        let admit_node = node.clone();
        let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
            Arc::new(move |id: &NodeId| crate::hub::admit::device(&admit_node, id).is_some());
        let endpoint = transport::server_endpoint(
            (Ipv4Addr::LOCALHOST, 0).into(),
            tls::server_config(&node.key, admit).unwrap(),
        )
        .unwrap();
        let addr = endpoint.local_addr().unwrap();
        tokio::spawn(crate::hub::admit::accept_loop(
            endpoint.clone(),
            node.clone(),
            limits,
        ));
        TestHub {
            node,
            addr,
            endpoint,
            _dir: dir,
        }
    }

    /// A new device key, enrolled for a satker as `espm enroll` does.
    async fn device(&self) -> SecretKey {
        let key = SecretKey::generate();
        commands::execute(
            self.node.clone(),
            Command::Enroll(EnrollArgs {
                node_id: key.public().to_hex(),
                satker: Some("100001".into()),
                auditor: false,
                scope: Vec::new(),
            }),
            &Secrets {
                passphrase: Some(zeroize::Zeroizing::new(crate::testkit::CSO.to_string())),
                ..Secrets::default()
            },
            false,
        )
        .await
        .unwrap();
        key
    }

    async fn connect(&self, key: &SecretKey) -> crate::error::Result<Client> {
        let (endpoint, conn) =
            transport::connect(key, self.node.node_id(), self.addr, PATIENCE).await?;
        Ok(Client {
            _endpoint: endpoint,
            conn,
        })
    }
}

/// One device connection; its endpoint lives as long as it does.
struct Client {
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
}

fn hello() -> Message {
    Message::Hello {
        version: FORMAT_VERSION,
        want: VersionVector::new(),
        offer: Vec::new(),
        has: VersionVector::new(),
        needs: 0,
        credit: 0,
    }
}

impl Client {
    /// Opens a stream whose header says it carries a reconciliation session.
    async fn open_sync_stream(&self) -> (quinn::SendStream, quinn::RecvStream) {
        transport::open_stream(&self.conn, StreamKind::Reconciliation)
            .await
            .unwrap()
    }

    /// Opens a session and has the hub answer its Hello: the connection is being served.
    async fn opens_a_session(&self) -> (quinn::SendStream, quinn::RecvStream) {
        let (mut send, mut recv) = self.open_sync_stream().await;
        send_message(&mut send, &hello()).await.unwrap();
        let answer = tokio::time::timeout(PATIENCE, recv_message(&mut recv))
            .await
            .expect("the hub answered the Hello in time")
            .unwrap();
        assert!(
            matches!(answer, Some((Message::Hello { .. }, _))),
            "{answer:?}"
        );
        (send, recv)
    }

    /// The code and reason the hub closed the connection with, waiting up to `wait`.
    async fn closed_within(&self, wait: Duration) -> Option<(u64, String)> {
        let e = tokio::time::timeout(wait, self.conn.closed()).await.ok()?;
        match e {
            quinn::ConnectionError::ApplicationClosed(c) => Some((
                c.error_code.into_inner(),
                String::from_utf8_lossy(&c.reason).into_owned(),
            )),
            other => Some((u64::MAX, other.to_string())),
        }
    }
}

fn limits() -> HubLimits {
    HubLimits::default()
}

#[tokio::test]
async fn a_third_connection_from_one_device_is_closed_naming_the_limit_and_two_work() {
    let hub = TestHub::start(limits()).await;
    let key = hub.device().await;
    let first = hub.connect(&key).await.unwrap();
    let _a = first.opens_a_session().await;
    let second = hub.connect(&key).await.unwrap();
    let _b = second.opens_a_session().await;
    let third = hub.connect(&key).await.unwrap();
    let (code, reason) = third
        .closed_within(PATIENCE)
        .await
        .expect("the hub closed the third connection");
    assert_eq!(code, u64::from(OVER_LIMIT), "{reason}");
    assert!(
        reason.contains("already holds 2 connections"),
        "the reason names the limit: {reason}"
    );
    // The two it kept still work.
    let _c = first.opens_a_session().await;
    let _d = second.opens_a_session().await;
    assert_eq!(hub.node.live.count(&key.public()), 2);
    // A connection that ends gives its place back.
    first.conn.close(0u32.into(), b"done");
    let mut replaced = None;
    for _ in 0..50 {
        let again = hub.connect(&key).await.unwrap();
        if again
            .closed_within(Duration::from_millis(300))
            .await
            .is_none()
        {
            replaced = Some(again);
            break;
        }
    }
    let replaced = replaced.expect("a new connection took the place of the closed one");
    let _e = replaced.opens_a_session().await;
}

#[tokio::test]
async fn beyond_the_total_connection_limit_a_connection_is_refused() {
    let hub = TestHub::start(HubLimits {
        connections: 2,
        ..limits()
    })
    .await;
    let (k1, k2, k3) = (hub.device().await, hub.device().await, hub.device().await);
    let one = hub.connect(&k1).await.unwrap();
    let _a = one.opens_a_session().await;
    let two = hub.connect(&k2).await.unwrap();
    let _b = two.opens_a_session().await;
    match hub.connect(&k3).await {
        Err(NodeError::Unreachable { detail, .. }) => {
            assert!(detail.contains("busy"), "{detail}")
        }
        Err(other) => panic!("refused, but not as busy: {other}"),
        Ok(three) => {
            let closed = three.closed_within(Duration::from_secs(2)).await;
            panic!("a third connection was served beyond the limit of 2 (closed: {closed:?})")
        }
    }
    // Once one ends, its place is free again: the count does not leak.
    one.conn.close(0u32.into(), b"done");
    let mut served = false;
    for _ in 0..50 {
        if let Ok(three) = hub.connect(&k3).await {
            let _c = three.opens_a_session().await;
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "no connection was admitted after one ended");
}

#[tokio::test]
async fn a_message_announced_one_byte_over_the_limit_closes_the_connection_naming_the_limit() {
    // What one frame needs, one maximal item and room around it, and not 8 MiB: a hub
    // buffers up to this much for every stream a device opens.
    let needed = MAX_ITEM_BYTES + 64 * 1024;
    let hub = TestHub::start(limits()).await;
    let key = hub.device().await;
    let client = hub.connect(&key).await.unwrap();
    let (mut send, _recv) = client.open_sync_stream().await;
    let len = u32::try_from(needed + 1).unwrap();
    send.write_all(&len.to_be_bytes()).await.unwrap();
    let (code, reason) = client
        .closed_within(PATIENCE)
        .await
        .expect("the hub closed the connection");
    assert_eq!(code, 2, "{reason}");
    assert!(
        reason.contains(&format!("{} bytes", needed + 1))
            && reason.contains(&format!("limit of {MAX_MESSAGE_BYTES} bytes")),
        "the reason names the message and the limit: {reason}"
    );
}

/// Limits with a one-second `which` deadline and every other one long.
fn short(which: &str) -> HubLimits {
    let long = Duration::from_secs(60);
    let second = Duration::from_secs(1);
    let pick = |name: &str| if name == which { second } else { long };
    HubLimits {
        deadlines: Deadlines {
            message: pick("message"),
            wait: pick("wait"),
        },
        session: pick("session"),
        ..limits()
    }
}

#[tokio::test]
async fn a_message_trickling_in_slower_than_the_deadline_ends_the_connection_with_the_deadline_reason(
) {
    let hub = TestHub::start(short("message")).await;
    let key = hub.device().await;
    let client = hub.connect(&key).await.unwrap();
    let (mut send, _recv) = client.open_sync_stream().await;
    send.write_all(&1000u32.to_be_bytes()).await.unwrap();
    // A byte every 100 ms: always something new well within the wait deadline, but the
    // whole message would take 100 s.
    let trickle = async {
        for _ in 0..1000 {
            if send.write_all(&[0u8]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let closed = tokio::select! {
        closed = client.closed_within(PATIENCE) => closed,
        _ = trickle => None,
    };
    let (code, reason) = closed.expect("the hub ended the connection");
    assert_eq!(code, 2, "{reason}");
    assert!(
        reason.contains("took more than 1 s, the most this side allows for one message"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_peer_that_opens_a_stream_and_sends_nothing_is_dropped_after_the_deadline() {
    let hub = TestHub::start(short("wait")).await;
    let key = hub.device().await;
    let client = hub.connect(&key).await.unwrap();
    let (_send, _recv) = client.conn.open_bi().await.unwrap();
    let (code, reason) = client
        .closed_within(PATIENCE)
        .await
        .expect("the hub dropped the connection");
    assert_eq!(code, u64::from(DEADLINE_PASSED), "{reason}");
    assert!(reason.contains("for 1 s"), "{reason}");
}

#[tokio::test]
async fn a_device_that_goes_quiet_in_the_middle_of_a_session_is_dropped_after_the_deadline() {
    let hub = TestHub::start(short("wait")).await;
    let key = hub.device().await;
    let client = hub.connect(&key).await.unwrap();
    // The hub answered, and now waits for the device's next message, which never comes.
    let _session = client.opens_a_session().await;
    let (code, reason) = client
        .closed_within(PATIENCE)
        .await
        .expect("the hub dropped the connection");
    assert_eq!(code, 2, "{reason}");
    assert!(
        reason.contains("sent nothing for 1 s, the longest this side waits"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_session_longer_than_the_session_deadline_is_ended() {
    let hub = TestHub::start(short("session")).await;
    let key = hub.device().await;
    let client = hub.connect(&key).await.unwrap();
    let (mut send, mut recv) = client.opens_a_session().await;
    // Busy the whole time: a Hello every 100 ms, each answered, so only the length of
    // the session can end it.
    let busy = async {
        loop {
            if send_message(&mut send, &hello()).await.is_err() {
                break;
            }
            if !matches!(recv_message(&mut recv).await, Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let closed = tokio::select! {
        closed = client.closed_within(PATIENCE) => closed,
        _ = busy => client.closed_within(Duration::from_secs(1)).await,
    };
    let (code, reason) = closed.expect("the hub ended the session");
    assert_eq!(code, u64::from(DEADLINE_PASSED), "{reason}");
    assert!(
        reason.contains("after 1 s (its session deadline)"),
        "{reason}"
    );
}

#[tokio::test]
async fn revoking_a_device_closes_its_live_connection_within_a_second() {
    let hub = TestHub::start(limits()).await;
    let key = hub.device().await;
    let client = hub.connect(&key).await.unwrap();
    // Mid-session, so nothing but the revocation would end it.
    let _session = client.opens_a_session().await;
    commands::execute(
        hub.node.clone(),
        Command::Devices(crate::cli::DevicesArgs {
            action: Some(Devices::Revoke {
                node_id: key.public().to_hex(),
                reason: "laptop stolen".into(),
            }),
        }),
        &Secrets {
            passphrase: Some(zeroize::Zeroizing::new(crate::testkit::CSO.to_string())),
            ..Secrets::default()
        },
        false,
    )
    .await
    .unwrap();
    let (code, reason) = client
        .closed_within(Duration::from_secs(1))
        .await
        .expect("the revoked device's connection was closed within a second");
    assert_eq!(code, u64::from(NOT_ADMITTED), "{reason}");
    assert_eq!(reason, REVOKED_REASON);
    assert_eq!(hub.node.live.count(&key.public()), 0);
}
