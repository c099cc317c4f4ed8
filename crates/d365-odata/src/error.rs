//! The one error type of the syntax layer.

use std::fmt;

/// A syntax error at a byte offset of the text that was parsed.
///
/// The text is the *decoded* option value (or decoded resource path), so the
/// offset points into [`ParseError::input`], not into the raw URL. The
/// `Display` output is meant to be printed verbatim by a CLI:
///
/// ```text
/// expected an expression, found end of input at offset 7
/// name eq
///        ^
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// Byte offset of the offending token in `input`.
    pub offset: usize,
    /// What the parser was looking for, e.g. `an expression` or `')'`.
    pub expected: String,
    /// What it found instead, e.g. `end of input` or `'and'`.
    pub found: String,
    /// The whole text that was being parsed.
    pub input: String,
    /// Whether the text is valid OData (it matches the ABNF) that Dataverse does not
    /// support, rather than invalid syntax. `expected` then names the feature.
    pub unsupported: bool,
}

impl ParseError {
    /// Builds an error; `offset` is clamped to the input length.
    pub fn new(
        offset: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        let input = input.into();
        Self {
            offset: offset.min(input.len()),
            expected: expected.into(),
            found: found.into(),
            input,
            unsupported: false,
        }
    }

    /// Valid OData that Dataverse does not support: `feature` says what and why
    /// (e.g. `$search: Dataverse has no full-text $search on the Web API`), `found`
    /// is the text that uses it.
    pub fn unsupported(
        offset: usize,
        feature: impl Into<String>,
        found: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        Self {
            unsupported: true,
            ..Self::new(offset, feature, found, input)
        }
    }

    /// Re-bases an error found in a slice of a bigger text (e.g. a `$filter`
    /// nested in `$expand`) so that the offset and input refer to the bigger text.
    pub(crate) fn rebase(mut self, base: usize, whole: &str) -> Self {
        self.offset += base;
        whole.clone_into(&mut self.input);
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsupported {
            writeln!(
                f,
                "not supported by Dataverse: {}, found {} at offset {}",
                self.expected, self.found, self.offset
            )?;
        } else {
            writeln!(
                f,
                "expected {}, found {} at offset {}",
                self.expected, self.found, self.offset
            )?;
        }
        writeln!(f, "{}", self.input)?;
        // Count characters, not bytes, so the caret lines up under non-ASCII text.
        let column = self
            .input
            .get(..self.offset)
            .map_or(self.offset, |before| before.chars().count());
        write!(f, "{:column$}^", "")
    }
}

impl std::error::Error for ParseError {}

/// Describes a piece of source text for the `found` part of an error.
pub(crate) fn describe(text: &str) -> String {
    const MAX: usize = 40;
    if text.is_empty() {
        return "end of input".to_owned();
    }
    let shown: String = if text.chars().count() > MAX {
        text.chars().take(MAX).chain("...".chars()).collect()
    } else {
        text.to_owned()
    };
    // String literals already carry their quotes.
    if shown.starts_with('\'') {
        shown
    } else {
        format!("'{shown}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_caret_under_offset() {
        let err = ParseError::new(7, "an expression", "end of input", "name eq");
        assert_eq!(
            err.to_string(),
            "expected an expression, found end of input at offset 7\nname eq\n       ^"
        );
    }

    #[test]
    fn unsupported_says_so() {
        let err = ParseError::unsupported(5, "$search", "'blue'", "$search=blue");
        assert!(err.unsupported);
        assert!(
            err.to_string()
                .starts_with("not supported by Dataverse: $search, found 'blue' at offset 5\n"),
            "{err}"
        );
    }

    #[test]
    fn caret_counts_characters_not_bytes() {
        let err = ParseError::new(8, "x", "y", "'é' eq 1");
        // "'é' eq " is 7 characters but 8 bytes.
        assert!(err.to_string().ends_with("\n'é' eq 1\n       ^"));
    }

    #[test]
    fn describe_quotes_and_truncates() {
        assert_eq!(describe(""), "end of input");
        assert_eq!(describe("and"), "'and'");
        assert_eq!(describe("'abc'"), "'abc'");
        assert_eq!(describe(&"x".repeat(50)).len(), 2 + 40 + 3);
    }
}
