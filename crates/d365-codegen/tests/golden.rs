//! The generator's output for a small model that has every kind of column, compared with the
//! checked-in `tests/golden/small.rs`; and the output is rustfmt-clean.
//!
//! After an intended change: `D365_REGENERATE=1 cargo test -p d365-codegen --test golden`.

use d365_odata::model::{EdmType, EntityType, Model, NavigationProperty, Property};

fn nav(name: &str, target: &str, fk: &str) -> NavigationProperty {
    NavigationProperty {
        name: name.into(),
        target: target.into(),
        collection: false,
        partner: None,
        foreign_key: fk.into(),
    }
}

/// A project table with every kind of column, and a person table it points to.
fn model() -> Model {
    let project = EntityType {
        name: "new_project".into(),
        entity_set: "new_projects".into(),
        key: "new_projectid".into(),
        primary_name: Some("new_name".into()),
        properties: vec![
            Property::new("new_projectid", EdmType::Guid).required(),
            Property::new("new_name", EdmType::String)
                .max_length(100)
                .required(),
            Property::new("new_budget", EdmType::Decimal).scale(4),
            Property::new("new_ratio", EdmType::Decimal).scale(2),
            Property::new("new_score", EdmType::Double),
            Property::new("new_big", EdmType::Int64),
            Property::new("new_active", EdmType::Boolean),
            Property::new("new_start", EdmType::Date),
            Property::new("createdon", EdmType::DateTimeOffset).read_only(),
            Property::new("type", EdmType::String),
            Property::new("new_stage", EdmType::Int32).options(&[
                (100000001, "Build [phase 2]"),
                (100000000, "Plan"),
                (100000002, "Plan"),
                (100000003, "Other"),
            ]),
            Property::new("_new_leadid_value", EdmType::Guid).lookup(&["new_person"]),
            Property::new("_new_ownerid_value", EdmType::Guid).lookup(&["new_person", "new_team"]),
            Property::new("_new_legacyid_value", EdmType::Guid),
            Property::new("_new_sponsoringorganizationid_value", EdmType::Guid),
        ],
        navigation: vec![
            nav(
                "new_sponsoringorganizationid_new_person",
                "new_person",
                "_new_sponsoringorganizationid_value",
            ),
            nav("new_leadid", "new_person", "_new_leadid_value"),
            nav("new_ownerid_new_person", "new_person", "_new_ownerid_value"),
            nav("new_ownerid_new_team", "new_team", "_new_ownerid_value"),
        ],
        alternate_keys: vec![],
    };
    let person = EntityType {
        name: "new_person".into(),
        entity_set: "new_people".into(),
        key: "new_personid".into(),
        primary_name: None,
        properties: vec![Property::new("new_personid", EdmType::Guid)],
        navigation: vec![],
        alternate_keys: vec![],
    };
    let team = EntityType {
        name: "new_team".into(),
        entity_set: "new_teams".into(),
        key: "new_teamid".into(),
        primary_name: None,
        properties: vec![Property::new("new_teamid", EdmType::Guid)],
        navigation: vec![],
        alternate_keys: vec![],
    };
    Model::new(vec![team, project, person])
}

#[test]
fn small_model_matches_the_golden_file() {
    let code =
        d365_codegen::generate(&model(), &["new_people", "new_project"], "golden test").unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/small.rs");
    if std::env::var_os("D365_REGENERATE").is_some() {
        std::fs::write(&path, &code).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        golden == code,
        "{} is out of date; if the change is intended, regenerate it with\n  \
         D365_REGENERATE=1 cargo test -p d365-codegen --test golden\nand review the diff",
        path.display()
    );
}

#[test]
fn output_is_deterministic_whatever_the_order() {
    let a = d365_codegen::generate(&model(), &["new_project", "new_person"], "x").unwrap();
    let b = d365_codegen::generate(
        &model(),
        &["new_person", "new_projects", "NEW_PROJECT"],
        "x",
    )
    .unwrap();
    assert_eq!(a, b);
}

/// What rustfmt makes of `code` (`--check` on stdin always exits 0, so compare instead).
fn rustfmt(code: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("rustfmt (part of the toolchain, as `cargo fmt` needs it)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(code.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "rustfmt failed on the generated code");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn output_is_rustfmt_clean() {
    let code = d365_codegen::generate(&model(), &["new_project", "new_person"], "x").unwrap();
    let formatted = rustfmt(&code);
    let first = code
        .lines()
        .zip(formatted.lines())
        .position(|(a, b)| a != b);
    assert!(
        code == formatted,
        "rustfmt would change the generated code, first at line {}:\n{}",
        first.map_or(0, |i| i + 1),
        formatted
            .lines()
            .skip(first.unwrap_or(0).saturating_sub(2))
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn unknown_tables_are_one_line_errors_with_a_suggestion() {
    let e = d365_codegen::generate(&model(), &["new_projet"], "x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no table 'new_projet' in the metadata (did you mean 'new_project'?)"
    );
    let e = d365_codegen::generate(&model(), &["invoice"], "x").unwrap_err();
    assert_eq!(e.to_string(), "no table 'invoice' in the metadata");
    assert!(d365_codegen::generate(&model(), &[], "x").is_err());
}
