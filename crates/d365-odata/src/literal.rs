//! Primitive literals and their canonical URL form.
//!
//! See OData 4.01 ABNF `primitiveLiteral` and the Dataverse notes in
//! <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows>.

use std::fmt::{self, Write as _};

use time::{Date, Month, OffsetDateTime, Time, UtcOffset};
use uuid::Uuid;

pub(crate) mod geo;

/// A primitive literal of a `$filter`, key predicate or parameter alias.
///
/// The `Display` impl prints the canonical OData URL form, chosen so that
/// lexing the printed text gives back the same variant:
///
/// | variant | printed as |
/// |---|---|
/// | `Null`, `Bool` | `null`, `true`, `false` |
/// | `Int` | decimal digits with optional `-` (`42`, `-5`) |
/// | `Decimal` | its text; a `.0` is appended if the text has no `.` (so `"5"` prints `5.0`) |
/// | `Double` | Rust's shortest round-trip form with an exponent (`1.5E0`, `1E10`, `-2.5E-7`), `INF`, `-INF`, `NaN` |
/// | `String` | single-quoted, `'` doubled (`'O''Brian'`) |
/// | `Guid` | bare, lower-case 8-4-4-4-12 |
/// | `Date`, `TimeOfDay` | `2024-01-31`, `10:20:30` plus `.fff` only when non-zero |
/// | `DateTimeOffset` | RFC 3339: `2024-01-31T10:20:30Z`, `...30.123+02:00` |
/// | `Duration` | `duration'P1DT2H'` |
/// | `Enum` | `Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'` |
/// | `Array` | JSON, strings double-quoted: `["a","b",1]` |
///
/// Equality is structural: two `DateTimeOffset`s are equal only if both the
/// instant *and* the offset match, and `NaN` equals `NaN` (so round-trip tests
/// can compare ASTs).
#[derive(Debug, Clone)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Digits without `.` or exponent that fit an `i64`.
    Int(i64),
    /// Digits with a `.` and no exponent, kept as written (`"12.50"`), without a leading `+`.
    Decimal(String),
    /// A number with an exponent, or `INF`, `-INF`, `NaN`.
    Double(f64),
    /// A single-quoted string, unescaped (`'O''Bryan'` holds `O'Bryan`).
    String(String),
    /// A bare GUID (`accountid eq 7b2e...`).
    Guid(Uuid),
    /// `2024-01-31`.
    Date(Date),
    /// `2024-01-31T10:20:30Z`, optional fractional seconds and `+hh:mm`/`-hh:mm` offsets.
    DateTimeOffset(OffsetDateTime),
    /// `10:20` or `10:20:30.5`.
    TimeOfDay(Time),
    /// `duration'P1DT2H'`, the text between the quotes.
    Duration(String),
    /// A qualified enum value, `Namespace.Type'Member'`.
    Enum {
        /// Qualified type name, e.g. `Microsoft.Dynamics.CRM.OwnershipTypes`.
        type_name: String,
        /// The member text between the quotes, e.g. `UserOwned` (flags: `Read,Write`).
        value: String,
    },
    /// A JSON array (`["a","b",1]`), used by `in` and Dataverse `PropertyValues`.
    Array(Vec<Literal>),
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        use Literal as L;
        match (self, other) {
            (L::Null, L::Null) => true,
            (L::Bool(a), L::Bool(b)) => a == b,
            (L::Int(a), L::Int(b)) => a == b,
            (L::Decimal(a), L::Decimal(b)) => a == b,
            (L::Double(a), L::Double(b)) => a == b || (a.is_nan() && b.is_nan()),
            (L::String(a), L::String(b)) => a == b,
            (L::Guid(a), L::Guid(b)) => a == b,
            (L::Date(a), L::Date(b)) => a == b,
            // `OffsetDateTime` compares instants only; the offset is part of the literal.
            (L::DateTimeOffset(a), L::DateTimeOffset(b)) => a == b && a.offset() == b.offset(),
            (L::TimeOfDay(a), L::TimeOfDay(b)) => a == b,
            (L::Duration(a), L::Duration(b)) => a == b,
            (
                L::Enum {
                    type_name: t1,
                    value: v1,
                },
                L::Enum {
                    type_name: t2,
                    value: v2,
                },
            ) => t1 == t2 && v1 == v2,
            (L::Array(a), L::Array(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(text) if text.contains('.') => f.write_str(text),
            Literal::Decimal(text) => write!(f, "{text}.0"),
            Literal::Double(d) => write_double(f, *d),
            Literal::String(s) => write_quoted(f, s),
            Literal::Guid(g) => write!(f, "{}", g.hyphenated()),
            Literal::Date(d) => write_date(f, *d),
            Literal::DateTimeOffset(dt) => write_date_time_offset(f, *dt),
            Literal::TimeOfDay(t) => write_time(f, *t),
            Literal::Duration(text) => {
                f.write_str("duration")?;
                write_quoted(f, text)
            }
            Literal::Enum { type_name, value } => {
                f.write_str(type_name)?;
                write_quoted(f, value)
            }
            Literal::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    match item {
                        // JSON strings use double quotes, so apostrophes need no escaping.
                        Literal::String(s) => write_json_string(f, s)?,
                        other => write!(f, "{other}")?,
                    }
                }
                f.write_char(']')
            }
        }
    }
}

/// `'text'` with every `'` doubled.
fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for (i, part) in s.split('\'').enumerate() {
        if i > 0 {
            f.write_str("''")?;
        }
        f.write_str(part)?;
    }
    f.write_char('\'')
}

/// A JSON string literal (RFC 8259 §7).
pub(crate) fn write_json_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn write_double(f: &mut impl fmt::Write, d: f64) -> fmt::Result {
    if d.is_nan() {
        f.write_str("NaN")
    } else if d.is_infinite() {
        f.write_str(if d > 0.0 { "INF" } else { "-INF" })
    } else {
        // `{:E}` is the shortest text that parses back to the same bits, and the
        // exponent keeps it from being re-lexed as an Int or Decimal.
        write!(f, "{d:E}")
    }
}

fn write_date(f: &mut impl fmt::Write, d: Date) -> fmt::Result {
    let year = d.year();
    if year < 0 {
        f.write_char('-')?;
    }
    write!(
        f,
        "{:04}-{:02}-{:02}",
        year.unsigned_abs(),
        u8::from(d.month()),
        d.day()
    )
}

fn write_time(f: &mut impl fmt::Write, t: Time) -> fmt::Result {
    write!(f, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())?;
    let nanos = t.nanosecond();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

fn write_date_time_offset(f: &mut impl fmt::Write, dt: OffsetDateTime) -> fmt::Result {
    write_date(f, dt.date())?;
    f.write_char('T')?;
    write_time(f, dt.time())?;
    let offset = dt.offset();
    if offset.is_utc() {
        return f.write_char('Z');
    }
    let sign = if offset.is_negative() { '-' } else { '+' };
    write!(
        f,
        "{sign}{:02}:{:02}",
        offset.whole_hours().unsigned_abs(),
        offset.minutes_past_hour().unsigned_abs()
    )
}

/// Builds a date from `YYYY`, `MM`, `DD` fields already checked to be digits.
pub(crate) fn make_date(year: i32, month: u8, day: u8) -> Option<Date> {
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// Builds a time of day; `fraction` is the digit string after the `.` (may be empty).
/// Digits beyond nanoseconds are dropped (the ABNF allows 12).
pub(crate) fn make_time(hour: u8, minute: u8, second: u8, fraction: &str) -> Option<Time> {
    let mut nanos: u32 = 0;
    for (i, b) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Time::from_hms_nano(hour, minute, second, nanos).ok()
}

/// Builds a `+hh:mm` / `-hh:mm` offset.
pub(crate) fn make_offset(negative: bool, hours: u8, minutes: u8) -> Option<UtcOffset> {
    let (h, m) = (hours as i8, minutes as i8);
    if negative {
        UtcOffset::from_hms(-h, -m, 0).ok()
    } else {
        UtcOffset::from_hms(h, m, 0).ok()
    }
}

/// Checks an ISO 8601 day-time duration as in the ABNF `durationValue`:
/// `[-]P[nD][T[nH][nM][n[.n]S]]`.
pub(crate) fn is_valid_duration(text: &str) -> bool {
    duration_error(text).is_none()
}

/// Where `text` stops matching `durationValue`
/// (`[ "-" ] "P" [ 1*DIGIT "D" ] [ "T" [ 1*DIGIT "H" ] [ 1*DIGIT "M" ] [ 1*DIGIT [ "." 1*DIGIT ] "S" ] ]`),
/// or `None` if it is a duration: `P1Y` fails at the `Y`.
pub(crate) fn duration_error(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut at = usize::from(b.first() == Some(&b'-'));
    let digits = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b.get(at) != Some(&b'P') {
        return Some(at);
    }
    at += 1;
    let end = digits(at);
    if end > at {
        if b.get(end) != Some(&b'D') {
            return Some(end);
        }
        at = end + 1;
    }
    if at == b.len() {
        return None;
    }
    if b[at] != b'T' {
        return Some(at);
    }
    at += 1;
    // Each of H, M, S at most once and in that order; only seconds take a fraction.
    let mut units: &[u8] = b"HMS";
    while at < b.len() {
        let end = digits(at);
        if end == at {
            return Some(at);
        }
        let mut unit_at = end;
        if b.get(end) == Some(&b'.') && units.contains(&b'S') {
            let frac_end = digits(end + 1);
            if frac_end == end + 1 {
                return Some(end + 1);
            }
            if b.get(frac_end) != Some(&b'S') {
                return Some(frac_end);
            }
            unit_at = frac_end;
        }
        let Some(i) = b
            .get(unit_at)
            .and_then(|u| units.iter().position(|x| x == u))
        else {
            return Some(unit_at);
        };
        if unit_at > end && units[i] != b'S' {
            return Some(unit_at);
        }
        units = &units[i + 1..];
        at = unit_at + 1;
    }
    None
}

macro_rules! literal_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for Literal {
            fn from(value: $ty) -> Self {
                Literal::$variant(value.into())
            }
        }
    )*};
}

literal_from! {
    &str => String,
    String => String,
    i32 => Int,
    i64 => Int,
    u32 => Int,
    f64 => Double,
    bool => Bool,
    Uuid => Guid,
    Date => Date,
    OffsetDateTime => DateTimeOffset,
    Time => TimeOfDay,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, time};

    #[test]
    fn canonical_forms() {
        let cases: Vec<(Literal, &str)> = vec![
            (Literal::Null, "null"),
            (Literal::Bool(true), "true"),
            (Literal::Int(-5), "-5"),
            (Literal::Decimal("12.50".into()), "12.50"),
            (Literal::Decimal("5".into()), "5.0"),
            (Literal::Double(1.5), "1.5E0"),
            (Literal::Double(1e10), "1E10"),
            (Literal::Double(-2.5e-7), "-2.5E-7"),
            (Literal::Double(f64::INFINITY), "INF"),
            (Literal::Double(f64::NEG_INFINITY), "-INF"),
            (Literal::Double(f64::NAN), "NaN"),
            (Literal::String("O'Brian".into()), "'O''Brian'"),
            (
                Literal::Guid(Uuid::parse_str("7B2E0000-0000-0000-0000-00000000000A").unwrap()),
                "7b2e0000-0000-0000-0000-00000000000a",
            ),
            (Literal::Date(date!(2024 - 01 - 31)), "2024-01-31"),
            (Literal::TimeOfDay(time!(10:20)), "10:20:00"),
            (
                Literal::DateTimeOffset(datetime!(2024-01-31 10:20:30 UTC)),
                "2024-01-31T10:20:30Z",
            ),
            (
                Literal::DateTimeOffset(datetime!(2024-01-31 10:20:30.123 +02:00)),
                "2024-01-31T10:20:30.123+02:00",
            ),
            (
                Literal::DateTimeOffset(datetime!(2024-01-31 10:20:30 -00:30)),
                "2024-01-31T10:20:30-00:30",
            ),
            (Literal::Duration("P1DT2H".into()), "duration'P1DT2H'"),
            (
                Literal::Enum {
                    type_name: "Microsoft.Dynamics.CRM.OwnershipTypes".into(),
                    value: "UserOwned".into(),
                },
                "Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'",
            ),
            (
                Literal::Array(vec!["a\"b".into(), "O'B".into(), Literal::Int(1)]),
                r#"["a\"b","O'B",1]"#,
            ),
        ];
        for (literal, text) in cases {
            assert_eq!(literal.to_string(), text, "{literal:?}");
        }
    }

    #[test]
    fn offsets_are_part_of_equality() {
        let a = Literal::DateTimeOffset(datetime!(2024-01-31 10:00 +02:00));
        let b = Literal::DateTimeOffset(datetime!(2024-01-31 08:00 UTC));
        assert_ne!(a, b);
        assert_eq!(Literal::Double(f64::NAN), Literal::Double(f64::NAN));
    }

    #[test]
    fn duration_errors_point_at_the_first_misfit() {
        assert_eq!(duration_error("P1Y6DT23H59M59.9999S"), Some(2));
        assert_eq!(duration_error("PT1H2M3.5S"), None);
        assert_eq!(duration_error("-P1D"), None);
        assert_eq!(duration_error("PT"), None);
        assert_eq!(duration_error("PT1M1H"), Some(5));
        assert_eq!(duration_error("PT1.5M"), Some(5));
        assert_eq!(duration_error("X"), Some(0));
    }

    #[test]
    fn durations() {
        for ok in ["P1D", "P1DT2H", "-PT5M", "PT1.5S", "P", "PT", "P1DT2H3M4S"] {
            assert!(is_valid_duration(ok), "{ok}");
        }
        for bad in ["", "1D", "P1H", "PT1.S", "PTxS", "P1DT2H3D"] {
            assert!(!is_valid_duration(bad), "{bad}");
        }
    }
}
