//! The query path: bound OData (from `d365-odata`) → SQL with bound parameters (`plan`) →
//! rows as JSON (`exec`), paged by keyset behind a Dataverse-shaped cookie (`paging`).

pub mod aggregate;
pub mod conditions;
pub mod error;
pub mod exec;
pub mod fetch;
pub mod paging;
pub mod plan;
pub mod typed;
pub mod values;
