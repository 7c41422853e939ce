//! One submission ("Dokumen Elektronik SPM"): the signed documents an operator queues
//! for the KPPN in one go.

use serde::{Deserialize, Serialize};

use crate::{document::DocKind, Address, ProtocolError, Timestamp};

/// The regulation's limit on SPM in one submission.
pub const MAX_SPM_PER_SUBMISSION: usize = 5;

/// One document in a submission, with the signatures that make it valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedDoc {
    /// The document id.
    pub doc_id: String,
    /// Its kind.
    pub kind: DocKind,
    /// The snapshot delivered.
    pub snapshot: Address,
    /// The signature items over that snapshot.
    pub signatures: Vec<Address>,
}

/// A batch of signed documents queued by an operator. The envelope is signed by the
/// satker device's node key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// A random id, printed to the operator.
    pub submission_id: String,
    /// The satker submitting.
    pub satker: String,
    /// The operator's username (who passed the TOTP check).
    pub operator: String,
    /// The documents.
    pub documents: Vec<SubmittedDoc>,
    /// When it was queued.
    pub submitted_at: Timestamp,
}

impl Submission {
    /// Checks the limits of the regulation on one submission.
    pub fn check_limits(&self) -> Result<(), ProtocolError> {
        if self.documents.is_empty() {
            return Err(ProtocolError::SubmissionLimit(
                "a submission must hold at least one document".into(),
            ));
        }
        let spm = self.documents.iter().filter(|d| d.kind.is_spm()).count();
        if spm > MAX_SPM_PER_SUBMISSION {
            return Err(ProtocolError::SubmissionLimit(format!(
                "one submission holds at most {MAX_SPM_PER_SUBMISSION} SPM; this one has {spm}. Split it into several submissions"
            )));
        }
        let mut ids: Vec<&str> = self.documents.iter().map(|d| d.doc_id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(ProtocolError::SubmissionLimit(
                "a document appears twice in one submission".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: usize, kind: DocKind) -> SubmittedDoc {
        SubmittedDoc {
            doc_id: format!("d{i}"),
            kind,
            snapshot: Address([i as u8; 32]),
            signatures: vec![],
        }
    }

    fn submission(docs: Vec<SubmittedDoc>) -> Submission {
        Submission {
            submission_id: "s".into(),
            satker: "123456".into(),
            operator: "operator1".into(),
            documents: docs,
            submitted_at: Timestamp(0),
        }
    }

    #[test]
    fn five_spm_in_one_submission_are_accepted() {
        let s = submission((0..5).map(|i| doc(i, DocKind::Spm)).collect());
        assert!(s.check_limits().is_ok());
    }

    #[test]
    fn sixth_spm_in_one_submission_is_refused() {
        let mut docs: Vec<_> = (0..5).map(|i| doc(i, DocKind::Spm)).collect();
        docs.push(doc(5, DocKind::SpmKoreksi));
        let err = submission(docs).check_limits().unwrap_err();
        assert!(err.to_string().contains("at most 5 SPM"), "{err}");
    }

    #[test]
    fn non_spm_documents_do_not_count_toward_the_limit() {
        let mut docs: Vec<_> = (0..5).map(|i| doc(i, DocKind::Spm)).collect();
        docs.push(doc(5, DocKind::Kontrak));
        assert!(submission(docs).check_limits().is_ok());
    }
}
