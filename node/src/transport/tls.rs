//! TLS for the QUIC transport. Nodes are identified by their ed25519 keys, not by a PKI:
//! each node presents a self-signed certificate over its own key, the client pins the
//! hub's node id, and the hub admits only clients whose node id it knows.

use std::{
    any::Any,
    sync::Arc,
    time::{Duration, Instant},
};

use ed25519_dalek::{pkcs8::EncodePrivateKey, VerifyingKey};
use quinn::{
    congestion::{Controller, ControllerFactory, ControllerMetrics},
    crypto::rustls::{QuicClientConfig, QuicServerConfig},
};
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{ring, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme,
};
use sync_protocol::{NodeId, PublicKey, SecretKey};
use x509_parser::oid_registry::OID_SIG_ED25519;

use crate::error::{NodeError, Result};

/// The ALPN protocol id of the espm sync protocol, version 1.
pub const ALPN: &[u8] = b"espm/1";

/// The server name clients put in their hello; verification ignores it, since identity is
/// the pinned key, but QUIC needs a syntactically valid name.
pub const SERVER_NAME: &str = "espm-hub";

/// How this node's TLS refuses a hub whose key is not the pinned hub id: as a certificate
/// of an unknown issuer, which rustls sends, and reports here, as the alert unknown_ca.
const NOT_THE_PINNED_HUB: CertificateError = CertificateError::UnknownIssuer;

/// How the hub's TLS refuses a client key it does not admit: as a failed application
/// check, which rustls sends as the alert access_denied. The client tells this refusal
/// from every other failure by that code alone.
const NOT_ADMITTED: CertificateError = CertificateError::ApplicationVerificationFailure;

/// How the hub's TLS refuses a client certificate it cannot read (not ed25519, or
/// malformed): bad_certificate, which no espm client ever earns.
const UNUSABLE: CertificateError = CertificateError::BadEncoding;

/// The QUIC error code of the TLS alert rustls sends for `e`.
fn alert_code(e: CertificateError) -> quinn::TransportErrorCode {
    quinn::TransportErrorCode::crypto(u8::from(AlertDescription::from(e)))
}

/// The code a connection ends with when the hub's TLS refused the client's key.
pub(crate) fn not_admitted_code() -> quinn::TransportErrorCode {
    alert_code(NOT_ADMITTED)
}

/// The code a connection ends with when the client's TLS refused the hub's key.
pub(crate) fn not_the_pinned_hub_code() -> quinn::TransportErrorCode {
    alert_code(NOT_THE_PINNED_HUB)
}

/// How often each side pings a quiet connection, so a live peer's connection stays open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long a connection may hear nothing at all from its peer before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Sync streams a device may have open at once on one connection to the hub.
pub const MAX_CONCURRENT_STREAMS: u32 = 4;

/// Bytes a peer may have in flight on one stream before it waits for us to read: one
/// largest message, so a maximal item crosses without a stall on a fast link.
pub const STREAM_RECEIVE_WINDOW: u32 = 1024 * 1024;

/// Bytes a peer may have in flight on all streams of one connection together (quinn's
/// default is unbounded, leaving only the per-stream windows times the stream count).
/// With our own buffer of at most one message per stream, this is what a peer can make
/// a node hold per connection: about 2 MiB here plus 4 x 1.06 MiB in the streams.
pub const RECEIVE_WINDOW: u32 = 2 * 1024 * 1024;

/// Bytes this side buffers for sending on one connection, unacknowledged (quinn's
/// default is 10 MB); a peer that stops reading cannot make us hold more.
pub const SEND_WINDOW: u64 = 2 * 1024 * 1024;

/// Bytes QUIC may send before its first acknowledgement. The default (about 14 KB)
/// makes a day's batch of documents crawl through slow start, one round trip per
/// doubling, and round trips are what a VSAT or 3G link is short of. 128 KiB carries a
/// typical sync in the first flight; on a link too thin for that burst, loss recovery
/// and congestion control take over after the first round trip. [`MAX_IN_FLIGHT`]
/// bounds it in effect.
pub const INITIAL_WINDOW: u64 = 128 * 1024;

/// Bytes one connection may have in flight at least, whatever the path: the floor of
/// the in-flight cap ([`CappedController`]). The controller is BBR, which does not read
/// the random loss of a 3G or VSAT link as congestion (CUBIC under 5% loss used half of
/// a 256 kbit/s link), but quinn's BBR overestimates a thin, jittery link's bandwidth
/// many times over (650 KB/s on a 32 KB/s link in `bench outage`) and grows its window
/// to 200-400 KiB: it keeps the bottleneck's queue full, so the round trip, the loss
/// timer and the silence after an outage stretch by seconds, and an outage destroys
/// everything queued. So the window is capped at twice what the path really delivered
/// in its last shortest round trip, and never below this floor: three quarters of one
/// session frame, so on a thin link what is in flight when it fails, with the probes
/// QUIC sends into the dead link, stays within the one frame per stream an interruption
/// may cost. A fat long path (a 2 Mbit/s VSAT hop at 600 ms delivers 150 KB per round
/// trip) grows the cap to what it carries; on loopback the cap costs about half of
/// CUBIC's raw stream rate (`bench ceiling`), still many times what a sync's
/// verification and storage can take.
pub const MAX_IN_FLIGHT: u64 = 48 * 1024;

fn provider() -> Arc<CryptoProvider> {
    // The build has exactly one provider compiled in; naming it explicitly avoids the
    // process-default lookup, which panics when no default was installed.
    Arc::new(ring::default_provider())
}

/// Self-signed X.509 certificate over the node's own ed25519 key, with its PKCS#8 key.
pub fn self_signed_cert(
    key: &SecretKey,
) -> Result<(CertificateDer<'static>, PrivatePkcs8KeyDer<'static>)> {
    let doc = key
        .dalek()
        .to_pkcs8_der()
        .map_err(|e| NodeError::Tls(format!("cannot encode the node key as PKCS#8: {e}")))?;
    let pkcs8 = PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|e| {
            NodeError::Tls(format!("cannot load the node key for the certificate: {e}"))
        })?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
        .map_err(|e| NodeError::Tls(format!("cannot build certificate parameters: {e}")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, key.public().to_hex());
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| NodeError::Tls(format!("cannot sign the node certificate: {e}")))?;
    Ok((cert.der().clone(), pkcs8))
}

/// The ed25519 public key inside a certificate, as a node id; an error if it is not ed25519.
pub fn node_id_of_cert(cert: &CertificateDer<'_>) -> Result<NodeId> {
    let (rest, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| NodeError::Tls(format!("the peer certificate is malformed: {e}")))?;
    if !rest.is_empty() {
        return Err(NodeError::Tls(
            "the peer certificate has trailing bytes".into(),
        ));
    }
    let spki = parsed.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        return Err(NodeError::Tls(format!(
            "the peer certificate key is not ed25519 (algorithm {})",
            spki.algorithm.algorithm
        )));
    }
    let bytes: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| NodeError::Tls("the peer certificate's ed25519 key is not 32 bytes".into()))?;
    // A node id must be a valid curve point, or it could never have signed anything.
    VerifyingKey::from_bytes(&bytes).map_err(|_| {
        NodeError::Tls("the peer certificate's ed25519 key is not a valid point".into())
    })?;
    Ok(PublicKey(bytes))
}

fn transport_config() -> Result<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE));
    let mut bbr = quinn::congestion::BbrConfig::default();
    bbr.initial_window(INITIAL_WINDOW);
    t.congestion_controller_factory(Arc::new(Capped {
        inner: Arc::new(bbr),
        cap: MAX_IN_FLIGHT,
    }));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(IDLE_TIMEOUT)
            .map_err(|e| NodeError::Tls(format!("idle timeout: {e}")))?,
    ));
    // Bound what a peer can make quinn buffer: stream data in flight to us, data we
    // send, and unreliable datagrams, which espm never uses (quinn would buffer 1.25 MB
    // of them by default for an application that never reads them).
    t.stream_receive_window(STREAM_RECEIVE_WINDOW.into());
    t.receive_window(RECEIVE_WINDOW.into());
    t.send_window(SEND_WINDOW);
    t.datagram_receive_buffer_size(None);
    t.max_concurrent_uni_streams(0u32.into());
    Ok(t)
}

/// Builds the controllers of `inner` with their window capped at `cap` bytes.
struct Capped<F> {
    inner: Arc<F>,
    cap: u64,
}

impl<F: ControllerFactory + Send + Sync + 'static> ControllerFactory for Capped<F> {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(CappedController::new(
            self.inner.clone().build(now, current_mtu),
            self.cap,
        ))
    }
}

/// A congestion controller whose window never exceeds twice the bytes the path
/// delivered in its last shortest round trip, nor falls below `cap` for it; everything
/// else is the inner controller's, which keeps its own model of the path. Delivery is
/// what the acknowledgements show arrived, which cannot overestimate a link the way a
/// bandwidth filter fed by bunched-up acks can.
struct CappedController {
    inner: Box<dyn Controller>,
    cap: u64,
    delivered: Delivered,
}

impl CappedController {
    fn new(inner: Box<dyn Controller>, cap: u64) -> Self {
        CappedController {
            inner,
            cap,
            delivered: Delivered::default(),
        }
    }

    /// The window's ceiling now.
    fn ceiling(&self) -> u64 {
        self.cap.max(self.delivered.bytes.saturating_mul(2))
    }
}

/// Bytes acknowledged over the last shortest round trip, with when each arrived.
#[derive(Clone, Default)]
struct Delivered {
    acks: std::collections::VecDeque<(Instant, u64)>,
    bytes: u64,
}

impl Delivered {
    /// `bytes` acknowledged at `now`, on a path whose shortest round trip is `min_rtt`.
    fn record(&mut self, now: Instant, bytes: u64, min_rtt: Duration) {
        self.acks.push_back((now, bytes));
        self.bytes = self.bytes.saturating_add(bytes);
        let since = now.checked_sub(min_rtt).unwrap_or(now);
        while let Some(&(at, b)) = self.acks.front() {
            if at >= since {
                break;
            }
            self.acks.pop_front();
            self.bytes = self.bytes.saturating_sub(b);
        }
    }
}

impl Controller for CappedController {
    fn on_sent(&mut self, now: Instant, bytes: u64, last_packet_number: u64) {
        self.inner.on_sent(now, bytes, last_packet_number);
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &quinn_proto::RttEstimator,
    ) {
        self.inner.on_ack(now, sent, bytes, app_limited, rtt);
        self.delivered.record(now, bytes, rtt.min());
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        largest_packet_num_acked: Option<u64>,
    ) {
        self.inner
            .on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        self.inner
            .on_congestion_event(now, sent, is_persistent_congestion, lost_bytes);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.inner.on_mtu_update(new_mtu);
    }

    fn window(&self) -> u64 {
        self.inner.window().min(self.ceiling())
    }

    fn metrics(&self) -> ControllerMetrics {
        let mut m = self.inner.metrics();
        m.congestion_window = self.window();
        m
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(CappedController {
            inner: self.inner.clone_box(),
            cap: self.cap,
            delivered: self.delivered.clone(),
        })
    }

    fn initial_window(&self) -> u64 {
        self.inner.initial_window().min(self.cap)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A TLS 1.3 client builder that accepts only the hub whose key is `hub_id`.
fn pinned_client(
    hub_id: NodeId,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>> {
    let provider = provider();
    let verifier = Arc::new(PinnedServer {
        hub_id,
        algorithms: provider.signature_verification_algorithms,
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NodeError::Tls(format!("client TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier))
}

/// The TLS half of [`client_config`].
fn client_tls(key: &SecretKey, hub_id: NodeId) -> Result<rustls::ClientConfig> {
    let (cert, pkcs8) = self_signed_cert(key)?;
    let mut tls = pinned_client(hub_id)?
        .with_client_auth_cert(vec![cert], PrivateKeyDer::Pkcs8(pkcs8))
        .map_err(|e| NodeError::Tls(format!("client certificate: {e}")))?;
    // A resumed session would skip the certificate exchange, and with it the pin check.
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    Ok(tls)
}

/// Client config: presents the node's certificate and accepts only the hub whose key is `hub_id`.
pub fn client_config(key: &SecretKey, hub_id: NodeId) -> Result<quinn::ClientConfig> {
    let tls = client_tls(key, hub_id)?;
    let quic = QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| NodeError::Tls(format!("client QUIC crypto: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config()?));
    Ok(config)
}

/// A client that presents no certificate at all, for tests that the hub refuses one.
#[cfg(test)]
pub(crate) fn anonymous_client_config(hub_id: NodeId) -> Result<quinn::ClientConfig> {
    let mut tls = pinned_client(hub_id)?.with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| NodeError::Tls(format!("client QUIC crypto: {e}")))?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

/// Server config: presents the node's certificate and requires a client certificate whose node id `admit` accepts.
pub fn server_config(
    key: &SecretKey,
    admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync>,
) -> Result<quinn::ServerConfig> {
    let (cert, pkcs8) = self_signed_cert(key)?;
    let provider = provider();
    let verifier = Arc::new(AdmittedClient {
        admit,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NodeError::Tls(format!("server TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], PrivateKeyDer::Pkcs8(pkcs8))
        .map_err(|e| NodeError::Tls(format!("server certificate: {e}")))?;
    // Resumption would let a client whose admission was revoked reconnect without
    // presenting its certificate again.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    tls.max_early_data_size = 0;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| NodeError::Tls(format!("server QUIC crypto: {e}")))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let mut transport = transport_config()?;
    transport.max_concurrent_bidi_streams(MAX_CONCURRENT_STREAMS.into());
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The peer's node id on an established connection.
pub fn peer_node_id(conn: &quinn::Connection) -> Result<NodeId> {
    let identity = conn
        .peer_identity()
        .ok_or_else(|| NodeError::Tls("the peer presented no certificate".into()))?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| NodeError::Tls("the peer identity is not a certificate chain".into()))?;
    let first = certs
        .first()
        .ok_or_else(|| NodeError::Tls("the peer presented an empty certificate chain".into()))?;
    node_id_of_cert(first)
}

/// Accepts exactly one server key: the hub's, pinned by the operator.
#[derive(Debug)]
struct PinnedServer {
    hub_id: NodeId,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // Validity dates and names are deliberately ignored: the pinned key is the identity,
        // and offline nodes may have clocks that are far off.
        match node_id_of_cert(end_entity) {
            Ok(id) if id == self.hub_id => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(NOT_THE_PINNED_HUB)),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("espm speaks only TLS 1.3".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // Node keys are ed25519 only; offering more would only widen what a peer may try.
        vec![SignatureScheme::ED25519]
    }
}

/// Accepts a client certificate only if the hub admits its node id.
struct AdmittedClient {
    admit: Arc<dyn Fn(&NodeId) -> bool + Send + Sync>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl std::fmt::Debug for AdmittedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmittedClient").finish_non_exhaustive()
    }
}

impl ClientCertVerifier for AdmittedClient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        match node_id_of_cert(end_entity) {
            Ok(id) if (self.admit)(&id) => Ok(ClientCertVerified::assertion()),
            Ok(id) => {
                tracing::info!(node = %id, "refused a node whose key is not admitted");
                Err(rustls::Error::InvalidCertificate(NOT_ADMITTED))
            }
            Err(e) => {
                tracing::info!(error = %e, "refused a client with an unusable certificate");
                Err(rustls::Error::InvalidCertificate(UNUSABLE))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("espm speaks only TLS 1.3".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod certs_fuzz;
#[cfg(test)]
mod refusals;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_node_key() {
        let key = SecretKey::generate();
        let (cert, _) = self_signed_cert(&key).unwrap();
        assert_eq!(node_id_of_cert(&cert).unwrap(), key.public());
    }

    #[test]
    fn garbage_certificate_is_an_error_not_a_panic() {
        assert!(node_id_of_cert(&CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01])).is_err());
        assert!(node_id_of_cert(&CertificateDer::from(Vec::new())).is_err());
    }

    #[test]
    fn non_ed25519_certificate_is_refused() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        assert!(node_id_of_cert(cert.der()).is_err());
    }

    #[test]
    fn the_two_refusals_travel_as_distinct_tls_alerts() {
        // access_denied and unknown_ca (RFC 8446 §6.2): what a peer sees on the wire.
        assert_eq!(not_admitted_code(), quinn::TransportErrorCode::crypto(49));
        assert_eq!(
            not_the_pinned_hub_code(),
            quinn::TransportErrorCode::crypto(48)
        );
        assert_ne!(alert_code(UNUSABLE), not_admitted_code());
    }

    #[test]
    fn configs_build() {
        let key = SecretKey::generate();
        client_config(&key, SecretKey::generate().public()).unwrap();
        server_config(&key, Arc::new(|_: &NodeId| true)).unwrap();
    }

    #[test]
    fn the_window_never_exceeds_the_cap_and_losses_pass_to_the_controller() {
        let mut bbr = quinn::congestion::BbrConfig::default();
        bbr.initial_window(INITIAL_WINDOW);
        let capped = Arc::new(Capped {
            inner: Arc::new(bbr),
            cap: MAX_IN_FLIGHT,
        });
        let now = Instant::now();
        let mut c = capped.build(now, 1200);
        const { assert!(INITIAL_WINDOW > MAX_IN_FLIGHT) };
        assert_eq!(c.initial_window(), MAX_IN_FLIGHT);
        assert_eq!(c.window(), MAX_IN_FLIGHT);
        assert_eq!(c.metrics().congestion_window, MAX_IN_FLIGHT);
        c.on_sent(now, 1200, 1);
        c.on_congestion_event(now, now, true, 1200);
        c.on_mtu_update(1452);
        assert!(c.window() <= MAX_IN_FLIGHT);
        assert!(c.clone_box().window() <= MAX_IN_FLIGHT);
    }

    #[test]
    fn a_thin_path_keeps_the_floor_and_a_fat_long_one_lifts_the_cap_to_what_it_delivers() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // 256 kbit/s at 300 ms: 32 KB/s, a packet every ~37 ms; 8 packets a round trip.
        let mut thin = CappedController::new(
            Arc::new(quinn::congestion::BbrConfig::default()).build(start, 1200),
            MAX_IN_FLIGHT,
        );
        for i in 0..200 {
            thin.delivered
                .record(at(i * 37), 1200, Duration::from_millis(300));
        }
        assert_eq!(thin.ceiling(), MAX_IN_FLIGHT);
        // A VSAT hop of 2 Mbit/s at 600 ms: 250 KB/s, about 150 KB a round trip.
        let mut fat = CappedController::new(
            Arc::new(quinn::congestion::BbrConfig::default()).build(start, 1200),
            MAX_IN_FLIGHT,
        );
        for i in 0..2000 {
            fat.delivered
                .record(at(i * 5), 1200, Duration::from_millis(600));
        }
        let ceiling = fat.ceiling();
        assert!(ceiling >= 2 * 140_000, "{ceiling}");
        assert!(ceiling <= 2 * 150_000, "{ceiling}");
    }
}
