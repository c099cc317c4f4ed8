//! Dataverse's conditions on the clock and the caller through both query languages, over
//! real HTTP: each Web API query function (`Microsoft.Dynamics.CRM.LastXYears(…)`) and its
//! FetchXML operator (`last-x-years`) select the same records, on a date-time column
//! (`account.createdon`) and a date column (`contact.birthdate`).

mod common;

use std::collections::BTreeSet;

use serde_json::Value;

/// (entity set, key, column, Web API function, FetchXML operator, argument).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const PAIRS: &[Case] = &[
    ("accounts", "accountid", "createdon", "Today", "today", None),
    (
        "accounts",
        "accountid",
        "createdon",
        "ThisYear",
        "this-year",
        None,
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "LastYear",
        "last-year",
        None,
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "ThisMonth",
        "this-month",
        None,
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "Last7Days",
        "last-seven-days",
        None,
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "LastXYears",
        "last-x-years",
        Some("3"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "LastXMonths",
        "last-x-months",
        Some("18"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "LastXDays",
        "last-x-days",
        Some("400"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "LastXHours",
        "last-x-hours",
        Some("9000"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "OlderThanXYears",
        "olderthan-x-years",
        Some("2"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "OlderThanXMonths",
        "olderthan-x-months",
        Some("10"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "OlderThanXDays",
        "olderthan-x-days",
        Some("500"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "NextXYears",
        "next-x-years",
        Some("1"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "OnOrAfter",
        "on-or-after",
        Some("2021-06-01"),
    ),
    (
        "accounts",
        "accountid",
        "createdon",
        "OnOrBefore",
        "on-or-before",
        Some("2021-06-01"),
    ),
    (
        "accounts",
        "accountid",
        "ownerid",
        "EqualUserId",
        "eq-userid",
        None,
    ),
    (
        "accounts",
        "accountid",
        "ownerid",
        "NotEqualUserId",
        "ne-userid",
        None,
    ),
    (
        "contacts",
        "contactid",
        "birthdate",
        "OlderThanXYears",
        "olderthan-x-years",
        Some("40"),
    ),
    (
        "contacts",
        "contactid",
        "birthdate",
        "LastXYears",
        "last-x-years",
        Some("60"),
    ),
    (
        "contacts",
        "contactid",
        "birthdate",
        "OnOrAfter",
        "on-or-after",
        Some("1970-01-01"),
    ),
    (
        "contacts",
        "contactid",
        "birthdate",
        "OnOrBefore",
        "on-or-before",
        Some("1970-01-01"),
    ),
];

async fn get(s: &common::Session, query: String) -> Value {
    let r = s
        .http
        .get(format!("{}/api/data/v9.2/{query}", s.info.environment_url))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ids(body: &Value, key: &str) -> BTreeSet<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_query_function_and_its_fetchxml_operator_select_the_same_records() {
    let s = common::session(d365_testkit::test_config(150)).await;
    let all_accounts = ids(
        &get(&s, "accounts?$select=accountid".into()).await,
        "accountid",
    );
    let mut sizes = BTreeSet::new();
    for (set, key, column, function, operator, argument) in PAIRS {
        let table = set.trim_end_matches('s');
        let call = match argument {
            Some(a) if a.contains('-') => {
                format!("PropertyName='{column}',PropertyValue='{a}'")
            }
            Some(a) => format!("PropertyName='{column}',PropertyValue={a}"),
            None => format!("PropertyName='{column}'"),
        };
        let odata = ids(
            &get(
                &s,
                format!("{set}?$select={key}&$filter=Microsoft.Dynamics.CRM.{function}({call})"),
            )
            .await,
            key,
        );
        let value = argument.map_or(String::new(), |a| format!(" value='{a}'"));
        let xml = format!(
            "<fetch><entity name='{table}'><attribute name='{key}'/><filter><condition attribute='{column}' operator='{operator}'{value}/></filter></entity></fetch>"
        );
        let fetch_xml = ids(
            &get(&s, format!("{set}?fetchXml={}", urlencode(&xml))).await,
            key,
        );
        assert_eq!(odata, fetch_xml, "{function} / {operator} {argument:?}");
        if *set == "accounts" {
            sizes.insert(odata.len());
        }
    }
    // The pairs cut the accounts in different places, so a planner that ignored the
    // condition (or the clock) in both languages alike would not pass unnoticed.
    assert!(sizes.contains(&0), "{sizes:?}");
    assert!(sizes.contains(&all_accounts.len()), "{sizes:?}");
    assert!(
        sizes
            .iter()
            .filter(|n| **n > 0 && **n < all_accounts.len())
            .count()
            >= 3,
        "{sizes:?}"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
