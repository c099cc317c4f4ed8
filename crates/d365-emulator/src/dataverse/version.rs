//! The Web API versions served, and the one the request being served named: a leaf that the
//! shared state reads (URLs it writes keep the request's version) without naming the
//! dispatcher.

/// The versions `/api/data/{version}/` answers to.
pub(crate) const VERSIONS: [&str; 3] = ["v9.0", "v9.1", LATEST_VERSION];

/// The Web API version URLs carry when no request names one.
pub(crate) const LATEST_VERSION: &str = "v9.2";

tokio::task_local! {
    /// The version the request being served named (`v9.0`, …): URLs written for it keep it.
    pub(crate) static API_VERSION: &'static str;
}
