//! What the hub's TLS refuses, over real QUIC on loopback: a client that offers another
//! application protocol than espm/1, or only TLS 1.2, fails the handshake with the TLS
//! alert that names why, and never receives a byte of application data.

use std::{
    any::Any,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
};

use quinn::{
    crypto::{self, ExportKeyingMaterialError, HeaderKey, KeyPair, Keys, PacketKey, Session},
    ConnectError, ConnectionError, ConnectionId, Side, TransportErrorCode,
};
use quinn_proto::{transport_parameters::TransportParameters, TransportError};

use super::*;
use crate::transport::server_endpoint;

/// TLS alert: the server shares no application protocol with the client (RFC 7301 §3.2).
const NO_APPLICATION_PROTOCOL: u8 = 120;

/// TLS alert: the server does not speak any protocol version the client offers
/// (RFC 8446 §6.2).
const PROTOCOL_VERSION: u8 = 70;

/// What the test hub writes on every stream a client opens.
const APPLICATION_DATA: &[u8] = b"espm application data";

/// A hub on loopback with the real server config, admitting only `admitted`'s key, that
/// answers every stream with [`APPLICATION_DATA`].
fn hub(admitted: NodeId) -> (SecretKey, quinn::Endpoint) {
    let hub_key = SecretKey::generate();
    let admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync> =
        Arc::new(move |id: &NodeId| *id == admitted);
    let endpoint = server_endpoint(
        (Ipv4Addr::LOCALHOST, 0).into(),
        server_config(&hub_key, admit).unwrap(),
    )
    .unwrap();
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut send, _recv)) = conn.accept_bi().await {
                    let _ = send.write_all(APPLICATION_DATA).await;
                    let _ = send.finish();
                }
            });
        }
    });
    (hub_key, endpoint)
}

/// Connects with `config`, opens a stream, says hello and reads the answer to its end.
/// A refusal may come at the handshake or at the first read; either way it is the
/// connection error, and `Ok` holds whatever application data arrived.
async fn attempt(config: quinn::ClientConfig, hub: SocketAddr) -> Result<Vec<u8>, ConnectionError> {
    let endpoint = quinn::Endpoint::client((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let exchange = async {
        let conn = endpoint
            .connect_with(config, hub, SERVER_NAME)
            .unwrap()
            .await?;
        let (mut send, mut recv) = conn.open_bi().await?;
        match send.write_all(b"hello").await {
            Err(quinn::WriteError::ConnectionLost(e)) => return Err(e),
            other => other.unwrap(),
        }
        send.finish().unwrap();
        match recv.read_to_end(1024).await {
            Err(quinn::ReadToEndError::Read(quinn::ReadError::ConnectionLost(e))) => Err(e),
            other => Ok(other.unwrap()),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the hub neither answered nor refused within 10 s")
}

/// Checks the hub closed the connection with TLS alert `alert` and sent no data.
fn assert_refused_with_alert(outcome: Result<Vec<u8>, ConnectionError>, alert: u8) {
    match outcome {
        Err(ConnectionError::ConnectionClosed(close)) => assert_eq!(
            close.error_code,
            TransportErrorCode::crypto(alert),
            "the hub refused, but not with TLS alert {alert}: {close}"
        ),
        Err(other) => panic!("expected the hub to refuse with TLS alert {alert}, got: {other}"),
        Ok(data) => panic!("a client the hub must refuse received application data: {data:?}"),
    }
}

/// A QUIC client config from a TLS client config.
fn quic_client(tls: rustls::ClientConfig) -> quinn::ClientConfig {
    let quic = QuicClientConfig::try_from(Arc::new(tls)).unwrap();
    quinn::ClientConfig::new(Arc::new(quic))
}

#[tokio::test]
async fn an_admitted_client_speaking_espm_over_tls13_gets_application_data() {
    // The control for the refusals below: the same hub answers a well-behaved client.
    let client_key = SecretKey::generate();
    let (hub_key, server) = hub(client_key.public());
    let config = client_config(&client_key, hub_key.public()).unwrap();
    let got = attempt(config, server.local_addr().unwrap()).await;
    assert_eq!(got.unwrap(), APPLICATION_DATA);
}

#[tokio::test]
async fn a_client_offering_only_h3_is_refused_for_want_of_a_common_application_protocol() {
    let client_key = SecretKey::generate();
    let (hub_key, server) = hub(client_key.public());
    let mut tls = client_tls(&client_key, hub_key.public()).unwrap();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let outcome = attempt(quic_client(tls), server.local_addr().unwrap()).await;
    assert_refused_with_alert(outcome, NO_APPLICATION_PROTOCOL);
}

#[tokio::test]
async fn a_client_limited_to_tls12_is_refused_for_its_protocol_version() {
    let client_key = SecretKey::generate();
    let (hub_key, server) = hub(client_key.public());
    let tls = client_tls(&client_key, hub_key.public()).unwrap();
    let quic = Arc::new(QuicClientConfig::try_from(Arc::new(tls)).unwrap());
    let config = quinn::ClientConfig::new(Arc::new(Tls12Client(quic)));
    let outcome = attempt(config, server.local_addr().unwrap()).await;
    assert_refused_with_alert(outcome, PROTOCOL_VERSION);
}

/// A QUIC client whose hello reads as a TLS 1.2 client's. rustls speaks only TLS 1.3
/// over QUIC, so its hello is rewritten on the way out: the supported_versions extension
/// becomes a GREASE extension servers must ignore (RFC 8701), and a hello without
/// supported_versions offers TLS 1.2 at most (RFC 8446 §4.2.1).
struct Tls12Client(Arc<QuicClientConfig>);

impl crypto::ClientConfig for Tls12Client {
    fn start_session(
        self: Arc<Self>,
        version: u32,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Box<dyn Session>, ConnectError> {
        let inner = self.0.clone().start_session(version, server_name, params)?;
        Ok(Box::new(Tls12Hello {
            inner,
            hello_sent: false,
        }))
    }
}

/// A GREASE extension type (RFC 8701 §2).
const GREASE_EXTENSION: u16 = 0x0a0a;

/// The supported_versions extension type (RFC 8446 §4.2).
const SUPPORTED_VERSIONS: u16 = 43;

fn be16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
}

/// Turns the supported_versions extension of a ClientHello into a GREASE extension, in
/// place: same length, so no enclosing length changes.
fn hide_supported_versions(hello: &mut [u8]) {
    assert_eq!(
        hello[0], 1,
        "the first handshake message is not a ClientHello"
    );
    assert_eq!(&hello[4..6], &[3, 3], "legacy_version is not TLS 1.2");
    // Handshake header (4), legacy_version (2), random (32).
    let mut at = 38;
    at += 1 + usize::from(hello[at]); // legacy_session_id
    at += 2 + be16(hello, at); // cipher_suites
    at += 1 + usize::from(hello[at]); // legacy_compression_methods
    let end = at + 2 + be16(hello, at);
    at += 2;
    while at < end {
        if be16(hello, at) == usize::from(SUPPORTED_VERSIONS) {
            hello[at..at + 2].copy_from_slice(&GREASE_EXTENSION.to_be_bytes());
            return;
        }
        at += 4 + be16(hello, at + 2);
    }
    panic!("the ClientHello has no supported_versions extension");
}

/// A client session that hides supported_versions in its first handshake message and
/// is otherwise rustls's.
struct Tls12Hello {
    inner: Box<dyn Session>,
    hello_sent: bool,
}

impl Session for Tls12Hello {
    fn initial_keys(&self, dst_cid: &ConnectionId, side: Side) -> Keys {
        self.inner.initial_keys(dst_cid, side)
    }

    fn handshake_data(&self) -> Option<Box<dyn Any>> {
        self.inner.handshake_data()
    }

    fn peer_identity(&self) -> Option<Box<dyn Any>> {
        self.inner.peer_identity()
    }

    fn early_crypto(&self) -> Option<(Box<dyn HeaderKey>, Box<dyn PacketKey>)> {
        self.inner.early_crypto()
    }

    fn early_data_accepted(&self) -> Option<bool> {
        self.inner.early_data_accepted()
    }

    fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking()
    }

    fn read_handshake(&mut self, buf: &[u8]) -> Result<bool, TransportError> {
        self.inner.read_handshake(buf)
    }

    fn transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        self.inner.transport_parameters()
    }

    fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Keys> {
        let start = buf.len();
        let keys = self.inner.write_handshake(buf);
        if !self.hello_sent && buf.len() > start {
            hide_supported_versions(&mut buf[start..]);
            self.hello_sent = true;
        }
        keys
    }

    fn next_1rtt_keys(&mut self) -> Option<KeyPair<Box<dyn PacketKey>>> {
        self.inner.next_1rtt_keys()
    }

    fn is_valid_retry(&self, orig_dst_cid: &ConnectionId, header: &[u8], payload: &[u8]) -> bool {
        self.inner.is_valid_retry(orig_dst_cid, header, payload)
    }

    fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        self.inner.export_keying_material(output, label, context)
    }
}
