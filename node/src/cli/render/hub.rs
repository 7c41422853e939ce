//! The hub's results as the CLI prints them.

use serde_json::json;
use sync_protocol::DeviceRole;

use super::{table, Render};
use crate::{
    clock,
    hub::{
        authority::{CertRequests, Enrolled, Issued},
        monitor::{Inbox, Monitor},
        processing::{Moved, Taken},
        revoke::{RevokedCertificate, RevokedDevice},
    },
};

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
        let fp = self.node_id.fingerprint();
        match &self.role {
            DeviceRole::Satker { satker } => {
                format!("Enrolled device {hex} (fingerprint {fp}) for satker {satker}.")
            }
            DeviceRole::Auditor { scope } => format!(
                "Enrolled auditor device {hex} (fingerprint {fp}), read-only, for satker {}.",
                scope.join(", ")
            ),
        }
    }

    fn answer(&self) -> String {
        self.node_id.to_hex()
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

    fn answer(&self) -> String {
        self.serial.clone()
    }
}

impl Render for Taken {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id, "received_at": clock::rfc3339(self.received_at) })
    }

    fn text(&self) -> String {
        format!(
            "Received {} at {}{}.",
            self.doc_id,
            clock::local(self.received_at, &self.tz),
            if self.after_hours {
                " (after hours, counted against today's quota)"
            } else {
                ""
            }
        )
    }
}

impl Render for Moved {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id, "state": self.state.as_str() })
    }

    fn text(&self) -> String {
        match &self.reason {
            Some(reason) => format!(
                "Rejected {}: {reason}. The satker sees the reason at its next sync.",
                self.doc_id
            ),
            None => format!("{} is now {}.", self.doc_id, self.state),
        }
    }
}

impl Render for Inbox {
    fn json(&self) -> serde_json::Value {
        self.entries
            .iter()
            .map(|e| {
                json!({ "doc_id": e.doc_id, "kind": e.kind.as_str(), "satker": e.satker,
                        "delivered_at": e.delivered_at.map(clock::rfc3339),
                        "nomor": e.nomor, "nilai": e.nilai, "submission_id": e.submission_id })
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.entries.is_empty() {
            return "The inbox is empty.".into();
        }
        let rows: Vec<Vec<String>> = self
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.doc_id.clone(),
                    e.kind.as_str().to_string(),
                    e.satker.clone(),
                    e.delivered_at
                        .map(|a| clock::local(a, &self.tz))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &[24, 14, 10],
            &["DOCUMENT", "KIND", "SATKER", "DELIVERED"],
            &rows,
        )
    }
}

impl Render for Monitor {
    fn json(&self) -> serde_json::Value {
        let rows: Vec<_> = self
            .counts
            .iter()
            .map(|(s, c)| json!({ "satker": s, "counts": c }))
            .collect();
        json!({ "satker": rows, "counts": self.counts, "alerts": self.alerts })
    }

    fn text(&self) -> String {
        let mut text = String::new();
        for (s, c) in &self.counts {
            text.push_str(&format!(
                "satker {s}: {}\n",
                c.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.counts.is_empty() {
            text.push_str("No documents yet.\n");
        }
        for a in &self.alerts {
            text.push_str(&format!("ALERT: {a}\n"));
        }
        text
    }
}

impl Render for RevokedDevice {
    fn json(&self) -> serde_json::Value {
        json!({ "node_id": self.node_id.to_hex() })
    }

    fn text(&self) -> String {
        format!(
            "Device {} (fingerprint {}) is blocked from {}: the hub refuses its connections from now on. What it delivered before stays valid.",
            self.node_id,
            self.node_id.fingerprint(),
            clock::local(self.at, &self.zone)
        )
    }
}

impl Render for RevokedCertificate {
    fn json(&self) -> serde_json::Value {
        json!({ "serial": self.serial })
    }

    fn text(&self) -> String {
        format!(
            "Certificate {} is revoked from {}: nothing signed with it reaching the hub from now on is accepted, and devices refuse to sign with it once they sync. Signatures the hub received before stay valid.",
            self.serial,
            clock::local(self.at, &self.zone)
        )
    }
}
