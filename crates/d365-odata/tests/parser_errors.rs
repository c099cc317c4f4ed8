//! Malformed `$filter`/`$orderby`/`$select` input: offset, expected and found.

use d365_odata::{parse_filter, parse_orderby, parse_select};

/// `(input, offset, expected, found)`.
const FILTER_CASES: &[(&str, usize, &str, &str)] = &[
    ("name eq", 7, "an expression", "end of input"),
    ("", 0, "an expression", "end of input"),
    ("(a eq 1", 7, "')'", "end of input"),
    ("(a eq 1 b", 8, "')'", "'b'"),
    (
        "name eq 'unterminated",
        21,
        "a closing quote for the string at offset 8",
        "end of input",
    ),
    ("a eq 1 1", 7, "an operator or end of input", "'1'"),
    ("contains(name,)", 14, "an expression", "')'"),
    ("contains(name 'x')", 14, "',' or ')'", "'x'"),
    ("a eqq 1", 2, "an operator or end of input", "'eqq'"),
    (
        "a eq 99999999999999999999",
        5,
        "an integer between -9223372036854775808 and 9223372036854775807",
        "'99999999999999999999'",
    ),
    ("and eq 1", 0, "an expression", "'and'"),
    ("a eq 1 and", 10, "an expression", "end of input"),
    ("a eq 1)", 6, "an operator or end of input", "')'"),
    ("a/ eq 1", 3, "a property name after '/'", "'eq'"),
    (
        "a eq 2024-02-30",
        13,
        "a day that exists in that month",
        "'2024-02-30'",
    ),
    (
        "a eq 2024-01-31T25:00Z",
        17,
        "a valid date, time or date-time literal",
        "'2024-01-31T25:00Z'",
    ),
    ("a eq 12abc", 7, "the end of the number", "'abc'"),
    ("x in 'a'", 5, "'(' or '[' after 'in'", "'a'"),
    ("x in ('a' 'b')", 10, "',' or ')'", "'b'"),
    ("a eq [1 2]", 8, "',' or ']'", "'2'"),
    ("a eq \"x\"", 5, "an expression", "'\"x\"'"),
    ("T/any(t t/x)", 8, "':' after the lambda variable", "'t'"),
    (
        "a eq duration'1D'",
        14,
        "an ISO 8601 duration such as 'P1DT2H'",
        "'1D'",
    ),
    (
        "a eq Pattern'Yellow'",
        5,
        "'duration' or a qualified enum type name before a quoted value",
        "'Pattern'",
    ),
    ("a eq 1 # 2", 7, "an operator or end of input", "'#'"),
    ("a eq 1 ~ 2", 7, "a token", "'~'"),
    ("a eq @", 5, "an identifier", "'@'"),
];

#[test]
fn filter_errors() {
    let mut failures = Vec::new();
    for &(input, offset, expected, found) in FILTER_CASES {
        match parse_filter(input) {
            Ok(expr) => failures.push(format!("{input}: parsed as {expr}")),
            Err(err) => {
                let got = (err.offset, err.expected.as_str(), err.found.as_str());
                if got != (offset, expected, found) {
                    failures.push(format!(
                        "{input}\n  want {:?}\n  got  {got:?}",
                        (offset, expected, found)
                    ));
                }
                assert_eq!(err.input, input);
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Valid OData 4.01 that Dataverse does not take: refused as such, where it is used,
/// and only once the whole text has parsed (a later syntax error wins).
#[test]
fn valid_but_unsupported() {
    for (input, offset) in [
        ("Name EQ 'Milk'", 5),
        ("a eq TRUE", 5),
        ("a eq [foo]", 6),
        ("a eq 1972-06-30T23:59:60Z", 22),
        ("a eq -10000-04-01", 5),
        ("a eq 1 OR b eq 2", 7),
    ] {
        let err = parse_filter(input).unwrap_err();
        assert!(err.unsupported, "{input}: {err}");
        assert_eq!(err.offset, offset, "{input}: {err}");
        assert!(
            err.to_string().starts_with("not supported by Dataverse: "),
            "{err}"
        );
    }
    let err = parse_filter("Name EQ 'Milk' and").unwrap_err();
    assert!(!err.unsupported, "{err}");
    assert_eq!(err.offset, 18);
    let err = parse_filter("T/all()").unwrap_err();
    assert_eq!((err.offset, err.unsupported), (7, false), "{err}");
}

#[test]
fn error_display_has_a_caret() {
    let err = parse_filter("(a eq 1 and").unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected an expression, found end of input at offset 11\n(a eq 1 and\n           ^"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    let err = parse_filter(&deep).unwrap_err();
    assert_eq!(err.expected, "an expression nested less deeply");
    let negations = format!("{}a", "-".repeat(5000));
    assert!(parse_filter(&negations).is_err());
    let nots = "not ".repeat(5000) + "a";
    assert!(parse_filter(&nots).is_err());
}

#[test]
fn orderby_errors() {
    let err = parse_orderby("name sideways").unwrap_err();
    assert_eq!(
        (err.offset, err.expected.as_str(), err.found.as_str()),
        (
            5,
            "an operator, 'asc', 'desc', ',' or end of input",
            "'sideways'"
        )
    );
    let err = parse_orderby("name desc desc").unwrap_err();
    assert_eq!(
        (err.offset, err.expected.as_str()),
        (10, "',' or end of input")
    );
    let err = parse_orderby("name,").unwrap_err();
    assert_eq!((err.offset, err.found.as_str()), (5, "end of input"));
}

#[test]
fn select_errors() {
    let err = parse_select("name,,x").unwrap_err();
    assert_eq!(
        (err.offset, err.expected.as_str()),
        (5, "a property name or '*'")
    );
    let err = parse_select("a b").unwrap_err();
    assert_eq!(
        (err.offset, err.expected.as_str()),
        (2, "',' or end of input")
    );
}

/// Left-deep chains are as tall as they are long; the parser caps them so no walker (printer,
/// binders, drop) can overflow the stack on a huge URL.
#[test]
fn long_operator_chains_are_capped() {
    let chain = |n: usize| {
        (0..n)
            .map(|i| format!("a eq {i}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    assert!(d365_odata::parse_filter(&chain(250)).is_ok());
    let err = d365_odata::parse_filter(&chain(5000)).unwrap_err();
    assert!(err.expected.contains("at most 500 operators"), "{err}");
}
