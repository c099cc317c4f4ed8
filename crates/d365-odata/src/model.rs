//! The EDM model of a Dataverse environment: entity types (tables) with their entity sets,
//! keys, typed properties, lookups, option sets and navigation properties
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-entitytypes>).

use std::collections::HashMap;
use std::sync::Arc;

/// The primitive types Dataverse uses (there is no `Edm.Money`: currency is `Edm.Decimal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdmType {
    /// `Edm.Guid`: keys and `_x_value` lookups.
    Guid,
    /// `Edm.String`: text and memo.
    String,
    /// `Edm.Boolean`: yes/no.
    Boolean,
    /// `Edm.Int32`: whole numbers and choice (option set) values.
    Int32,
    /// `Edm.Int64`: big integers, `versionnumber`.
    Int64,
    /// `Edm.Decimal`: decimals and currency.
    Decimal,
    /// `Edm.Double`: floating point.
    Double,
    /// `Edm.DateTimeOffset`: date and time, UTC.
    DateTimeOffset,
    /// `Edm.Date`: date only.
    Date,
}

impl EdmType {
    /// The qualified name, e.g. `Edm.Guid`.
    pub fn name(self) -> &'static str {
        match self {
            EdmType::Guid => "Edm.Guid",
            EdmType::String => "Edm.String",
            EdmType::Boolean => "Edm.Boolean",
            EdmType::Int32 => "Edm.Int32",
            EdmType::Int64 => "Edm.Int64",
            EdmType::Decimal => "Edm.Decimal",
            EdmType::Double => "Edm.Double",
            EdmType::DateTimeOffset => "Edm.DateTimeOffset",
            EdmType::Date => "Edm.Date",
        }
    }

    /// Integers, decimals and doubles compare with each other.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            EdmType::Int32 | EdmType::Int64 | EdmType::Decimal | EdmType::Double
        )
    }
}

impl std::fmt::Display for EdmType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A choice (option set): value → label.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionSet {
    /// The options, in display order.
    pub options: Vec<(i32, String)>,
}

impl OptionSet {
    /// The label of a value.
    pub fn label(&self, value: i32) -> Option<&str> {
        self.options
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, l)| l.as_str())
    }
}

/// A structural property (a column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The logical name (`name`, `_primarycontactid_value`).
    pub name: String,
    /// Its type.
    pub edm_type: EdmType,
    /// Whether null is allowed.
    pub nullable: bool,
    /// Maximum length of a string column.
    pub max_length: Option<u32>,
    /// Decimal places of a decimal column (currency: 4).
    pub scale: Option<u8>,
    /// The choice values, for option-set columns.
    pub option_set: Option<OptionSet>,
    /// For lookup properties (`_x_value`): the logical names of the tables it may point to.
    pub lookup_targets: Vec<String>,
    /// Set by the server only (`createdon`, `versionnumber`, lookups' `_x_value`).
    pub read_only: bool,
}

impl Property {
    /// A nullable, writable column.
    pub fn new(name: &str, edm_type: EdmType) -> Self {
        Self {
            name: name.to_owned(),
            edm_type,
            nullable: true,
            max_length: None,
            scale: None,
            option_set: None,
            lookup_targets: Vec::new(),
            read_only: false,
        }
    }

    /// Sets the maximum length.
    pub fn max_length(mut self, n: u32) -> Self {
        self.max_length = Some(n);
        self
    }

    /// Sets the decimal places.
    pub fn scale(mut self, scale: u8) -> Self {
        self.scale = Some(scale);
        self
    }

    /// Makes it a choice column.
    pub fn options(mut self, options: &[(i32, &str)]) -> Self {
        self.option_set = Some(OptionSet {
            options: options.iter().map(|(v, l)| (*v, (*l).to_owned())).collect(),
        });
        self
    }

    /// Marks it as set by the server only.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Makes it non-nullable.
    pub fn required(mut self) -> Self {
        self.nullable = false;
        self
    }

    /// Makes it a lookup (`_x_value`) to the given tables.
    pub fn lookup(mut self, targets: &[&str]) -> Self {
        self.lookup_targets = targets.iter().map(|t| (*t).to_owned()).collect();
        self.read_only = true;
        self
    }
}

/// A navigation property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavigationProperty {
    /// Its name (`primarycontactid`, `parentcustomerid_account`, `contact_customer_accounts`).
    pub name: String,
    /// The logical name of the related table.
    pub target: String,
    /// Collection-valued (one-to-many) or single-valued (a lookup).
    pub collection: bool,
    /// The navigation property on the other side.
    pub partner: Option<String>,
    /// Single-valued: the `_x_value` property on this table. Collection-valued: the
    /// `_x_value` property on the target table that points back here.
    pub foreign_key: String,
}

/// An entity type (a table) and its entity set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityType {
    /// The logical name (`account`).
    pub name: String,
    /// The entity set name (`accounts`).
    pub entity_set: String,
    /// The primary key property (`accountid`).
    pub key: String,
    /// The primary name column (`name`, `fullname`).
    pub primary_name: Option<String>,
    /// Structural properties.
    pub properties: Vec<Property>,
    /// Navigation properties.
    pub navigation: Vec<NavigationProperty>,
    /// Alternate keys, each a list of property names.
    pub alternate_keys: Vec<Vec<String>>,
}

impl EntityType {
    /// A property by (case-sensitive) name.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// A navigation property by (case-sensitive) name.
    pub fn navigation(&self, name: &str) -> Option<&NavigationProperty> {
        self.navigation.iter().find(|n| n.name == name)
    }

    /// The qualified type name, `Microsoft.Dynamics.CRM.account`.
    pub fn qualified_name(&self) -> String {
        format!("Microsoft.Dynamics.CRM.{}", self.name)
    }
}

/// The entity types of an environment, by logical name and by entity set.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Shared, so that work running apart from a request (a read on another thread) can
    /// keep its table without copying it ([`Model::shared`]).
    types: Vec<Arc<EntityType>>,
    by_name: HashMap<String, usize>,
    by_set: HashMap<String, usize>,
}

impl Model {
    /// A model of the given entity types.
    pub fn new(types: Vec<EntityType>) -> Self {
        let by_name = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let by_set = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.entity_set.clone(), i))
            .collect();
        Self {
            types: types.into_iter().map(Arc::new).collect(),
            by_name,
            by_set,
        }
    }

    /// Every entity type.
    pub fn entity_types(&self) -> &[Arc<EntityType>] {
        &self.types
    }

    /// `entity` as a shared handle: this model's own when `entity` is one of its types
    /// (no copy), else a copy of `entity`.
    pub fn shared(&self, entity: &EntityType) -> Arc<EntityType> {
        match self.by_name.get(&entity.name).map(|&i| &self.types[i]) {
            Some(own) if std::ptr::eq(own.as_ref(), entity) => own.clone(),
            _ => Arc::new(entity.clone()),
        }
    }

    /// An entity type by logical name.
    pub fn entity_type(&self, name: &str) -> Option<&EntityType> {
        self.by_name.get(name).map(|&i| &*self.types[i])
    }

    /// An entity type by entity set name (case-sensitive: `Accounts` is not `accounts`).
    pub fn by_entity_set(&self, set: &str) -> Option<&EntityType> {
        self.by_set.get(set).map(|&i| &*self.types[i])
    }
}
