//! In-crate tests that need the private router.

mod routes;
