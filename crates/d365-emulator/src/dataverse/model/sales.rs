//! The user-owned tables of the sales and service paths: account, contact, lead,
//! opportunity, task and annotation (notes).

use d365_odata::model::{EdmType, EntityType, Property};

use super::{many, owned, single};

const STATE: &[(i32, &str)] = &[(0, "Active"), (1, "Inactive")];
const ACCOUNT_STATUS: &[(i32, &str)] = &[(1, "Active"), (2, "Inactive")];
const INDUSTRY: &[(i32, &str)] = &[
    (1, "Accounting"),
    (2, "Agriculture and Non-petrol Natural Resource Extraction"),
    (3, "Broadcasting Printing and Publishing"),
    (4, "Brokers"),
    (5, "Building Supply Retail"),
    (6, "Business Services"),
    (7, "Consulting"),
    (8, "Consumer Services"),
    (9, "Design, Direction and Creative Management"),
    (10, "Distributors, Dispatchers and Processors"),
    (11, "Doctor's Offices and Clinics"),
    (12, "Durable Manufacturing"),
    (13, "Eating and Drinking Places"),
    (14, "Entertainment Retail"),
    (15, "Equipment Rental and Leasing"),
    (16, "Financial"),
    (17, "Food and Tobacco Processing"),
    (18, "Inbound Capital Intensive Processing"),
    (19, "Inbound Repair and Services"),
    (20, "Insurance"),
    (21, "Legal Services"),
    (22, "Non-Durable Merchandise Retail"),
    (23, "Outbound Consumer Service"),
    (24, "Petrochemical Extraction and Distribution"),
    (25, "Service Retail"),
    (26, "SIG Affiliations"),
    (27, "Social Services"),
    (28, "Special Outbound Trade Contractors"),
    (29, "Specialty Realty"),
    (30, "Transportation"),
    (31, "Utility Creation and Distribution"),
    (32, "Vehicle Retail"),
    (33, "Wholesale"),
];

/// Out of the box, account has no alternate key (no org has one on `accountnumber` until
/// someone creates it): keys come from the org's definition, see `dataverse::keys`.
pub(super) fn account() -> EntityType {
    owned(
        "account",
        "accounts",
        "accountid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(160),
            Property::new("accountnumber", EdmType::String).max_length(20),
            Property::new("revenue", EdmType::Decimal).scale(4),
            Property::new("numberofemployees", EdmType::Int32),
            Property::new("telephone1", EdmType::String).max_length(50),
            Property::new("emailaddress1", EdmType::String).max_length(100),
            Property::new("websiteurl", EdmType::String).max_length(200),
            Property::new("address1_city", EdmType::String).max_length(80),
            Property::new("address1_country", EdmType::String).max_length(80),
            Property::new("description", EdmType::String).max_length(2000),
            Property::new("industrycode", EdmType::Int32).options(INDUSTRY),
            Property::new("creditonhold", EdmType::Boolean),
            Property::new("statecode", EdmType::Int32).options(STATE),
            Property::new("statuscode", EdmType::Int32).options(ACCOUNT_STATUS),
            Property::new("_primarycontactid_value", EdmType::Guid).lookup(&["contact"]),
            Property::new("_parentaccountid_value", EdmType::Guid).lookup(&["account"]),
        ],
        vec![
            single(
                "primarycontactid",
                "contact",
                "_primarycontactid_value",
                "account_primary_contact",
            ),
            single(
                "parentaccountid",
                "account",
                "_parentaccountid_value",
                "account_parent_account",
            ),
            many(
                "account_parent_account",
                "account",
                "_parentaccountid_value",
                "parentaccountid",
            ),
            many(
                "contact_customer_accounts",
                "contact",
                "_parentcustomerid_value",
                "parentcustomerid_account",
            ),
            many(
                "opportunity_parent_account",
                "opportunity",
                "_parentaccountid_value",
                "parentaccountid",
            ),
            many(
                "lead_parent_account",
                "lead",
                "_parentaccountid_value",
                "parentaccountid",
            ),
            many(
                "Account_Tasks",
                "task",
                "_regardingobjectid_value",
                "regardingobjectid_account_task",
            ),
            many(
                "Account_Annotation",
                "annotation",
                "_objectid_value",
                "objectid_account",
            ),
        ],
    )
}

pub(super) fn contact() -> EntityType {
    owned(
        "contact",
        "contacts",
        "contactid",
        "fullname",
        vec![
            Property::new("firstname", EdmType::String).max_length(50),
            Property::new("lastname", EdmType::String).max_length(50),
            Property::new("fullname", EdmType::String)
                .max_length(160)
                .read_only(),
            Property::new("emailaddress1", EdmType::String).max_length(100),
            Property::new("telephone1", EdmType::String).max_length(50),
            Property::new("jobtitle", EdmType::String).max_length(100),
            Property::new("birthdate", EdmType::Date),
            Property::new("statecode", EdmType::Int32).options(STATE),
            Property::new("statuscode", EdmType::Int32).options(ACCOUNT_STATUS),
            Property::new("_parentcustomerid_value", EdmType::Guid).lookup(&["account", "contact"]),
        ],
        vec![
            single(
                "parentcustomerid_account",
                "account",
                "_parentcustomerid_value",
                "contact_customer_accounts",
            ),
            single(
                "parentcustomerid_contact",
                "contact",
                "_parentcustomerid_value",
                "contact_customer_contacts",
            ),
            many(
                "contact_customer_contacts",
                "contact",
                "_parentcustomerid_value",
                "parentcustomerid_contact",
            ),
            many(
                "account_primary_contact",
                "account",
                "_primarycontactid_value",
                "primarycontactid",
            ),
            many(
                "opportunity_parent_contact",
                "opportunity",
                "_parentcontactid_value",
                "parentcontactid",
            ),
            many(
                "Contact_Tasks",
                "task",
                "_regardingobjectid_value",
                "regardingobjectid_contact_task",
            ),
            many(
                "Contact_Annotation",
                "annotation",
                "_objectid_value",
                "objectid_contact",
            ),
        ],
    )
}

pub(super) fn lead() -> EntityType {
    owned(
        "lead",
        "leads",
        "leadid",
        "fullname",
        vec![
            Property::new("subject", EdmType::String).max_length(300),
            Property::new("firstname", EdmType::String).max_length(50),
            Property::new("lastname", EdmType::String).max_length(50),
            Property::new("fullname", EdmType::String)
                .max_length(160)
                .read_only(),
            Property::new("companyname", EdmType::String).max_length(100),
            Property::new("emailaddress1", EdmType::String).max_length(100),
            Property::new("telephone1", EdmType::String).max_length(50),
            Property::new("estimatedamount", EdmType::Decimal).scale(4),
            Property::new("leadsourcecode", EdmType::Int32).options(&[
                (1, "Advertisement"),
                (2, "Employee Referral"),
                (3, "External Referral"),
                (4, "Partner"),
                (5, "Public Relations"),
                (6, "Seminar"),
                (7, "Trade Show"),
                (8, "Web"),
                (9, "Word of Mouth"),
                (10, "Other"),
            ]),
            Property::new("statecode", EdmType::Int32).options(&[
                (0, "Open"),
                (1, "Qualified"),
                (2, "Disqualified"),
            ]),
            Property::new("statuscode", EdmType::Int32).options(&[
                (1, "New"),
                (2, "Contacted"),
                (3, "Qualified"),
                (4, "Lost"),
                (5, "Cannot Contact"),
                (6, "No Longer Interested"),
                (7, "Canceled"),
            ]),
            Property::new("_parentaccountid_value", EdmType::Guid).lookup(&["account"]),
            Property::new("_parentcontactid_value", EdmType::Guid).lookup(&["contact"]),
        ],
        vec![
            single(
                "parentaccountid",
                "account",
                "_parentaccountid_value",
                "lead_parent_account",
            ),
            single(
                "parentcontactid",
                "contact",
                "_parentcontactid_value",
                "lead_parent_contact",
            ),
            many(
                "Lead_Tasks",
                "task",
                "_regardingobjectid_value",
                "regardingobjectid_lead_task",
            ),
            many(
                "Lead_Annotation",
                "annotation",
                "_objectid_value",
                "objectid_lead",
            ),
        ],
    )
}

pub(super) fn opportunity() -> EntityType {
    owned(
        "opportunity",
        "opportunities",
        "opportunityid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(300),
            Property::new("description", EdmType::String).max_length(2000),
            Property::new("estimatedvalue", EdmType::Decimal).scale(4),
            Property::new("actualvalue", EdmType::Decimal).scale(4),
            Property::new("estimatedclosedate", EdmType::Date),
            Property::new("closeprobability", EdmType::Int32),
            Property::new("opportunityratingcode", EdmType::Int32).options(&[
                (1, "Hot"),
                (2, "Warm"),
                (3, "Cold"),
            ]),
            Property::new("statecode", EdmType::Int32).options(&[
                (0, "Open"),
                (1, "Won"),
                (2, "Lost"),
            ]),
            Property::new("statuscode", EdmType::Int32).options(&[
                (1, "In Progress"),
                (2, "On Hold"),
                (3, "Won"),
                (4, "Canceled"),
                (5, "Out-Sold"),
            ]),
            Property::new("_parentaccountid_value", EdmType::Guid).lookup(&["account"]),
            Property::new("_parentcontactid_value", EdmType::Guid).lookup(&["contact"]),
            Property::new("_customerid_value", EdmType::Guid).lookup(&["account", "contact"]),
        ],
        vec![
            single(
                "customerid_account",
                "account",
                "_customerid_value",
                "opportunity_customer_accounts",
            ),
            single(
                "customerid_contact",
                "contact",
                "_customerid_value",
                "opportunity_customer_contacts",
            ),
            single(
                "parentaccountid",
                "account",
                "_parentaccountid_value",
                "opportunity_parent_account",
            ),
            single(
                "parentcontactid",
                "contact",
                "_parentcontactid_value",
                "opportunity_parent_contact",
            ),
            many(
                "Opportunity_Tasks",
                "task",
                "_regardingobjectid_value",
                "regardingobjectid_opportunity_task",
            ),
            many(
                "Opportunity_Annotation",
                "annotation",
                "_objectid_value",
                "objectid_opportunity",
            ),
        ],
    )
}

pub(super) fn task() -> EntityType {
    owned(
        "task",
        "tasks",
        "activityid",
        "subject",
        vec![
            Property::new("subject", EdmType::String).max_length(200),
            Property::new("description", EdmType::String).max_length(2000),
            Property::new("scheduledend", EdmType::DateTimeOffset),
            Property::new("actualend", EdmType::DateTimeOffset),
            Property::new("percentcomplete", EdmType::Int32),
            Property::new("prioritycode", EdmType::Int32).options(&[
                (0, "Low"),
                (1, "Normal"),
                (2, "High"),
            ]),
            Property::new("statecode", EdmType::Int32).options(&[
                (0, "Open"),
                (1, "Completed"),
                (2, "Canceled"),
            ]),
            Property::new("statuscode", EdmType::Int32).options(&[
                (2, "Not Started"),
                (3, "In Progress"),
                (4, "Waiting on someone else"),
                (5, "Completed"),
                (6, "Canceled"),
                (7, "Deferred"),
            ]),
            Property::new("_regardingobjectid_value", EdmType::Guid).lookup(&[
                "account",
                "contact",
                "lead",
                "opportunity",
            ]),
        ],
        vec![
            single(
                "regardingobjectid_account_task",
                "account",
                "_regardingobjectid_value",
                "Account_Tasks",
            ),
            single(
                "regardingobjectid_contact_task",
                "contact",
                "_regardingobjectid_value",
                "Contact_Tasks",
            ),
            single(
                "regardingobjectid_lead_task",
                "lead",
                "_regardingobjectid_value",
                "Lead_Tasks",
            ),
            single(
                "regardingobjectid_opportunity_task",
                "opportunity",
                "_regardingobjectid_value",
                "Opportunity_Tasks",
            ),
        ],
    )
}

pub(super) fn annotation() -> EntityType {
    owned(
        "annotation",
        "annotations",
        "annotationid",
        "subject",
        vec![
            Property::new("subject", EdmType::String).max_length(500),
            Property::new("notetext", EdmType::String).max_length(100_000),
            Property::new("filename", EdmType::String).max_length(255),
            Property::new("mimetype", EdmType::String).max_length(256),
            Property::new("documentbody", EdmType::String).max_length(1_073_741_823),
            Property::new("filesize", EdmType::Int32).read_only(),
            Property::new("isdocument", EdmType::Boolean).read_only(),
            Property::new("objecttypecode", EdmType::String).max_length(64),
            Property::new("_objectid_value", EdmType::Guid).lookup(&[
                "account",
                "contact",
                "lead",
                "opportunity",
            ]),
        ],
        vec![
            single(
                "objectid_account",
                "account",
                "_objectid_value",
                "Account_Annotation",
            ),
            single(
                "objectid_contact",
                "contact",
                "_objectid_value",
                "Contact_Annotation",
            ),
            single(
                "objectid_lead",
                "lead",
                "_objectid_value",
                "Lead_Annotation",
            ),
            single(
                "objectid_opportunity",
                "opportunity",
                "_objectid_value",
                "Opportunity_Annotation",
            ),
        ],
    )
}
