//! Flags of the Web API commands added with the full client: `call`, `metadata`,
//! `completions`.

use clap::{Args, Subcommand};

use super::{AuthArgs, Output};

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The function or action, e.g. RetrieveTotalRecordCount, WinOpportunity, QualifyLead.
    pub(crate) name: String,
    /// Call it as an action (POST with a JSON body); functions are GETs.
    #[arg(long)]
    pub(crate) action: bool,
    /// Bind it to a record, `leads(<guid>)` or `accounts(accountnumber='A-1')`, or to an entity
    /// set, `accounts`.
    #[arg(long, value_name = "SET(KEY)")]
    pub(crate) bound: Option<String>,
    /// A parameter, `Name=value` (repeatable). The value is read as JSON when it parses
    /// (numbers, true/false, null, "text", arrays, objects), as a GUID when it is one, and as
    /// text otherwise; quote text that looks like a number: `PostalCode='"98052"'`.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub(crate) params: Vec<String>,
    /// An action's whole JSON body (a JSON object, `@file` or `-` for stdin); --param values
    /// are added to it.
    #[arg(long, value_name = "JSON")]
    pub(crate) body: Option<String>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MetadataCommand {
    /// The tables (EntityDefinitions): logical name, entity set, primary id and name.
    Tables(MetadataTablesArgs),
    /// The columns of one table: logical name, type, required level, valid for create/update.
    Columns(MetadataColumnsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MetadataTablesArgs {
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, short, value_enum)]
    pub(crate) output: Option<Output>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MetadataColumnsArgs {
    /// The table's logical name (account) or entity set (accounts).
    pub(crate) table: String,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, short, value_enum)]
    pub(crate) output: Option<Output>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}
