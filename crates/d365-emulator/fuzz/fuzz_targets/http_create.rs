//! A JSON body on `POST accounts` (create).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d365_emulator_fuzz::post("accounts", "application/json", data.to_vec());
});
