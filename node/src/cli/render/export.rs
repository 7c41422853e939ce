//! `export`'s result as the CLI prints it.

use serde_json::json;

use super::Render;
use crate::export::Exported;

impl Render for Exported {
    fn json(&self) -> serde_json::Value {
        json!({
            "documents": self.documents,
            "dir": self.dir.display().to_string(),
            "failing": self.failing,
        })
    }

    fn text(&self) -> String {
        let mut t = format!(
            "Exported {} document{} to {}: report.html for people, index.json and one folder per document for tools.",
            self.documents,
            if self.documents == 1 { "" } else { "s" },
            self.dir.display()
        );
        if self.failing > 0 {
            t.push_str(&format!(
                "\n{} of them do not verify; each document.json says why (see `espm verify`).",
                self.failing
            ));
        }
        t
    }

    fn answer(&self) -> String {
        self.dir.display().to_string()
    }
}
