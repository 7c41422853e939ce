//! The signing policy tables a node holds. The hub's authority issues one at `init hub`
//! (the defaults of DESIGN.md §3) and any later one into the trust stream; every other
//! node takes them from there, authority-signed only. The table in force is the newest
//! held; `verify` judges a receipt by the table in force when the hub received it.

use storage::{Store, StoreError, Txn};
use sync_protocol::{Address, Item, PolicyTable, Timestamp};

use crate::{records::PolicyIndex as Held, schema::POLICIES};

/// Records a policy table item in the same write as the item itself.
pub fn record(t: &mut Txn<'_>, table: &PolicyTable, address: Address) -> Result<(), StoreError> {
    let mut held: Held = POLICIES.get_in(t)?.unwrap_or_default();
    if !held.0.iter().any(|(_, a)| *a == address) {
        held.0.push((table.issued_at, address));
        held.0.sort();
        POLICIES.put(t, &held);
    }
    Ok(())
}

fn held(store: &Store) -> Result<Held, StoreError> {
    Ok(POLICIES.get(store)?.unwrap_or_default())
}

fn load(store: &Store, address: &Address) -> Result<Option<PolicyTable>, StoreError> {
    let table = crate::decoded::get(store, address, |item| match item {
        Item::PolicyTable(t) => Ok(t),
        other => Err(StoreError::Corrupt {
            what: "signing policy table index".into(),
            detail: format!("it names a {}", other.kind().name()),
        }),
    })?;
    Ok(table.map(|t| (*t).clone()))
}

/// The newest table this node holds, if any.
pub fn newest(store: &Store) -> Result<Option<PolicyTable>, StoreError> {
    match held(store)?.0.last() {
        Some((_, a)) => load(store, a),
        None => Ok(None),
    }
}

/// The table that was in force at `at`: the newest issued then or before. For a time
/// before the first table the first one, which holds the defaults the hub applied
/// before it distributed tables.
pub fn in_force_at(store: &Store, at: Timestamp) -> Result<Option<PolicyTable>, StoreError> {
    let held = held(store)?;
    let chosen = held
        .0
        .iter()
        .rev()
        .find(|(from, _)| *from <= at)
        .or(held.0.first());
    match chosen {
        Some((_, a)) => load(store, a),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
