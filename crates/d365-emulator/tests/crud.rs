//! Create, update/upsert and delete over real HTTP, with Dataverse's conditional-header matrix
//! and its validation errors.

mod common;

use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Ctx {
    _emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

async fn ctx() -> Ctx {
    let emulator = start(test_config(2)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    Ctx {
        _emulator: emulator,
        info,
        http,
        token,
    }
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}/api/data/v9.2/{path}", self.info.environment_url)
    }
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
}

fn id_from(r: &reqwest::Response) -> String {
    let h = r.headers()["odata-entityid"].to_str().unwrap();
    h[h.rfind('(').unwrap() + 1..h.len() - 1].to_owned()
}

#[tokio::test]
async fn create_read_update_delete() {
    let c = ctx().await;
    // A contact to point at.
    let r = c
        .req(reqwest::Method::POST, "contacts")
        .json(&json!({"firstname": "Ada", "lastname": "O'Neil", "birthdate": "1990-04-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["odata-entityid"]
            .to_str()
            .unwrap()
            .starts_with(&c.url("contacts("))
    );
    let contact = id_from(&r);
    let (_, person) = c
        .get(&format!("contacts({contact})?$select=fullname,birthdate"))
        .await;
    assert_eq!(
        person["fullname"], "Ada O'Neil",
        "fullname follows first and last names"
    );

    let r = c
        .req(reqwest::Method::POST, "accounts")
        .json(&json!({"name": "Contoso & Sons", "revenue": 1234567.891, "numberofemployees": 42, "industrycode": 7, "creditonhold": true,
                      "primarycontactid@odata.bind": format!("/contacts({contact})"), "createdon": "2000-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    let id = id_from(&r);
    let (status, row) = c.get(&format!("accounts({id})?$select=name,revenue,numberofemployees,_primarycontactid_value,createdon")).await;
    assert_eq!(status, 200);
    assert_eq!(row["name"], "Contoso & Sons");
    assert_eq!(
        row["revenue"].to_string(),
        "1234567.8910",
        "money is exact with four decimals"
    );
    assert_eq!(row["_primarycontactid_value"], contact.as_str());
    assert_ne!(
        row["createdon"], "2000-01-01T00:00:00Z",
        "createdon is the server's"
    );
    let etag = row["@odata.etag"].as_str().unwrap().to_owned();

    // return=representation on create: 201 with the record.
    let r = c
        .req(reqwest::Method::POST, "accounts?$select=name")
        .header("prefer", "return=representation")
        .json(&json!({"name": "Fabrikam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["preference-applied"], "return=representation");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Fabrikam");
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#accounts(name)/$entity")
    );

    // Update with the right etag, then the stale one fails.
    let r = c
        .req(reqwest::Method::PATCH, &format!("accounts({id})"))
        .header("if-match", &etag)
        .json(&json!({"name": "Contoso Ltd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, row) = c.get(&format!("accounts({id})?$select=name")).await;
    assert_eq!(row["name"], "Contoso Ltd");
    assert_ne!(
        row["@odata.etag"],
        etag.as_str(),
        "the version moves on every write"
    );
    let r = c
        .req(reqwest::Method::PATCH, &format!("accounts({id})"))
        .header("if-match", &etag)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "The version of the existing record doesn't match the RowVersion property provided."
    );
    // Clearing a lookup.
    let r = c
        .req(reqwest::Method::PATCH, &format!("accounts({id})"))
        .header("if-match", "*")
        .header("prefer", "return=representation")
        .json(&json!({"primarycontactid@odata.bind": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["_primarycontactid_value"].is_null());

    // Delete, then it is gone.
    assert_eq!(
        c.req(reqwest::Method::DELETE, &format!("accounts({id})"))
            .header("if-match", "W/\"1\"")
            .send()
            .await
            .unwrap()
            .status(),
        412
    );
    assert_eq!(
        c.req(reqwest::Method::DELETE, &format!("accounts({id})"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (status, body) = c.get(&format!("accounts({id})")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("0x80040217"))
    );
    assert_eq!(
        c.req(reqwest::Method::DELETE, &format!("accounts({id})"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn patch_is_an_upsert_with_the_conditional_matrix() {
    let c = ctx().await;
    let id = uuid::Uuid::new_v4();
    let path = format!("accounts({id})");
    // Update-only on a missing record: 404.
    let r = c
        .req(reqwest::Method::PATCH, &path)
        .header("if-match", "*")
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Plain PATCH creates (with the key from the URL).
    let r = c
        .req(reqwest::Method::PATCH, &path)
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["odata-entityid"]
            .to_str()
            .unwrap()
            .ends_with(&format!("accounts({id})"))
    );
    // Create-only on an existing record: 412.
    let r = c
        .req(reqwest::Method::PATCH, &path)
        .header("if-none-match", "*")
        .json(&json!({"name": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["message"],
        "A record with matching key values already exists."
    );
    // Plain PATCH on an existing record updates; with representation it answers 200.
    let r = c
        .req(reqwest::Method::PATCH, &format!("{path}?$select=name"))
        .header("prefer", "return=representation")
        .json(&json!({"name": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "c");
    // Creating twice with the same key through POST: 412 duplicate.
    let body = json!({"accountid": uuid::Uuid::new_v4(), "name": "dup"});
    assert_eq!(
        c.req(reqwest::Method::POST, "accounts")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = c
        .req(reqwest::Method::POST, "accounts")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status(),
            r.json::<Value>().await.unwrap()["error"]["code"].clone()
        ),
        (StatusCode::PRECONDITION_FAILED, json!("0x80040237"))
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_with_dataverse_errors_and_change_nothing() {
    let c = ctx().await;
    let count = || async {
        c.get("accounts?$select=name&$count=true").await.1["@odata.count"]
            .as_u64()
            .unwrap()
    };
    let before = count().await;
    let cases = [
        (
            json!({"Name": "x"}),
            "0x80048d19",
            "Invalid property 'Name' was found in entity 'Microsoft.Dynamics.CRM.account'.",
        ),
        (
            json!({"_primarycontactid_value": uuid::Uuid::nil()}),
            "0x80048d19",
            "@odata.bind",
        ),
        (
            json!({"parentcustomerid@odata.bind": "/contacts(00000000-0000-0000-0000-000000000001)"}),
            "0x80048d19",
            "undeclared property 'parentcustomerid'",
        ),
        (
            json!({"name": "x".repeat(161)}),
            "0x80044331",
            "exceeded the maximum allowed length of '160'",
        ),
        (
            json!({"industrycode": 999}),
            "0x80044331",
            "outside the valid range",
        ),
        (
            json!({"numberofemployees": "many"}),
            "0x80048d19",
            "Cannot convert the literal '\"many\"' to the expected type 'Edm.Int32'",
        ),
        (
            json!({"revenue": 1.00001}),
            "0x80044331",
            "more than 4 decimal places",
        ),
    ];
    for (body, code, message) in cases {
        let r = c
            .req(reqwest::Method::POST, "accounts")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(message),
            "{body}: {e}"
        );
    }
    let r = c
        .req(reqwest::Method::POST, "accounts")
        .json(
            &json!({"primarycontactid@odata.bind": format!("/contacts({})", uuid::Uuid::new_v4())}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a reference to a missing record");
    let r = c
        .req(reqwest::Method::POST, "accounts")
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(count().await, before, "nothing was written");
}

#[tokio::test]
async fn count_path_is_plain_text() {
    let c = ctx().await;
    let r = c
        .req(reqwest::Method::GET, "accounts/$count")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "2");
    let r = c
        .req(
            reqwest::Method::GET,
            "contacts/$count?$filter=statecode%20eq%201",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "0");
    let r = c
        .req(reqwest::Method::GET, "nope/$count")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn expand_lookups_and_collections() {
    let c = ctx().await;
    let (status, body) = c.get("accounts?$select=name&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=fullname;$orderby=fullname%20desc)").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["@odata.context"].as_str().unwrap().ends_with(
            "#accounts(name,primarycontactid(fullname),contact_customer_accounts(fullname))"
        ),
        "{body}"
    );
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let contact = &row["primarycontactid"];
        assert!(
            contact["fullname"].is_string() && contact["contactid"].is_string(),
            "{row}"
        );
        assert!(
            contact.get("emailaddress1").is_none(),
            "nested $select applies"
        );
        let children = row["contact_customer_accounts"].as_array().unwrap();
        assert_eq!(children.len(), 2, "each seeded account has two contacts");
        let names: Vec<&str> = children
            .iter()
            .map(|c| c["fullname"].as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
        assert_eq!(names, sorted, "nested $orderby applies");
        assert!(
            children[0].get("_parentcustomerid_value").is_none(),
            "the join column is not leaked"
        );
        // The primary contact is one of the account's contacts.
        assert!(
            children
                .iter()
                .any(|ch| ch["contactid"] == contact["contactid"])
        );
    }
    // Nested $top and $filter on a collection; retrieve by id with $expand.
    let id = rows[0]["accountid"].as_str().unwrap();
    let (status, one) = c
        .get(&format!(
            "accounts({id})?$select=name&$expand=contact_customer_accounts($select=fullname;$top=1)"
        ))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        one["contact_customer_accounts"].as_array().unwrap().len(),
        1
    );
    assert!(
        one["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$entity")
    );
    let (_, none) = c
        .get(&format!(
            "accounts({id})?$expand=contact_customer_accounts($filter=statecode%20eq%201)"
        ))
        .await;
    assert_eq!(none["contact_customer_accounts"], json!([]));
    // An account without a primary contact: null.
    let r = c
        .req(reqwest::Method::POST, "accounts")
        .json(&json!({"name": "lonely"}))
        .send()
        .await
        .unwrap();
    let lonely = id_from(&r);
    let (_, row) = c
        .get(&format!(
            "accounts({lonely})?$select=name&$expand=primarycontactid"
        ))
        .await;
    assert!(row["primarycontactid"].is_null(), "{row}");
    // Errors in Dataverse's words.
    let (status, e) = c.get("accounts?$expand=nope").await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Could not find a property named 'nope'"),
        "{e}"
    );
    let (status, e) = c.get("accounts?$expand=primarycontactid($top=1)").await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Only $select and $filter clause"),
        "{e}"
    );
}

#[tokio::test]
async fn formatted_values_and_lookup_annotations() {
    let c = ctx().await;
    let r = c
        .req(reqwest::Method::GET, "accounts?$select=name,revenue,statecode,creditonhold,numberofemployees,createdon,_primarycontactid_value&$top=1")
        .header("prefer", "odata.include-annotations=\"*\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["preference-applied"],
        "odata.include-annotations=\"*\""
    );
    let raw = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&raw).unwrap();
    let row = &body["value"][0];
    let f = |p: &str| {
        row[format!("{p}@OData.Community.Display.V1.FormattedValue")]
            .as_str()
            .map(str::to_owned)
    };
    assert!(f("revenue").unwrap().starts_with('$'), "{row}");
    assert!(
        matches!(f("statecode").as_deref(), Some("Active" | "Inactive")),
        "{row}"
    );
    assert!(
        matches!(f("creditonhold").as_deref(), Some("Yes" | "No")),
        "{row}"
    );
    assert!(f("createdon").unwrap().contains(['A', 'P']), "{row}");
    assert!(f("name").is_none(), "text has no formatted value");
    assert_eq!(
        row["_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "contact"
    );
    assert_eq!(
        row["_primarycontactid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
        "primarycontactid"
    );
    // On the wire the annotations come before their property.
    assert!(
        raw.find("\"statecode@OData.Community.Display.V1.FormattedValue\"")
            .unwrap()
            < raw.find("\"statecode\":").unwrap()
    );
    // Only what is asked for.
    let r = c
        .req(reqwest::Method::GET, "accounts?$select=statecode&$top=1")
        .header(
            "prefer",
            "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
        )
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body["value"][0]["statecode@OData.Community.Display.V1.FormattedValue"].is_string());
    let (_, plain) = c.get("accounts?$select=statecode&$top=1").await;
    assert!(
        plain["value"][0]
            .get("statecode@OData.Community.Display.V1.FormattedValue")
            .is_none()
    );
}

#[tokio::test]
async fn impersonation_headers() {
    let c = ctx().await;
    let user = d365_testkit::EmulatorConfig::default().users[0].clone();
    for (header, value) in [
        ("CallerObjectId", user.object_id.clone()),
        ("MSCRMCallerID", user.systemuser_id.clone()),
    ] {
        let r = c
            .req(reqwest::Method::GET, "WhoAmI")
            .header(header, &value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<Value>().await.unwrap()["UserId"],
            user.systemuser_id.as_str(),
            "{header}"
        );
    }
    let r = c
        .req(reqwest::Method::GET, "WhoAmI")
        .header("CallerObjectId", uuid::Uuid::nil().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, me) = c.get("WhoAmI").await;
    assert_ne!(
        me["UserId"],
        user.systemuser_id.as_str(),
        "without the header, the app itself"
    );
}

#[tokio::test]
async fn entity_definitions_as_the_python_sdk_asks() {
    let c = ctx().await;
    let (status, body) = c.get("EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName%20eq%20'account'").await;
    assert_eq!(status, 200, "{body}");
    let items = body["value"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["EntitySetName"], "accounts");
    assert_eq!(items[0]["PrimaryIdAttribute"], "accountid");
    assert!(
        items[0]["MetadataId"].is_string() && items[0].get("SchemaName").is_none(),
        "{}",
        items[0]
    );
    let (_, none) = c
        .get("EntityDefinitions?$filter=LogicalName%20eq%20'nope'")
        .await;
    assert_eq!(
        none["value"],
        json!([]),
        "an unknown table is an empty list, which the SDK turns into its own error"
    );
    let (_, all) = c
        .get("EntityDefinitions?$select=LogicalName&$filter=IsPrivate%20eq%20false")
        .await;
    let names: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["LogicalName"].as_str().unwrap())
        .collect();
    for table in [
        "account",
        "contact",
        "lead",
        "opportunity",
        "task",
        "annotation",
        "systemuser",
        "team",
        "businessunit",
        "organization",
    ] {
        assert!(names.contains(&table), "{table} missing from {names:?}");
    }
    let (status, one) = c
        .get("EntityDefinitions(LogicalName='contact')?$select=LogicalName,PrimaryNameAttribute")
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["PrimaryNameAttribute"], "fullname");
    assert!(
        one["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#EntityDefinitions/$entity")
    );
    let (status, picklists) = c.get("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)").await;
    assert_eq!(status, 200, "{picklists}");
    let industry = picklists["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["LogicalName"] == "industrycode")
        .expect("industrycode is a picklist");
    assert!(
        picklists["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["LogicalName"] != "statecode" && a["LogicalName"] != "statuscode"),
        "status columns have their own metadata types: {picklists}"
    );
    let (status, states) = c
        .get("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StateAttributeMetadata?$select=LogicalName")
        .await;
    assert_eq!(status, 200);
    assert_eq!(states["value"][0]["LogicalName"], "statecode");
    assert_eq!(
        industry["OptionSet"]["Options"][6]["Label"]["LocalizedLabels"][0]["Label"],
        "Consulting"
    );
    let (_, attrs) = c.get("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,AttributeType&$filter=AttributeType%20eq%20'Money'").await;
    assert_eq!(attrs["value"][0]["LogicalName"], "revenue");
    let (status, _) = c.get("EntityDefinitions(LogicalName='nope')").await;
    assert_eq!(status, 404);
}
