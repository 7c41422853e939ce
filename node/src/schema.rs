//! The store schema: every table the node keeps, with the record type it holds. Key
//! layouts are documented on each [`storage::Table`]; code reads and writes records only
//! through these, so a table holds one kind of record.

use serde_bytes::ByteBuf;
use storage::{SealedKey, Table, Typed};
use sync_protocol::{Address, PublicKey, Timestamp};

use crate::{
    config::NodeConfig,
    records::{
        Attempts, Awaiting, CertRecord, CheckpointRecord, DeviceRecord, DocRecord,
        FieldSchemaIndex, HubOperatorRecord, Need, Notice, OperatorRecord, PeerDraft, PolicyIndex,
        ProofDue, RefusalRecord, RequestRecord, RevocationRecord,
    },
};

/// Document journey records, `SATKER/DOC_ID`.
pub const DOCS: Typed<DocRecord> = Typed::new(Table::Doc);
/// The satkers holding each document id, `DOC_ID/SATKER`.
pub const DOC_IDS: Typed<()> = Typed::new(Table::DocById);
/// Automerge drafts (their saved bytes), by draft key.
pub const DRAFTS: Typed<ByteBuf> = Typed::new(Table::Draft);
/// The digest of each draft's heads, by draft key.
pub const DRAFT_HEADS: Typed<Address> = Typed::new(Table::DraftHead);
/// Per peer and draft, automerge's sync state and the digest last agreed.
pub const DRAFT_PEERS: Typed<PeerDraft> = Typed::new(Table::DraftPeer);
/// Certificates this node holds, by serial.
pub const CERTS: Typed<CertRecord> = Typed::new(Table::Cert);
/// Certificate requests, by request id.
pub const REQUESTS: Typed<RequestRecord> = Typed::new(Table::Request);
/// Sealed signer keys, by request id.
pub const KEYS: Typed<SealedKey> = Typed::new(Table::Key);
/// A device's operators, by username.
pub const OPERATORS: Typed<OperatorRecord> = Typed::new(Table::Operator);
/// The hub's operators, `SATKER/USERNAME`.
pub const HUB_OPERATORS: Typed<HubOperatorRecord> = Typed::new(Table::HubOperator);
/// The hub operator key each activation request id names.
pub const OPERATOR_REQUESTS: Typed<String> = Typed::new(Table::OperatorRequest);
/// Enrolled devices, by node id (hex).
pub const DEVICES: Typed<DeviceRecord> = Typed::new(Table::Device);
/// Items a peer refused, by address (hex).
pub const REFUSALS: Typed<RefusalRecord> = Typed::new(Table::Refusal);
/// A device's queued submissions, by id.
pub const SUBMISSIONS: Typed<Address> = Typed::new(Table::Submission);
/// Documents taken in after hours, by KPPN local day.
pub const AFTER_HOURS: Typed<u64> = Typed::new(Table::AfterHours);
/// Attachment chunk bytes, by address (hex).
pub const CHUNKS: Typed<ByteBuf> = Typed::new(Table::Chunk);
/// Each attached file's chunk list, by its SHA-256 (hex).
pub const MANIFESTS: Typed<Vec<Address>> = Typed::new(Table::Manifest);
/// Chunks a satker's documents still need, oldest first.
pub const NEEDS: Typed<Need> = Typed::new(Table::Need);
/// Where each need sits, `SATKER/CHUNK_HEX`.
pub const NEED_INDEX: Typed<Timestamp> = Typed::new(Table::NeedIndex);
/// How many chunks each satker's documents need.
pub const NEED_COUNTS: Typed<u64> = Typed::new(Table::NeedCount);
/// Chunks each satker proved to hold (hub only), `SATKER/CHUNK_HEX`.
pub const HELD: Typed<()> = Typed::new(Table::Held);
/// How far the hub acknowledged each of this device's streams.
pub const PEER_ACKED: Typed<u64> = Typed::new(Table::PeerAcked);
/// Notices that arrived before their document, `SATKER/DOC_ID`.
pub const EARLY_NOTICES: Typed<Vec<Notice>> = Typed::new(Table::EarlyNotice);
/// Wrong attempts at each guarded secret.
pub const LOCKOUTS: Typed<Attempts> = Typed::new(Table::Lockout);
/// Submissions waiting for attachment chunks, by address (hex).
pub const AWAITING: Typed<Awaiting> = Typed::new(Table::Awaiting);
/// Revocations this node knows.
pub const REVOCATIONS: Typed<RevocationRecord> = Typed::new(Table::Revocation);
/// The document that first carried each SPM nomor, `SATKER/KIND/YYYY/NOMOR`.
pub const NOMORS: Typed<String> = Typed::new(Table::Nomor);
/// Nomors the hub saw delivered in more than one document, `SATKER/KIND/YYYY/NOMOR`.
pub const NOMOR_DUPLICATES: Typed<Vec<String>> = Typed::new(Table::NomorDuplicate);
/// Items of this device's own stream withdrawn before they left, by address (hex).
pub const WITHDRAWN: Typed<Address> = Typed::new(Table::Withdrawn);

/// The hub's receipts not yet proven against a checkpoint, `SATKER/SEQ`.
pub const PROOFS_DUE: Typed<ProofDue> = Typed::new(Table::ProofDue);
/// The receipt of each delivered document, `SATKER/DOC_ID`.
pub const RECEIPT_OF: Typed<Address> = Typed::new(Table::ReceiptOf);
/// The inclusion proofs item proving each receipt, by receipt address (hex).
pub const PROVEN: Typed<Address> = Typed::new(Table::Proven);

/// The node's configuration.
pub const CONFIG: Single<NodeConfig> = Single::new("config");
/// The hub authority's public key.
pub const AUTHORITY: Single<PublicKey> = Single::new("authority");
/// The hub service key's public key.
pub const SERVICE: Single<PublicKey> = Single::new("service");
/// The KPPN's time zone, as a device learned it.
pub const HUB_TZ: Single<String> = Single::new("hub_tz");
/// An auditor's scope, as its enrollment says.
pub const AUDITOR_SCOPE: Single<Vec<String>> = Single::new("scope");
/// The hub's own identity item.
pub const HUB_IDENTITY: Single<Address> = Single::new("hub_identity");
/// The signing policy tables this node holds.
pub const POLICIES: Single<PolicyIndex> = Single::new("policies");
/// A device's last successful sync and last failed one, for `espm info`.
pub const SYNC_RECORD: Single<crate::records::SyncRecord> = Single::new("sync_record");
/// The field schema tables this node holds.
pub const FIELD_SCHEMAS: Single<FieldSchemaIndex> = Single::new("field_schemas");
/// How far a session has read this device's own stream to send it.
pub const SENT: Single<u64> = Single::new("sent");
/// The hub: the last checkpoint it issued.
pub const ISSUED_CHECKPOINT: Single<CheckpointRecord> = Single::new("issued_checkpoint");
/// Every node: the newest checkpoint it has seen.
pub const NEWEST_CHECKPOINT: Single<CheckpointRecord> = Single::new("newest_checkpoint");

/// One named value among the node's singletons (Table::Meta).
pub struct Single<V> {
    name: &'static str,
    table: Typed<V>,
}

impl<V: serde::Serialize + serde::de::DeserializeOwned> Single<V> {
    const fn new(name: &'static str) -> Single<V> {
        Single {
            name,
            table: Typed::new(Table::Meta),
        }
    }

    /// The value, read outside a write.
    pub fn get(&self, store: &storage::Store) -> Result<Option<V>, storage::StoreError> {
        self.table.get(store, self.name)
    }

    /// The value as the write `t` would leave it.
    pub fn get_in(&self, t: &storage::Txn<'_>) -> Result<Option<V>, storage::StoreError> {
        self.table.get_in(t, self.name)
    }

    /// Sets the value in the write `t`.
    pub fn put(&self, t: &mut storage::Txn<'_>, value: &V) {
        self.table.put(t, self.name, value)
    }
}
