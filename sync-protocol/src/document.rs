//! Document kinds of PER-10/PB/2018 and the signed snapshot of a draft.

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Address, ProtocolError, Timestamp};

/// The kinds of document a satker delivers to its KPPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    Spm,
    SpmKoreksi,
    SpmKp,
    SpmKpbb,
    SpmKbc,
    SpmIb,
    SpmBphtb,
    Kontrak,
    RpdHarian,
    Gaji,
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
    /// Whether two references name the same file, whatever chunk list they carry.
    pub fn same_file(&self, other: &AttachmentRef) -> bool {
        self.name == other.name && self.sha256 == other.sha256 && self.size == other.size
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
