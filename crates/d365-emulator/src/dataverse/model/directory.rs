//! The directory and reference tables: systemuser, team, businessunit, organization and
//! transactioncurrency.

use d365_odata::model::{EdmType, EntityType, Property};

use super::{many, single, table};

pub(super) fn systemuser() -> EntityType {
    table(
        "systemuser",
        "systemusers",
        "systemuserid",
        "fullname",
        vec![
            Property::new("fullname", EdmType::String).max_length(200),
            Property::new("firstname", EdmType::String).max_length(64),
            Property::new("lastname", EdmType::String).max_length(64),
            Property::new("domainname", EdmType::String).max_length(1024),
            Property::new("internalemailaddress", EdmType::String).max_length(100),
            Property::new("azureactivedirectoryobjectid", EdmType::Guid),
            Property::new("applicationid", EdmType::Guid),
            Property::new("isdisabled", EdmType::Boolean),
            Property::new("accessmode", EdmType::Int32).options(&[
                (0, "Read-Write"),
                (1, "Administrative"),
                (2, "Read"),
                (3, "Support User"),
                (4, "Non-interactive"),
                (5, "Delegated Admin"),
            ]),
            Property::new("_businessunitid_value", EdmType::Guid).lookup(&["businessunit"]),
        ],
        vec![
            single(
                "businessunitid",
                "businessunit",
                "_businessunitid_value",
                "business_unit_system_users",
            ),
            many(
                "lk_accountbase_createdby",
                "account",
                "_createdby_value",
                "createdby",
            ),
            many(
                "lk_contactbase_createdby",
                "contact",
                "_createdby_value",
                "createdby",
            ),
            many("user_accounts", "account", "_ownerid_value", "ownerid"),
            many("user_task", "task", "_ownerid_value", "ownerid"),
        ],
    )
}

pub(super) fn team() -> EntityType {
    table(
        "team",
        "teams",
        "teamid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(160),
            Property::new("isdefault", EdmType::Boolean),
            Property::new("teamtype", EdmType::Int32).options(&[
                (0, "Owner"),
                (1, "Access"),
                (2, "Security Group"),
                (3, "Office Group"),
            ]),
            Property::new("azureactivedirectoryobjectid", EdmType::Guid),
            Property::new("_businessunitid_value", EdmType::Guid).lookup(&["businessunit"]),
        ],
        vec![single(
            "businessunitid",
            "businessunit",
            "_businessunitid_value",
            "business_unit_teams",
        )],
    )
}

pub(super) fn businessunit() -> EntityType {
    table(
        "businessunit",
        "businessunits",
        "businessunitid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(160),
            Property::new("isdisabled", EdmType::Boolean),
            Property::new("_parentbusinessunitid_value", EdmType::Guid).lookup(&["businessunit"]),
        ],
        vec![
            single(
                "parentbusinessunitid",
                "businessunit",
                "_parentbusinessunitid_value",
                "business_unit_parent_business_unit",
            ),
            many(
                "business_unit_system_users",
                "systemuser",
                "_businessunitid_value",
                "businessunitid",
            ),
            many(
                "business_unit_teams",
                "team",
                "_businessunitid_value",
                "businessunitid",
            ),
        ],
    )
}

pub(super) fn organization() -> EntityType {
    table(
        "organization",
        "organizations",
        "organizationid",
        "name",
        vec![
            Property::new("name", EdmType::String).max_length(160),
            Property::new("languagecode", EdmType::Int32),
            Property::new("localeid", EdmType::Int32),
            Property::new("currencysymbol", EdmType::String).max_length(13),
            Property::new("pricingdecimalprecision", EdmType::Int32),
        ],
        vec![],
    )
}

pub(super) fn transactioncurrency() -> EntityType {
    table(
        "transactioncurrency",
        "transactioncurrencies",
        "transactioncurrencyid",
        "currencyname",
        vec![
            Property::new("currencyname", EdmType::String).max_length(100),
            Property::new("isocurrencycode", EdmType::String).max_length(5),
            Property::new("currencysymbol", EdmType::String).max_length(13),
            Property::new("currencyprecision", EdmType::Int32),
            Property::new("exchangerate", EdmType::Decimal).scale(10),
        ],
        vec![],
    )
}
