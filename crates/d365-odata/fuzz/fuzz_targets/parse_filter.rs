//! The `$filter`, `$orderby`, query-string and resource-path parsers never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = d365_odata::parse_filter(text);
        let _ = d365_odata::parse_orderby(text);
        let _ = d365_odata::QueryOptions::parse(text);
        let _ = d365_odata::parse_resource_path(text);
        let _ = d365_odata::Prefer::parse_checked(text);
    }
});
