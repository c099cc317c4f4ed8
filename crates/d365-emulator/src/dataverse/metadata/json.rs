//! Tables and columns as `EntityMetadata` and `AttributeMetadata` JSON
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/entitymetadata>,
//! <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/attributemetadata>).
//! Every documented property is there; the ones the emulator has no notion of (icons,
//! help URLs, …) are `null`, so a `$select` of any documented name answers.

use d365_odata::model::{EntityType, Property};
use serde_json::{Map, Value, json};

use super::query::Shape;
pub(crate) use crate::dataverse::model::names::{attribute_type, metadata_id};

/// A label in the org's one language (1033).
pub(crate) fn label(text: &str) -> Value {
    let l = json!({"Label": text, "LanguageCode": 1033, "IsManaged": true});
    json!({"LocalizedLabels": [l.clone()], "UserLocalizedLabel": l})
}

fn managed(value: bool, name: &str) -> Value {
    json!({"Value": value, "CanBeChanged": true, "ManagedPropertyLogicalName": name})
}

/// The properties of `EntityMetadata` (its navigation properties `Attributes`, `Keys`, … are
/// `$expand`ed, not selected).
pub(crate) const ENTITY: Shape = Shape {
    type_name: "EntityMetadata",
    properties: &[
        "ActivityTypeMask",
        "AutoCreateAccessTeams",
        "AutoRouteToOwnerQueue",
        "CanBeInCustomEntityAssociation",
        "CanBeInManyToMany",
        "CanBePrimaryEntityInRelationship",
        "CanBeRelatedEntityInRelationship",
        "CanChangeHierarchicalRelationship",
        "CanChangeTrackingBeEnabled",
        "CanCreateAttributes",
        "CanCreateCharts",
        "CanCreateForms",
        "CanCreateViews",
        "CanEnableSyncToExternalSearchIndex",
        "CanModifyAdditionalSettings",
        "CanTriggerWorkflow",
        "ChangeTrackingEnabled",
        "ClusterMode",
        "CollectionSchemaName",
        "CreatedOn",
        "DataProviderId",
        "DataSourceId",
        "DaysSinceRecordLastModified",
        "Description",
        "DisplayCollectionName",
        "DisplayName",
        "EnforceStateTransitions",
        "EntityColor",
        "EntityHelpUrl",
        "EntityHelpUrlEnabled",
        "EntitySetName",
        "ExternalCollectionName",
        "ExternalName",
        "HasActivities",
        "HasChanged",
        "HasEmailAddresses",
        "HasFeedback",
        "HasNotes",
        "IconLargeName",
        "IconMediumName",
        "IconSmallName",
        "IconVectorName",
        "IntroducedVersion",
        "IsActivity",
        "IsActivityParty",
        "IsAIRUpdated",
        "IsArchivalEnabled",
        "IsAuditEnabled",
        "IsAvailableOffline",
        "IsBPFEntity",
        "IsBusinessProcessEnabled",
        "IsChildEntity",
        "IsConnectionsEnabled",
        "IsCustomEntity",
        "IsCustomizable",
        "IsDocumentManagementEnabled",
        "IsDocumentRecommendationsEnabled",
        "IsDuplicateDetectionEnabled",
        "IsEnabledForCharts",
        "IsEnabledForExternalChannels",
        "IsEnabledForTrace",
        "IsImportable",
        "IsInteractionCentricEnabled",
        "IsIntersect",
        "IsKnowledgeManagementEnabled",
        "IsLogicalEntity",
        "IsMailMergeEnabled",
        "IsManaged",
        "IsMappable",
        "IsMSTeamsIntegrationEnabled",
        "IsOfflineInMobileClient",
        "IsOneNoteIntegrationEnabled",
        "IsOptimisticConcurrencyEnabled",
        "IsPrivate",
        "IsQuickCreateEnabled",
        "IsReadingPaneEnabled",
        "IsReadOnlyInMobileClient",
        "IsRenameable",
        "IsRetainEnabled",
        "IsRetentionEnabled",
        "IsSLAEnabled",
        "IsSolutionAware",
        "IsStateModelAware",
        "IsValidForAdvancedFind",
        "IsValidForQueue",
        "IsVisibleInMobile",
        "IsVisibleInMobileClient",
        "LogicalCollectionName",
        "LogicalName",
        "MetadataId",
        "MobileOfflineFilters",
        "ModifiedOn",
        "ObjectTypeCode",
        "OwnerId",
        "OwnerIdType",
        "OwningBusinessUnit",
        "OwnershipType",
        "PrimaryIdAttribute",
        "PrimaryImageAttribute",
        "PrimaryNameAttribute",
        "Privileges",
        "RecurrenceBaseEntityLogicalName",
        "ReportViewName",
        "SchemaName",
        "Settings",
        "SyncToExternalSearchIndex",
        "TableType",
        "UsesBusinessDataLabelTable",
    ],
};

/// The properties of `AttributeMetadata` and of the subtypes the emulator serves (`MaxLength`
/// of strings, `Targets` of lookups, `OptionSet` of choices, …).
pub(crate) const ATTRIBUTE: Shape = Shape {
    type_name: "AttributeMetadata",
    properties: &[
        "AttributeOf",
        "AttributeType",
        "AttributeTypeName",
        "AutoNumberFormat",
        "CanBeSecuredForCreate",
        "CanBeSecuredForRead",
        "CanBeSecuredForUpdate",
        "CanModifyAdditionalSettings",
        "ColumnNumber",
        "CreatedOn",
        "DeprecatedVersion",
        "Description",
        "DisplayName",
        "EntityLogicalName",
        "ExternalName",
        "HasChanged",
        "InheritsFrom",
        "IntroducedVersion",
        "IsAuditEnabled",
        "IsCustomAttribute",
        "IsCustomizable",
        "IsDataSourceSecret",
        "IsFilterable",
        "IsGlobalFilterEnabled",
        "IsLogical",
        "IsManaged",
        "IsPrimaryId",
        "IsPrimaryName",
        "IsRenameable",
        "IsRequiredForForm",
        "IsRetrievable",
        "IsSearchable",
        "IsSecured",
        "IsSortableEnabled",
        "IsValidForAdvancedFind",
        "IsValidForCreate",
        "IsValidForForm",
        "IsValidForGrid",
        "IsValidForRead",
        "IsValidForUpdate",
        "IsValidODataAttribute",
        "LinkedAttributeId",
        "LogicalName",
        "MetadataId",
        "ModifiedOn",
        "RequiredLevel",
        "SchemaName",
        "Settings",
        "SourceType",
        "SourceTypeMask",
        // Subtypes.
        "MaxLength",
        "Format",
        "Precision",
        "MinValue",
        "MaxValue",
        "Targets",
        "OptionSet",
        "GlobalOptionSet",
        "DefaultFormValue",
    ],
};

/// Fills the documented properties an item lacks with `null`.
fn complete(mut m: Map<String, Value>, shape: &Shape) -> Map<String, Value> {
    for name in shape.properties {
        if !m.contains_key(*name) {
            m.insert((*name).to_owned(), Value::Null);
        }
    }
    m
}

/// One table as `EntityMetadata`.
pub(crate) fn entity_json(e: &EntityType, elastic: bool) -> Map<String, Value> {
    let schema = format!("{}{}", e.name[..1].to_uppercase(), &e.name[1..]);
    let custom = e.name.contains('_');
    let activity = e.name == "task";
    let Value::Object(m) = json!({
        "MetadataId": metadata_id(&e.name),
        "LogicalName": e.name,
        "SchemaName": schema,
        "EntitySetName": e.entity_set,
        "LogicalCollectionName": e.entity_set,
        "CollectionSchemaName": format!("{schema}s"),
        "PrimaryIdAttribute": e.key,
        "PrimaryNameAttribute": e.primary_name,
        "IsPrivate": false,
        "IsCustomEntity": custom,
        "IsManaged": !custom,
        "IsActivity": activity,
        "IsActivityParty": matches!(e.name.as_str(), "account" | "contact" | "lead" | "systemuser"),
        "IsIntersect": false,
        "IsLogicalEntity": false,
        "IsValidForAdvancedFind": true,
        "IsStateModelAware": e.property("statecode").is_some(),
        "IsBPFEntity": false,
        // Every table of the emulator keeps a row version and honours If-Match.
        "IsOptimisticConcurrencyEnabled": true,
        "IsCustomizable": managed(true, "iscustomizable"),
        "IsAuditEnabled": managed(false, "canmodifyauditsettings"),
        "HasNotes": e.navigation.iter().any(|n| n.target == "annotation"),
        "HasActivities": e.navigation.iter().any(|n| n.target == "task"),
        "OwnershipType": match e.name.as_str() {
            _ if e.property("_ownerid_value").is_some() => "UserOwned",
            "organization" => "OrganizationOwned",
            _ => "BusinessOwned",
        },
        "ChangeTrackingEnabled": crate::dataverse::model::change_tracking_enabled(e),
        "TableType": if elastic { "Elastic" } else { "Standard" },
        "DisplayName": label(&schema),
        "DisplayCollectionName": label(&format!("{schema}s")),
        "Description": label(""),
        "IntroducedVersion": "1.0",
    }) else {
        unreachable!()
    };
    complete(m, &ENTITY)
}

/// One column as `AttributeMetadata` (with its subtype's properties).
pub(crate) fn attribute_json(e: &EntityType, p: &Property) -> Map<String, Value> {
    let mut m = Map::new();
    let kind = attribute_type(p);
    m.insert(
        "@odata.type".into(),
        json!(format!("#Microsoft.Dynamics.CRM.{kind}AttributeMetadata")),
    );
    m.insert(
        "MetadataId".into(),
        json!(metadata_id(&format!("{}.{}", e.name, p.name))),
    );
    // A lookup's attribute is `parentaccountid`; `_parentaccountid_value` is only its Web API
    // property name.
    let logical = match p
        .name
        .strip_prefix('_')
        .and_then(|n| n.strip_suffix("_value"))
    {
        Some(inner) if !p.lookup_targets.is_empty() => inner,
        _ => p.name.as_str(),
    };
    m.insert("LogicalName".into(), json!(logical));
    m.insert("SchemaName".into(), json!(logical));
    m.insert("EntityLogicalName".into(), json!(e.name));
    m.insert("AttributeType".into(), json!(kind));
    m.insert(
        "AttributeTypeName".into(),
        json!({"Value": format!("{kind}Type")}),
    );
    m.insert("IsPrimaryId".into(), json!(p.name == e.key));
    m.insert(
        "IsPrimaryName".into(),
        json!(e.primary_name.as_deref() == Some(p.name.as_str())),
    );
    m.insert(
        "IsCustomAttribute".into(),
        json!(p.name.contains('_') && p.lookup_targets.is_empty()),
    );
    m.insert("IsValidForRead".into(), json!(true));
    m.insert("IsValidODataAttribute".into(), json!(true));
    if let Some(max) = p.max_length {
        m.insert("MaxLength".into(), json!(max));
    }
    if let Some(scale) = p.scale {
        m.insert("Precision".into(), json!(scale));
    }
    let system = p.read_only || p.name == e.key;
    m.insert("IsValidForCreate".into(), json!(!p.read_only));
    m.insert("IsValidForUpdate".into(), json!(!system));
    let required = if p.nullable {
        "None"
    } else {
        "ApplicationRequired"
    };
    m.insert(
        "RequiredLevel".into(),
        json!({"Value": required, "CanBeChanged": !system, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}),
    );
    if !p.lookup_targets.is_empty() {
        m.insert("Targets".into(), json!(p.lookup_targets));
    }
    if let Some(options) = &p.option_set {
        let options: Vec<Value> = options
            .options
            .iter()
            .map(|(v, l)| json!({"Value": v, "Label": label(l)}))
            .collect();
        m.insert("OptionSet".into(), json!({"MetadataId": metadata_id(&format!("{}.{}.options", e.name, p.name)), "Name": format!("{}_{}", e.name, p.name), "Options": options}));
    }
    m
}
