//! The lists of an expression: `in (...)` and JSON arrays.

use super::{Parser, keyword_literal};
use crate::error::{ParseError, describe};
use crate::expr::{Expr, ExprKind, Span};
use crate::lexer::TokenKind;
use crate::literal::Literal;

impl Parser<'_> {
    /// The right side of `in`: `(expr, ...)` or a JSON array.
    pub(super) fn in_list(&mut self) -> Result<(Vec<Expr>, usize), ParseError> {
        match self.peek() {
            TokenKind::LParen => {
                self.advance();
                let mut list = Vec::new();
                if *self.peek() != TokenKind::RParen {
                    loop {
                        let item = self.parse_expr(0)?;
                        let more = *self.peek() == TokenKind::Comma;
                        list.push(item);
                        if !more {
                            break;
                        }
                        self.advance();
                    }
                }
                let end = self.expect(TokenKind::RParen, "',' or ')'")?.end;
                // listExpr holds primitive literals only; one parenthesised expression is
                // a parenExpr instead (`x in (CollectionProperty)`).
                let literal = |e: &Expr| matches!(&e.kind, ExprKind::Literal(l) if !matches!(l, Literal::Array(_)));
                if list.len() > 1
                    && let Some(bad) = list.iter().find(|e| !literal(e))
                {
                    let at = bad.span.start.max(list[0].span.end);
                    let found = describe(&self.input[bad.span.start..bad.span.end]);
                    return Err(ParseError::new(
                        at,
                        "a primitive literal in the list",
                        found,
                        self.input,
                    ));
                }
                Ok((list, end))
            }
            TokenKind::LBracket => {
                self.advance();
                let mut list = Vec::new();
                let end = self.json_items(|lit, span| {
                    list.push(Expr::with_span(ExprKind::Literal(lit), span))
                })?;
                Ok((list, end))
            }
            _ => Err(self.error_here("'(' or '[' after 'in'")),
        }
    }

    /// A JSON array literal starting at `[`.
    pub(super) fn array(&mut self) -> Result<(Literal, Span), ParseError> {
        let start = self.advance().start;
        let mut items = Vec::new();
        let end = self.json_items(|lit, _| items.push(lit))?;
        Ok((Literal::Array(items), Span::new(start, end)))
    }

    /// Whether the token `ahead` ends a JSON array item or object member.
    fn value_ends_at(&self, ahead: usize) -> bool {
        matches!(
            self.token_at(ahead).kind,
            TokenKind::Comma | TokenKind::RBracket | TokenKind::RBrace | TokenKind::Eof
        )
    }

    /// `arrayOrObject` at the current `[` or `{`.
    pub(super) fn array_or_object(&mut self) -> Result<(Literal, Span), ParseError> {
        match self.peek() {
            TokenKind::LBrace => self.object(),
            _ => self.array(),
        }
    }

    /// `object = begin-object [ member *( value-separator member ) ] end-object`, where
    /// `member = stringInUrl name-separator valueInUrl`: valid OData 4.01 (complex
    /// values, entity references) that Dataverse does not take; parsed, noted, and
    /// standing in as `null`.
    fn object(&mut self) -> Result<(Literal, Span), ParseError> {
        let start = self.advance().start;
        self.enter()?;
        let mut end = None;
        if *self.peek() == TokenKind::RBrace {
            end = Some(self.advance().end);
        }
        while end.is_none() {
            if !matches!(self.peek(), TokenKind::JsonString(_)) {
                return Err(self.error_here("a member name in double quotes"));
            }
            self.advance();
            self.expect(TokenKind::Colon, "':' after the member name")?;
            self.json_value()?;
            match self.peek() {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::RBrace => end = Some(self.advance().end),
                _ => return Err(self.error_here("',' or '}'")),
            }
        }
        self.depth -= 1;
        let span = Span::new(start, end.unwrap_or(start));
        self.note_unsupported(
            span,
            "JSON objects in URLs (complex values, entity references; OData 4.01 arrayOrObject)",
        );
        Ok((Literal::Null, span))
    }

    /// Array items after the `[`, through the `]`; returns the end offset.
    fn json_items(&mut self, mut push: impl FnMut(Literal, Span)) -> Result<usize, ParseError> {
        self.enter()?;
        if *self.peek() == TokenKind::RBracket {
            self.depth -= 1;
            return Ok(self.advance().end);
        }
        loop {
            let (lit, span) = self.json_value()?;
            push(lit, span);
            match self.peek() {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::RBracket => {
                    self.depth -= 1;
                    return Ok(self.advance().end);
                }
                _ => return Err(self.error_here("',' or ']'")),
            }
        }
    }

    /// One array item: a JSON string, a primitive literal or a nested array. Any other
    /// expression is valid OData 4.01 (`valueInUrl = stringInUrl / commonExpr`) that
    /// Dataverse does not take; it is parsed, noted, and stands in as `null`.
    fn json_value(&mut self) -> Result<(Literal, Span), ParseError> {
        let span = self.span();
        let lit = match self.peek().clone() {
            TokenKind::JsonString(s) => Literal::String(s),
            // A literal followed by an operator is an expression (`[1, 2 add 3]`).
            TokenKind::Literal(lit) if self.value_ends_at(1) => lit,
            TokenKind::LBracket | TokenKind::LBrace => return self.array_or_object(),
            TokenKind::Ident
                if self.value_ends_at(1) && keyword_literal(self.text(span)).is_some() =>
            {
                keyword_literal(self.text(span)).unwrap_or(Literal::Null)
            }
            TokenKind::Minus
                if self.token_at(1).span.start == span.end
                    && self.token_at(1).kind == TokenKind::Ident
                    && self.text(self.token_at(1).span) == "INF" =>
            {
                let next = self.token_at(1).span;
                self.advance();
                self.advance();
                return Ok((
                    Literal::Double(f64::NEG_INFINITY),
                    Span::new(span.start, next.end),
                ));
            }
            TokenKind::RBracket | TokenKind::Comma | TokenKind::Eof => {
                return Err(self.error_here("a JSON value"));
            }
            _ => {
                let expr = self.parse_expr(0)?;
                if let ExprKind::Literal(lit) = expr.kind {
                    return Ok((lit, expr.span));
                }
                self.note_unsupported(
                    expr.span,
                    "expressions inside JSON arrays (OData 4.01): Dataverse takes arrays of literals",
                );
                return Ok((Literal::Null, expr.span));
            }
        };
        self.advance();
        Ok((lit, span))
    }
}
