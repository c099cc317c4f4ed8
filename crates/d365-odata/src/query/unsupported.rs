//! System query options of OData 4.01 that Dataverse does not have (`$format`,
//! `$compute`, `$index`, `$schemaversion`, `$levels`): their values are checked against
//! the ABNF, so a malformed one is a syntax error where it goes wrong, and a valid one
//! is refused as unsupported.

use crate::error::{ParseError, describe};
use crate::expr::parse_filter;
use crate::split::split_top_level;

/// Checks a value against an option's ABNF rule.
type Check = fn(&str) -> Result<(), ParseError>;

/// Checks `value` of the option `name` if it is one of these options: `None` for any
/// other name, else the error to report (syntax, or unsupported when the value is valid).
pub(super) fn unsupported_option(name: &str, value: &str) -> Option<ParseError> {
    let (feature, check): (&str, Check) = match name {
        "$format" => (
            "$format: Dataverse answers JSON only, chosen by the Accept header",
            format,
        ),
        "$compute" => ("$compute (OData 4.01)", compute),
        "$index" => ("$index (OData 4.01)", index),
        "$schemaversion" => ("$schemaversion (OData 4.01)", schema_version),
        "$levels" => ("$levels in $expand", levels),
        _ => return None,
    };
    Some(match check(value) {
        Err(error) => error,
        Ok(()) => ParseError::unsupported(0, feature, describe(value), value),
    })
}

fn fail(text: &str, at: usize, expected: &str) -> ParseError {
    ParseError::new(at, expected, describe(&text[at.min(text.len())..]), text)
}

/// `"atom" / "json" / "xml" / 1*pchar "/" 1*pchar`
fn format(v: &str) -> Result<(), ParseError> {
    if matches!(v.to_ascii_lowercase().as_str(), "atom" | "json" | "xml") {
        return Ok(());
    }
    let pchar = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c);
    let type_len = v.find(|c| !pchar(c)).unwrap_or(v.len());
    if type_len == 0 || !v[type_len..].starts_with('/') {
        return Err(fail(v, type_len, "'json', 'atom', 'xml' or a media type"));
    }
    let sub = &v[type_len + 1..];
    match sub.find(|c| !pchar(c)) {
        None if !sub.is_empty() => Ok(()),
        None => Err(fail(v, v.len(), "a media subtype")),
        Some(i) => Err(fail(v, type_len + 1 + i, "a media subtype")),
    }
}

/// `computeItem *( COMMA computeItem )`, `computeItem = commonExpr RWS "as" RWS computedProperty`
fn compute(v: &str) -> Result<(), ParseError> {
    for (offset, item) in split_top_level(v, b',') {
        let Some(as_at) = item.rfind(" as ") else {
            return Err(fail(
                v,
                offset + item.len(),
                "' as ' and the computed property's name",
            ));
        };
        let expr = item[..as_at].trim_end();
        match parse_filter(expr) {
            Err(e) if !e.unsupported => return Err(e.rebase(offset, v)),
            _ => {}
        }
        let name = item[as_at + 4..].trim_start();
        let name_at = offset + item.len() - name.len();
        if !super::is_identifier(name) {
            return Err(fail(v, name_at, "the computed property's name"));
        }
    }
    Ok(())
}

/// `[ "-" ] 1*DIGIT`
fn index(v: &str) -> Result<(), ParseError> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let start = v.len() - digits.len();
    match digits.find(|c: char| !c.is_ascii_digit()) {
        None if !digits.is_empty() => Ok(()),
        None => Err(fail(v, v.len(), "digits")),
        Some(i) => Err(fail(v, start + i, "digits")),
    }
}

/// `STAR / 1*unreserved`
fn schema_version(v: &str) -> Result<(), ParseError> {
    if v == "*" {
        return Ok(());
    }
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    match v.find(|c| !unreserved(c)) {
        None if !v.is_empty() => Ok(()),
        None => Err(fail(v, 0, "'*' or a version")),
        Some(i) => Err(fail(v, i, "'*' or a version")),
    }
}

/// `oneToNine *DIGIT / "max"`
fn levels(v: &str) -> Result<(), ParseError> {
    if v == "max" {
        return Ok(());
    }
    if !v.starts_with(|c: char| ('1'..='9').contains(&c)) {
        return Err(fail(v, 0, "a number of levels from 1, or 'max'"));
    }
    match v.find(|c: char| !c.is_ascii_digit()) {
        None => Ok(()),
        Some(i) => Err(fail(v, i, "digits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_values_are_refused_as_unsupported_and_invalid_ones_fail_in_place() {
        for (name, value) in [
            ("$format", "json"),
            ("$format", "application/json;odata.metadata=full"),
            ("$compute", "Price mul Quantity as Total,year(d) as Y"),
            ("$index", "-3"),
            ("$schemaversion", "*"),
            ("$levels", "max"),
        ] {
            let e = unsupported_option(name, value).unwrap();
            assert!(e.unsupported, "{name}={value}: {e}");
        }
        for (name, value, at) in [
            ("$format", "application", 11),
            ("$compute", "Price mul as Total", 9),
            ("$index", "1a", 1),
            ("$levels", "0", 0),
        ] {
            let e = unsupported_option(name, value).unwrap();
            assert!(!e.unsupported, "{name}={value}: {e}");
            assert_eq!(e.offset, at, "{name}={value}: {e}");
        }
        assert!(unsupported_option("$filter", "x").is_none());
    }
}
