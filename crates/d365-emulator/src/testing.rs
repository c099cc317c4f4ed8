//! Support for tests, fuzz targets and benches outside this crate that call the router
//! in-process, without a socket. Not part of the public API.

use crate::config::EmulatorConfig;
use crate::error::StartError;
use crate::state::AppState;

/// Builds the state [`crate::router`] serves, as [`crate::Emulator::start`] does but without
/// binding a port: `base_url` is both the authority host and the environment URL (the token
/// audience), e.g. `http://127.0.0.1:9`. In memory unless `config.data_dir` is set.
pub async fn in_memory_state(
    config: EmulatorConfig,
    base_url: &str,
) -> Result<AppState, StartError> {
    crate::entra::keys::install_crypto_providers();
    crate::server::build_state(config, base_url.to_owned(), base_url.to_owned(), true).await
}
