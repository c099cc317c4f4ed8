//! The plans SQLite makes of the SQL the planner writes, on the store's real schema: which
//! query shapes read a range of an index, and which must scan. Plans are read with EXPLAIN
//! QUERY PLAN; the work of a page with SQLite's own counters (virtual-machine steps, sorts),
//! which are exact, unlike a clock.

use d365_odata::bind::bind_orderby;
use d365_odata::bind::typed::bind_typed_filter;
use d365_odata::model::{EntityType, Model};
use d365_odata::{parse_filter, parse_orderby};
use rusqlite::types::Value;
use rusqlite::{Connection, StatementStatus, params_from_iter};

use crate::query::conditions::QueryContext;
use crate::query::exec::{PageSpec, page_sql, query_page};
use crate::query::paging::Boundary;
use crate::query::plan::{Column, SqlFilter, order_columns};
use crate::query::typed::typed_filter_sql;
use crate::store::schema::{FindColumns, create_find_indexes, create_tables};

/// Accounts named `Northwind …` among the seeded ones.
const NORTHWIND: usize = 3_000;

fn model() -> Model {
    crate::dataverse::model::DataverseModel::default().model
}

/// The schema with the default Quick Find indexes, 200 seeded accounts, and [`NORTHWIND`]
/// accounts named `Northwind 00000` … in mixed case.
fn store(model: &Model) -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    create_tables(&conn, model).unwrap();
    let owner = uuid::Uuid::from_u128(1);
    crate::store::seed::seed(&mut conn, model, 200, 7, owner, owner).unwrap();
    let find = crate::dataverse::model::DataverseModel::default().find_columns;
    create_find_indexes(&conn, model, &find).unwrap();
    conn.execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})
         INSERT INTO account (accountid, name, createdon, statecode, versionnumber)
         SELECT randomblob(16),
                CASE i % 3 WHEN 0 THEN 'Northwind ' WHEN 1 THEN 'NORTHWIND ' ELSE 'northwind ' END
                    || printf('%05d', i / 2),
                1700000000 + i, i % 2, i
         FROM n",
        NORTHWIND - 1
    ))
    .unwrap();
    conn
}

fn account(model: &Model) -> &EntityType {
    model.entity_type("account").unwrap()
}

fn filter(model: &Model, text: &str) -> SqlFilter {
    let entity = account(model);
    let typed = bind_typed_filter(model, entity, &parse_filter(text).unwrap(), &[]).unwrap();
    let ctx = QueryContext {
        user: uuid::Uuid::nil(),
        business_unit: uuid::Uuid::nil(),
        now: 0,
    };
    SqlFilter::all(vec![typed_filter_sql(model, entity, &typed, ctx).unwrap()]).unwrap()
}

/// The page spec the collection handler makes of `$select`, `$filter`, `$orderby`, `$top`.
fn spec(model: &Model, select: &[&str], filter_text: &str, orderby: &str, top: usize) -> PageSpec {
    let entity = account(model);
    let mut columns: Vec<Column> = select
        .iter()
        .chain([&"accountid"])
        .map(|n| {
            let p = entity.property(n).unwrap();
            Column {
                name: p.name.clone(),
                edm_type: p.edm_type,
                scale: p.scale,
                expr: None,
            }
        })
        .collect();
    columns.dedup_by(|a, b| a.name == b.name);
    let order = bind_orderby(entity, &parse_orderby(orderby).unwrap()).unwrap();
    PageSpec {
        columns,
        filter: (!filter_text.is_empty()).then(|| filter(model, filter_text)),
        order: order_columns(model, entity, &order),
        after: None,
        limit: top,
        offset: 0,
        count: false,
        annotations: None,
        omit_nulls: false,
        etag: true,
        parent: None,
    }
}

fn plan(conn: &Connection, sql: &str, params: &[Value]) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt
        .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

/// Runs `sql` to the end: (rows, virtual-machine steps, sorts).
fn work(conn: &Connection, sql: &str, params: &[Value]) -> (usize, i32, i32) {
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query(params_from_iter(params.iter())).unwrap();
    let mut n = 0;
    while rows.next().unwrap().is_some() {
        n += 1;
    }
    drop(rows);
    let steps = stmt.get_status(StatementStatus::VmStep);
    let sorts = stmt.get_status(StatementStatus::Sort);
    (n, steps, sorts)
}

fn type_ahead(model: &Model) -> PageSpec {
    spec(
        model,
        &["name", "accountnumber", "revenue"],
        "startswith(name,'Northwind')",
        "name",
        50,
    )
}

/// The type-ahead query reads a range of the name index in order: no sort, and about as
/// many steps as rows returned, not as rows matching.
#[test]
fn startswith_with_orderby_reads_a_range_of_the_name_index_without_sorting() {
    let model = model();
    let conn = store(&model);
    let (sql, params) = page_sql(account(&model), &type_ahead(&model));
    let plan = plan(&conn, &sql, &params);
    assert!(
        plan.contains("INDEX account_name (name>? AND name<?)"),
        "{sql}\n{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    let (rows, steps, sorts) = work(&conn, &sql, &params);
    assert_eq!((rows, sorts), (51, 0));
    assert!(steps < 4_000, "{steps} steps for 51 of {NORTHWIND} rows");
}

/// A continuation page deep in the range seeks to its boundary instead of walking the
/// prefix's rows from the first (the keyset's bound wins over the LIKE's).
#[test]
fn the_continuation_of_an_ordered_startswith_seeks_to_its_boundary() {
    let model = model();
    let conn = store(&model);
    let entity = account(&model);
    let mut spec = type_ahead(&model);
    // The boundary of a page ending at the 2,900th Northwind row.
    let deep: (String, Vec<u8>) = conn
        .query_row(
            "SELECT name, accountid FROM account WHERE name LIKE 'northwind%' \
             ORDER BY name, accountid LIMIT 1 OFFSET 2899",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    spec.after = Some(vec![
        Boundary {
            column: "name".into(),
            first: Value::Text(deep.0.clone()),
            last: Value::Text(deep.0.clone()),
        },
        Boundary {
            column: "accountid".into(),
            first: Value::Blob(deep.1.clone()),
            last: Value::Blob(deep.1.clone()),
        },
    ]);
    let (sql, params) = page_sql(entity, &spec);
    let plan = plan(&conn, &sql, &params);
    assert!(plan.contains("INDEX account_name"), "{sql}\n{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    let (rows, steps, sorts) = work(&conn, &sql, &params);
    assert_eq!((rows, sorts), (51, 0));
    assert!(
        steps < 4_000,
        "{steps} steps for 51 rows after the 2,900th of {NORTHWIND}: walked from the first"
    );
    // And the rows are those after the boundary, in order.
    let page = query_page(&conn, entity, &spec).unwrap();
    assert_eq!((page.rows.len(), page.more), (50, true));
}

/// `$orderby=createdon desc` with a filter on another column and `$top` walks the createdon
/// index backwards; at most the ties of one createdon are sorted, never the table.
#[test]
fn createdon_desc_with_top_walks_the_createdon_index() {
    let model = model();
    let conn = store(&model);
    let spec = spec(&model, &["name"], "statecode eq 0", "createdon desc", 50);
    let (sql, params) = page_sql(account(&model), &spec);
    let plan = plan(&conn, &sql, &params);
    assert!(plan.contains("INDEX account_createdon"), "{sql}\n{plan}");
    assert!(!plan.contains("USE TEMP B-TREE FOR ORDER BY"), "{plan}");
    let (rows, steps, _) = work(&conn, &sql, &params);
    assert_eq!(rows, 51);
    assert!(steps < 8_000, "{steps} steps");
}

/// `eq` on a lookup, on the primary name and on a Quick Find column, and `in` on one, read
/// their index.
#[test]
fn eq_and_in_on_indexed_columns_search_their_index() {
    let model = model();
    let conn = store(&model);
    let contact: Vec<u8> = conn
        .query_row("SELECT contactid FROM contact LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let contact = uuid::Uuid::from_slice(&contact).unwrap();
    for (f, index) in [
        (
            format!("_primarycontactid_value eq {contact}"),
            "account__primarycontactid_value",
        ),
        ("name eq 'northwind 00042'".to_owned(), "account_name"),
        (
            "accountnumber in ('A-1','A-2')".to_owned(),
            "account_accountnumber",
        ),
        ("telephone1 eq '555-0100'".to_owned(), "account_telephone1"),
    ] {
        let spec = spec(&model, &["name"], &f, "name", 50);
        let (sql, params) = page_sql(account(&model), &spec);
        let plan = plan(&conn, &sql, &params);
        assert!(
            plan.contains(&format!("INDEX {index} (")),
            "{f}\n{sql}\n{plan}"
        );
    }
}

/// What cannot use an index, as in Dataverse: `contains` and `endswith` scan.
#[test]
fn contains_and_endswith_scan() {
    let model = model();
    let conn = store(&model);
    for f in ["contains(name,'wind')", "endswith(name,'042')"] {
        let spec = spec(&model, &["name"], f, "accountid", 50);
        let (sql, params) = page_sql(account(&model), &spec);
        let plan = plan(&conn, &sql, &params);
        assert!(plan.starts_with("SCAN account"), "{f}\n{plan}");
    }
}

/// Every plain index is created with the tables, none is unique, and a store that lacks
/// them (made by an older emulator) gets them when its tables are created again.
#[test]
fn the_plain_indexes_come_with_the_tables_and_refuse_nothing() {
    let model = model();
    let conn = Connection::open_in_memory().unwrap();
    create_tables(&conn, &model).unwrap();
    let mut find = FindColumns::default();
    find.add("account", ["websiteurl".to_owned(), "name".to_owned()]);
    create_find_indexes(&conn, &model, &find).unwrap();
    let indexes = |conn: &Connection| -> Vec<String> {
        conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'account' \
             ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let made = indexes(&conn);
    for want in ["account_name", "account_websiteurl", "account_createdon"] {
        assert!(made.iter().any(|n| n == want), "{want} in {made:?}");
    }
    let unique: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql LIKE 'CREATE UNIQUE%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unique, 0);
    conn.execute_batch("DROP INDEX account_name").unwrap();
    create_tables(&conn, &model).unwrap();
    create_tables(&conn, &model).unwrap();
    assert_eq!(indexes(&conn), made);
}
