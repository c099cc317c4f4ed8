//! Progress, reported through a callback: the library says what happened, the caller decides
//! how to show it (the CLI draws `indicatif` bars and prints one line per table synced).

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// Rows of an export or import are done (read, written, rejected or found done).
    Rows(u64),
    /// Throttled answers (429 and friends) so far, in total.
    Throttled(u64),
    /// A sync applied a table's changes.
    Changed {
        /// The table's entity set.
        entity_set: &'a str,
        /// Rows created or changed.
        upserted: usize,
        /// Rows deleted.
        deleted: usize,
    },
    /// A sync's delta link expired; every row is loaded again.
    DeltaExpired {
        /// The table's entity set.
        entity_set: &'a str,
    },
    /// A sync loaded every row of a table.
    Loaded {
        /// The table's entity set.
        entity_set: &'a str,
        /// Rows loaded.
        rows: usize,
    },
}

/// The callback progress goes to.
pub type OnProgress<'a> = &'a (dyn Fn(Progress<'_>) + Send + Sync);

/// A callback that ignores everything.
pub fn quiet(_: Progress<'_>) {}
