//! The hub's receipts and status updates applied to a device's document records. They
//! travel ahead of documents on a thin link, so one can arrive for a document this
//! node has not received yet: it waits here and is applied when the document comes.

pub use crate::records::Notice;
use storage::{StoreError, Txn};

use crate::{docs, records::DocRecord, schema::EARLY_NOTICES};

impl Notice {
    fn apply(&self, rec: &mut DocRecord) {
        if let Some(at) = self.delivered_at {
            rec.delivered_at = Some(at);
        }
        rec.enter(self.state, self.at, self.reason.clone());
    }
}

fn early_key(satker: &str, doc_id: &str) -> String {
    format!("{satker}/{doc_id}")
}

/// Applies `notice` to the record of `doc_id` of `satker`, or keeps it until the
/// document arrives.
pub fn note(t: &mut Txn<'_>, satker: &str, doc_id: &str, notice: Notice) -> Result<(), StoreError> {
    match docs::get(t, satker, doc_id)? {
        Some(mut rec) => {
            notice.apply(&mut rec);
            docs::put(t, &rec);
        }
        None => {
            let key = early_key(satker, doc_id);
            let mut waiting: Vec<Notice> = EARLY_NOTICES.get_in(t, &key)?.unwrap_or_default();
            waiting.push(notice);
            EARLY_NOTICES.put(t, &key, &waiting);
        }
    }
    Ok(())
}

/// Applies the notices that arrived before the document, oldest first, to its new record.
pub fn catch_up(t: &mut Txn<'_>, rec: &mut DocRecord) -> Result<(), StoreError> {
    let key = early_key(&rec.satker, &rec.doc_id);
    let Some(mut waiting) = EARLY_NOTICES.get_in(t, &key)? else {
        return Ok(());
    };
    waiting.sort_by_key(|n| n.at);
    for n in &waiting {
        n.apply(rec);
    }
    EARLY_NOTICES.delete(t, &key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use storage::Store;
    use sync_protocol::DocKind;

    use super::*;
    use crate::records::HistoryEntry;
    use sync_protocol::{DocState, Timestamp};

    fn signed(doc_id: &str) -> DocRecord {
        DocRecord {
            doc_id: doc_id.into(),
            kind: DocKind::Spm,
            satker: "123456".into(),
            state: DocState::Signed,
            history: vec![HistoryEntry {
                state: DocState::Signed,
                at: Timestamp(10),
                reason: None,
            }],
            snapshot: None,
            signatures: Vec::new(),
            submission: None,
            delivered_at: None,
            superseded: Vec::new(),
        }
    }

    #[test]
    fn a_receipt_that_overtakes_its_document_is_applied_when_the_document_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let status = Notice {
            state: DocState::Received,
            at: Timestamp(30),
            reason: None,
            delivered_at: None,
        };
        let receipt = Notice {
            state: DocState::Delivered,
            at: Timestamp(20),
            reason: None,
            delivered_at: Some(Timestamp(20)),
        };
        store
            .write(|t| {
                note(t, "123456", "SPM-1", status)?;
                note(t, "123456", "SPM-1", receipt)
            })
            .unwrap();
        assert!(docs::load(&store, "123456", "SPM-1").unwrap().is_none());
        let rec = store
            .write(|t| {
                let mut rec = signed("SPM-1");
                catch_up(t, &mut rec)?;
                docs::put(t, &rec);
                Ok(rec)
            })
            .unwrap();
        let states: Vec<DocState> = rec.history.iter().map(|h| h.state).collect();
        assert_eq!(
            states,
            [DocState::Signed, DocState::Delivered, DocState::Received]
        );
        assert_eq!(rec.delivered_at, Some(Timestamp(20)));
        assert!(crate::schema::EARLY_NOTICES
            .get(&store, &early_key("123456", "SPM-1"))
            .unwrap()
            .is_none());
    }
}
