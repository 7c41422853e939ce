//! `proof` and `check-proof` as the CLI prints them; a proof that does not hold makes
//! `check-proof` exit 1.

use serde_json::json;

use super::Render;
use crate::proof::{Checked, Written};

impl Render for Written {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id, "file": self.file.display().to_string() })
    }

    fn text(&self) -> String {
        format!(
            "Delivery proof of {} written to {}. Anyone can check it offline with \
             `espm check-proof {} --hub-id HUB_ID`.",
            self.doc_id,
            self.file.display(),
            self.file.display()
        )
    }

    fn answer(&self) -> String {
        self.file.display().to_string()
    }
}

impl Render for Checked {
    fn json(&self) -> serde_json::Value {
        let checkpoint = self.checkpoint.as_ref().map(|c| {
            json!({
                "address": c.address.to_hex(),
                "size": c.size,
                "root": c.root.to_hex(),
                "at": c.at,
            })
        });
        json!({
            "ok": self.ok,
            "doc_id": self.doc_id,
            "received_at": self.received_at,
            "checkpoint": checkpoint,
            "reason": self.reason,
        })
    }

    fn text(&self) -> String {
        match (&self.checkpoint, &self.received_at, &self.reason) {
            (Some(c), Some(at), _) if self.ok => format!(
                "The proof holds: the KPPN's hub received document {} at {at}; its \
                 submission is in the hub's log as checkpoint {} signs it ({} entries, \
                 signed {}).",
                self.doc_id,
                c.address.short(),
                c.size,
                c.at
            ),
            (_, _, reason) => format!(
                "The proof does NOT hold{}: {}.",
                if self.doc_id.is_empty() {
                    String::new()
                } else {
                    format!(" for document {}", self.doc_id)
                },
                reason.as_deref().unwrap_or("it could not be checked")
            ),
        }
    }

    fn failed(&self) -> bool {
        !self.ok
    }
}
