//! Which stored signed items belong to which document: one pass over the store sorts
//! every snapshot, signature, submission, receipt and status update under its document,
//! and keeps the certificates, revocations and hub identity the documents lean on.

use std::collections::{BTreeMap, HashMap};

use sync_protocol::{Address, Item, PublicKey, Revoked, SignedItem, Timestamp};

use crate::{error::Result, node::Node, records::DocRecord};

/// When an item says it was made, for ordering.
fn time_of(item: &Item) -> Option<Timestamp> {
    match item {
        Item::Snapshot(s) => Some(s.taken_at),
        Item::Signature(s) => Some(s.signed_at),
        Item::Receipt(r) => Some(r.delivered_at),
        Item::Status(s) => Some(s.at),
        _ => None,
    }
}

/// A document's key: its satker and id.
pub(crate) type DocKey = (String, String);

/// The signed items of one document, each kind in store (address) order.
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
    docs: HashMap<DocKey, DocItems>,
    certificates: HashMap<String, Vec<SignedItem>>,
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
            match &item.item {
                Item::Snapshot(s) => {
                    let key = (s.satker.clone(), s.doc_id.clone());
                    owner.insert(item.address, key.clone());
                    held.docs.entry(key).or_default().snapshots.push(item);
                }
                Item::Signature(_) => signatures.push(item),
                Item::Submission(sub) => {
                    for d in &sub.documents {
                        let key = (sub.satker.clone(), d.doc_id.clone());
                        held.docs
                            .entry(key)
                            .or_default()
                            .submissions
                            .push(item.clone());
                    }
                }
                Item::Receipt(r) => {
                    for d in &r.doc_ids {
                        let key = (r.satker.clone(), d.clone());
                        held.docs
                            .entry(key)
                            .or_default()
                            .receipts
                            .push(item.clone());
                    }
                }
                Item::Status(s) => {
                    let key = (s.satker.clone(), s.doc_id.clone());
                    held.docs.entry(key).or_default().statuses.push(item);
                }
                Item::Certificate(c) => held
                    .certificates
                    .entry(c.serial.clone())
                    .or_default()
                    .push(item),
                Item::Revocation(_) => held.revocations.push(item),
                Item::HubIdentity(_) => held.hub_identities.push(item),
                Item::PolicyTable(_) => held.policies.push(item),
                _ => {}
            }
        }
        // A signature names the snapshot it signs, and the snapshot its document: a
        // signature cannot place itself under another satker's document.
        for item in signatures {
            let Item::Signature(s) = &item.item else {
                continue;
            };
            if let Some(key) = owner.get(&s.snapshot) {
                if key.1 == s.doc_id {
                    held.docs
                        .entry(key.clone())
                        .or_default()
                        .signatures
                        .push(item);
                }
            }
        }
        // The journey reads in time order; the store keeps items by address.
        for items in held.docs.values_mut() {
            items.snapshots.sort_by_key(|i| time_of(&i.item));
            items.signatures.sort_by_key(|i| time_of(&i.item));
            items.receipts.sort_by_key(|i| time_of(&i.item));
            items.statuses.sort_by_key(|i| time_of(&i.item));
        }
        Ok(held)
    }

    /// The items of `rec`, taken out of the scan.
    pub fn take(&mut self, rec: &DocRecord) -> DocItems {
        self.docs
            .remove(&(rec.satker.clone(), rec.doc_id.clone()))
            .unwrap_or_default()
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
