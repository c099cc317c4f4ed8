//! Change tracking (<https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems>):
//! `GET {set}?$select=…` with `Prefer: odata.track-changes` loads every row (paged with
//! `@odata.nextLink`) and puts an `@odata.deltaLink` on the last page; following that link
//! (`$deltatoken=…`) returns the rows created or updated since, then `$deletedEntity` entries
//! for the rows deleted since, and a new delta link.
//!
//! A delta token is `{version}!{MM/dd/yyyy HH:mm:ss}` (UTC), as Dataverse's: the version
//! counter when the token was made (see [`crate::store::changes`]) and when. Tokens older
//! than `change_token_lifetime_secs` (7 days by default) fail with `ExpiredVersionStamp`.
//!
//! Paging keeps the state in the `$skiptoken` cookie, so every page of one pass has the same
//! bounds: the initial load's cookie carries the token taken on its first page (a row
//! changed while the client pages is in the next delta, even if the load missed it), and a
//! delta response's cookie carries the version it reads up to and whether it is still on
//! the changed rows or already on the deletions.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use d365_odata::QueryOptions;
use percent_encoding::utf8_percent_encode;

use d365_odata::paging_cookie::attribute;

use super::headers::json_response;
use super::model::change_tracking_enabled;
use super::response::{
    Collection, MAX_PAGE_SIZE, QUERY_VALUE, annotations_for, body_start, context_url,
    output_columns, page_size, prefer, preference_applied, select_names,
};
use crate::error::DataverseError;
use crate::query::delta::{DeltaCursor, DeltaPage};
use crate::query::exec::{self, PageSpec};
use crate::query::paging::PagingCookie;
use crate::query::plan::order_columns;
use crate::state::AppState;
use crate::store::changes;

const TOKEN_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");

/// A delta token: the version it is at, and when it was made (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeltaToken {
    version: i64,
    issued: i64,
}

impl DeltaToken {
    /// `919042!08/22/2017 08:10:44`.
    fn encode(self) -> String {
        let at = time::OffsetDateTime::from_unix_timestamp(self.issued)
            .ok()
            .and_then(|t| t.format(TOKEN_TIME).ok())
            .unwrap_or_default();
        format!("{}!{at}", self.version)
    }

    fn parse(text: &str) -> Option<Self> {
        let (version, at) = text.split_once('!')?;
        let issued = time::PrimitiveDateTime::parse(at, TOKEN_TIME)
            .ok()?
            .assume_utc()
            .unix_timestamp();
        Some(Self {
            version: version.parse().ok()?,
            issued,
        })
    }
}

/// The change log's clock: now, and the change-token lifetime tombstones are kept for.
pub(crate) fn change_clock(st: &AppState) -> changes::ChangeClock {
    let lifetime = st.registry.config().change_token_lifetime_secs;
    changes::ChangeClock {
        now: st.clock.now(),
        keep_secs: i64::try_from(lifetime).unwrap_or(i64::MAX),
    }
}

/// Whether a collection request asks for change tracking: the preference, a delta token, or
/// a next link of an initial load (its cookie carries the token).
pub(crate) fn requested(headers: &HeaderMap, options: &QueryOptions) -> bool {
    options.deltatoken.is_some()
        || options
            .skiptoken
            .as_deref()
            .is_some_and(|t| attribute(t, "deltatoken").is_some())
        || prefer(headers).track_changes
}

/// Percent-encoded for a query string, with lower-case escapes as Dataverse writes them
/// (`919042%2108%2f22%2f2017%2008%3a10%3a44`).
fn query_value(text: &str) -> String {
    let encoded = utf8_percent_encode(text, QUERY_VALUE).to_string();
    let mut out = String::with_capacity(encoded.len());
    let mut pending = 0;
    for c in encoded.chars() {
        if pending > 0 {
            out.push(c.to_ascii_lowercase());
            pending -= 1;
        } else {
            pending = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

/// Serves a change-tracking request on `entity`'s set: the initial load or a delta.
pub(crate) async fn query(
    collection: Collection<'_>,
    headers: &HeaderMap,
    options: &QueryOptions,
) -> Result<Response, DataverseError> {
    let Collection { st, entity, .. } = collection;
    let checks = [
        (options.filter.is_some(), "$filter"),
        (!options.orderby.is_empty(), "$orderby"),
        (!options.expand.is_empty(), "$expand"),
        (options.top.is_some(), "$top"),
    ];
    if let Some((_, option)) = checks.iter().find(|(given, _)| *given) {
        return Err(DataverseError::not_with_change_tracking(option));
    }
    if !change_tracking_enabled(entity) {
        return Err(DataverseError::change_tracking_not_enabled(&entity.name));
    }
    let prefer = prefer(headers);
    let names = select_names(entity, options)?;
    let page_size = page_size(&prefer);
    let pass = Pass {
        collection,
        names: names.as_deref(),
        spec: PageSpec {
            columns: output_columns(entity, names.as_deref()),
            filter: None,
            order: order_columns(&st.model.model, entity, &[]),
            after: None,
            limit: page_size.unwrap_or(MAX_PAGE_SIZE),
            offset: 0,
            count: false,
            annotations: annotations_for(&prefer, &st.model.model, entity),
            omit_nulls: false,
            etag: true,
            parent: None,
        },
    };
    let mut response = match &options.deltatoken {
        None => pass.initial(options).await?,
        Some(token) => pass.delta(token, options).await?,
    };
    let mut applied = Vec::new();
    if prefer.track_changes {
        applied.push("odata.track-changes".to_owned());
    }
    if let Some(v) = preference_applied(&prefer, page_size)
        && let Ok(v) = v.to_str()
    {
        applied.push(v.to_owned());
    }
    if let Ok(v) = HeaderValue::from_str(&applied.join(","))
        && !applied.is_empty()
    {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response)
}

/// One change-tracking request.
struct Pass<'a> {
    collection: Collection<'a>,
    names: Option<&'a [String]>,
    /// The page to read (filter, order and cursor are set per kind of request).
    spec: PageSpec,
}

impl Pass<'_> {
    /// A token for now: the current version (starting the counter if need be).
    async fn token_now(&self) -> Result<DeltaToken, DataverseError> {
        let st = self.collection.st;
        let version = st
            .store
            .change_version(st.model.model.clone(), change_clock(st))
            .await
            .map_err(|e| DataverseError::store(e, "change tracking query"))?;
        Ok(DeltaToken {
            version,
            issued: st.clock.now(),
        })
    }

    /// `{api}/{set}?$select=…&$deltatoken=…`.
    fn delta_link(&self, token: DeltaToken) -> String {
        let Collection { st, path, .. } = self.collection;
        let select = self
            .names
            .map(|n| format!("$select={}&", n.join(",")))
            .unwrap_or_default();
        format!(
            "{}/{path}?{select}$deltatoken={}",
            st.api_root(),
            query_value(&token.encode())
        )
    }

    /// The initial load: every row, by key, the delta link on the last page.
    async fn initial(mut self, options: &QueryOptions) -> Result<Response, DataverseError> {
        let Collection { st, entity, .. } = self.collection;
        let (token, page_number) = match &options.skiptoken {
            Some(skip) => {
                let token = attribute(skip, "deltatoken")
                    .and_then(|t| DeltaToken::parse(&t))
                    .ok_or_else(DataverseError::invalid_paging_cookie)?;
                let cookie =
                    PagingCookie::decode(skip).ok_or_else(DataverseError::invalid_paging_cookie)?;
                let fits =
                    cookie.boundaries.len() == 1 && cookie.boundaries[0].column == entity.key;
                if !fits {
                    return Err(DataverseError::invalid_paging_cookie());
                }
                self.spec.after = Some(cookie.boundaries);
                (token, cookie.page_number)
            }
            None => (self.token_now().await?, 1),
        };
        self.spec.count = options.count == Some(true);
        let page = self
            .collection
            .st
            .store
            .query_page(
                &self.collection.st.model.model.shared(entity),
                self.spec.clone(),
            )
            .await
            .map_err(|e| DataverseError::store(e, "change tracking query"))?;
        let context = context_url(st, entity, self.names, &[], "");
        let mut body = body_start(&context);
        if let Some(count) = page.count {
            body.push_str(&format!(",\"@odata.count\":{}", count.min(exec::COUNT_CAP)));
        }
        if !page.more {
            body.push_str(&format!(
                ",\"@odata.deltaLink\":{}",
                serde_json::to_string(&self.delta_link(token)).unwrap_or_default()
            ));
        }
        body.push_str(",\"value\":[");
        body.push_str(&page.rows.join(","));
        body.push(']');
        if page.more {
            let cookie = PagingCookie {
                page_number: page_number.saturating_add(1),
                boundaries: page.boundaries,
            };
            let cookie = cookie.encode_tracking(&[("deltatoken", token.encode())]);
            body.push_str(&format!(
                ",\"@odata.nextLink\":{}",
                serde_json::to_string(&self.collection.next_link(&cookie)).unwrap_or_default()
            ));
        }
        body.push('}');
        Ok(json_response(body))
    }

    /// A delta: rows changed since the token, then rows deleted since, up to the version the
    /// first page saw.
    async fn delta(self, token: &str, options: &QueryOptions) -> Result<Response, DataverseError> {
        let Collection { st, entity, .. } = self.collection;
        let since = DeltaToken::parse(token).ok_or_else(|| {
            DataverseError::bad_query(format!("The delta token '{token}' is not valid."))
        })?;
        let lifetime = self
            .collection
            .st
            .registry
            .config()
            .change_token_lifetime_secs;
        let age = st.clock.now().saturating_sub(since.issued);
        if age > i64::try_from(lifetime).unwrap_or(i64::MAX) {
            return Err(DataverseError::expired_version_stamp());
        }
        let (upto, cursor, page_number) = match &options.skiptoken {
            Some(skip) => {
                let bad = DataverseError::invalid_paging_cookie;
                let cookie = PagingCookie::decode(skip).ok_or_else(bad)?;
                let upto: i64 = attribute(skip, "upto")
                    .and_then(|u| u.parse().ok())
                    .ok_or_else(bad)?;
                let cursor = match attribute(skip, "phase").as_deref() {
                    Some("rows")
                        if cookie.boundaries.len() == 2
                            && cookie.boundaries[0].column == "versionnumber"
                            && cookie.boundaries[1].column == entity.key =>
                    {
                        DeltaCursor::Rows(Some(cookie.boundaries))
                    }
                    Some("deleted") => DeltaCursor::Deleted(
                        attribute(skip, "after")
                            .and_then(|a| a.parse().ok())
                            .ok_or_else(bad)?,
                    ),
                    _ => return Err(bad()),
                };
                (upto, cursor, cookie.page_number)
            }
            None => (self.token_now().await?.version, DeltaCursor::Rows(None), 1),
        };
        let DeltaPage {
            rows,
            deleted,
            next,
        } = self
            .collection
            .st
            .store
            .delta_page(entity, self.spec.clone(), (since.version, upto), cursor)
            .await
            .map_err(|e| DataverseError::store(e, "change tracking query"))?;

        let context = context_url(st, entity, self.names, &[], "/$delta");
        let mut body = body_start(&context);
        if next.is_none() {
            let token = DeltaToken {
                version: upto,
                issued: st.clock.now(),
            };
            body.push_str(&format!(
                ",\"@odata.deltaLink\":{}",
                serde_json::to_string(&self.delta_link(token)).unwrap_or_default()
            ));
        }
        body.push_str(",\"value\":[");
        let deleted_context = serde_json::to_string(&format!(
            "{}/$metadata#{}/$deletedEntity",
            st.api_root(),
            entity.entity_set
        ))
        .unwrap_or_default();
        let entries = rows.into_iter().chain(deleted.iter().map(|(id, _)| {
            format!(
                "{{\"@odata.context\":{deleted_context},\"id\":\"{id}\",\"reason\":\"deleted\"}}"
            )
        }));
        body.push_str(&entries.collect::<Vec<_>>().join(","));
        body.push(']');
        if let Some(next) = next {
            let (boundaries, phase, after) = match next {
                DeltaCursor::Rows(b) => (b.unwrap_or_default(), "rows", 0),
                DeltaCursor::Deleted(after) => (Vec::new(), "deleted", after),
            };
            let cookie = PagingCookie {
                page_number: page_number.saturating_add(1),
                boundaries,
            };
            let cookie = cookie.encode_tracking(&[
                ("upto", upto.to_string()),
                ("phase", phase.to_owned()),
                ("after", after.to_string()),
            ]);
            body.push_str(&format!(
                ",\"@odata.nextLink\":{}",
                serde_json::to_string(&self.collection.next_link(&cookie)).unwrap_or_default()
            ));
        }
        body.push('}');
        Ok(json_response(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_and_encode_as_dataverse_does() {
        let token = DeltaToken {
            version: 919_042,
            issued: 1_503_389_444, // 2017-08-22 08:10:44 UTC
        };
        assert_eq!(token.encode(), "919042!08/22/2017 08:10:44");
        assert_eq!(DeltaToken::parse(&token.encode()), Some(token));
        assert_eq!(
            query_value(&token.encode()),
            "919042%2108%2f22%2f2017%2008%3a10%3a44"
        );
        assert_eq!(DeltaToken::parse("919042"), None);
        assert_eq!(DeltaToken::parse("x!08/22/2017 08:10:44"), None);
        assert_eq!(DeltaToken::parse("1!2017-08-22"), None);
    }

    #[test]
    fn the_cookie_carries_the_tracking_state() {
        let cookie = PagingCookie {
            page_number: 2,
            boundaries: Vec::new(),
        };
        let text = cookie.encode_tracking(&[("upto", "7".into()), ("phase", "deleted".into())]);
        assert!(
            text.contains("istracking=\"True\" upto=\"7\" phase=\"deleted\""),
            "{text}"
        );
        assert_eq!(attribute(&text, "upto").as_deref(), Some("7"));
        assert_eq!(attribute(&text, "after"), None);
        assert_eq!(PagingCookie::decode(&text), Some(cookie));
    }
}
