//! A satker device's results as the CLI prints them (operators, signers, drafts), and
//! the hub's list of operators.

use serde_json::json;

use super::{table, Render};
use crate::{
    clock,
    hub::operators::{Activated, HubOperators, OperatorRequests, OperatorRevoked},
    satker::{
        documents::{Attached, Detached, Edited, Shown, Started},
        operators::{OperatorAdded, OperatorList},
        signers::{Requested, Signers},
    },
    trust::Standing,
};

/// The URI as a QR code drawn with half blocks, two modules per character row, with
/// the quiet zone scanners need. Colours are swapped because terminals draw glyphs
/// light on dark: a dark module is left as background. An URI too long for a QR code
/// gets a note instead.
fn terminal_qr(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(no QR code: {e})"),
    }
}

impl Render for OperatorAdded {
    fn json(&self) -> serde_json::Value {
        json!({ "username": self.username, "otpauth_uri": self.otpauth_uri.as_str(), "request_id": self.request_id })
    }

    fn text(&self) -> String {
        format!(
            "Created operator {} ({}) and queued activation request {} for the KPPN.\n\
             Scan this with the operator's authenticator app, or enter the URI by hand:\n{}\n{}\n\
             The operator can submit once the KPPN's CSO approves the request against the SK Penunjukan: run `espm sync`, and again after the approval.",
            self.username,
            self.role.title(),
            self.request_id,
            terminal_qr(&self.otpauth_uri),
            self.otpauth_uri.as_str()
        )
    }

    fn answer(&self) -> String {
        self.otpauth_uri.as_str().to_string()
    }
}

impl Render for OperatorList {
    fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(op, s)| {
                let mut v = json!({
                    "username": op.username,
                    "role": op.role.as_str(),
                    "status": s.as_str(),
                    "request_id": op.request.request_id(),
                });
                match s {
                    Standing::Revoked(r) => v["reason"] = json!(r.reason),
                    Standing::Locked(until) => v["locked_until"] = json!(clock::rfc3339(*until)),
                    _ => {}
                }
                v
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        let rows = &self.0;
        if rows.is_empty() {
            return "No operators on this device; add one with `espm operator add`.".into();
        }
        let mut text = format!("{:<20} {:<20} {}\n", "USERNAME", "ROLE", "STATUS");
        for (op, s) in rows {
            let detail = match s {
                Standing::Pending => {
                    format!(" (request {} waits for the KPPN)", op.request.request_id())
                }
                Standing::Revoked(r) => format!(" ({})", r.describe_in(&self.1)),
                Standing::Locked(until) => format!(" (until {})", clock::local(*until, &self.1)),
                Standing::Active => String::new(),
            };
            text.push_str(&format!(
                "{:<20} {:<20} {}{detail}\n",
                op.username,
                op.role.as_str(),
                s.as_str()
            ));
        }
        text
    }
}

impl Render for HubOperators {
    fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|r| json!({ "username": r.record.username, "role": r.record.role.as_str(), "status": r.standing.as_str(), "satker": r.record.satker }))
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return "No operators at this hub.".into();
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|r| {
                vec![
                    r.record.username.clone(),
                    r.record.role.as_str().to_string(),
                    r.record.satker.clone(),
                    r.standing.as_str().to_string(),
                ]
            })
            .collect();
        table(
            &[20, 20, 10],
            &["USERNAME", "ROLE", "SATKER", "STATUS"],
            &rows,
        )
    }
}

impl Render for OperatorRequests {
    fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|r| {
                json!({
                    "request_id": r.request.request_id(),
                    "username": r.username,
                    "role": r.role.as_str(),
                    "satker": r.satker,
                    "device": r.device.to_hex(),
                    "sk_penunjukan": r.sk_penunjukan,
                })
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return "No pending operator activation requests.".into();
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|r| {
                vec![
                    r.request.request_id(),
                    r.username.clone(),
                    r.role.as_str().to_string(),
                    r.satker.clone(),
                    r.sk_penunjukan.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let mut text = table(
            &[34, 20, 20, 10],
            &["REQUEST", "USERNAME", "ROLE", "SATKER", "SK PENUNJUKAN"],
            &rows,
        );
        text.push_str(
            "Check each operator's SK Penunjukan before `espm operators approve REQUEST`.",
        );
        text
    }
}

impl Render for Activated {
    fn json(&self) -> serde_json::Value {
        json!({ "username": self.0.username, "satker": self.0.satker })
    }

    fn text(&self) -> String {
        let r = &self.0;
        format!(
            "Activated operator {} ({}) of satker {} on device {}. The activation reaches the satker at its next sync.",
            r.username,
            r.role.title(),
            r.satker,
            r.device
        )
    }
}

impl Render for OperatorRevoked {
    fn json(&self) -> serde_json::Value {
        json!({ "username": self.username, "satker": self.satker })
    }

    fn text(&self) -> String {
        format!(
            "Operator {} of satker {} is revoked from {}: the hub refuses submissions by it that reach it from now on, and the satker's devices refuse to submit as it once they sync.",
            self.username,
            self.satker,
            clock::local(self.at, &self.zone)
        )
    }
}

impl Render for Requested {
    fn json(&self) -> serde_json::Value {
        json!({ "request_id": self.request_id })
    }

    fn text(&self) -> String {
        format!(
            "Made a signing key for {} ({}) on this device and queued certificate request {}.\n\
             Run `espm sync`; once the KPPN approves it, `espm signers` shows the certificate.",
            self.name,
            self.jabatan.title(),
            self.request_id
        )
    }

    fn answer(&self) -> String {
        self.request_id.to_string()
    }
}

impl Render for Signers {
    fn json(&self) -> serde_json::Value {
        self.rows
            .iter()
            .map(|r| json!({ "serial": r.serial, "name": r.name, "jabatan": r.jabatan.as_str(), "status": r.status }))
            .collect::<Vec<_>>()
            .into()
    }

    fn text(&self) -> String {
        if self.rows.is_empty() {
            let mut text = "No certificates on this device yet.".to_string();
            if self.pending > 0 {
                text.push_str(&format!(
                    " {} request(s) wait for the KPPN; run `espm sync` after approval.",
                    self.pending
                ));
            }
            return text;
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.serial.clone(),
                    r.name.clone(),
                    r.jabatan.title().to_string(),
                    r.status.to_string(),
                ]
            })
            .collect();
        table(
            &[16, 28, 14],
            &["SERIAL", "NAME", "JABATAN", "STATUS"],
            &rows,
        )
    }
}

impl Render for Started {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id })
    }

    fn text(&self) -> String {
        format!("Started {} draft {}.", self.kind, self.doc_id)
    }

    fn answer(&self) -> String {
        self.doc_id.to_string()
    }
}

impl Render for Edited {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id })
    }

    fn text(&self) -> String {
        format!("Updated {} field(s) of {}.", self.fields, self.doc_id)
    }
}

impl Render for Attached {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id, "attachment": self.sha256 })
    }

    fn text(&self) -> String {
        format!(
            "Attached {} ({}) to {}.",
            self.name, self.sha256, self.doc_id
        )
    }
}

impl Render for Detached {
    fn json(&self) -> serde_json::Value {
        json!({ "doc_id": self.doc_id })
    }

    fn text(&self) -> String {
        format!("Detached {} from {}.", self.sha256, self.doc_id)
    }
}

/// A signature as `draft show --json` lists it; `matches` is false for one over an
/// earlier version of the document.
fn signature_json(s: &crate::records::SigRef, matches: bool) -> serde_json::Value {
    json!({ "serial": s.serial, "name": s.name, "jabatan": s.jabatan.as_str(), "signed_at": clock::rfc3339(s.at), "place": s.place, "matches": matches })
}

impl Render for Shown {
    fn json(&self) -> serde_json::Value {
        let rec = &self.record;
        let sigs: Vec<_> = rec
            .signatures
            .iter()
            .map(|s| signature_json(s, true))
            .chain(rec.superseded.iter().map(|s| signature_json(s, false)))
            .collect();
        let atts: Vec<_> = self
            .attachments
            .iter()
            .map(|a| json!({ "name": a.name, "sha256": a.sha256, "size": a.size }))
            .collect();
        json!({ "doc_id": rec.doc_id, "kind": rec.kind.as_str(), "state": rec.state.as_str(), "fields": self.fields, "attachments": atts, "signatures": sigs })
    }

    fn text(&self) -> String {
        let rec = &self.record;
        let mut text = format!(
            "{} {} ({}), satker {}\n",
            rec.kind, rec.doc_id, rec.state, rec.satker
        );
        for (k, v) in &self.fields {
            text.push_str(&format!("  {k} = {v}\n"));
        }
        for a in &self.attachments {
            text.push_str(&format!(
                "  attachment {} ({} bytes, sha256 {})\n",
                a.name, a.size, a.sha256
            ));
        }
        let all = rec.signatures.iter().map(|s| (s, "")).chain(
            rec.superseded
                .iter()
                .map(|s| (s, " — no longer matches: the document was edited after")),
        );
        for (s, note) in all {
            let place = if s.place.is_empty() {
                String::new()
            } else {
                format!(" in {}", s.place)
            };
            text.push_str(&format!(
                "  signed by {} ({}, certificate {}) at {}{place}{note}\n",
                s.name,
                s.jabatan.title(),
                s.serial,
                clock::local(s.at, &self.zone)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_otpauth_uri_is_drawn_as_a_square_qr_code() {
        let uri = "otpauth://totp/espm:operator-satker%3Abudi?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=espm&algorithm=SHA1&digits=6&period=30";
        let qr = terminal_qr(uri);
        println!("{qr}");
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two modules per line: the drawing is about half as tall as wide.
        assert!(lines.len() * 2 >= width && lines.len() * 2 <= width + 2);
        assert!(qr.contains('\u{2588}') || qr.contains('\u{2580}'));
    }
}
