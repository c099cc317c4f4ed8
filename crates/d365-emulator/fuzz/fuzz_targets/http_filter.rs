//! A whole query string on `GET accounts?…`: `$filter` with parameter aliases (`@p1=…`),
//! `$orderby`, `$select`, `$top` … as the fuzzer writes them (`&` and `=` keep their meaning).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d365_emulator_fuzz::get_query("accounts", data);
});
