//! Runs planned queries and writes rows as Dataverse JSON: `@odata.etag` first, then the
//! selected columns, then the primary key.

use std::fmt::Write as _;
use std::sync::Arc;

use d365_odata::model::{EdmType, EntityType, Model};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::paging::Boundary;
use super::plan::{Column, SqlFilter, keyset_sql, lookup_name_sql};
use super::values::write_json;
use crate::store::schema::{ident, is_polymorphic, lookup_type_column};

/// Most rows `@odata.count` reports (Dataverse's cap), as SQLite counts.
pub const COUNT_CAP: i64 = d365_odata::limits::MAX_COUNT as i64;

/// One page request.
#[derive(Debug, Clone)]
pub struct PageSpec {
    /// Output columns in order (the key last).
    pub columns: Vec<Column>,
    /// `$filter` as SQL.
    pub filter: Option<SqlFilter>,
    /// ORDER BY, the key last; `true` = descending.
    pub order: Vec<(Column, bool)>,
    /// Resume after these boundaries (from a paging cookie).
    pub after: Option<Vec<Boundary>>,
    /// Rows per page.
    pub limit: usize,
    /// Rows to skip first (FetchXML's simple paging by page number, without a cookie).
    pub offset: usize,
    /// Also count all matching rows (capped).
    pub count: bool,
    /// Annotations to write (`Prefer: odata.include-annotations`).
    pub annotations: Option<Annotations>,
    /// Leave out the columns that are null (FetchXML's rows; their annotations stay).
    pub omit_nulls: bool,
    /// Write each row's `@odata.etag` (the records of an expanded lookup carry none).
    pub etag: bool,
    /// A GUID column read beside each row and not written (the parent of a row of an
    /// expanded collection: its foreign key): [`PageOut::parents`].
    pub parent: Option<Column>,
}

/// Which instance annotations to write, with the entity their values come from.
#[derive(Debug, Clone)]
pub struct Annotations {
    /// `@OData.Community.Display.V1.FormattedValue`.
    pub formatted: bool,
    /// `@Microsoft.Dynamics.CRM.lookuplogicalname` and `associatednavigationproperty`.
    pub lookups: bool,
    /// The entity (option sets, lookup targets, navigation properties).
    pub entity: Arc<EntityType>,
    /// Per lookup column: SQL for the related record's primary name (its formatted value).
    names: Vec<(String, String)>,
}

/// What a lookup's annotations are made of, read with the row: the related record's name
/// and, for a lookup with several targets, the stored target table.
#[derive(Debug, Default)]
struct LookupExtras {
    name: Option<String>,
    target: Option<String>,
}

impl Annotations {
    /// The annotations `formatted`/`lookups` ask for on rows of `entity`.
    pub fn new(model: &Model, entity: &EntityType, formatted: bool, lookups: bool) -> Self {
        let names = entity
            .properties
            .iter()
            .filter_map(|p| Some((p.name.clone(), lookup_name_sql(model, entity, p)?)))
            .collect();
        Self {
            formatted,
            lookups,
            entity: model.shared(entity),
            names,
        }
    }

    /// The extra SQL a column's annotations need: (related name, stored target type).
    fn extra_sql(&self, column: &str) -> (Option<String>, Option<String>) {
        let name = self
            .names
            .iter()
            .find(|(c, _)| self.formatted && c == column)
            .map(|(_, sql)| sql.clone());
        let target = self
            .entity
            .property(column)
            .filter(|p| self.lookups && is_polymorphic(p))
            .map(|p| ident(&lookup_type_column(&p.name)));
        (name, target)
    }

    fn write(
        &self,
        json: &mut String,
        column: &str,
        value: rusqlite::types::ValueRef<'_>,
        extras: LookupExtras,
    ) {
        let Some(property) = self.entity.property(column) else {
            return;
        };
        let mut annotate = |name: &str, text: &str| {
            json.push_str(&serde_json::to_string(&format!("{column}@{name}")).unwrap_or_default());
            json.push(':');
            json.push_str(&serde_json::to_string(text).unwrap_or_default());
            json.push(',');
        };
        let is_null = matches!(value, rusqlite::types::ValueRef::Null);
        if self.formatted {
            let text = if is_null { None } else { extras.name };
            if let Some(text) = text.or_else(|| super::values::formatted(value, property)) {
                annotate("OData.Community.Display.V1.FormattedValue", &text);
            }
        }
        let target = match property.lookup_targets.as_slice() {
            [one] => Some(one.clone()),
            _ => extras.target,
        };
        if self.lookups
            && !is_null
            && let Some(target) = target
        {
            // The navigation property to that table (`parentcustomerid_contact`), or the
            // lookup's only one (`ownerid`, for a user or a team alike).
            let lookup_navs = || {
                self.entity
                    .navigation
                    .iter()
                    .filter(|n| !n.collection && n.foreign_key == column)
            };
            let nav = lookup_navs()
                .find(|n| n.target == target)
                .or_else(|| lookup_navs().next());
            if let Some(nav) = nav {
                annotate(
                    "Microsoft.Dynamics.CRM.associatednavigationproperty",
                    &nav.name,
                );
            }
            annotate("Microsoft.Dynamics.CRM.lookuplogicalname", &target);
        }
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct PageOut {
    /// Each row as a JSON object.
    pub rows: Vec<String>,
    /// More rows follow.
    pub more: bool,
    /// First and last values of the ORDER BY columns on this page.
    pub boundaries: Vec<Boundary>,
    /// The total count when asked (≤ 5000).
    pub count: Option<i64>,
    /// Each row's key, when the key is among the columns.
    pub keys: Vec<Option<uuid::Uuid>>,
    /// Each row's [`PageSpec::parent`] value, when one was asked for.
    pub parents: Vec<Option<uuid::Uuid>>,
}

/// The SELECT list: output columns, then ORDER BY columns, `versionnumber` (for the etag)
/// and what the annotations need, each once.
struct SelectList {
    /// SQL of each item.
    items: Vec<String>,
    /// The index of each ORDER BY column.
    order: Vec<usize>,
    /// The index of `versionnumber`.
    version: Option<usize>,
    /// The index of [`PageSpec::parent`].
    parent: Option<usize>,
    /// Per output column: the indexes of its related name and stored target type.
    extras: Vec<(Option<usize>, Option<usize>)>,
}

impl SelectList {
    fn position(&mut self, sql: String) -> usize {
        self.items
            .iter()
            .position(|n| *n == sql)
            .unwrap_or_else(|| {
                self.items.push(sql);
                self.items.len() - 1
            })
    }

    fn new(entity: &EntityType, spec: &PageSpec) -> Self {
        let mut list = SelectList {
            items: spec.columns.iter().map(Column::sql).collect(),
            order: Vec::new(),
            version: None,
            parent: None,
            extras: Vec::new(),
        };
        list.order = spec
            .order
            .iter()
            .map(|(c, _)| list.position(c.sql()))
            .collect();
        list.version = (spec.etag && entity.property("versionnumber").is_some())
            .then(|| list.position(ident("versionnumber")));
        list.parent = spec.parent.as_ref().map(|c| list.position(c.sql()));
        if let Some(a) = &spec.annotations {
            list.extras = spec
                .columns
                .iter()
                .map(|c| {
                    let (name, target) = a.extra_sql(&c.name);
                    (
                        name.map(|s| list.position(s)),
                        target.map(|s| list.position(s)),
                    )
                })
                .collect();
        }
        list
    }
}

/// The SELECT of one page (the key last in ORDER BY, one row more than the page to tell
/// whether more follow) and its parameters, with the list it selects.
fn page_select(entity: &EntityType, spec: &PageSpec) -> (SelectList, String, Vec<Value>) {
    let list = SelectList::new(entity, spec);
    let mut wheres = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(f) = &spec.filter {
        wheres.push(f.sql.clone());
        params.extend(f.params.iter().cloned());
    }
    if let Some(after) = &spec.after {
        let k = keyset_sql(&spec.order, after);
        wheres.push(k.sql);
        params.extend(k.params);
    }
    let where_sql = if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    };
    let order_sql = spec
        .order
        .iter()
        .map(|(c, desc)| format!("{}{}", c.sql(), if *desc { " DESC" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {} FROM {}{where_sql} ORDER BY {order_sql} LIMIT {} OFFSET {}",
        list.items.join(", "),
        ident(&entity.name),
        spec.limit + 1,
        spec.offset
    );
    (list, sql, params)
}

/// The SQL [`query_page`] runs for `spec`, with its parameters (the plan checks read it).
#[cfg(test)]
pub(crate) fn page_sql(entity: &EntityType, spec: &PageSpec) -> (String, Vec<Value>) {
    let (_, sql, params) = page_select(entity, spec);
    (sql, params)
}

/// Runs one page.
pub fn query_page(
    conn: &Connection,
    entity: &EntityType,
    spec: &PageSpec,
) -> rusqlite::Result<PageOut> {
    let (list, sql, params) = page_select(entity, spec);
    // Each column's `"name":`, escaped once per query rather than once per row.
    let names: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            let mut key = serde_json::to_string(&c.name).unwrap_or_default();
            key.push(':');
            key
        })
        .collect();
    let key_at = spec.columns.iter().position(|c| c.name == entity.key);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    let mut keys = Vec::new();
    let mut parents = Vec::new();
    let mut first: Option<Vec<Value>> = None;
    let mut last: Option<Vec<Value>> = None;
    let mut more = false;
    while let Some(row) = rows.next()? {
        if out.len() == spec.limit {
            more = true;
            break;
        }
        // Each member is written with a `,` after it; the last one's goes.
        let mut json = String::with_capacity(256);
        json.push('{');
        if let Some(vi) = list.version {
            let v: Option<i64> = row.get(vi)?;
            let _ = write!(json, "\"@odata.etag\":\"W/\\\"{}\\\"\",", v.unwrap_or(0));
        }
        for (i, c) in spec.columns.iter().enumerate() {
            let value = row.get_ref(i)?;
            if let Some(a) = &spec.annotations {
                let text = |at: Option<usize>| -> rusqlite::Result<Option<String>> {
                    at.map_or(Ok(None), |at| row.get(at))
                };
                let (name, target) = list.extras.get(i).copied().unwrap_or_default();
                let extras = LookupExtras {
                    name: text(name)?,
                    target: text(target)?,
                };
                a.write(&mut json, &c.name, value, extras);
            }
            let member = json.len();
            json.push_str(&names[i]);
            let at = json.len();
            write_json(&mut json, value, c.edm_type, c.scale);
            // Left out when its JSON is null, whatever was stored (a NULL, a non-finite REAL).
            if spec.omit_nulls && &json[at..] == "null" {
                json.truncate(member);
                continue;
            }
            json.push(',');
        }
        if json.ends_with(',') {
            json.pop();
        }
        json.push('}');
        out.push(json);
        let guid = |at: usize| -> rusqlite::Result<Option<uuid::Uuid>> {
            Ok(match row.get_ref(at)? {
                ValueRef::Blob(b) => uuid::Uuid::from_slice(b).ok(),
                _ => None,
            })
        };
        if let Some(k) = key_at {
            keys.push(guid(k)?);
        }
        if let Some(p) = list.parent {
            parents.push(guid(p)?);
        }
        let values: Vec<Value> = list
            .order
            .iter()
            .map(|&i| row.get::<_, Value>(i))
            .collect::<Result<_, _>>()?;
        if first.is_none() {
            first = Some(values.clone());
        }
        last = Some(values);
    }
    let boundaries = match (first, last) {
        (Some(f), Some(l)) => spec
            .order
            .iter()
            .zip(f.into_iter().zip(l))
            .map(|((c, _), (first, last))| Boundary {
                column: c.name.clone(),
                first,
                last,
            })
            .collect(),
        _ => Vec::new(),
    };
    let count = if spec.count {
        Some(count(conn, entity, spec.filter.as_ref())?)
    } else {
        None
    };
    Ok(PageOut {
        rows: out,
        more,
        boundaries,
        count,
        keys,
        parents,
    })
}

/// Rows matching `filter`, counted up to one past [`COUNT_CAP`] (Dataverse's `$count` cap):
/// callers report at most the cap, and "over the cap" when they see more.
pub fn count(
    conn: &Connection,
    entity: &EntityType,
    filter: Option<&SqlFilter>,
) -> rusqlite::Result<i64> {
    let (where_sql, params): (String, &[Value]) = match filter {
        Some(f) if !f.sql.is_empty() => (format!(" WHERE {}", f.sql), &f.params),
        _ => (String::new(), &[]),
    };
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {}{where_sql} LIMIT {})",
        ident(&entity.name),
        COUNT_CAP + 1
    );
    conn.prepare_cached(&sql)?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))
}

/// Reads one record by primary key as JSON, or `None`.
pub fn retrieve(
    conn: &Connection,
    entity: &EntityType,
    id: &uuid::Uuid,
    columns: &[Column],
    annotations: Option<Annotations>,
) -> rusqlite::Result<Option<String>> {
    let key = Column {
        name: entity.key.clone(),
        edm_type: EdmType::Guid,
        scale: None,
        expr: None,
    };
    let spec = PageSpec {
        columns: columns.to_vec(),
        filter: Some(SqlFilter {
            sql: format!("{} = ?", ident(&entity.key)),
            params: vec![Value::Blob(id.as_bytes().to_vec())],
        }),
        order: vec![(key, false)],
        after: None,
        limit: 1,
        offset: 0,
        count: false,
        annotations,
        omit_nulls: false,
        etag: true,
        parent: None,
    };
    Ok(query_page(conn, entity, &spec)?.rows.into_iter().next())
}

/// `(key, foreign key)` pairs for the given keys: the lookup values behind a single-valued
/// `$expand`, whether or not `$select` asked for them.
pub fn lookup_values(
    conn: &Connection,
    entity: &EntityType,
    foreign_key: &str,
    keys: &[uuid::Uuid],
) -> rusqlite::Result<Vec<(uuid::Uuid, Option<uuid::Uuid>)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {}, {} FROM {} WHERE {} IN ({})",
        ident(&entity.key),
        ident(foreign_key),
        ident(&entity.name),
        ident(&entity.key),
        vec!["?"; keys.len()].join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let params: Vec<Value> = keys
        .iter()
        .map(|k| Value::Blob(k.as_bytes().to_vec()))
        .collect();
    let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
        let key: Vec<u8> = r.get(0)?;
        let fk: Option<Vec<u8>> = r.get(1)?;
        Ok((key, fk))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, fk) = row?;
        if let Ok(key) = uuid::Uuid::from_slice(&key) {
            out.push((key, fk.and_then(|f| uuid::Uuid::from_slice(&f).ok())));
        }
    }
    Ok(out)
}
