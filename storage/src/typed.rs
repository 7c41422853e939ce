//! A table with its value type: what the node declares for each kind of record, so a
//! record is written and read as one type only, under one documented key layout.

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

use crate::{Store, StoreError, Table, Txn};

/// The records of one [`Table`], each a `V`.
pub struct Typed<V> {
    table: Table,
    _value: PhantomData<fn() -> V>,
}

impl<V> Clone for Typed<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Typed<V> {}

impl<V: Serialize + DeserializeOwned> Typed<V> {
    /// The records of `table`.
    pub const fn new(table: Table) -> Typed<V> {
        Typed {
            table,
            _value: PhantomData,
        }
    }

    /// The table itself.
    pub fn table(&self) -> Table {
        self.table
    }

    /// The record under `key`, read outside a write.
    pub fn get(&self, store: &Store, key: &str) -> Result<Option<V>, StoreError> {
        store.get(self.table, key)
    }

    /// The record under `key`, as the write `t` would leave it.
    pub fn get_in(&self, t: &Txn<'_>, key: &str) -> Result<Option<V>, StoreError> {
        t.get(self.table, key)
    }

    /// Whether a record is under `key`, as the write `t` would leave it.
    pub fn contains(&self, t: &Txn<'_>, key: &str) -> Result<bool, StoreError> {
        t.contains(self.table, key)
    }

    /// Writes the record under `key` in the write `t`.
    pub fn put(&self, t: &mut Txn<'_>, key: &str, value: &V) {
        t.put(self.table, key, value)
    }

    /// Removes the record under `key` in the write `t`.
    pub fn delete(&self, t: &mut Txn<'_>, key: &str) {
        t.delete(self.table, key)
    }

    /// Every record whose key starts with `prefix`, in key order.
    pub fn list(&self, store: &Store, prefix: &str) -> Result<Vec<(String, V)>, StoreError> {
        store.list(self.table, prefix)
    }

    /// The records whose key starts with `prefix`, read lazily in key order.
    pub fn iter<'a>(
        &self,
        store: &'a Store,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, V), StoreError>> + 'a
    where
        V: 'a,
    {
        store.iter(self.table, prefix)
    }
}
