//! The hub's results as the CLI prints them.

use serde_json::json;
use sync_protocol::enrollment::DeviceRole;

use super::{table, Render};
use crate::hub::authority::{CertRequests, Enrolled, Issued};

impl Render for Enrolled {
    fn json(&self) -> serde_json::Value {
        let hex = self.node_id.to_hex();
        match &self.role {
            DeviceRole::Satker { satker } => json!({ "node_id": hex, "satker": satker }),
            DeviceRole::Auditor { scope } => json!({ "node_id": hex, "scope": scope }),
        }
    }

    fn text(&self) -> String {
        let hex = self.node_id.to_hex();
        match &self.role {
            DeviceRole::Satker { satker } => format!("Enrolled device {hex} for satker {satker}."),
            DeviceRole::Auditor { scope } => format!(
                "Enrolled auditor device {hex}, read-only, for satker {}.",
                scope.join(", ")
            ),
        }
    }
}

impl Render for CertRequests {
    fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(id, r)| json!({ "request_id": id, "name": r.name, "nip": r.nip, "email": r.email, "jabatan": r.jabatan.as_str(), "satker": r.satker }))
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return "No pending certificate requests.".into();
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|(id, r)| {
                vec![
                    id.clone(),
                    r.name.clone(),
                    r.jabatan.title().to_string(),
                    r.satker.clone(),
                ]
            })
            .collect();
        table(
            &[32, 28, 14],
            &["REQUEST", "NAME", "JABATAN", "SATKER"],
            &rows,
        )
    }
}

impl Render for Issued {
    fn json(&self) -> serde_json::Value {
        json!({ "serial": self.serial })
    }

    fn text(&self) -> String {
        format!(
            "Issued certificate {} to {} ({}) of satker {}. It reaches the satker at its next sync.",
            self.serial,
            self.subject.name,
            self.subject.jabatan.title(),
            self.satker
        )
    }
}
