//! Dataverse's errors about metadata queries (`EntityDefinitions`, its `Attributes` and
//! `Keys`) (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api>).

use axum::http::StatusCode;

use super::DataverseError;

impl DataverseError {
    /// 404 `0x80040217` (ObjectDoesNotExist): no table has this logical name or metadata id.
    pub fn table_definition_not_found(key: &str) -> Self {
        Self::not_found(
            "0x80040217",
            format!("Could not find entity with logical name or metadata id '{key}'."),
        )
    }

    /// 400 `0x80060888`: `$select`, `$filter` or `$expand` names a property the metadata type
    /// (`EntityMetadata`, `AttributeMetadata`, …) lacks, in Dataverse's OData message.
    pub fn metadata_property_not_found(type_name: &str, property: &str) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x80060888",
            format!(
                "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{type_name}'."
            ),
        )
    }
}
