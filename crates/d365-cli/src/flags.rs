//! Command-line flags (clap derive): global options and one variant per subcommand. Values are
//! validated here; behaviour lives in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::profile::GrantKind;

mod data;
mod web;

pub(crate) use data::{
    BulkDeleteArgs, ExportArgs, ExportFormat, ImportArgs, ImportMode, JobArgs, SyncArgs,
};

pub(crate) use web::{CallArgs, CompletionsArgs, MetadataCommand};

/// `d365 --version`: the version, and the optional features this binary was built with.
const VERSION: &str = if cfg!(feature = "parquet") {
    concat!(env!("CARGO_PKG_VERSION"), " (features: parquet)")
} else {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (features: none; Parquet export left out)"
    )
};

/// d365: sign in to Microsoft Entra ID and work with the Dataverse Web API, or run the local
/// emulator of both.
#[derive(Debug, Parser)]
#[command(name = "d365", version = VERSION, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Log requests and decisions to stderr (never secrets or tokens); repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// The profile to use (see `d365 auth profile`); default: the current one, if any; `none`
    /// for none. With a profile, AZURE_* and D365_URL are ignored (flags still apply).
    #[arg(long, global = true, env = "D365_PROFILE")]
    pub(crate) profile: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the four-step integration recipe against an embedded emulator.
    Demo(DemoArgs),
    /// Serve the Entra ID + Dataverse emulator until Ctrl-C.
    Emulator(EmulatorArgs),
    /// Print an access token for the environment (for piping, like `az account get-access-token`).
    Token(AuthTokenArgs),
    /// Query an entity set.
    Get(GetArgs),
    /// Run a FetchXML query, following every page.
    Query(QueryArgs),
    /// Who the environment says you are (WhoAmI).
    Whoami(WhoAmIArgs),
    /// Create a record (JSON as an argument, @file, or on stdin); prints the new id.
    Create(CreateArgs),
    /// Update an existing record by id or alternate key (never creates).
    Update(KeyedWriteArgs),
    /// Update a record or create it, by id or alternate key.
    Upsert(KeyedWriteArgs),
    /// Delete a record by id or alternate key.
    Delete(DeleteArgs),
    /// Call a function or an action (`--action`), unbound or bound to a record.
    Call(CallArgs),
    /// Tables and columns of the environment (EntityDefinitions).
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Export a table to NDJSON, CSV or Parquet: parallel ranges, resumable, one ordered file.
    Export(ExportArgs),
    /// Import rows from NDJSON or CSV: bulk messages in adaptive chunks, bad rows to a reject
    /// file, resumable.
    Import(ImportArgs),
    /// Mirror tables into SQLite or PostgreSQL: a first full load, then only the changes
    /// (deletes included) from the stored delta link.
    Sync(SyncArgs),
    /// Delete every record a filter, an id list or `--all` names, as a BulkDelete system job;
    /// waits for it and prints what it deleted.
    BulkDelete(BulkDeleteArgs),
    /// A system job's state (`--wait` for its end, `--cancel` to stop it).
    Job(JobArgs),
    /// Print a shell completion script, e.g. `d365 completions bash > /etc/bash_completion.d/d365`.
    Completions(CompletionsArgs),
    /// Sign in and out, inspect tokens, manage profiles.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Check OData text and run OData conformance suites.
    #[command(subcommand)]
    Odata(OdataCommand),
    /// Write Rust types (structs, choice enums, lookups) for tables, from a $metadata file or
    /// the environment.
    Codegen(CodegenArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CodegenArgs {
    /// The tables, comma-separated: logical names (account) or entity sets (accounts).
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) tables: Vec<String>,
    /// A CSDL $metadata file. Without it, the environment's (--url, D365_URL or the profile)
    /// is read, with choice values from EntityDefinitions (a file has none).
    #[arg(long, value_name = "FILE")]
    pub(crate) metadata: Option<PathBuf>,
    /// Write the code to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct WhoAmIArgs {
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The entity set of the document's <entity>, e.g. accounts.
    pub(crate) entity_set: String,
    /// The FetchXML document (`-` for stdin).
    #[arg(long)]
    pub(crate) fetchxml: PathBuf,
    /// Rows per page (FetchXML `count`).
    #[arg(long, default_value_t = 5000)]
    pub(crate) page_size: u32,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, short, value_enum)]
    pub(crate) output: Option<Output>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

/// The write commands, as `cmd::write` takes them.
#[derive(Debug)]
pub(crate) enum WriteCommand {
    Create(CreateArgs),
    Update(KeyedWriteArgs),
    Upsert(KeyedWriteArgs),
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// The record as JSON, `@file`, or `-` / nothing for stdin.
    pub(crate) record: Option<String>,
    /// Print the created record (these `--select` columns) instead of its id.
    #[arg(long = "return")]
    pub(crate) return_record: bool,
    /// Columns of the record printed with --return, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) select: Vec<String>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct KeyedWriteArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// The record: a GUID, or an alternate key such as `accountnumber=A-1`.
    pub(crate) key: String,
    /// The columns to write, as JSON, `@file`, or `-` / nothing for stdin.
    pub(crate) record: Option<String>,
    /// Only if the record still has this etag (optimistic concurrency; 412 otherwise).
    #[arg(long)]
    pub(crate) if_match: Option<String>,
    /// Upsert: only create (an existing record is an error).
    #[arg(long, conflicts_with = "update_only")]
    pub(crate) create_only: bool,
    /// Upsert: only update (a missing record is an error).
    #[arg(long)]
    pub(crate) update_only: bool,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// The record: a GUID, or an alternate key such as `accountnumber=A-1`.
    pub(crate) key: String,
    /// Only if the record still has this etag.
    #[arg(long)]
    pub(crate) if_match: Option<String>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OdataCommand {
    /// Parse, normalise and lint an expression: exit 0 and the canonical form, or exit 1 and
    /// the error with a caret under it.
    Check(OdataCheckArgs),
    /// Run a test-case file in the OASIS ABNF format; exit 1 if any case fails.
    Conformance {
        /// The YAML file (e.g. odata-abnf-testcases.yaml).
        file: PathBuf,
    },
}

/// Which query option the text is.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ODataOption {
    /// `$filter`
    Filter,
    /// `$orderby`
    Orderby,
    /// `$select`
    Select,
    /// `$expand`
    Expand,
    /// `$apply`
    Apply,
}

#[derive(Debug, Args)]
pub(crate) struct OdataCheckArgs {
    /// The text, e.g. "contains(name,'x') and revenue gt 1000".
    pub(crate) expression: String,
    /// Which option it is.
    #[arg(long, value_enum, default_value_t = ODataOption::Filter)]
    pub(crate) option: ODataOption,
    /// A CSDL $metadata file: check names and types against it.
    #[arg(long)]
    pub(crate) metadata: Option<PathBuf>,
    /// The entity set (or table) the query is for, with --metadata.
    #[arg(long)]
    pub(crate) entity: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    pub(crate) port: u16,
    /// Address to bind.
    ///
    /// On loopback, only requests naming the emulator's own host (localhost, 127.0.0.1,
    /// [::1], the environment URL's host) are answered: no DNS rebinding. Elsewhere, the
    /// demo client secret and password, unless --config names its own, are replaced by
    /// random ones: read them from --info-file.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: std::net::IpAddr,
    /// Persist data and the signing key here (default: in memory).
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Write the connection details as one JSON object to this file once listening.
    #[arg(long)]
    pub(crate) info_file: Option<PathBuf>,
    /// A TOML file with tenants, apps, users, environment and lifetimes.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Number of accounts to seed (contacts are twice as many).
    #[arg(long)]
    pub(crate) seed: Option<usize>,
    /// Access token lifetime in seconds.
    #[arg(long)]
    pub(crate) token_lifetime: Option<u64>,
    /// Seconds a change-tracking delta token stays valid (default 604800, Dataverse's 7 days).
    #[arg(long, value_name = "SECS")]
    pub(crate) change_token_lifetime: Option<u64>,
    /// Serve HTTPS with a generated CA (its path is printed and in the info file).
    #[arg(long)]
    pub(crate) tls: bool,
    /// Also serve on this port (e.g. 443, where MSAL for Python asks for the user realm).
    #[arg(long)]
    pub(crate) also_port: Vec<u16>,
    /// Register this certificate (PEM) for the confidential demo app, for certificate sign-in.
    #[arg(long)]
    pub(crate) client_certificate: Vec<PathBuf>,
    /// Seconds device-code clients must wait between polls (default 5).
    #[arg(long)]
    pub(crate) device_code_interval: Option<u64>,
    /// Service protection limits: `real` (6,000 requests and 1,200 s of execution per user
    /// per 5 minutes, 52 concurrent), `off`, or a TOML file with `requests`, `execution_ms`,
    /// `window_secs`, `concurrent`, `dop_hint` (default: real, as every org enforces them, or
    /// the config file's `limits`; `off` is for benchmarks).
    #[arg(long, value_name = "real|off|FILE")]
    pub(crate) limits: Option<String>,
    /// A real org's `$metadata` (download `{env}/api/data/v9.2/$metadata` once): every table
    /// in it is emulated, custom `new_*` tables included.
    #[arg(long, value_name = "FILE")]
    pub(crate) metadata: Option<PathBuf>,
    /// Emulate this custom table (from --metadata) as an elastic table (repeatable): bulk
    /// messages on it succeed partly, and DeleteMultiple works.
    #[arg(long = "elastic-table", value_name = "TABLE")]
    pub(crate) elastic_tables: Vec<String>,
    /// Inject a fault, as JSON (repeatable), e.g. `{"kind":"error","status":503,"share":0.1}`;
    /// kinds: throttle, error, delay, drop, drop-after, expired-cookie. More at run time through
    /// `POST /_emulator/faults`.
    #[arg(long, value_name = "JSON")]
    pub(crate) fault: Vec<String>,
}

/// Which token endpoint generation to use.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Endpoint {
    /// `/oauth2/token` with `resource=`.
    V1,
    /// `/oauth2/v2.0/token` with `scope=`.
    V2,
}

/// Sign-in settings, from flags or the azure-identity environment variables, over the
/// profile's. Secrets are best given through the environment: flags show up in process
/// listings.
#[derive(Args)]
pub(crate) struct AuthArgs {
    /// Dataverse environment URL, e.g. https://contoso.crm.dynamics.com.
    #[arg(long = "url", env = "D365_URL")]
    pub(crate) url: Option<String>,
    /// Tenant id or domain.
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub(crate) tenant: Option<String>,
    /// App registration (client) id.
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// Client secret (confidential apps).
    #[arg(long, env = "AZURE_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// Certificate and private key (PEM) for app-only sign-in.
    #[arg(long, env = "AZURE_CLIENT_CERTIFICATE_PATH")]
    pub(crate) certificate: Option<PathBuf>,
    /// User name for the password grant.
    #[arg(long, env = "AZURE_USERNAME")]
    pub(crate) username: Option<String>,
    /// Password for the password grant.
    #[arg(long, env = "AZURE_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
    /// Login host (default: https://login.microsoftonline.com).
    #[arg(long, env = "AZURE_AUTHORITY_HOST")]
    pub(crate) authority_host: Option<String>,
    /// Token endpoint generation (default: v2).
    #[arg(long, value_enum)]
    pub(crate) endpoint: Option<Endpoint>,
    /// A CA certificate (PEM) to trust, e.g. the emulator's.
    #[arg(long, env = "D365_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

// Secrets never reach Debug output.
impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("AuthArgs")
            .field("url", &self.url)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &redact(&self.client_secret))
            .field("certificate", &self.certificate)
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("authority_host", &self.authority_host)
            .field("endpoint", &self.endpoint)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Sign in and cache the session (password, secret or certificate; or interactively).
    Login(LoginArgs),
    /// Show the cached sessions for the current settings.
    Status(AuthOnlyArgs),
    /// Print an access token, or explain it with --decode.
    Token(AuthTokenArgs),
    /// Remove the cached sessions for the current settings.
    Logout(AuthOnlyArgs),
    /// Manage named profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Sign in on another device with a code (works with MFA).
    #[arg(long, conflicts_with = "browser")]
    pub(crate) device_code: bool,
    /// Sign in in the system browser (authorization code + PKCE; works with MFA).
    #[arg(long)]
    pub(crate) browser: bool,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AuthOnlyArgs {
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AuthTokenArgs {
    /// Resource to get a token for (default: the environment URL).
    #[arg(long)]
    pub(crate) resource: Option<String>,
    /// Explain the token (audience, roles or scopes, expiry in local time) instead of printing it.
    #[arg(long)]
    pub(crate) decode: bool,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Add (or replace) a profile.
    Add(Box<ProfileAddArgs>),
    /// List profiles.
    List,
    /// Make a profile the current one.
    Use {
        /// Profile name.
        name: String,
    },
    /// Remove a profile.
    Remove {
        /// Profile name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ProfileAddArgs {
    /// Profile name.
    pub(crate) name: String,
    /// Environment URL.
    #[arg(long)]
    pub(crate) url: String,
    /// Tenant id or domain.
    #[arg(long)]
    pub(crate) tenant: String,
    /// Client id.
    #[arg(long)]
    pub(crate) client_id: String,
    /// How to sign in.
    #[arg(long, value_enum)]
    pub(crate) grant: GrantKind,
    /// Login host (default: the public cloud).
    #[arg(long)]
    pub(crate) authority_host: Option<String>,
    /// User name (password grant).
    #[arg(long)]
    pub(crate) username: Option<String>,
    /// Read the client secret from this environment variable.
    #[arg(long, group = "secret_source")]
    pub(crate) secret_env: Option<String>,
    /// Read the client secret from this file.
    #[arg(long, group = "secret_source")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Prompt for the client secret.
    #[arg(long, group = "secret_source")]
    pub(crate) secret_prompt: bool,
    /// Read the password from this environment variable.
    #[arg(long, group = "password_source")]
    pub(crate) password_env: Option<String>,
    /// Read the password from this file.
    #[arg(long, group = "password_source")]
    pub(crate) password_file: Option<PathBuf>,
    /// Prompt for the password.
    #[arg(long, group = "password_source")]
    pub(crate) password_prompt: bool,
    /// Token endpoint generation.
    #[arg(long, value_enum, default_value_t = Endpoint::V2)]
    pub(crate) endpoint: Endpoint,
    /// Also make it the current profile.
    #[arg(long = "use")]
    pub(crate) make_current: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Output {
    /// A table (default on a terminal).
    Table,
    /// One JSON array (default when piped).
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// Columns, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) select: Vec<String>,
    /// OData filter, e.g. "revenue gt 1000 and contains(name,'x')".
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// OData order, e.g. "revenue desc,name".
    #[arg(long)]
    pub(crate) orderby: Option<String>,
    /// At most this many rows.
    #[arg(long)]
    pub(crate) top: Option<u64>,
    /// Follow every page (streams; ignores --top).
    #[arg(long)]
    pub(crate) all: bool,
    /// Rows per page when paging.
    #[arg(long, default_value_t = 1000)]
    pub(crate) page_size: u32,
    /// Add formatted values and lookup details as columns (`statuscode_Formatted`,
    /// `_parentaccountid_value_LogicalName`), as DynamicsWebApi names them.
    #[arg(long)]
    pub(crate) annotations: bool,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, short, value_enum)]
    pub(crate) output: Option<Output>,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}
