//! A signer's and an operator's results as the CLI prints them: `sign`, `submit` and
//! `withdraw`.

use serde_json::json;

use super::Render;
use crate::satker::{signing::Signed, submit::Queued, withdraw::Withdrawn};

impl Render for Signed {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id, "serial": self.serial })
    }

    fn text(&self) -> String {
        format!(
            "{} signed {} as {} (certificate {}).",
            self.name,
            self.doc_id,
            self.jabatan.title(),
            self.serial
        )
    }
}

impl Render for Queued {
    fn json(&self) -> serde_json::Value {
        json!({ "submission_id": self.submission_id, "doc_ids": self.doc_ids })
    }

    fn text(&self) -> String {
        format!(
            "Queued submission {} with {} document(s). It goes to the KPPN at the next sync.",
            self.submission_id,
            self.doc_ids.len()
        )
    }

    fn answer(&self) -> String {
        self.submission_id.to_string()
    }
}

impl Render for Withdrawn {
    fn json(&self) -> serde_json::Value {
        json!({ "submission_id": self.submission_id, "doc_ids": self.doc_ids })
    }

    fn text(&self) -> String {
        format!(
            "Withdrew submission {}; it will not be sent. Its document(s) {} are signed again and can be submitted anew.",
            self.submission_id,
            self.doc_ids.join(", ")
        )
    }
}
