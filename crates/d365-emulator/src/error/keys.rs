//! Dataverse's errors about alternate keys (entity keys), with the codes and message
//! templates of its error list
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes>).

use axum::http::StatusCode;

use super::DataverseError;

impl DataverseError {
    /// 404 `0x80040217`: no key of the table has this id or logical name.
    pub fn entity_key_not_found(id: &str, entity: &str) -> Self {
        Self::not_found(
            "0x80040217",
            format!(
                "Could not find an entity key with id or logical name '{id}' on entity {entity}."
            ),
        )
    }

    /// 412 `0x80060892` (DuplicateRecordEntityKey): a write would give two records the same
    /// values of an Active key. `key` is the key's schema name when known.
    pub fn duplicate_key(key: Option<&str>, columns: &[String]) -> Self {
        let columns = columns.join(", ");
        Self::with_status(
            StatusCode::PRECONDITION_FAILED,
            "0x80060892",
            format!(
                "Entity Key {} violated. A record with the same value for {columns} already exists. A duplicate record cannot be created. Select one or more unique values and try again.",
                key.unwrap_or(&columns)
            ),
        )
    }

    /// 400 `0x80060890` (EntityKeyNotDefined): a key predicate names columns that are not an
    /// Active key of the table (no key, or one whose index is not built).
    pub fn key_not_defined(entity: &str) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x80060890",
            format!("The specified key attributes are not a defined key for the {entity} entity"),
        )
    }

    /// 400 `0x8006088F` (InvalidEntityKeyOperation): a key that cannot be made.
    pub fn key_operation(why: impl std::fmt::Display) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x8006088F",
            format!("Invalid EntityKey Operation performed : {why}"),
        )
    }

    /// 400 `0x80090112` (EntityKeyAttributeNotValidForCreateAndUpdate): a key column the
    /// caller cannot write.
    pub fn key_attribute_not_writable(attribute: &str, id: &str) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x80090112",
            format!(
                "Attribute of an entity key must be valid for create and update. Atribute Name = '{attribute}' Id = '{id}'"
            ),
        )
    }

    /// 400 `0x80060893` (EntityKeyNameExists).
    pub fn key_name_exists(name: &str, entity: &str) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x80060893",
            format!("An entity key with the name {name} already exists on entity {entity}."),
        )
    }

    /// 400 `0x80060894` (EntityKeyWithSelectedAttributesExists).
    pub fn key_columns_exist() -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x80060894",
            "An entity key with the selected attributes already exists on entity.",
        )
    }
}
