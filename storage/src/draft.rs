//! Drafts as automerge documents, so edits made on several devices of one satker merge
//! instead of overwriting each other. Every sync message from a peer passes the guard
//! (`guard`) before automerge sees it.

use std::{
    collections::BTreeMap,
    panic::{catch_unwind, AssertUnwindSafe},
};

use automerge::{
    sync::{self, SyncDoc},
    transaction::Transactable,
    AutoCommit, ObjType, ReadDoc, ScalarValue, Value, ROOT,
};
use sync_protocol::{Address, AttachmentRef, DocKind, MAX_DRAFT_SYNC_BYTES};

/// automerge's per-peer sync state for one draft.
pub use automerge::sync::State as SyncState;
pub use guard::{check_sync_message, Bound, Limits, Shape};

use crate::StoreError;

#[cfg(test)]
mod craft;
mod guard;

/// The most bytes a draft may take once it holds a peer's changes. A whole copy is what
/// automerge sends a device that has none, so it must fit one sync message with room for
/// the heads and bloom filter beside it; a larger draft could never reach a new device.
pub const MAX_DRAFT_BYTES: usize = MAX_DRAFT_SYNC_BYTES - MAX_DRAFT_SYNC_BYTES / 8;

/// An editable draft.
pub struct Draft {
    doc: AutoCommit,
}

fn heads_digest(mut heads: Vec<automerge::ChangeHash>) -> Address {
    heads.sort();
    let bytes: Vec<u8> = heads.iter().flat_map(|h| h.0).collect();
    Address::of(&bytes)
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Draft(e.to_string())
}

impl Draft {
    /// A new, empty draft of `kind` for `satker`.
    pub fn new(doc_id: &str, kind: DocKind, satker: &str) -> Result<Draft, StoreError> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "doc_id", doc_id).map_err(err)?;
        doc.put(ROOT, "kind", kind.as_str()).map_err(err)?;
        doc.put(ROOT, "satker", satker).map_err(err)?;
        doc.put_object(ROOT, "fields", ObjType::Map).map_err(err)?;
        doc.put_object(ROOT, "attachments", ObjType::Map)
            .map_err(err)?;
        Ok(Draft { doc })
    }

    /// Loads a saved draft.
    pub fn load(bytes: &[u8]) -> Result<Draft, StoreError> {
        Ok(Draft {
            doc: AutoCommit::load(bytes).map_err(err)?,
        })
    }

    /// The bytes to store.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The bytes to store for a draft that took a peer's changes: refused past
    /// [`MAX_DRAFT_BYTES`], so no peer can grow a draft without bound message by message,
    /// and refused unless they load back.
    pub fn save_received(&mut self) -> Result<Vec<u8>, StoreError> {
        let bytes = self.doc.save();
        if bytes.len() > MAX_DRAFT_BYTES {
            return Err(StoreError::DraftLimit {
                bound: Bound::DraftBytes,
                limit: MAX_DRAFT_BYTES as u64,
            });
        }
        // automerge re-encodes every change to save, and a peer's change that is
        // readable but not in automerge's own encoding hashes differently then: the saved
        // draft would not load again, here or anywhere it travels.
        Draft::load(&bytes).map_err(|e| {
            StoreError::Draft(format!(
                "a peer's changes would leave a draft that does not load again ({e}); nothing was kept"
            ))
        })?;
        Ok(bytes)
    }

    /// A document with no changes yet, to receive a draft another device started.
    pub fn empty() -> Draft {
        Draft {
            doc: AutoCommit::new(),
        }
    }

    /// Whether it holds no changes at all.
    pub fn is_empty(&mut self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// A digest of the draft's heads: two copies with the same digest hold the same
    /// changes, so a sync can skip them.
    pub fn digest(&mut self) -> Address {
        heads_digest(self.doc.get_heads())
    }

    /// A digest of the heads `state` says the peer holds, once it has said.
    pub fn peer_digest(state: &SyncState) -> Option<Address> {
        state.their_heads.clone().map(heads_digest)
    }

    /// The next automerge sync message for the peer whose sync state is `state`, encoded.
    pub fn generate_sync_message(
        &mut self,
        state: &mut SyncState,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let doc = &mut self.doc;
        // The state holds what the peer said it has and needs; automerge is not meant to
        // panic on it, but a peer must never be able to take the node down.
        catch_unwind(AssertUnwindSafe(|| {
            doc.sync().generate_sync_message(state).map(|m| m.encode())
        }))
        .map_err(|_| StoreError::Draft("automerge failed while answering a peer".into()))
    }

    /// Applies a peer's encoded sync message once it passed the guard under
    /// [`Limits::PEER`]; returns whether the content changed. On an error the draft and
    /// `state` must be thrown away, not stored.
    pub fn receive_sync_message(
        &mut self,
        state: &mut SyncState,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        let message = sync::Message::decode(bytes)
            .map_err(|e| StoreError::Draft(format!("unreadable sync message: {e}")))?;
        guard::check_message(&message, &Limits::PEER)?;
        let before = self.doc.get_heads();
        let doc = &mut self.doc;
        catch_unwind(AssertUnwindSafe(|| {
            doc.sync().receive_sync_message(state, message)
        }))
        .map_err(|_| StoreError::Draft("automerge failed on a peer's sync message".into()))?
        .map_err(|e| StoreError::Draft(format!("sync message does not apply: {e}")))?;
        Ok(self.doc.get_heads() != before)
    }

    /// A sync state as stored between sessions: only the heads both sides share.
    pub fn encode_sync_state(state: &SyncState) -> Vec<u8> {
        state.encode()
    }

    /// A stored sync state.
    pub fn decode_sync_state(bytes: &[u8]) -> Result<SyncState, StoreError> {
        SyncState::decode(bytes).map_err(|e| StoreError::Corrupt {
            what: "draft sync state".into(),
            detail: e.to_string(),
        })
    }

    /// The document id recorded in the draft.
    pub fn doc_id(&self) -> Result<String, StoreError> {
        self.text(&ROOT, "doc_id")?
            .ok_or_else(|| StoreError::Draft("draft has no doc_id".into()))
    }

    fn text(&self, obj: &automerge::ObjId, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .doc
            .get(obj, key)
            .map_err(err)?
            .and_then(|(v, _)| v.to_str().map(str::to_string)))
    }

    fn map(&self, key: &str) -> Result<automerge::ObjId, StoreError> {
        match self.doc.get(ROOT, key).map_err(err)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(StoreError::Draft(format!("draft has no '{key}' map"))),
        }
    }

    /// The document kind.
    pub fn kind(&self) -> Result<DocKind, StoreError> {
        let k = self
            .text(&ROOT, "kind")?
            .ok_or_else(|| StoreError::Draft("draft has no kind".into()))?;
        Ok(k.parse()?)
    }

    /// The satker code.
    pub fn satker(&self) -> Result<String, StoreError> {
        self.text(&ROOT, "satker")?
            .ok_or_else(|| StoreError::Draft("draft has no satker".into()))
    }

    /// Sets a field.
    pub fn set_field(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        let fields = self.map("fields")?;
        self.doc.put(&fields, name, value).map_err(err)
    }

    /// Removes a field; returns whether it was there.
    pub fn unset_field(&mut self, name: &str) -> Result<bool, StoreError> {
        let fields = self.map("fields")?;
        if self.doc.get(&fields, name).map_err(err)?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&fields, name).map_err(err)?;
        Ok(true)
    }

    /// All fields, sorted by name.
    pub fn fields(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let fields = self.map("fields")?;
        let mut out = BTreeMap::new();
        for k in self.doc.keys(&fields) {
            if let Some(v) = self.text(&fields, &k)? {
                out.insert(k, v);
            }
        }
        Ok(out)
    }

    /// Records an attachment (the bytes are stored separately, by hash).
    pub fn add_attachment(&mut self, a: &AttachmentRef) -> Result<(), StoreError> {
        let atts = self.map("attachments")?;
        let entry = self
            .doc
            .put_object(&atts, a.sha256.as_str(), ObjType::Map)
            .map_err(err)?;
        self.doc.put(&entry, "name", a.name.as_str()).map_err(err)?;
        self.doc
            .put(&entry, "size", ScalarValue::Uint(a.size))
            .map_err(err)?;
        Ok(())
    }

    /// Removes the attachment with SHA-256 `sha`; returns whether it was there.
    pub fn remove_attachment(&mut self, sha: &str) -> Result<bool, StoreError> {
        let atts = self.map("attachments")?;
        if self.doc.get(&atts, sha).map_err(err)?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&atts, sha).map_err(err)?;
        Ok(true)
    }

    /// Attachments, sorted by hash.
    pub fn attachments(&self) -> Result<Vec<AttachmentRef>, StoreError> {
        let atts = self.map("attachments")?;
        let mut out = Vec::new();
        for sha in self.doc.keys(&atts) {
            let Some((Value::Object(ObjType::Map), entry)) =
                self.doc.get(&atts, sha.as_str()).map_err(err)?
            else {
                continue;
            };
            let name = self.text(&entry, "name")?.unwrap_or_default();
            let size = match self.doc.get(&entry, "size").map_err(err)? {
                Some((Value::Scalar(s), _)) => match s.as_ref() {
                    ScalarValue::Uint(n) => *n,
                    ScalarValue::Int(n) => *n as u64,
                    _ => 0,
                },
                _ => 0,
            };
            // The chunk list lives with the stored file, not in the draft: it is
            // derived data, filled in when the snapshot is signed.
            out.push(AttachmentRef {
                name,
                sha256: sha,
                size,
                chunks: Vec::new(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_fields_survive_save_and_load() {
        let mut d = Draft::new("d1", DocKind::Spm, "123456").unwrap();
        d.set_field("nilai", "1500000").unwrap();
        d.set_field("uraian", "Belanja ATK").unwrap();
        d.set_field("nilai", "2500000").unwrap();
        d.add_attachment(&AttachmentRef {
            name: "a.pdf".into(),
            sha256: "ab".into(),
            size: 3,
            chunks: vec![],
        })
        .unwrap();
        let bytes = d.save();
        let d = Draft::load(&bytes).unwrap();
        assert_eq!(d.kind().unwrap(), DocKind::Spm);
        assert_eq!(d.fields().unwrap()["nilai"], "2500000");
        assert_eq!(d.attachments().unwrap()[0].size, 3);
    }

    #[test]
    fn unset_fields_and_removed_attachments_are_gone_and_absent_ones_are_reported() {
        let mut d = Draft::new("d1", DocKind::Spm, "123456").unwrap();
        d.set_field("nilai", "1500000").unwrap();
        d.set_field("uraian", "Belanja ATK").unwrap();
        d.add_attachment(&AttachmentRef {
            name: "a.pdf".into(),
            sha256: "ab".into(),
            size: 3,
            chunks: vec![],
        })
        .unwrap();
        assert!(d.unset_field("uraian").unwrap());
        assert!(!d.unset_field("uraian").unwrap());
        assert!(d.remove_attachment("ab").unwrap());
        assert!(!d.remove_attachment("ab").unwrap());
        let d = Draft::load(&d.save()).unwrap();
        assert_eq!(d.fields().unwrap().keys().collect::<Vec<_>>(), ["nilai"]);
        assert!(d.attachments().unwrap().is_empty());
    }

    /// Runs automerge's sync between two drafts until neither has anything to say.
    fn sync_pair(a: &mut Draft, b: &mut Draft) -> usize {
        let (mut sa, mut sb) = (SyncState::new(), SyncState::new());
        let mut messages = 0;
        loop {
            let ab = a.generate_sync_message(&mut sa).unwrap();
            if let Some(m) = &ab {
                b.receive_sync_message(&mut sb, m).unwrap();
                messages += 1;
            }
            let ba = b.generate_sync_message(&mut sb).unwrap();
            if let Some(m) = &ba {
                a.receive_sync_message(&mut sa, m).unwrap();
                messages += 1;
            }
            if ab.is_none() && ba.is_none() {
                return messages;
            }
        }
    }

    #[test]
    fn concurrent_edits_on_two_copies_merge_through_sync_messages() {
        let mut a = Draft::new("d1", DocKind::Spm, "123456").unwrap();
        a.set_field("nomor", "1").unwrap();
        let mut b = Draft::empty();
        assert!(b.is_empty());
        sync_pair(&mut a, &mut b);
        assert_eq!(b.doc_id().unwrap(), "d1");
        assert_eq!(b.satker().unwrap(), "123456");
        a.set_field("nilai", "5").unwrap();
        b.set_field("uraian", "ATK").unwrap();
        assert_ne!(a.digest(), b.digest());
        sync_pair(&mut a, &mut b);
        assert_eq!(a.fields().unwrap(), b.fields().unwrap());
        assert_eq!(a.fields().unwrap().len(), 3);
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn garbage_sync_messages_are_errors_not_panics() {
        let mut d = Draft::new("d1", DocKind::Spm, "123456").unwrap();
        let mut state = SyncState::new();
        for junk in [&b""[..], &[0x42], &[0x42, 0xff, 0xff, 0xff], &[0x43; 64]] {
            assert!(d.receive_sync_message(&mut state, junk).is_err());
        }
        assert!(Draft::decode_sync_state(&[0x01, 0x02]).is_err());
        let kept = Draft::encode_sync_state(&SyncState::new());
        assert!(Draft::decode_sync_state(&kept).is_ok());
    }
}
