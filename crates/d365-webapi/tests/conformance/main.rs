//! The conformance suite: one function per capability of the client and the service, run over
//! real HTTP against the embedded emulator, and against a real org when `D365_LIVE_*` variables
//! name one (issue 6). Every check holds on both unless marked EMULATOR-ONLY.
//!
//! ```text
//! cargo test -p d365-webapi --test conformance -- --nocapture          # emulator (+ live if set)
//! D365_LIVE_URL=https://contoso.crm.dynamics.com D365_LIVE_TENANT_ID=… \
//! D365_LIVE_CLIENT_ID=… D365_LIVE_CLIENT_SECRET=… \
//!   cargo test -p d365-webapi --test conformance live -- --nocapture
//! ```
//!
//! Records the suite creates are named `d365conf-<8 hex> …` and deleted after each capability
//! (and the shared fixture at the end), also when a check fails.

mod context;
mod metadata;
mod operations;
mod reads;
mod runner;
mod target;
mod writes;

use runner::{Capability, capability};
use target::{LIVE_AUTHORITY, LIVE_REQUIRED, LiveConfig, Target};

/// Every capability, in the order they run.
fn capabilities() -> Vec<Capability> {
    vec![
        capability!(reads::who_am_i),
        capability!(reads::query_options),
        capability!(reads::paging_next_link),
        capability!(reads::count),
        capability!(reads::retrieve_by_id),
        capability!(reads::retrieve_missing),
        capability!(writes::create),
        capability!(writes::create_representation),
        capability!(writes::update_if_match),
        capability!(writes::upsert_modes),
        capability!(writes::delete),
        capability!(writes::single_property),
        capability!(writes::lookups_and_links),
        capability!(reads::fetch_xml_paging_cookie),
        capability!(operations::unbound_function),
        capability!(operations::bound_action_qualify_lead),
        capability!(operations::unbound_action_win_opportunity),
        capability!(reads::formatted_values),
        capability!(reads::lookup_order_and_targets),
        capability!(operations::impersonation, emulator_only),
        capability!(metadata::metadata),
        capability!(metadata::error_shapes),
    ]
}

#[tokio::test]
async fn emulator() {
    let target = Target::emulator().await;
    runner::run("emulator", &target, &capabilities()).await;
}

#[tokio::test]
async fn live() {
    let config = match LiveConfig::from_lookup(|name| std::env::var(name).ok()) {
        Ok(Some(config)) => config,
        Ok(None) => {
            eprintln!(
                "conformance (live): SKIPPED: no live org configured; set {} \
                 (and optionally {LIVE_AUTHORITY}) to run the suite against one",
                LIVE_REQUIRED.join(", ")
            );
            return;
        }
        Err(e) => panic!("conformance (live): {e}"),
    };
    let target = Target::live(config).unwrap_or_else(|e| panic!("conformance (live): {e}"));
    runner::run("live", &target, &capabilities()).await;
}
