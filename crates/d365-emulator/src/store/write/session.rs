//! What the writes of one transaction reuse from row to row, so that a bulk message's
//! thousand rows cost their SQL statements and little else: the version counter (read once,
//! written back once at the end), each table's server-set columns (read once from the model),
//! the SQL text of each statement shape, and the target table found for a polymorphic
//! lookup's id (the default owner of every row is one user).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use d365_odata::model::EntityType;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::schema::{self, ident};

/// At most this many SQL texts and lookup answers are kept (a bulk message has a few shapes).
const KEEP: usize = 64;

/// What one transaction's writes reuse. Created with the transaction and dropped with it;
/// [`Session::finish`] writes the version counter back before the commit.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// The last version handed out (once read from the database).
    version: Cell<Option<i64>>,
    /// Whether `version` is ahead of the database's counter.
    unsaved: Cell<bool>,
    tables: RefCell<Vec<Rc<Table>>>,
    statements: RefCell<Vec<(Shape, Rc<str>)>>,
    /// Ids found: a row found stays found until a delete (which forgets them all) or an
    /// insert into one of its lookup's targets (which forgets those of that lookup).
    found: RefCell<Vec<Found>>,
}

/// A polymorphic lookup's id found: `(its targets, the id, the first target holding it)`.
type Found = (Vec<String>, Vec<u8>, String);

/// The statements of this module, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Insert,
    Update,
    VersionOf,
    FindBy,
}

/// A statement's shape: what it does, on which table, with which columns.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    kind: Kind,
    table: String,
    columns: Vec<String>,
}

/// The server-set columns a table has, as the model says.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) name: String,
    /// `_ownerid_value`, `_transactioncurrencyid_value`: (has owner, has currency).
    pub(super) owner: bool,
    pub(super) currency: bool,
    /// `statecode` and `statuscode` with their first option (a new record's), when it has them.
    pub(super) first_state: Option<i64>,
    pub(super) first_status: Option<i64>,
    /// Of the columns a create stamps, those it has.
    pub(super) created: Vec<&'static str>,
    /// Of the columns an update stamps, those it has.
    pub(super) modified: Vec<&'static str>,
    /// Its polymorphic lookups: (column, the column of its target type, its targets).
    pub(super) polymorphic: Vec<(String, String, Vec<String>)>,
}

/// The columns a create stamps, in the order it sets them.
pub(super) const CREATE_STAMPS: [&str; 8] = [
    "createdon",
    "modifiedon",
    "versionnumber",
    "_createdby_value",
    "_modifiedby_value",
    "_createdonbehalfby_value",
    "_modifiedonbehalfby_value",
    "_owningbusinessunit_value",
];

/// The columns an update stamps, in the order it sets them.
pub(super) const UPDATE_STAMPS: [&str; 4] = [
    "modifiedon",
    "versionnumber",
    "_modifiedby_value",
    "_modifiedonbehalfby_value",
];

impl Table {
    fn of(entity: &EntityType) -> Self {
        let first = |column: &str| {
            entity.property(column).map(|p| {
                p.option_set
                    .as_ref()
                    .and_then(|o| o.options.first())
                    .map_or(0, |(v, _)| i64::from(*v))
            })
        };
        let has = |columns: &[&'static str]| {
            columns
                .iter()
                .copied()
                .filter(|c| entity.property(c).is_some())
                .collect()
        };
        Self {
            name: entity.name.clone(),
            owner: entity.property("_ownerid_value").is_some(),
            currency: entity.property("_transactioncurrencyid_value").is_some(),
            first_state: first("statecode"),
            first_status: first("statuscode"),
            created: has(&CREATE_STAMPS),
            modified: has(&UPDATE_STAMPS),
            polymorphic: schema::polymorphic_lookups(entity)
                .map(|p| {
                    (
                        p.name.clone(),
                        schema::lookup_type_column(&p.name),
                        p.lookup_targets.clone(),
                    )
                })
                .collect(),
        }
    }
}

impl Session {
    /// The next `versionnumber`: the database's counter is read at the first write, then
    /// counted here and written back by [`Session::finish`].
    pub(super) fn next_version(
        &self,
        conn: &Connection,
        entity: &EntityType,
    ) -> rusqlite::Result<i64> {
        let next = match self.version.get() {
            Some(v) => v + 1,
            None => stored_version(conn, entity)?,
        };
        self.version.set(Some(next));
        self.unsaved.set(true);
        Ok(next)
    }

    /// Writes the version counter back (the transaction's last statement before its commit).
    pub(crate) fn finish(&self, conn: &Connection) -> rusqlite::Result<()> {
        if let (true, Some(v)) = (self.unsaved.get(), self.version.get()) {
            conn.prepare_cached(
                "INSERT INTO _emulator_meta (key, value) VALUES ('versionnumber', ?1) \
                 ON CONFLICT(key) DO UPDATE SET value = ?1",
            )?
            .execute(params![v])?;
            self.unsaved.set(false);
        }
        Ok(())
    }

    /// The server-set columns of `entity`.
    pub(super) fn table(&self, entity: &EntityType) -> Rc<Table> {
        let mut tables = self.tables.borrow_mut();
        if let Some(t) = tables.iter().find(|t| t.name == entity.name) {
            return Rc::clone(t);
        }
        let table = Rc::new(Table::of(entity));
        tables.push(Rc::clone(&table));
        table
    }

    /// The SQL of a statement of `kind` on `table` over `columns`, made by `build` the first
    /// time.
    pub(super) fn sql<'a>(
        &self,
        kind: Kind,
        table: &str,
        columns: impl Iterator<Item = &'a str> + Clone,
        build: impl FnOnce() -> String,
    ) -> Rc<str> {
        let mut statements = self.statements.borrow_mut();
        let same = |s: &Shape| {
            s.kind == kind
                && s.table == table
                && s.columns.len() == columns.clone().count()
                && s.columns.iter().map(String::as_str).eq(columns.clone())
        };
        if let Some((_, sql)) = statements.iter().find(|(s, _)| same(s)) {
            return Rc::clone(sql);
        }
        if statements.len() >= KEEP {
            statements.clear();
        }
        let sql: Rc<str> = build().into();
        let shape = Shape {
            kind,
            table: table.to_owned(),
            columns: columns.map(str::to_owned).collect(),
        };
        statements.push((shape, Rc::clone(&sql)));
        sql
    }

    /// The first of `targets` holding a row with key `id`, as [`schema::lookup_target`] finds
    /// it; an id found once is not looked up again.
    pub(super) fn lookup_target(
        &self,
        conn: &Connection,
        targets: &[String],
        id: &[u8],
    ) -> rusqlite::Result<Option<String>> {
        if let Some((_, _, table)) = self
            .found
            .borrow()
            .iter()
            .find(|(t, i, _)| i.as_slice() == id && t.as_slice() == targets)
        {
            return Ok(Some(table.clone()));
        }
        let target = schema::lookup_target(conn, targets, id)?;
        if let Some(table) = &target {
            let mut found = self.found.borrow_mut();
            if found.len() >= KEEP {
                found.clear();
            }
            found.push((targets.to_vec(), id.to_vec(), table.clone()));
        }
        Ok(target)
    }

    /// A row was deleted: ids found may be gone.
    pub(super) fn forget_found(&self) {
        self.found.borrow_mut().clear();
    }

    /// A row was inserted into `table`: an id found in a later target may now be in this
    /// earlier one too.
    pub(super) fn inserted_into(&self, table: &str) {
        let mut found = self.found.borrow_mut();
        if found
            .iter()
            .any(|(targets, _, _)| targets.iter().any(|t| t == table))
        {
            found.retain(|(targets, _, _)| !targets.iter().any(|t| t == table));
        }
    }
}

/// The counter's next value as the database has it: after its stored value, or on the first
/// write of all after the seeded rows.
fn stored_version(conn: &Connection, entity: &EntityType) -> rusqlite::Result<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _emulator_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    )?;
    let current: Option<i64> = conn
        .prepare_cached("SELECT value FROM _emulator_meta WHERE key = 'versionnumber'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(match current {
        Some(v) => v + 1,
        None => {
            let max: Option<i64> = conn.query_row(
                &format!("SELECT max(versionnumber) FROM {}", ident(&entity.name)),
                [],
                |r| r.get(0),
            )?;
            max.unwrap_or(100_000) + 1_000_000
        }
    })
}
