//! The URL readers' hostile inputs: `$filter` and its parameter aliases, `$orderby`,
//! `$expand`, `$apply`, `?sql=`, FetchXML, and generated alias graphs and nestings.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use super::Expect::{Answered, Rejected};
use super::{Case, get};

pub(super) fn nest(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

pub(super) fn filter_aliases() -> Vec<Case> {
    let chain = |n: usize| {
        let links: Vec<String> = (1..n)
            .map(|i| format!("@a{i}=@a{} or @a{}", i + 1, i + 1))
            .collect();
        format!("accounts?$filter=@a1&{}&@a{n}=name eq 'x'", links.join("&"))
    };
    vec![
        get(
            "$filter=@p1&@p1=not @p1 (issue 13)",
            "accounts?$filter=@p1&@p1=not @p1",
            Rejected,
        ),
        get(
            "$filter=@p1&@p1=name eq 'x' or @p1 (issue 13)",
            "accounts?$filter=@p1&@p1=name eq 'x' or @p1",
            Rejected,
        ),
        get(
            "@a=@b or name eq 'x'&@b=@a (a two-alias cycle)",
            "accounts?$filter=@a&@a=@b or name eq 'x'&@b=@a",
            Rejected,
        ),
        get(
            "@p1 used in $orderby and $filter, self-referencing",
            "accounts?$filter=@p1 eq 'x'&$orderby=name&@p1=@p1",
            Rejected,
        ),
        get(
            "an alias cycle inside a lambda",
            "accounts?$filter=contact_customer_accounts/any(c:@p)&@p=c/fullname eq 'x' and @p",
            Rejected,
        ),
        // Acyclic but doubling at every link: 2^40 nodes if expanded naively (a hang, or
        // memory), so the reader must share or refuse; either answer is fine.
        get(
            "@a1=@a2 or @a2 … @a40 (a chain that doubles 39 times, issue 13)",
            chain(40),
            Answered,
        ),
    ]
}

pub(super) fn filter_depth() -> Vec<Case> {
    vec![
        get(
            "$filter with 10,000 nested parentheses",
            format!("accounts?$filter={}", nest("(", "name eq 'x'", ")", 10_000)),
            Rejected,
        ),
        get(
            "$filter with 5,000 nested not",
            format!("accounts?$filter={}name eq 'x'", "not ".repeat(5_000)),
            Rejected,
        ),
        get(
            "$filter with 3,000 nested tolower()",
            format!(
                "accounts?$filter={} eq 'x'",
                nest("tolower(", "name", ")", 3_000)
            ),
            Rejected,
        ),
        get(
            "$filter with 800 nested any() lambdas",
            format!(
                "accounts?$filter={}",
                nest(
                    "contact_customer_accounts/any(c:",
                    "c/fullname eq 'x'",
                    ")",
                    800
                )
            ),
            Rejected,
        ),
        get(
            "$orderby with 3,000 nested tolower()",
            format!("accounts?$orderby={}", nest("tolower(", "name", ")", 3_000)),
            Rejected,
        ),
        get(
            "$orderby with 10,000 nested parentheses",
            format!("accounts?$orderby={}", nest("(", "name", ")", 10_000)),
            Rejected,
        ),
        // Long but flat: a left-deep tree of 1,300 `and`s that a recursive binder or SQL
        // writer walks 1,300 deep. Dataverse takes long filters; either answer is fine.
        get(
            "$filter with 1,300 flat ands",
            format!(
                "accounts?$filter={}",
                vec!["name eq 'x'"; 1_300].join(" and ")
            ),
            Answered,
        ),
    ]
}

pub(super) fn expand_depth() -> Vec<Case> {
    vec![
        get(
            "$expand=a($expand=a(…)) 2,800 deep (issue 13)",
            format!("accounts?$expand={}", nest("a($expand=", "a", ")", 2_800)),
            Rejected,
        ),
        get(
            "$expand of real navigation properties 500 deep",
            format!(
                "accounts?$expand={}",
                nest(
                    "primarycontactid($expand=parentcustomerid_account($expand=",
                    "primarycontactid",
                    "))",
                    250
                )
            ),
            Rejected,
        ),
        get(
            "$expand with a $filter of 8,000 nested parentheses",
            format!(
                "accounts?$expand=contact_customer_accounts($filter={})",
                nest("(", "statecode eq 0", ")", 8_000)
            ),
            Rejected,
        ),
        get(
            "$expand with a $select of 10,000 nested parentheses",
            format!(
                "accounts?$expand=primarycontactid($select={})",
                nest("(", "fullname", ")", 10_000)
            ),
            Rejected,
        ),
    ]
}

pub(super) fn apply_depth() -> Vec<Case> {
    vec![
        get(
            "$apply=filter() with 10,000 nested parentheses",
            format!(
                "accounts?$apply=filter({})",
                nest("(", "name eq 'x'", ")", 10_000)
            ),
            Rejected,
        ),
        get(
            "$apply with groupby nested 1,500 deep",
            format!(
                "accounts?$apply={}",
                nest("groupby((name),", "aggregate($count as n)", ")", 1_500)
            ),
            Rejected,
        ),
        get(
            "$apply with 10,000 nested parentheses around a transformation",
            format!(
                "accounts?$apply={}",
                nest("(", "aggregate($count as n)", ")", 10_000)
            ),
            Rejected,
        ),
        get(
            "$apply with 1,000 chained filters",
            format!(
                "accounts?$apply={}",
                vec!["filter(statecode eq 0)"; 1_000].join("/")
            ),
            Answered,
        ),
    ]
}

pub(super) fn sql_depth() -> Vec<Case> {
    vec![
        get(
            "?sql= WHERE with 10,000 nested parentheses (issue 13)",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                nest("(", "name='x'", ")", 10_000)
            ),
            Rejected,
        ),
        get(
            "?sql= WHERE with 5,000 nested NOT",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}name='x'",
                "NOT ".repeat(5_000)
            ),
            Rejected,
        ),
        get(
            "?sql= WHERE with 3,000 nested NOT (…)",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                nest("NOT (", "name='x'", ")", 3_000)
            ),
            Rejected,
        ),
        get(
            "?sql= with 1,900 flat ORs",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                vec!["name='x'"; 1_900].join(" OR ")
            ),
            Answered,
        ),
    ]
}

pub(super) fn fetchxml_depth() -> Vec<Case> {
    let fetch = |inner: String| {
        format!(
            "accounts?fetchXml=<fetch><entity name='account'><attribute name='name'/>{inner}</entity></fetch>"
        )
    };
    let cond = "<condition attribute='name' operator='eq' value='x'/>";
    vec![
        get(
            "FetchXML with 1,000 nested <filter>",
            fetch(nest("<filter>", cond, "</filter>", 1_000)),
            Rejected,
        ),
        get(
            "FetchXML with 300 nested <link-entity>",
            fetch(nest(
                "<link-entity name='contact' from='parentcustomerid' to='accountid'>",
                "",
                "</link-entity>",
                300,
            )),
            Rejected,
        ),
        get(
            "FetchXML with 2,000 nested unknown elements",
            fetch(nest("<x>", "", "</x>", 2_000)),
            Rejected,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Generated inputs (proptest).

/// An alias graph: alias `i`'s value combines references to the listed aliases.
fn alias_query(refs: &[Vec<usize>], ops: &[bool], root: usize) -> (String, bool) {
    let n = refs.len();
    let value = |i: usize| {
        let mut parts: Vec<String> = refs[i].iter().map(|j| format!("@a{j}")).collect();
        parts.push("name eq 'x'".into());
        parts.join(if ops[i] { " or " } else { " and " })
    };
    let query = format!(
        "accounts?$filter=@a{root}&{}",
        (0..n)
            .map(|i| format!("@a{i}={}", value(i)))
            .collect::<Vec<_>>()
            .join("&")
    );
    // Is a cycle reachable from the root?
    fn cyclic(refs: &[Vec<usize>], at: usize, path: &mut Vec<usize>) -> bool {
        if path.contains(&at) {
            return true;
        }
        path.push(at);
        let found = refs[at].iter().any(|&j| cyclic(refs, j, path));
        path.pop();
        found
    }
    (query, cyclic(refs, root, &mut Vec::new()))
}

/// A URL reader's input nested `depth` levels (1,000 to 3,000: above any sensible cap, as
/// OData's own parser stops at 800).
fn deep_input(kind: usize, depth: usize) -> (String, String) {
    let cond = "<condition attribute='name' operator='eq' value='x'/>";
    let (label, query) = match kind {
        0 => (
            "$filter parens",
            format!("accounts?$filter={}", nest("(", "name eq 'x'", ")", depth)),
        ),
        1 => (
            "$filter not (",
            format!(
                "accounts?$filter={}",
                nest("not (", "name eq 'x'", ")", depth)
            ),
        ),
        2 => (
            "$orderby tolower(",
            format!("accounts?$orderby={}", nest("tolower(", "name", ")", depth)),
        ),
        3 => (
            "$expand a($expand=",
            format!(
                "accounts?$expand={}",
                nest("a($expand=", "a", ")", depth.min(2_800))
            ),
        ),
        4 => (
            "$apply filter parens",
            format!(
                "accounts?$apply=filter({})",
                nest("(", "name eq 'x'", ")", depth)
            ),
        ),
        5 => (
            "?sql= parens",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                nest("(", "name='x'", ")", depth)
            ),
        ),
        _ => (
            "FetchXML <filter>",
            format!(
                "accounts?fetchXml=<fetch><entity name='account'>{}</entity></fetch>",
                nest("<filter>", cond, "</filter>", 1_000 + depth % 100)
            ),
        ),
    };
    (format!("{label} x{depth}"), query)
}

/// Generated alias graphs (a reachable cycle must be refused; an acyclic one answered) and
/// generated deep inputs for every URL reader (refused). The values are drawn with proptest
/// and each is named in full in a failure.
pub(super) fn generated() -> Vec<Case> {
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let aliases = (1usize..6).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::collection::vec(0..n, 0..3), n),
            proptest::collection::vec(any::<bool>(), n),
            0..n,
        )
    });
    let deep = (0usize..7, 1_000usize..3_000);
    let mut cases = Vec::new();
    for _ in 0..16 {
        let (refs, ops, root) = aliases.new_tree(&mut runner).expect("a value").current();
        let (query, cyclic) = alias_query(&refs, &ops, root);
        let expect = if cyclic { Rejected } else { Answered };
        cases.push(get(
            format!("generated aliases (cyclic: {cyclic}) {query}"),
            query,
            expect,
        ));
    }
    for _ in 0..16 {
        let (kind, depth) = deep.new_tree(&mut runner).expect("a value").current();
        let (label, query) = deep_input(kind, depth);
        cases.push(get(format!("generated {label}"), query, Rejected));
    }
    cases
}
