//! The built-in Dataverse tables, with their real logical names, entity sets, keys, types,
//! lookups and navigation properties: account, contact, lead, opportunity, task, annotation
//! (user-owned, in `sales`), and systemuser, team, businessunit, organization,
//! transactioncurrency (in `directory`), and the system-job tables asyncoperation and
//! bulkdeleteoperation (in `jobs`). Custom tables from a real
//! org's `$metadata` (`d365 emulator --metadata org.xml`) join them through the same
//! `d365_odata::Model`.

use d365_odata::model::{EdmType, EntityType, Model, NavigationProperty, Property};

mod directory;
mod jobs;
pub(crate) mod names;
mod quick_find;
mod sales;

use directory::{businessunit, organization, systemuser, team, transactioncurrency};
pub use jobs::{OPERATION_BULK_DELETE, is_system_job};
use jobs::{asyncoperation, bulkdeleteoperation};
use sales::{account, annotation, contact, lead, opportunity, task};

/// Lookups the server sets on owned tables: `createdby`, `modifiedby`, their `…onbehalfby`
/// twins (the impersonating caller) and `owningbusinessunit`. A body that binds them is
/// ignored for these, as Dataverse ignores `createdon`.
pub const SERVER_LOOKUPS: [&str; 5] = [
    "_createdby_value",
    "_modifiedby_value",
    "_createdonbehalfby_value",
    "_modifiedonbehalfby_value",
    "_owningbusinessunit_value",
];

pub(super) fn single(name: &str, target: &str, fk: &str, partner: &str) -> NavigationProperty {
    NavigationProperty {
        name: name.into(),
        target: target.into(),
        collection: false,
        partner: Some(partner.into()),
        foreign_key: fk.into(),
    }
}

pub(super) fn many(name: &str, target: &str, fk: &str, partner: &str) -> NavigationProperty {
    NavigationProperty {
        collection: true,
        ..single(name, target, fk, partner)
    }
}

/// A table: key `{key}`, the version and date columns, and `columns`.
pub(super) fn table(
    name: &str,
    set: &str,
    key: &str,
    primary_name: &str,
    columns: Vec<Property>,
    navigation: Vec<NavigationProperty>,
) -> EntityType {
    let mut properties = vec![
        Property::new(key, EdmType::Guid).required(),
        Property::new("createdon", EdmType::DateTimeOffset).read_only(),
        Property::new("modifiedon", EdmType::DateTimeOffset).read_only(),
        Property::new("versionnumber", EdmType::Int64).read_only(),
    ];
    properties.extend(columns);
    EntityType {
        name: name.into(),
        entity_set: set.into(),
        key: key.into(),
        primary_name: Some(primary_name.into()),
        properties,
        navigation,
        alternate_keys: vec![],
    }
}

/// A user-owned table: [`table`] plus the owner, creator, modifier and business unit, whose
/// reverse navigation properties on systemuser are named after `base` (`lk_accountbase_createdby`).
pub(super) fn owned(
    name: &str,
    set: &str,
    key: &str,
    primary_name: &str,
    mut columns: Vec<Property>,
    mut navigation: Vec<NavigationProperty>,
) -> EntityType {
    columns.extend([
        Property::new("_createdby_value", EdmType::Guid).lookup(&["systemuser"]),
        Property::new("_modifiedby_value", EdmType::Guid).lookup(&["systemuser"]),
        Property::new("_createdonbehalfby_value", EdmType::Guid).lookup(&["systemuser"]),
        Property::new("_modifiedonbehalfby_value", EdmType::Guid).lookup(&["systemuser"]),
        Property::new("_ownerid_value", EdmType::Guid).lookup(&["systemuser", "team"]),
        Property::new("_owningbusinessunit_value", EdmType::Guid).lookup(&["businessunit"]),
    ]);
    navigation.extend([
        single(
            "createdby",
            "systemuser",
            "_createdby_value",
            &format!("lk_{name}base_createdby"),
        ),
        single(
            "modifiedby",
            "systemuser",
            "_modifiedby_value",
            &format!("lk_{name}base_modifiedby"),
        ),
        single(
            "createdonbehalfby",
            "systemuser",
            "_createdonbehalfby_value",
            &format!("lk_{name}base_createdonbehalfby"),
        ),
        single(
            "modifiedonbehalfby",
            "systemuser",
            "_modifiedonbehalfby_value",
            &format!("lk_{name}base_modifiedonbehalfby"),
        ),
        single(
            "ownerid",
            "systemuser",
            "_ownerid_value",
            &format!("user_{name}"),
        ),
        single(
            "owningbusinessunit",
            "businessunit",
            "_owningbusinessunit_value",
            &format!("business_unit_{name}s"),
        ),
    ]);
    table(name, set, key, primary_name, columns, navigation)
}

/// Money columns (decimals with four places) come with the record's currency, as in
/// Dataverse: `_transactioncurrencyid_value` and the `transactioncurrencyid` navigation.
fn with_currency(mut e: EntityType) -> EntityType {
    let money = e
        .properties
        .iter()
        .any(|p| p.edm_type == EdmType::Decimal && p.scale == Some(4));
    if money {
        e.properties.push(
            Property::new("_transactioncurrencyid_value", EdmType::Guid)
                .lookup(&["transactioncurrency"]),
        );
        e.navigation.push(single(
            "transactioncurrencyid",
            "transactioncurrency",
            "_transactioncurrencyid_value",
            &format!("TransactionCurrency_{}", e.name),
        ));
    }
    e
}

/// The tables a lead is qualified into (account, contact, opportunity) remember it, as in
/// Dataverse: `_originatingleadid_value` and the `originatingleadid` navigation.
fn with_originating_lead(mut e: EntityType) -> EntityType {
    if ["account", "contact", "opportunity"].contains(&e.name.as_str()) {
        e.properties
            .push(Property::new("_originatingleadid_value", EdmType::Guid).lookup(&["lead"]));
        e.navigation.push(single(
            "originatingleadid",
            "lead",
            "_originatingleadid_value",
            &format!("{}_originating_lead", e.name),
        ));
    }
    e
}

/// The built-in tables.
pub fn builtin_tables() -> Vec<EntityType> {
    let tables = vec![
        account(),
        contact(),
        lead(),
        opportunity(),
        task(),
        annotation(),
        systemuser(),
        team(),
        businessunit(),
        organization(),
        transactioncurrency(),
        asyncoperation(),
        bulkdeleteoperation(),
    ];
    tables
        .into_iter()
        .map(with_currency)
        .map(with_originating_lead)
        .collect()
}

/// Whether a table has change tracking on (`ChangeTrackingEnabled`): every table with a
/// `versionnumber`, except `organization` and the system-job tables, which Dataverse does not
/// track.
pub fn change_tracking_enabled(entity: &EntityType) -> bool {
    entity.name != "organization"
        && !is_system_job(entity)
        && entity.property("versionnumber").is_some()
}

/// The emulated tables.
#[derive(Debug, Clone)]
pub struct DataverseModel {
    /// The EDM model.
    pub model: Model,
    /// Logical names of the elastic tables (`--elastic-table`): bulk messages on them succeed
    /// partly, `DeleteMultiple` works, and their metadata says `TableType` `Elastic`.
    pub elastic: Vec<String>,
    /// The columns indexed for Quick Find on top of the primary names: the default Quick Find
    /// views' find columns, and those the configuration adds ([`Self::with_quick_find`]).
    pub find_columns: crate::store::schema::FindColumns,
}

impl DataverseModel {
    /// Adds the find columns the configuration declares (`[[quick_find]]`); each table and
    /// column must exist.
    pub fn with_quick_find(
        mut self,
        declared: &[crate::config::QuickFindConfig],
    ) -> Result<Self, crate::error::StartError> {
        self.find_columns = quick_find::with_declared(
            &self.model,
            std::mem::take(&mut self.find_columns),
            declared,
        )?;
        Ok(self)
    }

    /// Whether the table is elastic.
    pub fn is_elastic(&self, logical_name: &str) -> bool {
        self.elastic.iter().any(|e| e == logical_name)
    }

    /// Marks tables elastic; each must exist and must not be a built-in system table.
    pub fn with_elastic(mut self, names: &[String]) -> Result<Self, crate::error::StartError> {
        for name in names {
            let Some(e) = self.model.entity_type(name) else {
                return Err(crate::error::StartError::Config(format!(
                    "elastic table '{name}' is not a table of the emulator (add it with --metadata)"
                )));
            };
            if is_system_job(e) || builtin_tables().iter().any(|b| b.name == e.name) {
                return Err(crate::error::StartError::Config(format!(
                    "'{name}' is a standard Dataverse table; only custom tables (from --metadata) can be elastic"
                )));
            }
            self.elastic.push(e.name.clone());
        }
        Ok(self)
    }

    /// The built-in tables together with the tables of a real org's `$metadata`: a table in
    /// the file replaces the built-in of the same name (the org is the truth) but keeps the
    /// built-in's choice labels, which CSDL does not carry. Navigation properties to tables
    /// in neither are dropped, so `$expand` never meets a table it cannot read.
    ///
    /// Every name must be an OData simple identifier (`[A-Za-z_][A-Za-z0-9_]*`), as Dataverse's
    /// are: names become SQL identifiers.
    pub fn with_metadata(custom: &Model) -> Result<Self, crate::error::StartError> {
        let simple = |n: &str| {
            let mut chars = n.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for t in custom.entity_types() {
            let names = [t.name.as_str(), t.entity_set.as_str(), t.key.as_str()]
                .into_iter()
                .chain(t.properties.iter().map(|p| p.name.as_str()))
                .chain(t.navigation.iter().map(|n| n.name.as_str()))
                .chain(
                    t.navigation
                        .iter()
                        .map(|n| n.foreign_key.as_str())
                        .filter(|k| !k.is_empty()),
                )
                .chain(t.navigation.iter().map(|n| n.target.as_str()));
            for n in names {
                if !simple(n) {
                    return Err(crate::error::StartError::Config(format!(
                        "metadata: '{n}' (in '{}') is not a simple identifier",
                        t.name
                    )));
                }
            }
        }
        let builtin = builtin_tables();
        let mut tables: Vec<EntityType> = builtin
            .iter()
            .filter(|b| custom.entity_type(&b.name).is_none())
            .cloned()
            .collect();
        for t in custom.entity_types() {
            let mut t = (**t).clone();
            if let Some(b) = builtin.iter().find(|b| b.name == t.name) {
                for p in &mut t.properties {
                    if p.option_set.is_none()
                        && let Some(bp) = b.property(&p.name)
                    {
                        p.option_set = bp.option_set.clone();
                    }
                }
            }
            tables.push(t);
        }
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        for t in &mut tables {
            t.navigation.retain(|n| names.contains(&n.target));
        }
        let model = Model::new(tables);
        Ok(Self {
            find_columns: quick_find::default_find_columns(&model),
            model,
            elastic: Vec::new(),
        })
    }

    /// [`with_metadata`](Self::with_metadata) from a CSDL file.
    pub fn from_metadata_file(path: &std::path::Path) -> Result<Self, crate::error::StartError> {
        let file = std::fs::File::open(path).map_err(|source| crate::error::StartError::Io {
            what: format!("reading metadata {}", path.display()),
            source,
        })?;
        let custom =
            d365_odata::csdl::read_csdl_from(std::io::BufReader::new(file)).map_err(|e| {
                crate::error::StartError::Config(format!("metadata {}: {e}", path.display()))
            })?;
        Self::with_metadata(&custom)
    }
}

impl Default for DataverseModel {
    fn default() -> Self {
        let model = Model::new(builtin_tables());
        Self {
            find_columns: quick_find::default_find_columns(&model),
            model,
            elastic: Vec::new(),
        }
    }
}
