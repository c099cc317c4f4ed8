//! In-crate tests that need the private router.

mod harness;
mod routes;
mod routes_webapi;
