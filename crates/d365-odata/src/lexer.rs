//! Tokens with byte spans, for `$filter`, `$orderby`, `$select` and key predicates.
//!
//! The lexer works on decoded text (the query option value after percent
//! decoding). Identifiers are not classified: `eq`, `and`, `true` are plain
//! [`TokenKind::Ident`]s and the parser decides what they mean. Namespace
//! qualified names come out as `Ident Dot Ident ...` and the parser joins them.
//! Literals whose shape is unambiguous (numbers, strings, GUIDs, dates, times)
//! are converted here, so a malformed date is reported where it starts.

use crate::error::{ParseError, describe};
use crate::expr::Span;
use crate::literal::Literal;

mod temporal;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TokenKind {
    /// An identifier (`name`, `eq`, `Microsoft`), or a `$`-name such as `$it` or `$count`.
    Ident,
    /// A parameter alias `@p1`; the span covers the `@`.
    Alias,
    /// A number, single-quoted string, GUID, date, date-time-offset or time of day.
    Literal(Literal),
    /// A double-quoted JSON string (inside `[...]`), unescaped.
    JsonString(String),
    /// `-` not followed by a digit (negation); `-5` lexes as a number.
    Minus,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `/`
    Slash,
    /// `:`
    Colon,
    /// `=`
    Equals,
    /// `;`
    Semicolon,
    /// `*`
    Star,
    /// `.`
    Dot,
    /// `#` (arrives as `%23`): an annotation qualifier, `@Measures.Currency#Reporting`.
    Hash,
    /// End of input (always the last token; its span is empty).
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it is in the input.
    pub span: Span,
}

/// Splits `text` into tokens, ending with [`TokenKind::Eof`].
///
/// Whitespace separates tokens and is otherwise dropped.
pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    match tokenize_lazily(text) {
        (tokens, None) => Ok(tokens),
        (_, Some(error)) => Err(error),
    }
}

/// Like [`tokenize`], but a lexical error ends the tokens (with an `Eof` where the bad
/// token starts) and comes back beside them. The parser reports it only if it gets that
/// far, so `'O'Neil'` fails at `N`, where the grammar stops matching, rather than at the
/// unterminated quote after it.
pub(crate) fn tokenize_lazily(text: &str) -> (Vec<Token>, Option<ParseError>) {
    let mut lexer = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        match lexer.next_token() {
            Ok(token) => {
                let done = token.kind == TokenKind::Eof;
                tokens.push(token);
                if done {
                    return (tokens, None);
                }
            }
            Err(error) => {
                let at = lexer.pos;
                tokens.push(Token {
                    kind: TokenKind::Eof,
                    span: Span::new(at, at),
                });
                return (tokens, Some(error));
            }
        }
    }
}

/// Where `text` stops matching a date, date-time-offset or time of day (0 if it matches
/// or does not start like one): for a literal of another type in a temporal rule.
pub(crate) fn temporal_mismatch_at(text: &str) -> usize {
    match temporal::temporal(text.as_bytes(), 0) {
        Err(temporal::Fault::Syntax(at) | temporal::Fault::NoSuchDate(at)) => at,
        _ => 0,
    }
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn peek_byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|s| s.chars().next())
    }

    fn digit_at(&self, at: usize) -> bool {
        self.peek_byte(at).is_some_and(|b| b.is_ascii_digit())
    }

    fn error(&self, at: usize, end: usize, expected: &str) -> ParseError {
        let mut end = end.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        ParseError::new(at, expected, describe(&self.text[at..end]), self.text)
    }

    /// End of the identifier-ish run starting at `at` (letters, digits, `_`).
    fn ident_end(&self, at: usize) -> usize {
        let rest = &self.text[at..];
        rest.char_indices()
            .find(|&(_, c)| !is_ident_continue(c))
            .map_or(self.text.len(), |(i, _)| at + i)
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        while self
            .peek_byte(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.char_at(start) else {
            return Ok(Token {
                kind: TokenKind::Eof,
                span: Span::new(start, start),
            });
        };
        let punct = match c {
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            '[' => Some(TokenKind::LBracket),
            ']' => Some(TokenKind::RBracket),
            '{' => Some(TokenKind::LBrace),
            '}' => Some(TokenKind::RBrace),
            ',' => Some(TokenKind::Comma),
            '/' => Some(TokenKind::Slash),
            ':' => Some(TokenKind::Colon),
            '=' => Some(TokenKind::Equals),
            ';' => Some(TokenKind::Semicolon),
            '*' => Some(TokenKind::Star),
            '.' => Some(TokenKind::Dot),
            '#' => Some(TokenKind::Hash),
            _ => None,
        };
        let kind = if let Some(kind) = punct {
            self.pos += 1;
            kind
        } else if c == '\'' {
            TokenKind::Literal(Literal::String(self.single_quoted()?))
        } else if c == '"' {
            TokenKind::JsonString(self.json_string()?)
        } else if let Some(guid) = self.guid()? {
            TokenKind::Literal(Literal::Guid(guid))
        } else if c.is_ascii_digit() {
            TokenKind::Literal(self.digits_literal()?)
        } else if c == '-' && temporal::looks_temporal(self.bytes, start) {
            // year = [ "-" ] ...: a date before the common era.
            TokenKind::Literal(self.temporal()?)
        } else if (c == '-' || c == '+')
            && self.digit_at(start + 1)
            && !temporal::looks_temporal(self.bytes, start + 1)
        {
            TokenKind::Literal(self.number()?)
        } else if c == '-' {
            self.pos += 1;
            TokenKind::Minus
        } else if c == '$' || c == '@' {
            let end = self.ident_end(start + 1);
            if end == start + 1 || !self.char_at(start + 1).is_some_and(is_ident_start) {
                return Err(self.error(start, start + 1, "an identifier"));
            }
            self.pos = end;
            if c == '@' {
                TokenKind::Alias
            } else {
                TokenKind::Ident
            }
        } else if is_ident_start(c) {
            self.pos = self.ident_end(start);
            TokenKind::Ident
        } else {
            return Err(self.error(start, start + c.len_utf8(), "a token"));
        };
        Ok(Token {
            kind,
            span: Span::new(start, self.pos),
        })
    }

    /// `'...'` with `''` for a quote. Allocates once per literal.
    fn single_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let mut value = String::new();
        let mut from = start + 1;
        loop {
            let Some(rel) = self.text[from..].find('\'') else {
                return Err(ParseError::new(
                    self.text.len(),
                    format!("a closing quote for the string at offset {start}"),
                    "end of input",
                    self.text,
                ));
            };
            let quote = from + rel;
            value.push_str(&self.text[from..quote]);
            if self.peek_byte(quote + 1) == Some(b'\'') {
                value.push('\'');
                from = quote + 2;
            } else {
                self.pos = quote + 1;
                return Ok(value);
            }
        }
    }

    /// A JSON string (RFC 8259 §7), as used in `["a","b"]`.
    fn json_string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let mut value = String::new();
        let mut chars = self.text[start + 1..].char_indices();
        let unterminated = || {
            ParseError::new(
                self.text.len(),
                format!("a closing '\"' for the string at offset {start}"),
                "end of input",
                self.text,
            )
        };
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = start + 1 + i + 1;
                    return Ok(value);
                }
                '\\' => {
                    let at = start + 1 + i;
                    let (_, esc) = chars.next().ok_or_else(unterminated)?;
                    let decoded = match esc {
                        '"' | '\\' | '/' => esc,
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => {
                            let hi = self.hex4(at + 2)?;
                            chars.nth(3);
                            let mut code = hi;
                            // A UTF-16 surrogate pair spells one character in two escapes.
                            if (0xD800..0xDC00).contains(&hi)
                                && self
                                    .text
                                    .get(at + 6..)
                                    .is_some_and(|s| s.starts_with("\\u"))
                            {
                                let lo = self.hex4(at + 8)?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    chars.nth(5);
                                    code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                }
                            }
                            char::from_u32(code)
                                .ok_or_else(|| self.error(at, at + 6, "a valid \\u escape"))?
                        }
                        _ => {
                            let end = at + 1 + esc.len_utf8();
                            return Err(self.error(at, end, "a JSON escape sequence"));
                        }
                    };
                    value.push(decoded);
                }
                c => value.push(c),
            }
        }
        Err(unterminated())
    }

    fn hex4(&self, at: usize) -> Result<u32, ParseError> {
        let end = (at + 4).min(self.text.len());
        self.text
            .get(at..at + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error(at, end, "four hex digits"))
    }

    /// A bare GUID `8-4-4-4-12` that is not glued to a following identifier. Eight hex
    /// digits and a `-` commit to a GUID (unless the digits are a year): a group of the
    /// wrong length is then reported where it goes wrong.
    fn guid(&mut self) -> Result<Option<uuid::Uuid>, ParseError> {
        const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
        let start = self.pos;
        let mut at = start;
        let committed = |at: usize| at > start + 8;
        for (i, len) in GROUPS.iter().enumerate() {
            if i > 0 {
                if self.peek_byte(at) != Some(b'-') {
                    return self.not_a_guid(start, at, committed(at));
                }
                at += 1;
            }
            for _ in 0..*len {
                if !self.peek_byte(at).is_some_and(|b| b.is_ascii_hexdigit()) {
                    return self.not_a_guid(start, at, committed(at));
                }
                at += 1;
            }
        }
        if self
            .char_at(at)
            .is_some_and(|c| is_ident_continue(c) || c == '-')
        {
            return self.not_a_guid(start, at, true);
        }
        match uuid::Uuid::parse_str(&self.text[start..at]) {
            Ok(guid) => {
                self.pos = at;
                Ok(Some(guid))
            }
            Err(_) => Ok(None),
        }
    }

    fn not_a_guid(
        &self,
        start: usize,
        at: usize,
        committed: bool,
    ) -> Result<Option<uuid::Uuid>, ParseError> {
        // Eight digits and a `-` may also start a date with a long year: whichever
        // reading gets further is the one reported.
        let date_gets_further = temporal::looks_temporal(self.bytes, start)
            && match temporal::temporal(self.bytes, start) {
                Ok(_) => true,
                Err(temporal::Fault::Syntax(p) | temporal::Fault::NoSuchDate(p)) => p >= at,
                Err(temporal::Fault::Unsupported(..)) => true,
            };
        if committed && !date_gets_further {
            let end = self.ident_end(at).max(at + 1);
            return Err(self.error(at, end, "a GUID (8-4-4-4-12 hex digits)"));
        }
        Ok(None)
    }

    /// A token starting with a digit: date, date-time-offset, time of day or number.
    fn digits_literal(&mut self) -> Result<Literal, ParseError> {
        if temporal::looks_temporal(self.bytes, self.pos) {
            self.temporal()
        } else {
            self.number()
        }
    }

    fn temporal(&mut self) -> Result<Literal, ParseError> {
        use temporal::Fault;
        let start = self.pos;
        let fault = match temporal::temporal(self.bytes, start) {
            // A literal glued to more identifier characters is not a literal at all.
            Ok((_, end)) if self.char_at(end).is_some_and(is_ident_continue) => Fault::Syntax(end),
            Ok((lit, end)) => {
                self.pos = end;
                return Ok(lit);
            }
            Err(fault) => fault,
        };
        let end = self.run_end(start);
        let found = describe(&self.text[start..end]);
        Err(match fault {
            Fault::Syntax(at) => ParseError::new(
                at,
                "a valid date, time or date-time literal",
                found,
                self.text,
            ),
            Fault::NoSuchDate(at) => {
                ParseError::new(at, "a day that exists in that month", found, self.text)
            }
            Fault::Unsupported(at, what) => ParseError::unsupported(at, what, found, self.text),
        })
    }

    /// End of the run of characters that plausibly belong to a temporal literal.
    fn run_end(&self, start: usize) -> usize {
        self.text[start..]
            .char_indices()
            .skip(1)
            .find(|&(_, c)| !(is_ident_continue(c) || matches!(c, '-' | ':' | '.' | '+')))
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    /// `[+-]digits[.digits][(e|E)[+-]digits]`: Int, Decimal or Double.
    fn number(&mut self) -> Result<Literal, ParseError> {
        let start = self.pos;
        let mut at = start;
        if matches!(self.peek_byte(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let skip_digits = |mut at: usize| {
            while self.digit_at(at) {
                at += 1;
            }
            at
        };
        at = skip_digits(at);
        // decimalValue = [SIGN] 1*DIGIT ["." 1*DIGIT] ["e" [SIGN] 1*DIGIT]: a character
        // that does not fit is reported where it is (`42.`, `1e`, `-0.314e1e2`).
        let mut fraction = false;
        if self.peek_byte(at) == Some(b'.') {
            if !self.digit_at(at + 1) {
                return Err(self.error(at + 1, at + 2, "a digit after the decimal point"));
            }
            fraction = true;
            at = skip_digits(at + 1);
        }
        let mut exponent = false;
        if matches!(self.peek_byte(at), Some(b'e' | b'E')) {
            let mut digits_at = at + 1;
            if matches!(self.peek_byte(digits_at), Some(b'+' | b'-')) {
                digits_at += 1;
            }
            if !self.digit_at(digits_at) {
                let end = self.ident_end(digits_at);
                return Err(self.error(digits_at, end, "the digits of the exponent"));
            }
            exponent = true;
            at = skip_digits(digits_at);
        }
        if self.char_at(at).is_some_and(is_ident_continue) {
            let end = self.ident_end(at);
            return Err(self.error(at, end, "the end of the number"));
        }
        self.pos = at;
        // A leading `+` is allowed by the ABNF but not kept.
        let text = &self.text[start..at];
        let unsigned = text.strip_prefix('+').unwrap_or(text);
        if exponent {
            let value = unsigned
                .parse()
                .map_err(|_| self.error(start, at, "a floating-point number"))?;
            Ok(Literal::Double(value))
        } else if fraction {
            Ok(Literal::Decimal(unsigned.to_owned()))
        } else {
            unsigned.parse().map(Literal::Int).map_err(|_| {
                self.error(
                    start,
                    at,
                    "an integer between -9223372036854775808 and 9223372036854775807",
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn single(text: &str) -> Literal {
        match kinds(text).as_slice() {
            [TokenKind::Literal(lit), TokenKind::Eof] => lit.clone(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn numbers_pick_a_variant_by_shape() {
        assert_eq!(single("42"), Literal::Int(42));
        assert_eq!(single("-5"), Literal::Int(-5));
        assert_eq!(single("+5"), Literal::Int(5));
        assert_eq!(single("-9223372036854775808"), Literal::Int(i64::MIN));
        assert_eq!(single("12.50"), Literal::Decimal("12.50".into()));
        assert_eq!(single("-0.5"), Literal::Decimal("-0.5".into()));
        assert_eq!(single("1e10"), Literal::Double(1e10));
        assert_eq!(single("1.5E-3"), Literal::Double(1.5e-3));
    }

    #[test]
    fn guids_beat_identifiers_and_numbers() {
        let g = uuid::Uuid::parse_str("abcdef01-2345-6789-abcd-ef0123456789").unwrap();
        assert_eq!(
            single("ABCDEF01-2345-6789-ABCD-EF0123456789"),
            Literal::Guid(g)
        );
        assert_eq!(
            single("00000000-0000-0000-0000-000000000001"),
            Literal::Guid(uuid::Uuid::from_u128(1))
        );
        // One hex digit too many: an identifier followed by a negative number.
        assert_eq!(
            kinds("abcdef012-2345")[..2],
            [TokenKind::Ident, TokenKind::Literal(Literal::Int(-2345))]
        );
    }

    #[test]
    fn spans_are_byte_offsets() {
        let tokens = tokenize("é eq 'x'").unwrap();
        assert_eq!(tokens[0].span, Span::new(0, 2));
        assert_eq!(tokens[1].span, Span::new(3, 5));
        assert_eq!(tokens[2].span, Span::new(6, 9));
        assert_eq!(tokens[3].span, Span::new(9, 9));
    }

    #[test]
    fn punctuation_aliases_and_dollar_names() {
        use TokenKind as T;
        assert_eq!(
            kinds("a/$count,@p1=(*);[]{}:.-x"),
            vec![
                T::Ident,
                T::Slash,
                T::Ident,
                T::Comma,
                T::Alias,
                T::Equals,
                T::LParen,
                T::Star,
                T::RParen,
                T::Semicolon,
                T::LBracket,
                T::RBracket,
                T::LBrace,
                T::RBrace,
                T::Colon,
                T::Dot,
                T::Minus,
                T::Ident,
                T::Eof,
            ]
        );
    }

    #[test]
    fn strings() {
        assert_eq!(single("'O''Bryan'"), Literal::String("O'Bryan".into()));
        assert_eq!(single("''''"), Literal::String("'".into()));
        assert_eq!(
            kinds(r#""a\"b\u00e9\ud83d\ude00""#)[0],
            TokenKind::JsonString("a\"bé😀".into())
        );
    }

    #[test]
    fn errors_point_at_the_bad_token() {
        let err = tokenize("x eq 2024-13-01").unwrap_err();
        // The month's second digit is where `2024-13-01` stops being a date.
        assert_eq!((err.offset, err.found.as_str()), (11, "'2024-13-01'"));
        let err = tokenize("12abc").unwrap_err();
        assert_eq!((err.offset, err.found.as_str()), (2, "'abc'"));
        let err = tokenize("42.").unwrap_err();
        assert_eq!(err.offset, 3);
        let err = tokenize("-0.314e1e2").unwrap_err();
        assert_eq!(err.offset, 8);
        let err = tokenize("01234567-89ab-cdef-456789abcdef").unwrap_err();
        assert_eq!(err.offset, 23);
        let err = tokenize("a ~ b").unwrap_err();
        assert_eq!(err.offset, 2);
    }
}
