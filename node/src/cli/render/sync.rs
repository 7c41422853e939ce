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

/// The terminal's progress line during `espm sync`.
const BAR_TEMPLATE: &str = "{spinner} [{bar:24}] {pos}/{len} items up · {msg}";

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
            "drafts_announced": d.announced,
            "drafts_in_step": d.in_step,
            "drafts_updated": d.updated,
            "draft_sent_bytes": d.sent_bytes,
            "draft_received_bytes": d.received_bytes,
            "drafts_refused": d.refused,
        })
    }

    fn text(&self) -> String {
        let mut text = format!(
            "Synced with the hub: sent {} item(s) and {} attachment chunk(s) ({}), received {} item(s) and {} chunk(s) ({}).",
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
        text
    }
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
            "queued:     {} item(s) the hub has not yet acknowledged",
            self.queued
        ));
        lines.join("\n")
    }
}

/// The progress bar `espm sync` shows on a terminal; cleared when dropped.
pub(crate) struct ProgressLine(ProgressBar);

impl ProgressLine {
    /// Shows the bar, waiting for the hub.
    pub(crate) fn start() -> ProgressLine {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(BAR_TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message("connecting to the hub…");
        b.enable_steady_tick(Duration::from_millis(120));
        ProgressLine(b)
    }

    /// Where the sync reports to this bar.
    pub(crate) fn feed(&self) -> OnProgress {
        let bar = self.0.clone();
        std::sync::Arc::new(move |p: &SyncProgress| show(&bar, p))
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The bar counts our items acknowledged by the hub against all we have to send; the
/// message adds bytes and chunks both ways.
fn show(bar: &ProgressBar, p: &SyncProgress) {
    bar.set_length(p.items_to_send);
    bar.set_position(p.acked_items);
    bar.set_message(format!(
        "up {} in {} chunks · down {} items, {} in {} chunks",
        HumanBytes(p.sent_bytes),
        p.sent_chunks,
        p.received_items,
        HumanBytes(p.received_bytes),
        p.received_chunks
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_template_is_valid() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
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
            "drafts_refused",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
    }
}
