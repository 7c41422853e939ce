//! Document journeys as `espm status` prints them, and the one-line-per-document list
//! of `espm draft list` and `espm status` without an id.

use serde_json::json;

use super::{table, Render};
use crate::{
    clock,
    docs::{
        list::{Listing, Row},
        Journeys,
    },
    records::DocRecord,
};

fn row_json(r: &Row) -> serde_json::Value {
    json!({ "doc_id": r.doc_id, "kind": r.kind.as_str(), "nomor": r.nomor, "nilai": r.nilai, "state": r.state.as_str(), "waiting_for": r.waiting_for })
}

/// The compact table: one line per document.
fn rows_text(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.doc_id.clone(),
                r.kind.as_str().to_string(),
                r.nomor.clone().unwrap_or_default(),
                r.nilai.clone().unwrap_or_default(),
                r.state.as_str().to_string(),
                r.waiting_for.clone(),
            ]
        })
        .collect();
    let w = |f: fn(&Row) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    table(
        &[
            w(|r| r.doc_id.len(), 8),
            w(|r| r.kind.as_str().len(), 4),
            w(|r| r.nomor.as_deref().map_or(0, str::len), 5),
            w(|r| r.nilai.as_deref().map_or(0, str::len), 5),
            9,
        ],
        &["DOCUMENT", "KIND", "NOMOR", "NILAI", "STATE", "WAITING FOR"],
        &cells,
    )
}

impl Render for Listing {
    fn json(&self) -> serde_json::Value {
        self.rows.iter().map(row_json).collect::<Vec<_>>().into()
    }

    fn text(&self) -> String {
        if self.rows.is_empty() {
            return "No documents.".into();
        }
        rows_text(&self.rows)
    }
}

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
            _ => self
                .records
                .iter()
                .zip(&self.rows)
                .map(|(rec, row)| {
                    let mut v = doc_json(rec);
                    v["nomor"] = json!(row.nomor);
                    v["nilai"] = json!(row.nilai);
                    v["waiting_for"] = json!(row.waiting_for);
                    v
                })
                .collect::<Vec<_>>()
                .into(),
        }
    }

    fn text(&self) -> String {
        if self.records.is_empty() {
            return "No documents yet.".into();
        }
        if !self.one {
            return rows_text(&self.rows);
        }
        self.records
            .iter()
            .map(|r| doc_text(r, self.tz.as_deref()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
