//! A local emulator of Microsoft Entra ID's token endpoints and the Dataverse Web API, for
//! offline development and CI. Tokens are real RS256 JWTs signed by the emulator's key, and the
//! Web API verifies every one of them (signature, audience, issuer, lifetime), as Dataverse does.
//!
//! ```no_run
//! # async fn run() -> Result<(), d365_emulator::StartError> {
//! use d365_emulator::{Emulator, EmulatorConfig};
//! let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! let info = emulator.info();
//! println!("token endpoint: {}/{}/oauth2/v2.0/token", info.authority_host, info.tenant_id);
//! println!("web api: {}/api/data/v9.2/", info.environment_url);
//! emulator.stop().await;
//! # Ok(()) }
//! ```

mod admin;
mod app;
pub mod clock;
pub mod config;
pub mod dataverse;
pub mod entra;
pub mod error;
pub mod exposure;
pub mod faults;
pub mod fetchxml;
pub mod limits;
mod middleware;
mod private_files;
pub mod query;
mod server;
pub mod state;
pub mod store;
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod tls;
mod unread_body;

pub use app::router;
pub use config::EmulatorConfig;
pub use error::StartError;
pub use server::{Emulator, EmulatorInfo};
pub use state::AppState;
