//! The find columns of each table's default Quick Find view, which Dataverse indexes, and the
//! ones an org adds (`[[quick_find]]` in the configuration). The store builds a plain index on
//! each (`store::schema::create_find_indexes`), so a `startswith` on one reads a range of an
//! index. The primary name column is indexed on every table anyway.

use d365_odata::model::Model;

use crate::config::QuickFindConfig;
use crate::error::StartError;
use crate::store::schema::FindColumns;

/// The find columns of the built-in tables' default Quick Find views ("Quick Find Active
/// Accounts" and its kin) besides the primary name, where our model has the column.
const DEFAULT_FIND_COLUMNS: &[(&str, &[&str])] = &[
    ("account", &["accountnumber", "emailaddress1", "telephone1"]),
    (
        "contact",
        &["firstname", "lastname", "emailaddress1", "telephone1"],
    ),
    ("lead", &["subject", "companyname", "emailaddress1"]),
];

/// The default find columns of the tables `model` has.
pub(super) fn default_find_columns(model: &Model) -> FindColumns {
    let mut find = FindColumns::default();
    for (table, columns) in DEFAULT_FIND_COLUMNS {
        if let Some(entity) = model.entity_type(table) {
            find.add(
                table,
                columns
                    .iter()
                    .filter(|c| entity.property(c).is_some())
                    .map(|c| (*c).to_owned()),
            );
        }
    }
    find
}

/// `find` with the columns an org declares: each table and column must exist.
pub(super) fn with_declared(
    model: &Model,
    mut find: FindColumns,
    declared: &[QuickFindConfig],
) -> Result<FindColumns, StartError> {
    for d in declared {
        let Some(entity) = model.entity_type(&d.table) else {
            return Err(StartError::Config(format!(
                "quick_find: '{}' is not a table of the emulator (add it with --metadata)",
                d.table
            )));
        };
        if let Some(c) = d.columns.iter().find(|c| entity.property(c).is_none()) {
            return Err(StartError::Config(format!(
                "quick_find: '{c}' is not a column of '{}'",
                d.table
            )));
        }
        find.add(&entity.name, d.columns.iter().cloned());
    }
    Ok(find)
}
