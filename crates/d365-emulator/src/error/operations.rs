//! Dataverse's errors about messages and the records they write: missing parameters, tables
//! the metadata does not have, records in the wrong state
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes>).

use axum::http::StatusCode;

use super::DataverseError;

impl DataverseError {
    /// 400 `0x80040203` (InvalidArgument): a request the message refuses as it stands.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, "0x80040203", message)
    }

    /// 400 `0x80040203`: `POST` to a system job table; the platform creates those.
    pub fn system_job_create(entity: &str) -> Self {
        Self::invalid_argument(format!(
            "The 'Create' method does not support entities of type '{entity}'. System jobs are created by the platform: start one with an asynchronous message such as BulkDelete."
        ))
    }

    /// 400 `0x80060888`: a required action or function parameter that is absent or of the
    /// wrong type.
    pub fn missing_parameter(name: &str) -> Self {
        Self::bad_query(format!(
            "Required parameter '{name}' is missing or has the wrong type."
        ))
    }

    /// 404 `0x80040217`: a message names a table the org does not have
    /// (`RetrieveTotalRecordCount`).
    pub fn entity_name_not_found(name: &str) -> Self {
        Self::not_found(
            "0x80040217",
            format!("Could not find entity with name {name}."),
        )
    }

    /// 404 `0x80040217`: a query of a message names a table the metadata cache does not
    /// hold (`BulkDelete`).
    pub fn not_in_metadata_cache(name: &str) -> Self {
        Self::not_found(
            "0x80040217",
            format!("The entity with a name = '{name}' was not found in the MetadataCache."),
        )
    }
}
