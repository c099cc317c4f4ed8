//! OData 4.01 path segments Dataverse does not have: parsed per the ABNF so a syntax
//! error is still reported where it is, then refused as unsupported by
//! [`super::parse_resource_path`], which reads on to the end of the path first.

use crate::error::{ParseError, describe};
use crate::expr::parser::Parser;
use crate::lexer::TokenKind;

/// Why a key-as-segment path is refused.
pub(super) const KEY_AS_SEGMENT: &str =
    "key-as-segment (OData 4.01 keyPathSegments): Dataverse takes keys in parentheses";

/// Where a segment sits in the path: its index and the number of segments.
#[derive(Clone, Copy)]
pub(super) struct Place<'a> {
    pub index: usize,
    pub count: usize,
    /// The decoded segment after this one.
    pub next: Option<&'a str>,
}

impl Place<'_> {
    fn first(self) -> bool {
        self.index == 0
    }

    fn last(self) -> bool {
        self.index + 1 == self.count
    }
}

/// `$all`, `$crossjoin(...)`, `$query`, `$each` or `$filter(...)` at `place`: the
/// feature to refuse it as when it is valid there, a syntax error when not, `None`
/// when `text` is none of them.
pub(super) fn dollar_segment(
    text: &str,
    place: Place<'_>,
) -> Option<Result<&'static str, ParseError>> {
    let fail = |at: usize, expected: &str| {
        Err(ParseError::new(
            at,
            expected,
            describe(text.get(at..).unwrap_or("")),
            text,
        ))
    };
    // Only a `/`-segment may follow: the ABNF stops at the '/' after this one.
    let nothing_after = |ok: &'static str| match place.last() {
        true => Ok(ok),
        false => fail(text.len(), "the end of the path"),
    };
    Some(match text {
        "$all" if place.first() => match place.count {
            // `$all [ "/" optionallyQualifiedEntityTypeName ]` is checked by the caller.
            1 | 2 => Ok("$all (OData 4.01): not in Dataverse"),
            _ => fail(text.len(), "the end of the path"),
        },
        "$query" if !place.first() => {
            nothing_after("POST .../$query (OData 4.01): not in Dataverse")
        }
        "$each" if !place.first() => Ok("$each (OData 4.01): not in Dataverse"),
        _ if text.starts_with("$crossjoin") && place.first() => crossjoin(text).and_then(|()| {
            // crossjoin [ querySegment ]
            match place.next {
                None | Some("$query") if place.count <= 2 => {
                    Ok("$crossjoin (OData 4.01): not in Dataverse")
                }
                _ => fail(text.len(), "the end of the path or /$query"),
            }
        }),
        _ if text.starts_with("$filter") && !place.first() => {
            filter_in_path(text).map(|()| "$filter path segments (OData 4.01): not in Dataverse")
        }
        _ => return None,
    })
}

/// `crossjoin = "$crossjoin" OPEN entitySetName *( COMMA entitySetName ) CLOSE`
fn crossjoin(text: &str) -> Result<(), ParseError> {
    let mut parser = Parser::new(text)?;
    parser.advance();
    parser.expect(TokenKind::LParen, "'(' after $crossjoin")?;
    loop {
        if *parser.peek() != TokenKind::Ident || parser.at_reserved_word() {
            return Err(parser.error_here("an entity set name"));
        }
        parser.advance();
        if *parser.peek() != TokenKind::Comma {
            break;
        }
        parser.advance();
    }
    parser.expect(TokenKind::RParen, "',' or ')'")?;
    parser.expect_end("the end of the segment")
}

/// `filterInPath = "/$filter" OPEN boolCommonExpr CLOSE`
fn filter_in_path(text: &str) -> Result<(), ParseError> {
    let mut parser = Parser::new(text)?;
    if !matches!(parser.peek(), TokenKind::Ident) || !text.starts_with("$filter(") {
        return Err(ParseError::new(
            7,
            "'(' after $filter",
            describe(&text[7..]),
            text,
        ));
    }
    parser.advance();
    parser.expect(TokenKind::LParen, "'(' after $filter")?;
    parser.parse_expr(0)?;
    parser.expect(TokenKind::RParen, "')'")?;
    parser.expect_end("the end of the segment")
}

/// Whether a raw (still percent-encoded) segment that is no valid name, call or key
/// predicate reads as a `keyPathLiteral = *pchar`. Which one a segment is depends on
/// the model; without it, a segment that starts like `name(` is taken as a malformed
/// call or key predicate, so its syntax error is reported where it is.
pub(super) fn is_key_path_literal(raw: &str) -> bool {
    let name = raw
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
        .count();
    if name > 0 && raw.as_bytes().get(name) == Some(&b'(') {
        return false;
    }
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        let pchar = c.is_ascii_alphanumeric() || b"-._~$&'=!()*+,;:@".contains(&c);
        if !pchar {
            return false;
        }
        i += 1;
    }
    !raw.is_empty()
}
