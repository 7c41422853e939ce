//! The hub's identity and the devices it enrolls.

use serde::{Deserialize, Serialize};

use crate::{NodeId, PublicKey, Timestamp};

/// Domain under which the hub's node key vouches for its authority key.
pub const AUTHORITY_BINDING_DOMAIN: &[u8] = b"espm/1/authority-binding";

/// The KPPN hub: who it is and which authority key signs for it. The envelope is
/// signed by the authority key; `binding_sig` is the node key's signature over the
/// authority key, so a node that pinned only the hub's node id can check it offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubIdentity {
    /// KPPN code.
    pub kppn: String,
    /// KPPN name.
    pub name: String,
    /// IANA time zone of the KPPN (Asia/Jakarta, Asia/Makassar, Asia/Jayapura).
    pub tz: String,
    /// The hub's node id (TLS identity) that satkers pin.
    pub node_id: NodeId,
    /// The key that signs certificates, enrollments, revocations and operator
    /// activations: the registration authority, sealed under the CSO's passphrase.
    pub authority: PublicKey,
    /// The key that signs receipts and status updates, certified by the authority
    /// (which signs this identity); a serving hub holds it unattended.
    pub service: PublicKey,
    /// The node key's signature over the authority key.
    #[serde(with = "serde_bytes")]
    pub binding_sig: Vec<u8>,
}

impl HubIdentity {
    /// The exact bytes `binding_sig` covers: the binding domain, one zero byte, the
    /// authority key's 32 bytes.
    pub fn binding_message(&self) -> Vec<u8> {
        crate::keys::domain_message(AUTHORITY_BINDING_DOMAIN, &self.authority.0)
    }

    /// Whether the pinned node key vouches for the authority key.
    pub fn binding_holds(&self) -> bool {
        self.node_id.verify(
            AUTHORITY_BINDING_DOMAIN,
            &self.authority.0,
            &self.binding_sig,
        )
    }
}

/// What an enrolled device may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceRole {
    /// A satker's node: authors documents for that satker.
    Satker {
        /// The satker code.
        satker: String,
    },
    /// An auditor's node: reads the listed satker, never writes.
    Auditor {
        /// The satker codes the auditor may read.
        scope: Vec<String>,
    },
}

/// The registration authority's statement that a node key belongs to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEnrollment {
    /// The device's node id.
    pub node_id: NodeId,
    /// Its role and scope.
    pub role: DeviceRole,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
}
