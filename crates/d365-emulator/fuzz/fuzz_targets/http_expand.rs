//! The `$expand` value of `GET accounts?$select=name&$top=3&$expand=…` (nested options too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let expand = d365_emulator_fuzz::value(data);
    d365_emulator_fuzz::get(&format!("accounts?$select=name&$top=3&$expand={expand}"));
});
