//! Query-string parsing and printing.

use d365_odata::{Literal, QueryError, QueryOptions, SelectItem, parse_filter};

#[test]
fn python_requests_style_encoding() {
    // `requests` encodes `$` as %24 and spaces as `+`; a real plus arrives as %2B.
    let q = QueryOptions::parse(
        "%24select=name%2Crevenue&%24filter=name+eq+%27A%2BB%27&%24orderby=revenue+desc&%24top=5&%24count=true",
    )
    .unwrap();
    assert_eq!(
        q.select,
        Some(vec![
            SelectItem::Path(vec!["name".into()]),
            SelectItem::Path(vec!["revenue".into()])
        ])
    );
    assert_eq!(q.filter, Some(parse_filter("name eq 'A+B'").unwrap()));
    assert_eq!(q.orderby.len(), 1);
    assert!(q.orderby[0].descending);
    assert_eq!((q.top, q.count), (Some(5), Some(true)));
    assert_eq!(
        q.to_query_string(),
        "$select=name,revenue&$filter=name%20eq%20'A%2BB'&$orderby=revenue%20desc&$top=5&$count=true"
    );
}

#[test]
fn expand_with_nested_options() {
    let raw = "$expand=Account_Tasks($select=subject;$filter=contains(subject,'Task;)');$orderby=createdon desc;$top=5),primarycontactid($select=fullname)";
    let q = QueryOptions::parse(raw).unwrap();
    assert_eq!(q.expand.len(), 2);
    let tasks = &q.expand[0];
    assert_eq!(tasks.path, "Account_Tasks");
    assert_eq!(
        tasks.options.filter,
        Some(parse_filter("contains(subject,'Task;)')").unwrap())
    );
    assert_eq!(tasks.options.top, Some(5));
    assert_eq!(q.expand[1].path, "primarycontactid");
    assert_eq!(
        q.to_query_string(),
        "$expand=Account_Tasks($select%3Dsubject;$filter%3Dcontains(subject,'Task;)');\
         $orderby%3Dcreatedon%20desc;$top%3D5),primarycontactid($select%3Dfullname)"
    );
    assert_eq!(QueryOptions::parse(&q.to_query_string()).unwrap(), q);
}

#[test]
fn nested_expand_errors_point_into_the_expand_value() {
    let err = QueryOptions::parse("$expand=a($select=x;$filter=b eq)").unwrap_err();
    let QueryError::Invalid { option, error } = err else {
        panic!("{err:?}");
    };
    assert_eq!(option, "$expand");
    assert_eq!(error.input, "a($select=x;$filter=b eq)");
    assert_eq!((error.offset, error.found.as_str()), (24, "end of input"));

    let err = QueryOptions::parse("$expand=a($top=x)").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid $expand: expected a non-negative integer, found 'x' at offset 7")
    );
    let err = QueryOptions::parse("$expand=a($skiptoken=x)").unwrap_err();
    assert!(
        err.to_string().contains("found '$skiptoken' at offset 2"),
        "{err}"
    );
    let err = QueryOptions::parse("$expand=a($top=1;$top=2)").unwrap_err();
    assert!(
        err.to_string().contains("each option at most once"),
        "{err}"
    );
    let err = QueryOptions::parse("$expand=a($top=1").unwrap_err();
    assert!(err.to_string().contains("expected ')'"), "{err}");
    let err = QueryOptions::parse("$expand=a,,b").unwrap_err();
    assert!(
        err.to_string().contains("a navigation property path"),
        "{err}"
    );
}

#[test]
fn aliases_and_custom_options() {
    let q = QueryOptions::parse(
        "$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName=@p1,PropertyValue=@p2)&@p1='modifiedon'&@p2=12&foo=a+b&bar",
    )
    .unwrap();
    assert_eq!(
        q.aliases,
        vec![
            ("p1".into(), parse_filter("'modifiedon'").unwrap()),
            ("p2".into(), parse_filter("12").unwrap()),
        ]
    );
    assert_eq!(
        q.custom,
        vec![("foo".into(), "a b".into()), ("bar".into(), String::new())]
    );
    assert_eq!(
        q.to_query_string(),
        "$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName%3D@p1,PropertyValue%3D@p2)&@p1='modifiedon'&@p2=12&foo=a%20b&bar="
    );
}

#[test]
fn raw_options_are_decoded_once() {
    let cookie = "%253ccookie%2520page%253d%25221%2522%253e";
    let raw =
        format!("$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22{cookie}%22%20/%3E");
    let q = QueryOptions::parse(&raw).unwrap();
    assert_eq!(
        q.skiptoken.as_deref(),
        Some("<cookie pagenumber=\"2\" pagingcookie=\"%3ccookie%20page%3d%221%22%3e\" />")
    );
    assert_eq!(QueryOptions::parse(&q.to_query_string()).unwrap(), q);

    let q = QueryOptions::parse(
        "fetchXml=%3Cfetch%3E%3Centity+name%3D%22account%22%2F%3E%3C%2Ffetch%3E&$apply=groupby((statuscode))&$search=a&$deltatoken=919042%2108%2F22%2F2017",
    )
    .unwrap();
    assert_eq!(
        q.fetch_xml.as_deref(),
        Some("<fetch><entity name=\"account\"/></fetch>")
    );
    assert_eq!(q.apply.as_deref(), Some("groupby((statuscode))"));
    assert_eq!(q.deltatoken.as_deref(), Some("919042!08/22/2017"));
    assert_eq!(QueryOptions::parse(&q.to_query_string()).unwrap(), q);
}

#[test]
fn select_star_and_paths() {
    let q = QueryOptions::parse("$select=*").unwrap();
    assert_eq!(q.select, Some(vec![SelectItem::All]));
    let q = QueryOptions::parse("$select=a/b,_c_value").unwrap();
    assert_eq!(
        q.select,
        Some(vec![
            SelectItem::Path(vec!["a".into(), "b".into()]),
            SelectItem::Path(vec!["_c_value".into()])
        ])
    );
}

#[test]
fn rejections() {
    let cases: &[(&str, QueryError)] = &[
        ("$Select=name", QueryError::UnknownOption("$Select".into())),
        (
            "$top=1&%24top=2",
            QueryError::DuplicateOption("$top".into()),
        ),
        ("@p=1&@p=2", QueryError::DuplicateOption("@p".into())),
        (
            "$top=-1",
            QueryError::InvalidNumber {
                option: "$top".into(),
                value: "-1".into(),
            },
        ),
        (
            "$skip=%2B1",
            QueryError::InvalidNumber {
                option: "$skip".into(),
                value: "+1".into(),
            },
        ),
        (
            "$count=True",
            QueryError::InvalidBool {
                option: "$count".into(),
                value: "True".into(),
            },
        ),
        ("$search=%FF", QueryError::InvalidEncoding("$search".into())),
    ];
    for (raw, expected) in cases {
        assert_eq!(&QueryOptions::parse(raw).unwrap_err(), expected, "{raw}");
    }
    // Valid OData 4.01 options Dataverse does not have are refused as such; a malformed
    // value of one is a syntax error where it goes wrong.
    for raw in [
        "$format=json",
        "$compute=a%20mul%20b%20as%20c",
        "$index=2",
        "$schemaversion=*",
        "$expand=a($levels=max)",
        "$search=blue%20OR%20green&$format=application/json",
    ] {
        let err = QueryOptions::parse(raw).unwrap_err();
        assert!(
            err.to_string().contains("not supported by Dataverse: "),
            "{raw}: {err}"
        );
    }
    for raw in [
        "$format=application",
        "$index=x",
        "$expand=a($levels=0)",
        "$search=a;b",
    ] {
        let err = QueryOptions::parse(raw).unwrap_err();
        assert!(err.to_string().starts_with("invalid "), "{raw}: {err}");
    }
    let err = QueryOptions::parse("$filter=name+eq").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid $filter: expected an expression, found end of input at offset 7\nname eq\n       ^"
    );
}

#[test]
fn empty_and_question_mark() {
    assert!(QueryOptions::parse("").unwrap().is_empty());
    assert!(QueryOptions::parse("?&&").unwrap().is_empty());
    assert_eq!(QueryOptions::default().to_query_string(), "");
    assert_eq!(QueryOptions::parse("?$top=1").unwrap().top, Some(1));
}

#[test]
fn values_with_reserved_characters_survive() {
    let value = Literal::String("100% & +#=é \"x\" [y]".into());
    let q = QueryOptions {
        filter: Some(d365_odata::Expr::new(d365_odata::ExprKind::Literal(value))),
        custom: vec![("a&b=c".into(), "d+e f".into())],
        ..QueryOptions::default()
    };
    let text = q.to_query_string();
    assert_eq!(
        text,
        "$filter='100%25%20%26%20%2B%23%3D%C3%A9%20%22x%22%20%5By%5D'&a%26b%3Dc=d%2Be%20f"
    );
    assert_eq!(QueryOptions::parse(&text).unwrap(), q);
}
