//! The standard tables beyond accounts and contacts: the directory rows (systemuser,
//! businessunit, team, organization), the seeded sales rows (lead, opportunity, task,
//! annotation) and the lookups the server maintains (createdby, modifiedby, ownerid,
//! owningbusinessunit).

mod common;

use d365_testkit::{start, test_config};
use serde_json::{Value, json};

#[tokio::test]
async fn directory_and_sales_tables_with_server_maintained_lookups() {
    let config = test_config(5);
    let user = config.users[0].clone();
    let bu = config.environment.business_unit_id.clone();
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let url = |p: &str| format!("{}/api/data/v9.2/{p}", info.environment_url);
    let get = |p: String| {
        let (http, token, url) = (&http, &token, url(&p));
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // The integration path "which systemuser is this Entra user?".
    let (status, users) = get(format!(
        "systemusers?$select=fullname,domainname&$filter=azureactivedirectoryobjectid eq {}",
        user.object_id
    ))
    .await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["value"].as_array().unwrap().len(), 1);
    assert_eq!(users["value"][0]["systemuserid"], user.systemuser_id);
    assert_eq!(users["value"][0]["domainname"], user.upn.as_str());

    // The app's own application user, as WhoAmI names it.
    let (_, me) = get("WhoAmI".into()).await;
    let app_user = me["UserId"].as_str().unwrap().to_owned();
    let (status, app) = get(format!(
        "systemusers({app_user})?$select=applicationid,accessmode&$expand=businessunitid($select=name)"
    ))
    .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["applicationid"], info.client_id.as_str());
    assert_eq!(app["accessmode"], 4, "non-interactive");
    assert_eq!(app["businessunitid"]["businessunitid"], bu.as_str());
    let (_, orgs) = get("organizations?$select=name,languagecode".into()).await;
    assert_eq!(orgs["value"].as_array().unwrap().len(), 1);
    let (_, teams) = get("teams?$select=name&$filter=isdefault eq true".into()).await;
    let team = teams["value"][0]["teamid"].as_str().unwrap().to_owned();

    // Seeded rows hang together: each account has an opportunity and a task; seeded rows
    // were created by and belong to the first user.
    let (_, accounts) = get(
        "accounts?$select=name,_ownerid_value,_createdby_value&$expand=opportunity_parent_account($select=name),Account_Tasks($select=subject)&$top=5".into(),
    )
    .await;
    for a in accounts["value"].as_array().unwrap() {
        assert_eq!(a["opportunity_parent_account"].as_array().unwrap().len(), 1);
        assert_eq!(a["Account_Tasks"].as_array().unwrap().len(), 1);
        assert_eq!(a["_ownerid_value"], user.systemuser_id.as_str());
        assert_eq!(a["_createdby_value"], user.systemuser_id.as_str());
    }
    let account = accounts["value"][0]["accountid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, leads) = get("leads/$count".into()).await;
    assert_eq!(leads, json!(1), "a lead for every fifth account");

    // A task written by the app: the server stamps creator, owner and business unit, and
    // ignores an attempt to name the creator.
    let r = http
        .post(url("tasks"))
        .bearer_auth(&token)
        .json(&json!({
            "subject": "Send the renewal quote",
            "prioritycode": 2,
            "regardingobjectid_account_task@odata.bind": format!("/accounts({account})"),
            "createdby@odata.bind": format!("/systemusers({})", user.systemuser_id),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let location = r.headers()["odata-entityid"].to_str().unwrap().to_owned();
    let task = &location[location.rfind('(').unwrap() + 1..location.len() - 1];
    let (_, t) = get(format!("tasks({task})")).await;
    assert_eq!(t["_regardingobjectid_value"], account.as_str());
    assert_eq!(t["_createdby_value"], app_user.as_str());
    assert_eq!(t["_modifiedby_value"], app_user.as_str());
    assert_eq!(t["_ownerid_value"], app_user.as_str());
    assert_eq!(t["_owningbusinessunit_value"], bu.as_str());

    // Assign it to the default team: ownerid takes teams as well as users.
    let r = http
        .patch(url(&format!("tasks({task})")))
        .bearer_auth(&token)
        .json(&json!({"ownerid@odata.bind": format!("/teams({team})")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, t) = get(format!("tasks({task})?$select=_ownerid_value")).await;
    assert_eq!(t["_ownerid_value"], team.as_str());
    // …but not accounts.
    let r = http
        .patch(url(&format!("tasks({task})")))
        .bearer_auth(&token)
        .json(&json!({"ownerid@odata.bind": format!("/accounts({account})")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A note on the account, found through the account's collection.
    let r = http
        .post(url("annotations"))
        .bearer_auth(&token)
        .json(&json!({"subject": "Visit", "notetext": "Met the CFO.",
                      "objectid_account@odata.bind": format!("/accounts({account})")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, notes) = get(format!(
        "accounts({account})?$select=name&$expand=Account_Annotation($select=notetext)"
    ))
    .await;
    let texts: Vec<&str> = notes["Account_Annotation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notetext"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Met the CFO."), "{texts:?}");
}

#[tokio::test]
async fn dataverse_query_functions_in_filter() {
    let emulator = start(test_config(6)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let get = |filter: &str| {
        let url = format!(
            "{}/api/data/v9.2/accounts?$select=accountnumber&$orderby=accountnumber&$filter={filter}",
            info.environment_url
        );
        let (http, token) = (&http, &token);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["accountnumber"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // As the Python SDK sends it: every value a JSON string, URL-encoded.
    assert_eq!(
        get("Microsoft.Dynamics.CRM.In%28PropertyName%3D%27accountnumber%27%2CPropertyValues%3D%5B%22ACC-000001%22%2C%22ACC-000003%22%5D%29").await,
        ["ACC-000001", "ACC-000003"]
    );
    assert_eq!(
        get(r#"Microsoft.Dynamics.CRM.NotIn(PropertyName='accountnumber',PropertyValues=["ACC-000001","ACC-000003"])"#).await,
        ["ACC-000002", "ACC-000004", "ACC-000005", "ACC-000006"]
    );
    assert_eq!(
        get(r#"Microsoft.Dynamics.CRM.In(PropertyName='industrycode',PropertyValues=["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20","21","22","23","24","25","26","27","28","29","30","31","32","33"])"#).await.len(),
        6
    );
}
