//! The `$search` grammar (OData 4.01 ABNF `search`, `searchExpr`,
//! `searchExpr-incomplete`). Dataverse's Web API does not support `$search` (the binder
//! refuses it), but the grammar still decides whether the text is OData at all and, in
//! `$expand(...)`, where the option ends.

use crate::error::{ParseError, describe};

/// Checks a decoded `$search` value: `BWS ( searchExpr / searchExpr-incomplete )`.
pub(crate) fn check_search(text: &str) -> Result<(), ParseError> {
    let mut p = Search {
        text,
        b: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    p.spaces();
    if p.peek() == Some(b'\'') {
        p.incomplete()?;
    } else {
        p.expr()?;
    }
    if p.at < p.b.len() {
        return Err(p.error("an operator, a search term or end of input"));
    }
    Ok(())
}

/// Where a raw (still percent-encoded) `$search` value uses a character its grammar
/// only takes percent-encoded: `#` (a fragment) or `;` (searchWord excludes it).
/// Returns the offset in the *decoded* value.
pub(crate) fn raw_search_error(raw: &str, value: &str) -> Option<ParseError> {
    let at = raw.find(['#', ';'])?;
    // Offsets before `at` shrink by two for every `%XX` triple.
    let triples = raw[..at].matches('%').count();
    let offset = at - 2 * triples;
    let found = describe(&raw[at..at + 1]);
    Some(ParseError::new(
        offset,
        "a search term ('#' and ';' must be percent-encoded)",
        found,
        value,
    ))
}

/// Nesting budget for parentheses, like the `$filter` parser's.
const MAX_DEPTH: u32 = 100;

struct Search<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
    depth: u32,
}

impl Search<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn error(&self, expected: &str) -> ParseError {
        let rest = &self.text[self.at..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        ParseError::new(self.at, expected, describe(&rest[..end]), self.text)
    }

    fn is_space(b: u8) -> bool {
        b == b' ' || b == b'\t'
    }

    /// BWS / RWS: returns how many whitespace characters were read.
    fn spaces(&mut self) -> usize {
        let from = self.at;
        while self.peek().is_some_and(Self::is_space) {
            self.at += 1;
        }
        self.at - from
    }

    /// The word at `at`, if it is exactly `word` followed by whitespace.
    fn keyword(&self, word: &str) -> bool {
        self.text[self.at..].starts_with(word)
            && self
                .b
                .get(self.at + word.len())
                .is_some_and(|b| Self::is_space(*b))
    }

    /// searchExpr = ( paren / negate / phrase / word ) [ searchOrExpr / searchAndExpr ]
    fn expr(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("a search expression nested less deeply"));
        }
        self.primary()?;
        // searchOrExpr = RWS "OR" RWS searchExpr; searchAndExpr = RWS [ "AND" RWS ] searchExpr
        if self.peek().is_some_and(Self::is_space) {
            let before = self.at;
            self.spaces();
            if self.at == self.b.len() || self.peek() == Some(b')') {
                // Whitespace must be followed by another term.
                if self.peek() == Some(b')') {
                    self.at = before;
                    self.depth -= 1;
                    return Ok(());
                }
                return Err(self.error("a search term after the space"));
            }
            for op in ["OR", "AND"] {
                if self.keyword(op) {
                    self.at += op.len();
                    self.spaces();
                    break;
                }
            }
            self.expr()?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn primary(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                self.spaces();
                self.expr()?;
                self.spaces();
                if self.peek() != Some(b')') {
                    return Err(self.error("')'"));
                }
                self.at += 1;
                Ok(())
            }
            Some(b'"') => self.phrase(),
            _ if self.keyword("NOT") => {
                // searchNegateExpr = "NOT" RWS searchExpr; a trailing NOT is a word.
                self.at += 3;
                self.spaces();
                if self.at == self.b.len() {
                    return Ok(());
                }
                self.primary()
            }
            _ => self.word(),
        }
    }

    /// searchPhrase = quotation-mark 1*( qchar-no-AMP-DQUOTE / SP ) quotation-mark
    fn phrase(&mut self) -> Result<(), ParseError> {
        let open = self.at;
        self.at += 1;
        match self.text[self.at..].find('"') {
            Some(0) => Err(self.error("a search phrase")),
            Some(len) => {
                self.at += len + 1;
                Ok(())
            }
            None => {
                self.at = self.b.len();
                Err(ParseError::new(
                    self.at,
                    format!("a closing '\"' for the phrase at offset {open}"),
                    "end of input",
                    self.text,
                ))
            }
        }
    }

    /// searchWord = searchChar *( searchChar / SQUOTE ): no whitespace, parentheses or
    /// double quotes, and no leading single quote.
    fn word(&mut self) -> Result<(), ParseError> {
        let from = self.at;
        for (i, c) in self.text[from..].char_indices() {
            let stop = c.is_whitespace() || matches!(c, '(' | ')' | '"') || (i == 0 && c == '\'');
            if stop {
                self.at = from + i;
                break;
            }
            self.at = from + i + c.len_utf8();
        }
        if self.at == from {
            return Err(self.error("a search term"));
        }
        Ok(())
    }

    /// searchExpr-incomplete = SQUOTE *( SQUOTE-in-string / qchar-no-AMP-SQUOTE /
    /// quotation-mark / SP ) SQUOTE
    fn incomplete(&mut self) -> Result<(), ParseError> {
        let open = self.at;
        self.at += 1;
        loop {
            match self.text[self.at..].find('\'') {
                None => {
                    self.at = self.b.len();
                    return Err(ParseError::new(
                        self.at,
                        format!("a closing quote for the string at offset {open}"),
                        "end of input",
                        self.text,
                    ));
                }
                Some(i) if self.b.get(self.at + i + 1) == Some(&b'\'') => self.at += i + 2,
                Some(i) => {
                    self.at += i + 1;
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_search_expressions() {
        for ok in [
            "blue",
            "blue green",
            "blue OR green",
            "blue AND NOT green",
            "(blue OR red) AND green",
            "\"blue green\"",
            "'mountain bike'",
            " blue",
            "NOT",
            "a;b",
        ] {
            check_search(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn invalid_search_expressions_fail_where_the_grammar_stops() {
        for (bad, at) in [
            ("\"blue", 5),
            ("blue ", 5),
            ("(blue", 5),
            ("blue)", 4),
            ("\"\"", 1),
            ("'blue", 5),
        ] {
            let e = check_search(bad).unwrap_err();
            assert_eq!(e.offset, at, "{bad}: {e}");
        }
        assert_eq!(raw_search_error("a%20b;c", "a b;c").unwrap().offset, 3);
        assert!(raw_search_error("a%3Bb", "a;b").is_none());
    }
}
