//! Resource paths: the part of a Web API URL after `/api/data/v9.2/`.
//!
//! See <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api>
//! and OData 4.01 URL Conventions §4.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode};

use crate::encode::PATH_SEGMENT;
use crate::error::{ParseError, describe};
use crate::expr::parser::Parser;
use crate::expr::{Arg, ExprKind};
use crate::lexer::TokenKind;
use crate::literal::Literal;
use crate::print::write_args;

mod unsupported;
use unsupported::{KEY_AS_SEGMENT, Place, dollar_segment, is_key_path_literal};

/// A parsed resource path; the service document (empty path) has no segments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourcePath {
    /// The segments in order.
    pub segments: Vec<Segment>,
}

/// One `/`-separated path segment.
///
/// Without a model the parser cannot tell entity sets, navigation
/// properties, properties and functions apart, so they are all `Named`.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `accounts`, `accounts(<guid>)`, `WhoAmI()`,
    /// `Microsoft.Dynamics.CRM.RetrieveUserPrivileges` (dotted names are one segment).
    Named {
        /// The name, possibly namespace-qualified.
        name: String,
        /// A key predicate, when the parentheses hold only literals.
        key: Option<KeyPredicate>,
        /// Function arguments, when the parentheses are empty, the name is
        /// qualified, or a value is not a plain literal (e.g. an alias `@p1`).
        call_args: Option<Vec<Arg>>,
    },
    /// `$count`.
    Count,
    /// `$ref`.
    Ref,
    /// `$value`.
    Value,
    /// `$metadata`.
    Metadata,
    /// `$batch`.
    Batch,
}

/// The key in `accounts(...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPredicate {
    /// `accounts(00000000-0000-0000-0000-000000000001)`.
    Single(Literal),
    /// Alternate or compound keys: `contacts(firstname='Joe',emailaddress1='abc@example.com')`.
    Named(Vec<(String, Literal)>),
}

/// Parses a raw (percent-encoded) resource path such as
/// `accounts(00000000-0000-0000-0000-000000000001)/primarycontactid/$ref`.
///
/// Each segment is percent-decoded on its own (`+` stays `+`: form rules do
/// not apply to paths), so `%2F` inside a key does not split segments. A
/// leading and a trailing `/` are allowed. Error offsets refer to the decoded
/// segments joined with `/`.
///
/// Parentheses after a name are classified as follows: `()` and qualified
/// names give `call_args`; one positional literal gives `KeyPredicate::Single`;
/// only `Name=literal` pairs give `KeyPredicate::Named`; anything else
/// (aliases, arrays, expressions) gives `call_args`.
pub fn parse_resource_path(path: &str) -> Result<ResourcePath, ParseError> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let mut raw: Vec<&str> = path.split('/').collect();
    if raw.last() == Some(&"") {
        raw.pop();
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut bad_encoding = None;
    for (i, segment) in raw.iter().enumerate() {
        match percent_decode_str(segment).decode_utf8() {
            Ok(text) => decoded.push(text.into_owned()),
            Err(_) => {
                decoded.push((*segment).to_owned());
                bad_encoding.get_or_insert(i);
            }
        }
    }
    let whole = decoded.join("/");
    let mut segments = Vec::with_capacity(decoded.len());
    // The first valid OData 4.01 segment Dataverse does not have; reading goes on so a
    // later syntax error is reported where it is.
    let mut unsupported = None;
    let mut base = 0;
    for (i, text) in decoded.iter().enumerate() {
        if bad_encoding == Some(i) {
            return Err(ParseError::new(
                base,
                "a UTF-8 path segment",
                describe(text),
                whole,
            ));
        }
        let place = Place {
            index: i,
            count: decoded.len(),
            next: decoded.get(i + 1).map(String::as_str),
        };
        let refuse = |feature: &str| ParseError::unsupported(base, feature, describe(text), &whole);
        match dollar_segment(text, place) {
            Some(Ok(feature)) => {
                unsupported.get_or_insert_with(|| refuse(feature));
            }
            Some(Err(e)) => return Err(e.rebase(base, &whole)),
            None => match parse_segment(text) {
                Ok(segment) => segments.push(segment),
                Err(e) if e.unsupported => {
                    unsupported.get_or_insert(e.rebase(base, &whole));
                }
                // keyPathSegments: any run of pchars after the first segment.
                Err(_) if i > 0 && !text.starts_with('$') && is_key_path_literal(raw[i]) => {
                    unsupported.get_or_insert_with(|| refuse(KEY_AS_SEGMENT));
                }
                Err(e) => return Err(e.rebase(base, &whole)),
            },
        }
        base += text.len() + 1;
    }
    match unsupported {
        Some(e) => Err(e),
        None => Ok(ResourcePath { segments }),
    }
}

fn parse_segment(text: &str) -> Result<Segment, ParseError> {
    if text.is_empty() {
        return Err(ParseError::new(0, "a path segment", "'/'", text));
    }
    if text.starts_with('$') {
        return Ok(match text {
            "$count" => Segment::Count,
            "$ref" => Segment::Ref,
            "$value" => Segment::Value,
            "$metadata" => Segment::Metadata,
            "$batch" => Segment::Batch,
            _ => {
                let expected = "one of $count, $ref, $value, $metadata, $batch";
                return Err(ParseError::new(0, expected, describe(text), text));
            }
        });
    }
    let mut parser = Parser::new(text)?;
    let (name, _) = parser.qualified_name("a name")?;
    let (mut key, mut call_args) = (None, None);
    if *parser.peek() == TokenKind::LParen {
        let (args, _) = parser.call_args()?;
        if *parser.peek() == TokenKind::LParen {
            // A function (import) call, then a key into the collection it returns:
            // `ProductsByCategoryId(categoryId=2)(2)`.
            let open = parser.span();
            let (key_args, _) = parser.call_args()?;
            let Some(k) = key_from_args(&key_args) else {
                return Err(ParseError::new(
                    open.start,
                    "a key predicate of literals",
                    describe(&text[open.start..]),
                    text,
                ));
            };
            key = Some(k);
            call_args = Some(args);
        } else {
            match key_from_args(&args) {
                Some(k) if !name.contains('.') => key = Some(k),
                _ => call_args = Some(args),
            }
        }
    }
    parser.expect_end("'(' or the end of the segment")?;
    Ok(Segment::Named {
        name,
        key,
        call_args,
    })
}

/// A key predicate when every value is a plain literal.
fn key_from_args(args: &[Arg]) -> Option<KeyPredicate> {
    let literal = |e: &crate::Expr| match &e.kind {
        ExprKind::Literal(lit) if !matches!(lit, Literal::Array(_)) => Some(lit.clone()),
        _ => None,
    };
    match args {
        [] => None,
        [Arg::Positional(value)] => literal(value).map(KeyPredicate::Single),
        named => named
            .iter()
            .map(|arg| match arg {
                Arg::Named { name, value } => Some((name.clone(), literal(value)?)),
                Arg::Positional(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(KeyPredicate::Named),
    }
}

impl fmt::Display for Segment {
    /// The raw (percent-encoded) segment, e.g. `contacts(firstname='Jo%20e')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Segment::Count => return f.write_str("$count"),
            Segment::Ref => return f.write_str("$ref"),
            Segment::Value => return f.write_str("$value"),
            Segment::Metadata => return f.write_str("$metadata"),
            Segment::Batch => return f.write_str("$batch"),
            Segment::Named {
                name,
                key,
                call_args,
            } => {
                let mut text = name.clone();
                match (key, call_args) {
                    (Some(KeyPredicate::Single(lit)), _) => text.push_str(&format!("({lit})")),
                    (Some(KeyPredicate::Named(pairs)), _) => {
                        let pairs: Vec<String> =
                            pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        text.push_str(&format!("({})", pairs.join(",")));
                    }
                    (None, Some(args)) => write_args(&mut text, args),
                    (None, None) => {}
                }
                text
            }
        };
        write!(f, "{}", utf8_percent_encode(&text, PATH_SEGMENT))
    }
}

impl fmt::Display for ResourcePath {
    /// The raw path without a leading `/`; parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{segment}")?;
        }
        Ok(())
    }
}
