//! The function tables: OData canonical functions and Dataverse query functions.

/// A canonical OData function
/// (<https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html#sec_BuiltinQueryFunctions>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Canonical {
    Contains,
    StartsWith,
    EndsWith,
    Length,
    IndexOf,
    Substring,
    ToLower,
    ToUpper,
    Trim,
    Concat,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Date,
    Time,
    Now,
    Round,
    Floor,
    Ceiling,
    Cast,
    IsOf,
}

impl Canonical {
    /// Every canonical function with its URL name.
    pub const ALL: [(&'static str, Canonical); 24] = [
        ("contains", Canonical::Contains),
        ("startswith", Canonical::StartsWith),
        ("endswith", Canonical::EndsWith),
        ("length", Canonical::Length),
        ("indexof", Canonical::IndexOf),
        ("substring", Canonical::Substring),
        ("tolower", Canonical::ToLower),
        ("toupper", Canonical::ToUpper),
        ("trim", Canonical::Trim),
        ("concat", Canonical::Concat),
        ("year", Canonical::Year),
        ("month", Canonical::Month),
        ("day", Canonical::Day),
        ("hour", Canonical::Hour),
        ("minute", Canonical::Minute),
        ("second", Canonical::Second),
        ("date", Canonical::Date),
        ("time", Canonical::Time),
        ("now", Canonical::Now),
        ("round", Canonical::Round),
        ("floor", Canonical::Floor),
        ("ceiling", Canonical::Ceiling),
        ("cast", Canonical::Cast),
        ("isof", Canonical::IsOf),
    ];

    /// The function for a URL name.
    pub fn from_name(name: &str) -> Option<Canonical> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The URL name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether Dataverse's Web API accepts it in `$filter` (only the string matchers).
    pub fn supported_by_dataverse(self) -> bool {
        matches!(
            self,
            Canonical::Contains | Canonical::StartsWith | Canonical::EndsWith
        )
    }
}

/// What a Dataverse query function's parameters look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryFunctionShape {
    /// `PropertyName` only (`Today`, `EqualUserId`).
    NoValue,
    /// `PropertyName` and an integer `PropertyValue` (`LastXDays`).
    Count,
    /// `PropertyName` and a date `PropertyValue` (`On`, `OnOrAfter`).
    Date,
    /// `PropertyName` and a `PropertyValue` of the property's type (`Above`, `Under`).
    Value,
    /// `PropertyName` and exactly two `PropertyValues` (`Between`).
    Range,
    /// `PropertyName` and one or more `PropertyValues` (`In`, `ContainValues`).
    Values,
}

/// Which property types a query function applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryFunctionTarget {
    /// `Edm.DateTimeOffset` or `Edm.Date`.
    DateTime,
    /// `Edm.Guid` (user, business unit, hierarchy ids and lookups).
    Id,
    /// A choice or multi-select choice column (`Edm.Int32` or `Edm.String`).
    Choice,
    /// Any primitive column.
    Any,
}

/// The Dataverse query functions this binder knows: `(name, shape, target)`.
pub const QUERY_FUNCTIONS: &[(&str, QueryFunctionShape, QueryFunctionTarget)] = {
    use QueryFunctionShape as S;
    use QueryFunctionTarget as T;
    &[
        ("Today", S::NoValue, T::DateTime),
        ("Yesterday", S::NoValue, T::DateTime),
        ("Tomorrow", S::NoValue, T::DateTime),
        ("Last7Days", S::NoValue, T::DateTime),
        ("Next7Days", S::NoValue, T::DateTime),
        ("ThisWeek", S::NoValue, T::DateTime),
        ("ThisMonth", S::NoValue, T::DateTime),
        ("ThisYear", S::NoValue, T::DateTime),
        ("LastWeek", S::NoValue, T::DateTime),
        ("LastMonth", S::NoValue, T::DateTime),
        ("LastYear", S::NoValue, T::DateTime),
        ("NextWeek", S::NoValue, T::DateTime),
        ("NextMonth", S::NoValue, T::DateTime),
        ("NextYear", S::NoValue, T::DateTime),
        ("ThisFiscalYear", S::NoValue, T::DateTime),
        ("ThisFiscalPeriod", S::NoValue, T::DateTime),
        ("LastFiscalYear", S::NoValue, T::DateTime),
        ("LastFiscalPeriod", S::NoValue, T::DateTime),
        ("NextFiscalYear", S::NoValue, T::DateTime),
        ("NextFiscalPeriod", S::NoValue, T::DateTime),
        ("LastXMinutes", S::Count, T::DateTime),
        ("LastXHours", S::Count, T::DateTime),
        ("LastXDays", S::Count, T::DateTime),
        ("LastXWeeks", S::Count, T::DateTime),
        ("LastXMonths", S::Count, T::DateTime),
        ("LastXYears", S::Count, T::DateTime),
        ("LastXFiscalYears", S::Count, T::DateTime),
        ("LastXFiscalPeriods", S::Count, T::DateTime),
        ("NextXMinutes", S::Count, T::DateTime),
        ("NextXHours", S::Count, T::DateTime),
        ("NextXDays", S::Count, T::DateTime),
        ("NextXWeeks", S::Count, T::DateTime),
        ("NextXMonths", S::Count, T::DateTime),
        ("NextXYears", S::Count, T::DateTime),
        ("NextXFiscalYears", S::Count, T::DateTime),
        ("NextXFiscalPeriods", S::Count, T::DateTime),
        ("OlderThanXMinutes", S::Count, T::DateTime),
        ("OlderThanXHours", S::Count, T::DateTime),
        ("OlderThanXDays", S::Count, T::DateTime),
        ("OlderThanXWeeks", S::Count, T::DateTime),
        ("OlderThanXMonths", S::Count, T::DateTime),
        ("OlderThanXYears", S::Count, T::DateTime),
        ("InFiscalYear", S::Count, T::DateTime),
        ("InFiscalPeriod", S::Count, T::DateTime),
        ("On", S::Date, T::DateTime),
        ("NotOn", S::Date, T::DateTime),
        ("OnOrAfter", S::Date, T::DateTime),
        ("OnOrBefore", S::Date, T::DateTime),
        ("EqualUserId", S::NoValue, T::Id),
        ("NotEqualUserId", S::NoValue, T::Id),
        ("EqualBusinessId", S::NoValue, T::Id),
        ("NotEqualBusinessId", S::NoValue, T::Id),
        ("EqualUserOrUserHierarchy", S::NoValue, T::Id),
        ("EqualUserOrUserHierarchyAndTeams", S::NoValue, T::Id),
        ("EqualUserOrUserTeams", S::NoValue, T::Id),
        ("EqualUserTeams", S::NoValue, T::Id),
        ("EqualUserLanguage", S::NoValue, T::Any),
        ("Above", S::Value, T::Id),
        ("AboveOrEqual", S::Value, T::Id),
        ("Under", S::Value, T::Id),
        ("UnderOrEqual", S::Value, T::Id),
        ("NotUnder", S::Value, T::Id),
        ("Between", S::Range, T::Any),
        ("NotBetween", S::Range, T::Any),
        ("In", S::Values, T::Any),
        ("NotIn", S::Values, T::Any),
        ("ContainValues", S::Values, T::Choice),
        ("DoesNotContainValues", S::Values, T::Choice),
    ]
};

/// The namespace of Dataverse's query functions.
pub const CRM_NAMESPACE: &str = "Microsoft.Dynamics.CRM.";
