//! Where a mirror lives, behind one small trait: SQLite and PostgreSQL implement it, and a new
//! destination (a Delta table, say) is one more implementation next to them.

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::TableSpec;
use crate::error::Result;

/// One page of changes, applied in one transaction: a crash keeps all of it or none, so the
/// delta link stored is always the one after the rows that are there.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Rows created or changed (Web API records, by property name).
    pub upserted: &'a [Value],
    /// Keys of rows deleted.
    pub deleted: &'a [uuid::Uuid],
    /// The delta link to store with them: the last page of a load, or a change set's.
    pub delta_link: Option<&'a str>,
}

/// A destination for mirrored tables.
pub trait Sink: Send + std::fmt::Debug {
    /// Creates the table (and columns added since) if missing; returns its stored delta link.
    fn prepare<'a>(&'a mut self, table: &'a TableSpec) -> BoxFuture<'a, Result<Option<String>>>;

    /// Upserts the batch's rows, deletes its deleted keys and stores its delta link (when it
    /// has one), all in one transaction.
    fn apply<'a>(&'a mut self, table: &'a TableSpec, batch: Batch<'a>)
    -> BoxFuture<'a, Result<()>>;

    /// Forgets the table's rows and delta link (before a new full load).
    fn reset<'a>(&'a mut self, table: &'a TableSpec) -> BoxFuture<'a, Result<()>>;
}

/// SQL identifiers quoted the standard way, which SQLite and PostgreSQL share:
/// `"name"`, a `"` inside doubled.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"col" type[ PRIMARY KEY], …` for a `CREATE TABLE`, with each dialect's column types.
pub(super) fn column_defs(t: &TableSpec, column_type: fn(super::Kind) -> &'static str) -> String {
    t.columns
        .iter()
        .map(|(name, kind)| {
            let pk = if *name == t.key { " PRIMARY KEY" } else { "" };
            format!("{} {}{pk}", ident(name), column_type(*kind))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Kind;

    #[test]
    fn identifiers_are_quoted_and_keys_marked() {
        assert_eq!(ident("name"), "\"name\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        let t = TableSpec {
            entity_set: "accounts".into(),
            name: "account".into(),
            key: "accountid".into(),
            columns: vec![("accountid".into(), Kind::Guid), ("n".into(), Kind::Text)],
        };
        let ty = |k: Kind| if k == Kind::Guid { "uuid" } else { "text" };
        assert_eq!(
            column_defs(&t, ty),
            "\"accountid\" uuid PRIMARY KEY, \"n\" text"
        );
    }
}
