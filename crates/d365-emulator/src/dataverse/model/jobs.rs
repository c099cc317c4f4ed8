//! The system-job tables behind asynchronous messages: `asyncoperation` (every system job,
//! with its state and outcome) and `bulkdeleteoperation` (a `BulkDelete` job's counts).
//! Clients poll them as they would in Dataverse:
//! `GET asyncoperations({JobId})?$select=statecode,statuscode,message`.

use d365_odata::model::{EdmType, EntityType, Property};

use super::{owned, single};

/// `asyncoperation.operationtype` of a bulk delete job.
pub const OPERATION_BULK_DELETE: i64 = 13;

/// A system job's state (`statecode`).
const JOB_STATES: &[(i32, &str)] = &[
    (0, "Ready"),
    (1, "Suspended"),
    (2, "Locked"),
    (3, "Completed"),
];

/// A system job's status (`statuscode`); each belongs to one state.
const JOB_STATUSES: &[(i32, &str)] = &[
    (0, "Waiting For Resources"),
    (10, "Waiting"),
    (20, "In Progress"),
    (21, "Pausing"),
    (22, "Canceling"),
    (30, "Succeeded"),
    (31, "Failed"),
    (32, "Canceled"),
];

const OPERATION_TYPES: &[(i32, &str)] = &[
    (1, "System Event"),
    (2, "Bulk Email"),
    (3, "Import File Parse"),
    (4, "Transform Parse Data"),
    (5, "Import"),
    (6, "Activity Propagation"),
    (8, "Collect SQM data"),
    (9, "PersistMatchCode"),
    (10, "Workflow"),
    (11, "Update Match Code"),
    (12, "Import Subprocess"),
    (13, "Bulk Delete"),
    (14, "Bulk Delete Subprocess"),
];

pub(super) fn asyncoperation() -> EntityType {
    owned(
        "asyncoperation",
        "asyncoperations",
        "asyncoperationid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(256),
            Property::new("operationtype", EdmType::Int32).options(OPERATION_TYPES),
            Property::new("statecode", EdmType::Int32).options(JOB_STATES),
            Property::new("statuscode", EdmType::Int32).options(JOB_STATUSES),
            Property::new("message", EdmType::String).max_length(1_073_741_823),
            Property::new("friendlymessage", EdmType::String).max_length(1_073_741_823),
            Property::new("errorcode", EdmType::Int32),
            Property::new("data", EdmType::String).max_length(1_073_741_823),
            Property::new("messagename", EdmType::String).max_length(160),
            Property::new("postponeuntil", EdmType::DateTimeOffset),
            Property::new("startedon", EdmType::DateTimeOffset),
            Property::new("completedon", EdmType::DateTimeOffset),
        ],
        vec![],
    )
}

pub(super) fn bulkdeleteoperation() -> EntityType {
    owned(
        "bulkdeleteoperation",
        "bulkdeleteoperations",
        "bulkdeleteoperationid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(256),
            Property::new("statecode", EdmType::Int32).options(JOB_STATES),
            Property::new("statuscode", EdmType::Int32).options(JOB_STATUSES),
            Property::new("successcount", EdmType::Int32),
            Property::new("failurecount", EdmType::Int32),
            Property::new("isrecurring", EdmType::Boolean),
            Property::new("processingqeindex", EdmType::Int32),
            Property::new("orderedquerysetxml", EdmType::String).max_length(1_073_741_823),
            Property::new("nextrun", EdmType::DateTimeOffset),
            Property::new("_asyncoperationid_value", EdmType::Guid).lookup(&["asyncoperation"]),
        ],
        vec![single(
            "asyncoperationid",
            "asyncoperation",
            "_asyncoperationid_value",
            "BulkDeleteOperation_AsyncOperation",
        )],
    )
}

/// System-job tables are written by the platform, never created by clients.
pub fn is_system_job(entity: &EntityType) -> bool {
    matches!(
        entity.name.as_str(),
        "asyncoperation" | "bulkdeleteoperation"
    )
}
