//! Delivery proofs: one self-contained file that shows, to anyone and offline, that the
//! KPPN's hub received a document and when. It holds the exact signed bytes of the
//! hub's identity (which binds its service key to its authority key, the hub id nodes
//! pin), the submission, the hub's receipt for it, and a signed checkpoint of the hub's
//! log, with the RFC 9162 inclusion proof of the submission in that checkpoint's tree.
//!
//! Checking one ([`check`]) needs nothing but the file and the hub id: no store, no
//! network. Every claim is checked from the signed bytes; nothing is taken from the
//! file's readable fields without being compared to what the signatures cover.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use sync_protocol::{Address, Checkpoint, InclusionProof, Item, NodeId, Receipt, SignedItem};

use crate::{
    clock,
    error::{NodeError, Result},
    node::Node,
    schema::{HUB_IDENTITY, ISSUED_CHECKPOINT, PROVEN, RECEIPT_OF},
};

/// The format name a proof file starts with.
pub const FORMAT: &str = "espm-delivery-proof/1";

/// The largest proof file read: a proof is a few kilobytes.
pub const MAX_PROOF_BYTES: u64 = 1 << 20;

/// A delivery proof as its file holds it (JSON; README.md documents it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryProof {
    /// Always [`FORMAT`].
    pub format: String,
    /// The document proven delivered.
    pub doc_id: String,
    /// Its satker.
    pub satker: String,
    /// The hub's id (its node key), as nodes pin it.
    pub hub_id: String,
    /// The hub identity item, base64 of its exact signed bytes.
    pub hub_identity: String,
    /// The submission item (the log entry), base64.
    pub submission: String,
    /// The hub's receipt item, base64.
    pub receipt: String,
    /// The signed checkpoint item the proof is against, base64.
    pub checkpoint: String,
    /// The submission's leaf index in the log.
    pub leaf_index: u64,
    /// The RFC 9162 inclusion proof, hex hashes from the leaf up.
    pub inclusion: Vec<String>,
}

/// What `espm proof` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The document.
    pub doc_id: String,
    /// The file.
    pub file: std::path::PathBuf,
}

/// The tree head a proof was checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenAgainst {
    /// The checkpoint item.
    pub address: Address,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Address,
    /// When the hub signed it (RFC 3339).
    pub at: String,
}

/// What `espm check-proof` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// Whether the proof holds.
    pub ok: bool,
    /// The document, as the signed receipt names it (or the file says, if refused).
    pub doc_id: String,
    /// When the hub received it durably (RFC 3339), from the signed receipt.
    pub received_at: Option<String>,
    /// The checkpoint it is proven against.
    pub checkpoint: Option<ProvenAgainst>,
    /// Why it does not hold.
    pub reason: Option<String>,
}

fn item_bytes(node: &Node, address: &Address, what: &str) -> Result<Vec<u8>> {
    node.store
        .item(address)?
        .map(|b| b.to_vec())
        .ok_or_else(|| {
            NodeError::user(format!(
                "this node does not hold the {what} ({}); run `espm sync` and try again",
                address.short()
            ))
        })
}

fn opened(bytes: &[u8], what: &str) -> Result<SignedItem> {
    SignedItem::open(bytes)
        .map_err(|e| NodeError::user(format!("the stored {what} does not verify: {e}")))
}

/// Builds the delivery proof of `doc` (an id as `espm status` shows it) from what this
/// node holds.
pub fn make(node: &Node, doc: &str) -> Result<DeliveryProof> {
    let rec = crate::docs::resolve(node, doc)?;
    let key = format!("{}/{}", rec.satker, rec.doc_id);
    let receipt_at = RECEIPT_OF.get(&node.store, &key)?.ok_or_else(|| {
        NodeError::user(format!(
            "document {} has no receipt from the KPPN yet: it must be delivered first \
             (`espm sync`, then `espm status {}`)",
            rec.doc_id, rec.doc_id
        ))
    })?;
    let receipt_bytes = item_bytes(node, &receipt_at, "receipt")?;
    let Item::Receipt(receipt) = opened(&receipt_bytes, "receipt")?.item else {
        return Err(NodeError::user("the stored receipt is not a receipt"));
    };
    let submission = item_bytes(node, &receipt.submission, "submission")?;
    let leaf_index = receipt.log_seq.saturating_sub(1);
    let (checkpoint_at, path) = match PROVEN.get(&node.store, &receipt_at.to_hex())? {
        Some(at) => {
            let Item::Inclusions(inc) = opened(
                &item_bytes(node, &at, "inclusion proofs")?,
                "inclusion proofs",
            )?
            .item
            else {
                return Err(NodeError::user(
                    "the stored inclusion proofs are not proofs",
                ));
            };
            let p = inc
                .proofs
                .into_iter()
                .find(|p| p.receipt == receipt_at)
                .ok_or_else(|| NodeError::user("the stored inclusion proofs miss this receipt"))?;
            (inc.checkpoint, p.path)
        }
        // The hub proves from its own tree, against the last checkpoint it signed.
        None => match (
            matches!(node.config, crate::config::NodeConfig::Hub(_)),
            ISSUED_CHECKPOINT.get(&node.store)?,
        ) {
            (true, Some(c)) if c.size >= receipt.log_seq => {
                let path = node
                    .store
                    .hub_log_inclusion(leaf_index, c.size)?
                    .ok_or_else(|| NodeError::user("the hub's log does not hold this receipt"))?;
                (c.address, path)
            }
            (true, _) => {
                return Err(NodeError::user(format!(
                    "no checkpoint covers the receipt of {} yet; the hub signs one when a \
                     sync session ends, so try again after the next sync",
                    rec.doc_id
                )))
            }
            (false, _) => {
                return Err(NodeError::user(format!(
                    "this node has the receipt of {} but not yet the hub's inclusion proof \
                     for it; run `espm sync` and try again",
                    rec.doc_id
                )))
            }
        },
    };
    let identity_at = HUB_IDENTITY
        .get(&node.store)?
        .ok_or_else(|| NodeError::user("this node does not hold the hub's identity yet"))?;
    let hub_id = pinned_hub(node);
    Ok(DeliveryProof {
        format: FORMAT.to_string(),
        doc_id: rec.doc_id,
        satker: rec.satker,
        hub_id: hub_id.to_string(),
        hub_identity: B64.encode(item_bytes(node, &identity_at, "hub identity")?),
        submission: B64.encode(submission),
        receipt: B64.encode(receipt_bytes),
        checkpoint: B64.encode(item_bytes(node, &checkpoint_at, "checkpoint")?),
        leaf_index,
        inclusion: path.iter().map(Address::to_hex).collect(),
    })
}

/// Writes the delivery proof of `doc` to `file`, atomically (a temporary file, then a
/// rename), so a cut never leaves half a proof under its name.
pub fn write(node: &Node, doc: &str, file: &std::path::Path) -> Result<Written> {
    let proof = make(node, doc)?;
    let text = serde_json::to_vec_pretty(&proof)
        .map_err(|e| NodeError::user(format!("cannot encode the proof: {e}")))?;
    write_atomically(file, &text)?;
    Ok(Written {
        doc_id: proof.doc_id,
        file: file.to_path_buf(),
    })
}

/// Writes `bytes` to a temporary file beside `file`, syncs it, and renames it over.
fn write_atomically(file: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let cannot = || format!("cannot write the proof to {}", file.display());
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(NodeError::io(cannot()))?;
    tmp.write_all(bytes).map_err(NodeError::io(cannot()))?;
    tmp.as_file().sync_all().map_err(NodeError::io(cannot()))?;
    tmp.persist(file)
        .map_err(|e| e.error)
        .map_err(NodeError::io(cannot()))?;
    Ok(())
}

/// Why a proof does not hold: each a plain sentence.
fn refuse(doc_id: &str, reason: impl Into<String>) -> Checked {
    Checked {
        ok: false,
        doc_id: doc_id.to_string(),
        received_at: None,
        checkpoint: None,
        reason: Some(reason.into()),
    }
}

fn decode_item(b64: &str, what: &str) -> std::result::Result<SignedItem, String> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| format!("its {what} is not base64"))?;
    SignedItem::open(&bytes).map_err(|e| format!("its {what} does not verify: {e}"))
}

/// Checks a delivery proof's text against the hub id `hub`, offline.
pub fn check(text: &str, hub: &NodeId) -> Checked {
    let proof: DeliveryProof = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) => return refuse("", format!("the file is not a delivery proof ({e})")),
    };
    match check_parsed(&proof, hub) {
        Ok(c) => c,
        Err(reason) => refuse(&proof.doc_id, reason),
    }
}

fn check_parsed(p: &DeliveryProof, hub: &NodeId) -> std::result::Result<Checked, String> {
    if p.format != FORMAT {
        return Err(format!("its format is '{}', not {FORMAT}", p.format));
    }
    let identity = decode_item(&p.hub_identity, "hub identity")?;
    let Item::HubIdentity(h) = &identity.item else {
        return Err("its hub identity is another kind of item".into());
    };
    if h.node_id != *hub {
        return Err(format!(
            "it is signed by hub {}, not the hub {hub} it is checked against",
            h.node_id
        ));
    }
    if !h.binding_holds() || h.authority != identity.author {
        return Err("its hub identity is not bound to the hub's authority key".into());
    }
    let receipt_item = decode_item(&p.receipt, "receipt")?;
    let Item::Receipt(receipt) = &receipt_item.item else {
        return Err("its receipt is another kind of item".into());
    };
    if receipt_item.author != h.service {
        return Err("its receipt is not signed by the hub's service key".into());
    }
    let submission = decode_item(&p.submission, "submission")?;
    let Item::Submission(sub) = &submission.item else {
        return Err("its submission is another kind of item".into());
    };
    if submission.address != receipt.submission {
        return Err("its receipt is for another submission".into());
    }
    if !receipt.doc_ids.contains(&p.doc_id) || !sub.documents.iter().any(|d| d.doc_id == p.doc_id) {
        return Err(format!("its receipt does not name document {}", p.doc_id));
    }
    if receipt.satker != p.satker || sub.satker != p.satker {
        return Err(format!("its receipt is not for satker {}", p.satker));
    }
    let checkpoint_item = decode_item(&p.checkpoint, "checkpoint")?;
    let Item::Checkpoint(checkpoint) = &checkpoint_item.item else {
        return Err("its checkpoint is another kind of item".into());
    };
    if checkpoint_item.author != h.service {
        return Err("its checkpoint is not signed by the hub's service key".into());
    }
    included(p, receipt, checkpoint, &submission, &receipt_item)?;
    Ok(Checked {
        ok: true,
        doc_id: p.doc_id.clone(),
        received_at: Some(clock::rfc3339(receipt.delivered_at)),
        checkpoint: Some(ProvenAgainst {
            address: checkpoint_item.address,
            size: checkpoint.size,
            root: checkpoint.root,
            at: clock::rfc3339(checkpoint.at),
        }),
        reason: None,
    })
}

/// The inclusion proof shows the submission at the receipt's position in the
/// checkpoint's tree.
fn included(
    p: &DeliveryProof,
    receipt: &Receipt,
    checkpoint: &Checkpoint,
    submission: &SignedItem,
    receipt_item: &SignedItem,
) -> std::result::Result<(), String> {
    if receipt.log_seq == 0 || p.leaf_index != receipt.log_seq - 1 {
        return Err("its leaf index is not the position its receipt names".into());
    }
    let mut path = Vec::with_capacity(p.inclusion.len());
    for h in &p.inclusion {
        let bytes: [u8; 32] = hex::decode(h)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("its inclusion proof holds a hash that is not 32 bytes of hex")?;
        path.push(Address(bytes));
    }
    let proof = InclusionProof {
        receipt: receipt_item.address,
        submission: submission.address,
        leaf_index: p.leaf_index,
        path,
    };
    if !proof.holds(checkpoint.head()) {
        return Err(format!(
            "its inclusion proof does not show the submission in the hub's log of {} entries \
             that the checkpoint signs",
            checkpoint.size
        ));
    }
    Ok(())
}

/// Reads a proof file, bounded, where the user typed its name.
pub fn read(file: &std::path::Path) -> Result<String> {
    let meta = std::fs::metadata(file).map_err(NodeError::io(format!(
        "cannot read the proof file {}",
        file.display()
    )))?;
    if meta.len() > MAX_PROOF_BYTES {
        return Err(NodeError::user(format!(
            "{} is {} bytes, larger than any delivery proof; it is not one",
            file.display(),
            meta.len()
        )));
    }
    std::fs::read_to_string(file).map_err(NodeError::io(format!(
        "cannot read the proof file {}",
        file.display()
    )))
}

/// The hub id this node pins (a satker or auditor) or is (a hub).
pub fn pinned_hub(node: &Node) -> NodeId {
    match &node.config {
        crate::config::NodeConfig::Satker { hub_id, .. }
        | crate::config::NodeConfig::Auditor { hub_id, .. } => *hub_id,
        crate::config::NodeConfig::Hub(_) => node.node_id(),
    }
}
