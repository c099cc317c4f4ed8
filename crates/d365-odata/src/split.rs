//! Splitting option text at a separator that stands outside nesting and quotes: `$expand`
//! items, nested options, `$apply` steps.

/// Splits on `sep` outside parentheses, brackets and quoted strings
/// (`'...'` with `''`, `"..."` with `\` escapes). Yields `(offset, piece)`.
pub(crate) fn split_top_level(text: &str, sep: u8) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let (mut in_single, mut in_double, mut escaped) = (false, false, false);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if in_double {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_double = false,
                _ => {}
            }
            continue;
        }
        match b {
            // A doubled quote toggles twice, which is exactly right.
            b'\'' => in_single = !in_single,
            _ if in_single => {}
            b'"' => in_double = true,
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            _ if b == sep && depth == 0 => {
                pieces.push((start, &text[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push((start, &text[start..]));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_nesting_and_quotes() {
        let pieces: Vec<&str> = split_top_level(r#"a(b,c),'x,''y',"p\",q",[1,2],z"#, b',')
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(pieces, ["a(b,c)", "'x,''y'", r#""p\",q""#, "[1,2]", "z"]);
    }
}
