//! `d365_odata::multipart` (the `$batch` reader) never panics or overflows the server's stack:
//! the first line is a `Content-Type`, the rest a body split by its boundary (or `batch_fz`),
//! each part split again by its own boundary (a change set) and read as an embedded request and
//! response.
#![no_main]

use d365_odata::multipart::{boundary, parse_request, parse_response, split};
use libfuzzer_sys::fuzz_target;

fn read(data: &[u8]) {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let outer = std::str::from_utf8(first)
        .ok()
        .and_then(boundary)
        .unwrap_or_else(|| "batch_fz".to_owned());
    let Ok(multipart) = split(body, &outer) else {
        return;
    };
    for part in &multipart.parts {
        if let Some(inner) = part.nested_boundary()
            && let Ok(nested) = split(part.body, &inner)
        {
            for p in &nested.parts {
                let _ = parse_request(p.body);
                let _ = parse_response(p.body);
            }
        }
        let _ = parse_request(part.body);
        let _ = parse_response(part.body);
    }
}

fuzz_target!(|data: &[u8]| d365_emulator_fuzz::on_server_stack(read, data));
