//! Tests of the typed binder and the Dataverse rules.

use super::*;
use crate::bind::{bind_orderby, bind_select};
use crate::model::NavigationProperty;
use crate::prefer::Prefer;
use crate::query::QueryOptions;
use crate::{parse_filter, parse_orderby};

fn model() -> Model {
    let account = EntityType {
        name: "account".into(),
        entity_set: "accounts".into(),
        key: "accountid".into(),
        primary_name: Some("name".into()),
        properties: vec![
            Property::new("accountid", EdmType::Guid),
            Property::new("name", EdmType::String),
            Property::new("revenue", EdmType::Decimal).scale(4),
            Property::new("numberofemployees", EdmType::Int32),
            Property::new("createdon", EdmType::DateTimeOffset),
            Property::new("_ownerid_value", EdmType::Guid),
            Property::new("_primarycontactid_value", EdmType::Guid).lookup(&["contact"]),
        ],
        navigation: vec![
            NavigationProperty {
                name: "primarycontactid".into(),
                target: "contact".into(),
                collection: false,
                partner: None,
                foreign_key: "_primarycontactid_value".into(),
            },
            NavigationProperty {
                name: "Account_Tasks".into(),
                target: "task".into(),
                collection: true,
                partner: None,
                foreign_key: "_regardingobjectid_value".into(),
            },
        ],
        alternate_keys: vec![],
    };
    let contact = EntityType {
        name: "contact".into(),
        entity_set: "contacts".into(),
        key: "contactid".into(),
        primary_name: Some("fullname".into()),
        properties: vec![
            Property::new("contactid", EdmType::Guid),
            Property::new("fullname", EdmType::String),
        ],
        navigation: vec![],
        alternate_keys: vec![],
    };
    let task = EntityType {
        name: "task".into(),
        entity_set: "tasks".into(),
        key: "activityid".into(),
        primary_name: Some("subject".into()),
        properties: vec![
            Property::new("subject", EdmType::String),
            Property::new("statecode", EdmType::Int32),
        ],
        navigation: vec![],
        alternate_keys: vec![],
    };
    Model::new(vec![account, contact, task])
}

fn bind(text: &str) -> Result<TypedExpr, BindError> {
    let m = model();
    let e = m.entity_type("account").unwrap().clone();
    let aliases = vec![
        ("p1".to_owned(), parse_filter("'createdon'").unwrap()),
        ("p2".to_owned(), parse_filter("12").unwrap()),
    ];
    bind_typed_filter(&m, &e, &parse_filter(text).unwrap(), &aliases)
}

#[test]
fn the_whole_language_types() {
    for ok in [
        "revenue add 10 gt numberofemployees mul 2",
        "revenue divby 3 lt 1.5 and numberofemployees mod 2 eq 0",
        "-revenue lt 0",
        "primarycontactid/fullname eq 'X'",
        "Account_Tasks/any(t:t/statecode eq 1 and contains(t/subject,'x'))",
        "Account_Tasks/all(t:t/statecode eq 1)",
        "Account_Tasks/any()",
        "length(name) gt 3 and indexof(name,'a') ge 0",
        "substring(name,1,2) eq 'ab' and tolower(toupper(trim(name))) eq concat('a','b')",
        "year(createdon) eq 2024 and month(createdon) eq 1 and day(createdon) eq 2",
        "hour(createdon) eq 1 and minute(createdon) eq 2 and second(createdon) eq 3",
        "date(createdon) eq 2024-01-01 and time(createdon) lt 12:00 and createdon lt now()",
        "round(revenue) eq 1 and floor(revenue) eq 1 and ceiling(revenue) eq 2",
        "cast(numberofemployees,Edm.Decimal) gt 1.5 and isof(Microsoft.Dynamics.CRM.account)",
        "numberofemployees in (1,2,3) and name in ('a','b')",
        "accountid eq '3f2504e0-4f89-11d3-9a0c-0305e82c3301'",
        "Microsoft.Dynamics.CRM.LastXHours(PropertyName=@p1,PropertyValue=@p2)",
        "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
        "Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-01-31')",
        "Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\",\"2000\"])",
        "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"OBrian\",\"O'Brian\"])",
        "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='_ownerid_value')",
        "Microsoft.Dynamics.CRM.Under(PropertyName='accountid',PropertyValue='3f2504e0-4f89-11d3-9a0c-0305e82c3301')",
        "Microsoft.Dynamics.CRM.ContainValues(PropertyName='numberofemployees',PropertyValues=[\"1\",\"2\"])",
    ] {
        let bound = bind(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(bound.ty, bool_ty(), "{ok}");
    }
}

#[test]
fn errors_name_the_property_type_and_entity() {
    let err =
        bind("Microsoft.Dynamics.CRM.LastXDays(PropertyName='name',PropertyValue=3)").unwrap_err();
    assert_eq!(
        err.to_string(),
        "The property 'name' of type 'Edm.String' on 'Microsoft.Dynamics.CRM.account' cannot be used with 'LastXDays', which needs a date or date-time column."
    );
    let err = bind("length(revenue) gt 1").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "The property 'revenue' of type 'Edm.Decimal' on 'Microsoft.Dynamics.CRM.account'"
        ),
        "{err}"
    );
    assert!(matches!(
        bind("name add 1 eq 2"),
        Err(BindError::IncompatibleTypes { .. })
    ));
    assert!(
        matches!(bind("primarycontactid/nope eq 1"), Err(BindError::UnknownProperty { entity, .. }) if entity == "contact")
    );
    assert!(matches!(
        bind("frob(name)"),
        Err(BindError::UnknownFunction(_))
    ));
    assert!(matches!(
        bind("Account_Tasks/subject eq 'x'"),
        Err(BindError::InvalidArgument(_))
    ));
    assert!(matches!(
        bind("primarycontactid/any(c:true)"),
        Err(BindError::InvalidArgument(_))
    ));
    assert!(matches!(
        bind("length(name)"),
        Err(BindError::InvalidArgument(_))
    ));
    assert_eq!(
        bind("not Microsoft.Dynamics.CRM.Yesterday(PropertyName='createdon')").unwrap_err(),
        BindError::NotWithQueryFunction
    );
    assert!(bind("Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\"])").is_err());
    assert!(
        bind("Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=[\"x\"])")
            .is_err()
    );
}

#[test]
fn dataverse_rules() {
    let q = QueryOptions::parse(
            "$expand=a($expand=b($top=1)),c($skip=1)&$count=true&$search=x&$filter=Microsoft.Dynamics.CRM.Foo(PropertyName='a')",
        )
        .unwrap();
    let v = validate_dataverse(&q, &Prefer::parse(["odata.maxpagesize=6000"]));
    let codes: Vec<&str> = v.errors.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            "search-unsupported",
            "maxpagesize-too-large",
            "function-unsupported",
            "expand-nested-top-orderby",
            "expand-option-unsupported"
        ]
    );
    assert_eq!(v.warnings[0].code, "count-capped");
    let many: Vec<String> = (0..16).map(|i| format!("n{i}")).collect();
    let q = QueryOptions::parse(&format!("$expand={}", many.join(","))).unwrap();
    assert_eq!(
        validate_dataverse(&q, &Prefer::default()).errors[0].code,
        "too-many-expands"
    );
}

#[test]
fn review_regressions_guid_text_and_has() {
    assert!(bind("accountid eq '3f2504e0-4f89-11d3-9a0c-0305e82c3301'").is_ok());
    assert!(
        bind("accountid eq 'abc'").is_err(),
        "a quoted non-GUID is not a GUID"
    );
    assert!(
        bind("name has Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'").is_err(),
        "has needs the same enum on the left"
    );
}

/// Binds `text` with the query string's aliases (`@name=value` pairs, values parsed).
fn bind_with(text: &str, aliases: &[(&str, &str)]) -> Result<TypedExpr, BindError> {
    let m = model();
    let e = m.entity_type("account").unwrap().clone();
    let aliases: Vec<_> = aliases
        .iter()
        .map(|(n, v)| ((*n).to_owned(), parse_filter(v).unwrap()))
        .collect();
    bind_typed_filter(&m, &e, &parse_filter(text).unwrap(), &aliases)
}

#[test]
fn aliases_that_use_themselves_are_a_loop_not_a_stack_overflow() {
    for aliases in [
        vec![("p1", "not @p1")],
        vec![("p1", "name eq 'x' or @p1")],
        vec![("p1", "@p2 and name eq 'x'"), ("p2", "not @p1")],
    ] {
        let e = bind_with("@p1", &aliases).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Parameter aliases refer to each other in a loop."
        );
    }
    // The same alias twice side by side is no loop.
    bind_with("@p1 or @p1", &[("p1", "name eq 'x'")]).unwrap();
}

#[test]
fn aliases_that_double_at_each_step_hit_the_node_budget() {
    // 40 aliases each using the next twice: 2^40 nodes if expanded without a budget.
    let mut aliases: Vec<(String, String)> = (1..40)
        .map(|i| (format!("a{i}"), format!("@a{n} or @a{n}", n = i + 1)))
        .collect();
    aliases.push(("a40".into(), "name eq 'x'".into()));
    let pairs: Vec<(&str, &str)> = aliases
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let e = bind_with("@a1", &pairs).unwrap_err();
    assert!(matches!(e, BindError::TooComplex(_)), "{e}");
    assert!(e.to_string().contains("10000 nodes"), "{e}");
}

#[test]
fn aliases_nested_past_the_depth_budget_are_refused() {
    // Each alias adds one level; 150 of them nest deeper than the parser alone allows.
    let mut aliases: Vec<(String, String)> = (1..150)
        .map(|i| (format!("a{i}"), format!("not @a{}", i + 1)))
        .collect();
    aliases.push(("a150".into(), "name eq 'x'".into()));
    let pairs: Vec<(&str, &str)> = aliases
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let e = bind_with("@a1", &pairs).unwrap_err();
    assert!(e.to_string().contains("more than 100 levels"), "{e}");
}

/// Cases the removed subset binder (`bind_filter`) checked, kept against the live binder.
#[test]
fn cases_from_the_subset_binder() {
    for ok in [
        "name eq 'x' and revenue gt 1000",
        "revenue ge 10.5 or numberofemployees lt 3",
        "createdon gt 2024-01-01T00:00:00Z",
        "createdon gt 2024-01-01",
        "not contains(name,'x')",
        "name eq null",
        // An unassigned alias is null, as OData defines it.
        "name eq @p9",
        "revenue gt -(-0.5)",
        "Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=[\"A\",\"B\"])",
        "Microsoft.Dynamics.CRM.Between(PropertyName='createdon',PropertyValues=[\"2024-01-01\",\"2024-12-31T00:00:00Z\"])",
    ] {
        bind(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    assert_eq!(
        bind("name eq 1").unwrap_err().to_string(),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'Equal'."
    );
    assert_eq!(
        bind("Name eq 'x'").unwrap_err().to_string(),
        "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."
    );
    for bad in [
        "contains(revenue,'1')",
        "revenue gt null",
        "Microsoft.Dynamics.CRM.In(PropertyName='nosuch',PropertyValues=[\"1\"])",
        "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[])",
        "Microsoft.Dynamics.CRM.In(PropertyValues=[\"1\"])",
    ] {
        assert!(bind(bad).is_err(), "{bad}");
    }
}

/// `bind_orderby` and `bind_select` (in `bind.rs`), over the same model.
#[test]
fn orderby_and_select() {
    let m = model();
    let account = m.entity_type("account").unwrap().clone();
    let o = bind_orderby(&account, &parse_orderby("revenue desc,name").unwrap()).unwrap();
    assert_eq!(o.len(), 2);
    assert!(o[0].descending && !o[1].descending);
    assert!(bind_orderby(&account, &parse_orderby("nope").unwrap()).is_err());
    assert_eq!(
        bind_select(&account, &["name", "revenue"]).unwrap().len(),
        2
    );
    assert!(bind_select(&account, &["Name"]).is_err());
}
