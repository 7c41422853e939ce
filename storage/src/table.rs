//! Record tables: named key spaces for the node's indexes, each holding CBOR records.

/// A key space in the store. The node defines the record types; the store keeps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Node configuration and singletons.
    Meta,
    /// Per-document journey records.
    Doc,
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
        }
    }

    pub(crate) fn key(self, key: &str) -> Vec<u8> {
        [self.prefix(), key.as_bytes()].concat()
    }
}
