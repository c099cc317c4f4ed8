//! A `$batch` body (`multipart/mixed; boundary=batch_fz`): change sets, embedded requests and
//! their bodies, all run through the router.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d365_emulator_fuzz::batch(data);
});
