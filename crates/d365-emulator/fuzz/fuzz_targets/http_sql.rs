//! The `sql` value of `GET accounts?sql=…` (the emulator's SQL reader).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sql = d365_emulator_fuzz::value(data);
    d365_emulator_fuzz::get(&format!("accounts?sql={sql}"));
});
