//! Property tests: `parse(print(x)) == x` for expressions and whole query strings.
//!
//! The generators only build trees whose printing is unambiguous: member and
//! variable names are plain identifiers that are not keywords, and lambdas
//! always have a collection path.

use d365_odata::{
    Arg, BinaryOp, ExpandItem, Expr, ExprKind, LambdaOp, Literal, OrderBy, QueryOptions,
    SelectItem, UnaryOp, parse_filter, parse_orderby, print_expr, print_orderby,
};
use proptest::prelude::*;
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
use uuid::Uuid;

/// Words the parser treats specially somewhere.
const RESERVED: &[&str] = &[
    "eq", "ne", "gt", "ge", "lt", "le", "has", "in", "and", "or", "not", "add", "sub", "mul",
    "div", "divby", "mod", "true", "false", "null", "any", "all", "duration", "asc", "desc",
];

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,6}".prop_filter("keyword", |s| {
        !RESERVED.contains(&s.as_str()) && s != "INF" && s != "NaN"
    })
}

fn qualified() -> impl Strategy<Value = String> {
    prop::collection::vec(ident(), 2..4).prop_map(|parts| parts.join("."))
}

fn date() -> impl Strategy<Value = Date> {
    (1i32..=9999, 1u8..=12, 1u8..=28)
        .prop_map(|(y, m, d)| Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap())
}

fn time_of_day() -> impl Strategy<Value = Time> {
    (
        0u8..24,
        0u8..60,
        0u8..60,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
    )
        .prop_map(|(h, m, s, n)| Time::from_hms_nano(h, m, s, n).unwrap())
}

fn offset() -> impl Strategy<Value = UtcOffset> {
    (
        any::<bool>(),
        0i8..=14,
        prop::sample::select(vec![0i8, 15, 30, 45]),
    )
        .prop_map(|(negative, h, m)| {
            let sign = if negative { -1 } else { 1 };
            UtcOffset::from_hms(sign * h, sign * m, 0).unwrap()
        })
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(0.0),
        Just(1.5),
    ]
}

/// Literals allowed as JSON array items.
fn array_item() -> impl Strategy<Value = Literal> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Literal::String),
        any::<i64>().prop_map(Literal::Int),
        double().prop_map(Literal::Double),
        "-?[0-9]{1,5}\\.[0-9]{1,5}".prop_map(Literal::Decimal),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
        any::<u128>().prop_map(|n| Literal::Guid(Uuid::from_u128(n))),
        date().prop_map(Literal::Date),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(Literal::Array)
    })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        "-?[0-9]{1,6}\\.[0-9]{1,6}".prop_map(Literal::Decimal),
        double().prop_map(Literal::Double),
        any::<String>().prop_map(Literal::String),
        "[a-z' \"%&+#=é😀]{0,8}".prop_map(Literal::String),
        any::<u128>().prop_map(|n| Literal::Guid(Uuid::from_u128(n))),
        date().prop_map(Literal::Date),
        (date(), time_of_day(), offset()).prop_map(|(d, t, o)| {
            Literal::DateTimeOffset(PrimitiveDateTime::new(d, t).assume_offset(o))
        }),
        time_of_day().prop_map(Literal::TimeOfDay),
        "-?P([0-9]{1,3}D)?(T([0-9]{1,2}H)?([0-9]{1,2}M)?([0-9]{1,2}(\\.[0-9]{1,3})?S)?)?"
            .prop_map(Literal::Duration),
        (qualified(), ident()).prop_map(|(type_name, value)| Literal::Enum { type_name, value }),
        prop::collection::vec(array_item(), 0..4).prop_map(Literal::Array),
    ]
}

/// A primitive literal (not an array), as an item of `in (...)`.
fn list_literal() -> impl Strategy<Value = Expr> {
    literal()
        .prop_filter("arrays are not primitive literals", |l| {
            !matches!(l, Literal::Array(_))
        })
        .prop_map(|l| Expr::new(ExprKind::Literal(l)))
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        4 => literal().prop_map(ExprKind::Literal),
        4 => prop::collection::vec(ident(), 1..4).prop_map(ExprKind::Member),
        1 => ident().prop_map(ExprKind::Alias),
        1 => Just(ExprKind::It),
    ]
    .prop_map(Expr::new)
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        let arg = prop_oneof![
            inner.clone().prop_map(Arg::Positional),
            (ident(), inner.clone()).prop_map(|(name, value)| Arg::Named { name, value }),
        ];
        prop_oneof![
            (
                prop::sample::select(vec![UnaryOp::Not, UnaryOp::Neg]),
                boxed.clone()
            )
                .prop_map(|(op, operand)| ExprKind::Unary { op, operand }),
            (
                prop::sample::select(BinaryOp::ALL.to_vec()),
                boxed.clone(),
                boxed.clone()
            )
                .prop_map(|(op, lhs, rhs)| ExprKind::Binary { op, lhs, rhs }),
            // listExpr holds primitive literals; one item in parentheses is any expression.
            (
                boxed.clone(),
                prop_oneof![
                    prop::collection::vec(list_literal(), 0..4),
                    inner.clone().prop_map(|e| vec![e]),
                ]
            )
                .prop_map(|(lhs, list)| ExprKind::In { lhs, list }),
            (
                prop_oneof![ident(), qualified()],
                prop::collection::vec(arg, 0..3)
            )
                .prop_map(|(name, args)| ExprKind::Call { name, args }),
            (
                prop::collection::vec(ident(), 1..3),
                prop::sample::select(vec![LambdaOp::Any, LambdaOp::All]),
                ident(),
                boxed
            )
                .prop_map(|(path, op, var, body)| ExprKind::Lambda {
                    path,
                    op,
                    var: Some(var),
                    body: Some(body),
                }),
            prop::collection::vec(ident(), 1..3).prop_map(|path| ExprKind::Lambda {
                path,
                op: LambdaOp::Any,
                var: None,
                body: None,
            }),
        ]
        .prop_map(Expr::new)
    })
}

fn orderby() -> impl Strategy<Value = Vec<OrderBy>> {
    prop::collection::vec(
        (expr(), any::<bool>()).prop_map(|(expr, descending)| OrderBy { expr, descending }),
        0..3,
    )
}

fn select() -> impl Strategy<Value = Option<Vec<SelectItem>>> {
    let item = prop_oneof![
        1 => Just(SelectItem::All),
        4 => prop::collection::vec(ident(), 1..3).prop_map(SelectItem::Path),
    ];
    prop::option::of(prop::collection::vec(item, 1..4))
}

/// Options allowed inside `$expand` (and printed there).
fn nested_options() -> impl Strategy<Value = QueryOptions> {
    (
        select(),
        prop::option::of(expr()),
        orderby(),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(select, filter, orderby, top, skip, count)| QueryOptions {
            select,
            filter,
            orderby,
            top,
            skip,
            count,
            ..QueryOptions::default()
        })
}

fn expand_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(ident(), 1..3).prop_map(|p| p.join("/")),
        1 => Just("*".to_owned()),
    ]
}

fn expand_item() -> impl Strategy<Value = ExpandItem> {
    (
        expand_path(),
        nested_options(),
        prop::collection::vec((expand_path(), nested_options()), 0..2),
    )
        .prop_map(|(path, mut options, inner)| {
            options.expand = inner
                .into_iter()
                .map(|(path, options)| ExpandItem { path, options })
                .collect();
            ExpandItem { path, options }
        })
}

fn custom_name() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("system or alias name", |s| {
        !s.is_empty() && !s.starts_with('$') && !s.starts_with('@') && s != "fetchXml"
    })
}

/// `$search` is validated when parsed: generate valid search expressions, with the
/// characters a URL must carry percent-encoded (`& # ; + %`) inside words.
fn search_text() -> impl Strategy<Value = String> {
    let word = "[a-zA-Z0-9&#;+%=!*,:@/?$é][a-z0-9'&#;]{0,5}";
    prop_oneof![
        (
            word,
            prop::collection::vec(
                (prop::sample::select(vec!["", "AND ", "OR ", "NOT "]), word),
                0..3
            )
        )
            .prop_map(|(first, rest)| {
                rest.into_iter()
                    .fold(first, |acc, (op, w)| format!("{acc} {op}{w}"))
            }),
        "\"[a-z &;']{1,8}\"",
        "'[a-z \"]{0,8}'",
    ]
    .prop_filter("a search term is not empty", |s| !s.trim().is_empty())
}

fn query_options() -> impl Strategy<Value = QueryOptions> {
    let head = (nested_options(), prop::collection::vec(expand_item(), 0..3));
    // `$apply` is validated when parsed: generate valid transformations (with awkward names).
    let apply_text = (ident(), ident(), prop::sample::select(vec!["sum", "min", "max", "average", "countdistinct"]))
        .prop_map(|(a, b, m)| format!("filter({a} eq 'x''y & z+1')/groupby(({a},{b}/{a}),aggregate({b} with {m} as {a}_{m},$count as n))"));
    let raw = (
        prop::option::of(apply_text),
        prop::option::of(search_text()),
        prop::option::of(any::<String>()),
        prop::option::of(any::<String>()),
        prop::option::of(any::<String>()),
    );
    let tail = (
        prop::collection::btree_map(ident(), expr(), 0..3),
        prop::collection::vec((custom_name(), any::<String>()), 0..3),
    );
    (head, raw, tail).prop_map(
        |((base, expand), (apply, search, skiptoken, deltatoken, fetch_xml), (aliases, custom))| {
            QueryOptions {
                expand,
                apply,
                search,
                skiptoken,
                deltatoken,
                fetch_xml,
                aliases: aliases.into_iter().collect(),
                custom,
                ..base
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_filters_parse_back(ast in expr()) {
        let text = print_expr(&ast);
        match parse_filter(&text) {
            Ok(parsed) => prop_assert_eq!(parsed, ast, "printed: {}", text),
            Err(err) => prop_assert!(false, "printed {} fails: {}", text, err),
        }
    }

    #[test]
    fn printed_orderby_parses_back(items in orderby().prop_filter("empty", |v| !v.is_empty())) {
        let text = print_orderby(&items);
        prop_assert_eq!(parse_orderby(&text).unwrap(), items, "printed: {}", text);
    }

    #[test]
    fn query_strings_parse_back(options in query_options()) {
        let text = options.to_query_string();
        match QueryOptions::parse(&text) {
            Ok(parsed) => prop_assert_eq!(parsed, options, "printed: {}", text),
            Err(err) => prop_assert!(false, "printed {} fails: {}", text, err),
        }
    }

    #[test]
    fn parser_never_panics(text in "[a-z0-9 ()',/@$:=\\[\\]\"-.*]{0,40}") {
        let _ = parse_filter(&text);
        let _ = parse_orderby(&text);
        let _ = QueryOptions::parse(&text);
        let _ = d365_odata::parse_resource_path(&text);
    }
}
