//! `d365 emulator`: serves the emulator until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use d365_emulator::{Emulator, EmulatorConfig};

use crate::flags::EmulatorArgs;

pub(crate) async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_toml_file(path)?,
        None => EmulatorConfig::default(),
    };
    if let Some(seed) = args.seed {
        config.seed_accounts = seed;
    }
    if let Some(lifetime) = args.token_lifetime {
        config.token_lifetime_secs = lifetime;
    }
    if let Some(lifetime) = args.change_token_lifetime {
        config.change_token_lifetime_secs = lifetime;
    }
    config.data_dir = args.data_dir.clone();
    config.tls = args.tls;
    if let Some(interval) = args.device_code_interval {
        config.device_code_interval_secs = interval;
    }
    for path in &args.client_certificate {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let app = config
            .apps
            .iter_mut()
            .find(|a| !a.public_client)
            .context("no confidential app to register the certificate for")?;
        app.certificates.push(pem);
    }
    config.also_ports = args.also_port.clone();
    config
        .elastic_tables
        .extend(args.elastic_tables.iter().cloned());
    if let Some(path) = &args.metadata {
        config.metadata = Some(path.clone());
    }
    if let Some(flag) = &args.limits {
        config.limits = d365_emulator::limits::ServiceLimits::from_flag(flag)?;
    }
    for json in &args.fault {
        let rule: d365_emulator::faults::FaultRule = serde_json::from_str(json)
            .with_context(|| format!("--fault {json}: not a fault rule"))?;
        config.faults.push(rule);
    }
    let emulator = Emulator::start(config, SocketAddr::new(args.bind, args.port))
        .await
        .context("starting the emulator")?;
    let info = emulator.info();
    if let Some(path) = &args.info_file {
        emulator
            .write_info_file(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("d365 emulator listening on {}", info.authority_host);
    println!(
        "  authority        {}/{}",
        info.authority_host, info.tenant_id
    );
    println!("  environment      {}", info.environment_url);
    println!("  web api          {}/api/data/v9.2/", info.environment_url);
    println!(
        "  confidential app {} (secret in --info-file)",
        info.client_id
    );
    println!("  public client    {}", info.public_client_id);
    println!("  user             {}", info.username);
    if let Some(ca) = &info.ca_file {
        println!(
            "  CA certificate   {ca}  (trust it: SSL_CERT_FILE / REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, d365 --ca-file)"
        );
    }
    for port in &args.also_port {
        println!("  also serving on  port {port}");
    }
    match &args.data_dir {
        Some(dir) => println!("  data             {}", dir.display()),
        None => println!("  data             in memory"),
    }
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await;
    eprintln!("stopping");
    emulator.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
