//! Which operation a Web API request names: a pure function from the method and the URL to a
//! [`Route`], decided before any handler runs and testable without a server.
//!
//! The order of the checks is the service's: a path that does not parse is a 400, a name that
//! is neither a served message nor an entity set is a 404 (`Resource not found for the
//! segment`), a known set under an unsupported method is a 405. Below the record
//! (`accounts(<id>)/name`, `/$value`, `/$ref`, navigation) the record's own handler
//! (`resource.rs`) tells the shapes apart, since that needs the table's columns.

use axum::http::{Method, Uri};
use d365_odata::model::{EntityType, Model};
use d365_odata::{Arg, KeyPredicate, Literal, QueryOptions, Segment, parse_resource_path};

use crate::error::DataverseError;

use super::{batch, bulk, messages, metadata};

/// The namespace of Dataverse's messages (`Microsoft.Dynamics.CRM.WinOpportunity`).
const NS: &str = "Microsoft.Dynamics.CRM.";

/// One Web API operation, with what its handler needs from the URL.
#[derive(Debug)]
pub(crate) enum Route<'m> {
    /// `GET /` : the service document.
    ServiceDocument,
    /// `GET /$metadata`: the CSDL.
    Metadata,
    /// `/$batch`: the multipart body holds the requests.
    Batch,
    /// `/EntityDefinitions…`: table metadata (read and, for keys, write).
    EntityDefinitions {
        /// `EntityDefinitions(LogicalName='account')` or `(<id>)`.
        key: Option<KeyPredicate>,
        /// The segments after it (`Attributes`, `Keys(…)`, …).
        rest: Vec<Segment>,
    },
    /// `GET /accounts/$count`.
    Count(&'m EntityType),
    /// `GET /RetrieveVersion()`.
    RetrieveVersion,
    /// `GET /WhoAmI()`.
    WhoAmI,
    /// `GET /RetrieveTotalRecordCount(…)`, `FormatAddress(…)`: an unbound function.
    Function {
        /// As written (qualified or not).
        name: String,
        /// Literal arguments, when the parentheses hold only literals.
        key: Option<KeyPredicate>,
        /// Other arguments (aliases `@p1`, qualified names).
        args: Option<Vec<Arg>>,
    },
    /// `POST /WinOpportunity`, `BulkDelete`: an unbound action.
    Action(String),
    /// `POST /CreateEntityKey`, `ReactivateEntityKey`: the alternate-key actions.
    KeyAction(String),
    /// `POST /accounts/Microsoft.Dynamics.CRM.CreateMultiple` and the other bulk messages.
    Bulk {
        /// The table.
        entity: &'m EntityType,
        /// As written (qualified).
        message: String,
    },
    /// `POST /opportunities(<id>)/Microsoft.Dynamics.CRM.<Action>`: an action bound to a record.
    BoundAction {
        /// The entity set as written.
        set: String,
        /// The record.
        id: uuid::Uuid,
        /// As written (qualified).
        action: String,
    },
    /// `GET /accounts?fetchXml=…`.
    FetchXml(&'m EntityType, String),
    /// `GET /accounts?$apply=…`.
    Apply(&'m EntityType, Box<QueryOptions>),
    /// `GET /accounts?sql=…`: the TDS endpoint's SQL over the Web API (emulator extension).
    Sql(&'m EntityType, String),
    /// `GET /accounts?$select=…`: an OData query.
    Query(&'m EntityType),
    /// `POST /accounts`: create.
    Create(&'m EntityType),
    /// `/accounts(<key>)` and below: read, update, upsert, delete, a property, `$value`,
    /// `$ref`, a navigation property.
    Record {
        /// The table.
        entity: &'m EntityType,
        /// The key as written (id or alternate key).
        key: KeyPredicate,
        /// The segments after the record.
        rest: Vec<Segment>,
    },
}

/// The resource path of a Web API URL: the raw (still percent-encoded) text after
/// `/api/data/<version>/`, empty for the service root.
pub(crate) fn resource_path(uri: &Uri) -> &str {
    uri.path()
        .strip_prefix("/api/data/")
        .and_then(|rest| rest.split_once('/'))
        .map_or("", |(_, p)| p)
}

/// The operation `method` on `uri` names in `model`, or the error Dataverse answers it with.
pub(crate) fn parse<'m>(
    method: &Method,
    uri: &Uri,
    model: &'m Model,
) -> Result<Route<'m>, DataverseError> {
    if batch::is_batch(uri.path()) {
        return Ok(Route::Batch);
    }
    let path = resource_path(uri);
    let parsed = parse_resource_path(path)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    let query = uri.query().unwrap_or_default();
    let no_resource = || DataverseError::no_resource(&uri.to_string());
    let entity_set = |name: &str| {
        model
            .by_entity_set(name)
            .ok_or_else(|| DataverseError::segment_not_found(name))
    };
    let no_args = |args: &Option<Vec<Arg>>| args.as_ref().is_none_or(|a| a.is_empty());
    let route = match (parsed.segments.as_slice(), method) {
        ([], &Method::GET) => Route::ServiceDocument,
        ([Segment::Metadata], &Method::GET) => Route::Metadata,
        ([Segment::Named { name, key, .. }, rest @ ..], _) if name == "EntityDefinitions" => {
            Route::EntityDefinitions {
                key: key.clone(),
                rest: rest.to_vec(),
            }
        }
        (
            [
                Segment::Named {
                    name,
                    key: None,
                    call_args: None,
                },
                Segment::Count,
            ],
            &Method::GET,
        ) => Route::Count(entity_set(name)?),
        (
            [
                Segment::Named {
                    name,
                    key: None,
                    call_args,
                },
            ],
            &Method::GET,
        ) if name == "RetrieveVersion" && no_args(call_args) => Route::RetrieveVersion,
        (
            [
                Segment::Named {
                    name,
                    key,
                    call_args,
                },
            ],
            &Method::GET,
        ) if messages::FUNCTIONS.contains(&name.trim_start_matches(NS)) => Route::Function {
            name: name.clone(),
            key: key.clone(),
            args: call_args.clone(),
        },
        (
            [
                Segment::Named {
                    name,
                    key: None,
                    call_args: None,
                },
            ],
            &Method::POST,
        ) if messages::is_unbound(name) => Route::Action(name.clone()),
        (
            [
                Segment::Named {
                    name,
                    key: None,
                    call_args: None,
                },
            ],
            &Method::POST,
        ) if metadata::keys::ACTIONS.contains(&name.trim_start_matches(NS)) => {
            Route::KeyAction(name.clone())
        }
        (
            [
                Segment::Named {
                    name: set,
                    key: None,
                    call_args: None,
                },
                Segment::Named {
                    name: message,
                    key: None,
                    call_args,
                },
            ],
            &Method::POST,
        ) if bulk::is_bulk(message) && no_args(call_args) => Route::Bulk {
            entity: entity_set(set)?,
            message: message.clone(),
        },
        (
            [
                Segment::Named {
                    name: set,
                    key: Some(key),
                    call_args: None,
                },
                Segment::Named {
                    name: action,
                    key: None,
                    call_args,
                },
            ],
            &Method::POST,
        ) if action.starts_with(NS) && no_args(call_args) => {
            entity_set(set)?;
            let KeyPredicate::Single(Literal::Guid(id)) = key else {
                return Err(DataverseError::bad_query(
                    "Bound actions take the record by its id: set(<guid>)/Microsoft.Dynamics.CRM.Action.",
                ));
            };
            Route::BoundAction {
                set: set.clone(),
                id: *id,
                action: action.clone(),
            }
        }
        (
            [
                Segment::Named {
                    name,
                    key: None,
                    call_args,
                },
            ],
            m,
        ) if name == "WhoAmI" => {
            if m != Method::GET || !no_args(call_args) {
                return Err(no_resource());
            }
            Route::WhoAmI
        }
        (
            [
                Segment::Named {
                    name,
                    key,
                    call_args: None,
                },
            ],
            m,
        ) => {
            let entity = entity_set(name)?;
            match (key, m) {
                (None, &Method::GET) => collection_read(entity, query)?,
                (None, &Method::POST) => Route::Create(entity),
                (Some(key), _) => Route::Record {
                    entity,
                    key: key.clone(),
                    rest: Vec::new(),
                },
                _ => {
                    return Err(DataverseError::method_not_allowed(
                        m.as_str(),
                        &uri.to_string(),
                    ));
                }
            }
        }
        (
            [
                Segment::Named {
                    name,
                    key: Some(key),
                    call_args: None,
                },
                rest @ ..,
            ],
            _,
        ) => Route::Record {
            entity: entity_set(name)?,
            key: key.clone(),
            rest: rest.to_vec(),
        },
        ([Segment::Named { name, .. }, ..], _) => {
            entity_set(name)?;
            return Err(no_resource());
        }
        _ => return Err(no_resource()),
    };
    Ok(route)
}

/// `GET` on an entity set: FetchXML, `$apply`, SQL or an OData query, by the query options.
fn collection_read<'m>(entity: &'m EntityType, query: &str) -> Result<Route<'m>, DataverseError> {
    let options = QueryOptions::parse(query)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    if let Some(xml) = options.fetch_xml {
        return Ok(Route::FetchXml(entity, xml));
    }
    if options.apply.is_some() {
        return Ok(Route::Apply(entity, Box::new(options)));
    }
    if let Some((_, text)) = options.custom.into_iter().find(|(k, _)| k == "sql") {
        return Ok(Route::Sql(entity, text));
    }
    Ok(Route::Query(entity))
}

use super::response::first_line;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataverse::model::DataverseModel;

    /// A route as a short string, for the table below.
    fn label(route: &Route<'_>) -> String {
        match route {
            Route::ServiceDocument => "service document".into(),
            Route::Metadata => "metadata".into(),
            Route::Batch => "batch".into(),
            Route::EntityDefinitions { key, rest } => {
                format!(
                    "entity definitions key={} rest={}",
                    key.is_some(),
                    rest.len()
                )
            }
            Route::Count(e) => format!("count {}", e.name),
            Route::RetrieveVersion => "retrieve version".into(),
            Route::WhoAmI => "who am i".into(),
            Route::Function { name, key, args } => {
                format!(
                    "function {name} key={} args={}",
                    key.is_some(),
                    args.is_some()
                )
            }
            Route::Action(name) => format!("action {name}"),
            Route::KeyAction(name) => format!("key action {name}"),
            Route::Bulk { entity, message } => format!("bulk {} {message}", entity.name),
            Route::BoundAction { set, id, action } => format!("bound {set} {id} {action}"),
            Route::FetchXml(e, xml) => format!("fetchxml {} {xml}", e.name),
            Route::Apply(e, o) => format!("apply {} {}", e.name, o.apply.as_deref().unwrap_or("")),
            Route::Sql(e, sql) => format!("sql {} {sql}", e.name),
            Route::Query(e) => format!("query {}", e.name),
            Route::Create(e) => format!("create {}", e.name),
            Route::Record { entity, key, rest } => {
                let key = match key {
                    KeyPredicate::Single(_) => "id",
                    KeyPredicate::Named(_) => "alternate",
                };
                format!("record {} {key} rest={}", entity.name, rest.len())
            }
        }
    }

    const API: &str = "/api/data/v9.2/";
    const ID: &str = "00000000-0000-0000-0000-000000000001";

    fn route(method: Method, path: &str) -> Result<String, DataverseError> {
        let model = DataverseModel::default().model;
        let uri: Uri = format!("{API}{path}").parse().expect("uri");
        parse(&method, &uri, &model).map(|r| label(&r))
    }

    #[test]
    fn operations_by_method_and_path() {
        let get = Method::GET;
        let post = Method::POST;
        let cases: Vec<(Method, String, &str)> = vec![
            (get.clone(), String::new(), "service document"),
            (get.clone(), "$metadata".into(), "metadata"),
            (post.clone(), "$batch".into(), "batch"),
            (get.clone(), "$batch".into(), "batch"),
            (
                get.clone(),
                "EntityDefinitions".into(),
                "entity definitions key=false rest=0",
            ),
            (
                get.clone(),
                "EntityDefinitions(LogicalName='account')/Attributes".into(),
                "entity definitions key=true rest=1",
            ),
            (
                Method::PUT,
                "EntityDefinitions(LogicalName='account')".into(),
                "entity definitions key=true rest=0",
            ),
            (get.clone(), "accounts/$count".into(), "count account"),
            (get.clone(), "RetrieveVersion()".into(), "retrieve version"),
            (get.clone(), "RetrieveVersion".into(), "retrieve version"),
            (get.clone(), "WhoAmI()".into(), "who am i"),
            (get.clone(), "WhoAmI".into(), "who am i"),
            (
                get.clone(),
                "RetrieveTotalRecordCount(EntityNames=@p1)".into(),
                "function RetrieveTotalRecordCount key=false args=true",
            ),
            (
                get.clone(),
                "Microsoft.Dynamics.CRM.FormatAddress(Line1='a',City='b')".into(),
                "function Microsoft.Dynamics.CRM.FormatAddress key=false args=true",
            ),
            (
                get.clone(),
                "FormatAddress(Line1='a')".into(),
                "function FormatAddress key=true args=false",
            ),
            (
                post.clone(),
                "WinOpportunity".into(),
                "action WinOpportunity",
            ),
            (
                post.clone(),
                "Microsoft.Dynamics.CRM.BulkDelete".into(),
                "action Microsoft.Dynamics.CRM.BulkDelete",
            ),
            (
                post.clone(),
                "CreateEntityKey".into(),
                "key action CreateEntityKey",
            ),
            (
                post.clone(),
                "accounts/Microsoft.Dynamics.CRM.CreateMultiple".into(),
                "bulk account Microsoft.Dynamics.CRM.CreateMultiple",
            ),
            (
                post.clone(),
                format!("opportunities({ID})/Microsoft.Dynamics.CRM.Reopen"),
                "bound opportunities 00000000-0000-0000-0000-000000000001 Microsoft.Dynamics.CRM.Reopen",
            ),
            (
                get.clone(),
                "accounts?$select=name&$top=2".into(),
                "query account",
            ),
            (
                get.clone(),
                "accounts?fetchXml=%3Cfetch%2F%3E".into(),
                "fetchxml account <fetch/>",
            ),
            (
                get.clone(),
                "accounts?$apply=aggregate($count%20as%20n)".into(),
                "apply account aggregate($count as n)",
            ),
            (
                get.clone(),
                "accounts?sql=SELECT%20name%20FROM%20account".into(),
                "sql account SELECT name FROM account",
            ),
            (post.clone(), "accounts".into(), "create account"),
            (
                get.clone(),
                format!("accounts({ID})"),
                "record account id rest=0",
            ),
            (
                Method::PATCH,
                format!("accounts({ID})"),
                "record account id rest=0",
            ),
            (
                Method::DELETE,
                format!("accounts({ID})"),
                "record account id rest=0",
            ),
            (
                get.clone(),
                "accounts(accountnumber='A1')".into(),
                "record account alternate rest=0",
            ),
            (
                get.clone(),
                format!("accounts({ID})/name"),
                "record account id rest=1",
            ),
            (
                get.clone(),
                format!("accounts({ID})/name/$value"),
                "record account id rest=2",
            ),
            (
                Method::PUT,
                format!("accounts({ID})/primarycontactid/$ref"),
                "record account id rest=2",
            ),
            (
                get.clone(),
                format!("accounts({ID})/contact_customer_accounts"),
                "record account id rest=1",
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                route(method.clone(), &path).as_deref(),
                Ok(expected),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn errors_in_the_order_the_service_checks() {
        let uri = |path: &str| format!("{API}{path}");
        let cases: Vec<(Method, String, DataverseError)> = vec![
            (
                Method::GET,
                "Nope".into(),
                DataverseError::segment_not_found("Nope"),
            ),
            (
                Method::GET,
                "Nope/$count".into(),
                DataverseError::segment_not_found("Nope"),
            ),
            // The set is looked up before the query options are read.
            (
                Method::GET,
                "Nope?$top=x".into(),
                DataverseError::segment_not_found("Nope"),
            ),
            (
                Method::POST,
                "Nope/Microsoft.Dynamics.CRM.CreateMultiple".into(),
                DataverseError::segment_not_found("Nope"),
            ),
            (
                Method::POST,
                "Nope(accountnumber='1')/Microsoft.Dynamics.CRM.Reopen".into(),
                DataverseError::segment_not_found("Nope"),
            ),
            (
                Method::POST,
                "opportunities(name='x')/Microsoft.Dynamics.CRM.Reopen".into(),
                DataverseError::bad_query(
                    "Bound actions take the record by its id: set(<guid>)/Microsoft.Dynamics.CRM.Action.",
                ),
            ),
            (
                Method::POST,
                "WhoAmI".into(),
                DataverseError::no_resource(&uri("WhoAmI")),
            ),
            (
                Method::GET,
                "WhoAmI(x=@p1)".into(),
                DataverseError::no_resource(&uri("WhoAmI(x=@p1)")),
            ),
            // Literal arguments read as a key: a set of that name is looked for.
            (
                Method::GET,
                "WhoAmI(x=1)".into(),
                DataverseError::segment_not_found("WhoAmI"),
            ),
            (
                Method::PUT,
                "accounts".into(),
                DataverseError::method_not_allowed("PUT", &uri("accounts")),
            ),
            (
                Method::POST,
                "$metadata".into(),
                DataverseError::no_resource(&uri("$metadata")),
            ),
            (
                Method::DELETE,
                String::new(),
                DataverseError::no_resource(&uri("")),
            ),
            (
                Method::GET,
                "accounts()".into(),
                DataverseError::no_resource(&uri("accounts()")),
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                route(method.clone(), &path),
                Err(expected),
                "{method} {path}"
            );
        }
        // A path or query that does not parse is a 400 with the parser's first line.
        for path in ["accounts(", "accounts?$top=x"] {
            let e = route(Method::GET, path).expect_err(path);
            assert_eq!(e.code, DataverseError::bad_query("").code, "{path}");
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{path}");
            assert!(!e.message.contains('\n'), "{path}: {}", e.message);
        }
    }
}
