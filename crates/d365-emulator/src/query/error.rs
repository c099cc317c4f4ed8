//! Why a query cannot be planned, in the planner's terms: what is unsupported, which value
//! does not fit which column, which name is unknown. The planner knows nothing of HTTP;
//! `error/plan.rs` turns a [`PlanError`] into the Dataverse error a client sees, in one place.

use crate::error::DataverseError;
use d365_odata::model::EdmType;

/// Why a `$filter` or a FetchXML query cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A `$filter` the planner refuses.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A FetchXML query (or one read from SQL or a QueryExpression) the planner refuses.
    #[error(transparent)]
    Fetch(#[from] FetchPlanError),
}

/// A literal LIKE pattern longer than the planner allows
/// (`plan::MAX_LIKE_PATTERN` characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The text to match is {length} characters long; a LIKE pattern may have at most {max}.")]
pub struct LikePatternTooLong {
    /// The pattern's length in characters.
    pub length: usize,
    /// The longest pattern allowed.
    pub max: usize,
}

/// Why a typed `$filter` cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Valid OData the emulator does not run yet (the text names what).
    #[error("{0} is not supported by the emulator yet.")]
    Unsupported(String),
    /// A LIKE pattern past the limit Dataverse has too.
    #[error(transparent)]
    LikePattern(#[from] LikePatternTooLong),
}

/// Why a FetchXML query cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchPlanError {
    /// An attribute the table lacks (neither a column nor a lookup's logical name).
    #[error(
        "'{entity}' entity doesn't contain attribute with Name = '{attribute}' and NameMapping = 'Logical'."
    )]
    UnknownAttribute {
        /// The table.
        entity: String,
        /// The attribute as written.
        attribute: String,
    },
    /// `<entity name>` names another table than the entity set's.
    #[error(
        "The entity name '{fetch}' in the FetchXML does not match the entity set's table '{table}'."
    )]
    EntityMismatch {
        /// The table the document names.
        fetch: String,
        /// The entity set's table.
        table: String,
    },
    /// A `<link-entity>` naming no table of the model.
    #[error("The link-entity '{0}' is not a table of this environment.")]
    UnknownTable(String),
    /// A condition's `entityname` naming no link alias.
    #[error("The entityname '{0}' of a condition names no link-entity alias.")]
    UnknownAlias(String),
    /// Links inside links, or orders on a link.
    #[error(
        "Nested link-entity elements and orders on a link-entity are not supported by the emulator yet."
    )]
    NestedLinks,
    /// Columns read through a one-to-many link.
    #[error(
        "Columns of the one-to-many link to '{0}' are not supported by the emulator yet; link from its primary key, or filter without columns."
    )]
    OneToManyColumns(String),
    /// A condition operator the planner does not know.
    #[error("The condition operator '{0}' is not supported by the emulator yet.")]
    UnsupportedOperator(String),
    /// A value that is not a literal of the column's type.
    #[error("The value '{value}' is not valid for the attribute '{attribute}' of type {edm_type}.")]
    BadValue {
        /// The value as written.
        value: String,
        /// The column.
        attribute: String,
        /// The column's type.
        edm_type: EdmType,
    },
    /// A value that is not a date (`on`, `on-or-after`, `on-or-before`).
    #[error("The value '{0}' is not a date.")]
    NotADate(String),
    /// The X of `last-x-days` and its kin outside `0..=max`.
    #[error(
        "The condition operator '{operator}' takes a whole number from 0 to {max}, not '{value}'."
    )]
    BadCount {
        /// The operator.
        operator: String,
        /// The value as written.
        value: String,
        /// The largest X.
        max: i64,
    },
    /// A date operator on a column that holds no date.
    #[error(
        "The condition operator '{operator}' applies to date columns, and '{attribute}' is not one."
    )]
    NotADateColumn {
        /// The operator.
        operator: String,
        /// The column.
        attribute: String,
    },
    /// An operator given the wrong number of values.
    #[error(
        "The condition operator '{operator}'{} {expected}.",
        attribute.as_deref().map(|a| format!(" on '{a}'")).unwrap_or_default()
    )]
    ValueCount {
        /// The operator.
        operator: String,
        /// The column, when the message names it.
        attribute: Option<String>,
        /// What the operator takes (`takes exactly one value`, `needs at least one <value>`).
        expected: &'static str,
    },
    /// A LIKE pattern past the limit Dataverse has too.
    #[error(transparent)]
    LikePattern(#[from] LikePatternTooLong),
}

// The planner's errors as the Dataverse errors a client sees (the codes are `error/`'s): a
// `$filter` the emulator cannot run is the Web API's query error (`0x80060888`); a FetchXML
// query is refused as `InvalidArgument` (`0x80040203`), or `QueryBuilderNoAttribute`
// (`0x80041103`) for an attribute the table lacks. The planner's message is sent as it is.
impl From<PlanError> for DataverseError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Filter(e) => DataverseError::bad_query(e.to_string()),
            PlanError::Fetch(FetchPlanError::UnknownAttribute { entity, attribute }) => {
                DataverseError::fetch_no_attribute(&entity, &attribute)
            }
            PlanError::Fetch(e) => DataverseError::fetch_xml(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::error::{FilterError, LikePatternTooLong};

    #[test]
    fn each_front_end_keeps_its_code_and_message() {
        let e = DataverseError::from(PlanError::from(FilterError::Unsupported(
            "The 'has' operator".into(),
        )));
        assert_eq!(
            (e.status.as_u16(), e.code, e.message.as_str()),
            (
                400,
                "0x80060888",
                "The 'has' operator is not supported by the emulator yet."
            )
        );
        let long = LikePatternTooLong {
            length: 4_001,
            max: 4_000,
        };
        let odata = DataverseError::from(PlanError::from(FilterError::from(long.clone())));
        let fetch = DataverseError::from(PlanError::from(FetchPlanError::from(long)));
        assert_eq!((odata.code, fetch.code), ("0x80060888", "0x80040203"));
        assert_eq!(odata.message, fetch.message);
        let e = DataverseError::from(PlanError::from(FetchPlanError::UnknownAttribute {
            entity: "account".into(),
            attribute: "nosuch".into(),
        }));
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "0x80041103",
                "'account' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'."
            )
        );
        let e = DataverseError::from(PlanError::from(FetchPlanError::ValueCount {
            operator: "in".into(),
            attribute: Some("name".into()),
            expected: "needs at least one <value>",
        }));
        assert_eq!(
            e.message,
            "The condition operator 'in' on 'name' needs at least one <value>."
        );
    }
}
