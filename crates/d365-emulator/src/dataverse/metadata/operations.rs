//! The functions and actions the emulator serves, and the complex types they take and
//! return, with Dataverse's names and signatures
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/functions>,
//! <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/actions>),
//! for `$metadata`. Enumerations Dataverse types as enum types (`LogicalOperator`,
//! `ConditionOperator`) are strings here, and the query types carry the members the emulator
//! reads.

use d365_odata::csdl::{ComplexType, Operation, Parameter, Services};

/// The service's complex types and operations. A parameter whose entity type the model
/// lacks (`opportunityclose` unless `--metadata` brings it) is typed `crmbaseentity`, so
/// every name the document uses is declared in it.
pub(crate) fn services(model: &d365_odata::model::Model) -> Services {
    let entity = |name: &str| match model.entity_type(name) {
        Some(_) => format!("mscrm.{name}"),
        None => "mscrm.crmbaseentity".to_owned(),
    };
    let c = ComplexType::new;
    let p = Parameter::new;
    let complex_types = vec![
        c(
            "WhoAmIResponse",
            &[
                ("BusinessUnitId", "Edm.Guid"),
                ("UserId", "Edm.Guid"),
                ("OrganizationId", "Edm.Guid"),
            ],
        ),
        c("RetrieveVersionResponse", &[("Version", "Edm.String")]),
        c(
            "EntityRecordCountCollection",
            &[
                ("Count", "Edm.Int32"),
                ("IsReadOnly", "Edm.Boolean"),
                ("Keys", "Collection(Edm.String)"),
                ("Values", "Collection(Edm.Int64)"),
            ],
        ),
        c(
            "RetrieveTotalRecordCountResponse",
            &[(
                "EntityRecordCountCollection",
                "mscrm.EntityRecordCountCollection",
            )],
        ),
        c("FormatAddressResponse", &[("Address", "Edm.String")]),
        c("BulkDeleteResponse", &[("JobId", "Edm.Guid")]),
        c("CreateMultipleResponse", &[("Ids", "Collection(Edm.Guid)")]),
        c(
            "ColumnSet",
            &[
                ("AllColumns", "Edm.Boolean"),
                ("Columns", "Collection(Edm.String)"),
            ],
        ),
        c(
            "ConditionExpression",
            &[
                ("AttributeName", "Edm.String"),
                ("Operator", "Edm.String"),
                ("Values", "Collection(mscrm.Object)"),
                ("EntityName", "Edm.String"),
            ],
        ),
        c("Object", &[("Type", "Edm.String"), ("Value", "Edm.String")]),
        c(
            "FilterExpression",
            &[
                ("FilterOperator", "Edm.String"),
                ("Conditions", "Collection(mscrm.ConditionExpression)"),
                ("Filters", "Collection(mscrm.FilterExpression)"),
            ],
        ),
        c(
            "LocalizedLabel",
            &[("Label", "Edm.String"), ("LanguageCode", "Edm.Int32")],
        ),
        c(
            "Label",
            &[
                ("LocalizedLabels", "Collection(mscrm.LocalizedLabel)"),
                ("UserLocalizedLabel", "mscrm.LocalizedLabel"),
            ],
        ),
        // An entity type of the metadata model in Dataverse's document; here the shape
        // CreateEntityKey takes.
        c(
            "EntityKeyMetadata",
            &[
                ("MetadataId", "Edm.Guid"),
                ("SchemaName", "Edm.String"),
                ("LogicalName", "Edm.String"),
                ("DisplayName", "mscrm.Label"),
                ("KeyAttributes", "Collection(Edm.String)"),
                ("EntityKeyIndexStatus", "Edm.String"),
                ("EntityLogicalName", "Edm.String"),
            ],
        ),
        c("CreateEntityKeyResponse", &[("EntityKeyId", "Edm.Guid")]),
        c(
            "QueryExpression",
            &[
                ("EntityName", "Edm.String"),
                ("ColumnSet", "mscrm.ColumnSet"),
                ("Criteria", "mscrm.FilterExpression"),
                ("Distinct", "Edm.Boolean"),
                ("NoLock", "Edm.Boolean"),
            ],
        ),
    ];
    let operations = vec![
        Operation::function("WhoAmI", vec![]).returns("mscrm.WhoAmIResponse"),
        Operation::function("RetrieveVersion", vec![]).returns("mscrm.RetrieveVersionResponse"),
        Operation::function(
            "RetrieveTotalRecordCount",
            vec![p("EntityNames", "Collection(Edm.String)")],
        )
        .returns("mscrm.RetrieveTotalRecordCountResponse"),
        Operation::function(
            "FormatAddress",
            vec![
                p("Line1", "Edm.String"),
                p("City", "Edm.String"),
                p("StateOrProvince", "Edm.String"),
                p("PostalCode", "Edm.String"),
                p("Country", "Edm.String"),
            ],
        )
        .returns("mscrm.FormatAddressResponse"),
        Operation::action(
            "WinOpportunity",
            vec![
                p("OpportunityClose", &entity("opportunityclose")),
                p("Status", "Edm.Int32"),
            ],
        ),
        Operation::action(
            "BulkDelete",
            vec![
                p("QuerySet", "Collection(mscrm.QueryExpression)"),
                p("JobName", "Edm.String"),
                p("SendEmailNotification", "Edm.Boolean"),
                p("ToRecipients", "Collection(Edm.Guid)"),
                p("CCRecipients", "Collection(Edm.Guid)"),
                p("RecurrencePattern", "Edm.String"),
                p("StartDateTime", "Edm.DateTimeOffset"),
                p("SourceImportId", "Edm.Guid").optional(),
                p("RunNow", "Edm.Boolean").optional(),
            ],
        )
        .returns("mscrm.BulkDeleteResponse"),
        Operation::action(
            "CreateEntityKey",
            vec![
                p("EntityName", "Edm.String"),
                p("EntityKey", "mscrm.EntityKeyMetadata"),
                p("SolutionUniqueName", "Edm.String").optional(),
            ],
        )
        .returns("mscrm.CreateEntityKeyResponse"),
        Operation::action(
            "ReactivateEntityKey",
            vec![
                p("EntityLogicalName", "Edm.String"),
                p("EntityKeyLogicalName", "Edm.String"),
            ],
        ),
        Operation::action(
            "QualifyLead",
            vec![
                p("CreateAccount", "Edm.Boolean"),
                p("CreateContact", "Edm.Boolean"),
                p("CreateOpportunity", "Edm.Boolean"),
                p("OpportunityCurrencyId", &entity("transactioncurrency")).optional(),
                p("OpportunityCustomerId", "mscrm.crmbaseentity").optional(),
                p("SourceCampaignId", "mscrm.crmbaseentity").optional(),
                p("Status", "Edm.Int32"),
                p("SuppressDuplicateDetection", "Edm.Boolean").optional(),
            ],
        )
        .bound(&entity("lead"))
        .returns("Collection(mscrm.crmbaseentity)"),
        Operation::action(
            "CreateMultiple",
            vec![p("Targets", "Collection(mscrm.crmbaseentity)")],
        )
        .bound("Collection(mscrm.crmbaseentity)")
        .returns("mscrm.CreateMultipleResponse"),
        Operation::action(
            "UpdateMultiple",
            vec![p("Targets", "Collection(mscrm.crmbaseentity)")],
        )
        .bound("Collection(mscrm.crmbaseentity)"),
        Operation::action(
            "UpsertMultiple",
            vec![p("Targets", "Collection(mscrm.crmbaseentity)")],
        )
        .bound("Collection(mscrm.crmbaseentity)"),
        Operation::action(
            "DeleteMultiple",
            vec![p("Targets", "Collection(mscrm.crmbaseentity)")],
        )
        .bound("Collection(mscrm.crmbaseentity)"),
    ];
    Services {
        complex_types,
        operations,
    }
}
