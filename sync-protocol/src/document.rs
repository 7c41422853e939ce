//! Document kinds of PER-10/PB/2018 and the signed snapshot of a draft.

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Address, ProtocolError, Timestamp};

/// The kinds of document a satker delivers to its KPPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    /// SPM, the payment order.
    Spm,
    /// SPM Koreksi, a correction of an SPM.
    SpmKoreksi,
    /// SPM KP, the order refunding overpaid tax (kelebihan pajak).
    SpmKp,
    /// SPM KPBB, the order refunding overpaid land and building tax (PBB).
    SpmKpbb,
    /// SPM KBC, the order refunding overpaid customs and excise (bea dan cukai).
    SpmKbc,
    /// SPM IB, the order paying interest compensation (imbalan bunga).
    SpmIb,
    /// SPM BPHTB, the order refunding land and building acquisition duty (BPHTB).
    SpmBphtb,
    /// A contract (data kontrak) registered with the KPPN.
    Kontrak,
    /// RPD Harian, the daily cash plan.
    RpdHarian,
    /// Data for the payroll (gaji).
    Gaji,
    /// LPJ Bendahara, the treasurer's accountability report.
    LpjBendahara,
}

impl DocKind {
    /// Every kind, in the order of the regulation's list.
    pub const ALL: [DocKind; 11] = [
        DocKind::Spm,
        DocKind::SpmKoreksi,
        DocKind::SpmKp,
        DocKind::SpmKpbb,
        DocKind::SpmKbc,
        DocKind::SpmIb,
        DocKind::SpmBphtb,
        DocKind::Kontrak,
        DocKind::RpdHarian,
        DocKind::Gaji,
        DocKind::LpjBendahara,
    ];

    /// The CLI name (`spm`, `spm-koreksi`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Spm => "spm",
            DocKind::SpmKoreksi => "spm-koreksi",
            DocKind::SpmKp => "spm-kp",
            DocKind::SpmKpbb => "spm-kpbb",
            DocKind::SpmKbc => "spm-kbc",
            DocKind::SpmIb => "spm-ib",
            DocKind::SpmBphtb => "spm-bphtb",
            DocKind::Kontrak => "kontrak",
            DocKind::RpdHarian => "rpd-harian",
            DocKind::Gaji => "gaji",
            DocKind::LpjBendahara => "lpj-bendahara",
        }
    }

    /// Whether the kind counts toward the five-SPM limit of one submission.
    pub fn is_spm(self) -> bool {
        matches!(
            self,
            DocKind::Spm
                | DocKind::SpmKoreksi
                | DocKind::SpmKp
                | DocKind::SpmKpbb
                | DocKind::SpmKbc
                | DocKind::SpmIb
                | DocKind::SpmBphtb
        )
    }

    /// Whether an Operator Bendahara (rather than an Operator Satker) submits it.
    pub fn submitted_by_bendahara(self) -> bool {
        self == DocKind::LpjBendahara
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocKind {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ProtocolError::BadIdentifier {
                what: "document kind",
                text: s.to_string(),
                why: format!(
                    "expected one of {}",
                    DocKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

/// A file attached to a document, named by its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// The file name as the operator gave it.
    pub name: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Addresses of its 64 KiB chunks, in order; signed with the snapshot, so the
    /// receiver knows exactly which chunks to fetch and can verify each one.
    pub chunks: Vec<Address>,
}

impl AttachmentRef {
    /// Checks that the reference describes a file this system takes: a SHA-256, a size
    /// within the limit, and exactly as many chunks as that size is cut into. A chunk
    /// list longer than its file would have the hub wait for chunks that cannot exist.
    pub fn check(&self) -> Result<(), ProtocolError> {
        let bad = |why: String| ProtocolError::BadAttachment {
            name: self.name.chars().take(96).collect(),
            why,
        };
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("its SHA-256 is not 64 hex digits".into()));
        }
        if self.size == 0 || self.size > crate::attachment::MAX_ATTACHMENT_BYTES {
            return Err(bad(format!(
                "its size of {} bytes is outside 1 to {} bytes",
                self.size,
                crate::attachment::MAX_ATTACHMENT_BYTES
            )));
        }
        let expected = crate::attachment::expected_chunks(self.size);
        if self.chunks.len() as u64 != expected {
            return Err(bad(format!(
                "it lists {} chunks, but a file of {} bytes has {expected}",
                self.chunks.len(),
                self.size
            )));
        }
        Ok(())
    }

    /// Whether two references name the same file, whatever chunk list they carry.
    pub fn same_file(&self, other: &AttachmentRef) -> bool {
        self.name == other.name && self.sha256 == other.sha256 && self.size == other.size
    }
}

impl DocumentSnapshot {
    /// Checks every attachment and their number.
    pub fn check_attachments(&self) -> Result<(), ProtocolError> {
        if self.attachments.len() > crate::attachment::MAX_ATTACHMENTS {
            return Err(ProtocolError::BadAttachment {
                name: format!("{} files", self.attachments.len()),
                why: format!(
                    "a document may carry at most {} files",
                    crate::attachment::MAX_ATTACHMENTS
                ),
            });
        }
        self.attachments.iter().try_for_each(AttachmentRef::check)
    }
}

/// The frozen content of a draft at the moment it was signed; what signers sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentSnapshot {
    /// The document's id, stable across edits and snapshots.
    pub doc_id: String,
    /// Its kind.
    pub kind: DocKind,
    /// The satker that owns it.
    pub satker: String,
    /// Field values, sorted by field name.
    pub fields: BTreeMap<String, String>,
    /// Attached files.
    pub attachments: Vec<AttachmentRef>,
    /// For an SPM Koreksi: the doc id of the SPM it corrects.
    pub corrects: Option<String>,
    /// When the snapshot was taken.
    pub taken_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachment::{chunk_addresses, CHUNK_BYTES, MAX_ATTACHMENT_BYTES};

    fn reference(size: usize) -> AttachmentRef {
        let bytes = vec![1u8; size];
        AttachmentRef {
            name: "sk.pdf".into(),
            sha256: "ab".repeat(32),
            size: size as u64,
            chunks: chunk_addresses(&bytes),
        }
    }

    #[test]
    fn a_chunk_list_must_match_the_declared_file_size() {
        assert!(reference(1).check().is_ok());
        assert!(reference(CHUNK_BYTES).check().is_ok());
        assert!(reference(CHUNK_BYTES + 1).check().is_ok());
        let mut padded = reference(CHUNK_BYTES);
        padded.chunks.push(Address([0; 32]));
        let err = padded.check().unwrap_err().to_string();
        assert!(
            err.contains("lists 2 chunks, but a file of 65536 bytes has 1"),
            "{err}"
        );
        let mut short = reference(3 * CHUNK_BYTES);
        short.chunks.pop();
        assert!(short.check().is_err());
    }

    #[test]
    fn an_attachment_beyond_the_size_limit_or_without_a_hash_is_refused() {
        let mut huge = reference(1);
        huge.size = MAX_ATTACHMENT_BYTES + 1;
        assert!(huge.check().unwrap_err().to_string().contains("outside"));
        let mut empty = reference(1);
        empty.size = 0;
        empty.chunks.clear();
        assert!(empty.check().is_err());
        let mut nohash = reference(1);
        nohash.sha256 = "xyz".into();
        assert!(nohash.check().unwrap_err().to_string().contains("SHA-256"));
    }
}
