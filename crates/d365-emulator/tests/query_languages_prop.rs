//! Property tests of the emulator's own query readers: the SQL subset and QueryExpression
//! never panic whatever they are given, and a generated query in the subset reads back with
//! every condition it was built from.

use d365_emulator::fetchxml::{from_query_expression, from_sql};
use proptest::prelude::*;

const COLUMNS: &[&str] = &[
    "name",
    "accountnumber",
    "numberofemployees",
    "statecode",
    "createdon",
];
const OPERATORS: &[(&str, &str)] = &[
    ("=", "eq"),
    ("<>", "ne"),
    ("!=", "ne"),
    ("<", "lt"),
    ("<=", "le"),
    (">", "gt"),
    (">=", "ge"),
];

fn constant() -> impl Strategy<Value = String> {
    prop_oneof![
        (-100_000i64..100_000).prop_map(|n| n.to_string()),
        "[a-zA-Z0-9 %_']{0,12}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
    ]
}

fn comparison() -> impl Strategy<Value = (String, &'static str)> {
    (0..COLUMNS.len(), 0..OPERATORS.len(), constant()).prop_map(|(c, o, v)| {
        (
            format!("{} {} {v}", COLUMNS[c], OPERATORS[o].0),
            OPERATORS[o].1,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sql_never_panics(text in "\\PC{0,80}") {
        let _ = from_sql(&text);
    }

    #[test]
    fn sql_made_of_its_own_words_never_panics(
        words in proptest::collection::vec(
            prop_oneof![
                Just("SELECT"), Just("TOP"), Just("FROM"), Just("WHERE"), Just("AND"), Just("OR"),
                Just("NOT"), Just("LIKE"), Just("IN"), Just("IS"), Just("NULL"), Just("BETWEEN"),
                Just("ORDER"), Just("BY"), Just("("), Just(")"), Just(","), Just("="), Just("<>"),
                Just("'x'"), Just("5"), Just("-1"), Just("name"), Just("account"), Just("a."),
                Just("*"), Just("["), Just("]"), Just("N'"), Just(";"), Just("--"),
            ],
            0..24,
        )
    ) {
        let _ = from_sql(&words.join(" "));
    }

    #[test]
    fn a_generated_where_clause_keeps_every_comparison(
        parts in proptest::collection::vec(comparison(), 1..8),
        or in any::<bool>(),
        top in proptest::option::of(1usize..5000),
    ) {
        let joiner = if or { " OR " } else { " AND " };
        let clause: Vec<&str> = parts.iter().map(|(text, _)| text.as_str()).collect();
        let sql = format!(
            "SELECT {}name FROM account WHERE {} ORDER BY name",
            top.map(|n| format!("TOP {n} ")).unwrap_or_default(),
            clause.join(joiner)
        );
        let fetch = from_sql(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        prop_assert_eq!(fetch.top, top);
        let filter = fetch.filter.expect("a WHERE clause");
        prop_assert_eq!(filter.or, or && parts.len() > 1);
        let ops: Vec<&str> = filter.conditions.iter().map(|c| c.operator.as_str()).collect();
        let expected: Vec<&str> = parts.iter().map(|(_, op)| *op).collect();
        prop_assert_eq!(ops, expected);
    }

    #[test]
    fn query_expressions_never_panic(json in "\\PC{0,120}") {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&json) {
            let _ = from_query_expression(&value);
        }
    }
}
