//! The planner's errors as the Dataverse errors a client sees: a `$filter` the emulator
//! cannot run is the Web API's query error (`0x80060888`); a FetchXML query is refused as
//! `InvalidArgument` (`0x80040203`), or `QueryBuilderNoAttribute` (`0x80041103`) for an
//! attribute the table lacks. The planner's message is sent as it is.

use super::DataverseError;
use crate::query::error::{FetchPlanError, PlanError};

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
