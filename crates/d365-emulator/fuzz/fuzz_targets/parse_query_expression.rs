//! `d365_emulator::fetchxml::from_query_expression` never panics or overflows the server's
//! stack on any JSON (serde_json itself stops at 128 levels, as it does for request bodies).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn read(data: &[u8]) {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = d365_emulator::fetchxml::from_query_expression(&json);
    }
}

fuzz_target!(|data: &[u8]| d365_emulator_fuzz::on_server_stack(read, data));
