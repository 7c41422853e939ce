//! `espm kinds`: each document kind's fields and signers.

use serde_json::json;

use super::Render;
use crate::fields::KindInfo;

/// The kinds `espm kinds` lists.
pub struct Kinds(pub Vec<KindInfo>);

impl Render for Kinds {
    fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|k| {
                json!({
                    "kind": k.kind.as_str(),
                    "fields": k.fields.iter().map(|f| json!({
                        "name": f.name,
                        "type": f.ty.name(),
                        "required": f.required,
                    })).collect::<Vec<_>>(),
                    "signers": k.signers.iter().map(|group| {
                        group.iter().map(|j| j.as_str()).collect::<Vec<_>>()
                    }).collect::<Vec<_>>(),
                })
            })
            .collect()
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for k in &self.0 {
            out.push_str(&format!("{} (signed by {})\n", k.kind, k.signers_text));
            let width = k.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
            for f in &k.fields {
                out.push_str(&format!(
                    "  {:<width$}  {}{}\n",
                    f.name,
                    f.ty.expected(),
                    if f.required { "" } else { " (optional)" }
                ));
            }
            out.push('\n');
        }
        out.push_str(
            "Set a field with `espm draft set DOC_ID NAME=VALUE`; an akun field lists AKUN:RUPIAH lines, e.g. akun=525111:1500000,525113:500000, adding up to nilai.\n",
        );
        out
    }
}
