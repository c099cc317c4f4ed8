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

#[cfg(test)]
mod tests {
    use super::*;

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
