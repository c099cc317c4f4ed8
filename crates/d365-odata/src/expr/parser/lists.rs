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
            TokenKind::Literal(lit) => lit,
            TokenKind::LBracket => return self.array(),
            TokenKind::Ident if keyword_literal(self.text(span)).is_some() => {
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
