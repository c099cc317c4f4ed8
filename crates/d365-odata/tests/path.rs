//! Resource path parsing.

use d365_odata::{Arg, KeyPredicate, Literal, ResourcePath, Segment, parse_resource_path};
use uuid::Uuid;

fn named(name: &str, key: Option<KeyPredicate>, call_args: Option<Vec<Arg>>) -> Segment {
    Segment::Named {
        name: name.into(),
        key,
        call_args,
    }
}

fn segments(path: &str) -> Vec<Segment> {
    parse_resource_path(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .segments
}

#[test]
fn entity_by_guid_and_navigation() {
    let id = Uuid::from_u128(1);
    assert_eq!(
        segments("accounts(00000000-0000-0000-0000-000000000001)/primarycontactid/$ref"),
        vec![
            named(
                "accounts",
                Some(KeyPredicate::Single(Literal::Guid(id))),
                None
            ),
            named("primarycontactid", None, None),
            Segment::Ref,
        ]
    );
}

#[test]
fn alternate_and_metadata_keys() {
    assert_eq!(
        segments("contacts(firstname='Joe',emailaddress1='abc%40example.com')"),
        vec![named(
            "contacts",
            Some(KeyPredicate::Named(vec![
                ("firstname".into(), Literal::String("Joe".into())),
                (
                    "emailaddress1".into(),
                    Literal::String("abc@example.com".into())
                ),
            ])),
            None
        )]
    );
    assert_eq!(
        segments("EntityDefinitions(LogicalName='account')/Attributes"),
        vec![
            named(
                "EntityDefinitions",
                Some(KeyPredicate::Named(vec![(
                    "LogicalName".into(),
                    Literal::String("account".into())
                )])),
                None
            ),
            named("Attributes", None, None),
        ]
    );
}

#[test]
fn functions() {
    assert_eq!(
        segments("WhoAmI()"),
        vec![named("WhoAmI", None, Some(vec![]))]
    );
    assert_eq!(segments("WhoAmI"), vec![named("WhoAmI", None, None)]);
    assert_eq!(
        segments("RetrieveVersion()"),
        vec![named("RetrieveVersion", None, Some(vec![]))]
    );
    assert_eq!(
        segments(
            "systemusers(00000000-0000-0000-0000-000000000001)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges"
        ),
        vec![
            named(
                "systemusers",
                Some(KeyPredicate::Single(Literal::Guid(Uuid::from_u128(1)))),
                None
            ),
            named("Microsoft.Dynamics.CRM.RetrieveUserPrivileges", None, None),
        ]
    );
    let Segment::Named { call_args, key, .. } =
        &segments("GetTimeZoneCodeByLocalizedName(LocalizedStandardName=@p1,LocaleId=@p2)")[0]
    else {
        panic!()
    };
    assert_eq!(key, &None);
    assert_eq!(call_args.as_ref().map(Vec::len), Some(2));
    let Segment::Named { call_args, .. } = &segments("Microsoft.Dynamics.CRM.Fn(A=1)")[0] else {
        panic!()
    };
    assert!(call_args.is_some());
}

#[test]
fn special_segments_and_slashes() {
    assert_eq!(segments(""), vec![]);
    assert_eq!(segments("/"), vec![]);
    assert_eq!(segments("$metadata"), vec![Segment::Metadata]);
    assert_eq!(segments("$batch"), vec![Segment::Batch]);
    assert_eq!(
        segments("/accounts/$count/"),
        vec![named("accounts", None, None), Segment::Count]
    );
    assert_eq!(
        segments("accounts(1)/name/$value"),
        vec![
            named(
                "accounts",
                Some(KeyPredicate::Single(Literal::Int(1))),
                None
            ),
            named("name", None, None),
            Segment::Value,
        ]
    );
}

#[test]
fn percent_decoding_keeps_plus_and_encoded_slash() {
    assert_eq!(
        segments("contacts(emailaddress1='a+b%2Fc%20d')"),
        vec![named(
            "contacts",
            Some(KeyPredicate::Named(vec![(
                "emailaddress1".into(),
                Literal::String("a+b/c d".into())
            )])),
            None
        )]
    );
}

#[test]
fn errors() {
    let err = parse_resource_path("accounts//x").unwrap_err();
    assert_eq!((err.offset, err.expected.as_str()), (9, "a path segment"));
    let err = parse_resource_path("accounts/$bogus").unwrap_err();
    assert_eq!((err.offset, err.found.as_str()), (9, "'$bogus'"));
    let err = parse_resource_path("accounts(1)x").unwrap_err();
    assert_eq!((err.offset, err.input.as_str()), (11, "accounts(1)x"));
    let err = parse_resource_path("a/contacts(x='unterminated)").unwrap_err();
    assert_eq!(err.found, "end of input");
    let err = parse_resource_path("a%FF").unwrap_err();
    assert_eq!(err.expected, "a UTF-8 path segment");
}

#[test]
fn display_round_trips() {
    for raw in [
        "accounts(00000000-0000-0000-0000-000000000001)/primarycontactid/$ref",
        "contacts(firstname='Jo%20e',emailaddress1='a+b%2Fc')",
        "WhoAmI()",
        "Microsoft.Dynamics.CRM.Fn(A=@p1,B=%5B%22x%22%5D)",
        "$metadata",
    ] {
        let path: ResourcePath = parse_resource_path(raw).unwrap();
        assert_eq!(path.to_string(), raw);
        assert_eq!(parse_resource_path(&path.to_string()).unwrap(), path);
    }
}
