//! `d365 codegen`: the checked-in `tests/generated/entities.rs` (account and contact of the
//! emulator's model) is what the command generates today, and it compiles here and works
//! against a live emulator: typed queries, every column type read, a create written from a
//! struct and read back equal, lookups bound by navigation property, unknown choices kept.
//!
//! After a change to the generator or the emulator's model, regenerate it with
//! `D365_REGENERATE=1 cargo test -p d365-cli --test codegen` and review the diff.

mod util;

// Generated for a library (`pub` items); in this test binary some are unused or unreachable.
#[allow(dead_code, unreachable_pub)]
#[path = "generated/entities.rs"]
mod entities;

use d365_testkit::{start, test_config};
use entities::{
    Account, AccountIndustrycode, AccountStatecode, Contact, ContactStatecode, Lookup, Table,
};
use serde_json::json;
use util::{TestCommand, app_client, run_against};

const TABLES: &str = "account,contact";

/// The emulator's model as a `$metadata` file, `emulator.xml` in a temporary directory.
fn emulator_csdl() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = d365_emulator::dataverse::model::DataverseModel::default().model;
    std::fs::write(
        dir.path().join("emulator.xml"),
        d365_odata::csdl::write_csdl(&model),
    )
    .unwrap();
    dir
}

#[test]
fn the_checked_in_entities_are_up_to_date() {
    let dir = emulator_csdl();
    let csdl = dir.path().join("emulator.xml");
    let run = TestCommand::new(&[
        "codegen",
        "--metadata",
        csdl.to_str().unwrap(),
        "--tables",
        TABLES,
    ])
    .run();
    run.assert_ok();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated/entities.rs");
    if std::env::var_os("D365_REGENERATE").is_some() {
        std::fs::write(&path, &run.stdout).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == run.stdout,
        "{} is out of date (the generator or the emulator's model changed). Regenerate it with\n  \
         D365_REGENERATE=1 cargo test -p d365-cli --test codegen\nand review the diff.",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_generation_reads_choices_from_entity_definitions() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.rs");
    let run = run_against(
        &info,
        &[
            "codegen",
            "--tables",
            "accounts,contact",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    run.assert_ok().assert_clean_stderr();
    assert_eq!(run.stdout, "", "--out writes the file only");
    let live = std::fs::read_to_string(&out).unwrap();
    // The same code as from the file, apart from the source line.
    let checked_in = include_str!("generated/entities.rs");
    let body = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with("// Source: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (live_body, checked_in_body) = (body(&live), body(checked_in));
    let first = live_body
        .lines()
        .zip(checked_in_body.lines())
        .position(|(a, b)| a != b);
    assert!(
        live_body == checked_in_body,
        "live and file generation differ, first at line {first:?} (the file's line {})",
        first.map_or(0, |i| i + 2)
    );
    assert!(live.contains(&format!("// Source: {}", info.environment_url)));
    // The choices came from EntityDefinitions: three casts for each of the two tables.
    let log: serde_json::Value =
        reqwest::get(format!("{}/_emulator/requests", info.environment_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let reads: Vec<(String, u64)> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("/EntityDefinitions("))
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reads.len(), 6, "{reads:#?}");
    assert!(reads.iter().all(|(_, status)| *status == 200), "{reads:#?}");
    assert!(
        reads
            .iter()
            .any(|(path, _)| path.contains("LogicalName='contact'")
                && path.contains("StatusAttributeMetadata")),
        "{reads:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_errors_for_unknown_tables_and_bad_metadata() {
    let dir = emulator_csdl();
    let csdl = dir.path().join("emulator.xml");
    let csdl = csdl.to_str().unwrap();
    let run =
        TestCommand::new(&["codegen", "--metadata", csdl, "--tables", "account,contcat"]).run();
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr.trim_end(),
        "d365: generating from emulator.xml: no table 'contcat' in the metadata (did you mean 'contact'?)"
    );
    let missing = dir.path().join("missing.xml");
    let run = TestCommand::new(&[
        "codegen",
        "--metadata",
        missing.to_str().unwrap(),
        "--tables",
        "account",
    ])
    .run();
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("d365: opening "), "{}", run.stderr);
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<edmx:Edmx><a></b>").unwrap();
    let run = TestCommand::new(&[
        "codegen",
        "--metadata",
        broken.to_str().unwrap(),
        "--tables",
        "account",
    ])
    .run();
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("reading CSDL"), "{}", run.stderr);
    let json = dir.path().join("error.json");
    std::fs::write(&json, r#"{"error":{"code":"0x80072560","message":"x"}}"#).unwrap();
    let run = TestCommand::new(&[
        "codegen",
        "--metadata",
        json.to_str().unwrap(),
        "--tables",
        "account",
    ])
    .run();
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr.trim_end(),
        "d365: error.json has no entity types: is it a CSDL $metadata document?"
    );
    // Live: the same message, naming the environment.
    let emulator = start(test_config(1)).await;
    let run = run_against(&emulator.info(), &["codegen", "--tables", "nosuchtable"]).await;
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "d365: generating from {}: no table 'nosuchtable' in the metadata",
            emulator.info().environment_url
        )
    );
}

#[tokio::test]
async fn typed_queries_read_every_column_type() {
    let emulator = start(test_config(3)).await;
    let c = app_client(&emulator.info());
    let page = c
        .query(Account::ENTITY_SET)
        .select(Account::COLUMNS)
        .top(3)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    for record in page.items {
        let account: Account =
            serde_json::from_value(record.clone()).unwrap_or_else(|e| panic!("{e}: {record:#}"));
        assert!(
            account.id().is_some() && account.name.is_some(),
            "{account:?}"
        );
        assert!(account.etag.is_some() && account.createdon.is_some());
        assert!(account.versionnumber.is_some());
        assert_eq!(account.statecode, Some(AccountStatecode::Active));
        let owner = account
            .ownerid
            .as_ref()
            .expect("every account has an owner");
        assert_eq!(
            record["_ownerid_value"].as_str(),
            Some(owner.id.to_string().as_str())
        );
        // A read record, written back, carries no read-only column.
        let written = serde_json::to_value(&account).unwrap();
        for read_only in [
            "@odata.etag",
            "createdon",
            "versionnumber",
            "_ownerid_value",
        ] {
            assert!(written.get(read_only).is_none(), "{read_only} in {written}");
        }
    }
    let contacts = c
        .query(Contact::ENTITY_SET)
        .select(Contact::COLUMNS)
        .top(3)
        .send()
        .await
        .unwrap();
    for record in contacts.items {
        let contact: Contact =
            serde_json::from_value(record.clone()).unwrap_or_else(|e| panic!("{e}: {record:#}"));
        assert!(
            contact.fullname.is_some() && contact.birthdate.is_some(),
            "{contact:?}"
        );
        assert_eq!(contact.statecode, Some(ContactStatecode::Active));
        assert!(contact.parentcustomerid.is_some(), "{contact:?}");
    }
}

#[tokio::test]
async fn a_create_from_a_struct_reads_back_equal() {
    let emulator = start(test_config(1)).await;
    let c = app_client(&emulator.info());
    let contact_id = c
        .create(
            Contact::ENTITY_SET,
            json!({"firstname": "Ada", "lastname": "Lovelace"}),
        )
        .send()
        .await
        .unwrap();
    let account = Account {
        name: Some("Typed Co".into()),
        accountnumber: Some("T-1".into()),
        revenue: Some("12345.6789".parse().unwrap()),
        numberofemployees: Some(42),
        creditonhold: Some(true),
        industrycode: Some(AccountIndustrycode::Consulting),
        primarycontactid: Some(Lookup::new(contact_id)),
        ..Account::default()
    };
    let body = serde_json::to_value(&account).unwrap();
    assert_eq!(
        body["primarycontactid@odata.bind"],
        format!("/contacts({contact_id})"),
        "{body}"
    );
    let id = c.create(Account::ENTITY_SET, body).send().await.unwrap();
    let read: Account = serde_json::from_value(
        c.retrieve(Account::ENTITY_SET, id)
            .select(Account::COLUMNS)
            .send()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(read.accountid, Some(id));
    assert_eq!(read.name, account.name);
    assert_eq!(read.accountnumber, account.accountnumber);
    assert_eq!(
        read.revenue.as_ref().map(ToString::to_string).as_deref(),
        Some("12345.6789")
    );
    assert_eq!(read.numberofemployees, Some(42));
    assert_eq!(read.creditonhold, Some(true));
    assert_eq!(read.industrycode, Some(AccountIndustrycode::Consulting));
    assert_eq!(read.primarycontactid.map(|l| l.id), Some(contact_id));

    // A lookup to more than one table is written through the target's navigation property.
    let person = Contact {
        firstname: Some("Grace".into()),
        lastname: Some("Hopper".into()),
        birthdate: Some(time::macros::date!(1906 - 12 - 09)),
        parentcustomerid: Some(Lookup::to("account", id)),
        ..Contact::default()
    };
    let body = serde_json::to_value(&person).unwrap();
    assert_eq!(
        body["parentcustomerid_account@odata.bind"],
        format!("/accounts({id})")
    );
    assert_eq!(body["birthdate"], "1906-12-09");
    let person_id = c.create(Contact::ENTITY_SET, body).send().await.unwrap();
    let read: Contact = serde_json::from_value(
        c.retrieve(Contact::ENTITY_SET, person_id)
            .select(Contact::COLUMNS)
            .send()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(read.fullname.as_deref(), Some("Grace Hopper"));
    assert_eq!(read.birthdate, person.birthdate);
    assert_eq!(read.parentcustomerid.map(|l| l.id), Some(id));
    // Without the table, a lookup to more than one table cannot be written.
    let unsure = Contact {
        parentcustomerid: Some(Lookup::new(id)),
        ..Contact::default()
    };
    let e = serde_json::to_value(&unsure).unwrap_err();
    assert!(e.to_string().contains("Lookup::to"), "{e}");
}

#[test]
fn annotations_fill_lookups_and_unknown_choices_are_kept() {
    // As Dataverse answers with `Prefer: odata.include-annotations="*"`.
    let record = json!({
        "@odata.etag": "W/\"7\"",
        "contactid": "00000000-0000-0000-0000-000000000002",
        "statecode": 7,
        "statecode@OData.Community.Display.V1.FormattedValue": "Seven",
        "_parentcustomerid_value": "00000000-0000-0000-0000-000000000001",
        "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "Contoso",
        "_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "parentcustomerid_account",
        "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
        "_ownerid_value": null
    });
    let contact: Contact = serde_json::from_value(record).unwrap();
    let parent = contact.parentcustomerid.clone().unwrap();
    assert_eq!(parent.id, uuid::Uuid::from_u128(1));
    assert_eq!(parent.logical_name.as_deref(), Some("account"));
    assert_eq!(parent.name.as_deref(), Some("Contoso"));
    assert_eq!(contact.ownerid, None);
    assert_eq!(contact.statecode, Some(ContactStatecode::Other(7)));
    assert_eq!(ContactStatecode::Other(7).label(), None);
    assert_eq!(AccountIndustrycode::from(7).label(), Some("Consulting"));
    let written = serde_json::to_value(&contact).unwrap();
    assert_eq!(written["statecode"], 7);
    assert_eq!(
        written["parentcustomerid_account@odata.bind"],
        "/accounts(00000000-0000-0000-0000-000000000001)"
    );
    assert!(serde_json::from_value::<Contact>(json!({"statecode": "x"})).is_err());
}
