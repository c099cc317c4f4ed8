//! Test support for d365: an emulator on `127.0.0.1:0` that stops when dropped, sharing one
//! signing key per test process (RSA key generation is slow in debug builds).

use std::sync::OnceLock;

pub use d365_emulator::{Emulator, EmulatorConfig, EmulatorInfo};

/// One RSA key per test process.
pub fn shared_signing_key() -> String {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        d365_emulator::entra::keys::install_crypto_providers();
        d365_emulator::entra::keys::generate_private_key_pem().expect("RSA key generation")
    })
    .clone()
}

/// A configuration for tests: the shared key and a small seed (`accounts` accounts).
pub fn test_config(accounts: usize) -> EmulatorConfig {
    EmulatorConfig {
        seed_accounts: accounts,
        signing_key_pem: Some(d365_emulator::config::PrivateKeyPem(shared_signing_key())),
        ..EmulatorConfig::default()
    }
}

/// Starts an emulator on an ephemeral loopback port.
pub async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, "127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("emulator start")
}
