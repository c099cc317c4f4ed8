//! The keys of the running emulator, mirrored from the database: a leaf the shared state
//! holds, without naming the handlers or the index job that use it.

use std::sync::{Mutex, RwLock};

use crate::store::keys::{StoredKey, status};

/// A key the org's definition declares (metadata or configuration): table and columns
/// (property names, or a lookup's attribute name), with an optional schema and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredKey {
    /// The table's logical name.
    pub entity: String,
    /// Column names (`accountnumber`, `_parentaccountid_value` or `parentaccountid`).
    pub columns: Vec<String>,
    /// `SchemaName`; derived from the table and columns when `None`.
    pub schema_name: Option<String>,
    /// The display name; the schema name when `None`.
    pub display_name: Option<String>,
}

/// The keys of the running emulator, mirrored from the database.
#[derive(Debug, Default)]
pub struct Keys {
    all: RwLock<Vec<StoredKey>>,
    /// Held from a key write's checks to its stored row, so two concurrent creations cannot
    /// both pass the name, column and count checks.
    pub(crate) writing: tokio::sync::Mutex<()>,
    /// `$metadata` as last written, and the Active keys it declares: written again only when
    /// they change (the CSDL of a large `--metadata` org is megabytes).
    csdl: Mutex<Option<(Vec<uuid::Uuid>, axum::body::Bytes)>>,
}

impl Keys {
    /// The keys the database holds, as loaded at start-up.
    pub(super) fn new(existing: Vec<StoredKey>) -> Self {
        Keys {
            all: RwLock::new(existing),
            writing: tokio::sync::Mutex::new(()),
            csdl: Mutex::new(None),
        }
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<StoredKey>> {
        self.all.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<StoredKey>> {
        self.all.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The keys of a table, oldest first.
    pub fn of(&self, entity: &str) -> Vec<StoredKey> {
        self.read()
            .iter()
            .filter(|k| k.entity == entity)
            .cloned()
            .collect()
    }

    /// The key whose columns are exactly `columns` (in any order), whatever its status.
    pub fn with_columns(&self, entity: &str, columns: &[&str]) -> Option<StoredKey> {
        self.read()
            .iter()
            .find(|k| k.entity == entity && same_columns(&k.columns, columns))
            .cloned()
    }

    /// The column sets of a table's Active keys (what `$metadata` declares).
    pub fn active(&self, entity: &str) -> Vec<Vec<String>> {
        self.read()
            .iter()
            .filter(|k| k.entity == entity && k.status == status::ACTIVE)
            .map(|k| k.columns.clone())
            .collect()
    }

    /// `$metadata`: `write(model with each table's Active keys)`, cached until the Active keys
    /// change.
    pub(crate) fn csdl(
        &self,
        model: &d365_odata::model::Model,
        write: impl FnOnce(&d365_odata::model::Model) -> String,
    ) -> axum::body::Bytes {
        let mut active: Vec<uuid::Uuid> = self
            .read()
            .iter()
            .filter(|k| k.status == status::ACTIVE)
            .map(|k| k.metadata_id)
            .collect();
        active.sort_unstable();
        let mut cache = self.csdl.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((ids, text)) = cache.as_ref()
            && *ids == active
        {
            return text.clone();
        }
        let text = axum::body::Bytes::from(write(&self.declare_active(model)));
        *cache = Some((active, text.clone()));
        text
    }

    /// The model with each table's Active keys as its `alternate_keys`, for `$metadata`.
    pub fn declare_active(&self, model: &d365_odata::model::Model) -> d365_odata::model::Model {
        let tables = model
            .entity_types()
            .iter()
            .map(|t| d365_odata::model::EntityType {
                alternate_keys: self.active(&t.name),
                ..(**t).clone()
            })
            .collect();
        d365_odata::model::Model::new(tables)
    }

    pub(crate) fn replace(&self, key: StoredKey) {
        let mut all = self.write();
        match all.iter_mut().find(|k| k.metadata_id == key.metadata_id) {
            Some(k) => *k = key,
            None => all.push(key),
        }
    }

    pub(crate) fn set_status(&self, id: &uuid::Uuid, status: &str) {
        if let Some(k) = self.write().iter_mut().find(|k| k.metadata_id == *id) {
            k.status = status.to_owned();
        }
    }

    pub(crate) fn remove(&self, id: &uuid::Uuid) {
        self.write().retain(|k| k.metadata_id != *id);
    }
}

pub(super) fn same_columns(a: &[String], b: &[&str]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}
