//! `$apply` — the subset of OData Data Aggregation that Dataverse supports
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data>):
//! transformations separated by `/`: `filter(expr)`, `groupby((path,…))` with an optional
//! `aggregate(…)`, and `aggregate(path with sum|min|max|average|countdistinct as alias, $count as alias)`.

use std::fmt;

use crate::error::ParseError;
use crate::expr::{Expr, parse_filter};
use crate::print::print_expr;

/// How values are aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateMethod {
    /// `sum`
    Sum,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `average`
    Average,
    /// `countdistinct`
    CountDistinct,
}

impl AggregateMethod {
    fn keyword(self) -> &'static str {
        match self {
            AggregateMethod::Sum => "sum",
            AggregateMethod::Min => "min",
            AggregateMethod::Max => "max",
            AggregateMethod::Average => "average",
            AggregateMethod::CountDistinct => "countdistinct",
        }
    }
}

/// One aggregate: `revenue with sum as total`, or `$count as count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The property path, or `None` for `$count`.
    pub property: Option<Vec<String>>,
    /// The method (`None` for `$count`).
    pub method: Option<AggregateMethod>,
    /// The alias the result is returned under.
    pub alias: String,
}

/// One `$apply` transformation.
#[derive(Debug, Clone, PartialEq)]
pub enum Transformation {
    /// `filter(expr)`.
    Filter(Expr),
    /// `groupby((a,b/c))` or `groupby((a),aggregate(…))`.
    GroupBy {
        /// The grouping property paths.
        properties: Vec<Vec<String>>,
        /// Aggregates per group (may be empty: distinct values).
        aggregate: Vec<Aggregate>,
    },
    /// `aggregate(…)` over everything.
    Aggregate(Vec<Aggregate>),
}

fn err(text: &str, offset: usize, expected: &str) -> ParseError {
    let found = text
        .get(offset.min(text.len())..)
        .unwrap_or_default()
        .chars()
        .next()
        .map(|c| format!("'{c}'"))
        .unwrap_or_else(|| "end of input".into());
    ParseError::new(offset, expected, found, text)
}

/// Splits `s` at top-level occurrences of `sep` (outside parentheses, brackets and both kinds
/// of quotes: JSON arrays inside Dataverse query functions use `"`), with offsets.
fn split_top(s: &str, base: usize, sep: char) -> Vec<(usize, &str)> {
    crate::split::split_top_level(s, sep as u8)
        .into_iter()
        .map(|(o, p)| (base + o, p))
        .collect()
}

/// `name(inner)` → (name, offset of inner, inner).
fn call<'a>(text: &str, at: usize, seg: &'a str) -> Result<(&'a str, usize, &'a str), ParseError> {
    let seg = seg.trim_end();
    let open = seg
        .find('(')
        .ok_or_else(|| err(text, at + seg.len(), "'('"))?;
    if !seg.ends_with(')') {
        return Err(err(text, at + seg.len(), "')'"));
    }
    Ok((
        seg[..open].trim(),
        at + open + 1,
        &seg[open + 1..seg.len() - 1],
    ))
}

fn path(text: &str, at: usize, s: &str) -> Result<Vec<String>, ParseError> {
    let trimmed = s.trim();
    let lead = s.len() - s.trim_start().len();
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.iter().all(|p| ok(p)) {
        Ok(parts.into_iter().map(str::to_owned).collect())
    } else {
        Err(err(text, at + lead, "a property path"))
    }
}

fn aggregates(text: &str, at: usize, inner: &str) -> Result<Vec<Aggregate>, ParseError> {
    split_top(inner, at, ',')
        .into_iter()
        .map(|(off, item)| {
            let words: Vec<&str> = item.split_whitespace().collect();
            match words.as_slice() {
                ["$count", "as", alias] => Ok(Aggregate {
                    property: None,
                    method: None,
                    alias: (*alias).to_owned(),
                }),
                [prop, "with", method, "as", alias] => {
                    let method = match *method {
                        "sum" => AggregateMethod::Sum,
                        "min" => AggregateMethod::Min,
                        "max" => AggregateMethod::Max,
                        "average" => AggregateMethod::Average,
                        "countdistinct" => AggregateMethod::CountDistinct,
                        _ => {
                            return Err(err(
                                text,
                                off + item.find(method).unwrap_or(0),
                                "sum, min, max, average or countdistinct",
                            ));
                        }
                    };
                    Ok(Aggregate {
                        property: Some(path(text, off, prop)?),
                        method: Some(method),
                        alias: (*alias).to_owned(),
                    })
                }
                _ => Err(err(
                    text,
                    off,
                    "'<property> with <method> as <alias>' or '$count as <alias>'",
                )),
            }
        })
        .collect()
}

/// Parses a `$apply` value.
pub fn parse_apply(text: &str) -> Result<Vec<Transformation>, ParseError> {
    if text.trim().is_empty() {
        return Err(err(text, 0, "a transformation"));
    }
    split_top(text, 0, '/')
        .into_iter()
        .map(|(at, seg)| {
            let (name, inner_at, inner) = call(text, at, seg)?;
            match name {
                "filter" => parse_filter(inner)
                    .map(Transformation::Filter)
                    .map_err(|e| {
                        let offset = inner_at + e.offset;
                        ParseError::new(offset, e.expected, e.found, text)
                    }),
                "aggregate" => aggregates(text, inner_at, inner).map(Transformation::Aggregate),
                "groupby" => {
                    let parts = split_top(inner, inner_at, ',');
                    let (group_at, group) = parts[0];
                    let group_at = group_at + (group.len() - group.trim_start().len());
                    let group = group.trim();
                    let Some(list) = group.strip_prefix('(').and_then(|g| g.strip_suffix(')'))
                    else {
                        return Err(err(
                            text,
                            group_at,
                            "'(' starting the list of grouping properties",
                        ));
                    };
                    let properties = split_top(list, group_at + 1, ',')
                        .into_iter()
                        .map(|(o, p)| path(text, o, p))
                        .collect::<Result<_, _>>()?;
                    let aggregate = match parts.get(1) {
                        None => Vec::new(),
                        Some((agg_at, agg)) => {
                            let (agg_name, agg_inner_at, agg_inner) =
                                call(text, *agg_at, agg.trim_start())?;
                            if agg_name != "aggregate" || parts.len() > 2 {
                                return Err(err(
                                    text,
                                    *agg_at,
                                    "aggregate(…) after the grouping properties",
                                ));
                            }
                            aggregates(
                                text,
                                agg_inner_at + (agg.len() - agg.trim_start().len()),
                                agg_inner,
                            )?
                        }
                    };
                    Ok(Transformation::GroupBy {
                        properties,
                        aggregate,
                    })
                }
                _ => Err(err(text, at, "filter, groupby or aggregate")),
            }
        })
        .collect()
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.property, self.method) {
            (Some(p), Some(m)) => {
                write!(f, "{} with {} as {}", p.join("/"), m.keyword(), self.alias)
            }
            _ => write!(f, "$count as {}", self.alias),
        }
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Transformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transformation::Filter(e) => write!(f, "filter({})", print_expr(e)),
            Transformation::Aggregate(a) => write!(f, "aggregate({})", join(a)),
            Transformation::GroupBy {
                properties,
                aggregate,
            } => {
                let props = properties
                    .iter()
                    .map(|p| p.join("/"))
                    .collect::<Vec<_>>()
                    .join(",");
                if aggregate.is_empty() {
                    write!(f, "groupby(({props}))")
                } else {
                    write!(f, "groupby(({props}),aggregate({}))", join(aggregate))
                }
            }
        }
    }
}

/// Prints transformations in canonical form.
pub fn print_apply(transformations: &[Transformation]) -> String {
    transformations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataverse_examples_round_trip() {
        for text in [
            "groupby((statuscode))",
            "groupby((statuscode),aggregate($count as count))",
            "aggregate(revenue with sum as total,revenue with average as avg)",
            "filter(address1_stateorprovince eq 'WA')/groupby((primarycontactid/fullname))",
            "groupby((industrycode,statecode),aggregate(revenue with max as top,accountid with countdistinct as n))",
        ] {
            let parsed = parse_apply(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(print_apply(&parsed), text);
            assert_eq!(parse_apply(&print_apply(&parsed)).unwrap(), parsed);
        }
        let spaced = parse_apply("groupby( (statuscode) , aggregate( $count as count ) )").unwrap();
        assert_eq!(
            print_apply(&spaced),
            "groupby((statuscode),aggregate($count as count))"
        );
    }

    #[test]
    fn review_regressions() {
        // Multi-byte whitespace before the grouping list: an error, not a panic.
        assert!(parse_apply("groupby(\u{a0}(1))").is_err());
        // Double-quoted JSON strings may hold apostrophes, `)` and `/`.
        let text = r#"filter(Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=["O'Brian","a)/b"]))/groupby((lastname))"#;
        let parsed = parse_apply(text).unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse_apply("groupby((a),aggregate(revenue with median as m))").unwrap_err();
        assert_eq!(e.expected, "sum, min, max, average or countdistinct");
        assert_eq!(e.offset, 35);
        let e = parse_apply("filter(name eq)").unwrap_err();
        assert_eq!(e.offset, 14);
        assert!(parse_apply("compute(a add b as c)").is_err());
        assert!(parse_apply("groupby(statuscode)").is_err());
        assert!(parse_apply("").is_err());
    }
}
