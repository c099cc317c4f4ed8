//! A record's JSON text, taken as the service wrote it: the export copies each record's bytes
//! from the page to its NDJSON part file, and a CSV row reads each column's text from the
//! record (`lines.rs`), without a `serde_json::Value` per record.
//!
//! NDJSON part files hold each record as `serde_json` writes it (compact, its escapes), without the
//! record's own annotations (`@odata.etag`, `name@OData.Community.Display.V1.FormattedValue`):
//! that was the file format when every record went through a `Value`, and it stays byte for
//! byte. A record's text is copied as it is when it is already in that form ([`Scan`]), which
//! is how Dataverse and the emulator write them; otherwise (whitespace between tokens, an escape
//! `serde_json` would not write, such as `\/` or `\u00e9`, an exponent `1E5` it writes `1e+5`)
//! it still goes through a `Value`. Numbers keep their digits either way (the workspace's
//! `arbitrary_precision`): `12345.6789000` stays as written.

use std::borrow::Cow;

use serde_json::Value;

/// One top-level member of a record: byte offsets into its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    /// The opening `"` of the name.
    pub(super) start: usize,
    /// The closing `"` of the name.
    pub(super) name_end: usize,
    /// Just past the value.
    pub(super) end: usize,
}

impl Member {
    /// The name as written (between the quotes, escapes not decoded).
    fn raw_name<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start + 1..self.name_end]
    }

    /// The name, decoded.
    pub(crate) fn name<'a>(&self, text: &'a str) -> Cow<'a, str> {
        json_string(&text[self.start..=self.name_end])
    }

    /// The value's JSON text (in canonical form, right after the `:`).
    pub(crate) fn value<'a>(&self, text: &'a str) -> &'a str {
        &text[self.name_end + 2..self.end]
    }

    /// An annotation of the record (`@odata.etag`, `x@OData.Community…`).
    pub(super) fn is_annotation(&self, text: &str) -> bool {
        self.raw_name(text).starts_with('@')
    }
}

/// A JSON string's text (with its quotes) as the string: borrowed when it has no escape.
fn json_string(text: &str) -> Cow<'_, str> {
    let inner = &text[1..text.len() - 1];
    if inner.contains('\\') {
        // Valid JSON (checked when the page or line was read): decoding cannot fail.
        Cow::Owned(serde_json::from_str(text).unwrap_or_default())
    } else {
        Cow::Borrowed(inner)
    }
}

/// The members of one record, and whether its text is exactly what `serde_json` would write
/// for it. Reused from record to record (one allocation per page, not per record).
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(super) members: Vec<Member>,
    /// The names of the last record whose names were checked (see `repeats_a_name`)…
    names: Vec<u8>,
    /// … and whether one of them was repeated.
    repeats: bool,
}

impl Scan {
    /// Scans `text`, one valid JSON value (serde_json checked it). `Some(members)` when it is
    /// an object in `serde_json`'s own form: no whitespace between tokens, exponents written
    /// `e+n` or `e-n`, and only the escapes `serde_json` writes (`\"`, `\\`, `\b \f \n \r \t`, and `\u00xx` for the other
    /// control characters, lowercase). `None` otherwise: the caller takes the `Value` path.
    pub(crate) fn members(&mut self, text: &str) -> Option<&[Member]> {
        self.members.clear();
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'{') {
            return None;
        }
        let (mut depth, mut i) = (0usize, 0usize);
        // At depth 1, the next string is a name; `start`/`name_end` of the member being read.
        let (mut expect_name, mut start, mut name_end) = (false, 0, 0);
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    let opened = i;
                    i += 1;
                    loop {
                        match *bytes.get(i)? {
                            b'"' => break,
                            b'\\' => i += canonical_escape(&bytes[i..])?,
                            _ => i += 1,
                        }
                    }
                    if depth == 1 && expect_name {
                        (start, name_end, expect_name) = (opened, i, false);
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    expect_name = depth == 1;
                }
                b'}' | b']' => {
                    if depth == 1 && !expect_name {
                        self.members.push(Member {
                            start,
                            name_end,
                            end: i,
                        });
                    }
                    depth = depth.checked_sub(1)?;
                }
                b',' if depth == 1 => {
                    self.members.push(Member {
                        start,
                        name_end,
                        end: i,
                    });
                    expect_name = true;
                }
                b' ' | b'\t' | b'\n' | b'\r' => return None,
                // serde_json writes an exponent as `e+5` / `e-5` (an `e` in `true` or
                // `false` is followed by neither a digit nor a sign).
                b'E' => return None,
                b'e' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => return None,
                _ => {}
            }
            i += 1;
        }
        Some(&self.members)
    }
}

/// The length of the escape at the start of `at` (which starts with `\`) when `serde_json`
/// writes that character with that very escape; `None` when it writes it otherwise.
pub(super) fn canonical_escape(at: &[u8]) -> Option<usize> {
    match *at.get(1)? {
        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => {
            let hex = at.get(2..6)?;
            let lower = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
            let code = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            let short = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
            (hex.starts_with(b"00") && hex.iter().all(lower) && code < 0x20 && !short).then_some(6)
        }
        _ => None,
    }
}

/// Appends a record to a part file's buffer, one NDJSON line, without its annotations: its own
/// bytes when they are in `serde_json`'s form, else through a `Value` (the same bytes
/// `serde_json` would write). `scan.members` are as [`Scan::members`] found them when
/// `canonical` (the record is in `serde_json`'s form).
pub(super) fn write_scanned(
    scan: &mut Scan,
    canonical: bool,
    text: &str,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    // A repeated name (never in Dataverse's answers) is one member in a `Value`: the last.
    if canonical && !scan.repeats_a_name(text) {
        // The members kept, a run of neighbours (and the `,` between them) at a time: the
        // whole record at once when it has no annotation.
        let bytes = text.as_bytes();
        out.push(b'{');
        let mut run: Option<(usize, usize)> = None;
        let mut first = true;
        let mut flush = |run: (usize, usize), out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.extend_from_slice(&bytes[run.0..run.1]);
        };
        for m in &scan.members {
            if m.is_annotation(text) {
                if let Some(done) = run.take() {
                    flush(done, out);
                }
            } else {
                run = Some((run.map_or(m.start, |r| r.0), m.end));
            }
        }
        if let Some(done) = run {
            flush(done, out);
        }
        out.push(b'}');
    } else {
        serde_json::to_writer(&mut *out, &without_annotations(text)?)?;
    }
    out.push(b'\n');
    Ok(())
}

/// The record `text` as a `Value`, without its own annotations (the members whose name starts
/// with `@`): the record as the export's files hold it.
pub(super) fn without_annotations(text: &str) -> serde_json::Result<Value> {
    let mut record: Value = serde_json::from_str(text)?;
    if let Some(fields) = record.as_object_mut() {
        fields.retain(|k, _| !k.starts_with('@'));
    }
    Ok(record)
}

impl Scan {
    /// Whether two of the members have one name. In `serde_json`'s form a name has one
    /// spelling, so the names as written are compared. The records of a page mostly have the
    /// names of the one before, in its order: the answer for those is the one before's.
    fn repeats_a_name(&mut self, text: &str) -> bool {
        if same_names(&self.members, text, &mut self.names) {
            return self.repeats;
        }
        self.repeats = self.members.iter().enumerate().any(|(i, a)| {
            let name = a.raw_name(text);
            self.members[i + 1..]
                .iter()
                .any(|b| b.raw_name(text) == name)
        });
        self.repeats
    }
}

/// Whether `members` have the names in `names`, in that order (each name as written, followed
/// by a `"`, which no name as written holds bare); when not, `names` becomes theirs.
pub(super) fn same_names(members: &[Member], text: &str, names: &mut Vec<u8>) -> bool {
    let mut at = 0;
    let same = members.iter().all(|m| {
        let name = m.raw_name(text).as_bytes();
        let end = at + name.len();
        let hit = names.get(at..end) == Some(name) && names.get(end) == Some(&b'"');
        at = end + 1;
        hit
    });
    if same && at == names.len() {
        return true;
    }
    names.clear();
    for m in members {
        names.extend_from_slice(m.raw_name(text).as_bytes());
        names.push(b'"');
    }
    false
}

/// A value's text in a CSV cell, from its JSON text in `serde_json`'s form: empty for null, a
/// string's characters, anything else (numbers as written, booleans, objects) as its JSON.
/// The same as [`crate::csv::cell`] on the value.
pub(crate) fn cell(json: &str) -> Cow<'_, str> {
    match json.as_bytes().first() {
        Some(b'"') => json_string(json),
        _ if json == "null" => Cow::Borrowed(""),
        _ => Cow::Borrowed(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's NDJSON line, as a part file gets it.
    fn write_line(scan: &mut Scan, text: &str, out: &mut Vec<u8>) {
        let mut lines = super::super::lines::PartLines::Ndjson;
        lines.write_record(scan, text, out).unwrap();
    }

    /// What the export wrote before: each record through a `Value`.
    fn through_value(text: &str) -> String {
        let mut record: Value = serde_json::from_str(text).unwrap();
        if let Some(fields) = record.as_object_mut() {
            fields.retain(|k, _| !k.starts_with('@'));
        }
        format!("{record}\n")
    }

    fn line(text: &str) -> String {
        let mut out = Vec::new();
        write_line(&mut Scan::default(), text, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_byte_for_byte_what_a_value_would_write() {
        let records = [
            r#"{"@odata.etag":"W/\"1\"","name":"A, \"B\"\\ C\n\t\r\b\f\u0001\u001f","n":1}"#,
            r#"{"name":"Zoë 東京 😀 \u00e9 \/ \u001F","revenue":12345.6789000,"big":123456789012345678901234567890}"#,
            r#"{"x":-0,"y":1E5,"z":1.0e-7,"t":true,"f":false,"nul":null,"e":"","o":{},"a":[]}"#,
            r#"{"y":1e5,"z":2.5e+10,"w":7e-3,"t":[true,false]}"#,
            r#"{"y":1.5e+5,"z":2.5E-10,"t":true}"#,
            r#"{"statecode@OData.Community.Display.V1.FormattedValue":"Active","statecode":0,"@odata.etag":"W/\"2\""}"#,
            r#"{"nested":{"@odata.etag":"W/\"3\"","v":[1,{"k":"\"}"}],"s":"a]b}c,d"},"last":"x"}"#,
            r#"{ "spaced" : 1 ,"b":[ 1, 2 ]}"#,
            r#"{"\u0040odata.etag":"hidden","key\"q":"v","":0}"#,
            r#"{}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"@odata.etag":"W/\"4\"","a":"x","a":"y"}"#,
            r#"{"@odata.etag":"only"}"#,
            r#"[1,2]"#,
            r#""not an object""#,
        ];
        for text in records {
            assert_eq!(line(text), through_value(text), "{text}");
        }
    }

    /// One `Scan` through records of one shape and others: a repeat is found whatever came
    /// before.
    #[test]
    fn repeated_names_are_found_after_records_without() {
        let mut scan = Scan::default();
        for text in [
            r#"{"@odata.etag":"1","a":1,"b":2}"#,
            r#"{"@odata.etag":"2","a":3,"b":4}"#,
            r#"{"@odata.etag":"3","a":5,"b":6,"a":7}"#,
            r#"{"@odata.etag":"4","a":8}"#,
            r#"{"@odata.etag":"5","a":9,"b":0}"#,
            r#"{"@odata.etag":"6","a":1,"a":2}"#,
            r#"{"@odata.etag":"7","a\"":1,"b":2}"#,
            r#"{"@odata.etag":"8","a\"":1,"a\"":2}"#,
        ] {
            let mut out = Vec::new();
            write_line(&mut scan, text, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                through_value(text),
                "{text}"
            );
        }
    }

    #[test]
    fn every_escape_of_every_character_comes_out_as_a_value_would_write_it() {
        let mut texts = Vec::new();
        for code in (0u32..0x250).chain([0x2028, 0x2029, 0xfeff, 0x1f600]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            if code >= 0x20 && c != '"' && c != '\\' {
                texts.push(format!(r#"{{"@odata.etag":"1","k{c}":"a{c}b"}}"#));
            }
            if code <= 0xffff {
                for hex in [format!("{code:04x}"), format!("{code:04X}")] {
                    texts.push(format!(r#"{{"k\u{hex}":"\u{hex}","@x":1}}"#));
                }
            }
        }
        for short in ["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"] {
            texts.push(format!(r#"{{"{short}":"x{short}y"}}"#));
        }
        for text in texts {
            assert_eq!(line(&text), through_value(&text), "{text}");
        }
    }

    #[test]
    fn canonical_records_are_scanned_others_are_not() {
        let mut scan = Scan::default();
        let text = r#"{"a":1,"b":{"c":[2,"]"]},"d\"e":"\u0000"}"#;
        let members = scan.members(text).unwrap().to_vec();
        let names: Vec<_> = members.iter().map(|m| m.name(text)).collect();
        let values: Vec<_> = members.iter().map(|m| m.value(text)).collect();
        assert_eq!(names, ["a", "b", "d\"e"]);
        assert_eq!(values, ["1", r#"{"c":[2,"]"]}"#, r#""\u0000""#]);
        assert!(scan.members(r#"{"a":1e+5,"b":true,"c":false}"#).is_some());
        for other in [
            r#"{"a":"\/"}"#,
            r#"{"a":"\u00E9"}"#,
            r#"{"a":"\u000a"}"#,
            "{\"a\": 1}",
            r#"{"a":1e5}"#,
            r#"{"a":1E+5}"#,
        ] {
            assert!(scan.members(other).is_none(), "{other}");
        }
    }

    #[test]
    fn cells_match_the_value_cells() {
        for json in [
            r#""plain""#,
            r#""esc \"q\" \u0001 é""#,
            "null",
            "12345.6789000",
            "123456789012345678901234567890",
            "true",
            r#"{"a":[1,"x"]}"#,
        ] {
            let value: Value = serde_json::from_str(json).unwrap();
            assert_eq!(cell(json), crate::csv::cell(Some(&value)), "{json}");
        }
    }
}
