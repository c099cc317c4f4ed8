//! `$apply` aggregation over HTTP, checked against sums computed from the rows themselves.

mod common;

use d365_testkit::{start, test_config};
use serde_json::Value;

#[tokio::test]
async fn groupby_and_aggregate() {
    let emulator = start(test_config(30)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let get = |path: &str, prefer: Option<&str>| {
        let mut r = http
            .get(format!("{}/api/data/v9.2/{path}", info.environment_url))
            .bearer_auth(&token);
        if let Some(p) = prefer {
            r = r.header("Prefer", p);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (_, all) = get(
        "accounts?$select=statecode,industrycode,revenue,numberofemployees",
        None,
    )
    .await;
    let rows = all["value"].as_array().unwrap();

    let (status, by_state) = get(
        "accounts?$apply=groupby((statecode),aggregate($count as count))",
        None,
    )
    .await;
    assert_eq!(status, 200, "{by_state}");
    assert!(
        by_state["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#accounts(statecode,count)")
    );
    for group in by_state["value"].as_array().unwrap() {
        let expected = rows
            .iter()
            .filter(|r| r["statecode"] == group["statecode"])
            .count();
        assert_eq!(group["count"], expected, "{group}");
    }

    let (status, totals) = get(
        "accounts?$apply=aggregate(revenue with sum as total,revenue with average as mean,numberofemployees with max as most,industrycode with countdistinct as industries,$count as n)",
        None,
    )
    .await;
    assert_eq!(status, 200, "{totals}");
    let t = &totals["value"][0];
    let revenues: Vec<f64> = rows
        .iter()
        .map(|r| r["revenue"].as_f64().unwrap())
        .collect();
    let sum: f64 = revenues.iter().sum();
    assert!((t["total"].as_f64().unwrap() - sum).abs() < 0.01, "{t}");
    assert!(
        (t["mean"].as_f64().unwrap() - sum / 30.0).abs() < 0.01,
        "{t}"
    );
    assert_eq!(
        t["most"],
        rows.iter()
            .map(|r| r["numberofemployees"].as_i64().unwrap())
            .max()
            .unwrap()
    );
    let mut industries: Vec<i64> = rows
        .iter()
        .map(|r| r["industrycode"].as_i64().unwrap())
        .collect();
    industries.sort_unstable();
    industries.dedup();
    assert_eq!(t["industries"], industries.len());
    assert_eq!(t["n"], 30);

    // filter() steps and $filter both narrow the input; labels on request.
    let (status, active) = get(
        "accounts?$filter=numberofemployees gt 1000&$apply=filter(statecode eq 0)/groupby((industrycode),aggregate($count as n))",
        Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""),
    )
    .await;
    assert_eq!(status, 200, "{active}");
    let groups = active["value"].as_array().unwrap();
    let total: i64 = groups.iter().map(|g| g["n"].as_i64().unwrap()).sum();
    let expected = rows
        .iter()
        .filter(|r| r["statecode"] == 0 && r["numberofemployees"].as_i64().unwrap() > 1000)
        .count();
    assert_eq!(total as usize, expected);
    assert!(
        groups
            .iter()
            .all(|g| g["industrycode@OData.Community.Display.V1.FormattedValue"].is_string())
    );

    for bad in [
        "groupby((primarycontactid/fullname))",
        "groupby((nosuch))",
        "aggregate(revenue with median as m)",
        "groupby((statecode))/filter(statecode eq 0)",
    ] {
        let (status, body) = get(&format!("accounts?$apply={bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "0x80060888", "{bad}");
    }
}
