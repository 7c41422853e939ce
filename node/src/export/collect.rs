//! Which stored signed items belong to which document: one pass over the store sorts
//! the address of every snapshot, signature, submission, receipt and status update under
//! its document (a hub holds many documents: only addresses are kept, each document's
//! items are read again when it is written), and keeps the few certificates,
//! enrollments, revocations, tables and hub identities the documents lean on.

use std::collections::{BTreeMap, HashMap};

use sync_protocol::{Address, Item, PublicKey, Revoked, SignedItem, Timestamp};

use crate::{error::Result, node::Node, records::DocRecord};

/// A document's key: its satker and id.
type DocKey = (String, String);

/// When an item says it was made, for ordering.
fn time_of(item: &Item) -> Option<Timestamp> {
    match item {
        Item::Snapshot(s) => Some(s.taken_at),
        Item::Signature(s) => Some(s.signed_at),
        Item::Submission(s) => Some(s.submitted_at),
        Item::Receipt(r) => Some(r.delivered_at),
        Item::Status(s) => Some(s.at),
        _ => None,
    }
}

/// Where one document's items are in the store, each with the time it names.
#[derive(Default)]
struct Places {
    snapshots: Vec<(Option<Timestamp>, Address)>,
    signatures: Vec<(Option<Timestamp>, Address)>,
    submissions: Vec<(Option<Timestamp>, Address)>,
    receipts: Vec<(Option<Timestamp>, Address)>,
    statuses: Vec<(Option<Timestamp>, Address)>,
}

/// The signed items of one document, each kind in time order.
#[derive(Default)]
pub(crate) struct DocItems {
    /// Every snapshot of it this node holds, the current one among them.
    pub snapshots: Vec<SignedItem>,
    /// Signatures over any of those snapshots.
    pub signatures: Vec<SignedItem>,
    /// Submissions that carried it.
    pub submissions: Vec<SignedItem>,
    /// The hub's receipts naming it.
    pub receipts: Vec<SignedItem>,
    /// The hub's status updates on it.
    pub statuses: Vec<SignedItem>,
}

/// What one pass over the store found.
#[derive(Default)]
pub(crate) struct Held {
    docs: HashMap<DocKey, Places>,
    certificates: HashMap<String, Vec<SignedItem>>,
    enrollments: HashMap<PublicKey, Vec<SignedItem>>,
    revocations: Vec<SignedItem>,
    /// The hub identities held (one, unless the hub was set up again).
    pub hub_identities: Vec<SignedItem>,
    policies: Vec<SignedItem>,
}

impl Held {
    /// Reads every stored item once. Items were verified when they were stored; the
    /// export shows them as stored and `espm verify`'s result beside them.
    pub fn scan(node: &Node) -> Result<Held> {
        let mut held = Held::default();
        let mut owner: HashMap<Address, DocKey> = HashMap::new();
        let mut signatures = Vec::new();
        for entry in node.store.items() {
            let (_, bytes) = entry?;
            // An item that does not decode is named by `verify`'s failures.
            let Ok(item) = SignedItem::open_stored(&bytes) else {
                continue;
            };
            let place = (time_of(&item.item), item.address);
            match &item.item {
                Item::Snapshot(s) => {
                    let key = (s.satker.clone(), s.doc_id.clone());
                    owner.insert(item.address, key.clone());
                    held.docs.entry(key).or_default().snapshots.push(place);
                }
                Item::Signature(s) => signatures.push((s.snapshot, s.doc_id.clone(), place)),
                Item::Submission(sub) => {
                    for d in &sub.documents {
                        let key = (sub.satker.clone(), d.doc_id.clone());
                        held.docs.entry(key).or_default().submissions.push(place);
                    }
                }
                Item::Receipt(r) => {
                    for d in &r.doc_ids {
                        let key = (r.satker.clone(), d.clone());
                        held.docs.entry(key).or_default().receipts.push(place);
                    }
                }
                Item::Status(s) => {
                    let key = (s.satker.clone(), s.doc_id.clone());
                    held.docs.entry(key).or_default().statuses.push(place);
                }
                Item::Certificate(c) => held
                    .certificates
                    .entry(c.serial.clone())
                    .or_default()
                    .push(item),
                Item::Enrollment(e) => held.enrollments.entry(e.node_id).or_default().push(item),
                Item::Revocation(_) => held.revocations.push(item),
                Item::HubIdentity(_) => held.hub_identities.push(item),
                Item::PolicyTable(_) => held.policies.push(item),
                _ => {}
            }
        }
        // A signature names the snapshot it signs, and the snapshot its document: a
        // signature cannot place itself under another satker's document.
        for (snapshot, doc_id, place) in signatures {
            if let Some(key) = owner.get(&snapshot) {
                if key.1 == doc_id {
                    held.docs
                        .entry(key.clone())
                        .or_default()
                        .signatures
                        .push(place);
                }
            }
        }
        Ok(held)
    }

    /// The items of `rec`, read from the store, each kind in time order.
    pub fn take(&mut self, node: &Node, rec: &DocRecord) -> Result<DocItems> {
        let Some(places) = self.docs.remove(&(rec.satker.clone(), rec.doc_id.clone())) else {
            return Ok(DocItems::default());
        };
        let load = |mut at: Vec<(Option<Timestamp>, Address)>| -> Result<Vec<SignedItem>> {
            at.sort();
            let mut out = Vec::with_capacity(at.len());
            for (_, a) in at {
                // Gone since the scan (a submission withdrawn meanwhile): not exported.
                if let Some(bytes) = node.store.item(&a)? {
                    out.push(SignedItem::open_stored(&bytes)?);
                }
            }
            Ok(out)
        };
        Ok(DocItems {
            snapshots: load(places.snapshots)?,
            signatures: load(places.signatures)?,
            submissions: load(places.submissions)?,
            receipts: load(places.receipts)?,
            statuses: load(places.statuses)?,
        })
    }

    /// The certificates of the serials `items` are signed under.
    pub fn certificates_for(&self, items: &DocItems) -> Vec<SignedItem> {
        let mut serials: Vec<&str> = items
            .signatures
            .iter()
            .filter_map(|i| match &i.item {
                Item::Signature(s) => Some(s.serial.as_str()),
                _ => None,
            })
            .collect();
        serials.sort_unstable();
        serials.dedup();
        serials
            .into_iter()
            .flat_map(|s| self.certificates.get(s).into_iter().flatten().cloned())
            .collect()
    }

    /// The enrollments of the devices that made the document's snapshots and
    /// submissions: that a device of this satker wrote it.
    pub fn enrollments_for(&self, items: &DocItems) -> Vec<SignedItem> {
        let mut devices: Vec<PublicKey> = items
            .snapshots
            .iter()
            .chain(&items.submissions)
            .map(|i| i.author)
            .collect();
        devices.sort_unstable();
        devices.dedup();
        devices
            .iter()
            .flat_map(|d| self.enrollments.get(d).into_iter().flatten().cloned())
            .collect()
    }

    /// The revocations that bear on `items`: of the certificates they are signed
    /// under, of the devices that made them, and of the operators who submitted them.
    pub fn revocations_for(&self, items: &DocItems, satker: &str) -> Vec<SignedItem> {
        let mut serials = Vec::new();
        let mut authors: Vec<PublicKey> = Vec::new();
        let mut operators = Vec::new();
        for i in items
            .snapshots
            .iter()
            .chain(&items.signatures)
            .chain(&items.submissions)
        {
            authors.push(i.author);
            match &i.item {
                Item::Signature(s) => serials.push(s.serial.clone()),
                Item::Submission(s) => operators.push(s.operator.clone()),
                _ => {}
            }
        }
        self.revocations
            .iter()
            .filter(|r| match &r.item {
                Item::Revocation(rev) => match &rev.target {
                    Revoked::Certificate(serial) => serials.contains(serial),
                    Revoked::Device(id) => authors.contains(id),
                    Revoked::Operator {
                        satker: s,
                        username,
                        ..
                    } => s == satker && operators.contains(username),
                },
                _ => false,
            })
            .cloned()
            .collect()
    }

    /// The signing policy tables in force when the hub received the document by each
    /// of `receipts`, as the node's own policy index chooses them.
    pub fn policies_for(&self, node: &Node, receipts: &[SignedItem]) -> Result<Vec<SignedItem>> {
        let mut out: BTreeMap<Address, SignedItem> = BTreeMap::new();
        for r in receipts {
            let Item::Receipt(r) = &r.item else { continue };
            let Some(table) = crate::policy::in_force_at(&node.store, r.delivered_at)? else {
                continue;
            };
            for p in &self.policies {
                if matches!(&p.item, Item::PolicyTable(t) if *t == table) {
                    out.insert(p.address, p.clone());
                }
            }
        }
        Ok(out.into_values().collect())
    }
}
