//! XML attribute escaping for the CSDL writer (the entity types and the operations both write
//! attributes).

/// Escapes text for an XML attribute value (quotes, markup and whitespace that
/// attribute-value normalisation would otherwise turn into spaces).
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}
