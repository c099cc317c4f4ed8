//! The whole `$filter` language against the emulator: lambdas over collection-valued
//! navigation properties, paths through single-valued ones, canonical functions, arithmetic,
//! `in`, and Dataverse's query functions, each checked against an answer computed another way.

mod common;

use d365_testkit::{start, test_config};
use serde_json::{Value, json};

#[tokio::test]
async fn the_whole_filter_language() {
    let emulator = start(test_config(12)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let get = |path: String| {
        let (http, token, info) = (&http, &token, &info);
        async move {
            let r = common::api_get(http, info, token, &path).await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let ids = |v: &Value, key: &str| -> Vec<String> {
        let mut ids: Vec<String> = v["value"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|r| r[key].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let accounts = |filter: &str| {
        let path = format!("accounts?$select=name&$filter={filter}");
        let filter = filter.to_owned();
        let get = &get;
        async move {
            let (status, body) = get(path).await;
            assert_eq!(status, 200, "{filter}: {body}");
            ids(&body, "accountid")
        }
    };
    let (_, all) = get("accounts?$select=name,revenue,numberofemployees,createdon,accountnumber,_primarycontactid_value".into()).await;
    let rows = all["value"].as_array().unwrap().clone();
    let where_ = |f: &dyn Fn(&Value) -> bool| -> Vec<String> {
        let mut v: Vec<String> = rows
            .iter()
            .filter(|r| f(r))
            .map(|r| r["accountid"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };

    // any(): accounts with a contact of a given last name.
    let (_, contacts) = get("contacts?$select=lastname,_parentcustomerid_value".into()).await;
    let contact = &contacts["value"][0];
    let lastname = contact["lastname"].as_str().unwrap().replace('\'', "''");
    let mut expected: Vec<String> = contacts["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["lastname"] == contact["lastname"])
        .map(|c| c["_parentcustomerid_value"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(
        accounts(&format!(
            "contact_customer_accounts/any(c:c/lastname eq '{lastname}')"
        ))
        .await,
        expected
    );
    assert_eq!(accounts("contact_customer_accounts/any()").await.len(), 12);

    // all(): every seeded contact is active; one account gets an inactive contact.
    assert_eq!(
        accounts("contact_customer_accounts/all(c:c/statecode eq 0)")
            .await
            .len(),
        12
    );
    let first = rows[0]["accountid"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{}/api/data/v9.2/contacts", info.environment_url))
        .bearer_auth(&token)
        .json(&json!({"lastname": "Gone", "statecode": 1, "statuscode": 2,
                      "parentcustomerid_account@odata.bind": format!("/accounts({first})")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let active_only = accounts("contact_customer_accounts/all(c:c/statecode eq 0)").await;
    assert_eq!(active_only.len(), 11);
    assert!(!active_only.contains(&first));

    // Paths through single-valued navigation properties.
    let (_, pc) = get(format!(
        "contacts({})?$select=lastname",
        rows[1]["_primarycontactid_value"].as_str().unwrap()
    ))
    .await;
    let pc_last = pc["lastname"].as_str().unwrap().replace('\'', "''");
    let by_primary = accounts(&format!("primarycontactid/lastname eq '{pc_last}'")).await;
    assert!(by_primary.contains(&rows[1]["accountid"].as_str().unwrap().to_owned()));
    let name = rows[2]["name"].as_str().unwrap().replace('\'', "''");
    let (status, theirs) = get(format!(
        "contacts?$select=lastname&$filter=parentcustomerid_account/name eq '{name}'"
    ))
    .await;
    assert_eq!(status, 200, "{theirs}");
    assert!(theirs["value"].as_array().unwrap().len() >= 2);
    assert_eq!(accounts("primarycontactid eq null").await.len(), 0);

    // Functions and arithmetic, against the same rule applied here.
    let n = |r: &Value, k: &str| r[k].as_f64().unwrap_or(0.0);
    assert_eq!(
        accounts("numberofemployees add 100 gt 20000").await,
        where_(&|r| n(r, "numberofemployees") + 100.0 > 20000.0)
    );
    assert_eq!(
        accounts("revenue gt 100000000").await,
        where_(&|r| n(r, "revenue") > 1e8)
    );
    assert_eq!(
        accounts("revenue div 2 gt 50000000").await,
        where_(&|r| n(r, "revenue") / 2.0 > 5e7)
    );
    assert_eq!(
        accounts("numberofemployees mod 2 eq 0").await,
        where_(&|r| (n(r, "numberofemployees") as i64) % 2 == 0)
    );
    assert_eq!(
        accounts("year(createdon) le 2022").await,
        where_(&|r| r["createdon"].as_str().unwrap()[..4] <= *"2022")
    );
    assert_eq!(
        accounts("length(accountnumber) eq 10 and endswith(accountnumber,'1')").await,
        where_(&|r| r["accountnumber"].as_str().unwrap().ends_with('1'))
    );
    let lower = rows[3]["name"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('\'', "''");
    assert_eq!(
        accounts(&format!("tolower(name) eq '{lower}'")).await.len(),
        1
    );
    assert_eq!(
        accounts("accountnumber in ('ACC-000001','ACC-000002','NOPE')")
            .await
            .len(),
        2
    );
    let id = rows[4]["accountid"].as_str().unwrap();
    assert_eq!(
        accounts(&format!("accountid eq '{id}'")).await,
        [id],
        "a quoted GUID"
    );
    assert_eq!(
        accounts("substring(accountnumber,4,3) eq '000'")
            .await
            .len(),
        12
    );
    assert_eq!(
        accounts("not (numberofemployees lt 1000)").await,
        where_(&|r| n(r, "numberofemployees") >= 1000.0)
    );

    // Dataverse query functions: today's account, created by the caller (the app).
    let r = http
        .post(format!("{}/api/data/v9.2/accounts", info.environment_url))
        .bearer_auth(&token)
        .json(&json!({"name": "Fresh Today"}))
        .send()
        .await
        .unwrap();
    let fresh_url = r.headers()["odata-entityid"].to_str().unwrap().to_owned();
    let fresh = fresh_url[fresh_url.rfind('(').unwrap() + 1..fresh_url.len() - 1].to_owned();
    for f in [
        "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=1)",
        "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
        "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')",
        "Microsoft.Dynamics.CRM.ThisYear(PropertyName='createdon') and Microsoft.Dynamics.CRM.ThisMonth(PropertyName='modifiedon')",
    ] {
        assert_eq!(accounts(f).await, std::slice::from_ref(&fresh), "{f}");
    }
    assert_eq!(
        accounts("Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=1)")
            .await
            .len(),
        12
    );
    assert_eq!(
        accounts("Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"0\",\"10000\"])").await,
        where_(&|r| n(r, "numberofemployees") <= 10000.0)
    );

    // Open-ended ranges on a date (not date-time) column.
    let (_, all_contacts) = get("contacts/$count?$filter=birthdate ne null".into()).await;
    for f in [
        "Microsoft.Dynamics.CRM.OnOrAfter(PropertyName='birthdate',PropertyValue='1900-01-01')",
        "Microsoft.Dynamics.CRM.OlderThanXYears(PropertyName='birthdate',PropertyValue=5)",
    ] {
        let (status, n) = get(format!("contacts/$count?$filter={f}")).await;
        assert_eq!((status, &n), (200, &all_contacts), "{f}");
    }
    let (status, _) = get("accounts?$filter=Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=99999999999)".into()).await;
    assert_eq!(status, 400, "an absurd count is refused, not overflowed");

    // Bad filters are the client's error, in Dataverse's shape.
    for bad in [
        "contact_customer_accounts/any(c:c/nosuch eq 1)",
        "primarycontactid/any(c:c/lastname eq 'x')",
        "name eq 5",
        "Microsoft.Dynamics.CRM.Above(PropertyName='accountid',PropertyValue='00000000-0000-0000-0000-000000000001')",
    ] {
        let (status, body) = get(format!("accounts?$filter={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "0x80060888", "{bad}");
    }
}
