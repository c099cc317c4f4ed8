//! Runs the OASIS OData ABNF test cases (`shared/odata/odata-abnf-testcases.yaml`, kept
//! outside this repository) through the crate's parsers. The file is found via
//! `D365_ODATA_CASES` or `../shared/odata/` next to the repository; under `CI=true` a
//! missing file fails the test, elsewhere the test says it skipped. Rules and features
//! deliberately not implemented are listed, with reasons, in
//! `d365_odata::conformance::{NOT_IMPLEMENTED, UNSUPPORTED_FEATURES}`.
//!
//! Every judged case must pass, and every rejected negative case must be rejected at
//! exactly its `FailAt`. Valid inputs that Dataverse does not support must be refused
//! as such ("not supported by Dataverse"), never as syntax errors.

use std::path::PathBuf;

use d365_odata::conformance::{NOT_IMPLEMENTED, TestSuite, UNSUPPORTED_FEATURES, run};

mod support {
    pub(crate) mod shared;
}

#[test]
fn oasis_abnf_test_cases() {
    let Some(path) =
        support::shared::shared_odata_file("D365_ODATA_CASES", "odata-abnf-testcases.yaml")
    else {
        return;
    };
    let suite = TestSuite::read(&path).unwrap();
    assert!(suite.cases.len() > 600, "{}", suite.cases.len());
    assert!(suite.constraints.contains_key("entitySetName"));
    let report = run(&suite);
    println!("{report}");
    println!(
        "FailAt matched {} of {} rejected negative cases",
        report.failat_matched, report.failat_total
    );
    for failure in &report.failat_mismatched {
        println!("FAILAT {failure}");
    }
    for (reason, n) in &report.skipped_by_reason {
        println!("skipped {n:>3}: {reason}");
    }
    println!(
        "({} rules and {} features deliberately not implemented)",
        NOT_IMPLEMENTED.len(),
        UNSUPPORTED_FEATURES.len()
    );
    for (feature, n) in &report.refused_by_feature {
        println!("refused {n:>3}: {feature}");
    }
    assert!(
        report.failed.is_empty(),
        "{} cases failed",
        report.failed.len()
    );
    assert!(
        report.failat_mismatched.is_empty(),
        "{} negative cases rejected at the wrong offset",
        report.failat_mismatched.len()
    );
    assert_eq!(report.failat_matched, report.failat_total);
}

/// The crate's own cases for the rules fixed in issue 14 (`tests/cases/`), run strictly
/// even where the OASIS file is not available.
#[test]
fn grammar_regressions() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases/grammar-regressions.yaml");
    let suite = TestSuite::read(&path).unwrap();
    let report = run(&suite);
    println!("{report}");
    for failure in &report.failat_mismatched {
        println!("FAILAT {failure}");
    }
    assert!(report.failed.is_empty(), "{report}");
    assert!(report.failat_mismatched.is_empty(), "offsets differ");
    assert_eq!(report.skipped, 0, "{:?}", report.skipped_by_reason);
    // Every "(refused)" case, and only those, is refused as unsupported.
    let refused = suite
        .cases
        .iter()
        .filter(|c| c.name.ends_with("(refused)"))
        .count();
    assert_eq!(report.refused, refused, "{:?}", report.refused_by_feature);
    assert_eq!(report.passed + report.refused, suite.cases.len());
}

#[test]
fn a_small_suite_in_the_same_format() {
    let yaml = r#"
Constraints:
  entitySetName:
    - Products
TestCases:
  - Name: ok
    Rule: boolCommonExpr
    Input: "Name eq 'Milk' and Price lt 2.55"
  - Name: multi-line plain scalar
    Rule: queryOptions
    Input: $filter=Price
      lt 5
  - Name: bad
    Rule: commonExpr
    FailAt: 27
    Input: EmailAddresses eq ('Miller','Smith')
  - Name: tab
    Rule: orderby
    Input: $orderby=Name	asc
  - Name: refused
    Rule: geographyPoint
    Input: "geography'SRID=0;Point(142.1 64.1)'"
  - Name: skipped
    Rule: context
    Input: "$metadata#Products"
"#;
    let suite = TestSuite::from_yaml(yaml).unwrap();
    assert_eq!(suite.cases[1].input, "$filter=Price lt 5");
    assert_eq!(suite.cases[3].input, "$orderby=Name\tasc");
    assert_eq!(suite.cases[2].fail_at, Some(27));
    let report = run(&suite);
    assert_eq!(
        report.to_string(),
        "4 passed, 1 refused as unsupported, 0 failed, 1 skipped"
    );
    assert_eq!((report.failat_matched, report.failat_total), (1, 1));
}
