//! `verify`'s result as the CLI prints it; a failure makes the command exit 1.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::json;

use super::Render;
use crate::auditor::verify::Verification;

impl Render for Verification {
    fn json(&self) -> serde_json::Value {
        let failures: Vec<_> = self
            .failures
            .iter()
            .map(|f| {
                let evidence: Vec<_> = f
                    .evidence
                    .iter()
                    .map(|a| {
                        json!({
                            "address": a.to_hex(),
                            "signed_item": self.evidence.get(a).map(|b| B64.encode(b)),
                        })
                    })
                    .collect();
                json!({ "item": f.item, "kind": f.kind, "reason": f.reason, "evidence": evidence })
            })
            .collect();
        json!({
            "ok": self.ok(),
            "checked": self.checked,
            "failures": failures,
            "incomplete_attachments": self.incomplete_attachments,
        })
    }

    fn text(&self) -> String {
        if self.ok() {
            return format!("All {} stored items verify.", self.checked);
        }
        let mut t = format!(
            "{} of {} items FAIL verification:\n",
            self.failures.len(),
            self.checked
        );
        for f in &self.failures {
            t.push_str(&format!("  {} ({}): {}\n", f.item, f.kind, f.reason));
        }
        t
    }

    fn failed(&self) -> bool {
        !self.ok()
    }
}
