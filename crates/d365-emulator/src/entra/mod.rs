//! The Entra ID side: directory, keys, discovery, the token endpoints, and the validation
//! of bearer tokens presented to the Web API.

pub mod claims;
pub mod discovery;
pub mod keys;
pub mod registry;
pub mod token;
pub mod validate;
