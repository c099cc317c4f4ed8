//! The `Prefer` request header and the matching `Preference-Applied` values.
//!
//! See RFC 7240 and
//! <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#http-headers>.

use crate::error::{ParseError, describe};

/// The preferences Dataverse understands, plus anything else verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `return=representation`.
    pub return_representation: bool,
    /// `odata.maxpagesize=N`.
    pub max_page_size: Option<u32>,
    /// `odata.include-annotations="..."`, unquoted: `*` or a comma list such as
    /// `OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname`.
    pub include_annotations: Option<String>,
    /// `odata.track-changes`.
    pub track_changes: bool,
    /// `odata.continue-on-error`.
    pub continue_on_error: bool,
    /// Every other preference as written (trimmed), including a
    /// `odata.maxpagesize` whose value is not a `u32`.
    pub other: Vec<String>,
}

impl Prefer {
    /// Parses one or several `Prefer` header values. Lenient: unknown
    /// preferences go to `other`, parameters after `;` are ignored, and
    /// names are matched case-insensitively (RFC 7240 §2), with or without
    /// the `odata.` prefix.
    ///
    /// ```
    /// use d365_odata::Prefer;
    /// let p = Prefer::parse(["odata.maxpagesize=50,odata.include-annotations=\"a,b\"", "return=representation"]);
    /// assert_eq!(p.max_page_size, Some(50));
    /// assert_eq!(p.include_annotations.as_deref(), Some("a,b"));
    /// assert!(p.return_representation);
    /// ```
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Prefer {
        let mut prefer = Prefer::default();
        for value in values {
            for preference in split_unquoted(value, ',') {
                prefer.add(preference.trim());
            }
        }
        prefer
    }

    /// Parses one `Prefer` header value strictly (RFC 7240 §2 and OData 4.01
    /// Protocol §8.2.8): each preference is a token with an optional `=` value
    /// (token or quoted string) and `;` parameters; `odata.maxpagesize` must be a
    /// positive integer and every `odata.include-annotations` entry must be `*`,
    /// `Namespace.*` or `Namespace.Term`, optionally `-`-prefixed and
    /// `#qualifier`-suffixed. Errors point into `value`.
    ///
    /// ```
    /// use d365_odata::Prefer;
    /// assert_eq!(Prefer::parse_checked("odata.maxpagesize=20").unwrap().max_page_size, Some(20));
    /// assert_eq!(Prefer::parse_checked("odata.maxpagesize=0").unwrap_err().offset, 18);
    /// ```
    pub fn parse_checked(value: &str) -> Result<Prefer, ParseError> {
        let err = |at: usize, expected: &str| {
            ParseError::new(at, expected, describe(value.get(at..).unwrap_or("")), value)
        };
        let mut base = 0;
        for piece in split_unquoted(value, ',') {
            let start = base;
            base += piece.len() + 1;
            let lead = piece.len() - piece.trim_start().len();
            let at = start + lead;
            let head = split_unquoted(piece, ';').next().unwrap_or("");
            let head_trim = head.trim();
            if head_trim.is_empty() {
                continue;
            }
            let name_len = head_trim
                .find(|c: char| !is_tchar(c))
                .unwrap_or(head_trim.len());
            if name_len == 0 {
                return Err(err(at, "a preference name"));
            }
            let name = &head_trim[..name_len];
            let rest = &head_trim[name_len..];
            let rest_trim = rest.trim_start();
            if !rest_trim.is_empty() {
                let Some(raw) = rest_trim.strip_prefix('=') else {
                    return Err(err(
                        at + name_len + rest.len() - rest_trim.len(),
                        "'=' or ';'",
                    ));
                };
                let v_at = at + head_trim.len() - raw.trim_start().len();
                let raw = raw.trim();
                let quoted = raw.starts_with('"');
                if quoted && (raw.len() < 2 || !raw.ends_with('"')) {
                    return Err(err(v_at + raw.len(), "a closing '\"'"));
                }
                if !quoted && (raw.is_empty() || !raw.chars().all(is_tchar)) {
                    return Err(err(v_at, "a token or a quoted string"));
                }
                let lower = name.to_ascii_lowercase();
                let bare = lower.strip_prefix("odata.").unwrap_or(&lower);
                if bare == "maxpagesize" && !matches!(raw.parse::<u32>(), Ok(n) if n > 0) {
                    return Err(err(v_at, "a positive page size"));
                }
                if bare == "include-annotations" {
                    let inner = unquote(raw);
                    let mut item_at = v_at + usize::from(quoted);
                    for item in inner.split(',') {
                        if let Some(bad) = annotation_filter_error(item) {
                            return Err(err(
                                item_at + bad,
                                "'*', 'Namespace.*' or 'Namespace.Term'",
                            ));
                        }
                        item_at += item.len() + 1;
                    }
                }
            }
        }
        Ok(Prefer::parse([value]))
    }

    fn add(&mut self, preference: &str) {
        // Parameters (`; ...`) carry nothing Dataverse uses.
        let Some(head) = split_unquoted(preference, ';').next() else {
            return;
        };
        let head = head.trim();
        if head.is_empty() {
            return;
        }
        let (name, value) = match head.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
            None => (head, None),
        };
        let name = name.to_ascii_lowercase();
        let name = name.strip_prefix("odata.").unwrap_or(&name);
        match (name, value) {
            ("return", Some(v)) if v.eq_ignore_ascii_case("representation") => {
                self.return_representation = true;
            }
            ("maxpagesize", Some(v)) if v.parse::<u32>().is_ok() => {
                self.max_page_size = v.parse().ok();
            }
            ("include-annotations", Some(v)) => self.include_annotations = Some(v),
            ("track-changes", None) => self.track_changes = true,
            ("continue-on-error", None) => self.continue_on_error = true,
            _ => self.other.push(head.to_owned()),
        }
    }

    /// One header value with every preference, comma-separated:
    /// `return=representation,odata.maxpagesize=50,odata.include-annotations="*",
    /// odata.track-changes,odata.continue-on-error`, then `other`. Empty when
    /// nothing is set.
    pub fn to_header_value(&self) -> String {
        let mut parts = Vec::new();
        if self.return_representation {
            parts.push("return=representation".to_owned());
        }
        if let Some(n) = self.max_page_size {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if let Some(list) = &self.include_annotations {
            let escaped = list.replace('\\', "\\\\").replace('"', "\\\"");
            parts.push(format!("odata.include-annotations=\"{escaped}\""));
        }
        if self.track_changes {
            parts.push("odata.track-changes".to_owned());
        }
        if self.continue_on_error {
            parts.push("odata.continue-on-error".to_owned());
        }
        parts.extend(self.other.iter().cloned());
        parts.join(",")
    }

    /// Whether the annotation `name` (with or without a leading `@`) is covered
    /// by `odata.include-annotations`: `*`, a prefix ending in `*`
    /// (`OData.Community.Display.V1.*`, `Microsoft.PowerApps.CDS.ErrorDetails*`)
    /// or the exact name. Entries starting with `-` exclude, and win over includes.
    pub fn annotation_requested(&self, name: &str) -> bool {
        let Some(list) = &self.include_annotations else {
            return false;
        };
        let name = name.strip_prefix('@').unwrap_or(name);
        let matches = |pattern: &str| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        };
        let mut included = false;
        for entry in list.split(',').map(str::trim) {
            match entry.strip_prefix('-') {
                Some(excluded) if matches(excluded) => return false,
                Some(_) => {}
                None => included |= matches(entry),
            }
        }
        included
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Where an `include-annotations` entry stops being valid, if it does.
fn annotation_filter_error(item: &str) -> Option<usize> {
    let body_at = usize::from(item.starts_with('-'));
    let body = &item[body_at..];
    let (name, qualifier) = match body.split_once('#') {
        Some((n, q)) => (n, Some(q)),
        None => (body, None),
    };
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c == '_' || c.is_alphabetic())
            && s.chars().all(|c| c == '_' || c.is_alphanumeric())
    };
    if let Some(q) = qualifier
        && !ident(q)
    {
        return Some(body_at + name.len() + 1);
    }
    if name == "*" {
        return None;
    }
    let parts: Vec<&str> = name.split('.').collect();
    let mut at = body_at;
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if !(ident(part) || (last && i > 0 && *part == "*")) {
            return Some(at);
        }
        at += part.len() + 1;
    }
    // A bare name is neither a namespace wildcard nor a qualified term.
    (parts.len() < 2).then_some(body_at + name.len())
}

/// Splits on `sep` outside double quotes (a `\` escapes inside quotes).
fn split_unquoted(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                pieces.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces.into_iter()
}

/// Removes surrounding double quotes and `\` escapes (RFC 7230 quoted-string).
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_header_with_quoted_commas() {
        let p = Prefer::parse([
            "odata.maxpagesize=50, odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname\"",
        ]);
        assert_eq!(p.max_page_size, Some(50));
        assert_eq!(
            p.include_annotations.as_deref(),
            Some(
                "OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname"
            )
        );
        assert!(p.other.is_empty());
    }

    #[test]
    fn repeated_headers_and_flags() {
        let p = Prefer::parse([
            "return=representation",
            "odata.track-changes",
            "odata.continue-on-error; foo=bar",
            "respond-async, wait=10",
        ]);
        assert!(p.return_representation && p.track_changes && p.continue_on_error);
        assert_eq!(p.other, ["respond-async", "wait=10"]);
    }

    #[test]
    fn lenient_about_bad_values() {
        let p = Prefer::parse(["odata.maxpagesize=lots", "return=minimal", "", " , "]);
        assert_eq!(p.max_page_size, None);
        assert_eq!(p.other, ["odata.maxpagesize=lots", "return=minimal"]);
        let p = Prefer::parse(["Odata.MaxPageSize=\"10\"", "maxpagesize=20"]);
        assert_eq!(p.max_page_size, Some(20));
    }

    #[test]
    fn header_value_round_trips() {
        let p = Prefer {
            return_representation: true,
            max_page_size: Some(5000),
            include_annotations: Some("*".into()),
            track_changes: true,
            continue_on_error: true,
            other: vec!["respond-async".into()],
        };
        let header = p.to_header_value();
        assert_eq!(
            header,
            "return=representation,odata.maxpagesize=5000,odata.include-annotations=\"*\",odata.track-changes,odata.continue-on-error,respond-async"
        );
        assert_eq!(Prefer::parse([header.as_str()]), p);
        assert_eq!(Prefer::default().to_header_value(), "");
    }

    #[test]
    fn annotation_wildcards() {
        let with = |list: &str| Prefer {
            include_annotations: Some(list.into()),
            ..Prefer::default()
        };
        let fv = "OData.Community.Display.V1.FormattedValue";
        assert!(with("*").annotation_requested(fv));
        assert!(with("*").annotation_requested("@Microsoft.Dynamics.CRM.lookuplogicalname"));
        assert!(with("OData.Community.Display.V1.*").annotation_requested(fv));
        assert!(
            !with("OData.Community.Display.V1.*").annotation_requested("Microsoft.Dynamics.CRM.x")
        );
        assert!(with(&format!("Microsoft.Dynamics.CRM.a, {fv}")).annotation_requested(fv));
        assert!(!with("OData.Community.Display.V1.FormattedValueX").annotation_requested(fv));
        assert!(
            with("Microsoft.PowerApps.CDS.ErrorDetails*")
                .annotation_requested("Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus")
        );
        assert!(!with(&format!("*,-{fv}")).annotation_requested(fv));
        assert!(!Prefer::default().annotation_requested(fv));
    }
}
