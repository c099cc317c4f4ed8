//! Which ABNF rules the crate implements, and what it deliberately skips, with reasons.

/// ABNF rules this crate deliberately does not implement, with the reason.
pub const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    (
        "odataUri",
        "absolute URIs (scheme, authority, IPv6 hosts): the crate parses paths relative to the service root",
    ),
    (
        "header",
        "generic HTTP headers: the HTTP crates handle them; only Prefer is parsed here",
    ),
    (
        "context",
        "context URLs are response metadata written by the emulator, never parsed",
    ),
    (
        "primitiveValue",
        "payload (JSON body) values are serde's job, not URL syntax",
    ),
    ("request-id", "$batch request ids belong to the batch crate"),
];

/// OData 4.01 features that Dataverse does not have, recognised in the raw input of
/// otherwise implemented rules: `(marker, reason)`. A case whose input contains a
/// marker is skipped.
pub const UNSUPPORTED_FEATURES: &[(&str, &str)] = &[
    (
        "$metadata#",
        "context URLs are response metadata, never parsed",
    ),
    (
        "$id=",
        "$id belongs to the DELETE .../$ref handler, not to QueryOptions",
    ),
    ("$entity", "$entity?$id=: not in Dataverse"),
];

/// Reason for skipping `$`-less or mixed-case system query option names.
pub(super) const OPTIONAL_DOLLAR: &str = "4.01 optional '$' and case-insensitive system query option names: Dataverse needs '$' and lower case (anything else is a custom option there)";
/// Reason for skipping option values that start with whitespace.
pub(super) const LEADING_SPACE: &str = "whitespace right after an option's '=' (`$filter= true`): the ABNF refuses it, Dataverse (ODL's lexer) skips it, and the crate follows the service";

/// Implemented rules and what they are checked with.
pub const RULES: &[(&str, &str)] = &[
    ("boolCommonExpr", "parse_filter"),
    ("boolcommonExpr", "parse_filter"),
    ("commonExpr", "parse_filter"),
    ("firstMemberExpr", "parse_filter"),
    ("propertyPathExpr", "parse_filter"),
    ("isofExpr", "parse_filter"),
    ("anyExpr", "parse_filter on `x/` + input"),
    ("filter", "QueryOptions::parse, $filter set"),
    ("orderby", "QueryOptions::parse, $orderby set"),
    ("orderBy", "QueryOptions::parse, $orderby set"),
    ("select", "QueryOptions::parse, $select set"),
    ("expand", "QueryOptions::parse, $expand set"),
    ("search", "QueryOptions::parse, $search set"),
    ("skiptoken", "QueryOptions::parse, $skiptoken set"),
    ("deltatoken", "QueryOptions::parse, $deltatoken set"),
    ("queryOptions", "QueryOptions::parse"),
    ("systemQueryOption", "QueryOptions::parse"),
    (
        "customQueryOption",
        "QueryOptions::parse, custom option set",
    ),
    ("resourcePath", "parse_resource_path"),
    (
        "odataRelativeUri",
        "parse_resource_path + QueryOptions::parse",
    ),
    ("top", "QueryOptions::parse, $top set"),
    ("skip", "QueryOptions::parse, $skip set"),
    ("inlinecount", "QueryOptions::parse, $count set"),
    (
        "compute",
        "QueryOptions::parse: $compute is refused as unsupported",
    ),
    (
        "format",
        "QueryOptions::parse: $format is refused as unsupported",
    ),
    (
        "index",
        "QueryOptions::parse: $index is refused as unsupported",
    ),
    (
        "schemaversion",
        "QueryOptions::parse: $schemaversion is refused as unsupported",
    ),
    ("aliasAndValue", "QueryOptions::parse, an alias set"),
    ("systemQueryOptions", "QueryOptions::parse"),
    ("searchExpr", "the $search grammar"),
    (
        "binaryLiteral",
        "parse_literal: binary'...' is refused as unsupported",
    ),
    (
        "geographyPoint",
        "parse_literal: geography'...'/geometry'...' of the rule's shape, refused as unsupported",
    ),
    ("geographyLineString", "as geographyPoint"),
    ("geographyPolygon", "as geographyPoint"),
    ("geographyMultiPoint", "as geographyPoint"),
    ("geographyMultiLineString", "as geographyPoint"),
    ("geographyMultiPolygon", "as geographyPoint"),
    ("geographyCollection", "as geographyPoint"),
    ("geometryPoint", "as geographyPoint"),
    ("geometryLineString", "as geographyPoint"),
    ("geometryPolygon", "as geographyPoint"),
    ("geometryMultiPoint", "as geographyPoint"),
    ("geometryMultiLineString", "as geographyPoint"),
    ("geometryMultiPolygon", "as geographyPoint"),
    ("geometryCollection", "as geographyPoint"),
    ("orderbyItem", "parse_orderby, one item"),
    ("selectItem", "parse_select"),
    ("expandItem", "parse_expand"),
    ("parameterAlias", "'@' and an identifier"),
    ("guidValue", "parse_literal → Edm.Guid"),
    ("int32Value", "parse_literal → an integer"),
    ("singleValue", "parse_literal → a number"),
    ("byteLiteral", "parse_literal → an integer"),
    ("int16Literal", "parse_literal → an integer"),
    ("preference", "Prefer::parse_checked"),
    ("maxpagesizePreference", "Prefer::parse_checked"),
    ("includeAnnotationsPreference", "Prefer::parse_checked"),
    ("prefer", "Prefer::parse_checked after 'Prefer:'"),
    ("functionParameter", "parse_filter on `f(` + input + `)`"),
    ("odataIdentifier", "lexer: one identifier"),
    ("primitiveLiteral", "parse_literal"),
    ("stringInUrl", "parse_literal on `[` + input + `]`"),
    ("null", "parse_literal → null"),
    ("boolean", "parse_literal → Edm.Boolean"),
    ("booleanValue", "payload: exactly true/false"),
    ("guid", "parse_literal → Edm.Guid"),
    ("date", "parse_literal → Edm.Date"),
    ("dateValue", "parse_literal → Edm.Date"),
    (
        "dateTimeOffsetValue",
        "parse_literal → Edm.DateTimeOffset (payload: no %-decoding)",
    ),
    (
        "dateTimeOffsetLiteral",
        "parse_literal → Edm.DateTimeOffset",
    ),
    (
        "timeOfDayValue",
        "parse_literal → Edm.TimeOfDay (payload: no %-decoding)",
    ),
    ("timeOfDayLiteral", "parse_literal → Edm.TimeOfDay"),
    ("durationValue", "ISO 8601 day-time duration check"),
    (
        "durationLiteral",
        "parse_literal → Edm.Duration (or a quoted duration)",
    ),
    ("decimalValue", "parse_literal → a number"),
    ("decimalLiteral", "parse_literal → a number"),
    ("doubleValue", "parse_literal → a number"),
    ("doubleLiteral", "parse_literal → a number"),
    ("singleLiteral", "parse_literal → a number"),
    ("byteValue", "parse_literal → an integer"),
    ("sbyteValue", "parse_literal → an integer"),
    ("sbyteLiteral", "parse_literal → an integer"),
    ("int16Value", "parse_literal → an integer"),
    ("int32Literal", "parse_literal → an integer"),
    ("int64Value", "parse_literal → an integer"),
    ("int64Literal", "parse_literal → an integer"),
    ("stringLiteral", "parse_literal → Edm.String"),
    (
        "enumLiteral",
        "parse_literal → enum (or a quoted member list)",
    ),
    ("enumValue", "payload: comma-separated members or integers"),
];
