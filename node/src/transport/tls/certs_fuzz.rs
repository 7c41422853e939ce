//! The peer certificate parser is peer input read before any other check: random bytes
//! and mangled real certificates must give an error, never a panic, and only a real
//! ed25519 certificate gives a node id.

use proptest::prelude::*;
use rustls::pki_types::CertificateDer;
use sync_protocol::SecretKey;

use super::{node_id_of_cert, self_signed_cert};

fn real() -> Vec<u8> {
    let key = SecretKey::from_bytes(&[11u8; 32]);
    self_signed_cert(&key)
        .expect("a certificate")
        .0
        .as_ref()
        .to_vec()
}

#[test]
fn a_real_certificate_gives_its_node_id() {
    let key = SecretKey::from_bytes(&[11u8; 32]);
    let der = CertificateDer::from(real());
    assert_eq!(node_id_of_cert(&der).expect("parses"), key.public());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_are_refused_without_a_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = node_id_of_cert(&CertificateDer::from(data));
    }

    #[test]
    fn a_mangled_certificate_is_refused_or_still_names_a_valid_key(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut der = real();
        for (at, byte) in edits {
            let i = at.index(der.len());
            der[i] = byte;
        }
        der.truncate(cut.index(der.len() + 1).max(1));
        if let Ok(id) = node_id_of_cert(&CertificateDer::from(der)) {
            // Whatever parses must be a usable ed25519 key.
            prop_assert!(ed25519_dalek::VerifyingKey::from_bytes(&id.0).is_ok());
        }
    }
}
