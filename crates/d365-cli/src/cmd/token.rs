//! `d365 token`: prints an access token to stdout, for piping into other tools (the same as
//! `d365 auth token`). This is the one command that prints a token, because that is what it
//! is for.

use std::process::ExitCode;

use crate::flags::AuthTokenArgs;

pub(crate) async fn run(args: AuthTokenArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    super::auth::token(args, profile).await
}
