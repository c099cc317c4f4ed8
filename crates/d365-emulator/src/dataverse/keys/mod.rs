//! Alternate keys, as an org defines them
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/define-alternate-keys-entity>).
//! Out of the box no table has one: keys come from the org's `$metadata`
//! (`OData.Community.Keys.V1.AlternateKeys`, `--metadata`), the configuration file
//! (`[[alternate_keys]]`), and the Web API (`POST EntityDefinitions(LogicalName='x')/Keys`).
//!
//! A key made through the Web API starts `Pending`; a background job (Dataverse's
//! asynchronous index job) builds its unique index and leaves it `Active`, or `Failed` when
//! existing rows hold duplicate values. Only an Active key addresses records
//! (`accounts(accountnumber='A-1')`) and is enforced on writes (412 `0x80060892`). Keys of
//! the metadata and the configuration are built before the emulator answers. Keys live in the
//! database ([`crate::store::keys`]), so with `--data-dir` they survive a restart.

mod http;
mod rules;

pub(crate) use http::{ACTIONS, action, create, delete, get, key_json, list, shape};

use std::sync::atomic::Ordering;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use crate::state::AppState;
use crate::store::keys::{KeyTable, StoredKey};

/// How long a new key waits, `Pending`, before its index job runs: long enough that a
/// client sees the status Dataverse shows first (its job takes seconds to minutes), short
/// enough for a test to wait on.
pub const INDEX_JOB_DELAY: Duration = Duration::from_secs(1);

pub use crate::store::keys::status;

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
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<StoredKey>> {
        self.all.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<StoredKey>> {
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
                ..t.clone()
            })
            .collect();
        d365_odata::model::Model::new(tables)
    }

    fn replace(&self, key: StoredKey) {
        let mut all = self.write();
        match all.iter_mut().find(|k| k.metadata_id == key.metadata_id) {
            Some(k) => *k = key,
            None => all.push(key),
        }
    }

    fn set_status(&self, id: &uuid::Uuid, status: &str) {
        if let Some(k) = self.write().iter_mut().find(|k| k.metadata_id == *id) {
            k.status = status.to_owned();
        }
    }

    fn remove(&self, id: &uuid::Uuid) {
        self.write().retain(|k| k.metadata_id != *id);
    }
}

fn same_columns(a: &[String], b: &[&str]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The stable `MetadataId` and default schema name of a declared key.
fn declared_identity(key: &DeclaredKey) -> (uuid::Uuid, String) {
    let schema = key.schema_name.clone().unwrap_or_else(|| {
        let names: Vec<&str> = key.columns.iter().map(|c| rules::logical(c)).collect();
        format!("{}_{}_key", key.entity, names.join("_"))
    });
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("key:{}:{schema}", key.entity).as_bytes(),
    );
    let id = uuid::Builder::from_random_bytes(d.as_ref()[..16].try_into().unwrap_or_default())
        .into_uuid();
    (id, schema)
}

/// The keys the org's definition declares: the `--metadata` file's (taken out of the
/// model) and the configuration's `[[alternate_keys]]`.
pub(crate) fn declared(
    model: &mut crate::dataverse::model::DataverseModel,
    config: &crate::config::EmulatorConfig,
) -> Vec<DeclaredKey> {
    // Keys live here, with their index status, not in the static model: they are taken out
    // of the `--metadata` file's tables (`OData.Community.Keys.V1.AlternateKeys`).
    let mut keys = Vec::new();
    let tables: Vec<d365_odata::model::EntityType> = model
        .model
        .entity_types()
        .iter()
        .cloned()
        .map(|mut t| {
            for columns in std::mem::take(&mut t.alternate_keys) {
                keys.push(DeclaredKey {
                    entity: t.name.clone(),
                    columns,
                    schema_name: None,
                    display_name: None,
                });
            }
            t
        })
        .collect();
    model.model = d365_odata::model::Model::new(tables);
    keys.extend(config.alternate_keys.iter().map(|k| DeclaredKey {
        entity: k.table.clone(),
        columns: k.columns.clone(),
        schema_name: k.schema_name.clone(),
        display_name: k.display_name.clone(),
    }));
    keys
}

/// At start-up, before the emulator answers: stores the declared keys the database does not
/// hold yet, and builds every key's index that is not Failed (a declared key is tried again
/// even then: the definition says it exists). A key a restart interrupted `Pending` is built
/// now. Returns the keys, each `Active` or `Failed`; a Failed declared key is logged.
pub(crate) fn load<'c>(
    table: impl Into<KeyTable<'c>>,
    model: &d365_odata::model::Model,
    declared: &[DeclaredKey],
) -> Result<Keys, crate::error::StartError> {
    let mut table = table.into();
    let mut existing = table.load()?;
    let mut declared_ids = Vec::new();
    for key in declared {
        let entity = model.entity_type(&key.entity).ok_or_else(|| {
            crate::error::StartError::Config(format!(
                "alternate key on '{}': no such table",
                key.entity
            ))
        })?;
        let resolved = rules::resolve(entity, &key.columns);
        rules::check_columns(entity, &resolved).map_err(|e| {
            crate::error::StartError::Config(format!(
                "alternate key on '{}': {}",
                key.entity, e.message
            ))
        })?;
        let key = &DeclaredKey {
            columns: resolved,
            ..key.clone()
        };
        let columns: Vec<&str> = key.columns.iter().map(String::as_str).collect();
        if let Some(k) = existing
            .iter()
            .find(|k| k.entity == key.entity && same_columns(&k.columns, &columns))
        {
            declared_ids.push(k.metadata_id);
            continue;
        }
        let (metadata_id, schema_name) = declared_identity(key);
        // The checks a Web API creation gets: a name once per table, at most MAX_KEYS.
        let on_table: Vec<&StoredKey> =
            existing.iter().filter(|k| k.entity == key.entity).collect();
        if on_table
            .iter()
            .any(|k| k.schema_name.eq_ignore_ascii_case(&schema_name))
        {
            return Err(crate::error::StartError::Config(format!(
                "alternate key on '{}': the name '{schema_name}' is used by another key of the table",
                key.entity
            )));
        }
        if on_table.len() >= rules::MAX_KEYS {
            return Err(crate::error::StartError::Config(format!(
                "alternate keys on '{}': at most {} per table",
                key.entity,
                rules::MAX_KEYS
            )));
        }
        let new = StoredKey {
            metadata_id,
            entity: key.entity.clone(),
            display_name: key.display_name.clone().unwrap_or(schema_name.clone()),
            schema_name,
            columns: key.columns.clone(),
            status: status::PENDING.into(),
            job: None,
        };
        table.insert(&new)?;
        declared_ids.push(metadata_id);
        existing.push(new);
    }
    table.drop_stray_indexes(&existing)?;
    for key in &mut existing {
        if key.status == status::FAILED && !declared_ids.contains(&key.metadata_id) {
            continue;
        }
        if let Some(status) = table.build_index(key)? {
            if status == status::FAILED {
                tracing::warn!(
                    table = %key.entity, key = %key.schema_name,
                    "alternate key Failed: rows hold duplicate values of {}", key.columns.join(", ")
                );
            }
            key.status = status;
        }
    }
    Ok(Keys {
        all: RwLock::new(existing),
        writing: tokio::sync::Mutex::new(()),
        csdl: Mutex::new(None),
    })
}

/// Dataverse's asynchronous index job for a new key: after [`INDEX_JOB_DELAY`], `InProgress`,
/// then the index, then `Active` or `Failed`. Leaves off when the emulator stops (the key
/// stays Pending and is built at the next start).
fn spawn_index_job(st: &AppState, key: StoredKey) {
    let weak = std::sync::Arc::downgrade(&st.0);
    tokio::spawn(async move {
        tokio::time::sleep(INDEX_JOB_DELAY).await;
        let Some(inner) = weak.upgrade() else { return };
        let st = AppState(inner);
        if st.stopping.load(Ordering::SeqCst) {
            return;
        }
        st.keys.set_status(&key.metadata_id, status::IN_PROGRESS);
        let id = key.metadata_id;
        let built = st.store.build_key_index(key).await;
        match built {
            Ok(Some(status)) => st.keys.set_status(&id, &status),
            Ok(None) => st.keys.remove(&id),
            Err(e) => {
                tracing::error!(error = %e, "alternate key index job failed");
                st.keys.set_status(&id, status::FAILED);
                // Stored too, or the next start would take the key for one still building.
                if let Err(e) = st.store.set_key_status(id, status::FAILED).await {
                    tracing::error!(error = %e, "recording the failed key index job");
                }
            }
        }
    });
}
