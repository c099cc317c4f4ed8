//! Dataverse's query limits, written once: the Dataverse rules of the typed binder
//! ([`validate_dataverse`](crate::bind::typed::validate_dataverse)) check queries against them,
//! the parser stops at [`MAX_EXPAND_DEPTH`], and the emulator enforces them
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/overview#limits-on-number-of-rows-returned>).

/// Most rows in one page, and the largest `odata.maxpagesize`
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results>).
pub const MAX_PAGE_SIZE: usize = 5_000;

/// Where `@odata.count` stops: a larger table answers 5,000 (with
/// `@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded`), and `RetrieveTotalRecordCount`
/// gives the whole number
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows>).
pub const MAX_COUNT: usize = 5_000;

/// Most `$expand` options in one query, nested ones included
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables>).
pub const MAX_EXPANDS: usize = 15;

/// Most levels of `$expand` inside `$expand` the parser reads before it refuses, checked
/// before going deeper; no valid query comes near it, since [`MAX_EXPANDS`] is lower.
pub const MAX_EXPAND_DEPTH: usize = 32;
