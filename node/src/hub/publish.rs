//! What the hub itself says: items it seals with its authority key (enrollments,
//! certificates, revocations, activations, its identity) or its service key (receipts,
//! status updates), enters in its Merkle log and publishes into a stream.

use storage::{StoreError, StreamEntry, Txn};
use sync_protocol::{FieldSchemaTable, Item, PolicyTable, SecretKey, SignedItem, StreamId};

/// Seals an item with one of the hub's keys (the authority key for what binds trust,
/// the service key for receipts and status updates), stores it, enters it in the log, and
/// publishes it into `stream`. Returns the sealed item.
pub fn issue(
    t: &mut Txn<'_>,
    key: &sync_protocol::SecretKey,
    item: Item,
    stream: Option<&StreamId>,
) -> Result<SignedItem, StoreError> {
    let sealed = SignedItem::seal(item, key);
    t.put_item(&sealed.bytes)?;
    t.hub_log_append(sealed.address)?;
    if let Some(s) = stream {
        t.append(
            s,
            StreamEntry {
                address: sealed.address,
                origin: None,
            },
        )?;
    }
    Ok(sealed)
}

/// Seals `table` with the hub's authority key, publishes it in the trust stream, and
/// makes it the table in force here.
pub fn issue_policy(
    t: &mut Txn<'_>,
    authority: &SecretKey,
    table: PolicyTable,
) -> Result<SignedItem, StoreError> {
    let sealed = issue(
        t,
        authority,
        Item::PolicyTable(table.clone()),
        Some(&StreamId::Trust),
    )?;
    crate::policy::record(t, &table, sealed.address)?;
    Ok(sealed)
}

/// Seals `table` with the hub's authority key, publishes it in the trust stream, and
/// makes it the field schema table in force here.
pub fn issue_field_schemas(
    t: &mut Txn<'_>,
    authority: &SecretKey,
    table: FieldSchemaTable,
) -> Result<SignedItem, StoreError> {
    let sealed = issue(
        t,
        authority,
        Item::FieldSchemaTable(table.clone()),
        Some(&StreamId::Trust),
    )?;
    crate::fields::record(t, &table, sealed.address)?;
    Ok(sealed)
}
