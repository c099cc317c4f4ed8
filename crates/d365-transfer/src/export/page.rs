//! A page's records to part-file lines in one pass over the page's bytes. The page is checked
//! to be JSON as it is walked, as strictly as `serde_json` reads it; each record's members are
//! found on the way ([`Scan`]'s job, done here in the same pass) and the record is written as
//! [`PartLines::write_record`] writes it (an NDJSON line or a CSV row). Pages in compact form (no whitespace between tokens: how
//! Dataverse and the emulator write them) take this path. Any other page, or anything this walk
//! does not follow (an escaped member name at the top, a page it finds invalid), gives `None`:
//! the caller then decodes the page with `serde_json` (`RawPage::items`) and writes each record
//! with [`PartLines::write_record`], which gives the same bytes, or the error.

use super::lines::PartLines;
use super::record::{self, Member, Scan};

/// Containers nested deeper than this are left to `serde_json` (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// Appends the lines (`lines`' format) of the records of the page `body` to `out`; returns how
/// many records, or `None` (and `out` as it was) when the page is not in compact form or not
/// valid JSON.
pub(crate) fn write_lines(
    body: &[u8],
    scan: &mut Scan,
    lines: &mut PartLines,
    out: &mut Vec<u8>,
) -> Option<u64> {
    let before = out.len();
    let mut walk = Walk {
        b: body,
        i: 0,
        canonical: true,
    };
    let written = walk.page(scan, lines, out);
    if written.is_none() {
        out.truncate(before);
    }
    written
}

/// [`Scan::members`] by this walk (faster: strings are crossed eight bytes at a time): the
/// members of the record `text`, when it is an object in `serde_json`'s form, else `None`.
pub(crate) fn members<'s>(text: &str, scan: &'s mut Scan) -> Option<&'s [Member]> {
    let mut walk = Walk {
        b: text.as_bytes(),
        i: 0,
        canonical: true,
    };
    let canonical = walk.peek()? == b'{' && walk.record(scan)?;
    (canonical && walk.i == text.len()).then_some(&scan.members[..])
}

/// A position in a page, and whether the record being walked is in `serde_json`'s own form.
struct Walk<'a> {
    b: &'a [u8],
    i: usize,
    canonical: bool,
}

impl Walk<'_> {
    /// The page object: its `value` array's records written, the other members checked.
    fn page(&mut self, scan: &mut Scan, lines: &mut PartLines, out: &mut Vec<u8>) -> Option<u64> {
        // Every string is then valid UTF-8, as serde_json requires.
        let text = std::str::from_utf8(self.b).ok()?;
        let mut records = None;
        self.eat(b'{')?;
        if !self.eat_if(b'}') {
            loop {
                let name = self.i;
                self.string()?;
                let name = &self.b[name + 1..self.i - 1];
                self.eat(b':')?;
                if name.contains(&b'\\') {
                    return None; // serde_json matches names decoded: its path
                }
                if name == b"value" {
                    if records.is_some() {
                        return None; // a duplicate field, which serde_json refuses
                    }
                    records = Some(self.records(text, scan, lines, out)?);
                } else {
                    self.value(1)?;
                }
                if !self.eat_if(b',') {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        // Only whitespace may follow, as serde_json allows.
        let rest = &self.b[self.i..];
        rest.iter()
            .all(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
            .then_some(records)?
    }

    /// The `value` array: each record checked and written; returns how many.
    fn records(
        &mut self,
        text: &str,
        scan: &mut Scan,
        lines: &mut PartLines,
        out: &mut Vec<u8>,
    ) -> Option<u64> {
        self.eat(b'[')?;
        if self.eat_if(b']') {
            return Some(0);
        }
        let mut n = 0;
        loop {
            let start = self.i;
            let canonical = if self.peek()? == b'{' {
                self.record(scan)?
            } else {
                self.value(2)?;
                false // not an object: through a `Value`, as `write_record` does
            };
            lines
                .write(scan, canonical, &text[start..self.i], out)
                .ok()?;
            n += 1;
            if !self.eat_if(b',') {
                self.eat(b']')?;
                return Some(n);
            }
        }
    }

    /// A record (an object): checked, its members (offsets from its `{`) left in `scan`;
    /// returns whether it is in `serde_json`'s form.
    fn record(&mut self, scan: &mut Scan) -> Option<bool> {
        let start = self.i;
        self.canonical = true;
        scan.members.clear();
        self.eat(b'{')?;
        if self.eat_if(b'}') {
            return Some(true);
        }
        loop {
            let member = self.i - start;
            self.string()?;
            let name_end = self.i - 1 - start;
            self.eat(b':')?;
            self.value(3)?;
            scan.members.push(Member {
                start: member,
                name_end,
                end: self.i - start,
            });
            if !self.eat_if(b',') {
                self.eat(b'}')?;
                return Some(self.canonical);
            }
        }
    }

    /// Any JSON value, `depth` containers deep.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => {
                self.i += 1;
                if self.eat_if(b'}') {
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.eat(b':')?;
                    self.value(depth + 1)?;
                    if !self.eat_if(b',') {
                        return self.eat(b'}');
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat_if(b']') {
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    if !self.eat_if(b',') {
                        return self.eat(b']');
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A string, from its opening quote to past its closing one. An escape `serde_json`
    /// would write otherwise (`\/`, `\u00e9`) leaves the record out of its form.
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.i = plain_run(self.b, self.i);
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    let at = &self.b[self.i..];
                    let len = match *at.get(1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' if at.get(2..6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return None,
                    };
                    if record::canonical_escape(at).is_none() {
                        self.canonical = false;
                    }
                    self.i += len;
                }
                _ => return None, // a control character, which JSON strings cannot hold
            }
        }
    }

    /// A number (JSON's grammar). `serde_json` writes an exponent `e+5` or `e-5`: `E` or a
    /// sign left out leaves the record out of its form, as [`Scan`] says.
    fn number(&mut self) -> Option<()> {
        self.eat_if(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat_if(b'.') {
            self.first_digit()?;
        }
        if let Some(e @ (b'e' | b'E')) = self.peek() {
            self.i += 1;
            let signed = self.eat_if(b'+') || self.eat_if(b'-');
            if e == b'E' || !signed {
                self.canonical = false;
            }
            self.first_digit()?;
        }
        Some(())
    }

    /// At least one digit.
    fn first_digit(&mut self) -> Option<()> {
        self.peek().filter(u8::is_ascii_digit)?;
        self.digits();
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.eat_if(c).then_some(())
    }

    fn eat_if(&mut self, c: u8) -> bool {
        let here = self.peek() == Some(c);
        if here {
            self.i += 1;
        }
        here
    }
}

/// The first position from `i` on holding `"`, `\` or a control character (or the end): eight
/// bytes at a time. In each test the lowest flagged byte is a true match (a false one only
/// ever sits above a true one), so the lowest of the three is the first stop.
fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let stops = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if stops != 0 {
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b
        .get(i)
        .is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20)
    {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::lines::CsvRows;
    use serde_json::value::RawValue;

    const CSV_COLUMNS: [&str; 8] = [
        "name",
        "n",
        "a",
        "revenue",
        "missing",
        "name",
        "@odata.etag",
        "t",
    ];

    /// The part formats: NDJSON (0), and CSV rows (1) of columns the records hold, lack, hold
    /// twice or as an annotation.
    fn format(i: usize) -> PartLines {
        let columns: Vec<String> = CSV_COLUMNS.map(str::to_owned).to_vec();
        [PartLines::Ndjson, PartLines::Csv(CsvRows::new(&columns))]
            .into_iter()
            .nth(i)
            .unwrap()
    }

    /// The general path: the page decoded by serde_json, each record through `write_record`.
    fn general(body: &str, i: usize) -> Option<Vec<u8>> {
        #[derive(serde::Deserialize)]
        struct Body<'a> {
            #[serde(borrow)]
            value: Vec<&'a RawValue>,
        }
        let page: Body<'_> = serde_json::from_str(body).ok()?;
        let (mut out, mut lines) = (Vec::new(), format(i));
        for r in page.value {
            lines
                .write_record(&mut Scan::default(), r.get(), &mut out)
                .ok()?;
        }
        Some(out)
    }

    fn fast(body: &[u8], i: usize) -> Option<Vec<u8>> {
        let mut out = b"kept".to_vec();
        let n = write_lines(body, &mut Scan::default(), &mut format(i), &mut out);
        match n {
            Some(n) => {
                if i == 0 {
                    assert_eq!(out.iter().filter(|c| **c == b'\n').count() as u64, n);
                }
                Some(out.split_off(4))
            }
            None => {
                assert_eq!(out, b"kept", "nothing written on the general path");
                None
            }
        }
    }

    const RECORDS: &[&str] = &[
        r#"{"@odata.etag":"W/\"1\"","name":"A, \"B\"\\ C\n\t\r\b\f\u0001\u001f","n":1}"#,
        r#"{"name":"Zoë 東京 😀 \u00e9 \/ \u001F","revenue":12345.6789000,"big":123456789012345678901234567890}"#,
        r#"{"x":-0,"y":1E5,"z":1.0e-7,"t":true,"f":false,"nul":null,"e":"","o":{},"a":[]}"#,
        r#"{"y":1e5,"z":2.5e+10,"w":7e-3,"t":[true,false]}"#,
        r#"{"y":1.5e+5,"z":2.5E-10,"t":true}"#,
        r#"{"statecode@OData.Community.Display.V1.FormattedValue":"Active","statecode":0,"@odata.etag":"W/\"2\""}"#,
        r#"{"nested":{"@odata.etag":"W/\"3\"","v":[1,{"k":"\"}"}],"s":"a]b}c,d"},"last":"x"}"#,
        r#"{"\u0040odata.etag":"hidden","key\"q":"v","":0}"#,
        r#"{}"#,
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"@odata.etag":"W/\"4\"","a":"x","a":"y"}"#,
        r#"{"@odata.etag":"only"}"#,
        r#"[1,2]"#,
        r#""not an object""#,
        r#"{"long":"0123456789abcdef0123456789abcdef\"0123456789abcdef\\x","d":"2020-01-01T00:11:26Z"}"#,
    ];

    fn page_of(records: &[&str]) -> String {
        format!(
            r#"{{"@odata.context":"https://h/api/data/v9.2/$metadata#accounts","value":[{}],"@odata.nextLink":"https://h/api/data/v9.2/accounts?$skiptoken=%3C1%3E"}}"#,
            records.join(",")
        )
    }

    #[test]
    fn compact_pages_come_out_as_the_general_path_writes_them() {
        for i in 0..2 {
            let page = page_of(RECORDS);
            let out = fast(page.as_bytes(), i).expect("a compact page takes the fast path");
            assert_eq!(Some(out), general(&page, i));
            for r in RECORDS {
                let page = page_of(&[r]);
                assert_eq!(fast(page.as_bytes(), i), general(&page, i), "{r}");
            }
            let page = "{\"value\":[]}\r\n";
            assert_eq!(fast(page.as_bytes(), i), Some(Vec::new()));
        }
    }

    /// The rows of a CSV part are what `CsvWriter` writes for each record as a `Value` without
    /// its annotations (what the CSV output was when it was made from NDJSON parts).
    #[test]
    fn csv_rows_are_what_a_value_would_write() {
        let columns: Vec<String> = CSV_COLUMNS.map(str::to_owned).to_vec();
        let mut writer = crate::csv::CsvWriter::rows_only(&columns); // the header is the caller's
        let mut expected = Vec::new();
        for r in RECORDS {
            let mut record: serde_json::Value = serde_json::from_str(r).unwrap();
            if let Some(fields) = record.as_object_mut() {
                fields.retain(|k, _| !k.starts_with('@'));
            }
            writer.write(&mut expected, &record).unwrap();
        }
        let page = page_of(RECORDS);
        let rows = fast(page.as_bytes(), 1).expect("a compact page");
        assert_eq!(String::from_utf8(rows), String::from_utf8(expected));
    }

    #[test]
    fn every_escape_comes_out_as_the_general_path_writes_it() {
        for i in 0..2 {
            let mut records = Vec::new();
            for code in (0u32..0x250).chain([0x2028, 0x2029, 0xd800, 0xdc00, 0xfeff]) {
                for hex in [format!("{code:04x}"), format!("{code:04X}")] {
                    records.push(format!(
                        r#"{{"k\u{hex}":"\u{hex}","@x":1,"name":"a\u{hex}b"}}"#
                    ));
                }
            }
            for short in ["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"] {
                records.push(format!(r#"{{"{short}":"x{short}y","name":"{short}"}}"#));
            }
            for r in records {
                let page = page_of(&[&r]);
                assert_eq!(fast(page.as_bytes(), i), general(&page, i), "{r}");
            }
        }
    }

    #[test]
    fn other_pages_go_the_general_way() {
        for i in 0..2 {
            for page in [
                "{ \"value\":[]}",                 // whitespace
                r#"{"value":[{"a" :1}]}"#,         // whitespace in a record
                r#"{"valu\u0065":[]}"#,            // an escaped name at the top
                r#"{"value":[],"value":[]}"#,      // a duplicate field
                r#"{"@odata.context":"x"}"#,       // no value
                r#"{"value":{}}"#,                 // not an array
                r#"{"value":[]}x"#,                // trailing garbage
                r#"{"value":[01]}"#,               // a leading zero
                r#"{"value":[1.]}"#,               // no digit after the point
                r#"{"value":[{"a":"\x"}]}"#,       // a bad escape
                r#"{"value":[{"a":"\u12"}]}"#,     // a short \u escape
                "{\"value\":[{\"a\":\"\u{1}\"}]}", // a raw control character
                r#"{"value":[{"a":tru}]}"#,        // a broken literal
                r#"{"value":[{"a":1,}]}"#,         // a trailing comma
                r#"{"value":[{"a":1}"#,            // cut short
            ] {
                assert_eq!(fast(page.as_bytes(), i), None, "{page}");
            }
            let deep = format!(r#"{{"value":[{}]}}"#, "[".repeat(200) + &"]".repeat(200));
            assert_eq!(fast(deep.as_bytes(), i), None);
            assert_eq!(fast(b"{\"value\":[\"\xff\"]}", i), None, "invalid UTF-8");
        }
    }

    /// Every prefix of a page and every single-byte change of it: the fast path writes only
    /// what the general path writes, and takes no page `serde_json` refuses.
    #[test]
    fn no_broken_page_slips_through() {
        for i in 0..2 {
            let page = page_of(&RECORDS[..8]);
            let bytes = page.as_bytes();
            let mut taken = 0;
            let mut check = |body: &[u8]| {
                if let Some(out) = fast(body, i) {
                    let text = std::str::from_utf8(body).expect("taken pages are UTF-8");
                    assert_eq!(Some(out), general(text, i), "{text}");
                    taken += 1;
                }
            };
            for end in 0..bytes.len() {
                check(&bytes[..end]);
            }
            let swaps = [
                b'"', b'\\', b',', b':', b'{', b'}', b'[', b']', b'e', b'E', b'0', b'-', b' ', 1,
            ];
            for at in 0..bytes.len() {
                for c in swaps {
                    let mut body = bytes.to_vec();
                    body[at] = c;
                    check(&body);
                }
            }
            assert!(taken > 100, "some changed pages are still valid: {taken}");
        }
    }

    #[test]
    fn plain_runs_stop_at_the_first_quote_backslash_or_control() {
        let text = b"abcdefghij\"klmnopq\\rstuvwxyz\x1fend\xc3\xa9\x7f";
        let slow = |from: usize| {
            (from..text.len())
                .find(|&i| matches!(text[i], b'"' | b'\\') || text[i] < 0x20)
                .unwrap_or(text.len())
        };
        for from in 0..=text.len() {
            assert_eq!(plain_run(text, from), slow(from), "from {from}");
        }
    }
}
