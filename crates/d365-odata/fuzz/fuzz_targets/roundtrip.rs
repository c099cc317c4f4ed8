//! For every filter that parses, printing it and parsing the print gives an equal tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(expr) = d365_odata::parse_filter(text) else { return };
    let printed = d365_odata::print_expr(&expr);
    let again = d365_odata::parse_filter(&printed)
        .unwrap_or_else(|e| panic!("printed {printed:?} of {text:?} does not parse: {e}"));
    assert_eq!(again, expr, "{text:?} printed as {printed:?}");
});
