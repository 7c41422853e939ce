//! The node's index records, kept in the store's tables next to the items they index.

use serde::{Deserialize, Serialize};
use storage::SealedSecret;
use sync_protocol::{
    Address, DeviceRole, DocKind, DocState, Jabatan, NodeId, OperatorRole, Receipt, Timestamp,
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
    /// Where, as the signature item names it (empty in records kept before it was).
    #[serde(default)]
    pub place: String,
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
    /// Signatures over an earlier version, kept to show after an edit: they no longer
    /// match the document.
    #[serde(default)]
    pub superseded: Vec<SigRef>,
}

impl DocRecord {
    /// Moves to `state` and records it.
    pub fn enter(&mut self, state: DocState, at: Timestamp, reason: Option<String>) {
        self.state = state;
        self.history.push(HistoryEntry { state, at, reason });
    }

    /// Whether people see the draft's content rather than the signed snapshot's: while
    /// it is unsigned (a draft, or rejected and being corrected) or was never signed.
    pub fn shows_draft(&self) -> bool {
        self.snapshot.is_none() || matches!(self.state, DocState::Draft | DocState::Rejected)
    }

    /// The document was edited after it was signed: it is a draft again, and the
    /// signatures it had are kept as no longer matching, named in the history.
    pub fn edited_after_signing(&mut self, at: Timestamp) {
        let who: Vec<String> = self
            .signatures
            .iter()
            .map(|s| {
                format!(
                    "{} ({}, certificate {})",
                    s.name,
                    s.jabatan.title(),
                    s.serial
                )
            })
            .collect();
        let reason = match who.as_slice() {
            [] => "edited after signing".to_string(),
            [one] => format!("edited after signing; the signature of {one} no longer matches"),
            many => format!(
                "edited after signing; the signatures of {} no longer match",
                many.join(", ")
            ),
        };
        self.superseded.append(&mut self.signatures);
        self.enter(DocState::Draft, at, Some(reason));
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
    /// When it last connected to the hub (hub only).
    #[serde(default)]
    pub last_seen: Option<Timestamp>,
}

/// An operator on the satker device that made its TOTP secret.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorRecord {
    /// Login name.
    pub username: String,
    /// What the operator submits.
    pub role: OperatorRole,
    /// The TOTP secret (RFC 6238, SHA-1), sealed under a key derived from the node key
    /// (which lives in the owner-only `node.key` file, not in the store), with the
    /// username as associated data.
    pub secret: SealedSecret,
    /// The TOTP time step of the last code accepted for a submission on this node. No
    /// code of that step or an earlier one is accepted again (RFC 6238 §5.2).
    pub last_step: Option<u64>,
    /// The activation request this device queued for the KPPN.
    pub request: Address,
    /// The KPPN's activation, once it arrived; until then the operator is pending.
    pub activation: Option<Address>,
}

/// An operator of a satker as the hub knows it: the latest request for that username,
/// and its activation once the CSO approved it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HubOperatorRecord {
    /// Login name.
    pub username: String,
    /// What the operator submits.
    pub role: OperatorRole,
    /// The satker.
    pub satker: String,
    /// The device that holds the operator's secret and may submit as it.
    pub device: NodeId,
    /// The request item.
    pub request: Address,
    /// The SK Penunjukan reference the request gave.
    pub sk_penunjukan: Option<String>,
    /// The activation item, once approved.
    pub activation: Option<Address>,
}

/// The store key of an operator on the hub: one per satker and username.
pub fn hub_operator_key(satker: &str, username: &str) -> String {
    format!("{satker}/{username}")
}

/// The prefix of every [`hub_operator_key`]: all of the table.
pub const HUB_OPERATOR_PREFIX: &str = "";

/// The store key of an operator activation request on the hub, by request id; the
/// record is the [`hub_operator_key`] it concerns.
pub fn operator_request_key(request_id: &str) -> String {
    request_id.to_string()
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

/// Who waits for one chunk.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Need {
    /// The documents whose attachments list it.
    pub docs: Vec<String>,
    /// On the hub: the submissions whose receipt waits for it.
    pub submissions: Vec<Address>,
}

/// A state change the hub announced for one document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notice {
    /// The state the document entered.
    pub state: DocState,
    /// When, by the hub's clock.
    pub at: Timestamp,
    /// The hub's reason, for a rejection.
    pub reason: Option<String>,
    /// Set by a receipt: when the hub stored the document.
    pub delivered_at: Option<Timestamp>,
}

/// A submission the hub holds whose attachments are not complete yet.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Awaiting {
    /// The receipt to issue. Its time stays when the submission arrived: that is the
    /// moment the hub judged its signatures, and the one auditors judge them by.
    pub receipt: Receipt,
    /// Chunks still missing.
    pub missing: Vec<Address>,
}

/// The stored count for one guarded secret.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attempts {
    /// Attempts begun and not proven right, in a row.
    pub failures: u32,
    /// Locked until then.
    pub locked_until: Option<Timestamp>,
}

/// What a node remembers about one draft and one peer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerDraft {
    /// automerge's sync state as kept between sessions: the heads both sides share.
    #[serde(with = "serde_bytes")]
    pub state: Vec<u8>,
    /// The digest both sides held when last in step, or that the peer refused.
    pub agreed: Option<Address>,
}

/// Every signing policy table a node holds, as (in force from, item), oldest first. A
/// handful at most: only the authority issues them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyIndex(pub Vec<(Timestamp, Address)>);

/// Every field schema table a node holds, as (in force from, item), oldest first; a
/// handful at most, as with [`PolicyIndex`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldSchemaIndex(pub Vec<(Timestamp, Address)>);

/// A revocation this node knows of.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevocationRecord {
    /// The revocation item.
    pub address: Address,
    /// From when.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// The outcome of the syncs of a device with its hub, kept in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// When the last sync that finished did.
    pub last_sync: Option<Timestamp>,
    /// The last sync that failed, if any did: kept after a later success, so a person
    /// can tell a link that fails now and then from one that works.
    pub last_error: Option<SyncError>,
}

/// A sync that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    /// When it failed.
    pub at: Timestamp,
    /// What the person at the terminal was told.
    pub message: String,
}

/// A receipt the hub has not yet proven against a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProofDue {
    /// The receipt item.
    pub receipt: Address,
    /// The submission it receipts: the log entry.
    pub submission: Address,
    /// The submission's log position (its leaf index plus one).
    pub seq: u64,
}

/// A checkpoint, as a node remembers the newest it has seen (or the hub the last it
/// issued).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// The checkpoint item.
    pub address: Address,
    /// Its tree size.
    pub size: u64,
    /// Its root.
    pub root: Address,
}
