//! The Entra ID side: directory, keys, discovery, the token endpoints, and the validation
//! of bearer tokens presented to the Web API.

pub mod assertion;
pub mod authorize;
pub mod claims;
pub mod device_code;
pub mod discovery;
pub mod keys;
pub mod pages;
pub mod registry;
pub mod sessions;
pub mod token;
pub mod userrealm;
pub mod validate;
