//! `espm verify`: reads every record of the store, re-checks every stored item offline,
//! and judges every receipted document again as the hub judged it when it received it:
//! each signature by the receipt's time, and the signatures that count against the
//! signing policy table in force then.

use sync_protocol::{
    judge_document, judge_signature, Address, DocSignature, Document, Item, Moment, Presented,
    Receipt, SignatureRefusal, SignedItem,
};

use crate::{clock, error::Result, node::Node, trust};

/// One item that does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The item's address in hex, or what failed when it is not one item.
    pub item: String,
    /// What kind of thing it is.
    pub kind: &'static str,
    /// Why it fails, in plain words.
    pub reason: String,
    /// The signed items that show it (a fork's two checkpoints), by address.
    pub evidence: Vec<Address>,
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Items checked.
    pub checked: u64,
    /// Everything that failed.
    pub failures: Vec<Failure>,
    /// Attachments still missing chunks: in transit, not failures.
    pub incomplete_attachments: u64,
    /// The exact signed bytes of every item a failure names as evidence.
    pub evidence: std::collections::BTreeMap<Address, Vec<u8>>,
}

impl Verification {
    /// Whether everything verifies.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn fail(&mut self, item: String, kind: &'static str, reason: String) {
        self.failures.push(Failure {
            item,
            kind,
            reason,
            evidence: Vec::new(),
        });
    }

    /// The verdict on a store too damaged to open or read: one failure naming it, for
    /// `verify --json` to print when opening or reading the store failed that way.
    pub fn damaged_store(damage: &storage::StoreError) -> Verification {
        let mut out = Verification::default();
        out.fail("store".into(), "store", damage.to_string());
        out
    }
}

fn open(node: &Node, address: &Address) -> Result<Option<SignedItem>> {
    Ok(match node.store.item(address)? {
        Some(bytes) => SignedItem::open(&bytes).ok(),
        None => None,
    })
}

/// Why a signature item fails by itself, judged when it says it was made. Whether a
/// revocation applies is decided by when the hub received it, so that is left to the
/// receipts; a signature whose document or certificate has not arrived yet is checked
/// once they do.
fn signature_failure(node: &Node, item: &SignedItem, s: &DocSignature) -> Result<Option<String>> {
    let Some(snapshot) = open(node, &s.snapshot)? else {
        return Ok(None);
    };
    let Item::Snapshot(d) = &snapshot.item else {
        return Ok(Some(
            SignatureRefusal::OtherDocument {
                serial: s.serial.clone(),
            }
            .to_string(),
        ));
    };
    let credentials = trust::credentials(node, [s.serial.as_str()])?;
    let presented = Presented {
        signature: s,
        author: item.author,
    };
    let doc = Document::of(d, snapshot.address);
    Ok(
        match judge_signature(&doc, &presented, &credentials, Moment::At(s.signed_at)) {
            Ok(_) | Err(SignatureRefusal::Revoked { .. }) => None,
            Err(SignatureRefusal::UnknownCertificate { serial }) => crate::schema::CERTS
                .get(&node.store, &serial)?
                .map(|_| format!("certificate {serial} cannot be read")),
            Err(
                SignatureRefusal::NotTheCertificatesKey { serial }
                | SignatureRefusal::OtherJabatan { serial, .. },
            ) => Some(format!("not made with the key of certificate {serial}")),
            Err(SignatureRefusal::NotValid { serial, .. }) => {
                Some(format!("made outside the validity of certificate {serial}"))
            }
            Err(other) => Some(other.to_string()),
        },
    )
}

/// Judges the documents receipt `r` (at `address`) delivers as the hub had to when it
/// received them. A document whose submission, signatures or certificates have not all
/// arrived yet is in transit and judged once they have.
fn receipt_failures(
    node: &Node,
    address: &Address,
    r: &Receipt,
    out: &mut Verification,
) -> Result<()> {
    let Some(SignedItem {
        item: Item::Submission(sub),
        ..
    }) = open(node, &r.submission)?
    else {
        return Ok(());
    };
    let at = clock::rfc3339(r.delivered_at);
    let Some(table) = crate::policy::in_force_at(&node.store, r.delivered_at)? else {
        out.fail(
            address.to_hex(),
            "receipt",
            "this node holds no signing policy table to judge the documents of this receipt by; run `espm sync` so it learns the table from the hub".into(),
        );
        return Ok(());
    };
    'documents: for d in &sub.documents {
        let mut items = Vec::with_capacity(d.signatures.len());
        for a in &d.signatures {
            match node.store.item(a)? {
                None => continue 'documents,
                // Bytes that do not open fail as items of their own; here they count
                // for nothing.
                Some(bytes) => {
                    if let Ok(item) = SignedItem::open(&bytes) {
                        items.push(item);
                    }
                }
            }
        }
        let presented: Vec<(Address, Presented<'_>)> = items
            .iter()
            .filter_map(|i| Presented::of(i).map(|p| (i.address, p)))
            .collect();
        let credentials = trust::credentials(
            node,
            presented.iter().map(|(_, p)| p.signature.serial.as_str()),
        )?;
        let doc = Document {
            doc_id: &d.doc_id,
            kind: d.kind,
            satker: &sub.satker,
            snapshot: d.snapshot,
        };
        let sigs: Vec<Presented<'_>> = presented.iter().map(|(_, p)| *p).collect();
        let judgment = judge_document(
            &doc,
            &sigs,
            &credentials,
            &table.policy,
            Moment::At(r.delivered_at),
        );
        if judgment
            .signatures
            .iter()
            .any(|j| matches!(j, Err(SignatureRefusal::UnknownCertificate { .. })))
        {
            continue;
        }
        for ((sig, _), judged) in presented.iter().zip(&judgment.signatures) {
            let Err(refusal) = judged else {
                continue;
            };
            let but = match refusal {
                SignatureRefusal::Revoked { serial, revocation } => format!(
                    "certificate {serial} was {} before that",
                    revocation.describe()
                ),
                other => other.to_string(),
            };
            out.fail(
                sig.to_hex(),
                "document signature",
                format!(
                    "document {} counts this signature by receipt of {at}, but {but}",
                    d.doc_id
                ),
            );
        }
        if let Err(e) = judgment.complete {
            out.fail(
                address.to_hex(),
                "receipt",
                format!(
                    "document {} is delivered by receipt of {at}, but the signatures that count then miss the signing policy in force: {e}",
                    d.doc_id
                ),
            );
        }
    }
    Ok(())
}

/// Verifies every stored item: `espm verify`.
pub fn verify(node: &Node) -> Result<Verification> {
    let authority = node.authority_key()?;
    let service = node.service_public_key()?;
    let mut out = Verification::default();
    // Every record of every tree first, so damage anywhere in the store's files is
    // found, not only where the items are.
    match node.store.check_records() {
        Ok(check) => {
            for p in check.problems {
                out.fail(p.what, "record", p.detail);
            }
        }
        // Damage sled itself finds is an error like any other command's on this store;
        // `Verification::damaged_store` is how `verify` reports it.
        Err(e) => return Err(e.into()),
    }
    let mut logged = checkpoints::Logged::default();
    for entry in node.store.items() {
        let (addr, bytes) = entry?;
        out.checked += 1;
        let item = match SignedItem::open(&bytes) {
            Ok(i) => i,
            Err(e) => {
                out.fail(addr.to_hex(), "unknown", e.to_string());
                continue;
            }
        };
        if item.address != addr {
            out.fail(
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
            | Item::PolicyTable(_)
            | Item::FieldSchemaTable(_)
                if authority.is_some() && authority != Some(item.author) =>
            {
                out.fail(
                    addr.to_hex(),
                    kind,
                    "not signed by the pinned hub authority".into(),
                );
            }
            Item::Receipt(_) | Item::Status(_) | Item::Checkpoint(_) | Item::Inclusions(_)
                if service.is_some() && service != Some(item.author) =>
            {
                out.fail(
                    addr.to_hex(),
                    kind,
                    "not signed by the hub service key its hub identity certifies".into(),
                );
            }
            Item::Signature(s) => {
                if let Some(reason) = signature_failure(node, &item, s)? {
                    out.fail(addr.to_hex(), kind, reason);
                }
            }
            Item::OperatorRequest(r) if r.device != item.author => out.fail(
                addr.to_hex(),
                kind,
                "not signed by the device it names, which alone holds the operator's secret".into(),
            ),
            Item::Receipt(r) => {
                receipt_failures(node, &addr, r, &mut out)?;
                logged.receipts.insert(addr, r.clone());
            }
            Item::Checkpoint(c) => {
                logged.checkpoints.insert(addr, c.clone());
            }
            Item::Inclusions(i) => logged.inclusions.push((addr, i.clone())),
            Item::PolicyTable(p) => {
                if let Err(e) = p.policy.validate() {
                    out.fail(addr.to_hex(), kind, e.to_string());
                }
            }
            Item::FieldSchemaTable(f) => {
                if let Err(e) = f.schemas.validate() {
                    out.fail(addr.to_hex(), kind, e.to_string());
                }
            }
            _ => {}
        }
    }
    // Attachments: a file whose chunks are all here must join to its SHA-256; one
    // still missing chunks is in transit, counted but not a failure.
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
                    Some(b) if Address::of(&b) == *c => parts.push(b),
                    Some(_) => out.fail(
                        addr.to_hex(),
                        "attachment",
                        format!("a chunk of {} was altered", a.name),
                    ),
                    None => {}
                }
            }
            if parts.len() < a.chunks.len() {
                out.incomplete_attachments += 1;
            } else if !sync_protocol::joins_to(&parts, &a.sha256) {
                out.fail(
                    addr.to_hex(),
                    "attachment",
                    format!("{} does not match its SHA-256", a.name),
                );
            }
        }
    }
    if node.service.is_some() {
        if let Err(e) = node.store.verify_hub_log() {
            out.fail("hub-log".into(), "hub log", e.to_string());
        }
    }
    checkpoints::check(node, &logged, &mut out)?;
    let named: Vec<Address> = out
        .failures
        .iter()
        .flat_map(|f| f.evidence.clone())
        .collect();
    for a in named {
        if let Some(bytes) = node.store.item(&a)? {
            out.evidence.insert(a, bytes.to_vec());
        }
    }
    Ok(out)
}

mod checkpoints;

#[cfg(test)]
mod tests;
