//! The `d365` command. `main` only wires `run()` and turns errors into a message and an exit
//! code: 0 ok, 1 not found (writes to a missing record), 2 usage or other error, 3
//! authentication error, 4 throttled past the retries.

mod auth;
mod cmd;
mod flags;
mod output;
mod profile;

use std::process::ExitCode;

use crate::flags::{Cli, Command, WriteCommand};

/// mimalloc, not the system's allocator: the emulator's request path and the bulk paths
/// allocate per request and per record, and with glibc's malloc that was ~12% of the CPU; the
/// type-ahead query at 50 connections went from 5,479 to 7,524 requests/s with only this
/// change (docs/BENCHMARKS.md, issue 16). The benches that host the emulator in their own
/// process use it too, so they measure what this binary runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The local UTC offset, read before any thread starts (reading it later is refused on Unix).
pub(crate) static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    huge_pages_for_the_emulator_only();
    let _ =
        LOCAL_OFFSET.set(time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC));
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    auth::record_env_sources(&matches);
    init_logging(cli.verbose);
    // One stream of pages (an export with `--parallel 1`) is one task at a time: a runtime on
    // this thread, without waking workers on other threads for each read.
    let mut builder = match &cli.command {
        Command::Export(args) if args.parallel == "1" => {
            tokio::runtime::Builder::new_current_thread()
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("d365: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command, cli.profile.as_deref())) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// Transparent huge pages only in a process that hosts the emulator. mimalloc asks the
/// kernel for huge pages, and the first touch of each 2 MiB region zeroes all of it: the
/// emulator's long-lived request path gains by it (type-ahead at 50 connections ~10%), a
/// command that lives for a fraction of a second loses (zeroing was half of the CPU of an
/// export that finds nothing). An argument `emulator` or `demo` anywhere keeps them on: only
/// a process that is surely no emulator does without. The setting passes to the processes a
/// command starts (the browser of `d365 auth`), which lose nothing by it either.
#[cfg(target_os = "linux")]
fn huge_pages_for_the_emulator_only() {
    let emulator = std::env::args_os()
        .skip(1)
        .any(|a| a == "emulator" || a == "demo");
    if !emulator {
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

async fn run(command: Command, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    d365_http::install_crypto_provider();
    match command {
        Command::Demo(args) => cmd::demo::run(args).await,
        Command::Emulator(args) => cmd::emulator::run(args).await,
        Command::Token(args) => cmd::token::run(args, profile).await,
        Command::Get(args) => cmd::get::run(args, profile).await,
        Command::Query(args) => cmd::query::run(args, profile).await,
        Command::Whoami(args) => cmd::whoami::run(args, profile).await,
        Command::Create(args) => cmd::write::run(WriteCommand::Create(args), profile).await,
        Command::Update(args) => cmd::write::run(WriteCommand::Update(args), profile).await,
        Command::Upsert(args) => cmd::write::run(WriteCommand::Upsert(args), profile).await,
        Command::Delete(args) => cmd::write::run(WriteCommand::Delete(args), profile).await,
        Command::Auth(command) => cmd::auth::run(command, profile).await,
        Command::Odata(command) => cmd::odata::run(command),
        Command::Codegen(args) => cmd::codegen::run(args, profile).await,
        Command::Call(args) => cmd::call::run(args, profile).await,
        Command::Metadata(command) => cmd::metadata::run(command, profile).await,
        Command::Completions(args) => cmd::completions::run(&args),
        Command::Export(args) => cmd::export::run(args, profile).await,
        Command::Import(args) => cmd::import::run(args, profile).await,
        Command::Sync(args) => cmd::sync::run(args, profile).await,
        Command::BulkDelete(args) => cmd::bulk_delete::run(args, profile).await,
        Command::Job(args) => cmd::bulk_delete::job(args, profile).await,
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,d365=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("D365_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// A Web API error, as itself or inside a data movement's error.
fn webapi<'e>(c: &'e (dyn std::error::Error + 'static)) -> Option<&'e d365_webapi::Error> {
    c.downcast_ref::<d365_webapi::Error>().or_else(|| {
        c.downcast_ref::<d365_transfer::Error>()
            .and_then(d365_transfer::Error::api_error)
    })
}

/// Prints the error chain on one line, a hint when we have one, and picks the exit code.
fn report(err: &anyhow::Error) -> ExitCode {
    // A closed pipe (`d365 get … | head`) is not a failure.
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return ExitCode::SUCCESS;
        }
    }
    // Error chains carry server text (messages, error_description, bodies): escaped once here.
    eprintln!("d365: {}", output::printable(&format!("{err:#}")));
    let auth = err.chain().find_map(|c| {
        c.downcast_ref::<d365_auth::AuthError>()
            .or_else(|| match webapi(c) {
                Some(d365_webapi::Error::Auth(a)) => Some(a),
                _ => None,
            })
    });
    if let Some(auth) = auth {
        if let Some(hint) = auth.hint() {
            eprintln!("hint: {}", output::printable(hint));
        }
        return ExitCode::from(3);
    }
    let api = err.chain().find_map(|c| webapi(c).and_then(|e| e.api()));
    match api {
        Some(a) if a.status == 429 => ExitCode::from(4),
        Some(a) if a.status == 401 => ExitCode::from(3),
        _ => ExitCode::from(2),
    }
}
