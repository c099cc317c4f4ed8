//! `$expand`: items, nested options in parentheses, and their printing.

use super::{ExpandItem, Opt, QueryOptions, ValueError};
use crate::error::{ParseError, describe};
use crate::limits::MAX_EXPAND_DEPTH;
use crate::split::split_top_level;

/// Parses an `$expand` value (decoded), e.g.
/// `Account_Tasks($select=subject;$filter=contains(subject,'Task');$top=5),primarycontactid`.
///
/// Every `;` is taken as an option separator; [`QueryOptions::parse`] also knows which
/// ones arrived percent-encoded (`%3B`), which a nested `$search` word may contain.
pub fn parse_expand(text: &str) -> Result<Vec<ExpandItem>, ParseError> {
    Expand {
        encoded_semicolons: &[],
    }
    .items(text, 0, 0)
}

/// The selectOptions in the parentheses after a select path (`$select=a($top=1)`), which
/// parse as nested `$expand` options do.
pub(super) fn select_options(inner: &str, base: usize, depth: usize) -> Result<(), ParseError> {
    Expand {
        encoded_semicolons: &[],
    }
    .nested(
        &mut QueryOptions::default(),
        inner,
        base,
        depth,
        Nested::Select,
    )
}

/// An `$expand` value being parsed.
pub(super) struct Expand<'a> {
    /// Offsets in `whole` of the `;` that arrived as `%3B`.
    pub(super) encoded_semicolons: &'a [usize],
}

/// Which options may appear in the parentheses after an expand or select path.
#[derive(Clone, Copy)]
pub(super) enum Nested {
    /// `nav(...)`: expandOption.
    Options,
    /// `nav/$ref(...)`: expandRefOption (`$filter $search $orderby $skip $top $count`).
    Ref,
    /// `nav/$count(...)`: expandCountOption (`$filter $search`).
    Count,
    /// `$select=prop(...)`: selectOption (`$filter $search $count $orderby $skip $top
    /// $compute $select` and aliases).
    Select,
}

impl Nested {
    fn allows(self, opt: Opt) -> bool {
        match self {
            Nested::Options => opt.allowed_in_expand(),
            Nested::Ref => matches!(
                opt,
                Opt::Filter | Opt::Search | Opt::OrderBy | Opt::Skip | Opt::Top | Opt::Count
            ),
            Nested::Count => matches!(opt, Opt::Filter | Opt::Search),
            Nested::Select => opt != Opt::Expand && opt.allowed_in_expand(),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Nested::Options => {
                "one of $select, $filter, $orderby, $top, $skip, $count, $expand, $search"
            }
            Nested::Ref => "one of $filter, $search, $orderby, $skip, $top, $count after '$ref'",
            Nested::Count => "$filter or $search after '$count'",
            Nested::Select => "one of $select, $filter, $orderby, $top, $skip, $count, $search",
        }
    }
}

impl Expand<'_> {
    /// The items of `text`, which starts at `base` in the whole value, at `depth` levels of
    /// nesting. Errors are relative to `text`.
    pub(super) fn items(
        &self,
        text: &str,
        base: usize,
        depth: usize,
    ) -> Result<Vec<ExpandItem>, ParseError> {
        if depth >= MAX_EXPAND_DEPTH {
            return Err(ParseError::new(
                0,
                format!("at most {MAX_EXPAND_DEPTH} levels of nested $expand"),
                "a deeper $expand".to_owned(),
                text,
            ));
        }
        let mut items = Vec::new();
        let mut unsupported = None;
        for (offset, raw_item) in split_top_level(text, b',') {
            let lead = raw_item.len() - raw_item.trim_start().len();
            let item = raw_item.trim();
            let start = offset + lead;
            let (path, nested) = match item.find('(') {
                Some(open) => (item[..open].trim_end(), Some(open)),
                None => (item, None),
            };
            let path_ok = !path.is_empty()
                && path.chars().all(|c| {
                    c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '$' | '*' | '@' | '#')
                });
            if !path_ok {
                let found = describe(if path.is_empty() { item } else { path });
                return Err(ParseError::new(
                    start,
                    "a navigation property path",
                    found,
                    text,
                ));
            }
            let mut options = QueryOptions::default();
            if let Some(open) = nested {
                if !item.ends_with(')') {
                    let end = start + item.len();
                    return Err(ParseError::new(end, "')'", "end of item", text));
                }
                let kind = if path.ends_with("/$ref") || path == "$ref" {
                    Nested::Ref
                } else if path.ends_with("/$count") {
                    Nested::Count
                } else {
                    Nested::Options
                };
                let inner_start = start + open + 1;
                let inner = &text[inner_start..start + item.len() - 1];
                self.nested(&mut options, inner, base + inner_start, depth, kind)
                    .map_err(|e| e.rebase(inner_start, text))?;
            }
            if unsupported.is_none() && path.split('/').any(|s| s.starts_with('@')) {
                // entityAnnotationInQuery: the whole text is still checked first.
                unsupported = Some(ParseError::unsupported(
                    start,
                    "expanding annotations (OData 4.01)",
                    describe(path),
                    text,
                ));
            }
            items.push(ExpandItem {
                path: path.to_owned(),
                options,
            });
        }
        match unsupported {
            Some(error) => Err(error),
            None => Ok(items),
        }
    }

    /// `$select=a;$top=5` inside the parentheses; `text` starts at `base` in the whole
    /// value. Errors are relative to `text`.
    pub(super) fn nested(
        &self,
        options: &mut QueryOptions,
        text: &str,
        base: usize,
        depth: usize,
        kind: Nested,
    ) -> Result<(), ParseError> {
        let mut seen = [false; Opt::ALL.len()];
        let mut unsupported = None;
        for (offset, part) in self.options(text, base) {
            if part.trim().is_empty() {
                continue;
            }
            let Some((name, value)) = part.split_once('=') else {
                let end = offset + part.len();
                return Err(ParseError::new(
                    end,
                    "'=' after the option name",
                    "end of option",
                    text,
                ));
            };
            let value_start = offset + name.len() + 1;
            let lead = name.len() - name.trim_start().len();
            let name = name.trim();
            if (name == "$compute" && matches!(kind, Nested::Options | Nested::Select)
                || name == "$levels" && matches!(kind, Nested::Options))
                && let Some(error) = super::unsupported::unsupported_option(name, value)
            {
                return Err(error.rebase(value_start, text));
            }
            // aliasAndValue in expandOption / selectOption (OData 4.01).
            if name.starts_with('@') && matches!(kind, Nested::Options | Nested::Select) {
                alias_option(name, value).map_err(|e| e.rebase(offset + lead, text))?;
                unsupported.get_or_insert(ParseError::unsupported(
                    offset + lead,
                    "parameter aliases inside $expand/$select options (OData 4.01)",
                    describe(name),
                    text,
                ));
                continue;
            }
            let Some(opt) = Opt::from_name(name).filter(|o| kind.allows(*o)) else {
                return Err(ParseError::new(
                    offset + lead,
                    kind.expected(),
                    describe(name),
                    text,
                ));
            };
            if std::mem::replace(&mut seen[opt.index()], true) {
                let found = describe(name);
                return Err(ParseError::new(
                    offset + lead,
                    "each option at most once",
                    found,
                    text,
                ));
            }
            if opt == Opt::Select {
                options.select = Some(
                    super::select::select_items(value, depth + 1, &select_options)
                        .map_err(|e| e.rebase(value_start, text))?,
                );
                continue;
            }
            if opt == Opt::Expand {
                options.expand = self
                    .items(value, base + value_start, depth + 1)
                    .map_err(|e| e.rebase(value_start, text))?;
                continue;
            }
            options.apply(opt, value).map_err(|e| {
                let expected = match e {
                    ValueError::Parse(e) => return e.rebase(value_start, text),
                    ValueError::NotANumber => "a non-negative integer",
                    ValueError::NotABool => "'true' or 'false'",
                };
                ParseError::new(value_start, expected, describe(value), text)
            })?;
        }
        unsupported.map_or(Ok(()), Err)
    }

    /// The options of `text` (at `base` in the whole value), split on `;`. A `$search`
    /// value runs on over `;` that arrived as `%3B`: its grammar (searchWord) takes them,
    /// while every other option's grammar ends at a `;` however it was written.
    fn options<'t>(&self, text: &'t str, base: usize) -> Vec<(usize, &'t str)> {
        let mut merged: Vec<(usize, &'t str)> = Vec::new();
        let mut open_search = false;
        for (offset, piece) in split_top_level(text, b';') {
            let separator_encoded =
                offset > 0 && self.encoded_semicolons.contains(&(base + offset - 1));
            if open_search
                && separator_encoded
                && let Some((start, _)) = merged.last().copied()
            {
                let last = merged.len() - 1;
                merged[last] = (start, &text[start..offset + piece.len()]);
                continue;
            }
            open_search = piece.trim_start().starts_with("$search=");
            merged.push((offset, piece));
        }
        merged
    }
}

/// `@name=value` (aliasAndValue): an identifier after `@`, and a commonExpr (refused
/// later if Dataverse does not take it). Errors are relative to `name`.
fn alias_option(name: &str, value: &str) -> Result<(), ParseError> {
    let ident = &name[1..];
    if !super::is_identifier(ident) {
        return Err(ParseError::new(
            1,
            "an alias name after '@'",
            describe(ident),
            name,
        ));
    }
    crate::expr::parse_filter(value)
        .map(|_| ())
        .map_err(|e| e.rebase(name.len() + 1, name))
}

pub(super) fn print_expand(items: &[ExpandItem]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.path);
        let nested = item.options.system_pairs(true);
        if !nested.is_empty() {
            out.push('(');
            for (j, (name, value)) in nested.iter().enumerate() {
                if j > 0 {
                    out.push(';');
                }
                out.push_str(name);
                out.push('=');
                out.push_str(value);
            }
            out.push(')');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_depth_is_checked_while_parsing() {
        let deep = |n: usize| "a($expand=".repeat(n) + "a" + &")".repeat(n);
        // 2,800 levels (a 31 KB query) once overflowed the stack before any limit was checked.
        let e = QueryOptions::parse(&format!("$expand={}", deep(2_800))).unwrap_err();
        assert!(e.to_string().contains("levels of nested $expand"), "{e}");
        assert!(QueryOptions::parse(&format!("$expand={}", deep(MAX_EXPAND_DEPTH))).is_err());
        let ok = QueryOptions::parse(&format!("$expand={}", deep(MAX_EXPAND_DEPTH - 1))).unwrap();
        assert_eq!(ok.expand.len(), 1);
    }
}
