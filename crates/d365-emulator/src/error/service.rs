//! The Web API's answers about the service rather than the data: service protection limits
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>), impersonation
//! of a user who does not exist, and the faults the control API injects.

use axum::http::StatusCode;

use super::DataverseError;

impl DataverseError {
    /// 429 `0x80072322`: more than `limit` requests in the window of `window_secs` seconds.
    pub fn too_many_requests(limit: u64, window_secs: u64, retry: u64) -> Self {
        Self::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            "0x80072322",
            format!(
                "Number of requests exceeded the limit of {limit} over time window of {window_secs} seconds."
            ),
        )
        .retry_after(retry)
    }

    /// 429 `0x80072321`: the caller's combined execution time (`limit_ms` in the window of
    /// `window_secs` seconds) is used up; `retry` seconds.
    pub fn execution_time_exceeded(limit_ms: u64, window_secs: u64, retry: u64) -> Self {
        Self::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            "0x80072321",
            format!(
                "Combined execution time of incoming requests exceeded limit of {limit_ms} milliseconds over time window of {window_secs} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
            ),
        )
        .retry_after(retry)
    }

    /// 429 `0x80072326`: more than `limit` requests of the caller at once.
    pub fn too_many_concurrent_requests(limit: u64, retry: u64) -> Self {
        Self::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            "0x80072326",
            format!("Number of concurrent requests exceeded the limit of {limit}."),
        )
        .retry_after(retry)
    }

    /// 400 `0x8004112A`: the paging cookie has expired (an injected fault: the service answers
    /// it when a query's paging state is gone).
    pub fn paging_cookie_expired() -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            "0x8004112A",
            "The paging cookie has expired. Start the query again from the first page.",
        )
    }

    /// 404 `0x80040217`: impersonation of a `systemuser` that does not exist, named by
    /// `column` (`azureactivedirectoryobjectid` or `Id`).
    pub fn systemuser_not_found(column: &str, value: &str) -> Self {
        Self::not_found(
            "0x80040217",
            format!("systemuser With {column} = {value} Does Not Exist"),
        )
    }
}
