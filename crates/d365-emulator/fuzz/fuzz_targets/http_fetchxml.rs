//! The `fetchXml` value of `GET accounts?fetchXml=…`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let xml = d365_emulator_fuzz::value(data);
    d365_emulator_fuzz::get(&format!("accounts?fetchXml={xml}"));
});
