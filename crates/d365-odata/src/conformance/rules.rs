//! The parse function each ABNF rule name is checked with, and the model checks that
//! need the file's `Constraints`.

use std::collections::BTreeMap;

use super::tables::*;
use crate::ExprKind;
use crate::expr::{parse_filter, parse_literal};
use crate::literal::{Literal, duration_error, is_valid_duration};
use crate::path::{Segment, parse_resource_path};
use crate::prefer::Prefer;
use crate::query::{QueryError, QueryOptions};

/// Result of parsing: `Ok` or the error offset in the raw input and a message.
pub(super) type Parsed = Result<(), (usize, String)>;

pub(super) enum RuleResult {
    Done(Parsed),
    Skip(&'static str),
}

/// Percent-decodes `raw`, returning the text and, for each decoded byte (plus one past
/// the end), its offset in `raw`.
fn decode_with_map(raw: &str) -> Result<(String, Vec<usize>), (usize, String)> {
    let bytes = raw.as_bytes();
    let (mut out, mut map) = (
        Vec::with_capacity(bytes.len()),
        Vec::with_capacity(bytes.len() + 1),
    );
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((h * 16 + l) as u8);
            map.push(i);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        map.push(i);
        i += 1;
    }
    map.push(raw.len());
    let text = String::from_utf8(out).map_err(|e| {
        let at = map[e.utf8_error().valid_up_to()];
        (at, "invalid UTF-8 after percent-decoding".to_owned())
    })?;
    Ok((text, map))
}

/// Parses decoded text with `parse`, mapping its error offset back into `raw`.
fn decoded(
    raw: &str,
    shift: usize,
    parse: impl FnOnce(&str) -> Result<(), crate::ParseError>,
) -> Parsed {
    let (text, map) = decode_with_map(raw)?;
    parse(&text).map_err(|e| {
        let at = e.offset.saturating_sub(shift).min(map.len() - 1);
        (map[at], e.to_string())
    })
}

fn literal_rule(raw: &str, url: bool, accept: impl Fn(&Literal) -> bool) -> Parsed {
    let parse = |text: &str| -> Result<(), crate::ParseError> {
        let lit = parse_literal(text)?;
        if accept(&lit) {
            Ok(())
        } else {
            Err(crate::ParseError::new(
                0,
                "a literal of the rule's type",
                format!("{lit:?}"),
                text,
            ))
        }
    };
    if url {
        decoded(raw, 0, parse)
    } else {
        parse(raw).map_err(|e| (e.offset, e.to_string()))
    }
}

/// A literal of another type in a temporal rule (`-INF` as a date) fails where the
/// temporal grammar stops matching it, not at 0.
fn temporal_offset(input: &str) -> impl Fn((usize, String)) -> (usize, String) + '_ {
    move |(at, message)| match at {
        0 => (crate::lexer::temporal_mismatch_at(input), message),
        _ => (at, message),
    }
}

fn is_number(lit: &Literal) -> bool {
    matches!(
        lit,
        Literal::Int(_) | Literal::Decimal(_) | Literal::Double(_)
    )
}

pub(super) fn parse_rule(
    rule: &str,
    input: &str,
    constraints: &BTreeMap<String, Vec<String>>,
) -> RuleResult {
    let ok_if = |cond: bool, at: usize, what: &str| -> Parsed {
        if cond {
            Ok(())
        } else {
            Err((at, what.to_owned()))
        }
    };
    let result = match rule {
        "boolCommonExpr" | "boolcommonExpr" | "commonExpr" | "firstMemberExpr"
        | "propertyPathExpr" | "isofExpr" => decoded(input, 0, |t| {
            let expr = parse_filter(t)?;
            check_functions_called(&expr, t, constraints)
        }),
        "anyExpr" => decoded(&format!("x/{input}"), 0, |t| parse_filter(t).map(|_| ()))
            .map_err(|(at, m)| (at.saturating_sub(2), m)),
        "functionParameter" => decoded(&format!("f({input})"), 0, |t| parse_filter(t).map(|_| ()))
            .map_err(|(at, m)| (at.saturating_sub(2), m)),
        "filter" | "orderby" | "orderBy" | "select" | "expand" | "search" | "skiptoken"
        | "deltatoken" | "queryOptions" | "systemQueryOption" | "customQueryOption" | "top"
        | "skip" | "inlinecount" | "compute" | "format" | "index" | "schemaversion"
        | "aliasAndValue" | "systemQueryOptions" => {
            if has_optional_dollar(input) {
                return RuleResult::Skip(OPTIONAL_DOLLAR);
            }
            if leading_space(input) {
                return RuleResult::Skip(LEADING_SPACE);
            }
            // One option: a second pair is where the rule stops matching.
            let (one, rest_at) = match input.find('&') {
                Some(amp) if rule != "queryOptions" => (&input[..amp], Some(amp)),
                _ => (input, None),
            };
            query(one, 0).and_then(|q| {
                if let Some(amp) = rest_at {
                    return Err((amp, "a single query option".to_owned()));
                }
                let set = match rule {
                    "filter" => q.filter.is_some(),
                    "orderby" | "orderBy" => !q.orderby.is_empty(),
                    "select" => q.select.is_some(),
                    "expand" => !q.expand.is_empty(),
                    "search" => q.search.is_some(),
                    "skiptoken" => q.skiptoken.is_some(),
                    "deltatoken" => q.deltatoken.is_some(),
                    "customQueryOption" => !q.custom.is_empty(),
                    "top" => q.top.is_some(),
                    "skip" => q.skip.is_some(),
                    "inlinecount" => q.count.is_some(),
                    "aliasAndValue" => !q.aliases.is_empty(),
                    _ => true,
                };
                ok_if(set, 0, "the option was not recognised")
            })
        }
        "resourcePath" | "odataRelativeUri" => {
            let (path, query_text) = match input.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (input, None),
            };
            if query_text.is_some_and(has_optional_dollar) {
                return RuleResult::Skip(OPTIONAL_DOLLAR);
            }
            resource_path(path, constraints)
                .and_then(|()| query_text.map_or(Ok(()), |q| query(q, path.len() + 1).map(|_| ())))
        }
        "preference" | "maxpagesizePreference" | "includeAnnotationsPreference" => {
            Prefer::parse_checked(input)
                .map(|_| ())
                .map_err(|e| (e.offset, e.to_string()))
        }
        "prefer" => {
            let Some(value) = input.get(..7).filter(|h| h.eq_ignore_ascii_case("prefer:")) else {
                return RuleResult::Done(Err((0, "a 'Prefer:' header".into())));
            };
            let _ = value;
            let rest = &input[7..];
            let lead = rest.len() - rest.trim_start().len();
            Prefer::parse_checked(rest.trim_start())
                .map(|_| ())
                .map_err(|e| (e.offset + 7 + lead, e.to_string()))
        }
        "odataIdentifier" => {
            let mut chars = input.chars();
            let first_ok = chars.next().is_some_and(|c| c == '_' || c.is_alphabetic());
            let at = if first_ok {
                input
                    .char_indices()
                    .find(|(_, c)| !(*c == '_' || c.is_alphanumeric()))
                    .map(|(i, _)| i)
            } else {
                Some(0)
            };
            match at {
                None => Ok(()),
                Some(at) => Err((at, "an identifier".into())),
            }
        }
        "primitiveLiteral" => literal_rule(input, true, |_| true),
        "searchExpr" => decoded(input, 0, crate::query::check_search),
        // A valid binary literal is refused as unsupported; any other literal is not one.
        "binaryLiteral" => literal_rule(input, true, |_| false),
        _ if rule.starts_with("geography") || rule.starts_with("geometry") => geo_rule(rule, input),
        "orderbyItem" => decoded(input, 0, |t| {
            crate::parse_orderby(t).and_then(|items| match items.len() {
                1 => Ok(()),
                _ => Err(crate::ParseError::new(
                    t.find(',').unwrap_or(0),
                    "one item",
                    "','",
                    t,
                )),
            })
        }),
        "selectItem" => decoded(input, 0, |t| crate::parse_select(t).map(|_| ())),
        "expandItem" => decoded(input, 0, |t| crate::parse_expand(t).map(|_| ())),
        "parameterAlias" => ok_if(
            input.starts_with('@')
                && enum_members(&input[1..]).is_none()
                && !input[1..].contains(','),
            0,
            "a parameter alias",
        ),
        "guidValue" => literal_rule(input, false, |l| matches!(l, Literal::Guid(_))),
        "int32Value" | "singleValue" => literal_rule(input, false, is_number),
        "byteLiteral" | "int16Literal" => literal_rule(input, true, is_number),
        "stringInUrl" => decoded(&format!("[{input}]"), 0, |t| parse_literal(t).map(|_| ()))
            .map_err(|(at, m)| (at.saturating_sub(1), m)),
        "null" => literal_rule(input, true, |l| matches!(l, Literal::Null)),
        "boolean" => literal_rule(input, true, |l| matches!(l, Literal::Bool(_))),
        "booleanValue" => ok_if(matches!(input, "true" | "false"), 0, "true or false"),
        "guid" => literal_rule(input, true, |l| matches!(l, Literal::Guid(_))),
        "date" | "dateValue" => {
            literal_rule(input, rule == "date", |l| matches!(l, Literal::Date(_)))
                .map_err(temporal_offset(input))
        }
        "dateTimeOffsetValue" | "dateTimeOffsetLiteral" => {
            literal_rule(input, rule.ends_with("Literal"), |l| {
                matches!(l, Literal::DateTimeOffset(_))
            })
            .map_err(temporal_offset(input))
        }
        "timeOfDayValue" | "timeOfDayLiteral" => {
            literal_rule(input, rule.ends_with("Literal"), |l| {
                matches!(l, Literal::TimeOfDay(_))
            })
            .map_err(temporal_offset(input))
        }
        "durationValue" => match duration_error(input) {
            None => Ok(()),
            Some(at) => Err((at, "an ISO 8601 day-time duration".into())),
        },
        "durationLiteral" => literal_rule(input, true, |l| match l {
            Literal::Duration(_) => true,
            Literal::String(s) => is_valid_duration(s),
            _ => false,
        }),
        "decimalValue" | "doubleValue" => literal_rule(input, false, is_number),
        "decimalLiteral" | "doubleLiteral" | "singleLiteral" => {
            literal_rule(input, true, is_number)
        }
        "byteValue" | "sbyteValue" | "int16Value" | "int64Value" => {
            literal_rule(input, false, |l| matches!(l, Literal::Int(_)))
        }
        "sbyteLiteral" | "int32Literal" | "int64Literal" => {
            literal_rule(input, true, |l| matches!(l, Literal::Int(_)))
        }
        "stringLiteral" => literal_rule(input, true, |l| matches!(l, Literal::String(_))),
        "enumLiteral" => literal_rule(input, true, |l| match l {
            Literal::Enum { value, .. } => enum_members(value).is_none(),
            Literal::String(s) => enum_members(s).is_none(),
            _ => false,
        }),
        "enumValue" => match enum_members(input) {
            None => Ok(()),
            Some(at) => Err((at, "enumeration members or integers".into())),
        },
        _ => return RuleResult::Skip("rule is not mapped to a parser"),
    };
    RuleResult::Done(result)
}

/// Checks a flag-enum member list `Solid,Yellow,+42`; returns where it goes wrong.
fn enum_members(text: &str) -> Option<usize> {
    let mut at = 0;
    for member in text.split(',') {
        let digits = member.strip_prefix(['+', '-']).unwrap_or(member);
        let number = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let name = member
            .chars()
            .next()
            .is_some_and(|c| c == '_' || c.is_alphabetic())
            && member.chars().all(|c| c == '_' || c.is_alphanumeric());
        if !(number || name) {
            let bad = member
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '+' || *c == '-'))
                .map_or(0, |(i, _)| i);
            return Some(at + bad);
        }
        at += member.len() + 1;
    }
    None
}

/// A query option name with an optional `$` left out or in another case
/// (`filter=`, `$OrderBy=`): 4.01 syntax Dataverse does not have.
fn has_optional_dollar(query: &str) -> bool {
    const SYSTEM: [&str; 17] = SYSTEM_OPTIONS;
    query.split(['&', '(', ';']).any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let bare = name.strip_prefix('$').unwrap_or(name);
        SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(bare))
            && !(name.starts_with('$') && SYSTEM.contains(&bare))
    })
}

/// The system query option names of the ABNF, without `$`.
const SYSTEM_OPTIONS: [&str; 17] = [
    "select",
    "expand",
    "filter",
    "orderby",
    "top",
    "skip",
    "count",
    "apply",
    "search",
    "skiptoken",
    "deltatoken",
    "format",
    "id",
    "compute",
    "index",
    "levels",
    "schemaversion",
];

/// Parses a raw query string, mapping errors to offsets in the whole input.
fn query(raw: &str, base: usize) -> Result<QueryOptions, (usize, String)> {
    QueryOptions::parse(raw).map_err(|e| {
        // Where each pair's name and value start in `raw`.
        let mut pairs = Vec::new();
        let mut at = 0;
        for pair in raw.split('&') {
            let value_at = pair.find('=').map(|i| at + i + 1);
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            let decoded_name = decode_with_map(name).map(|(t, _)| t).unwrap_or_default();
            pairs.push((at, decoded_name, value_at, pair.len()));
            at += pair.len() + 1;
        }
        let find = |option: &str| pairs.iter().rev().find(|(_, n, ..)| n == option);
        let offset = match &e {
            QueryError::Invalid { option, error } | QueryError::Unsupported { option, error } => {
                find(option).map_or(0, |(start, _, value_at, len)| {
                    let value_at = value_at.unwrap_or(start + len);
                    let raw_value = &raw[value_at..start + len];
                    let map = decode_with_map(&raw_value.replace('+', " "))
                        .map(|(_, m)| m)
                        .unwrap_or_default();
                    value_at + map.get(error.offset).copied().unwrap_or(error.offset)
                })
            }
            QueryError::InvalidNumber { option, .. } | QueryError::InvalidBool { option, .. } => {
                find(option).map_or(0, |(start, _, value_at, len)| {
                    value_at.unwrap_or(start + len)
                })
            }
            QueryError::UnknownOption(name) => find(name).map_or(0, |(start, ..)| {
                // `$filter =true`: the name matches `$filter` as far as the space.
                let known = SYSTEM_OPTIONS
                    .iter()
                    .map(|o| format!("${o}"))
                    .filter(|o| name.starts_with(o.as_str()))
                    .map(|o| o.len())
                    .max()
                    .unwrap_or(0);
                start + known
            }),
            QueryError::DuplicateOption(name) => find(name).map_or(0, |(start, ..)| *start),
            _ => 0,
        };
        (base + offset, e.to_string())
    })
}

/// An option value starting with whitespace (`$filter= true`).
fn leading_space(query: &str) -> bool {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v))
        .any(|v| v.starts_with([' ', '\t']) || v.starts_with("%20") || v.starts_with("%09"))
}

/// Key-as-segment (`Employees/A1245`, `OrderItems/2001/1`) or an index segment (`/0`).
fn names<'a>(constraints: &'a BTreeMap<String, Vec<String>>, rules: &[&str]) -> Vec<&'a str> {
    rules
        .iter()
        .filter_map(|r| constraints.get(*r))
        .flatten()
        .map(String::as_str)
        .collect()
}

/// Parses a resource path and applies the checks that need the model: a key on an
/// entity set holds literals only; function imports appear only as the first segment;
/// nothing follows `$value` or `$count`.
fn resource_path(raw: &str, constraints: &BTreeMap<String, Vec<String>>) -> Parsed {
    let (text, map) = decode_with_map(raw)?;
    let parsed =
        parse_resource_path(raw).map_err(|e| (map[e.offset.min(map.len() - 1)], e.to_string()))?;
    let sets = names(constraints, &["entitySetName"]);
    let imports = names(
        constraints,
        &[
            "entityFunctionImport",
            "entityColFunctionImport",
            "complexFunctionImport",
            "complexColFunctionImport",
            "primitiveFunctionImport",
            "primitiveColFunctionImport",
            "actionImport",
        ],
    );
    let streams = names(constraints, &["streamProperty"]);
    let types = names(constraints, &["entityTypeName", "complexTypeName"]);
    let mut at = 0;
    let pieces: Vec<&str> = text.split('/').collect();
    for (i, segment) in parsed.segments.iter().enumerate() {
        let piece_len = pieces.get(i).map_or(0, |p| p.len());
        let end = map[(at + piece_len).min(map.len() - 1)];
        if i > 0 && matches!(parsed.segments[i - 1], Segment::Value | Segment::Count) {
            return Err((
                map[at.saturating_sub(1)],
                "nothing after $value or $count".into(),
            ));
        }
        if i > 0
            && matches!(&parsed.segments[i - 1], Segment::Named { name, .. } if streams.contains(&name.as_str()))
        {
            return Err((map[at], "nothing after a stream property".into()));
        }
        if let Segment::Named {
            name, call_args, ..
        } = segment
        {
            let is_cast = |name: &str| {
                name.rsplit_once('.')
                    .is_some_and(|(_, t)| types.contains(&t))
            };
            if i > 0
                && is_cast(name)
                && matches!(&parsed.segments[i - 1], Segment::Named { name: prev, key: None, call_args: None } if is_cast(prev))
            {
                return Err((end, "a key, property or operation after a type cast".into()));
            }
            let not_literal = call_args.as_ref().and_then(|args| {
                args.iter().find_map(|a| {
                    let (crate::Arg::Positional(v) | crate::Arg::Named { value: v, .. }) = a;
                    (!matches!(v.kind, ExprKind::Literal(_) | ExprKind::Alias(_))).then_some(v.span)
                })
            });
            if i == 0
                && sets.contains(&name.as_str())
                && let Some(span) = not_literal
            {
                let value_end = map[(at + span.end).min(map.len() - 1)];
                return Err((value_end, "a key predicate of literals".into()));
            }
            if i > 0 && imports.contains(&name.as_str()) {
                return Err((end, "a function import only at the service root".into()));
            }
        }
        at += piece_len + 1;
    }
    Ok(())
}

/// Functions named in the constraints must be called with parentheses inside expressions
/// (`Model.Available` alone is not a property).
fn check_functions_called(
    expr: &crate::Expr,
    text: &str,
    constraints: &BTreeMap<String, Vec<String>>,
) -> Result<(), crate::ParseError> {
    let functions = names(
        constraints,
        &[
            "primitiveFunction",
            "primitiveColFunction",
            "complexFunction",
            "complexColFunction",
            "entityFunction",
            "entityColFunction",
        ],
    );
    if let ExprKind::Member(path) = &expr.kind
        && let Some(last) = path.last()
        && functions
            .iter()
            .any(|f| last.rsplit('.').next() == Some(f) && last.contains('.'))
    {
        return Err(crate::ParseError::new(
            expr.span.end,
            "'(' after the function name",
            "end of input",
            text,
        ));
    }
    Ok(())
}

/// A geo literal rule (`geographyPoint`, `geometryCollection`, ...): the prefix and
/// shape the rule names, then the parser, which refuses a valid one as unsupported.
fn geo_rule(rule: &str, input: &str) -> Parsed {
    use crate::literal::geo::{GeoKind, check};
    let prefix = if rule.starts_with("geography") {
        "geography"
    } else {
        "geometry"
    };
    let shape = &rule[prefix.len()..];
    let kind = match shape {
        "Collection" => GeoKind::Collection,
        "LineString" => GeoKind::LineString,
        "MultiLineString" => GeoKind::MultiLineString,
        "MultiPoint" => GeoKind::MultiPoint,
        "MultiPolygon" => GeoKind::MultiPolygon,
        "Point" => GeoKind::Point,
        _ => GeoKind::Polygon,
    };
    let (text, map) = decode_with_map(input)?;
    let matched = prefix
        .bytes()
        .zip(text.bytes())
        .take_while(|(p, t)| p.eq_ignore_ascii_case(t))
        .count();
    if matched < prefix.len() {
        return Err((map[matched], format!("'{prefix}'")));
    }
    // sridLiteral ends at the first ';': the shape starts after it.
    let body = text[prefix.len()..].strip_prefix('\'');
    if let Some(body) = body
        && let Ok(found) = check(body.strip_suffix('\'').unwrap_or(body))
        && found != kind
    {
        let at = prefix.len() + 1 + body.find(';').map_or(0, |i| i + 1);
        return Err((map[at], format!("a {shape} literal")));
    }
    literal_rule(input, true, |_| false)
}
