//! Conversions between OData literals, SQLite values and JSON text, per EDM type (the storage
//! mapping is in `store::schema`).

use d365_odata::Literal;
use d365_odata::model::EdmType;
use rusqlite::types::{Value, ValueRef};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn pow10(scale: u8) -> i64 {
    10i64.pow(u32::from(scale.min(18)))
}

/// Parses decimal text exactly into an integer scaled by 10^scale, if it fits without
/// losing digits.
pub fn scaled_decimal(text: &str, scale: u8) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    if frac.len() > usize::from(scale) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_val: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let frac_scaled = frac_val.checked_mul(pow10(scale - frac.len() as u8))?;
    let v = int.checked_mul(pow10(scale))?.checked_add(frac_scaled)?;
    Some(if neg { -v } else { v })
}

/// The SQL value of a literal compared with (or stored in) a column of type `ty`.
pub fn literal_to_sql(lit: &Literal, ty: EdmType, scale: Option<u8>) -> Value {
    let scale = scale.unwrap_or(0);
    match (lit, ty) {
        (Literal::Null, _) => Value::Null,
        (Literal::Int(i), EdmType::Decimal) => i
            .checked_mul(pow10(scale))
            .map(Value::Integer)
            .unwrap_or(Value::Real(*i as f64 * pow10(scale) as f64)),
        (Literal::Int(i), EdmType::Double) => Value::Real(*i as f64),
        (Literal::Int(i), _) => Value::Integer(*i),
        (Literal::Decimal(d), EdmType::Decimal) => match scaled_decimal(d, scale) {
            Some(v) => Value::Integer(v),
            None => Value::Real(d.parse::<f64>().unwrap_or(f64::NAN) * pow10(scale) as f64),
        },
        (Literal::Decimal(d), _) => Value::Real(d.parse().unwrap_or(f64::NAN)),
        (Literal::Double(f), EdmType::Decimal) => Value::Real(f * pow10(scale) as f64),
        (Literal::Double(f), _) => Value::Real(*f),
        (Literal::Bool(b), _) => Value::Integer(i64::from(*b)),
        (Literal::String(s), _) => Value::Text(s.clone()),
        (Literal::Guid(g), _) => Value::Blob(g.as_bytes().to_vec()),
        (Literal::DateTimeOffset(t), _) => Value::Integer(t.unix_timestamp()),
        (Literal::Date(d), EdmType::DateTimeOffset) => {
            Value::Integer(d.midnight().assume_utc().unix_timestamp())
        }
        (Literal::Date(d), _) => Value::Text(d.to_string()),
        (other, _) => Value::Text(format!("{other:?}")),
    }
}

/// Appends the JSON form of a stored value to `out`.
pub fn write_json(out: &mut String, value: ValueRef<'_>, ty: EdmType, scale: Option<u8>) {
    use std::fmt::Write;
    match (value, ty) {
        (ValueRef::Null, _) => out.push_str("null"),
        (ValueRef::Blob(b), EdmType::Guid) => match uuid::Uuid::from_slice(b) {
            Ok(g) => {
                let _ = write!(out, "\"{}\"", g.hyphenated());
            }
            Err(_) => out.push_str("null"),
        },
        (ValueRef::Integer(i), EdmType::Boolean) => {
            out.push_str(if i != 0 { "true" } else { "false" })
        }
        (ValueRef::Integer(i), EdmType::Decimal) => {
            let scale = scale.unwrap_or(0);
            if scale == 0 {
                let _ = write!(out, "{i}");
            } else {
                let p = pow10(scale);
                let sign = if i < 0 { "-" } else { "" };
                let abs = i.unsigned_abs();
                let _ = write!(
                    out,
                    "{sign}{}.{:0width$}",
                    abs / p as u64,
                    abs % p as u64,
                    width = usize::from(scale)
                );
            }
        }
        (ValueRef::Integer(i), EdmType::DateTimeOffset) => {
            match OffsetDateTime::from_unix_timestamp(i) {
                Ok(t) => {
                    let _ = write!(out, "\"{}\"", t.format(&Rfc3339).unwrap_or_default());
                }
                Err(_) => out.push_str("null"),
            }
        }
        (ValueRef::Integer(i), _) => {
            let _ = write!(out, "{i}");
        }
        (ValueRef::Real(f), _) => match serde_json::Number::from_f64(f) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        },
        (ValueRef::Text(t), _) => {
            let s = String::from_utf8_lossy(t);
            out.push_str(&serde_json::to_string(&s).unwrap_or_else(|_| "null".into()));
        }
        (ValueRef::Blob(_), _) => out.push_str("null"),
    }
}

/// `1234567` → `1,234,567`.
fn thousands(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The formatted value Dataverse returns as `…@OData.Community.Display.V1.FormattedValue`
/// (en-US): choice labels, Yes/No, money with a currency symbol, grouped whole numbers, and
/// dates as `M/d/yyyy h:mm tt`.
pub fn formatted(value: ValueRef<'_>, property: &d365_odata::model::Property) -> Option<String> {
    match (value, property.edm_type) {
        (ValueRef::Null, _) => None,
        (ValueRef::Integer(i), _) if property.option_set.is_some() => property
            .option_set
            .as_ref()?
            .label(i as i32)
            .map(str::to_owned),
        (ValueRef::Integer(i), EdmType::Boolean) => {
            Some(if i != 0 { "Yes" } else { "No" }.to_owned())
        }
        (ValueRef::Integer(i), EdmType::Int32 | EdmType::Int64) => Some(format!(
            "{}{}",
            if i < 0 { "-" } else { "" },
            thousands(&i.unsigned_abs().to_string())
        )),
        (ValueRef::Integer(i), EdmType::Decimal) => {
            let scale = property.scale.unwrap_or(0);
            let p = 10i128.pow(u32::from(scale));
            // Two decimals, rounded half away from zero, as the money format shows.
            let cents = (i128::from(i.unsigned_abs()) * 100 + p / 2) / p;
            let sign = if i < 0 { "-" } else { "" };
            let symbol = if scale == 4 { "$" } else { "" };
            Some(format!(
                "{sign}{symbol}{}.{:02}",
                thousands(&(cents / 100).to_string()),
                cents % 100
            ))
        }
        (ValueRef::Integer(i), EdmType::DateTimeOffset) => {
            let t = OffsetDateTime::from_unix_timestamp(i).ok()?;
            let (h, pm) = match t.hour() {
                0 => (12, false),
                h @ 1..=11 => (h, false),
                12 => (12, true),
                h => (h - 12, true),
            };
            Some(format!(
                "{}/{}/{} {h}:{:02} {}",
                u8::from(t.month()),
                t.day(),
                t.year(),
                t.minute(),
                if pm { "PM" } else { "AM" }
            ))
        }
        (ValueRef::Text(t), EdmType::Date) => {
            let s = std::str::from_utf8(t).ok()?;
            let mut parts = s.split('-');
            let (y, m, d) = (
                parts.next()?,
                parts.next()?.parse::<u8>().ok()?,
                parts.next()?.parse::<u8>().ok()?,
            );
            Some(format!("{m}/{d}/{y}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_values() {
        use d365_odata::model::Property;
        let money = Property::new("revenue", EdmType::Decimal).scale(4);
        assert_eq!(
            formatted(ValueRef::Integer(12_345_678_955), &money).as_deref(),
            Some("$1,234,567.90")
        );
        assert_eq!(
            formatted(ValueRef::Integer(-500), &money).as_deref(),
            Some("-$0.05")
        );
        let n = Property::new("numberofemployees", EdmType::Int32);
        assert_eq!(
            formatted(ValueRef::Integer(1_234_567), &n).as_deref(),
            Some("1,234,567")
        );
        let state =
            Property::new("statecode", EdmType::Int32).options(&[(0, "Active"), (1, "Inactive")]);
        assert_eq!(
            formatted(ValueRef::Integer(1), &state).as_deref(),
            Some("Inactive")
        );
        let on = Property::new("createdon", EdmType::DateTimeOffset);
        assert_eq!(
            formatted(ValueRef::Integer(1_474_934_273), &on).as_deref(),
            Some("9/26/2016 11:57 PM")
        );
        let yes = Property::new("creditonhold", EdmType::Boolean);
        assert_eq!(formatted(ValueRef::Integer(0), &yes).as_deref(), Some("No"));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(scaled_decimal("12.5", 4), Some(125_000));
        assert_eq!(scaled_decimal("-0.0001", 4), Some(-1));
        assert_eq!(scaled_decimal("0.00001", 4), None);
        assert_eq!(scaled_decimal("922337203685477.5807", 4), Some(i64::MAX));
        let mut s = String::new();
        write_json(
            &mut s,
            ValueRef::Integer(-12_345),
            EdmType::Decimal,
            Some(4),
        );
        assert_eq!(s, "-1.2345");
        s.clear();
        write_json(
            &mut s,
            ValueRef::Integer(1_474_934_273),
            EdmType::DateTimeOffset,
            None,
        );
        assert_eq!(s, "\"2016-09-26T23:57:53Z\"");
    }
}
