//! `d365_emulator::fetchxml::from_sql` (the `?sql=` reader) never panics or overflows the
//! server's stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn read(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = d365_emulator::fetchxml::from_sql(text);
    }
}

fuzz_target!(|data: &[u8]| d365_emulator_fuzz::on_server_stack(read, data));
