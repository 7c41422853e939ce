//! `verify`'s result as the CLI prints it; a failure makes the command exit 1.

use serde_json::json;

use super::Render;
use crate::auditor::verify::Verification;

impl Render for Verification {
    fn json(&self) -> serde_json::Value {
        let failures: Vec<_> = self
            .failures
            .iter()
            .map(|f| json!({ "item": f.item, "kind": f.kind, "reason": f.reason }))
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
