//! Strings generated from the OASIS ABNF (`odata-abnf-construction-rules.txt`, found
//! like the test cases: `D365_ODATA_ABNF` or `../shared/odata/`) for rules the crate
//! maps must be accepted, or refused as valid-but-unsupported, never rejected as
//! syntax errors. Generation is deterministic (fixed seeds) and depth-bounded.

mod support {
    pub(crate) mod abnf;
    pub(crate) mod shared;
}

use std::collections::BTreeMap;

use d365_odata::conformance::{Outcome, TestCase, check};
use support::abnf::{Grammar, Rng};

/// Rules whose every valid string the crate must accept (or refuse as unsupported).
const RULES: &[&str] = &[
    "dateValue",
    "dateTimeOffsetValue",
    "timeOfDayValue",
    "durationValue",
    "guidValue",
    "decimalValue",
    "doubleValue",
    "int64Value",
    "booleanValue",
    // Not searchExpr: the ABNF says itself that `searchWord` is "overly generous" (its
    // prose excludes encoded parentheses and quotes, which the rule lets through).
    "int32Literal",
    "stringLiteral",
    "enumValue",
];

/// The ABNF cannot say how long a month is (`day = "0" oneToNine / ... / "3" ( "0" /
/// "1" )`), so `2024-06-31` matches it; the crate rejects such dates, as .NET does.
fn no_such_day(message: &str) -> bool {
    message.contains("a day that exists in that month")
}

/// `pct-encoded = "%" HEXDIG HEXDIG` takes any byte, but URLs carry UTF-8 (RFC 3987),
/// so byte sequences that are not UTF-8 are encoding errors, not grammar.
fn utf8_after_decoding(input: &str) -> bool {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&input[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).is_ok()
}

#[test]
fn generated_strings_parse() {
    let Some(path) =
        support::shared::shared_odata_file("D365_ODATA_ABNF", "odata-abnf-construction-rules.txt")
    else {
        return;
    };
    let grammar = Grammar::parse(&std::fs::read_to_string(path).unwrap());
    let constraints = BTreeMap::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, rule) in RULES.iter().enumerate() {
        assert!(grammar.has(rule), "{rule} is not in the ABNF");
        let mut rng = Rng::new(0x9E37_79B9 + i as u64);
        for _ in 0..300 {
            let input = grammar.generate(rule, &mut rng, 12);
            if !utf8_after_decoding(&input) {
                continue;
            }
            let case = TestCase {
                name: format!("generated {rule}"),
                rule: (*rule).to_owned(),
                input: input.clone(),
                fail_at: None,
            };
            checked += 1;
            match check(&case, &constraints) {
                Outcome::Passed { .. } | Outcome::Refused(_) => {}
                Outcome::Failed(f) if no_such_day(&f.got) => {}
                other => failures.push(format!("{rule} {input:?}: {other:?}")),
            }
        }
    }
    failures.dedup();
    assert!(checked > 2_500, "only {checked} inputs checked");
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.len(),
        failures.join("\n")
    );
}
