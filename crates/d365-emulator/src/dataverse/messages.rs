//! Functions and actions beyond `WhoAmI`: a few real Dataverse messages, enough for clients to
//! exercise every calling convention: unbound functions with literal and aliased parameters
//! (`RetrieveTotalRecordCount`, `FormatAddress`), an unbound action taking an entity
//! (`WinOpportunity`) and a bound action returning entities (`QualifyLead`). `BulkDelete`, an
//! unbound action that starts a system job, lives in `bulk_delete`.

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use d365_odata::{Arg, ExprKind, KeyPredicate, Literal};
use serde_json::{Map, Value as Json, json};

use super::headers::json_response;
use super::modify::stamp;
use super::record::required;
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;
use crate::store::{Value as Sql, guid};

const NS: &str = "Microsoft.Dynamics.CRM.";

/// The unbound functions served here (names without the namespace).
pub(crate) const FUNCTIONS: &[&str] = &["RetrieveTotalRecordCount", "FormatAddress"];
/// The unbound actions served here.
pub(crate) const ACTIONS: &[&str] = &["WinOpportunity", "BulkDelete"];

fn short(name: &str) -> &str {
    name.strip_prefix(NS).unwrap_or(name)
}

/// Whether `name` (qualified or not) is an unbound function or action served here.
pub(crate) fn is_unbound(name: &str) -> bool {
    FUNCTIONS.contains(&short(name)) || ACTIONS.contains(&short(name))
}

/// A function's parameters as JSON, from literal arguments (`Line1='x'`) or aliases
/// (`EntityNames=@p1` with `@p1=["account"]` in the query string).
fn function_params(
    key: Option<&KeyPredicate>,
    args: Option<&[Arg]>,
    query: &str,
) -> Result<Map<String, Json>, DataverseError> {
    let aliases: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k.starts_with('@'))
        .map(|(k, v)| (k[1..].to_owned(), v.into_owned()))
        .collect();
    let mut out = Map::new();
    match key {
        Some(KeyPredicate::Named(pairs)) => {
            for (name, literal) in pairs {
                out.insert(name.clone(), literal_json(literal));
            }
        }
        Some(KeyPredicate::Single(_)) => {
            return Err(DataverseError::bad_query(
                "Function parameters must be named: Name(Parameter=value).",
            ));
        }
        None => {}
    }
    for arg in args.unwrap_or_default() {
        let Arg::Named { name, value } = arg else {
            return Err(DataverseError::bad_query(
                "Function parameters must be named: Name(Parameter=value).",
            ));
        };
        let json = match &value.kind {
            ExprKind::Literal(l) => literal_json(l),
            ExprKind::Alias(alias) => {
                let text = aliases.get(alias).ok_or_else(|| {
                    DataverseError::bad_query(format!(
                        "The parameter alias '@{alias}' is not given a value in the query string."
                    ))
                })?;
                alias_json(text).ok_or_else(|| {
                    DataverseError::bad_query(format!(
                        "The value of parameter alias '@{alias}' is not a valid literal or JSON value."
                    ))
                })?
            }
            _ => {
                return Err(DataverseError::bad_query(format!(
                    "The value of parameter '{name}' must be a literal or a parameter alias."
                )));
            }
        };
        out.insert(name.clone(), json);
    }
    Ok(out)
}

fn literal_json(l: &Literal) -> Json {
    match l {
        Literal::Null => Json::Null,
        Literal::Bool(b) => json!(b),
        Literal::Int(i) => json!(i),
        Literal::Decimal(d) => d.parse::<f64>().map_or(json!(d), |f| json!(f)),
        Literal::Double(f) => json!(f),
        Literal::String(s) => json!(s),
        Literal::Guid(g) => json!(g.to_string()),
        other => json!(other.to_string()),
    }
}

/// An alias value: an OData literal (`'text'`, `5`, a GUID) or JSON (arrays, objects).
fn alias_json(text: &str) -> Option<Json> {
    let text = text.trim();
    if text.starts_with(['[', '{', '"']) {
        return serde_json::from_str(text).ok();
    }
    let expr = d365_odata::parse_filter(text).ok()?;
    match expr.kind {
        ExprKind::Literal(l) => Some(literal_json(&l)),
        _ => None,
    }
}

/// `GET {api}/Name(...)`: an unbound function.
pub(crate) async fn function(
    st: &AppState,
    name: &str,
    key: Option<&KeyPredicate>,
    args: Option<&[Arg]>,
    query: &str,
) -> Result<Response, DataverseError> {
    let params = function_params(key, args, query)?;
    let context = |t: &str| format!("{}/$metadata#Microsoft.Dynamics.CRM.{t}", st.api_root());
    match short(name) {
        "RetrieveTotalRecordCount" => {
            let names: Vec<String> = required(&params, "EntityNames", Json::as_array)?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| DataverseError::missing_parameter("EntityNames"))
                })
                .collect::<Result<_, _>>()?;
            let mut tables = Vec::new();
            for n in &names {
                let entity = st
                    .model
                    .model
                    .entity_type(n)
                    .ok_or_else(|| DataverseError::entity_name_not_found(n))?;
                tables.push(entity.name.clone());
            }
            let counts = st
                .store
                .count_rows(tables)
                .await
                .map_err(|e| DataverseError::store(e, "counting records"))?;
            Ok(json_response(
                json!({
                    "@odata.context": context("RetrieveTotalRecordCountResponse"),
                    "EntityRecordCountCollection": {
                        "Count": names.len(),
                        "IsReadOnly": false,
                        "Keys": names,
                        "Values": counts,
                    }
                })
                .to_string(),
            ))
        }
        "FormatAddress" => {
            let part = |n: &str| required(&params, n, Json::as_str);
            let (line1, city, state, postal, country) = (
                part("Line1")?,
                part("City")?,
                part("StateOrProvince")?,
                part("PostalCode")?,
                part("Country")?,
            );
            // The en-US layout; Dataverse picks one by country.
            let address = format!("{line1}\r\n{city}, {state} {postal}\r\n{country}");
            Ok(json_response(
                json!({"@odata.context": context("FormatAddressResponse"), "Address": address})
                    .to_string(),
            ))
        }
        _ => Err(DataverseError::segment_not_found(name)),
    }
}

fn body_object(body: &[u8]) -> Result<Map<String, Json>, DataverseError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(DataverseError::payload(
            "",
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(DataverseError::payload("", format!("Invalid JSON. {e}"))),
    }
}

/// `POST {api}/Name`: an unbound action.
pub(crate) async fn action(
    st: &AppState,
    principal: &Principal,
    name: &str,
    body: &[u8],
) -> Result<Response, DataverseError> {
    let params = body_object(body)?;
    match short(name) {
        "BulkDelete" => super::bulk::bulk_delete(st, principal, &params).await,
        "WinOpportunity" => {
            let close = required(&params, "OpportunityClose", Json::as_object)?;
            let status = required(&params, "Status", Json::as_i64)?;
            let id = close
                .get("opportunityid@odata.bind")
                .and_then(Json::as_str)
                .and_then(super::record::bind_target)
                .filter(|(set, _)| set == "opportunities")
                .map(|(_, id)| id)
                .ok_or_else(|| {
                    DataverseError::payload(
                        "",
                        "OpportunityClose must bind opportunityid: \"opportunityid@odata.bind\": \"/opportunities(<id>)\".",
                    )
                })?;
            if status != 3 {
                return Err(DataverseError::bad_query(format!(
                    "{status} is not a valid status code for state code OpportunityState.Won on opportunity."
                )));
            }
            set_state(
                st,
                principal,
                "opportunity",
                id,
                1,
                status,
                "The opportunity is already closed.",
            )
            .await?;
            Ok(axum::http::StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(DataverseError::segment_not_found(name)),
    }
}

/// Moves an open record (statecode 0) to `state`/`status`; refuses a closed one.
async fn set_state(
    st: &AppState,
    principal: &Principal,
    table: &'static str,
    id: uuid::Uuid,
    state: i64,
    status: i64,
    closed_message: &'static str,
) -> Result<(), DataverseError> {
    let entity = st
        .model
        .model
        .entity_type(table)
        .cloned()
        .ok_or_else(|| DataverseError::segment_not_found(table))?;
    let stamp = stamp(st, principal);
    st.store
        .transaction(move |tx| {
            match tx.columns(&entity, &id, &["statecode"])?.as_deref() {
                None => return Ok(Err(DataverseError::record_not_found(&entity.name, &id))),
                Some([Sql::Integer(s)]) if *s != 0 => {
                    return Ok(Err(DataverseError::invalid_argument(closed_message)));
                }
                _ => {}
            }
            tx.update(
                &entity,
                &id,
                vec![
                    ("statecode".into(), Sql::Integer(state)),
                    ("statuscode".into(), Sql::Integer(status)),
                ],
                &stamp,
            )?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| DataverseError::store(e, "changing the record's state"))?
}

/// `POST {api}/{set}({id})/Microsoft.Dynamics.CRM.Name`: a bound action.
pub(crate) async fn bound_action(
    st: &AppState,
    principal: &Principal,
    entity_set: &str,
    id: uuid::Uuid,
    name: &str,
    body: &[u8],
) -> Result<Response, DataverseError> {
    let params = body_object(body)?;
    match (entity_set, short(name)) {
        ("leads", "QualifyLead") => qualify_lead(st, principal, id, &params).await,
        _ => Err(DataverseError::segment_not_found(name)),
    }
}

/// `QualifyLead`: creates the account, contact and opportunity asked for from the lead's
/// fields, links them, and closes the lead as qualified; all in one transaction.
async fn qualify_lead(
    st: &AppState,
    principal: &Principal,
    lead_id: uuid::Uuid,
    params: &Map<String, Json>,
) -> Result<Response, DataverseError> {
    let flag = |n: &str| required(params, n, Json::as_bool);
    let (create_account, create_contact, create_opportunity) = (
        flag("CreateAccount")?,
        flag("CreateContact")?,
        flag("CreateOpportunity")?,
    );
    let status = required(params, "Status", Json::as_i64)?;
    if status != 3 {
        return Err(DataverseError::bad_query(format!(
            "{status} is not a valid status code for state code LeadState.Qualified on lead."
        )));
    }
    let model = &st.model.model;
    let table = |n: &str| {
        model
            .entity_type(n)
            .cloned()
            .ok_or_else(|| DataverseError::segment_not_found(n))
    };
    let (lead, account, contact, opportunity) = (
        table("lead")?,
        table("account")?,
        table("contact")?,
        table("opportunity")?,
    );
    let stamp = stamp(st, principal);
    let created = st
        .store
        .transaction(move |tx| {
            let row = tx.columns(
                &lead,
                &lead_id,
                &["statecode", "firstname", "lastname", "companyname", "emailaddress1", "telephone1", "subject"],
            )?;
            let Some(row) = row else {
                return Ok(Err(DataverseError::record_not_found("lead", &lead_id)));
            };
            let Ok([state, first, last, company, email, phone, subject]) = <[Sql; 7]>::try_from(row)
            else {
                return Ok(Err(DataverseError::internal()));
            };
            if matches!(state, Sql::Integer(s) if s != 0) {
                return Ok(Err(DataverseError::invalid_argument(
                    "The lead is closed. You cannot convert or qualify a lead that is already closed.",
                )));
            }
            let as_text = |v: Sql| match v {
                Sql::Text(t) => Some(t),
                _ => None,
            };
            let (first, last, company, email, phone, subject) = (
                as_text(first),
                as_text(last),
                as_text(company),
                as_text(email),
                as_text(phone),
                as_text(subject),
            );
            let text = |v: &Option<String>| v.clone().map_or(Sql::Null, Sql::Text);
            // Each record made from the lead points back at it (`originatingleadid`).
            let originating_lead = |table: &d365_odata::model::EntityType, values: &mut Vec<(String, Sql)>| {
                if table.property("_originatingleadid_value").is_some() {
                    values.push(("_originatingleadid_value".into(), guid(lead_id)));
                }
            };
            let mut out = Vec::new();
            let mut account_id = None;
            if create_account {
                let Some(name) = company.clone() else {
                    return Ok(Err(DataverseError::bad_query(
                        "The lead has no company name, so no account can be created from it.",
                    )));
                };
                let id = uuid::Uuid::new_v4();
                let mut values = vec![
                    ("accountid".into(), guid(id)),
                    ("name".into(), Sql::Text(name)),
                    ("emailaddress1".into(), text(&email)),
                    ("telephone1".into(), text(&phone)),
                ];
                originating_lead(&account, &mut values);
                tx.insert(&account, values, &stamp)?;
                account_id = Some(id);
                out.push(("account", "accountid", id));
            }
            let mut contact_id = None;
            if create_contact {
                let id = uuid::Uuid::new_v4();
                let mut values = vec![
                    ("contactid".into(), guid(id)),
                    ("firstname".into(), text(&first)),
                    ("lastname".into(), text(&last)),
                    ("emailaddress1".into(), text(&email)),
                    ("telephone1".into(), text(&phone)),
                ];
                if let Some(a) = account_id
                    && contact.property("_parentcustomerid_value").is_some()
                {
                    values.push(("_parentcustomerid_value".into(), guid(a)));
                }
                let fullname = [first.as_deref(), last.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
                if contact.property("fullname").is_some() {
                    values.push(("fullname".into(), Sql::Text(fullname)));
                }
                originating_lead(&contact, &mut values);
                tx.insert(&contact, values, &stamp)?;
                contact_id = Some(id);
                out.push(("contact", "contactid", id));
            }
            if create_opportunity {
                let id = uuid::Uuid::new_v4();
                let mut values = vec![
                    ("opportunityid".into(), guid(id)),
                    ("name".into(), Sql::Text(subject.clone().or(company.clone()).unwrap_or_else(|| "Opportunity".into()))),
                    ("statecode".into(), Sql::Integer(0)),
                    ("statuscode".into(), Sql::Integer(1)),
                ];
                if let Some(a) = account_id {
                    values.push(("_parentaccountid_value".into(), guid(a)));
                }
                if let Some(c) = contact_id {
                    values.push(("_parentcontactid_value".into(), guid(c)));
                }
                // The opportunity's customer: the new account, else the new contact.
                if let Some(customer) = account_id.or(contact_id)
                    && opportunity.property("_customerid_value").is_some()
                {
                    values.push(("_customerid_value".into(), guid(customer)));
                }
                originating_lead(&opportunity, &mut values);
                tx.insert(&opportunity, values, &stamp)?;
                out.push(("opportunity", "opportunityid", id));
            }
            let mut lead_values = vec![
                ("statecode".into(), Sql::Integer(1)),
                ("statuscode".into(), Sql::Integer(status)),
            ];
            if let Some(a) = account_id {
                lead_values.push(("_parentaccountid_value".into(), guid(a)));
            }
            if let Some(c) = contact_id {
                lead_values.push(("_parentcontactid_value".into(), guid(c)));
            }
            tx.update(&lead, &lead_id, lead_values, &stamp)?;
            Ok(Ok(out))
        })
        .await
        .map_err(|e| DataverseError::store(e, "qualifying the lead"))??;
    let value: Vec<Json> = created
        .into_iter()
        .map(|(table, key, id)| {
            json!({"@odata.type": format!("#Microsoft.Dynamics.CRM.{table}"), key: id.to_string()})
        })
        .collect();
    Ok(json_response(
        json!({
            "@odata.context": format!("{}/$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)", st.api_root()),
            "value": value,
        })
        .to_string(),
    ))
}
