//! Property tests of the OData `$filter` → QueryExpression translation that bulk deletes are
//! built from: it never panics, and a generated filter keeps every comparison, with the
//! operator the comparison says (sides swapped where the literal comes first).

use d365_webapi::QueryExpression;
use proptest::prelude::*;

const COLUMNS: &[&str] = &["name", "revenue", "numberofemployees", "statecode"];
/// (OData operator, ConditionOperator, ConditionOperator with the sides swapped)
const OPERATORS: &[(&str, &str, &str)] = &[
    ("eq", "Equal", "Equal"),
    ("ne", "NotEqual", "NotEqual"),
    ("gt", "GreaterThan", "LessThan"),
    ("ge", "GreaterEqual", "LessEqual"),
    ("lt", "LessThan", "GreaterThan"),
    ("le", "LessEqual", "GreaterEqual"),
];

fn comparison() -> impl Strategy<Value = (String, &'static str)> {
    (
        0..COLUMNS.len(),
        0..OPERATORS.len(),
        -1000i64..1000,
        any::<bool>(),
    )
        .prop_map(|(c, o, n, swapped)| {
            let (op, name, flipped) = OPERATORS[o];
            if swapped {
                (format!("{n} {op} {}", COLUMNS[c]), flipped)
            } else {
                (format!("{} {op} {n}", COLUMNS[c]), name)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_translation_never_panics(text in "\\PC{0,80}") {
        let _ = QueryExpression::from_filter("account", &text);
    }

    #[test]
    fn every_comparison_survives_with_its_operator(
        parts in proptest::collection::vec(comparison(), 1..8),
        or in any::<bool>(),
    ) {
        let joiner = if or { " or " } else { " and " };
        let filter = parts.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(joiner);
        let q = QueryExpression::from_filter("account", &filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let json = q.to_json();
        let criteria = &json["Criteria"];
        let expected_operator = if or && parts.len() > 1 { "Or" } else { "And" };
        prop_assert_eq!(criteria["FilterOperator"].as_str(), Some(expected_operator));
        let ops: Vec<&str> = criteria["Conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Operator"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = parts.iter().map(|(_, op)| *op).collect();
        prop_assert_eq!(ops, expected, "{}", filter);
        prop_assert!(criteria["Filters"].as_array().unwrap().is_empty());
    }
}
