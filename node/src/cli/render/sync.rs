//! `espm sync` as the CLI shows it: the summary, and the progress line while it runs.

use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::json;

use super::Render;
use crate::{
    clock,
    device::{
        info::Info,
        sync::{OnProgress, SyncProgress, Synced},
    },
};

/// The terminal's progress line while `espm sync` dials: an empty bar.
const CONNECTING_TEMPLATE: &str = "{spinner} [{bar:24}] {msg}";

/// The terminal's progress lines once the hub has said what is to cross: the bar counts
/// bytes, with what is left estimated from the items and chunks still to go, so its
/// rate and ETA mean something on a thin link; the counts each way go on a second line,
/// so neither line is wider than a terminal.
const BAR_TEMPLATE: &str =
    "{spinner} [{bar:24}] {binary_bytes}/~{binary_total_bytes} · {binary_bytes_per_sec} · ETA {eta}\n  {msg}";

/// What one item is taken to weigh on the wire while estimating what is left: a signed
/// envelope is a few hundred bytes to a few KiB.
const ITEM_BYTES_ESTIMATE: u64 = 2 * 1024;

impl Render for Synced {
    fn json(&self) -> serde_json::Value {
        let d = &self.drafts;
        json!({
            "sent_items": self.sent_items,
            "received_items": self.received_items,
            "sent_bytes": self.wire.sent_bytes,
            "received_bytes": self.wire.received_bytes,
            "sent_chunks": self.sent_chunks,
            "received_chunks": self.received_chunks,
            "items_to_send": self.items_to_send,
            "items_to_receive": self.items_to_receive,
            "chunks_to_send": self.chunks_to_send,
            "chunks_to_receive": self.chunks_to_receive,
            "receipted": self.receipted,
            "refused_documents": reasons(&self.refused_documents),
            "rejected": reasons(&self.rejected),
            "drafts_announced": d.announced,
            "drafts_in_step": d.in_step,
            "drafts_updated": d.updated,
            "draft_sent_bytes": d.sent_bytes,
            "draft_received_bytes": d.received_bytes,
            "drafts_refused": d.refused,
        })
    }

    fn text(&self) -> String {
        self.text_with("the hub")
    }
}

/// A sync of an auditor straight from a satker node (`espm sync --from`): the same
/// JSON as a sync with the hub, its text naming the node.
pub struct FromSatker<'a> {
    /// What the sync moved.
    pub synced: &'a Synced,
    /// The satker node's address.
    pub from: std::net::SocketAddr,
}

impl Render for FromSatker<'_> {
    fn json(&self) -> serde_json::Value {
        self.synced.json()
    }

    fn text(&self) -> String {
        self.synced
            .text_with(&format!("the satker node at {}", self.from))
    }
}

impl Synced {
    /// The text of a sync with `peer` ("the hub", say).
    fn text_with(&self, peer: &str) -> String {
        let mut text = format!(
            "Synced with {peer}: sent {} item(s) and {} attachment chunk(s) ({}), received {} item(s) and {} chunk(s) ({}).",
            self.sent_items,
            self.sent_chunks,
            HumanBytes(self.wire.sent_bytes),
            self.received_items,
            self.received_chunks,
            HumanBytes(self.wire.received_bytes)
        );
        // A refused draft is reported, not an error: a device refuses edits to a
        // document it has already signed.
        let d = &self.drafts;
        if d.in_step + d.updated > 0 {
            text.push_str(&format!(
                " Drafts: {} in step with the hub, {} updated with edits from other devices.",
                d.in_step, d.updated
            ));
        }
        for r in &d.refused {
            text.push_str(&format!("\n{r}"));
        }
        if !self.receipted.is_empty() {
            let ids: Vec<&str> = self.receipted.iter().map(String::as_str).collect();
            text.push_str(&format!("\nReceipted by the KPPN: {}.", ids.join(", ")));
        }
        for (id, reason) in &self.refused_documents {
            text.push_str(&format!("\nRefused by the hub: {id}: {reason}"));
        }
        for (id, reason) in &self.rejected {
            text.push_str(&format!("\nRejected by the KPPN: {id}: {reason}"));
        }
        text
    }
}

/// Documents with their reasons, as JSON: a list of `doc_id` and `reason`.
fn reasons(docs: &std::collections::BTreeMap<String, String>) -> serde_json::Value {
    docs.iter()
        .map(|(doc_id, reason)| json!({ "doc_id": doc_id, "reason": reason }))
        .collect()
}

impl Render for Info {
    fn json(&self) -> serde_json::Value {
        let mut v = json!({
            "node_id": self.node_id.to_hex(),
            "role": self.role,
            "hub": self.hub,
            "last_sync": self.last_sync.map(clock::rfc3339),
            "last_error": self.last_error.as_ref().map(|e| e.message.clone()),
            "last_error_at": self.last_error.as_ref().map(|e| clock::rfc3339(e.at)),
            "queued": self.queued,
            "queued_chunks": self.queued_chunks,
        });
        if let Some(id) = self.hub_id {
            v["hub_id"] = json!(id.to_hex());
        }
        if let Some(satker) = &self.satker {
            v["satker"] = json!(satker);
        }
        if let Some(scope) = &self.scope {
            v["scope"] = json!(scope);
        }
        v
    }

    fn text(&self) -> String {
        let at = |t| match &self.tz {
            Some(z) => clock::local(t, z),
            None => clock::rfc3339(t),
        };
        let mut lines = vec![
            format!("node id:    {}", self.node_id.to_hex()),
            format!("role:       {}", self.role),
        ];
        if let Some(satker) = &self.satker {
            lines.push(format!("satker:     {satker}"));
        }
        if let Some(scope) = &self.scope {
            lines.push(match scope.is_empty() {
                true => "scope:      not known yet (run `espm sync`)".to_string(),
                false => format!("scope:      {}", scope.join(", ")),
            });
        }
        if self.role == "hub" {
            lines.push(format!("listens on: {}", self.hub));
            return lines.join("\n");
        }
        lines.push(format!("hub:        {}", self.hub));
        lines.push(format!(
            "last sync:  {}",
            self.last_sync.map_or("never".to_string(), at)
        ));
        lines.push(match &self.last_error {
            Some(e) => format!("last error: {} — {}", at(e.at), e.message),
            None => "last error: none".to_string(),
        });
        lines.push(format!(
            "queued:     {} item(s) the hub has not yet acknowledged, carrying {} attachment chunk(s)",
            self.queued, self.queued_chunks
        ));
        lines.join("\n")
    }
}

/// The progress bar `espm sync` shows on a terminal; cleared when dropped.
pub(crate) struct ProgressLine(ProgressBar);

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl ProgressLine {
    /// Shows the bar, empty, waiting for the hub.
    pub(crate) fn start() -> ProgressLine {
        // A length of 1 at 0, not 0 of 0, which a bar draws full.
        let b = ProgressBar::new(1);
        b.set_style(style(CONNECTING_TEMPLATE));
        b.set_message("connecting to the hub…");
        b.enable_steady_tick(Duration::from_millis(120));
        ProgressLine(b)
    }

    /// Where the sync reports to this bar.
    pub(crate) fn feed(&self) -> OnProgress {
        let bar = self.0.clone();
        let started = std::sync::Once::new();
        std::sync::Arc::new(move |p: &SyncProgress| {
            started.call_once(|| {
                bar.set_style(style(BAR_TEMPLATE));
                bar.reset_eta();
            });
            show(&bar, p)
        })
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The bar's position and length in bytes: what crossed, and that plus an estimate of
/// what is left of the items and chunks the hub's Hello announced.
fn bar_bytes(p: &SyncProgress) -> (u64, u64) {
    let crossed = p.sent_bytes.saturating_add(p.received_bytes);
    let items_left = p
        .items_to_send
        .saturating_sub(p.acked_items)
        .saturating_add(p.items_to_receive.saturating_sub(p.received_items));
    let chunks_left = p
        .chunks_to_send
        .saturating_sub(p.sent_chunks)
        .saturating_add(p.chunks_to_receive.saturating_sub(p.received_chunks));
    let left = items_left
        .saturating_mul(ITEM_BYTES_ESTIMATE)
        .saturating_add(chunks_left.saturating_mul(sync_protocol::CHUNK_BYTES as u64));
    (crossed, crossed.saturating_add(left).max(1))
}

/// The bar in bytes; the message counts items and chunks each way against their totals.
fn show(bar: &ProgressBar, p: &SyncProgress) {
    let (pos, len) = bar_bytes(p);
    bar.set_length(len);
    bar.set_position(pos);
    bar.set_message(message(p));
}

fn message(p: &SyncProgress) -> String {
    format!(
        "up {}/{} items, {}/{} chunks · down {}/{} items, {}/{} chunks",
        p.acked_items,
        p.items_to_send,
        p.sent_chunks,
        p.chunks_to_send,
        p.received_items,
        p.items_to_receive,
        p.received_chunks,
        p.chunks_to_receive
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_straight_from_a_satker_names_the_node_and_keeps_the_json_of_a_sync() {
        let s = Synced {
            received_items: 7,
            ..Synced::default()
        };
        let direct = FromSatker {
            synced: &s,
            from: "10.0.0.7:4434".parse().unwrap(),
        };
        let text = direct.text();
        assert!(
            text.starts_with("Synced with the satker node at 10.0.0.7:4434: sent 0 item(s)"),
            "{text}"
        );
        assert_eq!(direct.json(), s.json());
        assert!(s.text().starts_with("Synced with the hub: "));
    }

    #[test]
    fn the_summary_names_the_documents_receipted_refused_and_rejected() {
        let s = Synced {
            receipted: ["SPM-1".to_string(), "SPM-2".to_string()].into(),
            refused_documents: [("SPM-3".to_string(), "no PPSPM signature".to_string())].into(),
            rejected: [("SPM-4".to_string(), "nilai salah".to_string())].into(),
            ..Synced::default()
        };
        let text = s.text();
        assert!(
            text.contains("\nReceipted by the KPPN: SPM-1, SPM-2."),
            "{text}"
        );
        assert!(
            text.contains("\nRefused by the hub: SPM-3: no PPSPM signature"),
            "{text}"
        );
        assert!(
            text.contains("\nRejected by the KPPN: SPM-4: nilai salah"),
            "{text}"
        );
        let json = s.json();
        assert_eq!(json["receipted"], json!(["SPM-1", "SPM-2"]));
        assert_eq!(
            json["refused_documents"],
            json!([{ "doc_id": "SPM-3", "reason": "no PPSPM signature" }])
        );
        assert_eq!(
            json["rejected"],
            json!([{ "doc_id": "SPM-4", "reason": "nilai salah" }])
        );
    }

    #[test]
    fn the_progress_templates_are_valid() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        assert!(ProgressStyle::with_template(CONNECTING_TEMPLATE).is_ok());
    }

    #[test]
    fn the_bar_is_empty_while_connecting_and_full_only_when_everything_crossed() {
        let line = ProgressLine::start();
        assert_eq!((line.0.position(), line.0.length()), (0, Some(1)));
        let mut p = SyncProgress {
            items_to_send: 3,
            chunks_to_send: 144,
            sent_bytes: 4_000,
            received_bytes: 1_000,
            ..SyncProgress::default()
        };
        // A 9 MiB file still going up: far from full.
        let (pos, len) = bar_bytes(&p);
        assert_eq!(pos, 5_000);
        assert!(len > 9 * 1024 * 1024, "{len}");
        p.acked_items = 3;
        p.sent_chunks = 144;
        let (pos, len) = bar_bytes(&p);
        assert_eq!(pos, len);
        assert_eq!(
            message(&p),
            "up 3/3 items, 144/144 chunks · down 0/0 items, 0/0 chunks"
        );
    }

    #[test]
    fn the_summary_keeps_the_keys_scripts_read() {
        let json = Synced::default().json();
        for key in [
            "sent_items",
            "received_items",
            "sent_bytes",
            "received_bytes",
            "sent_chunks",
            "received_chunks",
            "items_to_send",
            "items_to_receive",
            "chunks_to_send",
            "chunks_to_receive",
            "receipted",
            "refused_documents",
            "rejected",
            "drafts_refused",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
    }
}
