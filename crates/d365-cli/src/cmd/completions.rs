//! `d365 completions <shell>`: the completion script for bash, zsh, fish, elvish or PowerShell,
//! generated from the same clap definition that parses the command line.

use std::process::ExitCode;

use crate::flags::{Cli, CompletionsArgs};

pub(crate) fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "d365", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
