//! The built-in Dataverse tables, with their real logical names, entity sets, keys, types,
//! lookups and navigation properties: account, contact, lead, opportunity, task, annotation
//! (user-owned), and systemuser, team, businessunit, organization. Custom tables from a real
//! org's `$metadata` (`d365 emulator --metadata org.xml`) join them through the same
//! `d365_odata::Model`.

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

/// Lookups the server sets on owned tables: `createdby`, `modifiedby`, `owningbusinessunit`.
/// A body that binds them is ignored for these, as Dataverse ignores `createdon`.
pub const SERVER_LOOKUPS: [&str; 3] = [
    "_createdby_value",
    "_modifiedby_value",
    "_owningbusinessunit_value",
];

fn single(name: &str, target: &str, fk: &str, partner: &str) -> NavigationProperty {
    NavigationProperty {
        name: name.into(),
        target: target.into(),
        collection: false,
        partner: Some(partner.into()),
        foreign_key: fk.into(),
    }
}

fn many(name: &str, target: &str, fk: &str, partner: &str) -> NavigationProperty {
    NavigationProperty {
        collection: true,
        ..single(name, target, fk, partner)
    }
}

/// A table: key `{key}`, the version and date columns, and `columns`.
fn table(
    name: &str,
    set: &str,
    key: &str,
    primary_name: &str,
    columns: Vec<Property>,
    navigation: Vec<NavigationProperty>,
) -> EntityType {
    let mut properties = vec![
        Property::new(key, EdmType::Guid).required(),
        Property::new("createdon", EdmType::DateTimeOffset).read_only(),
        Property::new("modifiedon", EdmType::DateTimeOffset).read_only(),
        Property::new("versionnumber", EdmType::Int64).read_only(),
    ];
    properties.extend(columns);
    EntityType {
        name: name.into(),
        entity_set: set.into(),
        key: key.into(),
        primary_name: Some(primary_name.into()),
        properties,
        navigation,
        alternate_keys: vec![],
    }
}

/// A user-owned table: [`table`] plus the owner, creator, modifier and business unit, whose
/// reverse navigation properties on systemuser are named after `base` (`lk_accountbase_createdby`).
fn owned(
    name: &str,
    set: &str,
    key: &str,
    primary_name: &str,
    mut columns: Vec<Property>,
    mut navigation: Vec<NavigationProperty>,
) -> EntityType {
    columns.extend([
        Property::new("_createdby_value", EdmType::Guid).lookup(&["systemuser"]),
        Property::new("_modifiedby_value", EdmType::Guid).lookup(&["systemuser"]),
        Property::new("_ownerid_value", EdmType::Guid).lookup(&["systemuser", "team"]),
        Property::new("_owningbusinessunit_value", EdmType::Guid).lookup(&["businessunit"]),
    ]);
    navigation.extend([
        single(
            "createdby",
            "systemuser",
            "_createdby_value",
            &format!("lk_{name}base_createdby"),
        ),
        single(
            "modifiedby",
            "systemuser",
            "_modifiedby_value",
            &format!("lk_{name}base_modifiedby"),
        ),
        single(
            "ownerid",
            "systemuser",
            "_ownerid_value",
            &format!("user_{name}"),
        ),
        single(
            "owningbusinessunit",
            "businessunit",
            "_owningbusinessunit_value",
            &format!("business_unit_{name}s"),
        ),
    ]);
    table(name, set, key, primary_name, columns, navigation)
}

fn account() -> EntityType {
    let mut e = owned(
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
    );
    e.alternate_keys = vec![vec!["accountnumber".into()]];
    e
}

fn contact() -> EntityType {
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

fn lead() -> EntityType {
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

fn opportunity() -> EntityType {
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
        ],
        vec![
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

fn task() -> EntityType {
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

fn annotation() -> EntityType {
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

fn systemuser() -> EntityType {
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

fn team() -> EntityType {
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

fn businessunit() -> EntityType {
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

fn organization() -> EntityType {
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

fn transactioncurrency() -> EntityType {
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

/// Money columns (decimals with four places) come with the record's currency, as in
/// Dataverse: `_transactioncurrencyid_value` and the `transactioncurrencyid` navigation.
fn with_currency(mut e: EntityType) -> EntityType {
    let money = e
        .properties
        .iter()
        .any(|p| p.edm_type == EdmType::Decimal && p.scale == Some(4));
    if money {
        e.properties.push(
            Property::new("_transactioncurrencyid_value", EdmType::Guid)
                .lookup(&["transactioncurrency"]),
        );
        e.navigation.push(single(
            "transactioncurrencyid",
            "transactioncurrency",
            "_transactioncurrencyid_value",
            &format!("TransactionCurrency_{}", e.name),
        ));
    }
    e
}

/// The built-in tables.
pub fn builtin_tables() -> Vec<EntityType> {
    let tables = vec![
        account(),
        contact(),
        lead(),
        opportunity(),
        task(),
        annotation(),
        systemuser(),
        team(),
        businessunit(),
        organization(),
        transactioncurrency(),
    ];
    tables.into_iter().map(with_currency).collect()
}

/// The emulated tables.
#[derive(Debug, Clone)]
pub struct DataverseModel {
    /// The EDM model.
    pub model: Model,
}

impl DataverseModel {
    /// The built-in tables together with the tables of a real org's `$metadata`: a table in
    /// the file replaces the built-in of the same name (the org is the truth) but keeps the
    /// built-in's choice labels, which CSDL does not carry. Navigation properties to tables
    /// in neither are dropped, so `$expand` never meets a table it cannot read.
    ///
    /// Every name must be an OData simple identifier (`[A-Za-z_][A-Za-z0-9_]*`), as Dataverse's
    /// are: names become SQL identifiers.
    pub fn with_metadata(custom: &Model) -> Result<Self, crate::error::StartError> {
        let simple = |n: &str| {
            let mut chars = n.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for t in custom.entity_types() {
            let names = [t.name.as_str(), t.entity_set.as_str(), t.key.as_str()]
                .into_iter()
                .chain(t.properties.iter().map(|p| p.name.as_str()))
                .chain(t.navigation.iter().map(|n| n.name.as_str()))
                .chain(
                    t.navigation
                        .iter()
                        .map(|n| n.foreign_key.as_str())
                        .filter(|k| !k.is_empty()),
                )
                .chain(t.navigation.iter().map(|n| n.target.as_str()));
            for n in names {
                if !simple(n) {
                    return Err(crate::error::StartError::Config(format!(
                        "metadata: '{n}' (in '{}') is not a simple identifier",
                        t.name
                    )));
                }
            }
        }
        let builtin = builtin_tables();
        let mut tables: Vec<EntityType> = builtin
            .iter()
            .filter(|b| custom.entity_type(&b.name).is_none())
            .cloned()
            .collect();
        for t in custom.entity_types() {
            let mut t = t.clone();
            if let Some(b) = builtin.iter().find(|b| b.name == t.name) {
                for p in &mut t.properties {
                    if p.option_set.is_none()
                        && let Some(bp) = b.property(&p.name)
                    {
                        p.option_set = bp.option_set.clone();
                    }
                }
            }
            tables.push(t);
        }
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        for t in &mut tables {
            t.navigation.retain(|n| names.contains(&n.target));
        }
        Ok(Self {
            model: Model::new(tables),
        })
    }

    /// [`with_metadata`](Self::with_metadata) from a CSDL file.
    pub fn from_metadata_file(path: &std::path::Path) -> Result<Self, crate::error::StartError> {
        let file = std::fs::File::open(path).map_err(|source| crate::error::StartError::Io {
            what: format!("reading metadata {}", path.display()),
            source,
        })?;
        let custom =
            d365_odata::csdl::read_csdl_from(std::io::BufReader::new(file)).map_err(|e| {
                crate::error::StartError::Config(format!("metadata {}: {e}", path.display()))
            })?;
        Self::with_metadata(&custom)
    }
}

impl Default for DataverseModel {
    fn default() -> Self {
        Self {
            model: Model::new(builtin_tables()),
        }
    }
}
