//! One file per subcommand, each with `run(args) -> Result<ExitCode>`.

pub(crate) mod auth;
pub(crate) mod demo;
pub(crate) mod emulator;
pub(crate) mod get;
pub(crate) mod odata;
pub(crate) mod token;
pub(crate) mod write;
