//! The built-in Dataverse tables, with their real logical names, entity sets, keys, types,
//! lookups and navigation properties. (Custom tables from a CSDL file come later through the
//! same `d365_odata::Model`.)

use d365_odata::model::{EdmType, EntityType, Model, NavigationProperty, Property};

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

fn system_columns(entity: &str) -> Vec<Property> {
    vec![
        Property::new(&format!("{entity}id"), EdmType::Guid).required(),
        Property::new("createdon", EdmType::DateTimeOffset).read_only(),
        Property::new("modifiedon", EdmType::DateTimeOffset).read_only(),
        Property::new("versionnumber", EdmType::Int64).read_only(),
    ]
}

fn account() -> EntityType {
    let mut properties = system_columns("account");
    properties.extend([
        Property::new("name", EdmType::String).max_length(160),
        Property::new("accountnumber", EdmType::String).max_length(20),
        Property::new("revenue", EdmType::Decimal).scale(4),
        Property::new("numberofemployees", EdmType::Int32),
        Property::new("telephone1", EdmType::String).max_length(50),
        Property::new("emailaddress1", EdmType::String).max_length(100),
        Property::new("websiteurl", EdmType::String).max_length(200),
        Property::new("address1_city", EdmType::String).max_length(80),
        Property::new("address1_country", EdmType::String).max_length(80),
        Property::new("industrycode", EdmType::Int32).options(INDUSTRY),
        Property::new("creditonhold", EdmType::Boolean),
        Property::new("statecode", EdmType::Int32).options(STATE),
        Property::new("statuscode", EdmType::Int32).options(ACCOUNT_STATUS),
        Property::new("_primarycontactid_value", EdmType::Guid).lookup(&["contact"]),
    ]);
    EntityType {
        name: "account".into(),
        entity_set: "accounts".into(),
        key: "accountid".into(),
        primary_name: Some("name".into()),
        properties,
        navigation: vec![
            NavigationProperty {
                name: "primarycontactid".into(),
                target: "contact".into(),
                collection: false,
                partner: Some("account_primary_contact".into()),
                foreign_key: "_primarycontactid_value".into(),
            },
            NavigationProperty {
                name: "contact_customer_accounts".into(),
                target: "contact".into(),
                collection: true,
                partner: Some("parentcustomerid_account".into()),
                foreign_key: "_parentcustomerid_value".into(),
            },
        ],
        alternate_keys: vec![vec!["accountnumber".into()]],
    }
}

fn contact() -> EntityType {
    let mut properties = system_columns("contact");
    properties.extend([
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
        Property::new("statuscode", EdmType::Int32).options(&[(1, "Active"), (2, "Inactive")]),
        Property::new("_parentcustomerid_value", EdmType::Guid).lookup(&["account", "contact"]),
    ]);
    EntityType {
        name: "contact".into(),
        entity_set: "contacts".into(),
        key: "contactid".into(),
        primary_name: Some("fullname".into()),
        properties,
        navigation: vec![
            NavigationProperty {
                name: "parentcustomerid_account".into(),
                target: "account".into(),
                collection: false,
                partner: Some("contact_customer_accounts".into()),
                foreign_key: "_parentcustomerid_value".into(),
            },
            NavigationProperty {
                name: "account_primary_contact".into(),
                target: "account".into(),
                collection: true,
                partner: Some("primarycontactid".into()),
                foreign_key: "_primarycontactid_value".into(),
            },
        ],
        alternate_keys: vec![],
    }
}

/// The emulated tables.
#[derive(Debug, Clone)]
pub struct DataverseModel {
    /// The EDM model.
    pub model: Model,
}

impl Default for DataverseModel {
    fn default() -> Self {
        Self {
            model: Model::new(vec![account(), contact()]),
        }
    }
}
