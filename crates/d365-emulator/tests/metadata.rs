//! Metadata as Dataverse serves it (issue 14): `$metadata` declares the functions, actions and
//! complex types; `EntityDefinitions` `$select` refuses unknown names and serves documented
//! ones such as `IsOptimisticConcurrencyEnabled`; and every answer with a context carries
//! `@odata.context` first, records and collections as well as metadata.

mod common;

use d365_testkit::{start, test_config};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn metadata_declares_functions_actions_and_complex_types() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let csdl = common::api_get(&http, &info, &token, "$metadata")
        .await
        .text()
        .await
        .unwrap();
    for declared in [
        r#"<ComplexType Name="WhoAmIResponse">"#,
        r#"<Property Name="UserId" Type="Edm.Guid" />"#,
        r#"<Function Name="WhoAmI">"#,
        r#"<ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" />"#,
        r#"<Function Name="RetrieveTotalRecordCount">"#,
        r#"<Parameter Name="EntityNames" Type="Collection(Edm.String)" Nullable="false" />"#,
        r#"<Action Name="BulkDelete">"#,
        r#"<Action Name="QualifyLead" IsBound="true">"#,
        r#"<Parameter Name="entity" Type="mscrm.lead" Nullable="false" />"#,
        r#"<Action Name="CreateMultiple" IsBound="true">"#,
        r#"<FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI" />"#,
        r#"<ActionImport Name="WinOpportunity" Action="Microsoft.Dynamics.CRM.WinOpportunity" />"#,
    ] {
        assert!(csdl.contains(declared), "{declared}");
    }
    // Every type the document names is declared in it (or is an Edm type).
    let declared: Vec<String> = csdl
        .split("Name=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    for used in csdl
        .split("Type=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let inner = used
            .strip_prefix("Collection(")
            .and_then(|u| u.strip_suffix(')'))
            .unwrap_or(used);
        if let Some(name) = inner.strip_prefix("mscrm.") {
            assert!(declared.iter().any(|d| d == name), "{used} is not declared");
        } else if !inner.starts_with("Microsoft.Dynamics.CRM.") && !inner.starts_with("OData.") {
            assert!(inner.starts_with("Edm."), "{used}");
        }
    }
}

#[tokio::test]
async fn entity_definitions_select_refuses_unknown_names_and_serves_documented_ones() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let get = |path: &'static str| {
        let (http, info, token) = (&http, &info, &token);
        async move {
            let r = common::api_get(http, info, token, path).await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = get(
        "EntityDefinitions(LogicalName='account')?$select=LogicalName,IsOptimisticConcurrencyEnabled,ObjectTypeCode",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(r#"{"@odata.context":"#), "{body}");
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(one["IsOptimisticConcurrencyEnabled"], true);
    assert_eq!(one["LogicalName"], "account");
    assert!(one.as_object().unwrap().contains_key("ObjectTypeCode"));
    assert!(!one.as_object().unwrap().contains_key("SchemaName"));
    for path in [
        "EntityDefinitions(LogicalName='account')?$select=LogicalName,Nope",
        "EntityDefinitions?$select=logicalname",
        "EntityDefinitions?$filter=Nope eq 'x'",
        "EntityDefinitions(LogicalName='account')/Attributes?$select=Nope",
        "EntityDefinitions(LogicalName='account')?$expand=Nope",
        // No items to evaluate, or a short-circuit: still refused.
        "EntityDefinitions(LogicalName='account')/Keys?$select=Nope",
        "EntityDefinitions?$filter=LogicalName eq 'nosuchtable' and Nope eq 'x'",
    ] {
        let (status, body) = get(path).await;
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (400, Some("0x80060888")),
            "{path}: {body}"
        );
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Could not find a property named"),
            "{body}"
        );
    }
    // The SDKs' own queries keep working.
    let (status, body) = get(
        "EntityDefinitions?$select=MetadataId,LogicalName,SchemaName,EntitySetName,PrimaryNameAttribute,PrimaryIdAttribute&$filter=LogicalName eq 'account'",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["value"][0]["EntitySetName"], "accounts");
}

#[tokio::test]
async fn an_unknown_table_definition_is_object_does_not_exist() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    for (path, key) in [
        (
            "EntityDefinitions(LogicalName='nosuchtable')",
            "nosuchtable",
        ),
        (
            "EntityDefinitions(LogicalName='nosuchtable')/Attributes",
            "nosuchtable",
        ),
        (
            "EntityDefinitions(00000000-0000-0000-0000-000000000001)",
            "00000000-0000-0000-0000-000000000001",
        ),
    ] {
        let r = common::api_get(&http, &info, &token, path).await;
        let status = r.status().as_u16();
        let error: Value = r.json().await.unwrap();
        assert_eq!(
            (status, &error["error"]["code"]),
            (404, &json!("0x80040217")),
            "{path}: {error}"
        );
        assert_eq!(
            error["error"]["message"],
            format!("Could not find entity with logical name or metadata id '{key}'."),
            "{path}"
        );
    }
}

#[tokio::test]
async fn every_answer_with_a_context_has_it_first() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let api = format!("{}/api/data/v9.2", info.environment_url);
    let send = |method: Method, path: String, body: Option<Value>, prefer: Option<&'static str>| {
        let (http, token, api) = (&http, &token, &api);
        async move {
            let mut r = http
                .request(method, format!("{api}/{path}"))
                .bearer_auth(token);
            if let Some(p) = prefer {
                r = r.header("Prefer", p);
            }
            if let Some(b) = body {
                r = r.json(&b);
            }
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let first = |body: &str| -> Value { serde_json::from_str(body).unwrap() };
    let (_, list) = send(
        Method::GET,
        "accounts?$select=name&$top=1".into(),
        None,
        None,
    )
    .await;
    let account = first(&list)["value"][0]["accountid"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetch = "%3Cfetch%20count%3D%222%22%3E%3Centity%20name%3D%22account%22%3E%3Cattribute%20name%3D%22name%22%2F%3E%3C%2Fentity%3E%3C%2Ffetch%3E";
    let reads = [
        String::new(),
        "accounts?$select=name&$top=2".into(),
        "accounts?$select=name&$count=true".into(),
        format!("accounts({account})"),
        format!("accounts({account})?$select=name&$expand=primarycontactid($select=fullname)"),
        format!("accounts({account})/name"),
        format!("accounts({account})/primarycontactid/$ref"),
        format!("accounts({account})/contact_customer_accounts?$select=fullname"),
        "accounts?$apply=aggregate($count as n)".into(),
        format!("accounts?fetchXml={fetch}"),
        "WhoAmI".into(),
        "RetrieveVersion".into(),
        "RetrieveTotalRecordCount(EntityNames=@p1)?@p1=[\"account\"]".into(),
        "EntityDefinitions?$select=LogicalName".into(),
        "EntityDefinitions(LogicalName='account')".into(),
        "EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName".into(),
        "EntityDefinitions(LogicalName='account')/Keys".into(),
    ];
    for path in reads {
        for prefer in [None, Some("odata.include-annotations=\"*\"")] {
            let (status, body) = send(Method::GET, path.clone(), None, prefer).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert!(
                body.starts_with(r#"{"@odata.context":"#),
                "{path} ({prefer:?}): {body}"
            );
        }
    }
    // Change tracking's first page, a create with return=representation, a bulk answer.
    let bulk =
        json!({"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "Bulk"}]});
    for (method, path, body, prefer, expected) in [
        (
            Method::GET,
            "accounts?$select=name",
            None,
            Some("odata.track-changes"),
            200,
        ),
        (
            Method::POST,
            "accounts?$select=name",
            Some(json!({"name": "Represented"})),
            Some("return=representation"),
            201,
        ),
        (
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            Some(bulk),
            None,
            200,
        ),
    ] {
        let (status, text) = send(method, path.into(), body, prefer).await;
        assert_eq!(status, expected, "{path}: {text}");
        assert!(text.starts_with(r#"{"@odata.context":"#), "{path}: {text}");
    }
}
