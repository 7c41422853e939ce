//! A signer's signature over a document snapshot.

use serde::{Deserialize, Serialize};

use crate::{certificate::Jabatan, Address, Timestamp};

/// A pejabat's signature on one snapshot. The envelope's author is the signer's personal
/// key; the body shows signer, time and place with the document (non-repudiation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSignature {
    /// The document signed.
    pub doc_id: String,
    /// The content address of the exact snapshot signed.
    pub snapshot: Address,
    /// Serial of the certificate the signer signs under.
    pub serial: String,
    /// The role the signer signs in.
    pub jabatan: Jabatan,
    /// Signer's name as on the certificate.
    pub signer_name: String,
    /// When the signature was made (the signing device's clock).
    pub signed_at: Timestamp,
    /// Where: the satker code of the signing device.
    pub place: String,
}
