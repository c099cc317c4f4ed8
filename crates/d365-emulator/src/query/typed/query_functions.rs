//! Dataverse's query functions (`Microsoft.Dynamics.CRM.LastXDays(…)` and the rest) as SQL
//! over the emulator's clock and the caller.

use d365_odata::Literal;
use d365_odata::bind::BoundProperty;
use d365_odata::model::EdmType;
use rusqlite::types::Value;
use time::{Date, Month, OffsetDateTime};

use super::{Planner, R, Unsupported};
use crate::query::plan::{negated_or_null, not_equal_sql};
use crate::query::values::literal_to_sql;
use crate::store::schema::ident;

impl Planner<'_> {
    pub(super) fn query_function(
        &mut self,
        name: &str,
        p: &BoundProperty,
        values: &[Literal],
    ) -> R<String> {
        // PropertyName names a column of the root table (where the binder looked it up).
        let col = format!("{}.{}", self.scopes[0].alias, ident(&p.name));
        let guid = |u: uuid::Uuid| Value::Blob(u.as_bytes().to_vec());
        // X of LastXDays and the like, within reason (about 27 years of days), so the
        // date arithmetic cannot overflow.
        let count = || -> R<i64> {
            let n = match values.first() {
                Some(Literal::Int(n)) => Some(*n),
                Some(Literal::String(s)) => s.parse().ok(),
                _ => None,
            };
            n.filter(|n| (0..=10_000).contains(n))
                .ok_or_else(|| Unsupported(format!("{name} with a count outside 0 to 10000")))
        };
        let now = self.ctx.now;
        let day = |offset: i64| (now.div_euclid(86_400) + offset) * 86_400;
        // `FAR` as a bound means "no bound" (OnOrAfter, OlderThanX…).
        let range = |planner: &mut Self, lo: i64, hi: i64| -> R<String> {
            let (lo_open, hi_open) = (lo <= -FAR, hi >= FAR);
            let (lo, hi, upper) = match p.edm_type {
                EdmType::DateTimeOffset => (Value::Integer(lo), Value::Integer(hi), "<"),
                EdmType::Date => {
                    let d = |s: i64| {
                        OffsetDateTime::from_unix_timestamp(s)
                            .map(|d| Value::Text(d.date().to_string()))
                            .unwrap_or(Value::Null)
                    };
                    (d(lo), d(hi - 1), "<=")
                }
                _ => {
                    return Err(Unsupported(format!(
                        "{name} on a column that is not a date"
                    )));
                }
            };
            Ok(match (lo_open, hi_open) {
                (true, true) => format!("({col} IS NOT NULL)"),
                (true, false) => format!("({col} {upper} {})", planner.param(hi)),
                (false, true) => format!("({col} >= {})", planner.param(lo)),
                (false, false) => {
                    let (lo, hi) = (planner.param(lo), planner.param(hi));
                    format!("({col} >= {lo} AND {col} {upper} {hi})")
                }
            })
        };
        let month_start = |offset: i64| -> i64 { months_from(now, offset, false) };
        let year_start = |offset: i64| -> i64 { months_from(now, offset * 12, true) };
        // Weeks start on Sunday (Dataverse's default).
        let week_start = |offset: i64| -> i64 {
            let days_since_sunday = (now.div_euclid(86_400) + 4).rem_euclid(7);
            day(-days_since_sunday) + offset * 7 * 86_400
        };
        let date_value = |v: Option<&Literal>| -> R<i64> {
            match v {
                Some(Literal::Date(d)) => Ok(d.midnight().assume_utc().unix_timestamp()),
                Some(Literal::DateTimeOffset(t)) => {
                    Ok(t.unix_timestamp().div_euclid(86_400) * 86_400)
                }
                Some(Literal::String(s)) => {
                    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                        .map(|d| d.midnight().assume_utc().unix_timestamp())
                        .map_err(|_| Unsupported(format!("{name} with '{s}'")))
                }
                _ => Err(Unsupported(format!("{name} without a date"))),
            }
        };
        let lits = |planner: &mut Self| -> Vec<String> {
            values
                .iter()
                .map(|v| {
                    let value = literal_to_sql(v, p.edm_type, p.scale);
                    planner.param(value)
                })
                .collect()
        };
        const FAR: i64 = 1 << 40;
        match name {
            "In" | "NotIn" => {
                let items = lits(self);
                let list = items.join(", ");
                Ok(if name == "NotIn" {
                    negated_or_null(&col, &format!("{col} NOT IN ({list})"))
                } else {
                    format!("({col} IN ({list}))")
                })
            }
            "Between" | "NotBetween" => {
                let items = lits(self);
                let [lo, hi] = items.as_slice() else {
                    return Err(Unsupported(format!("{name} without two values")));
                };
                Ok(if name == "NotBetween" {
                    negated_or_null(&col, &format!("{col} NOT BETWEEN {lo} AND {hi}"))
                } else {
                    format!("({col} BETWEEN {lo} AND {hi})")
                })
            }
            "EqualUserId" | "NotEqualUserId" | "EqualBusinessId" | "NotEqualBusinessId" => {
                let id = if name.contains("User") {
                    self.ctx.user
                } else {
                    self.ctx.business_unit
                };
                let v = self.param(guid(id));
                Ok(if name.starts_with("Not") {
                    not_equal_sql(&col, &v)
                } else {
                    format!("({col} = {v})")
                })
            }
            "Today" => range(self, day(0), day(1)),
            "Yesterday" => range(self, day(-1), day(0)),
            "Tomorrow" => range(self, day(1), day(2)),
            "Last7Days" => range(self, day(-7), now + 1),
            "Next7Days" => range(self, now, day(8)),
            "ThisWeek" => range(self, week_start(0), week_start(1)),
            "LastWeek" => range(self, week_start(-1), week_start(0)),
            "NextWeek" => range(self, week_start(1), week_start(2)),
            "ThisMonth" => range(self, month_start(0), month_start(1)),
            "LastMonth" => range(self, month_start(-1), month_start(0)),
            "NextMonth" => range(self, month_start(1), month_start(2)),
            "ThisYear" => range(self, year_start(0), year_start(1)),
            "LastYear" => range(self, year_start(-1), year_start(0)),
            "NextYear" => range(self, year_start(1), year_start(2)),
            "LastXMinutes" => {
                let n = count()?;
                range(self, now - n * 60, now + 1)
            }
            "LastXHours" => {
                let n = count()?;
                range(self, now - n * 3_600, now + 1)
            }
            "LastXDays" => {
                let n = count()?;
                range(self, day(-n), now + 1)
            }
            "LastXWeeks" => {
                let n = count()?;
                range(self, day(-7 * n), now + 1)
            }
            "LastXMonths" => {
                let n = count()?;
                range(self, months_from(now, -n, false), now + 1)
            }
            "LastXYears" => {
                let n = count()?;
                range(self, months_from(now, -12 * n, true), now + 1)
            }
            "NextXMinutes" => {
                let n = count()?;
                range(self, now, now + n * 60 + 1)
            }
            "NextXHours" => {
                let n = count()?;
                range(self, now, now + n * 3_600 + 1)
            }
            "NextXDays" => {
                let n = count()?;
                range(self, now, day(n + 1))
            }
            "NextXWeeks" => {
                let n = count()?;
                range(self, now, day(7 * n + 1))
            }
            "NextXMonths" => {
                let n = count()?;
                range(self, now, months_from(now, n + 1, false))
            }
            "NextXYears" => {
                let n = count()?;
                range(self, now, months_from(now, 12 * (n + 1), true))
            }
            "OlderThanXMinutes" => {
                let n = count()?;
                range(self, -FAR, now - n * 60)
            }
            "OlderThanXHours" => {
                let n = count()?;
                range(self, -FAR, now - n * 3_600)
            }
            "OlderThanXDays" => {
                let n = count()?;
                range(self, -FAR, day(-n))
            }
            "OlderThanXWeeks" => {
                let n = count()?;
                range(self, -FAR, day(-7 * n))
            }
            "OlderThanXMonths" => {
                let n = count()?;
                range(self, -FAR, months_from(now, -n, false))
            }
            "OlderThanXYears" => {
                let n = count()?;
                range(self, -FAR, months_from(now, -12 * n, true))
            }
            "On" | "NotOn" | "OnOrAfter" | "OnOrBefore" => {
                let d = date_value(values.first())?;
                match name {
                    "On" => range(self, d, d + 86_400),
                    "NotOn" => {
                        let inside = range(self, d, d + 86_400)?;
                        Ok(format!("(NOT coalesce({inside}, 0))"))
                    }
                    "OnOrAfter" => range(self, d, FAR),
                    _ => range(self, -FAR, d + 86_400),
                }
            }
            other => Err(Unsupported(format!(
                "The function 'Microsoft.Dynamics.CRM.{other}'"
            ))),
        }
    }
}

/// The start of the month (or, with `year`, the year) `offset` months from `now`'s.
pub(super) fn months_from(now: i64, offset: i64, year: bool) -> i64 {
    let t = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let month0 = if year {
        0
    } else {
        i64::from(u8::from(t.month())) - 1
    };
    let total = i64::from(t.year()) * 12 + month0 + offset;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u8 + 1);
    Date::from_calendar_date(y as i32, Month::try_from(m).unwrap_or(Month::January), 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(now)
}
