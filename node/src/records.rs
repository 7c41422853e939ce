//! The node's index records, kept in the store's tables next to the items they index.

use serde::{Deserialize, Serialize};
use sync_protocol::{
    certificate::Jabatan, document::DocKind, enrollment::DeviceRole, status::DocState, Address,
    Timestamp,
};

/// One step of a document's journey.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The state entered.
    pub state: DocState,
    /// When.
    pub at: Timestamp,
    /// Why, for a rejection.
    pub reason: Option<String>,
}

/// A signature held for a document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SigRef {
    /// The signature item.
    pub address: Address,
    /// Certificate serial.
    pub serial: String,
    /// Role signed in.
    pub jabatan: Jabatan,
    /// Signer's name.
    pub name: String,
    /// When.
    pub at: Timestamp,
}

/// Everything a node knows about one document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DocRecord {
    /// Document id.
    pub doc_id: String,
    /// Kind.
    pub kind: DocKind,
    /// Owning satker.
    pub satker: String,
    /// Current state.
    pub state: DocState,
    /// The journey so far.
    pub history: Vec<HistoryEntry>,
    /// Latest signed snapshot.
    pub snapshot: Option<Address>,
    /// Signatures over `snapshot`.
    pub signatures: Vec<SigRef>,
    /// Submission id, once queued.
    pub submission: Option<String>,
    /// When the hub stored it.
    pub delivered_at: Option<Timestamp>,
}

impl DocRecord {
    /// Moves to `state` and records it.
    pub fn enter(&mut self, state: DocState, at: Timestamp, reason: Option<String>) {
        self.state = state;
        self.history.push(HistoryEntry { state, at, reason });
    }
}

/// A certificate request as the hub or the requesting device tracks it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// The request item.
    pub address: Address,
    /// Requester name.
    pub name: String,
    /// Requested role.
    pub jabatan: Jabatan,
    /// Satker.
    pub satker: String,
    /// Serial once approved.
    pub serial: Option<String>,
}

/// A certificate this node holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertRecord {
    /// The certificate item.
    pub address: Address,
    /// Request id it answers.
    pub request_id: String,
}

/// An enrolled device.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The enrollment item.
    pub address: Address,
    /// Role and scope.
    pub role: DeviceRole,
}

/// An operator of a satker node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorRecord {
    /// Login name.
    pub username: String,
    /// `operator-satker` or `operator-bendahara`.
    pub role: String,
    /// TOTP secret (RFC 6238, SHA-1).
    #[serde(with = "serde_bytes")]
    pub totp_secret: Vec<u8>,
    /// The TOTP time step of the last code accepted for a submission on this node. No
    /// code of that step or an earlier one is accepted again (RFC 6238 §5.2); absent in
    /// stores written before replay protection, which then accept any fresh code once.
    #[serde(default)]
    pub last_step: Option<u64>,
}

/// An item a peer refused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefusalRecord {
    /// Why.
    pub reason: String,
    /// When we learned of it.
    pub at: Timestamp,
    /// The device whose item it was (hub side), as hex.
    pub device: Option<String>,
}

#[cfg(test)]
mod tests {
    use storage::{Store, Table};

    use super::*;

    /// An operator as stores wrote it before replay protection.
    #[derive(Serialize)]
    struct OperatorBeforeReplayProtection {
        username: String,
        role: String,
        #[serde(with = "serde_bytes")]
        totp_secret: Vec<u8>,
    }

    #[test]
    fn an_operator_stored_before_replay_protection_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = OperatorBeforeReplayProtection {
            username: "operator01".into(),
            role: "operator-satker".into(),
            totp_secret: vec![7; 20],
        };
        store
            .write(|t| {
                t.put(Table::Operator, "operator01", &old);
                Ok(())
            })
            .unwrap();
        let rec: OperatorRecord = store.get(Table::Operator, "operator01").unwrap().unwrap();
        assert_eq!(rec.totp_secret, old.totp_secret);
        assert_eq!(rec.last_step, None);
    }
}
