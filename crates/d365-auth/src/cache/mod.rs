//! Token caches. `memory` keeps tokens per key and refreshes ahead of expiry, one refresh at
//! a time per key.

mod memory;

pub use memory::{CachedToken, TokenCache};
