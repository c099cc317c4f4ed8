//! `d365 odata`: the OData toolbox — `check` parses, normalises and lints one query option
//! through `d365-odata` (the same code the client prints with and the emulator binds with);
//! `conformance` runs an OASIS ABNF test-case file.

use std::process::ExitCode;

use anyhow::Context;
use d365_odata::bind::typed::{bind_typed_filter, validate_dataverse};
use d365_odata::conformance::{TestSuite, run as run_suite};
use d365_odata::{Prefer, QueryOptions};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::flags::{ODataOption, OdataCheckArgs, OdataCommand};

pub(crate) fn run(command: OdataCommand) -> anyhow::Result<ExitCode> {
    match command {
        OdataCommand::Check(args) => check(args),
        OdataCommand::Conformance { file } => {
            let suite =
                TestSuite::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = run_suite(&suite);
            // A negative case rejected elsewhere than its FailAt fails too.
            for mismatch in &report.failat_mismatched {
                println!("OFFSET {mismatch}");
            }
            println!("{report}");
            Ok(
                if report.failed.is_empty() && report.failat_mismatched.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                },
            )
        }
    }
}

fn option_name(option: ODataOption) -> &'static str {
    match option {
        ODataOption::Filter => "$filter",
        ODataOption::Orderby => "$orderby",
        ODataOption::Select => "$select",
        ODataOption::Expand => "$expand",
        ODataOption::Apply => "$apply",
    }
}

fn check(args: OdataCheckArgs) -> anyhow::Result<ExitCode> {
    let name = option_name(args.option);
    // Through QueryOptions, exactly as a request's query string would be read.
    let raw = format!(
        "{name}={}",
        utf8_percent_encode(&args.expression, NON_ALPHANUMERIC)
    );
    let options = match QueryOptions::parse(&raw) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut failed = false;
    let validation = validate_dataverse(&options, &Prefer::default());
    for e in &validation.errors {
        eprintln!("error: {e}");
        failed = true;
    }
    for w in &validation.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(path) = &args.metadata {
        // Streamed: a real $metadata is tens of megabytes.
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let model = d365_odata::csdl::read_csdl_from(std::io::BufReader::new(file))
            .with_context(|| format!("reading CSDL {}", path.display()))?;
        let entity_name = args
            .entity
            .as_deref()
            .context("--metadata needs --entity <entity set or table>")?;
        let entity = model
            .by_entity_set(entity_name)
            .or_else(|| model.entity_type(entity_name))
            .with_context(|| {
                format!(
                    "no entity set or table named '{entity_name}' in {}",
                    path.display()
                )
            })?;
        if let Some(filter) = &options.filter
            && let Err(e) = bind_typed_filter(&model, entity, filter, &options.aliases)
        {
            eprintln!("error: {e}");
            failed = true;
        }
        if let Some(select) = &options.select {
            let names: Vec<String> = select
                .iter()
                .filter_map(|item| match item {
                    d365_odata::SelectItem::Path(p) => Some(p.join("/")),
                    d365_odata::SelectItem::All => None,
                })
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            if let Err(e) = d365_odata::bind::bind_select(entity, &refs) {
                eprintln!("error: {e}");
                failed = true;
            }
        }
        if !options.orderby.is_empty()
            && let Err(e) = d365_odata::bind::bind_orderby(entity, &options.orderby)
        {
            eprintln!("error: {e}");
            failed = true;
        }
    }
    if failed {
        return Ok(ExitCode::from(1));
    }
    if args.entity.is_some() && args.metadata.is_none() {
        eprintln!("warning: --entity is only used with --metadata");
    }
    // The canonical form: what the printer writes ($apply through its own printer), shown decoded.
    if let Some(apply) = &options.apply {
        println!(
            "{}",
            d365_odata::print_apply(&d365_odata::parse_apply(apply)?)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let printed = options.to_query_string();
    let value = printed.split_once('=').map(|(_, v)| v).unwrap_or_default();
    println!("{}", percent_decode_str(value).decode_utf8_lossy());
    Ok(ExitCode::SUCCESS)
}
