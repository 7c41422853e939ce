//! Record tables: one key space per kind of record, each documented with its key
//! layout and the value it holds. The node names each table with its value type in
//! `node/src/schema.rs` ([`crate::Typed`]); the store keeps the bytes.
//!
//! Besides these, the store has its own key spaces for items and streams
//! (`store.rs`: `i/` items by address, `s/` stream logs, `h/` heads, `r/` receive
//! positions), the hub log (`hublog.rs`: `l/` entries, `t/` subtree roots) and the
//! flush watermark (`damage.rs`: `z/`).

/// A key space in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// The node's singletons, one value per name: `config` (NodeConfig), `authority`
    /// and `service` (PublicKey), `hub_tz` (String), `scope` (Vec<String>),
    /// `hub_identity` (Address), `policies` (the signing policy tables held),
    /// `field_schemas` (the field schema tables held),
    /// `format` (u32, this layout's version), `sent` (u64: how far a session has read
    /// a satker device's own stream to send it, so nothing at or before it can be
    /// withdrawn).
    Meta,
    /// Per-document journey records: `SATKER/DOC_ID` → DocRecord. A document id is
    /// unique only within its satker, so a satker can never reach another's record.
    Doc,
    /// Which satkers hold a document id: `DOC_ID/SATKER` → `()`, for people who type a
    /// bare id on the hub or an auditor node.
    DocById,
    /// Automerge drafts: `DOC_ID` on a device, `SATKER/DOC_ID` on the hub → bytes.
    Draft,
    /// The digest of each draft's heads: draft key → Address.
    DraftHead,
    /// What a node remembers of one draft and one peer: `PEER_HEX/DRAFT_KEY` → PeerDraft.
    DraftPeer,
    /// Certificates this node holds: `SERIAL` → CertRecord.
    Cert,
    /// Certificate requests: `REQUEST_ID` → RequestRecord.
    Request,
    /// Signer keys sealed under their passphrase: `REQUEST_ID` → SealedKey.
    Key,
    /// A device's operators: `USERNAME` → OperatorRecord (TOTP secret sealed).
    Operator,
    /// The hub's operators of every satker: `SATKER/USERNAME` → HubOperatorRecord.
    HubOperator,
    /// Where each operator activation request sits: `REQUEST_ID` → the HubOperator key.
    OperatorRequest,
    /// Enrolled devices: `NODE_ID_HEX` → DeviceRecord.
    Device,
    /// Items a peer refused: `ADDRESS_HEX` → RefusalRecord.
    Refusal,
    /// A device's queued submissions: `SUBMISSION_ID` → Address.
    Submission,
    /// Monotonic counters (certificate serials): `NAME` → u64, big-endian, not CBOR.
    Counter,
    /// Documents taken in outside service hours: `YYYY-MM-DD` (KPPN local) → u64.
    AfterHours,
    /// Attachment chunk bytes: `CHUNK_HEX` → bytes.
    Chunk,
    /// Each attached file's chunk list, in order: `SHA256_HEX` → Vec<Address>.
    Manifest,
    /// Attachment chunks a satker's documents still need, oldest first:
    /// `SATKER/SINCE_MS_HEX16/CHUNK_HEX` → Need.
    Need,
    /// Where each need sits in [`Table::Need`]: `SATKER/CHUNK_HEX` → its SINCE time.
    NeedIndex,
    /// How many chunks each satker's documents need: `SATKER` → u64.
    NeedCount,
    /// Chunks a satker's devices have proven to hold by sending them (hub only):
    /// `SATKER/CHUNK_HEX` → `()`. The hub keeps each chunk's bytes once, but serves them
    /// to a satker, and counts them as held for it, only once that satker sent them.
    Held,
    /// How far the hub acknowledged each of a device's streams: `STREAM_KEY_HEX` → u64.
    PeerAcked,
    /// Receipts and status updates that arrived before their document:
    /// `SATKER/DOC_ID` → Vec<Notice>.
    EarlyNotice,
    /// Wrong attempts at a guarded secret: `signer/SERIAL`, `authority` or
    /// `operator/USERNAME` → Attempts.
    Lockout,
    /// Submissions the hub holds whose attachments are incomplete: `SUBMISSION_HEX` →
    /// Awaiting.
    Awaiting,
    /// Revocations this node knows: `device/NODE_HEX`, `cert/SERIAL` or
    /// `operator/ACTIVATION_HEX` → RevocationRecord.
    Revocation,
    /// The nomor of each SPM-kind document submitted (on a satker device) or delivered
    /// (on the hub), per satker, kind and year of its `tanggal`:
    /// `SATKER/KIND/YYYY/NOMOR` → DOC_ID (the first document that carried it).
    Nomor,
    /// Nomors the hub saw delivered in more than one document (hub only), for
    /// `espm monitor`: `SATKER/KIND/YYYY/NOMOR` → Vec<DOC_ID>, first one first.
    NomorDuplicate,
    /// Items of a satker device's own stream withdrawn before they left it, never to be
    /// sent: `ADDRESS_HEX` → Address.
    Withdrawn,
    /// The hub's receipts not yet proven against a checkpoint:
    /// `SATKER/SEQ` (SEQ the receipt's log position, 20 digits) → ProofDue.
    ProofDue,
    /// The receipt of each delivered document: `SATKER/DOC_ID` → Address (the receipt).
    ReceiptOf,
    /// Where each receipt is proven against a checkpoint: `RECEIPT_HEX` → Address (the
    /// inclusion proofs item that holds its proof).
    Proven,
}

impl Table {
    /// Every table, for listings and checks.
    pub const ALL: [Table; 34] = [
        Table::Meta,
        Table::Doc,
        Table::DocById,
        Table::Draft,
        Table::DraftHead,
        Table::DraftPeer,
        Table::Cert,
        Table::Request,
        Table::Key,
        Table::Operator,
        Table::HubOperator,
        Table::OperatorRequest,
        Table::Device,
        Table::Refusal,
        Table::Submission,
        Table::Counter,
        Table::AfterHours,
        Table::Chunk,
        Table::Manifest,
        Table::Need,
        Table::NeedIndex,
        Table::NeedCount,
        Table::Held,
        Table::PeerAcked,
        Table::EarlyNotice,
        Table::Lockout,
        Table::Awaiting,
        Table::Revocation,
        Table::Nomor,
        Table::NomorDuplicate,
        Table::Withdrawn,
        Table::ProofDue,
        Table::ReceiptOf,
        Table::Proven,
    ];

    pub(crate) fn prefix(self) -> &'static [u8] {
        match self {
            Table::Meta => b"m/",
            Table::Doc => b"d/",
            Table::DocById => b"D/",
            Table::Draft => b"f/",
            Table::DraftHead => b"G/",
            Table::DraftPeer => b"g/",
            Table::Cert => b"c/",
            Table::Request => b"q/",
            Table::Key => b"k/",
            Table::Operator => b"p/",
            Table::HubOperator => b"o/",
            Table::OperatorRequest => b"Q/",
            Table::Device => b"v/",
            Table::Refusal => b"x/",
            Table::Submission => b"b/",
            Table::Counter => b"n/",
            Table::AfterHours => b"y/",
            Table::Chunk => b"a/",
            Table::Manifest => b"M/",
            Table::Need => b"w/",
            Table::NeedIndex => b"W/",
            Table::NeedCount => b"N/",
            Table::Held => b"H/",
            Table::PeerAcked => b"K/",
            Table::EarlyNotice => b"E/",
            Table::Lockout => b"L/",
            Table::Awaiting => b"A/",
            Table::Revocation => b"R/",
            Table::Nomor => b"u/",
            Table::NomorDuplicate => b"U/",
            Table::Withdrawn => b"X/",
            Table::ProofDue => b"P/",
            Table::ReceiptOf => b"Y/",
            Table::Proven => b"J/",
        }
    }

    pub(crate) fn key(self, key: &str) -> Vec<u8> {
        [self.prefix(), key.as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_tables_share_a_prefix_nor_one_the_store_keeps_for_itself() {
        let mut seen: Vec<&[u8]> = vec![b"i/", b"s/", b"h/", b"r/", b"l/", b"t/", b"z/"];
        for t in Table::ALL.iter() {
            assert!(!seen.contains(&t.prefix()), "{t:?} reuses a prefix");
            seen.push(t.prefix());
        }
    }
}
