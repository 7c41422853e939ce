//! `espm verify`: re-checks every stored item offline.

use serde_json::json;
use storage::Table;
use sync_protocol::{receipt::Receipt, Item, SignedItem};

use crate::cli::run::Output;
use crate::{clock, error::Result, node::Node, trust, trust::certificate};

/// Signatures a receipt counts that the hub received after their certificate was
/// revoked. The receipt's time is when the hub received the submission, which is the
/// moment that decides, so an auditor judges old signatures exactly as the hub did.
fn counted_after_revocation(node: &Node, r: &Receipt) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let Some(bytes) = node.store.item(&r.submission)? else {
        return Ok(found);
    };
    let Ok(SignedItem {
        item: Item::Submission(sub),
        ..
    }) = SignedItem::open(&bytes)
    else {
        return Ok(found);
    };
    for d in &sub.documents {
        for a in &d.signatures {
            let Some(Ok(SignedItem {
                item: Item::Signature(s),
                ..
            })) = node.store.item(a)?.map(|b| SignedItem::open(&b))
            else {
                continue;
            };
            if let Some(rev) = trust::of_certificate(&node.store, &s.serial)? {
                if rev.applies_to(r.delivered_at) {
                    found.push((
                        a.to_hex(),
                        format!(
                            "document {} counts this signature by receipt of {}, but certificate {} was {} before that",
                            d.doc_id,
                            clock::rfc3339(r.delivered_at),
                            s.serial,
                            rev.describe()
                        ),
                    ));
                }
            }
        }
    }
    Ok(found)
}

/// `espm verify`
pub fn verify(node: &Node) -> Result<Output> {
    let authority = node.authority_key()?;
    let service = node.service_public_key()?;
    let mut checked = 0u64;
    let mut failures: Vec<serde_json::Value> = Vec::new();
    let mut fail = |addr: String, kind: &str, reason: String| {
        failures.push(json!({ "item": addr, "kind": kind, "reason": reason }));
    };
    for entry in node.store.items() {
        let (addr, bytes) = entry?;
        checked += 1;
        let item = match SignedItem::open(&bytes) {
            Ok(i) => i,
            Err(e) => {
                fail(addr.to_hex(), "unknown", e.to_string());
                continue;
            }
        };
        if item.address != addr {
            fail(
                addr.to_hex(),
                item.kind().name(),
                "stored under the wrong address: the bytes were changed".into(),
            );
            continue;
        }
        let kind = item.kind().name();
        match &item.item {
            Item::Enrollment(_)
            | Item::Certificate(_)
            | Item::Revocation(_)
            | Item::OperatorActivation(_)
            | Item::HubIdentity(_)
                if authority.is_some() && authority != Some(item.author) =>
            {
                fail(
                    addr.to_hex(),
                    kind,
                    "not signed by the pinned hub authority".into(),
                );
            }
            Item::Receipt(_) | Item::Status(_)
                if service.is_some() && service != Some(item.author) =>
            {
                fail(
                    addr.to_hex(),
                    kind,
                    "not signed by the hub service key its hub identity certifies".into(),
                );
            }
            Item::Signature(s) => match certificate(node, &s.serial)? {
                Some(c) if c.key == item.author && c.subject.jabatan == s.jabatan => {
                    if !c.valid_at(s.signed_at) {
                        fail(
                            addr.to_hex(),
                            kind,
                            format!("made outside the validity of certificate {}", s.serial),
                        );
                    }
                }
                Some(_) => fail(
                    addr.to_hex(),
                    kind,
                    format!("not made with the key of certificate {}", s.serial),
                ),
                None => {
                    // Signatures made here before the certificate arrived are checked once it does.
                    if node
                        .store
                        .get::<crate::records::CertRecord>(Table::Cert, &s.serial)?
                        .is_some()
                    {
                        fail(
                            addr.to_hex(),
                            kind,
                            format!("certificate {} cannot be read", s.serial),
                        );
                    }
                }
            },
            Item::OperatorRequest(r) if r.device != item.author => fail(
                addr.to_hex(),
                kind,
                "not signed by the device it names, which alone holds the operator's secret".into(),
            ),
            Item::Receipt(r) => {
                for (sig, reason) in counted_after_revocation(node, r)? {
                    fail(sig, "document signature", reason);
                }
            }
            _ => {}
        }
    }
    // Attachments: a file whose chunks are all here must join to its SHA-256; one
    // still missing chunks is in transit, counted but not a failure.
    let mut incomplete = 0u64;
    for entry in node.store.items() {
        let (addr, bytes) = entry?;
        let Ok(SignedItem {
            item: Item::Snapshot(snap),
            ..
        }) = SignedItem::open(&bytes)
        else {
            continue;
        };
        for a in &snap.attachments {
            let mut parts = Vec::with_capacity(a.chunks.len());
            for c in &a.chunks {
                match crate::attachments::bytes(&node.store, c)? {
                    Some(b) if sync_protocol::Address::of(&b) == *c => parts.push(b),
                    Some(_) => fail(
                        addr.to_hex(),
                        "attachment",
                        format!("a chunk of {} was altered", a.name),
                    ),
                    None => {}
                }
            }
            if parts.len() < a.chunks.len() {
                incomplete += 1;
            } else if !sync_protocol::attachment::joins_to(&parts, &a.sha256) {
                fail(
                    addr.to_hex(),
                    "attachment",
                    format!("{} does not match its SHA-256", a.name),
                );
            }
        }
    }
    if node.service.is_some() {
        if let Err(e) = node.store.verify_hub_log() {
            fail("hub-log".into(), "hub log", e.to_string());
        }
    }
    let ok = failures.is_empty();
    let text = if ok {
        format!("All {checked} stored items verify.")
    } else {
        let mut t = format!("{} of {checked} items FAIL verification:\n", failures.len());
        for f in &failures {
            t.push_str(&format!(
                "  {} ({}): {}\n",
                f["item"].as_str().unwrap_or(""),
                f["kind"].as_str().unwrap_or(""),
                f["reason"].as_str().unwrap_or("")
            ));
        }
        t
    };
    let mut out = Output::new(
        json!({ "ok": ok, "checked": checked, "failures": failures, "incomplete_attachments": incomplete }),
        text.trim_end(),
    );
    out.failed = !ok;
    Ok(out)
}
