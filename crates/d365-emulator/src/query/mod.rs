//! The query path: bound OData (from `d365-odata`) → SQL with bound parameters (`plan`) →
//! rows as JSON (`exec`), paged by keyset behind a Dataverse-shaped cookie (`paging`).
//!
//! Two front ends plan a WHERE clause: `typed` (a typed `$filter`) and `fetch` (a parsed
//! FetchXML query, see `crate::fetchxml`). The conditions on the clock and the caller that
//! both languages have (`LastXDays`/`last-x-days`, …) are planned once, in `conditions`.
//! The planner knows nothing of HTTP: it fails with `error::PlanError`, which `crate::error`
//! turns into the Dataverse error a client sees.

pub mod aggregate;
pub mod conditions;
pub mod delta;
pub mod error;
pub mod exec;
pub mod fetch;
pub mod paging;
pub mod plan;
pub mod reads;
pub mod typed;
pub mod values;

#[cfg(test)]
mod tests;
