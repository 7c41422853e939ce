//! `backup` and `restore` results as the CLI prints them.

use std::{sync::Arc, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::Render;
use crate::{
    backup::{BackedUp, OnProgress, Restored, Step},
    clock::{local, rfc3339},
};

/// The progress line `backup` and `restore` show on a terminal; cleared when dropped.
pub(crate) struct BackupProgress(ProgressBar);

impl BackupProgress {
    /// Shows the line, at nothing done yet.
    pub(crate) fn start() -> BackupProgress {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        BackupProgress(bar)
    }

    /// Where the backup or restore reports to this line.
    pub(crate) fn feed(&self) -> OnProgress {
        let bar = self.0.clone();
        Arc::new(move |step: Step, done: u64, total: Option<u64>| {
            let what = match step {
                Step::Writing => "writing the backup",
                Step::Checking => "checking the checksum",
                Step::Verifying => "checking every record",
                Step::Restoring => "restoring the node",
            };
            match total {
                Some(total) => {
                    if bar.length() != Some(total) {
                        bar.set_style(
                            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar())
                                .progress_chars("=> "),
                        );
                        bar.set_length(total);
                    }
                }
                None => bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}: {bytes}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            }
            bar.set_message(what);
            bar.set_position(done);
        })
    }
}

impl Drop for BackupProgress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Render for BackedUp {
    fn json(&self) -> serde_json::Value {
        json!({
            "file": self.file.display().to_string(),
            "role": self.role,
            "node_id": self.node_id,
            "created": rfc3339(self.created),
            "bytes": self.bytes,
            "files": self.counts.files,
            "records": self.counts.pairs,
        })
    }

    fn text(&self) -> String {
        format!(
            "Backed up this {} node as of {} to {} ({} bytes: {} files, {} store records).\nIt holds the node's keys: keep it as safe as the data directory.",
            self.role,
            local(self.created, &self.zone),
            self.file.display(),
            self.bytes,
            self.counts.files,
            self.counts.pairs,
        )
    }

    fn answer(&self) -> String {
        self.file.display().to_string()
    }
}

impl Render for Restored {
    fn json(&self) -> serde_json::Value {
        json!({
            "file": self.file.display().to_string(),
            "data_dir": self.dir.display().to_string(),
            "role": self.role,
            "node_id": self.node_id,
            "created": rfc3339(self.created),
            "files": self.counts.files,
            "records": self.counts.pairs,
        })
    }

    fn text(&self) -> String {
        format!(
            "Restored {} node {} into {} from {} (taken {}). Start it as before, e.g. `espm serve`.",
            self.role,
            self.node_id,
            self.dir.display(),
            self.file.display(),
            local(self.created, &self.zone),
        )
    }

    fn answer(&self) -> String {
        self.dir.display().to_string()
    }
}
