//! System query options (`$select`, `$filter`, ...), parameter aliases and
//! custom options: parsing a raw query string and printing a canonical one.
//!
//! See <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/overview>
//! and OData 4.01 URL Conventions §5.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::encode::encode_query_value;
use crate::error::ParseError;
use crate::expr::{Expr, OrderBy, parse_filter, parse_orderby};
use crate::print::{print_expr, print_orderby};

mod expand;
mod search;
mod select;
mod unsupported;

pub use expand::parse_expand;
use expand::print_expand;
pub(crate) use search::check_search;

/// Parses a `$select` value: `*` or comma-separated property paths. (Here, not in `select`,
/// because a nested `$select=a($select=b)` parses its options as `$expand`'s do: this wires
/// the two without `select` and `expand` importing each other.)
pub fn parse_select(text: &str) -> Result<Vec<SelectItem>, ParseError> {
    select::select_items(text, 0, &expand::select_options)
}

/// Everything that can follow the `?` of a Dataverse query URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    /// `$select=name,primarycontactid/fullname` or `$select=*`.
    pub select: Option<Vec<SelectItem>>,
    /// `$filter=...`.
    pub filter: Option<Expr>,
    /// `$orderby=revenue desc,name` (empty when absent).
    pub orderby: Vec<OrderBy>,
    /// `$top=10`.
    pub top: Option<u64>,
    /// `$skip=10` (OData; Dataverse rejects it).
    pub skip: Option<u64>,
    /// `$count=true`.
    pub count: Option<bool>,
    /// `$expand=a($select=x;$top=5),b` (empty when absent).
    pub expand: Vec<ExpandItem>,
    /// `$apply=...`, kept as decoded text.
    pub apply: Option<String>,
    /// `$search=...`, kept as decoded text.
    pub search: Option<String>,
    /// `$skiptoken=...` (Dataverse paging cookie), decoded once.
    pub skiptoken: Option<String>,
    /// `$deltatoken=...`, decoded.
    pub deltatoken: Option<String>,
    /// `fetchXml=<fetch ...>`, decoded.
    pub fetch_xml: Option<String>,
    /// Parameter aliases `@p1=...`, name without `@`, value parsed as an expression.
    pub aliases: Vec<(String, Expr)>,
    /// Other options without `$` or `@` (decoded name and value), in order.
    pub custom: Vec<(String, String)>,
}

/// One `$select` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`.
    All,
    /// A property name or path, split on `/`.
    Path(Vec<String>),
}

/// One `$expand` item with its nested options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpandItem {
    /// Navigation property path as written, e.g. `primarycontactid` or `*`.
    pub path: String,
    /// Nested `$select;$filter;$orderby;$top;$skip;$count;$expand;$search`.
    /// Other fields are ignored when printing.
    pub options: QueryOptions,
}

/// Why a query string was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// An option value does not parse. The message includes the parse error
    /// itself (not as `source`, so `{:#}` chains do not print it twice).
    #[error("invalid {option}: {error}")]
    Invalid {
        /// Option name, e.g. `$filter` or `@p1`.
        option: String,
        /// Where and why, relative to the decoded value.
        error: ParseError,
    },
    /// Valid OData that Dataverse does not support (`$format`, `$compute`, ...).
    #[error("{option}: {error}")]
    Unsupported {
        /// Option name, e.g. `$format`.
        option: String,
        /// What is not supported, where (relative to the decoded value).
        error: ParseError,
    },
    /// `$top`/`$skip` is not a non-negative integer.
    #[error("invalid {option}: expected a non-negative integer, found '{value}'")]
    InvalidNumber {
        /// Option name.
        option: String,
        /// The decoded value.
        value: String,
    },
    /// `$count` is not `true` or `false`.
    #[error("invalid {option}: expected 'true' or 'false', found '{value}'")]
    InvalidBool {
        /// Option name.
        option: String,
        /// The decoded value.
        value: String,
    },
    /// A `$`-option this crate does not know (names are case-sensitive).
    #[error("unknown system query option '{0}'")]
    UnknownOption(String),
    /// A system option or alias given twice.
    #[error("duplicate query option '{0}'")]
    DuplicateOption(String),
    /// A name or value is not UTF-8 after percent-decoding.
    #[error("query option '{0}' is not valid UTF-8 after percent-decoding")]
    InvalidEncoding(String),
}

/// The system options this crate models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Select,
    Expand,
    Filter,
    OrderBy,
    Top,
    Skip,
    Count,
    Apply,
    Search,
    SkipToken,
    DeltaToken,
    FetchXml,
}

impl Opt {
    /// In printing order.
    const ALL: [Opt; 12] = [
        Opt::Select,
        Opt::Expand,
        Opt::Filter,
        Opt::OrderBy,
        Opt::Top,
        Opt::Skip,
        Opt::Count,
        Opt::Apply,
        Opt::Search,
        Opt::SkipToken,
        Opt::DeltaToken,
        Opt::FetchXml,
    ];

    fn name(self) -> &'static str {
        match self {
            Opt::Select => "$select",
            Opt::Expand => "$expand",
            Opt::Filter => "$filter",
            Opt::OrderBy => "$orderby",
            Opt::Top => "$top",
            Opt::Skip => "$skip",
            Opt::Count => "$count",
            Opt::Apply => "$apply",
            Opt::Search => "$search",
            Opt::SkipToken => "$skiptoken",
            Opt::DeltaToken => "$deltatoken",
            Opt::FetchXml => "fetchXml",
        }
    }

    fn from_name(name: &str) -> Option<Opt> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    fn allowed_in_expand(self) -> bool {
        matches!(
            self,
            Opt::Select
                | Opt::Filter
                | Opt::OrderBy
                | Opt::Top
                | Opt::Skip
                | Opt::Count
                | Opt::Expand
                | Opt::Search
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A bad value, before we know whether it sits at the top level or in `$expand`.
enum ValueError {
    Parse(ParseError),
    NotANumber,
    NotABool,
}

impl From<ParseError> for ValueError {
    fn from(e: ParseError) -> Self {
        ValueError::Parse(e)
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then `%XX`.
fn form_decode(raw: &str) -> Option<String> {
    let spaced: Cow<'_, str> = if raw.contains('+') {
        raw.replace('+', " ").into()
    } else {
        raw.into()
    };
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// [`form_decode`], also returning the offsets (in the decoded text) of the `;` that
/// arrived as `%3B`: inside `$expand`, a nested `$search` word may contain those.
fn form_decode_marking_semicolons(raw: &str) -> Option<(String, Vec<usize>)> {
    let mut marks = Vec::new();
    let mut decoded_len = 0;
    let mut rest = raw;
    while let Some(i) = rest.find('%') {
        decoded_len += form_decode(&rest[..i])?.len();
        let triple = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        if triple.eq_ignore_ascii_case("%3B") {
            marks.push(decoded_len);
            decoded_len += 1;
            rest = &rest[i + 3..];
        } else {
            // Any other escape: decoded with its neighbours below; count one byte for a
            // whole `%XX`, as the decoder will.
            let whole = triple.len() == 3 && triple[1..].bytes().all(|b| b.is_ascii_hexdigit());
            decoded_len += 1;
            rest = &rest[i + if whole { 3 } else { 1 }..];
        }
    }
    Some((form_decode(raw)?, marks))
}

impl QueryOptions {
    /// Parses a raw query string (after the `?`, still percent-encoded).
    ///
    /// Pairs are split on `&` and at the first `=`; names and values are
    /// form-decoded (`+` is a space, so a literal plus must arrive as `%2B`).
    /// Option names are case-sensitive; unknown `$` options and repeated
    /// system options or aliases are errors.
    ///
    /// ```
    /// use d365_odata::QueryOptions;
    /// let q = QueryOptions::parse("%24select=name&$filter=name+eq+'a%2Bb'&$top=5").unwrap();
    /// assert_eq!(q.top, Some(5));
    /// assert_eq!(q.to_query_string(), "$select=name&$filter=name%20eq%20'a%2Bb'&$top=5");
    /// ```
    pub fn parse(raw_query: &str) -> Result<QueryOptions, QueryError> {
        let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
        let mut options = QueryOptions::default();
        let mut seen = [false; Opt::ALL.len()];
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(raw_name)
                .ok_or_else(|| QueryError::InvalidEncoding(raw_name.to_owned()))?;
            let value =
                form_decode(raw_value).ok_or_else(|| QueryError::InvalidEncoding(name.clone()))?;
            if let Some(alias) = name.strip_prefix('@') {
                if options.aliases.iter().any(|(n, _)| n == alias) {
                    return Err(QueryError::DuplicateOption(name));
                }
                let expr = parse_filter(&value).map_err(|error| QueryError::Invalid {
                    option: name.clone(),
                    error,
                })?;
                options.aliases.push((alias.to_owned(), expr));
                continue;
            }
            let Some(opt) = Opt::from_name(&name) else {
                if let Some(error) = unsupported::unsupported_option(&name, &value) {
                    return Err(if error.unsupported {
                        QueryError::Unsupported {
                            option: name,
                            error,
                        }
                    } else {
                        QueryError::Invalid {
                            option: name,
                            error,
                        }
                    });
                }
                if name.starts_with('$') {
                    return Err(QueryError::UnknownOption(name));
                }
                options.custom.push((name, value));
                continue;
            };
            if std::mem::replace(&mut seen[opt.index()], true) {
                return Err(QueryError::DuplicateOption(name));
            }
            let invalid = |error| QueryError::Invalid {
                option: name.clone(),
                error,
            };
            if opt == Opt::Expand {
                let (value, encoded_semicolons) = form_decode_marking_semicolons(raw_value)
                    .ok_or_else(|| QueryError::InvalidEncoding(name.clone()))?;
                let expand = expand::Expand {
                    encoded_semicolons: &encoded_semicolons,
                };
                options.expand = expand.items(&value, 0, 0).map_err(invalid)?;
                continue;
            }
            if opt == Opt::Search
                && let Some(error) = search::raw_search_error(raw_value, &value)
            {
                return Err(invalid(error));
            }
            options.apply(opt, &value).map_err(|e| match e {
                ValueError::Parse(error) => QueryError::Invalid {
                    option: name.clone(),
                    error,
                },
                ValueError::NotANumber => QueryError::InvalidNumber {
                    option: name.clone(),
                    value: value.clone(),
                },
                ValueError::NotABool => QueryError::InvalidBool {
                    option: name.clone(),
                    value: value.clone(),
                },
            })?;
        }
        Ok(options)
    }

    /// Parses one decoded option value into its field.
    fn apply(&mut self, opt: Opt, value: &str) -> Result<(), ValueError> {
        let number = |v: &str| {
            // `u64::from_str` would accept a leading `+`; the ABNF does not.
            if v.starts_with('+') {
                return Err(ValueError::NotANumber);
            }
            v.parse::<u64>().map_err(|_| ValueError::NotANumber)
        };
        match opt {
            Opt::Select => self.select = Some(parse_select(value)?),
            Opt::Expand => self.expand = parse_expand(value)?,
            Opt::Filter => self.filter = Some(parse_filter(value)?),
            Opt::OrderBy => self.orderby = parse_orderby(value)?,
            Opt::Top => self.top = Some(number(value)?),
            Opt::Skip => self.skip = Some(number(value)?),
            Opt::Count => {
                self.count = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ValueError::NotABool),
                });
            }
            Opt::Apply => {
                // Checked here so every $apply that passes parsing is valid; kept as text.
                crate::apply::parse_apply(value)?;
                self.apply = Some(value.to_owned());
            }
            Opt::Search => {
                search::check_search(value)?;
                self.search = Some(value.to_owned());
            }
            Opt::SkipToken => self.skiptoken = Some(value.to_owned()),
            Opt::DeltaToken => self.deltatoken = Some(value.to_owned()),
            Opt::FetchXml => self.fetch_xml = Some(value.to_owned()),
        }
        Ok(())
    }

    /// Decoded `(name, value)` pairs of the system options, in printing order.
    /// Inside `$expand` only the options allowed there are printed.
    fn system_pairs(&self, nested: bool) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for opt in Opt::ALL {
            if nested && !opt.allowed_in_expand() {
                continue;
            }
            let value = match opt {
                Opt::Select => self.select.as_deref().map(print_select),
                Opt::Expand => (!self.expand.is_empty()).then(|| print_expand(&self.expand)),
                Opt::Filter => self.filter.as_ref().map(print_expr),
                Opt::OrderBy => (!self.orderby.is_empty()).then(|| print_orderby(&self.orderby)),
                Opt::Top => self.top.map(|n| n.to_string()),
                Opt::Skip => self.skip.map(|n| n.to_string()),
                Opt::Count => self.count.map(|b| b.to_string()),
                Opt::Apply => self.apply.clone(),
                Opt::Search => self.search.clone(),
                Opt::SkipToken => self.skiptoken.clone(),
                Opt::DeltaToken => self.deltatoken.clone(),
                Opt::FetchXml => self.fetch_xml.clone(),
            };
            if let Some(value) = value {
                pairs.push((opt.name(), value));
            }
        }
        pairs
    }

    /// Prints canonical raw query text (without `?`): system options in a fixed
    /// order (`$select $expand $filter $orderby $top $skip $count $apply
    /// $search $skiptoken $deltatoken fetchXml`), then aliases, then custom
    /// options, each value percent-encoded so it survives form decoding.
    /// `QueryOptions::parse` of the result gives back `self`.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        let mut push = |name: &str, value: &str| {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&encode_query_value(name));
            out.push('=');
            let encoded = encode_query_value(value);
            if name == "$search" {
                // A search word takes `;` only percent-encoded (searchChar), and an
                // encoded value has no other `;`.
                out.push_str(&encoded.replace(';', "%3B"));
            } else {
                out.push_str(&encoded);
            }
        };
        for (name, value) in self.system_pairs(false) {
            push(name, &value);
        }
        for (name, expr) in &self.aliases {
            push(&format!("@{name}"), &print_expr(expr));
        }
        for (name, value) in &self.custom {
            push(name, value);
        }
        out
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == QueryOptions::default()
    }
}

fn print_select(items: &[SelectItem]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            SelectItem::All => "*".to_owned(),
            SelectItem::Path(path) => path.join("/"),
        })
        .collect();
    parts.join(",")
}

/// Whether `text` is an odataIdentifier (a letter or `_`, then letters, digits, `_`).
pub(crate) fn is_identifier(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_alphabetic())
        && text.chars().all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%2Bc%20d").as_deref(), Some("a b+c d"));
        assert_eq!(form_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(form_decode("%FF"), None);
    }
}
