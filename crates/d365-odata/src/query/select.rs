//! `$select`: property paths, and the OData 4.01 forms Dataverse does not take (nested
//! options `A($select=B;$top=5)`, operation signatures `Model.Fn(P1,P2)`), parsed per
//! the ABNF and then refused as unsupported.

use super::SelectItem;
use crate::error::ParseError;
use crate::expr::Span;
use crate::expr::parser::Parser;
use crate::lexer::TokenKind;
use crate::limits::MAX_EXPAND_DEPTH;

/// Parses the selectOptions in the parentheses after a select path (`inner`, at `base` in the
/// whole value, `depth` levels deep): the `$expand` parser's, passed in because a nested
/// `$select` may hold a `$select` again.
pub(super) type SelectOptions<'a> = &'a dyn Fn(&str, usize, usize) -> Result<(), ParseError>;

/// The items of a `$select` value nested `depth` levels deep in `$select`/`$expand`
/// options.
pub(super) fn select_items(
    text: &str,
    depth: usize,
    options: SelectOptions<'_>,
) -> Result<Vec<SelectItem>, ParseError> {
    if depth >= MAX_EXPAND_DEPTH {
        return Err(ParseError::new(
            0,
            format!("at most {MAX_EXPAND_DEPTH} levels of nested options"),
            "a deeper $select",
            text,
        ));
    }
    let mut parser = Parser::new(text)?;
    let mut items = Vec::new();
    loop {
        if *parser.peek() == TokenKind::Star {
            parser.advance();
            items.push(SelectItem::All);
        } else {
            let (first, span) = segment(&mut parser, text, "a property name or '*'")?;
            if *parser.peek() == TokenKind::Dot && parser.span().start == span.end {
                // allOperationsInSchema = namespace "." STAR
                parser.advance();
                let star = parser.expect(TokenKind::Star, "'*' after the namespace")?;
                parser.note_unsupported(
                    Span::new(span.start, star.end),
                    "selecting all operations of a schema ('Namespace.*')",
                );
                items.push(SelectItem::All);
                if *parser.peek() == TokenKind::Comma {
                    parser.advance();
                    continue;
                }
                parser.expect_end("',' or end of input")?;
                return Ok(items);
            }
            let mut path = vec![first];
            while *parser.peek() == TokenKind::Slash {
                parser.advance();
                path.push(segment(&mut parser, text, "a property name after '/'")?.0);
            }
            if *parser.peek() == TokenKind::LParen {
                let open = parser.span().start;
                let (end, feature) = parens(text, open, depth, options)?;
                while parser.span().start < end && *parser.peek() != TokenKind::Eof {
                    parser.advance();
                }
                parser.note_unsupported(Span::new(span.start, end), feature);
            }
            items.push(SelectItem::Path(path));
        }
        match parser.peek() {
            TokenKind::Comma => {
                parser.advance();
            }
            _ => {
                parser.expect_end("',' or end of input")?;
                return Ok(items);
            }
        }
    }
}

/// The parentheses after a select path at `open`: parameter names (an operation
/// signature) or selectOptions; returns the offset after `)` and the feature refused.
fn parens(
    text: &str,
    open: usize,
    depth: usize,
    options: SelectOptions<'_>,
) -> Result<(usize, &'static str), ParseError> {
    let close = matching_paren(text, open)
        .ok_or_else(|| ParseError::new(text.len(), "')'", "end of input", text))?;
    let inner = &text[open + 1..close];
    if inner.is_empty() || inner.split(',').all(|p| super::is_identifier(p.trim())) {
        return Ok((close + 1, "operation signatures in $select (OData 4.01)"));
    }
    options(inner, open + 1, depth + 1).map_err(|e| e.rebase(open + 1, text))?;
    Ok((close + 1, "nested options in $select (OData 4.01)"))
}

/// The `)` closing the `(` at `open`, outside single-quoted strings.
fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let (mut depth, mut quoted) = (0usize, false);
    for (i, b) in text.bytes().enumerate().skip(open) {
        match b {
            b'\'' => quoted = !quoted,
            _ if quoted => {}
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A property name, or an annotation (`@Core.Messages`, primitiveAnnotationInQuery),
/// which is noted as unsupported.
fn segment(
    parser: &mut Parser<'_>,
    text: &str,
    expected: &str,
) -> Result<(String, Span), ParseError> {
    if *parser.peek() == TokenKind::Alias {
        let span = parser.annotation()?;
        return Ok((text[span.start..span.end].to_owned(), span));
    }
    parser.qualified_name(expected)
}
