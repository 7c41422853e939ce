//! `verify` on the hub's checkpoints: every checkpoint extends the one it names, no two
//! tree heads of one size disagree, every inclusion proof holds against its checkpoint,
//! and on the hub its own log matches every checkpoint it signed. A disagreement is a
//! forked or rewritten history, reported with the signed checkpoints that show it.

use std::collections::BTreeMap;

use sync_protocol::{branches, contradicts, Address, Checkpoint, Inclusions, Receipt, TreeHead};

use super::{Failure, Verification};
use crate::{error::Result, node::Node};

/// What the item scan collected for these checks.
#[derive(Default)]
pub(super) struct Logged {
    /// Every checkpoint held, by address.
    pub checkpoints: BTreeMap<Address, Checkpoint>,
    /// Every inclusion proofs item held, by address.
    pub inclusions: Vec<(Address, Inclusions)>,
    /// Every receipt held, by address.
    pub receipts: BTreeMap<Address, Receipt>,
}

/// Who says a tree of some size has some root: the checkpoint itself, or the
/// checkpoint that names it as the one it extends.
struct Claim {
    root: Address,
    by: Address,
}

fn fork(item: Address, reason: String, evidence: Vec<Address>) -> Failure {
    Failure {
        item: item.to_hex(),
        kind: "log checkpoint",
        reason,
        evidence,
    }
}

/// Checks what [`Logged`] holds; failures go to `out`.
pub(super) fn check(node: &Node, logged: &Logged, out: &mut Verification) -> Result<()> {
    let mut claims: BTreeMap<u64, Vec<Claim>> = BTreeMap::new();
    for (address, c) in &logged.checkpoints {
        if let Err(e) = c.check_extends() {
            out.failures.push(fork(
                *address,
                format!("the hub signed a checkpoint that does not extend the one before it: {e}"),
                vec![*address],
            ));
        }
        claims.entry(c.size).or_default().push(Claim {
            root: c.root,
            by: *address,
        });
        if let Some(p) = c.previous_head() {
            claims.entry(p.size).or_default().push(Claim {
                root: p.root,
                by: *address,
            });
        }
    }
    for (size, said) in &claims {
        let Some(first) = said.first() else {
            continue;
        };
        let head = |c: &Claim| TreeHead {
            size: *size,
            root: c.root,
        };
        if let Some(other) = said
            .iter()
            .find(|c| contradicts(head(first), head(c)).is_some())
        {
            out.failures.push(fork(
                first.by,
                format!(
                    "FORKED HISTORY: the hub signed two different logs of {size} entries, root \
                     {} in checkpoint {} and root {} in checkpoint {}; both checkpoints are \
                     signed by the hub's service key and are kept here as evidence",
                    first.root, first.by, other.root, other.by
                ),
                vec![first.by, other.by],
            ));
        }
    }
    // One chain: no two checkpoints claim to follow the same one. (Quadratic only in
    // checkpoints that share a predecessor, which an honest hub never signs.)
    let mut successors: BTreeMap<Option<TreeHead>, Vec<(&Address, &Checkpoint)>> = BTreeMap::new();
    for (address, c) in &logged.checkpoints {
        successors
            .entry(c.previous_head())
            .or_default()
            .push((address, c));
    }
    for next in successors.values() {
        let Some(&(first, a)) = next.first() else {
            continue;
        };
        if let Some(&(second, b)) = next.iter().find(|(_, b)| branches(a, b)) {
            out.failures.push(fork(
                *first,
                format!(
                    "FORKED HISTORY: the hub signed two checkpoints that both follow {}: \
                     checkpoint {first} ({} entries, root {}) and checkpoint {second} ({} \
                     entries, root {}); an honest hub signs one chain, so these are two \
                     histories, and both are kept here as evidence",
                    a.previous_head()
                        .map(|p| format!("its log of {} entries", p.size))
                        .unwrap_or_else(|| "nothing (two first checkpoints)".into()),
                    a.size,
                    a.root,
                    b.size,
                    b.root
                ),
                vec![*first, *second],
            ));
        }
    }
    for (address, inc) in &logged.inclusions {
        inclusion_failures(logged, *address, inc, out);
    }
    if node.service.is_some() {
        own_log(node, logged, out)?;
    }
    Ok(())
}

fn inclusion_failures(logged: &Logged, address: Address, inc: &Inclusions, out: &mut Verification) {
    let head = TreeHead {
        size: inc.size,
        root: inc.root,
    };
    if let Some(c) = logged.checkpoints.get(&inc.checkpoint) {
        if c.head() != head {
            out.failures.push(fork(
                address,
                format!(
                    "inclusion proofs say checkpoint {} signs {} entries with root {}, but it \
                     signs {} with root {}",
                    inc.checkpoint, inc.size, inc.root, c.size, c.root
                ),
                vec![address, inc.checkpoint],
            ));
            return;
        }
    }
    for p in &inc.proofs {
        let fits = logged
            .receipts
            .get(&p.receipt)
            .is_none_or(|r| r.submission == p.submission && r.log_seq == p.leaf_index + 1);
        if !fits || !p.holds(head) {
            out.failures.push(Failure {
                item: address.to_hex(),
                kind: "inclusion proofs",
                reason: format!(
                    "the proof for receipt {} does not show its submission at its position in \
                     the log of {} entries that checkpoint {} signs",
                    p.receipt, inc.size, inc.checkpoint
                ),
                evidence: vec![address, inc.checkpoint],
            });
        }
    }
}

/// On the hub: its own log must be the tree every checkpoint it signed names.
fn own_log(node: &Node, logged: &Logged, out: &mut Verification) -> Result<()> {
    let len = node.store.hub_log_len()?;
    for (address, c) in &logged.checkpoints {
        let ours = if c.size <= len {
            Some(node.store.hub_log_root(c.size)?)
        } else {
            None
        };
        if ours != Some(c.root) {
            out.failures.push(fork(
                *address,
                format!(
                    "this hub signed a checkpoint of {} entries with root {}, but its own log \
                     {}: its history was rewritten or forked",
                    c.size,
                    c.root,
                    match ours {
                        Some(r) => format!("has root {r} at that size"),
                        None => format!("holds only {len} entries"),
                    }
                ),
                vec![*address],
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
