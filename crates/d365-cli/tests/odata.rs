//! `d365 odata check` and `d365 odata conformance` as processes.

mod util;

use util::TestCommand;

#[test]
fn check_normalises_or_points_at_the_error() {
    let ok = TestCommand::new(&[
        "odata",
        "check",
        "contains(name,'O''Brian')  and (revenue gt 1000 or statecode eq 0)",
    ])
    .run();
    ok.assert_ok();
    assert_eq!(
        ok.stdout.trim(),
        "contains(name,'O''Brian') and (revenue gt 1000 or statecode eq 0)"
    );
    let bad = TestCommand::new(&["odata", "check", "name eq 'x' and"]).run();
    assert_eq!(bad.code, Some(1));
    bad.assert_clean_stderr();
    let lines: Vec<&str> = bad.stderr.lines().collect();
    assert!(
        lines[0].contains("expected an expression"),
        "{}",
        bad.stderr
    );
    assert_eq!(
        lines.last().unwrap().trim_start(),
        "^",
        "a caret under the offset: {}",
        bad.stderr
    );
    for (option, text) in [
        ("apply", "groupby((statuscode),aggregate($count as n))"),
        ("orderby", "revenue desc,name"),
        ("select", "name,revenue"),
        ("expand", "primarycontactid($select=fullname)"),
    ] {
        let run = TestCommand::new(&["odata", "check", "--option", option, text]).run();
        run.assert_ok();
        assert_eq!(run.stdout.trim(), text, "{option}");
    }
}

#[test]
fn check_lints_dataverse_rules() {
    let many: Vec<String> = (0..16).map(|i| format!("nav{i}")).collect();
    let run = TestCommand::new(&["odata", "check", "--option", "expand", &many.join(",")]).run();
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("15"), "{}", run.stderr);
    let not_fn = TestCommand::new(&[
        "odata",
        "check",
        "not Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
    ])
    .run();
    // Dataverse refuses `not` on its query functions; the lint says so even without a model.
    assert_eq!(not_fn.code, Some(1), "{}", not_fn.stderr);
    assert!(
        not_fn.stderr.contains(
            "Not operator along with the Custom Named Condition operators is not allowed"
        ),
        "{}",
        not_fn.stderr
    );
}

#[test]
fn check_against_metadata_types_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.xml");
    std::fs::write(
        &path,
        d365_odata::csdl::write_csdl(
            &d365_emulator::dataverse::model::DataverseModel::default().model,
        ),
    )
    .unwrap();
    let meta = |expr: &str| {
        TestCommand::new(&[
            "odata",
            "check",
            expr,
            "--metadata",
            path.to_str().unwrap(),
            "--entity",
            "accounts",
        ])
        .run()
    };
    meta("name eq 'x' and primarycontactid/fullname eq 'y'").assert_ok();
    let unknown = meta("Name eq 'x'");
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown
            .stderr
            .contains("Could not find a property named 'Name'"),
        "{}",
        unknown.stderr
    );
    let types = meta("name eq 1");
    assert_eq!(types.code, Some(1));
    assert!(types.stderr.contains("Edm.String"), "{}", types.stderr);
    let negated = meta("not Microsoft.Dynamics.CRM.Today(PropertyName='createdon')");
    assert_eq!(negated.code, Some(1));
    assert!(
        negated.stderr.contains(
            "Not operator along with the Custom Named Condition operators is not allowed"
        ),
        "{}",
        negated.stderr
    );
}

#[test]
fn conformance_runs_a_suite_file() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("cases.yaml");
    std::fs::write(
        &suite,
        "Constraints: {}\nTestCases:\n  - Name: a comparison\n    Rule: boolCommonExpr\n    Input: Price gt 5\n  - Name: dangling operator\n    Rule: boolCommonExpr\n    Input: Price gt\n    FailAt: 8\n",
    )
    .unwrap();
    let run = TestCommand::new(&["odata", "conformance", suite.to_str().unwrap()]).run();
    run.assert_ok();
    assert_eq!(
        run.stdout.trim(),
        "2 passed, 0 refused as unsupported, 0 failed, 0 skipped"
    );
    // Rejected, but not where the grammar stops: reported, and the run fails.
    std::fs::write(&suite, "TestCases:\n  - Name: wrong offset\n    Rule: boolCommonExpr\n    Input: Price gt\n    FailAt: 5\n").unwrap();
    let run = TestCommand::new(&["odata", "conformance", suite.to_str().unwrap()]).run();
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stdout.contains("OFFSET FAIL wrong offset") && run.stdout.contains("error at 8"),
        "{}",
        run.stdout
    );
    // Valid OData that Dataverse does not support is refused as such, not failed.
    std::fs::write(
        &suite,
        "TestCases:\n  - Name: upper case\n    Rule: boolCommonExpr\n    Input: Price GT 5\n",
    )
    .unwrap();
    let run = TestCommand::new(&["odata", "conformance", suite.to_str().unwrap()]).run();
    run.assert_ok();
    assert_eq!(
        run.stdout.trim(),
        "0 passed, 1 refused as unsupported, 0 failed, 0 skipped"
    );
    std::fs::write(&suite, "TestCases:\n  - Name: should fail\n    Rule: boolCommonExpr\n    Input: Price gt 5\n    FailAt: 3\n").unwrap();
    let run = TestCommand::new(&["odata", "conformance", suite.to_str().unwrap()]).run();
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout
            .contains("0 passed, 0 refused as unsupported, 1 failed"),
        "{}",
        run.stdout
    );
    // The official file, when this machine has it.
    let official = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/odata/odata-abnf-testcases.yaml");
    if official.exists() {
        let run = TestCommand::new(&["odata", "conformance", official.to_str().unwrap()]).run();
        let last = run.stdout.trim_end().lines().last().unwrap().to_owned();
        assert!(last.ends_with("skipped"), "{last}");
        let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
        assert!(passed >= 390, "{last}");
        run.assert_ok();
    }
}

/// Input deep enough to overflow an unbounded reader's stack is refused with an exit code,
/// not an abort.
#[test]
fn check_refuses_what_is_past_the_readers_budgets() {
    let expand = "a($expand=".repeat(2_800) + "a" + &")".repeat(2_800);
    let parens = "(".repeat(5_000) + "name eq 'x'" + &")".repeat(5_000);
    let nots = "not ".repeat(5_000) + "true";
    for (option, text, words) in [
        ("expand", expand.as_str(), "levels of nested $expand"),
        ("filter", parens.as_str(), ""),
        ("filter", nots.as_str(), ""),
        ("orderby", parens.as_str(), ""),
    ] {
        let run = TestCommand::new(&["odata", "check", "--option", option, text]).run();
        assert_eq!(run.code, Some(1), "{option}: {}", run.stderr);
        assert!(run.stderr.contains(words), "{}", run.stderr);
    }
}
