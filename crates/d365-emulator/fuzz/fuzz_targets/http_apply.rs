//! The `$apply` value of `GET accounts?$apply=…`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let apply = d365_emulator_fuzz::value(data);
    d365_emulator_fuzz::get(&format!("accounts?$apply={apply}"));
});
