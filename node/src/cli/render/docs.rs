//! Document journeys as `espm status` prints them.

use serde_json::json;

use super::Render;
use crate::{clock, docs::Journeys, records::DocRecord};

fn doc_json(r: &DocRecord) -> serde_json::Value {
    let history: Vec<_> = r
        .history
        .iter()
        .map(|h| {
            let mut e = json!({ "state": h.state.as_str(), "at": clock::rfc3339(h.at) });
            if let Some(reason) = &h.reason {
                e["reason"] = json!(reason);
            }
            e
        })
        .collect();
    json!({ "doc_id": r.doc_id, "kind": r.kind.as_str(), "satker": r.satker, "state": r.state.as_str(), "history": history })
}

fn doc_text(r: &DocRecord, tz: Option<&str>) -> String {
    let mut t = format!(
        "{} {} (satker {}): {}\n",
        r.kind, r.doc_id, r.satker, r.state
    );
    for h in &r.history {
        let at = match tz {
            Some(z) => clock::local(h.at, z),
            None => clock::rfc3339(h.at),
        };
        t.push_str(&format!("  {:<10} {at}", h.state.as_str()));
        if let Some(reason) = &h.reason {
            t.push_str(&format!("  — {reason}"));
        }
        t.push('\n');
    }
    t
}

impl Render for Journeys {
    fn json(&self) -> serde_json::Value {
        match (self.one, self.records.first()) {
            (true, Some(r)) => doc_json(r),
            _ => self.records.iter().map(doc_json).collect::<Vec<_>>().into(),
        }
    }

    fn text(&self) -> String {
        if self.records.is_empty() {
            return "No documents yet.".into();
        }
        self.records
            .iter()
            .map(|r| doc_text(r, self.tz.as_deref()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
