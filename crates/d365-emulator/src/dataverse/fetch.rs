//! FetchXML through the Web API: `GET {set}?fetchXml=…`, with paging by `count`/`page` and
//! the `paging-cookie` Dataverse hands out as `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results>).
//!
//! Unlike OData results, null columns are left out and linked columns are named
//! `alias_x002e_column`.

use axum::http::HeaderMap;
use axum::response::Response;
use d365_odata::model::EntityType;
use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::headers::json_response;
use super::response::{MAX_PAGE_SIZE, annotations_for, prefer};
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::fetchxml::{Fetch, from_sql, parse};
use crate::query::exec::{self, PageSpec};
use crate::query::fetch::{FetchContext, FetchPlan, plan};
use crate::query::paging::PagingCookie;
use crate::query::values::write_json;
use crate::state::AppState;

const COOKIE_ANNOTATION: &str = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie";
const MORE_ANNOTATION: &str = "Microsoft.Dynamics.CRM.morerecords";

/// Where the page starts: after a cookie's keys, or by page number.
fn start(
    fetch: &Fetch,
    plan: &FetchPlan,
    size: usize,
) -> Result<(Option<Vec<crate::query::paging::Boundary>>, usize), DataverseError> {
    let page = fetch.page.unwrap_or(1);
    if let Some(cookie) = &fetch.paging_cookie {
        let cookie = PagingCookie::decode_inner(cookie, page)
            .ok_or_else(DataverseError::invalid_paging_cookie)?;
        let fits = cookie.boundaries.len() == plan.order.len()
            && cookie
                .boundaries
                .iter()
                .zip(&plan.order)
                .all(|(b, (c, _))| b.column.eq_ignore_ascii_case(&c.name));
        // The cookie holds the previous page's keys: it leads exactly to the next page.
        if fits && cookie_page(fetch) == Some(page.saturating_sub(1)) {
            return Ok((Some(cookie.boundaries), 0));
        }
        if !fits {
            return Err(DataverseError::invalid_paging_cookie());
        }
    }
    Ok((None, (page as usize - 1).saturating_mul(size)))
}

/// The `page` attribute inside the inner cookie.
fn cookie_page(fetch: &Fetch) -> Option<u32> {
    let c = fetch.paging_cookie.as_deref()?;
    let start = c.find("page=\"")? + 6;
    c[start..].split('"').next()?.parse().ok()
}

/// The query of a request, in one of the languages read into FetchXML.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    /// `GET {set}?fetchXml=…`.
    FetchXml(&'a str),
    /// `GET {set}?sql=SELECT …`: the read-only SQL subset, read into a FetchXML query (so the
    /// rows come as FetchXML's do: null columns left out).
    Sql(&'a str),
}

impl Text<'_> {
    /// The FetchXML query the text stands for, on `entity`.
    fn read(self, entity: &EntityType) -> Result<Fetch, DataverseError> {
        match self {
            Text::FetchXml(text) => parse(text).map_err(|e| DataverseError::fetch_xml(e.0)),
            Text::Sql(text) => {
                let fetch = from_sql(text)
                    .map_err(|e| DataverseError::bad_query(format!("sql: {}", e.0)))?;
                if fetch.entity != entity.name {
                    return Err(DataverseError::bad_query(format!(
                        "sql: the table '{}' in FROM is not the table of {}, '{}'.",
                        fetch.entity, entity.entity_set, entity.name
                    )));
                }
                Ok(fetch)
            }
        }
    }
}

/// Reads, plans and pages a FetchXML (or SQL) query on `entity`.
pub(crate) async fn query(
    st: &AppState,
    entity: &EntityType,
    principal: &Principal,
    text: Text<'_>,
    headers: &HeaderMap,
) -> Result<Response, DataverseError> {
    let fetch = text.read(entity)?;
    let guid = |s: &str| uuid::Uuid::parse_str(s).unwrap_or_default();
    let ctx = FetchContext {
        user: guid(&principal.systemuser_id),
        business_unit: guid(&st.registry.config().environment.business_unit_id),
        now: st.clock.now(),
    };
    let plan = plan(&st.model.model, entity, &fetch, &ctx)?;
    let paging = fetch.top.is_none();
    let size = match fetch.top {
        Some(top) => top.min(MAX_PAGE_SIZE),
        None => fetch.count.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
    };
    let (after, offset) = if paging {
        start(&fetch, &plan, size)?
    } else {
        (None, 0)
    };
    let prefer = prefer(headers);
    let spec = PageSpec {
        columns: plan.columns.clone(),
        filter: plan.filter.clone(),
        order: plan.order.clone(),
        after,
        limit: size,
        offset,
        count: fetch.total_count,
        annotations: annotations_for(&prefer, &st.model.model, entity),
        omit_nulls: true,
        etag: true,
        parent: None,
    };
    let page = st
        .store
        .query_page(&st.model.model.shared(entity), spec)
        .await
        .map_err(|e| DataverseError::store(e, "fetchxml query"))?;
    let main_names: Vec<&str> = plan.columns.iter().map(|c| c.name.as_str()).collect();
    let rows = finish_rows(st, entity, &page, &main_names, &plan.links).await?;

    let mut body = Map::new();
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name.as_str()).collect();
    body.insert(
        "@odata.context".into(),
        Json::String(format!(
            "{}/$metadata#{}({})",
            st.api_root(),
            entity.entity_set,
            names.join(",")
        )),
    );
    if let Some(n) = page.count {
        body.insert(
            "@Microsoft.Dynamics.CRM.totalrecordcount".into(),
            Json::from(n.min(exec::COUNT_CAP)),
        );
        body.insert(
            "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded".into(),
            Json::Bool(n > exec::COUNT_CAP),
        );
    }
    // The cookie only while more rows follow: clients loop for as long as it is there.
    if paging && page.more && prefer.annotation_requested(COOKIE_ANNOTATION) {
        let cookie = PagingCookie {
            page_number: fetch.page.unwrap_or(1).saturating_add(1),
            boundaries: page.boundaries.clone(),
        };
        body.insert(
            format!("@{COOKIE_ANNOTATION}"),
            Json::String(cookie.encode()),
        );
    }
    if prefer.annotation_requested(MORE_ANNOTATION) {
        body.insert(
            format!("@{MORE_ANNOTATION}"),
            Json::Bool(paging && page.more),
        );
    }
    // The envelope, then `value` last with the rows as they are.
    let mut text = Json::Object(body).to_string();
    text.pop();
    if text.len() > 1 {
        text.push(',');
    }
    text.push_str("\"value\":[");
    text.push_str(&rows.join(","));
    text.push_str("]}");
    Ok(json_response(text))
}

/// Rows as FetchXML returns them: nulls left out (the page's query did), each row's linked
/// columns added after its own, written into the row's text. A linked row's value replaces an
/// earlier one of the same name (a later linked row, a later link); a null one adds nothing.
async fn finish_rows(
    st: &AppState,
    entity: &EntityType,
    page: &exec::PageOut,
    main_names: &[&str],
    links: &[crate::query::fetch::LinkColumns],
) -> Result<Vec<String>, DataverseError> {
    let mut rows = page.rows.clone();
    if links.is_empty() {
        return Ok(rows);
    }
    let keys: Vec<uuid::Uuid> = page.keys.iter().flatten().copied().collect();
    // Each row's linked members in the order they first came: (name, JSON text).
    let mut linked: HashMap<uuid::Uuid, Vec<(String, String)>> = HashMap::new();
    for link in links {
        let values = st
            .store
            .link_values(&st.model.model.shared(entity), link, &keys)
            .await
            .map_err(|e| DataverseError::store(e, "fetchxml query"))?;
        for (key, columns) in values {
            let members = linked.entry(key).or_default();
            for ((name, value), column) in columns.into_iter().zip(&link.columns) {
                let mut text = String::new();
                write_json(&mut text, (&value).into(), column.edm_type, column.scale);
                if text == "null" {
                    continue;
                }
                match members.iter_mut().find(|(n, _)| *n == name) {
                    Some(member) => member.1 = text,
                    None => members.push((name, text)),
                }
            }
        }
    }
    for (row, key) in rows.iter_mut().zip(&page.keys) {
        let Some(members) = key.and_then(|k| linked.get(&k)) else {
            continue;
        };
        if members
            .iter()
            .any(|(n, _)| main_names.contains(&n.as_str()))
        {
            // A linked name that is also one of the row's own: its value in the row's place.
            let Ok(Json::Object(mut object)) = serde_json::from_str::<Json>(row) else {
                return Err(DataverseError::internal());
            };
            for (name, text) in members {
                let value = serde_json::from_str(text).map_err(|_| DataverseError::internal())?;
                object.insert(name.clone(), value);
            }
            *row = Json::Object(object).to_string();
            continue;
        }
        row.pop(); // its `}`
        for (name, text) in members {
            row.push(',');
            row.push_str(&serde_json::to_string(name).map_err(|_| DataverseError::internal())?);
            row.push(':');
            row.push_str(text);
        }
        row.push('}');
    }
    Ok(rows)
}
