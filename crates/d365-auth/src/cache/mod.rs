//! Token caches. `memory` keeps tokens per key and refreshes ahead of expiry, one refresh at
//! a time per key; `file` persists sessions across processes.

mod file;
mod memory;

pub use file::{CacheContents, CacheEntry, CacheLock, FileTokenCache, LOCK_DEADLINE, cache_key};
pub use memory::{CachedToken, TokenCache};
