//! Valid OData 4.01 that Dataverse does not take: parsed per the ABNF, so a syntax
//! error anywhere in the text is still reported where it is, then refused as
//! unsupported (see [`Parser::note_unsupported`]).

use super::Parser;
use crate::error::{ParseError, describe};
use crate::expr::{Arg, Expr, ExprKind, Span};
use crate::lexer::TokenKind;
use crate::literal::Literal;

/// Why `$filter(...)` and `$count(...)` segments in expressions are refused.
const FILTERED_COLLECTIONS: &str = "filtered collections in expressions (/$filter(...), /$count(...), OData 4.01): not in Dataverse";

/// Why geo literals are refused.
const GEO_LITERALS: &str = "geo literals: Dataverse has no spatial types";

impl Parser<'_> {
    /// An annotation at the current `@[Namespace.]Term[#Qualifier]` (annotationExpr,
    /// annotationInQuery); returns its span.
    pub(crate) fn annotation(&mut self) -> Result<Span, ParseError> {
        let at = self.advance();
        let mut end = at.end;
        while *self.peek() == TokenKind::Dot && self.glued(0) {
            self.advance();
            if *self.peek() != TokenKind::Ident || !self.glued(0) {
                return Err(self.error_here("the annotation term after '.'"));
            }
            end = self.advance().end;
        }
        if *self.peek() == TokenKind::Hash && self.glued(0) {
            self.advance();
            if *self.peek() != TokenKind::Ident || !self.glued(0) {
                return Err(self.error_here("an annotation qualifier after '#'"));
            }
            end = self.advance().end;
        }
        let span = Span::new(at.start, end);
        self.note_unsupported(span, "annotations in expressions (OData 4.01)");
        Ok(span)
    }

    /// `Namespace.Function(...)` (boundFunctionExpr) or a key predicate under `$root/`
    /// inside a member path; returns the span of the parentheses.
    pub(super) fn segment_call(&mut self, segment: &str, root: &str) -> Result<Span, ParseError> {
        match segment {
            "$filter" => return self.filter_segment(),
            "$count" => return self.count_options(),
            _ => {}
        }
        let start = self.span().start;
        let (_, span) = self.call_args()?;
        if root != "$root" {
            let what = "bound function calls in expressions: Dataverse $filter calls canonical and query functions only";
            let name_start = start - segment.len();
            self.note_unsupported(Span::new(name_start, span.end), what);
        }
        Ok(span)
    }

    /// `/$filter(boolCommonExpr)` in a member path (filterExpr), with the key
    /// predicates that may follow it; returns the span from `(` on.
    #[inline(never)]
    fn filter_segment(&mut self) -> Result<Span, ParseError> {
        let open = self.advance();
        self.parse_expr(0)?;
        let mut end = self.expect(TokenKind::RParen, "')'")?.end;
        while *self.peek() == TokenKind::LParen && self.glued(0) {
            end = self.call_args()?.1.end;
        }
        let span = Span::new(open.start - "$filter".len(), end);
        self.note_unsupported(span, FILTERED_COLLECTIONS);
        Ok(Span::new(open.start, end))
    }

    /// `/$count( expandCountOption *( SEMI expandCountOption ) )`, where
    /// `expandCountOption = filter / search`; returns the span of the parentheses.
    #[inline(never)]
    fn count_options(&mut self) -> Result<Span, ParseError> {
        let open = self.advance();
        loop {
            let option = self.text(self.span());
            let is_option = matches!(option, "$filter" | "$search")
                && self.token_at(1).kind == TokenKind::Equals;
            if !is_option {
                return Err(self.error_here("$filter= or $search="));
            }
            self.advance();
            self.advance();
            if option == "$filter" {
                self.parse_expr(0)?;
            } else {
                self.search_until_close()?;
            }
            match self.peek() {
                TokenKind::Semicolon => {
                    self.advance();
                }
                _ => break,
            }
        }
        let close = self.expect(TokenKind::RParen, "';' or ')'")?;
        let span = Span::new(open.start - "$count".len(), close.end);
        self.note_unsupported(span, FILTERED_COLLECTIONS);
        Ok(Span::new(open.start, close.end))
    }

    /// A `$search` value inside `$count(...)`: the tokens up to the `;` or `)` that
    /// ends it, checked with the `$search` grammar.
    fn search_until_close(&mut self) -> Result<(), ParseError> {
        let start = self.span().start;
        let mut depth = 0usize;
        loop {
            match self.peek() {
                TokenKind::Eof => break,
                TokenKind::Semicolon if depth == 0 => break,
                TokenKind::RParen if depth == 0 => break,
                TokenKind::RParen => depth -= 1,
                TokenKind::LParen => depth += 1,
                _ => {}
            }
            self.advance();
        }
        let end = self.span().start;
        let text = self.input[start..end].trim_end();
        crate::query::check_search(text).map_err(|e| e.rebase(start, self.input))
    }

    /// `geo.distance(a,b)`, `geo.intersects(a,b)`, `geo.length(a)` at the current `(`;
    /// `None` (a function of the model, named `geo.*`) when the arguments are named
    /// or absent, as functionExprParameters has them.
    #[inline(never)]
    pub(super) fn geo_call(&mut self, name: &str, first: Span) -> Option<Result<Expr, ParseError>> {
        let arity = match name.to_ascii_lowercase().as_str() {
            "geo.distance" | "geo.intersects" => 2,
            "geo.length" => 1,
            _ => return None,
        };
        let next = &self.token_at(1).kind;
        let named = *next == TokenKind::Ident && self.token_at(2).kind == TokenKind::Equals;
        if named || *next == TokenKind::RParen {
            return None;
        }
        Some(self.geo_args(name, arity, first))
    }

    fn geo_args(&mut self, name: &str, arity: usize, first: Span) -> Result<Expr, ParseError> {
        self.advance();
        let mut args = Vec::with_capacity(arity);
        for i in 0..arity {
            if i > 0 {
                self.expect(TokenKind::Comma, "',' and the next argument")?;
            }
            args.push(Arg::Positional(self.parse_expr(0)?));
        }
        let close = self.expect(TokenKind::RParen, "')'")?;
        let span = Span::new(first.start, close.end);
        self.note_unsupported(span, "geo functions: Dataverse has no spatial types");
        let name = name.to_owned();
        Ok(Expr::with_span(ExprKind::Call { name, args }, span))
    }

    /// `case(cond:value, ...)` (caseExpr, OData 4.01) at the current `(`; stands in as
    /// `null`.
    pub(super) fn case_expr(&mut self, name: Span) -> Result<Expr, ParseError> {
        self.advance();
        loop {
            self.parse_expr(0)?;
            self.expect(TokenKind::Colon, "':' after the condition")?;
            self.parse_expr(0)?;
            match self.peek() {
                TokenKind::Comma => {
                    self.advance();
                }
                _ => break,
            }
        }
        let close = self.expect(TokenKind::RParen, "',' or ')'")?;
        let span = Span::new(name.start, close.end);
        self.note_unsupported(span, "case() (OData 4.01)");
        Ok(Expr::with_span(ExprKind::Literal(Literal::Null), span))
    }

    /// `binary'...'`, `geography'...'`, `geometry'...'` (literals Dataverse has no type
    /// for); `None` for a prefix this function does not know.
    pub(super) fn unsupported_literal(
        &mut self,
        prefix: &str,
        text: &str,
        prefix_span: Span,
        quoted: Span,
    ) -> Result<Option<Literal>, ParseError> {
        if ["geography", "geometry"]
            .iter()
            .any(|p| prefix.eq_ignore_ascii_case(p))
        {
            if let Err((i, expected)) = crate::literal::geo::check(text) {
                let found = describe(self.text(quoted));
                return Err(ParseError::new(
                    quoted.start + 1 + i,
                    expected,
                    found,
                    self.input,
                ));
            }
            self.note_unsupported(Span::new(prefix_span.start, quoted.end), GEO_LITERALS);
            return Ok(Some(Literal::String(text.to_owned())));
        }
        if !prefix.eq_ignore_ascii_case("binary") {
            return Ok(None);
        }
        if let Some(i) = base64url_error(text) {
            let found = describe(self.text(quoted));
            return Err(ParseError::new(
                quoted.start + 1 + i,
                "base64url data (binaryValue)",
                found,
                self.input,
            ));
        }
        self.note_unsupported(
            Span::new(prefix_span.start, quoted.end),
            "binary literals: Dataverse has no binary comparisons in $filter",
        );
        Ok(Some(Literal::String(text.to_owned())))
    }
}

/// Where `text` stops matching `binaryValue = *(4base64char) [ base64b16 / base64b8 ]`.
fn base64url_error(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let is_char = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_');
    let run = b.iter().take_while(|c| is_char(c)).count();
    let whole = run - run % 4;
    let tail = &b[whole..];
    let tail_len = tail.iter().take_while(|c| is_char(c)).count();
    let ok_end = match tail_len {
        0 => whole,
        // base64b8 = base64char ( "A" / "Q" / "g" / "w" ) [ "==" ]
        2 if b"AQgw".contains(&tail[1]) => {
            whole + 2 + if tail[2..].starts_with(b"==") { 2 } else { 0 }
        }
        // base64b16 = 2base64char ( "A" / "E" / ... / "8" ) [ "=" ]
        3 if b"AEIMQUYcgkosw048".contains(&tail[2]) => {
            whole + 3 + usize::from(tail.get(3) == Some(&b'='))
        }
        // The four-character groups read as far as the run goes, then fail.
        _ => return Some(run),
    };
    (ok_end < b.len()).then_some(ok_end)
}

#[cfg(test)]
mod tests {
    use super::base64url_error;

    #[test]
    fn base64url() {
        assert_eq!(base64url_error("T0RhdGE="), None);
        assert_eq!(base64url_error("T0RhdGE"), None);
        assert_eq!(base64url_error("T0Rh"), None);
        assert_eq!(base64url_error(""), None);
        assert_eq!(base64url_error("T0RhZ"), Some(5));
        assert_eq!(base64url_error("T0R+"), Some(3));
    }
}
