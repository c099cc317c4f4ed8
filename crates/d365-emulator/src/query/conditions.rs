//! Dataverse's conditions on the clock and the caller, written once for every query language:
//! `Today`, `LastXDays`, `OnOrAfter`, `EqualUserId`, … (the Web API's query functions) are
//! `today`, `last-x-days`, `on-or-after`, `eq-userid`, … in FetchXML. Each front end reads its
//! own names and argument syntax into an [`Operator`] and an argument; the SQL is planned here.
//!
//! Date operators work on days in UTC, as half-open ranges of instants: instants are Unix
//! seconds, dates (`Edm.Date`) are `YYYY-MM-DD` text compared by day. Weeks start on Sunday
//! (Dataverse's default); months and years on their first day.
//! <https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/operators>

use d365_odata::model::EdmType;
use rusqlite::types::Value;
use time::{Date, Month, OffsetDateTime};

use super::plan::{SqlFilter, not_equal_sql};

/// What conditions such as `EqualUserId` and `Today` refer to.
#[derive(Debug, Clone, Copy)]
pub struct QueryContext {
    /// The caller's `systemuserid`.
    pub user: uuid::Uuid,
    /// The caller's business unit.
    pub business_unit: uuid::Uuid,
    /// Now, Unix seconds (the emulator's clock).
    pub now: i64,
}

/// The largest X of `LastXDays` and its kin (about 27 years of days), so the date arithmetic
/// cannot overflow.
pub const MAX_COUNT: i64 = 10_000;

/// The unit of an X operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days (from the start of the day).
    Days,
    /// Weeks of seven days (from the start of the day).
    Weeks,
    /// Calendar months (from the start of the month).
    Months,
    /// Calendar years (from the start of the year).
    Years,
}

/// A condition on the clock or the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Today.
    Today,
    /// Yesterday.
    Yesterday,
    /// Tomorrow.
    Tomorrow,
    /// The last seven days, today included.
    Last7Days,
    /// The next seven days, today included.
    Next7Days,
    /// This week.
    ThisWeek,
    /// Last week.
    LastWeek,
    /// Next week.
    NextWeek,
    /// This month.
    ThisMonth,
    /// Last month.
    LastMonth,
    /// Next month.
    NextMonth,
    /// This year.
    ThisYear,
    /// Last year.
    LastYear,
    /// Next year.
    NextYear,
    /// From X units ago until now.
    LastX(Unit),
    /// From now for X units.
    NextX(Unit),
    /// Before X units ago.
    OlderThanX(Unit),
    /// On a day.
    On,
    /// Not on a day (nulls included).
    NotOn,
    /// On a day or later.
    OnOrAfter,
    /// On a day or earlier.
    OnOrBefore,
    /// The caller's `systemuserid`.
    EqualUserId,
    /// Not the caller's `systemuserid` (nulls included).
    NotEqualUserId,
    /// The caller's business unit.
    EqualBusinessId,
    /// Not the caller's business unit (nulls included).
    NotEqualBusinessId,
}

/// What an [`Operator`] takes besides the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argument {
    /// Nothing.
    None,
    /// A count X from 0 to [`MAX_COUNT`].
    Count,
    /// A day, as the Unix second of its midnight (UTC).
    Day,
}

use Operator::*;
use Unit::*;

/// Every operator by its Web API function name and its FetchXML name (FetchXML has no
/// `last-x-minutes`, `next-x-minutes` or `not-on`).
const NAMES: [(&str, Option<&str>, Operator); 40] = [
    ("Today", Some("today"), Today),
    ("Yesterday", Some("yesterday"), Yesterday),
    ("Tomorrow", Some("tomorrow"), Tomorrow),
    ("Last7Days", Some("last-seven-days"), Last7Days),
    ("Next7Days", Some("next-seven-days"), Next7Days),
    ("ThisWeek", Some("this-week"), ThisWeek),
    ("LastWeek", Some("last-week"), LastWeek),
    ("NextWeek", Some("next-week"), NextWeek),
    ("ThisMonth", Some("this-month"), ThisMonth),
    ("LastMonth", Some("last-month"), LastMonth),
    ("NextMonth", Some("next-month"), NextMonth),
    ("ThisYear", Some("this-year"), ThisYear),
    ("LastYear", Some("last-year"), LastYear),
    ("NextYear", Some("next-year"), NextYear),
    ("LastXMinutes", None, LastX(Minutes)),
    ("LastXHours", Some("last-x-hours"), LastX(Hours)),
    ("LastXDays", Some("last-x-days"), LastX(Days)),
    ("LastXWeeks", Some("last-x-weeks"), LastX(Weeks)),
    ("LastXMonths", Some("last-x-months"), LastX(Months)),
    ("LastXYears", Some("last-x-years"), LastX(Years)),
    ("NextXMinutes", None, NextX(Minutes)),
    ("NextXHours", Some("next-x-hours"), NextX(Hours)),
    ("NextXDays", Some("next-x-days"), NextX(Days)),
    ("NextXWeeks", Some("next-x-weeks"), NextX(Weeks)),
    ("NextXMonths", Some("next-x-months"), NextX(Months)),
    ("NextXYears", Some("next-x-years"), NextX(Years)),
    (
        "OlderThanXMinutes",
        Some("olderthan-x-minutes"),
        OlderThanX(Minutes),
    ),
    (
        "OlderThanXHours",
        Some("olderthan-x-hours"),
        OlderThanX(Hours),
    ),
    ("OlderThanXDays", Some("olderthan-x-days"), OlderThanX(Days)),
    (
        "OlderThanXWeeks",
        Some("olderthan-x-weeks"),
        OlderThanX(Weeks),
    ),
    (
        "OlderThanXMonths",
        Some("olderthan-x-months"),
        OlderThanX(Months),
    ),
    (
        "OlderThanXYears",
        Some("olderthan-x-years"),
        OlderThanX(Years),
    ),
    ("On", Some("on"), On),
    ("NotOn", None, NotOn),
    ("OnOrAfter", Some("on-or-after"), OnOrAfter),
    ("OnOrBefore", Some("on-or-before"), OnOrBefore),
    ("EqualUserId", Some("eq-userid"), EqualUserId),
    ("NotEqualUserId", Some("ne-userid"), NotEqualUserId),
    ("EqualBusinessId", Some("eq-businessid"), EqualBusinessId),
    (
        "NotEqualBusinessId",
        Some("ne-businessid"),
        NotEqualBusinessId,
    ),
];

/// An open end of a range: "no bound".
const FAR: i64 = 1 << 40;

impl Operator {
    /// The operator of a Web API query function (`LastXDays` of
    /// `Microsoft.Dynamics.CRM.LastXDays(…)`).
    pub fn from_odata(name: &str) -> Option<Self> {
        NAMES.iter().find(|n| n.0 == name).map(|n| n.2)
    }

    /// The operator of a FetchXML condition (`last-x-days`).
    pub fn from_fetch_xml(name: &str) -> Option<Self> {
        NAMES.iter().find(|n| n.1 == Some(name)).map(|n| n.2)
    }

    /// What the operator takes besides the column.
    pub fn argument(self) -> Argument {
        match self {
            LastX(_) | NextX(_) | OlderThanX(_) => Argument::Count,
            On | NotOn | OnOrAfter | OnOrBefore => Argument::Day,
            _ => Argument::None,
        }
    }

    /// The condition on `column` (SQL naming a column of type `edm_type`) as a parenthesized
    /// SQL condition with bound parameters. `argument` is the count for [`Argument::Count`]
    /// (from 0 to [`MAX_COUNT`]), the day's midnight for [`Argument::Day`], and unused
    /// otherwise. `None` for a date operator on a column that holds no date.
    pub fn sql(
        self,
        argument: i64,
        column: &str,
        edm_type: EdmType,
        ctx: &QueryContext,
    ) -> Option<SqlFilter> {
        let caller = |id: uuid::Uuid, equal: bool| {
            let sql = if equal {
                format!("({column} = ?)")
            } else {
                not_equal_sql(column, "?")
            };
            Some(SqlFilter {
                sql,
                params: vec![Value::Blob(id.as_bytes().to_vec())],
            })
        };
        let range = |(lo, hi): (i64, i64)| range_sql(column, edm_type, lo, hi);
        match self {
            EqualUserId => caller(ctx.user, true),
            NotEqualUserId => caller(ctx.user, false),
            EqualBusinessId => caller(ctx.business_unit, true),
            NotEqualBusinessId => caller(ctx.business_unit, false),
            NotOn => range((argument, argument + 86_400)).map(|inside| SqlFilter {
                sql: format!("(NOT coalesce({}, 0))", inside.sql),
                params: inside.params,
            }),
            _ => range(self.range(argument, ctx.now)),
        }
    }

    /// The half-open range `[lo, hi)` of instants a date operator accepts; `±FAR` is no bound.
    fn range(self, n: i64, now: i64) -> (i64, i64) {
        let day = |offset: i64| (now.div_euclid(86_400) + offset) * 86_400;
        let week = |offset: i64| {
            let days_since_sunday = (now.div_euclid(86_400) + 4).rem_euclid(7);
            day(-days_since_sunday) + offset * 7 * 86_400
        };
        let month = |offset: i64| months_from(now, offset, false);
        let year = |offset: i64| months_from(now, offset * 12, true);
        // The start of the unit `offset` units from now (`now` itself for minutes and hours).
        let ago = |unit: Unit, offset: i64| match unit {
            Unit::Minutes => now + offset * 60,
            Unit::Hours => now + offset * 3_600,
            Unit::Days => day(offset),
            Unit::Weeks => day(7 * offset),
            Unit::Months => month(offset),
            Unit::Years => year(offset),
        };
        match self {
            Today => (day(0), day(1)),
            Yesterday => (day(-1), day(0)),
            Tomorrow => (day(1), day(2)),
            Last7Days => (day(-7), now + 1),
            Next7Days => (now, day(8)),
            ThisWeek => (week(0), week(1)),
            LastWeek => (week(-1), week(0)),
            NextWeek => (week(1), week(2)),
            ThisMonth => (month(0), month(1)),
            LastMonth => (month(-1), month(0)),
            NextMonth => (month(1), month(2)),
            ThisYear => (year(0), year(1)),
            LastYear => (year(-1), year(0)),
            NextYear => (year(1), year(2)),
            LastX(unit) => (ago(unit, -n), now + 1),
            // Minutes and hours end X units from now (inclusive); days and weeks with the day
            // X (7X) days from today; months and years with the X-th one after the current.
            NextX(unit @ (Unit::Minutes | Unit::Hours)) => (now, ago(unit, n) + 1),
            NextX(Unit::Weeks) => (now, day(7 * n + 1)),
            NextX(unit) => (now, ago(unit, n + 1)),
            OlderThanX(unit) => (-FAR, ago(unit, -n)),
            On => (n, n + 86_400),
            OnOrAfter => (n, FAR),
            OnOrBefore => (-FAR, n + 86_400),
            NotOn | EqualUserId | NotEqualUserId | EqualBusinessId | NotEqualBusinessId => {
                (-FAR, FAR)
            }
        }
    }
}

/// `lo <= column < hi` on a date column, an open end written as `±FAR`.
fn range_sql(column: &str, edm_type: EdmType, lo: i64, hi: i64) -> Option<SqlFilter> {
    let (lo_open, hi_open) = (lo <= -FAR, hi >= FAR);
    let (lo, hi, upper) = match edm_type {
        EdmType::DateTimeOffset => (Value::Integer(lo), Value::Integer(hi), "<"),
        EdmType::Date => {
            let d = |s: i64| {
                OffsetDateTime::from_unix_timestamp(s)
                    .map(|d| Value::Text(d.date().to_string()))
                    .unwrap_or(Value::Null)
            };
            (d(lo), d(hi - 1), "<=")
        }
        _ => return None,
    };
    let (sql, params) = match (lo_open, hi_open) {
        (true, true) => (format!("({column} IS NOT NULL)"), Vec::new()),
        (true, false) => (format!("({column} {upper} ?)"), vec![hi]),
        (false, true) => (format!("({column} >= ?)"), vec![lo]),
        (false, false) => (
            format!("({column} >= ? AND {column} {upper} ?)"),
            vec![lo, hi],
        ),
    };
    Some(SqlFilter { sql, params })
}

/// The midnight (UTC) that starts the day of an instant.
pub fn day_start(instant: i64) -> i64 {
    instant.div_euclid(86_400) * 86_400
}

/// The start of the month (or, with `year`, the year) `offset` months from `now`'s.
fn months_from(now: i64, offset: i64, year: bool) -> i64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> String {
        OffsetDateTime::from_unix_timestamp(t)
            .unwrap()
            .date()
            .to_string()
    }

    #[test]
    fn calendar_months() {
        // 2026-03-15 → the month before starts 2026-02-01, the year 2026-01-01.
        let now = time::macros::datetime!(2026-03-15 12:00 UTC).unix_timestamp();
        assert_eq!(at(months_from(now, -1, false)), "2026-02-01");
        assert_eq!(at(months_from(now, -3, false)), "2025-12-01");
        assert_eq!(at(months_from(now, 0, true)), "2026-01-01");
        assert_eq!(at(months_from(now, 12, true)), "2027-01-01");
    }

    #[test]
    fn both_languages_name_the_same_operators() {
        for (odata, fetch_xml, op) in [
            ("Today", "today", Today),
            ("Last7Days", "last-seven-days", Last7Days),
            ("LastXDays", "last-x-days", LastX(Unit::Days)),
            ("NextXHours", "next-x-hours", NextX(Unit::Hours)),
            (
                "OlderThanXMonths",
                "olderthan-x-months",
                OlderThanX(Unit::Months),
            ),
            ("OnOrBefore", "on-or-before", OnOrBefore),
            ("NotEqualBusinessId", "ne-businessid", NotEqualBusinessId),
        ] {
            assert_eq!(Operator::from_odata(odata), Some(op), "{odata}");
            assert_eq!(Operator::from_fetch_xml(fetch_xml), Some(op), "{fetch_xml}");
        }
        for unknown in [
            "last-x-minutes",
            "next-x-minutes",
            "not-on",
            "LastXDays",
            "eq",
        ] {
            assert_eq!(Operator::from_fetch_xml(unknown), None, "{unknown}");
        }
        assert_eq!(Operator::from_odata("last-x-days"), None);
        assert_eq!(Operator::from_odata("LastXFortnights"), None);
    }

    #[test]
    fn ranges_over_the_clock() {
        // Wednesday 2026-03-18 15:00 UTC.
        let now = time::macros::datetime!(2026-03-18 15:00 UTC).unix_timestamp();
        let ctx = QueryContext {
            user: uuid::Uuid::nil(),
            business_unit: uuid::Uuid::nil(),
            now,
        };
        let days = |op: Operator, n: i64| {
            let f = op.sql(n, "c", EdmType::Date, &ctx).unwrap();
            f.params
                .iter()
                .map(|v| match v {
                    Value::Text(t) => t.clone(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(days(ThisWeek, 0), ["2026-03-15", "2026-03-21"]);
        assert_eq!(days(LastMonth, 0), ["2026-02-01", "2026-02-28"]);
        assert_eq!(days(LastX(Unit::Days), 2), ["2026-03-16", "2026-03-18"]);
        assert_eq!(days(NextX(Unit::Years), 1), ["2026-03-18", "2027-12-31"]);
        assert_eq!(days(NextX(Unit::Weeks), 1), ["2026-03-18", "2026-03-25"]);
        assert_eq!(days(OlderThanX(Unit::Years), 5), ["2020-12-31"]);
        let f = NotOn
            .sql(day_start(now), "c", EdmType::DateTimeOffset, &ctx)
            .unwrap();
        assert_eq!(f.sql, "(NOT coalesce((c >= ? AND c < ?), 0))");
        assert_eq!(
            f.params,
            [
                Value::Integer(day_start(now)),
                Value::Integer(day_start(now) + 86_400)
            ]
        );
        assert!(Today.sql(0, "c", EdmType::String, &ctx).is_none());
        let f = NotEqualUserId.sql(0, "c", EdmType::String, &ctx).unwrap();
        assert_eq!(f.sql, "(c IS NOT ?)");
    }
}
