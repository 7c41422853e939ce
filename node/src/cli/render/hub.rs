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
        registry,
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
                    r.nip.clone(),
                    r.email.clone(),
                    r.jabatan.title().to_string(),
                    r.satker.clone(),
                ]
            })
            .collect();
        let email = self.0.iter().map(|(_, r)| r.email.len()).max().unwrap_or(0);
        table(
            &[32, 28, 18, email.max(6), 14],
            &["REQUEST", "NAME", "NIP", "E-MAIL", "JABATAN", "SATKER"],
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
                    e.nomor.clone().unwrap_or_default(),
                    e.nilai.clone().unwrap_or_default(),
                    e.submission_id.clone().unwrap_or_default(),
                    e.delivered_at
                        .map(|a| clock::local(a, &self.tz))
                        .unwrap_or_default(),
                    e.delivered_at
                        .map(|a| age(self.now.0.saturating_sub(a.0)))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let w = |f: fn(&crate::hub::monitor::InboxEntry) -> usize, min: usize| {
            self.entries.iter().map(f).max().unwrap_or(0).max(min)
        };
        table(
            &[
                w(|e| e.doc_id.len(), 8),
                w(|e| e.kind.as_str().len(), 4),
                w(|e| e.satker.len(), 6),
                w(|e| e.nomor.as_deref().map_or(0, str::len), 5),
                w(|e| e.nilai.as_deref().map_or(0, str::len), 5),
                w(|e| e.submission_id.as_deref().map_or(0, str::len), 10),
                self.entries
                    .iter()
                    .filter_map(|e| e.delivered_at.map(|a| clock::local(a, &self.tz).len()))
                    .max()
                    .unwrap_or(0)
                    .max(9),
            ],
            &[
                "DOCUMENT",
                "KIND",
                "SATKER",
                "NOMOR",
                "NILAI",
                "SUBMISSION",
                "DELIVERED",
                "AGE",
            ],
            &rows,
        )
    }
}

/// How long ago, from milliseconds, as people say it: "45s", "12m", "3h 5m", "2d 4h".
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
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

impl Render for registry::Certs {
    fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|c| json!({ "serial": c.serial, "name": c.name, "nip": c.nip, "jabatan": c.jabatan.as_str(), "satker": c.satker, "status": c.status }))
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return "No certificates issued yet; `espm certs requests` lists the pending requests."
                .into();
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|c| {
                vec![
                    c.serial.clone(),
                    c.name.clone(),
                    c.nip.clone(),
                    c.jabatan.title().to_string(),
                    c.satker.clone(),
                    c.status.to_string(),
                ]
            })
            .collect();
        let serial = self.0.iter().map(|c| c.serial.len()).max().unwrap_or(0);
        let name = self.0.iter().map(|c| c.name.len()).max().unwrap_or(0);
        table(
            &[serial.max(6), name.max(4), 18, 14, 6],
            &["SERIAL", "NAME", "NIP", "JABATAN", "SATKER", "STATUS"],
            &rows,
        )
    }
}

impl Render for registry::Devices {
    fn json(&self) -> serde_json::Value {
        self.rows
            .iter()
            .map(|d| {
                let mut v = json!({ "node_id": d.node_id.to_hex(), "status": d.status,
                                    "last_seen": d.last_seen.map(clock::rfc3339) });
                match &d.role {
                    DeviceRole::Satker { satker } => {
                        v["role"] = json!("satker");
                        v["satker"] = json!(satker);
                    }
                    DeviceRole::Auditor { scope } => {
                        v["role"] = json!("auditor");
                        v["scope"] = json!(scope);
                    }
                }
                v
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.rows.is_empty() {
            return "No devices enrolled yet; `espm enroll NODE_ID --satker CODE` enrolls one."
                .into();
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|d| {
                let (role, of) = match &d.role {
                    DeviceRole::Satker { satker } => ("satker", satker.clone()),
                    DeviceRole::Auditor { scope } => ("auditor", scope.join(",")),
                };
                vec![
                    d.node_id.to_hex(),
                    role.to_string(),
                    of,
                    d.status.to_string(),
                    d.last_seen
                        .map(|a| clock::local(a, &self.tz))
                        .unwrap_or_else(|| "never".into()),
                ]
            })
            .collect();
        table(
            &[64, 7, 14, 7],
            &["DEVICE", "ROLE", "SATKER/SCOPE", "STATUS", "LAST SEEN"],
            &rows,
        )
    }
}

#[cfg(test)]
mod age_tests {
    use super::age;

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(45_000), "45s");
        assert_eq!(age(12 * 60_000 + 30_000), "12m");
        assert_eq!(age((3 * 3600 + 5 * 60) * 1000), "3h 5m");
        assert_eq!(age((2 * 86_400 + 4 * 3600) * 1000), "2d 4h");
    }
}
