//! What the KPPN sees: the inbox of delivered documents waiting to be taken in, and the
//! Kepala KPPN's counts per satker and state with alerts on devices the hub keeps
//! refusing.

use std::collections::BTreeMap;

use sync_protocol::{DocKind, DocState, Item, SignedItem, Timestamp};

use crate::{docs, error::Result, node::Node, records::DocRecord};

/// One delivered document in the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// Its id.
    pub doc_id: String,
    /// Its kind.
    pub kind: DocKind,
    /// Its satker.
    pub satker: String,
    /// When the hub delivered it (its receipt time).
    pub delivered_at: Option<Timestamp>,
    /// Its `nomor` field, if it has one.
    pub nomor: Option<String>,
    /// Its `nilai` field, if it has one.
    pub nilai: Option<String>,
    /// The submission that carried it.
    pub submission_id: Option<String>,
}

/// Delivered documents not yet taken in, oldest delivery first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbox {
    /// The documents.
    pub entries: Vec<InboxEntry>,
    /// The KPPN's time zone, for showing times.
    pub tz: String,
    /// The hub's time now, for each document's age.
    pub now: Timestamp,
}

/// Counts per satker and state, and alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Monitor {
    /// Documents per state, per satker.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Unusual activity for the KPPN administrator.
    pub alerts: Vec<String>,
}

/// The fields of the snapshot a record points at.
fn fields(node: &Node, rec: &DocRecord) -> Result<BTreeMap<String, String>> {
    let Some(addr) = rec.snapshot else {
        return Ok(BTreeMap::new());
    };
    let Some(bytes) = node.store.item(&addr)? else {
        return Ok(BTreeMap::new());
    };
    Ok(match SignedItem::open(&bytes)?.item {
        Item::Snapshot(s) => s.fields,
        _ => BTreeMap::new(),
    })
}

/// `espm inbox`
pub fn inbox(node: &Node) -> Result<Inbox> {
    node.require_hub("inbox")?;
    let tz = node.tz()?.unwrap_or_default();
    let mut entries = Vec::new();
    for r in docs::all(&node.store)? {
        if r.state != DocState::Delivered {
            continue;
        }
        let f = fields(node, &r)?;
        entries.push(InboxEntry {
            nomor: f.get("nomor").cloned(),
            nilai: f.get("nilai").cloned(),
            doc_id: r.doc_id,
            kind: r.kind,
            satker: r.satker,
            delivered_at: r.delivered_at,
            submission_id: r.submission,
        });
    }
    // Arrival order, as the KPPN takes documents in.
    entries.sort_by_key(|e| e.delivered_at);
    Ok(Inbox {
        entries,
        tz,
        now: node.now(),
    })
}

/// `espm monitor`
pub fn monitor(node: &Node) -> Result<Monitor> {
    node.require_hub("monitor")?;
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in docs::all(&node.store)? {
        *counts
            .entry(r.satker)
            .or_default()
            .entry(r.state.as_str().to_string())
            .or_default() += 1;
    }
    let mut by_device: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for (_, r) in crate::schema::REFUSALS.list(&node.store, "")? {
        if let Some(d) = r.device {
            let e = by_device.entry(d).or_default();
            e.0 += 1;
            e.1 = r.reason;
        }
    }
    let mut alerts: Vec<String> = by_device
        .iter()
        .map(|(d, (n, last))| {
            format!(
                "device {}… sent {n} item(s) the hub refused; last: {last}",
                &d[..12.min(d.len())]
            )
        })
        .collect();
    alerts.extend(crate::nomor::duplicate_alerts(&node.store)?);
    Ok(Monitor { counts, alerts })
}
