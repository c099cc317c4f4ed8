//! Precedence-climbing parser for `$filter` and `$orderby` (see the parent
//! module for the precedence table).

use super::{
    Arg, BinaryOp, Expr, ExprKind, LambdaOp, OrderBy, Span, UnaryOp, is_reserved_word, prec,
};
use crate::error::{ParseError, describe};
use crate::lexer::{Token, TokenKind, tokenize_lazily};
use crate::literal::{Literal, duration_error, is_valid_duration};

/// Parses a `$filter` value (the decoded text) into an expression.
///
/// The whole text must be consumed. Errors carry the byte offset of the
/// offending token, e.g. `name eq` fails with
/// `expected an expression, found end of input at offset 7`.
///
/// ```
/// let expr = d365_odata::parse_filter("not contains(name,'x') and revenue gt 1000").unwrap();
/// assert_eq!(
///     expr.to_string(),
///     r#"(and (not (call contains (id name) "x")) (gt (id revenue) 1000))"#
/// );
/// ```
pub fn parse_filter(text: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(text)?;
    let expr = parser.parse_expr(0)?;
    parser.expect_end("an operator or end of input")?;
    Ok(expr)
}

/// Parses one primitive literal in its URL form (the decoded text), e.g.
/// `2024-01-31`, `'O''Neil'`, `duration'P1D'`, `-INF` or
/// `Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'`.
///
/// ```
/// use d365_odata::{Literal, parse_literal};
/// assert_eq!(parse_literal("'O''Neil'").unwrap(), Literal::String("O'Neil".into()));
/// assert!(parse_literal("name").is_err());
/// ```
pub fn parse_literal(text: &str) -> Result<Literal, ParseError> {
    let mut parser = Parser::new(text)?;
    let start = parser.span().start;
    let expr = parser.parse_expr(prec::PRIMARY)?;
    match expr.kind {
        ExprKind::Literal(lit) => {
            parser.expect_end("end of input after the literal")?;
            Ok(lit)
        }
        _ => Err(ParseError::new(
            start,
            "a literal",
            describe(&text[start..]),
            text,
        )),
    }
}

/// Parses an `$orderby` value: comma-separated expressions, each optionally
/// followed by `asc` or `desc`.
pub fn parse_orderby(text: &str) -> Result<Vec<OrderBy>, ParseError> {
    let mut parser = Parser::new(text)?;
    let mut items = Vec::new();
    loop {
        let expr = parser.parse_expr(0)?;
        let direction = ["asc", "desc"].into_iter().find(|w| parser.at_keyword(w));
        if direction.is_some() {
            parser.advance();
        }
        items.push(OrderBy {
            expr,
            descending: direction == Some("desc"),
        });
        match parser.peek() {
            TokenKind::Comma => {
                parser.advance();
            }
            TokenKind::Eof => {
                parser.expect_end("',' or end of input")?;
                return Ok(items);
            }
            _ if direction.is_some() => return Err(parser.error_here("',' or end of input")),
            _ => return Err(parser.error_here("an operator, 'asc', 'desc', ',' or end of input")),
        }
    }
}

mod lists;
mod unsupported;

/// Deep enough for any real filter, shallow enough not to overflow the stack.
const MAX_DEPTH: u32 = 100;

/// Most binary operators in one expression (use `in (…)` for long lists of values).
const MAX_OPERATORS: u32 = 500;

/// A cursor over the tokens of one text. Also used by the `$select`, key
/// predicate and function-call parsers of sibling modules.
#[derive(Debug)]
pub(crate) struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: u32,
    /// Binary and `in` nodes built so far: a left-deep chain is as tall as it is long, and
    /// every walker (printer, binders, drop) recurses once per level.
    operators: u32,
    /// A lexical error after the last token, reported only if the parser gets there.
    lex_error: Option<ParseError>,
    /// The first valid-but-unsupported construct met; parsing goes on past it so that a
    /// syntax error later in the text still wins (see [`Parser::expect_end`]).
    unsupported: Option<ParseError>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(input: &'a str) -> Result<Self, ParseError> {
        let (tokens, lex_error) = tokenize_lazily(input);
        Ok(Self {
            input,
            tokens,
            pos: 0,
            depth: 0,
            operators: 0,
            lex_error,
            unsupported: None,
        })
    }

    /// Records valid OData that Dataverse does not support (the first one wins).
    pub(crate) fn note_unsupported(&mut self, span: Span, feature: &str) {
        if self.unsupported.is_none() {
            let found = describe(self.text(span));
            self.unsupported = Some(ParseError::unsupported(
                span.start, feature, found, self.input,
            ));
        }
    }

    fn token_at(&self, ahead: usize) -> &Token {
        // The last token is always Eof, so clamp instead of failing.
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + ahead).min(last)]
    }

    pub(crate) fn peek(&self) -> &TokenKind {
        &self.token_at(0).kind
    }

    pub(crate) fn span(&self) -> Span {
        self.token_at(0).span
    }

    fn text(&self, span: Span) -> &'a str {
        &self.input[span.start..span.end]
    }

    /// Consumes the current token (never moves past Eof) and returns its span.
    pub(crate) fn advance(&mut self) -> Span {
        let span = self.span();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        span
    }

    pub(crate) fn at_reserved_word(&self) -> bool {
        *self.peek() == TokenKind::Ident && is_reserved_word(self.text(self.span()))
    }

    /// The current token is the identifier `word`.
    pub(crate) fn at_word(&self, word: &str) -> bool {
        *self.peek() == TokenKind::Ident && self.text(self.span()) == word
    }

    /// The current token is the keyword `word` (lower case) in any case; another case
    /// is noted as unsupported (ABNF literals match any case, Dataverse lower case only).
    pub(crate) fn at_keyword(&mut self, word: &str) -> bool {
        let span = self.span();
        let hit = *self.peek() == TokenKind::Ident && self.text(span).eq_ignore_ascii_case(word);
        if hit && self.text(span) != word {
            self.note_unsupported(span, UPPER_CASE);
        }
        hit
    }

    /// The token `ahead` positions on can start an operand (so a word before it is a
    /// prefix operator, not a property named like one).
    fn starts_operand(&self, ahead: usize) -> bool {
        let token = self.token_at(ahead);
        match &token.kind {
            TokenKind::Ident => {
                // `not eq 1` compares a property named `not`; `not NE` negates `NE`.
                let word = self.text(token.span);
                BinaryOp::from_keyword(word).is_none() && !matches!(word, "in" | "asc" | "desc")
            }
            TokenKind::Literal(_)
            | TokenKind::Alias
            | TokenKind::LParen
            | TokenKind::LBracket
            | TokenKind::Minus => true,
            _ => false,
        }
    }

    /// The token `ahead` positions on starts right where the one before it ends
    /// (`glued(0)`: the current token touches the one just consumed).
    fn glued(&self, ahead: usize) -> bool {
        let Some(prev) = (self.pos + ahead).checked_sub(1) else {
            return false;
        };
        let prev_end = self.tokens[prev.min(self.tokens.len() - 1)].span.end;
        self.token_at(ahead).span.start == prev_end
    }

    pub(crate) fn error_here(&self, expected: &str) -> ParseError {
        if let Some(error) = self.lex_error.as_ref().filter(|_| self.at_last()) {
            return error.clone();
        }
        let span = self.span();
        ParseError::new(span.start, expected, describe(self.text(span)), self.input)
    }

    pub(crate) fn expect(&mut self, kind: TokenKind, what: &str) -> Result<Span, ParseError> {
        if *self.peek() == kind {
            Ok(self.advance())
        } else {
            Err(self.error_here(what))
        }
    }

    fn at_last(&self) -> bool {
        self.pos >= self.tokens.len() - 1
    }

    /// The whole text has been read. Ends every parse: a lexical error at the end, or
    /// the first unsupported construct met on the way, is reported here.
    pub(crate) fn expect_end(&self, expected: &str) -> Result<(), ParseError> {
        match self.peek() {
            TokenKind::Eof if self.lex_error.is_none() => match &self.unsupported {
                Some(error) => Err(error.clone()),
                None => Ok(()),
            },
            _ => Err(self.error_here(expected)),
        }
    }

    /// `Ident ( "." Ident )*` with no spaces around the dots.
    pub(crate) fn qualified_name(&mut self, what: &str) -> Result<(String, Span), ParseError> {
        if *self.peek() != TokenKind::Ident {
            return Err(self.error_here(what));
        }
        let start = self.advance();
        let mut end = start.end;
        while *self.peek() == TokenKind::Dot
            && self.span().start == end
            && self.token_at(1).kind == TokenKind::Ident
            && self.glued(1)
        {
            self.advance();
            end = self.advance().end;
        }
        let span = Span::new(start.start, end);
        Ok((self.text(span).to_owned(), span))
    }

    /// Counts one more operator node against [`MAX_OPERATORS`].
    fn count_operator(&mut self) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.error_here(
                "at most 500 operators in one expression (use `in (...)` for long lists)",
            ));
        }
        Ok(())
    }

    /// Guards recursion; every successful `enter` is paired with `depth -= 1`.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("an expression nested less deeply"));
        }
        Ok(())
    }

    /// An expression whose operators bind at least as tight as `min`.
    pub(crate) fn parse_expr(&mut self, min: u8) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut lhs = self.parse_unary()?;
        while *self.peek() == TokenKind::Ident {
            // ABNF string literals match any case, so `Name EQ 'x'` is valid OData 4.01;
            // Dataverse takes lower-case operators only.
            let span = self.span();
            let written = self.text(span);
            let word = operator_keyword(written).unwrap_or(written);
            if word != written {
                self.note_unsupported(span, UPPER_CASE);
            }
            if word == "in" {
                if prec::RELATIONAL < min {
                    break;
                }
                self.count_operator()?;
                self.advance();
                let (list, end) = self.in_list()?;
                let span = Span::new(lhs.span.start, end);
                let kind = ExprKind::In {
                    lhs: Box::new(lhs),
                    list,
                };
                lhs = Expr::with_span(kind, span);
                continue;
            }
            let Some(op) = BinaryOp::from_keyword(word) else {
                break;
            };
            if op.precedence() < min {
                break;
            }
            self.count_operator()?;
            self.advance();
            // Left associativity: the right side only takes tighter operators.
            let rhs = self.parse_expr(op.precedence() + 1)?;
            let span = Span::new(lhs.span.start, rhs.span.end);
            let kind = ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
            lhs = Expr::with_span(kind, span);
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> Result<Expr, ParseError> {
        let start = self.span().start;
        // `noT in (…)` reads a property named `noT`: only a `not` that negates is a keyword.
        let op = if self.starts_operand(1) && self.at_keyword("not") {
            UnaryOp::Not
        } else if *self.peek() == TokenKind::Minus {
            UnaryOp::Neg
        } else {
            return self.parse_primary();
        };
        self.advance();
        let operand = match op {
            UnaryOp::Neg if self.at_word("INF") && self.glued(0) => {
                // `-INF` is one literal, not the negation of `INF`.
                let end = self.advance().end;
                let lit = ExprKind::Literal(Literal::Double(f64::NEG_INFINITY));
                return Ok(Expr::with_span(lit, Span::new(start, end)));
            }
            UnaryOp::Neg => {
                self.enter()?;
                let operand = self.parse_unary()?;
                self.depth -= 1;
                operand
            }
            // `not` takes a whole comparison: `not a eq 1` is `not (a eq 1)`.
            UnaryOp::Not => self.parse_expr(prec::EQUALITY)?,
        };
        let span = Span::new(start, operand.span.end);
        let kind = ExprKind::Unary {
            op,
            operand: Box::new(operand),
        };
        Ok(Expr::with_span(kind, span))
    }

    fn parse_primary(&mut self) -> Result<Expr, ParseError> {
        let span = self.span();
        match self.peek().clone() {
            TokenKind::Literal(lit) => {
                self.advance();
                Ok(Expr::with_span(ExprKind::Literal(lit), span))
            }
            // `@p1` alone is a parameter alias; with a namespace, a qualifier or a path
            // after it, an annotation (`@Core.Messages/any(...)`).
            TokenKind::Alias
                if matches!(
                    self.token_at(1).kind,
                    TokenKind::Dot | TokenKind::Hash | TokenKind::Slash
                ) && self.glued(1) =>
            {
                self.parse_name()
            }
            TokenKind::Alias => {
                self.advance();
                let name = self.text(span)[1..].to_owned();
                Ok(Expr::with_span(ExprKind::Alias(name), span))
            }
            TokenKind::LParen => {
                self.advance();
                let inner = self.parse_expr(0)?;
                let close = self.expect(TokenKind::RParen, "')'")?;
                Ok(Expr::with_span(
                    inner.kind,
                    Span::new(span.start, close.end),
                ))
            }
            TokenKind::LBracket | TokenKind::LBrace => {
                let (lit, span) = self.array_or_object()?;
                Ok(Expr::with_span(ExprKind::Literal(lit), span))
            }
            TokenKind::Ident => self.parse_name(),
            _ => Err(self.error_here("an expression")),
        }
    }

    /// Everything that starts with an identifier: keyword literals, `$it`,
    /// `duration'..'`, enum literals, calls, member paths and lambdas.
    fn parse_name(&mut self) -> Result<Expr, ParseError> {
        let first = self.span();
        // One function for the whole path keeps the stack frames per nesting level (a
        // lambda inside a lambda) as few as the depth budget was measured with.
        let (mut path, so_far) = if *self.peek() == TokenKind::Alias {
            // An annotation as the first member: `@Core.Messages/any(...)`.
            let span = self.annotation()?;
            (vec![self.text(span).to_owned()], span)
        } else {
            // The cold branches live in their own functions, so this frame, which every
            // nesting level (a call in a call, a lambda in a lambda) pays for, stays small.
            if let Some(done) = self.name_leaf(first) {
                return done;
            }
            let (name, name_span) = self.qualified_name("an expression")?;
            if let Some(done) = self.after_name(&name, name_span, first) {
                return done;
            }
            if *self.peek() == TokenKind::LParen {
                if name == "any" || name == "all" {
                    // A lambda needs the collection it ranges over: `Products/any(...)`.
                    return Err(self.error_here("a collection path before the lambda operator"));
                }
                let (args, args_span) = self.call_args()?;
                let span = Span::new(first.start, args_span.end);
                return Ok(Expr::with_span(ExprKind::Call { name, args }, span));
            }
            (vec![name], Span::new(first.start, name_span.end))
        };
        let first = so_far;
        let mut end = so_far.end;
        while *self.peek() == TokenKind::Slash {
            self.advance();
            let is_lambda = (self.at_word("any") || self.at_word("all"))
                && self.token_at(1).kind == TokenKind::LParen;
            if is_lambda {
                return self.lambda(path, first.start);
            }
            if *self.peek() == TokenKind::Alias {
                end = self.annotation()?.end;
                continue;
            }
            if self.at_reserved_word() {
                return Err(self.error_here("a property name after '/'"));
            }
            let (segment, span) = self.qualified_name("a property name after '/'")?;
            end = span.end;
            // OData 4.01 lets a bound function go unqualified (`Items/MostPopularName()`).
            if *self.peek() == TokenKind::LParen {
                end = self.segment_call(&segment, &path[0])?.end;
            }
            path.push(segment);
        }
        Ok(Expr::with_span(
            ExprKind::Member(path),
            Span::new(first.start, end),
        ))
    }

    /// A name that is a whole expression by itself: a keyword literal (in any case),
    /// `$it`; or a reserved word where an expression belongs. `$this`/`$root` are noted.
    #[inline(never)]
    fn name_leaf(&mut self, first: Span) -> Option<Result<Expr, ParseError>> {
        let word = self.text(first);
        if let Some(lower) = ["null", "true", "false"]
            .into_iter()
            .find(|k| word.eq_ignore_ascii_case(k) && word != *k)
        {
            self.note_unsupported(first, UPPER_CASE);
            let lit = keyword_literal(lower).unwrap_or(Literal::Null);
            self.advance();
            return Some(Ok(Expr::with_span(ExprKind::Literal(lit), first)));
        }
        if let Some(lit) = keyword_literal(word) {
            self.advance();
            return Some(Ok(Expr::with_span(ExprKind::Literal(lit), first)));
        }
        if is_reserved_word(word) {
            return Some(Err(self.error_here("an expression")));
        }
        if matches!(word, "$this" | "$root") {
            self.note_unsupported(first, "$this and $root in expressions (OData 4.01)");
        }
        if word == "$it" && self.token_at(1).kind != TokenKind::Slash {
            self.advance();
            return Some(Ok(Expr::with_span(ExprKind::It, first)));
        }
        None
    }

    /// What may follow a name before a call or path: a quoted value (`duration'P1D'`,
    /// an enum member, `binary'..'`), or `case(`.
    #[inline(never)]
    fn after_name(
        &mut self,
        name: &str,
        name_span: Span,
        first: Span,
    ) -> Option<Result<Expr, ParseError>> {
        if let TokenKind::Literal(Literal::String(text)) = self.peek()
            && self.glued(0)
        {
            let text = text.clone();
            let lit = match self.prefixed_literal(name, text, name_span) {
                Ok(lit) => lit,
                Err(e) => return Some(Err(e)),
            };
            let end = self.advance().end;
            return Some(Ok(Expr::with_span(
                ExprKind::Literal(lit),
                Span::new(first.start, end),
            )));
        }
        if *self.peek() == TokenKind::LParen && name.eq_ignore_ascii_case("case") {
            return Some(self.case_expr(first));
        }
        if *self.peek() == TokenKind::LParen {
            return self.geo_call(name, first);
        }
        None
    }

    /// `duration'P1D'` or `Namespace.EnumType'Member'`.
    fn prefixed_literal(
        &mut self,
        name: &str,
        text: String,
        name_span: Span,
    ) -> Result<Literal, ParseError> {
        let quoted = self.span();
        if let Some(lit) = self.unsupported_literal(name, &text, name_span, quoted)? {
            return Ok(lit);
        }
        if name.eq_ignore_ascii_case("duration") {
            return if is_valid_duration(&text) {
                if name != "duration" {
                    self.note_unsupported(name_span, UPPER_CASE);
                }
                Ok(Literal::Duration(text))
            } else {
                let found = describe(self.text(quoted));
                let at = duration_error(&text).map_or(quoted.start, |i| quoted.start + 1 + i);
                Err(ParseError::new(
                    at,
                    "an ISO 8601 duration such as 'P1DT2H'",
                    found,
                    self.input,
                ))
            };
        }
        if name.contains('.') {
            return Ok(Literal::Enum {
                type_name: name.to_owned(),
                value: text,
            });
        }
        Err(ParseError::new(
            name_span.start,
            "'duration' or a qualified enum type name before a quoted value",
            describe(name),
            self.input,
        ))
    }

    /// `(a, Name=value, ...)` after a function name; returns the args and the span of the parens.
    pub(crate) fn call_args(&mut self) -> Result<(Vec<Arg>, Span), ParseError> {
        let open = self.expect(TokenKind::LParen, "'('")?;
        let mut args = Vec::new();
        if *self.peek() == TokenKind::RParen {
            let close = self.advance();
            return Ok((args, Span::new(open.start, close.end)));
        }
        loop {
            let named =
                *self.peek() == TokenKind::Ident && self.token_at(1).kind == TokenKind::Equals;
            if named {
                let span = self.advance();
                let name = self.text(span).to_owned();
                self.advance();
                let value = self.parse_expr(0)?;
                args.push(Arg::Named { name, value });
            } else {
                args.push(Arg::Positional(self.parse_expr(0)?));
            }
            match self.peek() {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::RParen => {
                    let close = self.advance();
                    return Ok((args, Span::new(open.start, close.end)));
                }
                _ => return Err(self.error_here("',' or ')'")),
            }
        }
    }

    /// `any(t:body)`, `all(t:body)` or a bare `any()` after `path/`.
    fn lambda(&mut self, path: Vec<String>, start: usize) -> Result<Expr, ParseError> {
        let op = if self.at_word("any") {
            LambdaOp::Any
        } else {
            LambdaOp::All
        };
        self.advance();
        self.advance(); // '('
        if op == LambdaOp::Any && *self.peek() == TokenKind::RParen {
            let end = self.advance().end;
            let kind = ExprKind::Lambda {
                path,
                op,
                var: None,
                body: None,
            };
            return Ok(Expr::with_span(kind, Span::new(start, end)));
        }
        if *self.peek() == TokenKind::RParen {
            // `all()`: the grammar reads `all()` as far as the `)` (a call without
            // parameters) before it fails.
            let close = self.span();
            return Err(ParseError::new(
                close.end,
                "a lambda variable and expression inside 'all(...)'",
                "'all()'",
                self.input,
            ));
        }
        if *self.peek() != TokenKind::Ident || self.at_reserved_word() {
            return Err(self.error_here("a lambda variable name"));
        }
        let span = self.advance();
        let var = self.text(span).to_owned();
        self.expect(TokenKind::Colon, "':' after the lambda variable")?;
        let body = self.parse_expr(0)?;
        let end = self.expect(TokenKind::RParen, "')'")?.end;
        let kind = ExprKind::Lambda {
            path,
            op,
            var: Some(var),
            body: Some(Box::new(body)),
        };
        Ok(Expr::with_span(kind, Span::new(start, end)))
    }
}

/// Why keywords in another case are refused.
pub(super) const UPPER_CASE: &str =
    "keywords in upper or mixed case (OData 4.01 allows any case; Dataverse takes lower case only)";

/// The lower-case operator keyword (`in` or a binary operator) `word` spells in any case.
fn operator_keyword(word: &str) -> Option<&'static str> {
    std::iter::once("in")
        .chain(BinaryOp::ALL.iter().map(|op| op.keyword()))
        .find(|k| word.eq_ignore_ascii_case(k))
}

/// Identifiers that are literals.
fn keyword_literal(word: &str) -> Option<Literal> {
    Some(match word {
        "null" => Literal::Null,
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        "INF" => Literal::Double(f64::INFINITY),
        "NaN" => Literal::Double(f64::NAN),
        _ => return None,
    })
}
