//! `d365 token`: prints an access token to stdout, for piping into other tools. This is the
//! one command that prints a token, because that is what it is for.

use std::process::ExitCode;

use d365_auth::TokenCredential;

use crate::auth;
use crate::flags::TokenArgs;

pub(crate) async fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let resource = match args.resource {
        Some(r) => r,
        None => auth::environment(&args.auth)?,
    };
    let credential = auth::credential(&args.auth)?;
    let token = credential.get_token(&resource).await?;
    println!("{}", token.secret());
    Ok(ExitCode::SUCCESS)
}
