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

pub(crate) mod registry;
pub(crate) mod rules;

use registry::same_columns;
pub use registry::{DeclaredKey, Keys};

use std::sync::atomic::Ordering;

use std::time::Duration;

use crate::state::AppState;
use crate::store::keys::{KeyTable, StoredKey};

/// How long a new key waits, `Pending`, before its index job runs: long enough that a
/// client sees the status Dataverse shows first (its job takes seconds to minutes), short
/// enough for a test to wait on.
pub const INDEX_JOB_DELAY: Duration = Duration::from_secs(1);

pub use crate::store::keys::status;

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
        .map(|t| (**t).clone())
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
    Ok(Keys::new(existing))
}

/// Dataverse's asynchronous index job for a new key: after [`INDEX_JOB_DELAY`], `InProgress`,
/// then the index, then `Active` or `Failed`. Leaves off when the emulator stops (the key
/// stays Pending and is built at the next start).
pub(crate) fn spawn_index_job(st: &AppState, key: StoredKey) {
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
