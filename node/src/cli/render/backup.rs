//! `backup` and `restore` results as the CLI prints them.

use serde_json::json;

use super::Render;
use crate::{
    backup::{BackedUp, Restored},
    clock::{local, rfc3339},
};

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
