//! Runs test cases in the OASIS OData ABNF test-case format
//! (`odata-abnf-testcases.yaml`, schema `testsuite.schema.json`) through this crate's parsers.
//!
//! A case names an ABNF rule, an input and, for negative cases, `FailAt`: the 0-based
//! character position where the invalid part of the input starts (0 meaning the whole
//! input). Positive cases must parse; negative cases must be rejected, and the report
//! counts how many of our error offsets equal `FailAt`.
//!
//! Each rule the crate implements maps to one parse function (see [`RULES`]); rules it
//! deliberately does not implement are listed in [`NOT_IMPLEMENTED`] with the reason,
//! and so are OData 4.01 features inside implemented rules that Dataverse does not have
//! ([`UNSUPPORTED_FEATURES`]). Cases hitting either are *skipped*, never counted as
//! passed. The file's `Constraints` section (which names are entity sets, key properties,
//! functions, ...) is the model for the few checks that need names.
//!
//! The YAML is read with `saphyr-parser` (YAML 1.2 events; the file uses plain scalars
//! containing tabs and `:` that YAML 1.1 readers reject, and multi-line double-quoted
//! scalars with escapes, so a hand-written subset reader would be fragile).

use std::collections::BTreeMap;
use std::fmt;

mod rules;
mod tables;
mod yaml;

use rules::{RuleResult, parse_rule};

pub use tables::{NOT_IMPLEMENTED, RULES, UNSUPPORTED_FEATURES};

/// A test-case file: the names the rules may match and the cases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestSuite {
    /// `Constraints`: rule name → the names it may match (e.g. `entitySetName` → `Products`).
    pub constraints: BTreeMap<String, Vec<String>>,
    /// `TestCases`, in file order.
    pub cases: Vec<TestCase>,
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// `Name`: a short description.
    pub name: String,
    /// `Rule`: the ABNF rule the input must (or must not) match.
    pub rule: String,
    /// `Input`: the text, raw (still percent-encoded where the rule is a URL part).
    pub input: String,
    /// `FailAt`: for negative cases, where the invalid part starts (0 = the whole input).
    pub fail_at: Option<usize>,
}

/// Why a test-case file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The path as given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// The YAML does not have the test-suite shape.
    #[error("not an OData ABNF test suite: {0}")]
    Shape(String),
}

/// A case that did not behave as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The case's `Name`.
    pub name: String,
    /// The case's `Rule`.
    pub rule: String,
    /// The case's `Input`.
    pub input: String,
    /// What the file expects: `parse` or `reject at N`.
    pub expected: String,
    /// What happened: `parsed` or the error.
    pub got: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = self.got.replace('\n', " | ");
        write!(
            f,
            "FAIL {} [{}] {:?}: expected {}, got {}",
            self.name, self.rule, self.input, self.expected, got
        )
    }
}

/// The outcome of [`run`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Cases that behaved as expected.
    pub passed: usize,
    /// Cases that did not.
    pub failed: Vec<Failure>,
    /// Valid inputs the crate recognises and refuses as not supported by Dataverse
    /// (each counted once here, never in `passed`).
    pub refused: usize,
    /// Refusals by feature, for the summary.
    pub refused_by_feature: BTreeMap<String, usize>,
    /// Cases of rules or features deliberately not implemented.
    pub skipped: usize,
    /// Skips by reason, for the summary.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Negative cases that were rejected at exactly `FailAt`.
    pub failat_matched: usize,
    /// Negative cases that were rejected (whatever the offset).
    pub failat_total: usize,
    /// Negative cases that were rejected, but not at `FailAt`.
    pub failat_mismatched: Vec<Failure>,
}

impl fmt::Display for Report {
    /// One line per failure, then `N passed, R refused as unsupported, M failed, K skipped`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.failed {
            writeln!(f, "{failure}")?;
        }
        write!(
            f,
            "{} passed, {} refused as unsupported, {} failed, {} skipped",
            self.passed,
            self.refused,
            self.failed.len(),
            self.skipped
        )
    }
}

/// What one case did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As expected; for negative cases, whether the error offset equals `FailAt`.
    Passed {
        /// Negative case rejected at exactly `FailAt`.
        failat_matched: bool,
    },
    /// A negative case rejected, but not at `FailAt` (`got` says where).
    Mismatched(Failure),
    /// A valid input recognised and refused as not supported by Dataverse: the feature.
    Refused(String),
    /// Not as expected.
    Failed(Failure),
    /// Rule or feature not implemented, with the reason.
    Skipped(String),
}

/// Runs every case of `suite`.
pub fn run(suite: &TestSuite) -> Report {
    let mut report = Report::default();
    for case in &suite.cases {
        match check(case, &suite.constraints) {
            Outcome::Passed { failat_matched } => {
                report.passed += 1;
                if case.fail_at.is_some() {
                    report.failat_total += 1;
                    report.failat_matched += usize::from(failat_matched);
                }
            }
            Outcome::Mismatched(failure) => {
                report.passed += 1;
                report.failat_total += 1;
                report.failat_mismatched.push(failure);
            }
            Outcome::Refused(feature) => {
                report.refused += 1;
                *report.refused_by_feature.entry(feature).or_default() += 1;
            }
            Outcome::Failed(failure) => report.failed.push(failure),
            Outcome::Skipped(reason) => {
                report.skipped += 1;
                *report.skipped_by_reason.entry(reason).or_default() += 1;
            }
        }
    }
    report
}

/// Runs one case against the constraints model.
pub fn check(case: &TestCase, constraints: &BTreeMap<String, Vec<String>>) -> Outcome {
    if let Some((_, reason)) = NOT_IMPLEMENTED.iter().find(|(r, _)| *r == case.rule) {
        return Outcome::Skipped((*reason).to_owned());
    }
    if !RULES.iter().any(|(r, _)| *r == case.rule) {
        return Outcome::Skipped(format!("rule '{}' is not mapped to a parser", case.rule));
    }
    if let Some((_, reason)) = UNSUPPORTED_FEATURES
        .iter()
        .find(|(marker, _)| has_marker(&case.input, marker))
    {
        return Outcome::Skipped((*reason).to_owned());
    }
    let result = match parse_rule(&case.rule, &case.input, constraints) {
        RuleResult::Skip(reason) => return Outcome::Skipped(reason.to_owned()),
        RuleResult::Done(r) => r,
    };
    let failure = |expected: String, got: String| {
        Outcome::Failed(Failure {
            name: case.name.clone(),
            rule: case.rule.clone(),
            input: case.input.clone(),
            expected,
            got,
        })
    };
    match (case.fail_at, result) {
        (None, Ok(())) => Outcome::Passed {
            failat_matched: false,
        },
        (None, Err((_, message))) if let Some(feature) = unsupported_feature(&message) => {
            Outcome::Refused(feature)
        }
        (None, Err((at, message))) => failure("parse".into(), format!("error at {at}: {message}")),
        (Some(want), Err((at, _))) if at == want => Outcome::Passed {
            failat_matched: true,
        },
        (Some(want), Err((at, message))) => match failure(
            format!("reject at {want}"),
            format!("error at {at}: {message}"),
        ) {
            Outcome::Failed(f) => Outcome::Mismatched(f),
            other => other,
        },
        (Some(want), Ok(())) => failure(format!("reject at {want}"), "parsed".into()),
    }
}

/// The feature named by a "not supported by Dataverse" error (see
/// [`crate::ParseError::unsupported`]); `None` for a syntax error.
fn unsupported_feature(message: &str) -> Option<String> {
    const MARK: &str = "not supported by Dataverse: ";
    let rest = &message[message.find(MARK)? + MARK.len()..];
    let end = rest.find(", found ").unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Whether `input` holds `marker`; `/$filter(@alias)` (a filter path segment, parsed)
/// is not an alias inside `$expand`/`$select` options.
fn has_marker(input: &str, marker: &str) -> bool {
    input
        .match_indices(marker)
        .any(|(at, _)| !(marker == "(@" && input[..at].ends_with("$filter")))
}
