//! Table-driven `$filter` / `$orderby` parser tests: each input is checked
//! against its s-expression (Azurite style).

use d365_odata::{parse_filter, parse_orderby};

fn check(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, expected) in cases {
        match parse_filter(input) {
            Ok(expr) if expr.to_string() == *expected => {}
            Ok(expr) => failures.push(format!("{input}\n  expected {expected}\n  got      {expr}")),
            Err(err) => failures.push(format!("{input}\n  expected {expected}\n  error    {err}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn precedence_and_associativity() {
    check(&[
        (
            "not a eq 1 and b eq 2",
            "(and (not (eq (id a) 1)) (eq (id b) 2))",
        ),
        (
            "not PartitionKey eq 'test' and PartitionKey eq 'test2'",
            r#"(and (not (eq (id PartitionKey) "test")) (eq (id PartitionKey) "test2"))"#,
        ),
        (
            "a eq 1 or b eq 2 and c eq 3",
            "(or (eq (id a) 1) (and (eq (id b) 2) (eq (id c) 3)))",
        ),
        (
            "a eq 1 and b eq 2 or c eq 3",
            "(or (and (eq (id a) 1) (eq (id b) 2)) (eq (id c) 3))",
        ),
        ("a or b or c", "(or (or (id a) (id b)) (id c))"),
        ("a and b and c", "(and (and (id a) (id b)) (id c))"),
        ("a sub b sub c", "(sub (sub (id a) (id b)) (id c))"),
        ("a add b mul c", "(add (id a) (mul (id b) (id c)))"),
        ("a mul b add c", "(add (mul (id a) (id b)) (id c))"),
        (
            "a div b divby c mod d",
            "(mod (divby (div (id a) (id b)) (id c)) (id d))",
        ),
        (
            "price add 1 gt 10 eq true",
            "(eq (gt (add (id price) 1) 10) true)",
        ),
        (
            "a lt b eq c ge d",
            "(eq (lt (id a) (id b)) (ge (id c) (id d)))",
        ),
        ("a eq b ne c", "(ne (eq (id a) (id b)) (id c))"),
        (
            "a le 1 or not b gt 2 and c",
            "(or (le (id a) 1) (and (not (gt (id b) 2)) (id c)))",
        ),
        ("not not a", "(not (not (id a)))"),
        ("-a add b", "(add (neg (id a)) (id b))"),
        ("-(a add b)", "(neg (add (id a) (id b)))"),
        ("- -a", "(neg (neg (id a)))"),
        ("not (a or b)", "(not (or (id a) (id b)))"),
        ("(not a) eq b", "(eq (not (id a)) (id b))"),
    ]);
}

#[test]
fn parentheses() {
    check(&[
        (
            "(a eq 1 or b eq 2) and c eq 3",
            "(and (or (eq (id a) 1) (eq (id b) 2)) (eq (id c) 3))",
        ),
        ("((((a))))", "(id a)"),
        (
            "a mul (b add (c sub (d div 2)))",
            "(mul (id a) (add (id b) (sub (id c) (div (id d) 2))))",
        ),
        (
            "( a eq 1 )and( b eq 2 )",
            "(and (eq (id a) 1) (eq (id b) 2))",
        ),
    ]);
}

#[test]
fn arithmetic_and_negative_numbers() {
    check(&[
        ("a sub -5", "(sub (id a) -5)"),
        ("a sub - 5", "(sub (id a) (neg 5))"),
        ("-5 eq a", "(eq -5 (id a))"),
        ("-(5) eq a", "(eq (neg 5) (id a))"),
        ("a eq -INF", "(eq (id a) -INF)"),
        ("a eq - INF", "(eq (id a) (neg INF))"),
        ("a eq -0.5", "(eq (id a) -0.5)"),
        ("a eq +7", "(eq (id a) 7)"),
        ("Price sub 0.55 eq 2.00", "(eq (sub (id Price) 0.55) 2.00)"),
        ("Rating divby 2 eq 2.5", "(eq (divby (id Rating) 2) 2.5)"),
        ("a mod 2 eq 0", "(eq (mod (id a) 2) 0)"),
    ]);
}

#[test]
fn has_and_in() {
    check(&[
        (
            "style has Sales.Pattern'Yellow'",
            "(has (id style) (enum Sales.Pattern Yellow))",
        ),
        (
            "a has Ns.Flags'Read,Write' and b",
            "(and (has (id a) (enum Ns.Flags Read,Write)) (id b))",
        ),
        (
            "Name in ('Milk', 'Cheese')",
            r#"(in (id Name) ("Milk" "Cheese"))"#,
        ),
        (
            r#"Name in ["Milk", "Cheese"]"#,
            r#"(in (id Name) ("Milk" "Cheese"))"#,
        ),
        ("x in ()", "(in (id x) ())"),
        ("x in (1)", "(in (id x) (1))"),
        ("x in (1,2) eq true", "(eq (in (id x) (1 2)) true)"),
        ("a add 1 in (2,3)", "(in (add (id a) 1) (2 3))"),
        (
            "not x in ('a') or y",
            r#"(or (not (in (id x) ("a"))) (id y))"#,
        ),
    ]);
}

#[test]
fn members_and_paths() {
    check(&[
        (
            "primarycontactid/fullname eq 'X'",
            r#"(eq (id primarycontactid/fullname) "X")"#,
        ),
        (
            "primarycontactid/createdby/fullname ne null",
            "(ne (id primarycontactid/createdby/fullname) null)",
        ),
        (
            "_ownerid_value eq @p1",
            "(eq (id _ownerid_value) (alias p1))",
        ),
        ("firstname eq lastname", "(eq (id firstname) (id lastname))"),
        ("$it/name eq 'a'", r#"(eq (id $it/name) "a")"#),
        ("$it eq 1", "(eq $it 1)"),
        (
            "Account_Tasks/$count gt 2",
            "(gt (id Account_Tasks/$count) 2)",
        ),
        (
            "Microsoft.Dynamics.CRM.account/name eq 'a'",
            r#"(eq (id Microsoft.Dynamics.CRM.account/name) "a")"#,
        ),
        ("ändern eq 1", "(eq (id ändern) 1)"),
        ("isactive", "(id isactive)"),
    ]);
}

#[test]
fn calls_and_named_arguments() {
    check(&[
        (
            "contains(name,'sample')",
            r#"(call contains (id name) "sample")"#,
        ),
        (
            "not endswith(Name,'ilk')",
            r#"(not (call endswith (id Name) "ilk"))"#,
        ),
        (
            "startswith(name, 'a') and endswith(name,'Inc.')",
            r#"(and (call startswith (id name) "a") (call endswith (id name) "Inc."))"#,
        ),
        (
            "length(tolower(name)) gt 3",
            "(gt (call length (call tolower (id name))) 3)",
        ),
        ("now() gt x", "(gt (call now) (id x))"),
        (
            "Microsoft.Dynamics.CRM.Today()",
            "(call Microsoft.Dynamics.CRM.Today)",
        ),
        (
            "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
            r#"(call Microsoft.Dynamics.CRM.Today (arg PropertyName "createdon"))"#,
        ),
        (
            "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)",
            r#"(call Microsoft.Dynamics.CRM.LastXDays (arg PropertyName "createdon") (arg PropertyValue 7))"#,
        ),
        (
            "Microsoft.Dynamics.CRM.LastXHours(PropertyName=@p1,PropertyValue=@p2)",
            "(call Microsoft.Dynamics.CRM.LastXHours (arg PropertyName (alias p1)) (arg PropertyValue (alias p2)))",
        ),
        (
            r#"Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=["OBrian","O'Brian"])"#,
            r#"(call Microsoft.Dynamics.CRM.In (arg PropertyName "lastname") (arg PropertyValues ["OBrian" "O'Brian"]))"#,
        ),
        (
            r#"Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=["5","2000"])"#,
            r#"(call Microsoft.Dynamics.CRM.Between (arg PropertyName "numberofemployees") (arg PropertyValues ["5" "2000"]))"#,
        ),
        ("f(a eq 1, 2)", "(call f (eq (id a) 1) 2)"),
    ]);
}

#[test]
fn lambdas() {
    check(&[
        (
            "Account_Tasks/any(t:t/statecode eq 1)",
            "(any Account_Tasks t (eq (id t/statecode) 1))",
        ),
        (
            "Account_Tasks/all( t : t/statecode eq 1 )",
            "(all Account_Tasks t (eq (id t/statecode) 1))",
        ),
        ("Account_Tasks/any()", "(any Account_Tasks)"),
        (
            "a/b/any(x:x/c/any(y:y/d eq x/e))",
            "(any a/b x (any x/c y (eq (id y/d) (id x/e))))",
        ),
        (
            "contact_customer_accounts/any(o1:o1/contact_customer_accounts/any(o2:o2/name eq 'x')) and x",
            r#"(and (any contact_customer_accounts o1 (any o1/contact_customer_accounts o2 (eq (id o2/name) "x"))) (id x))"#,
        ),
        (
            "not Account_Tasks/any(t:contains(t/subject,'a'))",
            r#"(not (any Account_Tasks t (call contains (id t/subject) "a")))"#,
        ),
        // `any` without parentheses is just a property.
        ("a/any eq 1", "(eq (id a/any) 1)"),
    ]);
}

#[test]
fn literals_of_every_kind() {
    check(&[
        ("a eq null", "(eq (id a) null)"),
        ("a eq true", "(eq (id a) true)"),
        ("true eq false", "(eq true false)"),
        ("a eq 42", "(eq (id a) 42)"),
        (
            "a eq 9223372036854775807",
            "(eq (id a) 9223372036854775807)",
        ),
        (
            "a eq -9223372036854775808",
            "(eq (id a) -9223372036854775808)",
        ),
        ("a eq 12.50", "(eq (id a) 12.50)"),
        ("Size eq 4.0", "(eq (id Size) 4.0)"),
        ("a eq 1e10", "(eq (id a) 1E10)"),
        ("a eq 1.5E-3", "(eq (id a) 1.5E-3)"),
        ("a eq 2e+2", "(eq (id a) 2E2)"),
        ("a eq INF", "(eq (id a) INF)"),
        ("a eq NaN", "(eq (id a) NaN)"),
        ("lastname eq 'O''Bryan'", r#"(eq (id lastname) "O'Bryan")"#),
        ("a eq ''", r#"(eq (id a) "")"#),
        (r#"a eq 'say "hi" \o/'"#, r#"(eq (id a) "say \"hi\" \\o/")"#),
        ("a eq 'héllo 😀'", r#"(eq (id a) "héllo 😀")"#),
        ("a eq 'x and y'", r#"(eq (id a) "x and y")"#),
        (
            "accountid eq 7B2E0000-0000-0000-0000-00000000000A",
            "(eq (id accountid) 7b2e0000-0000-0000-0000-00000000000a)",
        ),
        (
            "accountid eq abcdef01-2345-6789-abcd-ef0123456789",
            "(eq (id accountid) abcdef01-2345-6789-abcd-ef0123456789)",
        ),
        (
            "_owninguser_value eq '00000000-0000-0000-0000-000000000001'",
            r#"(eq (id _owninguser_value) "00000000-0000-0000-0000-000000000001")"#,
        ),
        // Guid vs member: an identifier that is not exactly 8-4-4-4-12 stays a member.
        ("abcdef01 eq 1", "(eq (id abcdef01) 1)"),
        ("a eq 2024-01-31", "(eq (id a) 2024-01-31)"),
        (
            "createdon gt 2023-01-01T00:00:00Z",
            "(gt (id createdon) 2023-01-01T00:00:00Z)",
        ),
        (
            "a eq 2024-01-31T10:20:30.123+02:00",
            "(eq (id a) 2024-01-31T10:20:30.123+02:00)",
        ),
        (
            "a eq 2024-01-31T10:20-05:30",
            "(eq (id a) 2024-01-31T10:20:00-05:30)",
        ),
        (
            "a eq 2024-01-31T10:20:30.000+00:00",
            "(eq (id a) 2024-01-31T10:20:30Z)",
        ),
        ("a eq 10:20", "(eq (id a) 10:20:00)"),
        ("a eq 23:59:59.5", "(eq (id a) 23:59:59.5)"),
        ("a eq duration'P1DT2H'", "(eq (id a) (duration P1DT2H))"),
        ("a eq duration'-PT1.5S'", "(eq (id a) (duration -PT1.5S))"),
        (
            "ownershiptype eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'",
            "(eq (id ownershiptype) (enum Microsoft.Dynamics.CRM.OwnershipTypes UserOwned))",
        ),
        (
            r#"a eq ["a",1,-2.5,true,null,[],["\"q\""]]"#,
            r#"(eq (id a) ["a" 1 -2.5 true null [] ["\"q\""]])"#,
        ),
    ]);
}

#[test]
fn abnf_sanity_cases() {
    // Small inputs copied from the OASIS ABNF test cases (boolCommonExpr).
    check(&[
        ("Size eq true", "(eq (id Size) true)"),
        ("Street eq 'Hugo'", r#"(eq (id Street) "Hugo")"#),
        ("true ne false", "(ne true false)"),
        ("Name lt 'Milk'", r#"(lt (id Name) "Milk")"#),
        ("Name le 'Milk'", r#"(le (id Name) "Milk")"#),
        ("true and false", "(and true false)"),
        ("true or false", "(or true false)"),
        ("Price div 2.55 eq 1", "(eq (div (id Price) 2.55) 1)"),
    ]);
}

/// A property whose name is a keyword in another case is a property where no keyword fits:
/// `noT in (…)` and `Not eq 1` compare it (nothing is negated, so nothing is refused).
#[test]
fn a_property_named_like_a_keyword_is_a_property() {
    check(&[
        ("noT in (1,2)", "(in (id noT) (1 2))"),
        ("Not eq 1", "(eq (id Not) 1)"),
    ]);
}

#[test]
fn whitespace_is_flexible() {
    check(&[
        ("  a   eq\t1  ", "(eq (id a) 1)"),
        ("contains( name , 'x' )", r#"(call contains (id name) "x")"#),
    ]);
}

#[test]
fn spans_cover_the_source() {
    let expr = parse_filter("a eq 'x' and (b gt 2)").unwrap();
    assert_eq!((expr.span.start, expr.span.end), (0, 21));
    let d365_odata::ExprKind::Binary { lhs, rhs, .. } = &expr.kind else {
        panic!("{expr}");
    };
    assert_eq!((lhs.span.start, lhs.span.end), (0, 8));
    assert_eq!((rhs.span.start, rhs.span.end), (13, 21));
}

#[test]
fn orderby() {
    let cases = [
        (
            "revenue asc,name desc",
            "(asc (id revenue)) (desc (id name))",
        ),
        ("name", "(asc (id name))"),
        (
            "primarycontactid/fullname desc , createdon",
            "(desc (id primarycontactid/fullname)) (asc (id createdon))",
        ),
        ("length(name) desc", "(desc (call length (id name)))"),
        ("a add b", "(asc (add (id a) (id b)))"),
    ];
    for (input, expected) in cases {
        let items = parse_orderby(input).unwrap();
        let shown: Vec<String> = items.iter().map(ToString::to_string).collect();
        assert_eq!(shown.join(" "), expected, "{input}");
    }
}
