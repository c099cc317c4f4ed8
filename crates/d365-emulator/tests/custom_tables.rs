//! `--metadata org.xml`: tables from a real org's CSDL are emulated next to the built-ins,
//! custom `new_*` tables included, and a persisted database grows the new columns.

mod common;

use d365_testkit::{start, test_config};
use serde_json::{Value, json};

/// A cut of a real org's `$metadata`: a custom table with a lookup to account, and account
/// itself with a custom column and the custom table's one-to-many.
const ORG_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true" />
      <EntityType Name="new_project" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="new_projectid" /></Key>
        <Property Name="new_projectid" Type="Edm.Guid" />
        <Property Name="new_name" Type="Edm.String" MaxLength="100" />
        <Property Name="new_budget" Type="Edm.Decimal" Scale="4" />
        <Property Name="new_startdate" Type="Edm.Date" />
        <Property Name="statecode" Type="Edm.Int32" />
        <Property Name="createdon" Type="Edm.DateTimeOffset"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true" /></Property>
        <Property Name="modifiedon" Type="Edm.DateTimeOffset"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true" /></Property>
        <Property Name="versionnumber" Type="Edm.Int64" />
        <Property Name="_new_accountid_value" Type="Edm.Guid" />
        <NavigationProperty Name="new_accountid" Type="mscrm.account" Partner="new_account_projects">
          <ReferentialConstraint Property="_new_accountid_value" ReferencedProperty="accountid" />
        </NavigationProperty>
        <NavigationProperty Name="transactioncurrencyid" Type="mscrm.transactioncurrency" />
      </EntityType>
      <EntityType Name="account" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="accountid" /></Key>
        <Property Name="accountid" Type="Edm.Guid" />
        <Property Name="name" Type="Edm.String" MaxLength="160" />
        <Property Name="accountnumber" Type="Edm.String" MaxLength="20" />
        <Property Name="statecode" Type="Edm.Int32" />
        <Property Name="new_tier" Type="Edm.String" MaxLength="20" />
        <Property Name="createdon" Type="Edm.DateTimeOffset" />
        <Property Name="modifiedon" Type="Edm.DateTimeOffset" />
        <Property Name="versionnumber" Type="Edm.Int64" />
        <NavigationProperty Name="new_account_projects" Type="Collection(mscrm.new_project)" Partner="new_accountid" />
      </EntityType>
      <EntityContainer Name="System">
        <EntitySet Name="new_projects" EntityType="Microsoft.Dynamics.CRM.new_project" />
        <EntitySet Name="accounts" EntityType="Microsoft.Dynamics.CRM.account" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#;

#[tokio::test]
async fn custom_tables_from_csdl_work_like_built_ins() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org.xml");
    std::fs::write(&org, ORG_XML).unwrap();
    let data = dir.path().join("data");

    // First run without the metadata: the built-in account table is persisted.
    let mut config = test_config(3);
    config.data_dir = Some(data.clone());
    drop(start(config.clone()).await);

    // Second run with it: account grows `new_tier`, new_project appears.
    config.metadata = Some(org);
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let url = |p: &str| format!("{}/api/data/v9.2/{p}", info.environment_url);
    let get = |p: String| {
        let (http, token, url) = (&http, &token, url(&p));
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };

    let (status, csdl) = get("$metadata".into()).await;
    assert_eq!(status, 200);
    assert!(csdl.contains(r#"EntitySet Name="new_projects""#), "{csdl}");
    let (status, def) =
        get("EntityDefinitions(LogicalName='new_project')?$select=EntitySetName".into()).await;
    assert_eq!(status, 200, "{def}");
    assert!(def.contains("new_projects"));
    // Built-ins the file does not name are still there.
    assert_eq!(get("contacts/$count".into()).await.0, 200);

    let (_, accounts) = get("accounts?$select=name,statecode&$orderby=accountnumber".into()).await;
    let accounts: Value = serde_json::from_str(&accounts).unwrap();
    let account = accounts["value"][0]["accountid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        accounts["value"].as_array().unwrap().len(),
        3,
        "persisted rows kept"
    );

    let r = http
        .patch(url(&format!("accounts({account})")))
        .bearer_auth(&token)
        .json(&json!({"new_tier": "Gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = http
        .post(url("new_projects"))
        .bearer_auth(&token)
        .json(&json!({
            "new_name": "Warehouse fit-out",
            "new_budget": 125000.5,
            "new_startdate": "2026-01-15",
            "new_accountid@odata.bind": format!("/accounts({account})"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = http
        .post(url("new_projects"))
        .bearer_auth(&token)
        .json(&json!({"new_name": "x".repeat(101)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "max length from the CSDL");

    let (status, projects) = get(
        "new_projects?$select=new_name,new_budget,_new_accountid_value&$filter=new_budget gt 100000&$expand=new_accountid($select=name,new_tier)".into(),
    )
    .await;
    assert_eq!(status, 200, "{projects}");
    let projects: Value = serde_json::from_str(&projects).unwrap();
    let p = &projects["value"][0];
    assert_eq!(p["new_name"], "Warehouse fit-out");
    assert_eq!(p["new_budget"], 125000.5);
    assert_eq!(p["_new_accountid_value"], account.as_str());
    assert_eq!(p["new_accountid"]["new_tier"], "Gold");

    let (_, with_projects) = get(format!(
        "accounts({account})?$select=name&$expand=new_account_projects($select=new_name)"
    ))
    .await;
    let with_projects: Value = serde_json::from_str(&with_projects).unwrap();
    assert_eq!(
        with_projects["new_account_projects"][0]["new_name"],
        "Warehouse fit-out"
    );
}

#[tokio::test]
async fn names_that_are_not_identifiers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org.xml");
    std::fs::write(
        &org,
        ORG_XML.replace("new_budget", "new_budget&quot; OR 1=1 --"),
    )
    .unwrap();
    let mut config = test_config(1);
    config.metadata = Some(org);
    let e = d365_emulator::Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a simple identifier"), "{e}");
}
