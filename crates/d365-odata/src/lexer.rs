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
use crate::literal::{Literal, make_date, make_offset, make_time};

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
    let mut lexer = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.kind == TokenKind::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
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
            _ => None,
        };
        let kind = if let Some(kind) = punct {
            self.pos += 1;
            kind
        } else if c == '\'' {
            TokenKind::Literal(Literal::String(self.single_quoted()?))
        } else if c == '"' {
            TokenKind::JsonString(self.json_string()?)
        } else if let Some(guid) = self.guid() {
            TokenKind::Literal(Literal::Guid(guid))
        } else if c.is_ascii_digit() {
            TokenKind::Literal(self.digits_literal()?)
        } else if (c == '-' || c == '+')
            && self.digit_at(start + 1)
            && !self.looks_temporal(start + 1)
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

    /// A bare GUID `8-4-4-4-12` that is not glued to a following identifier.
    fn guid(&mut self) -> Option<uuid::Uuid> {
        const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
        let start = self.pos;
        let mut at = start;
        for (i, len) in GROUPS.iter().enumerate() {
            if i > 0 {
                if self.peek_byte(at) != Some(b'-') {
                    return None;
                }
                at += 1;
            }
            for _ in 0..*len {
                if !self.peek_byte(at)?.is_ascii_hexdigit() {
                    return None;
                }
                at += 1;
            }
        }
        if self
            .char_at(at)
            .is_some_and(|c| is_ident_continue(c) || c == '-')
        {
            return None;
        }
        let guid = uuid::Uuid::parse_str(&self.text[start..at]).ok()?;
        self.pos = at;
        Some(guid)
    }

    /// Whether the digits at `at` start a date (`dddd-`) or time (`dd:`).
    fn looks_temporal(&self, at: usize) -> bool {
        let digits = self.bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let next = self.peek_byte(at + digits);
        (digits == 4 && next == Some(b'-')) || (digits == 2 && next == Some(b':'))
    }

    /// A token starting with a digit: date, date-time-offset, time of day or number.
    fn digits_literal(&mut self) -> Result<Literal, ParseError> {
        if self.looks_temporal(self.pos) {
            self.temporal()
        } else {
            self.number()
        }
    }

    /// Reads exactly `n` digits as a number.
    fn fixed_digits(&mut self, n: usize) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + n)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.pos += n;
        digits.parse().ok()
    }

    fn expect_byte(&mut self, b: u8) -> Option<()> {
        (self.peek_byte(self.pos) == Some(b)).then(|| self.pos += 1)
    }

    fn temporal(&mut self) -> Result<Literal, ParseError> {
        let start = self.pos;
        let literal = if self.peek_byte(start + 2) == Some(b':') {
            self.time_of_day().map(Literal::TimeOfDay)
        } else {
            self.date_or_date_time()
        };
        // A literal glued to more identifier characters is not a literal at all.
        let glued = self.char_at(self.pos).is_some_and(is_ident_continue);
        match literal {
            Some(lit) if !glued => Ok(lit),
            _ => {
                let end = self.run_end(start);
                Err(self.error(start, end, "a valid date, time or date-time literal"))
            }
        }
    }

    /// End of the run of characters that plausibly belong to a temporal literal.
    fn run_end(&self, start: usize) -> usize {
        self.text[start..]
            .char_indices()
            .find(|&(_, c)| !(is_ident_continue(c) || matches!(c, '-' | ':' | '.' | '+')))
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    fn time_of_day(&mut self) -> Option<time::Time> {
        let hour = self.fixed_digits(2)?;
        self.expect_byte(b':')?;
        let minute = self.fixed_digits(2)?;
        let mut second = 0;
        let mut fraction = "";
        if self.peek_byte(self.pos) == Some(b':') {
            self.pos += 1;
            second = self.fixed_digits(2)?;
            if self.peek_byte(self.pos) == Some(b'.') && self.digit_at(self.pos + 1) {
                let from = self.pos + 1;
                let len = self.bytes[from..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                fraction = &self.text[from..from + len];
                self.pos = from + len;
            }
        }
        make_time(hour as u8, minute as u8, second as u8, fraction)
    }

    fn date_or_date_time(&mut self) -> Option<Literal> {
        let year = self.fixed_digits(4)?;
        self.expect_byte(b'-')?;
        let month = self.fixed_digits(2)?;
        self.expect_byte(b'-')?;
        let day = self.fixed_digits(2)?;
        let date = make_date(year as i32, month as u8, day as u8)?;
        if self.peek_byte(self.pos) != Some(b'T') {
            return Some(Literal::Date(date));
        }
        self.pos += 1;
        let time = self.time_of_day()?;
        let offset = match self.peek_byte(self.pos)? {
            b'Z' => {
                self.pos += 1;
                time::UtcOffset::UTC
            }
            sign @ (b'+' | b'-') => {
                self.pos += 1;
                let hours = self.fixed_digits(2)?;
                self.expect_byte(b':')?;
                let minutes = self.fixed_digits(2)?;
                make_offset(sign == b'-', hours as u8, minutes as u8)?
            }
            _ => return None,
        };
        Some(Literal::DateTimeOffset(
            time::PrimitiveDateTime::new(date, time).assume_offset(offset),
        ))
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
        let mut fraction = false;
        if self.peek_byte(at) == Some(b'.') && self.digit_at(at + 1) {
            fraction = true;
            at = skip_digits(at + 1);
        }
        let mut exponent = false;
        if matches!(self.peek_byte(at), Some(b'e' | b'E')) {
            let mut digits_at = at + 1;
            if matches!(self.peek_byte(digits_at), Some(b'+' | b'-')) {
                digits_at += 1;
            }
            if self.digit_at(digits_at) {
                exponent = true;
                at = skip_digits(digits_at);
            }
        }
        if self.char_at(at).is_some_and(is_ident_continue) {
            let end = self.ident_end(at);
            return Err(self.error(start, end, "a number"));
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
        assert_eq!((err.offset, err.found.as_str()), (5, "'2024-13-01'"));
        let err = tokenize("12abc").unwrap_err();
        assert_eq!((err.offset, err.found.as_str()), (0, "'12abc'"));
        let err = tokenize("a # b").unwrap_err();
        assert_eq!(err.offset, 2);
    }
}
