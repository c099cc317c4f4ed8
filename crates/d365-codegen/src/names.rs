//! Rust identifiers from Dataverse names. Logical names are `[a-z0-9_]` in practice, but a
//! `$metadata` file is input, so anything else is mapped to `_` and keywords are escaped.

/// Keywords that `r#` can escape.
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers: they get a trailing `_`.
const PLAIN_KEYWORDS: &[&str] = &["crate", "self", "super", "Self", "_"];

/// A field name: `accountid` → `accountid`, `type` → `r#type`, `2fa` → `_2fa`.
pub(crate) fn field(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    escape(out)
}

/// A type or variant name: `new_project` → `NewProject`, `Doctor's Offices` → `DoctorsOffices`,
/// `2 Days` → `V2Days`; `None` if nothing alphanumeric is left.
pub(crate) fn camel(text: &str) -> Option<String> {
    let mut out = String::new();
    // Apostrophes join (`Doctor's` → `Doctors`); other punctuation separates words.
    for word in text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
        .map(|w| w.replace('\'', ""))
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    Some(escape(out))
}

fn escape(name: String) -> String {
    if PLAIN_KEYWORDS.contains(&name.as_str()) {
        format!("{name}_")
    } else if RAW_KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// The field name of a lookup property: `_primarycontactid_value` → `primarycontactid`.
pub(crate) fn lookup_field(property: &str) -> String {
    let inner = property
        .strip_prefix('_')
        .and_then(|p| p.strip_suffix("_value"))
        .filter(|p| !p.is_empty())
        .unwrap_or(property);
    field(inner)
}

/// A name without its `r#`, for building other names from it.
pub(crate) fn bare(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// Levenshtein distance, for "did you mean" on table names.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        assert_eq!(field("accountid"), "accountid");
        assert_eq!(field("type"), "r#type");
        assert_eq!(field("self"), "self_");
        assert_eq!(field("2fa"), "_2fa");
        assert_eq!(field("Odd-Name"), "odd_name");
        assert_eq!(lookup_field("_primarycontactid_value"), "primarycontactid");
        assert_eq!(lookup_field("_type_value"), "r#type");
        assert_eq!(lookup_field("_value"), "_value");
    }

    #[test]
    fn camel_case() {
        assert_eq!(camel("account").as_deref(), Some("Account"));
        assert_eq!(camel("new_project").as_deref(), Some("NewProject"));
        assert_eq!(
            camel("Doctor's Offices and Clinics").as_deref(),
            Some("DoctorsOfficesAndClinics")
        );
        assert_eq!(
            camel("Agriculture and Non-petrol").as_deref(),
            Some("AgricultureAndNonPetrol")
        );
        assert_eq!(camel("2 Days").as_deref(), Some("V2Days"));
        assert_eq!(camel("Self").as_deref(), Some("Self_"));
        assert_eq!(camel("Ünïcode").as_deref(), Some("NCode"));
        assert_eq!(camel(" - "), None);
    }

    #[test]
    fn distances() {
        assert_eq!(distance("acount", "account"), 1);
        assert_eq!(distance("contact", "contact"), 0);
        assert_eq!(distance("", "abc"), 3);
    }
}
