//! What the CLI benches share: the `d365` process pointed at an emulator.

use std::path::Path;
use std::process::Command;

use d365_testkit::EmulatorInfo;

/// The `d365` binary's allocator (`src/main.rs`), for the emulator these benches host.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `bin` (a `d365` binary) signed in to the emulator of `info` with its app credential, its
/// token cache and configuration under `home`.
pub(crate) fn d365_command(bin: &str, info: &EmulatorInfo, home: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .env("AZURE_AUTHORITY_HOST", &info.authority_host)
        .env("AZURE_TENANT_ID", &info.tenant_id)
        .env("AZURE_CLIENT_ID", &info.client_id)
        .env("AZURE_CLIENT_SECRET", &info.client_secret)
        .env("D365_URL", &info.environment_url)
        .env("D365_CACHE_DIR", home.join("cache"))
        .env("D365_CONFIG", home.join("config.toml"));
    command
}
