//! Expression tree -> canonical OData URL text (before percent-encoding).
//!
//! The printer adds only the parentheses the precedence rules require, so
//! `parse_filter(&print_expr(&e)) == Ok(e)` for every tree (spans aside).

use std::fmt::Write as _;

use crate::expr::{Arg, Expr, ExprKind, OrderBy, UnaryOp, prec};

/// Prints an expression as `$filter` text, e.g.
/// `a eq 1 and (b eq 2 or c eq 3)`.
///
/// Rules: single spaces around binary operators; a child is parenthesised
/// when it binds looser than its parent (or equally, on the right side, since
/// all operators are left-associative); `not x`; `-x`, with `-(5)` for a
/// negated literal so it is not re-read as the literal `-5`; calls as
/// `name(a,b)` and `Name=value`; lambdas as `path/any(t:body)`; `x in (a,b)`.
///
/// ```
/// use d365_odata::{parse_filter, print_expr};
/// let e = parse_filter("a eq 1 and ((b eq 2) or c eq 3)").unwrap();
/// assert_eq!(print_expr(&e), "a eq 1 and (b eq 2 or c eq 3)");
/// ```
pub fn print_expr(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

/// Prints `$orderby` items: `revenue desc,name` (`asc` is implied).
pub fn print_orderby(items: &[OrderBy]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_expr(&mut out, &item.expr);
        if item.descending {
            out.push_str(" desc");
        }
    }
    out
}

/// How tightly a node binds, as seen from its parent.
fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::In { .. } => prec::RELATIONAL,
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => prec::NOT,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => prec::NEG,
        _ => prec::PRIMARY,
    }
}

/// Writes `expr`, in parentheses if it binds looser than `min`.
fn write_operand(out: &mut String, expr: &Expr, min: u8) {
    if precedence(expr) < min {
        out.push('(');
        write_expr(out, expr);
        out.push(')');
    } else {
        write_expr(out, expr);
    }
}

fn write_expr(out: &mut String, expr: &Expr) {
    match &expr.kind {
        ExprKind::Literal(lit) => {
            let _ = write!(out, "{lit}");
        }
        ExprKind::Alias(name) => {
            out.push('@');
            out.push_str(name);
        }
        ExprKind::Member(path) => write_path(out, path),
        ExprKind::It => out.push_str("$it"),
        ExprKind::Unary {
            op: UnaryOp::Not,
            operand,
        } => {
            out.push_str("not ");
            write_operand(out, operand, prec::EQUALITY);
        }
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => {
            out.push('-');
            if matches!(operand.kind, ExprKind::Literal(_)) {
                // `-5` and `-INF` would lex as literals of their own.
                out.push('(');
                write_expr(out, operand);
                out.push(')');
            } else {
                write_operand(out, operand, prec::NEG);
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            write_operand(out, lhs, op.precedence());
            out.push(' ');
            out.push_str(op.keyword());
            out.push(' ');
            write_operand(out, rhs, op.precedence() + 1);
        }
        ExprKind::In { lhs, list } => {
            write_operand(out, lhs, prec::RELATIONAL);
            out.push_str(" in (");
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_expr(out, item);
            }
            out.push(')');
        }
        ExprKind::Call { name, args } => {
            out.push_str(name);
            write_args(out, args);
        }
        ExprKind::Lambda {
            path,
            op,
            var,
            body,
        } => {
            write_path(out, path);
            out.push('/');
            out.push_str(op.keyword());
            out.push('(');
            if let (Some(var), Some(body)) = (var, body) {
                out.push_str(var);
                out.push(':');
                write_expr(out, body);
            }
            out.push(')');
        }
    }
}

fn write_path(out: &mut String, path: &[String]) {
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(segment);
    }
}

/// `(a,Name=value)`; also used for function segments of resource paths.
pub(crate) fn write_args(out: &mut String, args: &[Arg]) {
    out.push('(');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match arg {
            Arg::Positional(value) => write_expr(out, value),
            Arg::Named { name, value } => {
                out.push_str(name);
                out.push('=');
                write_expr(out, value);
            }
        }
    }
    out.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_filter;

    /// Parses, prints, and checks the printed text and that it re-parses to the same tree.
    fn canon(input: &str) -> String {
        let expr = parse_filter(input).unwrap();
        let printed = print_expr(&expr);
        assert_eq!(parse_filter(&printed).unwrap(), expr, "{printed}");
        printed
    }

    #[test]
    fn minimal_parentheses() {
        let cases = [
            (
                "a eq 1 and (b eq 2 or c eq 3)",
                "a eq 1 and (b eq 2 or c eq 3)",
            ),
            (
                "(a eq 1 and b eq 2) or c eq 3",
                "a eq 1 and b eq 2 or c eq 3",
            ),
            ("a sub (b sub c)", "a sub (b sub c)"),
            ("(a sub b) sub c", "a sub b sub c"),
            ("(a add b) mul c", "(a add b) mul c"),
            ("not (a eq 1)", "not a eq 1"),
            ("not (a and b)", "not (a and b)"),
            ("not contains(name,'x')", "not contains(name,'x')"),
            ("(not a) eq b", "(not a) eq b"),
            ("a and not b", "a and not b"),
            ("-(5)", "-(5)"),
            ("-5", "-5"),
            ("-(a add 1)", "-(a add 1)"),
            ("- -a", "--a"),
            ("a sub -5", "a sub -5"),
            ("x in ( 'a' , 'b' )", "x in ('a','b')"),
            ("x in [\"a\",\"b\"]", "x in ('a','b')"),
            (
                "Account_Tasks/any(t: t/statecode eq 1)",
                "Account_Tasks/any(t:t/statecode eq 1)",
            ),
            ("Account_Tasks/any()", "Account_Tasks/any()"),
            (
                "Microsoft.Dynamics.CRM.In(PropertyName='x', PropertyValues=[\"a\",\"b\"])",
                "Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[\"a\",\"b\"])",
            ),
            ("name eq 'O''Bryan'", "name eq 'O''Bryan'"),
            ("d eq 1e10", "d eq 1E10"),
        ];
        for (input, expected) in cases {
            assert_eq!(canon(input), expected, "{input}");
        }
    }
}
