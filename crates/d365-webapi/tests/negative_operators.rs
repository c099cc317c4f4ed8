//! "Not equal" and the other negative operators match rows whose column is null in every query
//! language, as Dataverse's do (`(col <> @v OR col IS NULL)`): `$filter` `ne`, FetchXML
//! `ne`/`neq` and QueryExpression `NotEqual` agree, so `d365 bulk-delete --dry-run` (a `$filter`
//! count) counts exactly what the BulkDelete job (a QueryExpression) then deletes.

mod common;

use std::time::Duration;

use common::builder;
use d365_testkit::{start, test_config};
use d365_webapi::{Client, QueryExpression};
use futures_util::TryStreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Nine accounts per prefix: `telephone1` null, 'a' or 'b' crossed with `numberofemployees`
/// null, 1 or 2.
async fn load(c: &Client, prefix: &str) {
    let phones = [Value::Null, json!("a"), json!("b")];
    let sizes = [Value::Null, json!(1), json!(2)];
    let mut records = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        for (j, size) in sizes.iter().enumerate() {
            records.push(json!({
                "name": format!("{prefix}{i}{j}"),
                "telephone1": phone,
                "numberofemployees": size,
            }));
        }
    }
    c.create_multiple("accounts", "account", records)
        .send()
        .await
        .unwrap();
}

async fn odata_count(c: &Client, filter: &str) -> u64 {
    let parsed = d365_odata::Filter::from_expr(d365_odata::parse_filter(filter).unwrap());
    c.count("accounts").filter(&parsed).send().await.unwrap()
}

async fn fetch_count(c: &Client, prefix: &str, condition: &str) -> usize {
    let xml = format!(
        r#"<fetch><entity name="account"><attribute name="accountid"/><filter>
           <condition attribute="name" operator="like" value="{prefix}%"/>{condition}
           </filter></entity></fetch>"#
    );
    let rows: Vec<Value> = c
        .fetch_xml("accounts", &xml)
        .into_stream(None)
        .try_collect()
        .await
        .unwrap();
    rows.len()
}

#[tokio::test]
async fn ne_matches_nulls_in_odata_fetchxml_and_query_expression() {
    let emulator = start(test_config(0)).await;
    let c = builder(&emulator.info()).build().unwrap();
    load(&c, "ne-").await;
    let scoped = |f: &str| format!("startswith(name,'ne-') and ({f})");
    // Null and 'b' rows: six of nine.
    assert_eq!(odata_count(&c, &scoped("telephone1 ne 'a'")).await, 6);
    for op in ["ne", "neq"] {
        let cond = format!(r#"<condition attribute="telephone1" operator="{op}" value="a"/>"#);
        assert_eq!(fetch_count(&c, "ne-", &cond).await, 6, "FetchXML {op}");
    }
    // The other negative operators match nulls too; the positive ones and the orderings don't.
    let cases = [
        (
            r#"<condition attribute="telephone1" operator="not-like" value="a%"/>"#,
            6,
        ),
        (
            r#"<condition attribute="telephone1" operator="not-begin-with" value="a"/>"#,
            6,
        ),
        (
            r#"<condition attribute="telephone1" operator="not-end-with" value="a"/>"#,
            6,
        ),
        (
            r#"<condition attribute="numberofemployees" operator="not-in"><value>1</value></condition>"#,
            6,
        ),
        (
            r#"<condition attribute="numberofemployees" operator="not-between"><value>1</value><value>1</value></condition>"#,
            6,
        ),
        (
            r#"<condition attribute="numberofemployees" operator="in"><value>1</value></condition>"#,
            3,
        ),
        (
            r#"<condition attribute="numberofemployees" operator="gt" value="1"/>"#,
            3,
        ),
        (
            r#"<condition attribute="numberofemployees" operator="lt" value="2"/>"#,
            3,
        ),
    ];
    for (cond, expected) in cases {
        assert_eq!(fetch_count(&c, "ne-", cond).await, expected, "{cond}");
    }
    assert_eq!(
        odata_count(&c, &scoped("not contains(telephone1,'a')")).await,
        6
    );
    assert_eq!(
        odata_count(
            &c,
            &scoped("Microsoft.Dynamics.CRM.NotIn(PropertyName='numberofemployees',PropertyValues=['1'])")
        )
        .await,
        6
    );

    // QueryExpression NotEqual, through the BulkDelete job the CLI's --dry-run counts for.
    let filter = scoped("telephone1 ne 'a'");
    let job = c
        .bulk_delete(
            "ne",
            vec![QueryExpression::from_filter("account", &filter).unwrap()],
        )
        .send()
        .await
        .unwrap();
    let done = c.wait_for_job(job, Duration::from_secs(30)).await.unwrap();
    assert_eq!(done.deleted, Some(6), "{done:?}");
    assert_eq!(odata_count(&c, "startswith(name,'ne-')").await, 3);
}

/// One comparison of the `$filter` subset QueryExpression can say, on a column holding nulls.
fn atom() -> impl Strategy<Value = String> {
    let phone = prop_oneof![Just("'a'"), Just("'b'"), Just("null")];
    let size = prop_oneof![Just("1"), Just("2"), Just("null")];
    let ops = prop_oneof![Just("eq"), Just("ne"), Just("gt"), Just("lt")];
    prop_oneof![
        (prop_oneof![Just("eq"), Just("ne")], phone)
            .prop_map(|(op, v)| format!("telephone1 {op} {v}")),
        (ops, size).prop_filter_map("ordering with null", |(op, v)| {
            (v != "null" || op == "eq" || op == "ne").then(|| format!("numberofemployees {op} {v}"))
        }),
        prop_oneof![Just("a"), Just("b")].prop_map(|v| format!("not contains(telephone1,'{v}')")),
        prop_oneof![Just("a"), Just("b")].prop_map(|v| format!("startswith(telephone1,'{v}')")),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    atom().prop_recursive(2, 6, 3, |inner| {
        (inner.clone(), prop_oneof![Just("and"), Just("or")], inner)
            .prop_map(|(l, op, r)| format!("({l}) {op} ({r})"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// What the dry run counts is what the job deletes, for any translatable filter.
    #[test]
    fn the_dry_run_count_is_what_the_job_deletes(filters in proptest::collection::vec(filter(), 1..4)) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let emulator = start(test_config(0)).await;
            let c = builder(&emulator.info()).build().unwrap();
            for (i, f) in filters.iter().enumerate() {
                let prefix = format!("p{i}-");
                load(&c, &prefix).await;
                let scoped = format!("startswith(name,'{prefix}') and ({f})");
                let counted = odata_count(&c, &scoped).await;
                let query = QueryExpression::from_filter("account", &scoped).unwrap();
                let job = c.bulk_delete("prop", vec![query]).send().await.unwrap();
                let done = c.wait_for_job(job, Duration::from_secs(30)).await.unwrap();
                assert_eq!(done.deleted, Some(counted), "{scoped}");
                let left = odata_count(&c, &format!("startswith(name,'{prefix}')")).await;
                assert_eq!(left, 9 - counted, "{scoped}");
            }
        });
    }
}
