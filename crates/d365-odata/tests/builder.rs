//! The typed builder: exact query strings, and agreement with the parser.

use d365_odata::{Query, QueryOptions, alias, col, lit, parse_filter};
use time::macros::{date, datetime};
use uuid::Uuid;

#[test]
fn tricky_strings_are_escaped_exactly() {
    let q = Query::new().filter(col("name").eq("O'Brian & Sons+1"));
    assert_eq!(
        q.to_query_string(),
        "$filter=name%20eq%20'O''Brian%20%26%20Sons%2B1'"
    );
    let q = Query::new().filter(col("name").contains("100% #1 é"));
    assert_eq!(
        q.to_query_string(),
        "$filter=contains(name,'100%25%20%231%20%C3%A9')"
    );
    for q in [
        Query::new().filter(col("name").eq("O'Brian & Sons+1")),
        Query::new().filter(col("name").contains("100% #1 é")),
    ] {
        assert_eq!(
            &QueryOptions::parse(&q.to_query_string()).unwrap(),
            q.options()
        );
    }
}

#[test]
fn the_full_example() {
    let q = Query::new()
        .select(["name", "revenue"])
        .filter(col("name").contains("x").and(col("revenue").gt(1000)))
        .order_by_desc("revenue")
        .order_by("name")
        .top(10)
        .count(true)
        .expand("primarycontactid", Query::new().select(["fullname"]));
    assert_eq!(
        q.to_query_string(),
        "$select=name,revenue&$expand=primarycontactid($select%3Dfullname)\
         &$filter=contains(name,'x')%20and%20revenue%20gt%201000\
         &$orderby=revenue%20desc,name&$top=10&$count=true"
    );
    assert_eq!(
        &QueryOptions::parse(&q.to_query_string()).unwrap(),
        q.options()
    );
}

#[test]
fn builder_matches_the_parser() {
    let id = Uuid::from_u128(0xabc);
    let cases = [
        (
            col("a").eq(1).or(col("b").eq(2)).and(col("c").eq(3)),
            "(a eq 1 or b eq 2) and c eq 3",
        ),
        (col("a").eq(1).not(), "not a eq 1"),
        (!col("name").startswith("A"), "not startswith(name,'A')"),
        (
            col("primarycontactid/fullname").endswith("Inc."),
            "endswith(primarycontactid/fullname,'Inc.')",
        ),
        (col("x").is_null(), "x eq null"),
        (col("x").is_not_null(), "x ne null"),
        (col("x").in_(["a", "b"]), "x in ('a','b')"),
        (col("x").in_([1, 2]), "x in (1,2)"),
        (
            col("accountid").eq(id),
            "accountid eq 00000000-0000-0000-0000-000000000abc",
        ),
        (col("d").ge(date!(2024 - 01 - 31)), "d ge 2024-01-31"),
        (
            col("createdon").lt(datetime!(2024-01-31 10:20:30 UTC)),
            "createdon lt 2024-01-31T10:20:30Z",
        ),
        (col("r").le(1.5), "r le 1.5E0"),
        (col("n").ne(7u32), "n ne 7"),
        (col("n").gt(7i64), "n gt 7"),
        (col("flag").eq(true), "flag eq true"),
        (col("a").eq(col("b")), "a eq b"),
        (col("a").eq(alias("p1")), "a eq @p1"),
        (lit("x").eq(col("a")), "'x' eq a"),
        (
            col("Account_Tasks").any("t", col("t/statecode").eq(1)),
            "Account_Tasks/any(t:t/statecode eq 1)",
        ),
        (
            col("Account_Tasks").all("t", col("t/statecode").eq(1)),
            "Account_Tasks/all(t:t/statecode eq 1)",
        ),
    ];
    for (filter, text) in cases {
        assert_eq!(filter.to_string(), text);
        assert_eq!(filter.into_expr(), parse_filter(text).unwrap(), "{text}");
    }
}

#[test]
fn repeated_filters_are_anded_and_params_printed() {
    let q = Query::new()
        .filter(col("a").eq(1))
        .filter(col("b").eq(2).or(col("c").eq(3)))
        .param("p1", "modifiedon")
        .custom("tag", "x y");
    assert_eq!(
        q.to_query_string(),
        "$filter=a%20eq%201%20and%20(b%20eq%202%20or%20c%20eq%203)&@p1='modifiedon'&tag=x%20y"
    );
}

#[test]
fn select_star_and_paths() {
    let q = Query::new().select(["*"]).select(["a/b"]).skip(5);
    assert_eq!(q.to_query_string(), "$select=*,a/b&$skip=5");
}
