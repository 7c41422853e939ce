//! Drafts as automerge documents, so edits made on several devices of one satker merge
//! instead of overwriting each other.

use std::collections::BTreeMap;

use automerge::{
    transaction::Transactable, AutoCommit, ObjType, ReadDoc, ScalarValue, Value, ROOT,
};
use sync_protocol::document::{AttachmentRef, DocKind};

use crate::StoreError;

/// An editable draft.
pub struct Draft {
    doc: AutoCommit,
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
}
