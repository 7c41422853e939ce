//! Record tables: named key spaces for the node's indexes, each holding CBOR records.

/// A key space in the store. The node defines the record types; the store keeps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Node configuration and singletons.
    Meta,
    /// Per-document journey records: `SATKER/DOC_ID`. A document id is unique only
    /// within its satker, so a satker can never reach another's record by naming its id.
    Doc,
    /// Which satkers hold a document id: `DOC_ID/SATKER` → `()`, for people who type a
    /// bare id on the hub or an auditor node.
    DocById,
    /// Automerge drafts.
    Draft,
    /// Certificates by serial.
    Cert,
    /// Certificate requests by request id.
    Request,
    /// Sealed signer keys.
    Key,
    /// Operators and their TOTP secrets.
    Operator,
    /// Enrolled devices by node id.
    Device,
    /// Items the peer refused, by content address.
    Refusal,
    /// Submissions by id.
    Submission,
    /// Counters (serials, quotas).
    Counter,
    /// Attachment bytes by SHA-256.
    Blob,
    /// Draft heads digests and per-peer draft sync states.
    DraftSync,
    /// Attachment chunks a satker's documents still need, oldest first:
    /// `SATKER/SINCE_MS_HEX16/CHUNK_HEX` → who waits for it (node::attachments::Need).
    Need,
    /// Where each need sits in [`Table::Need`]: `SATKER/CHUNK_HEX` → its SINCE_MS.
    NeedIndex,
    /// Chunks a satker's devices have proven to hold by sending them (hub only):
    /// `SATKER/CHUNK_HEX` → `()`. The hub keeps each chunk's bytes once, but serves them
    /// to a satker, and counts them as held for it, only once that satker sent them.
    Held,
}

impl Table {
    pub(crate) fn prefix(self) -> &'static [u8] {
        match self {
            Table::Meta => b"m/",
            Table::Doc => b"d/",
            Table::Draft => b"f/",
            Table::Cert => b"c/",
            Table::Request => b"q/",
            Table::Key => b"k/",
            Table::Operator => b"p/",
            Table::Device => b"v/",
            Table::Refusal => b"x/",
            Table::Submission => b"b/",
            Table::Counter => b"n/",
            Table::Blob => b"a/",
            Table::DraftSync => b"g/",
            Table::DocById => b"D/",
            Table::Need => b"w/",
            Table::NeedIndex => b"W/",
            Table::Held => b"H/",
        }
    }

    pub(crate) fn key(self, key: &str) -> Vec<u8> {
        [self.prefix(), key.as_bytes()].concat()
    }
}
