//! The parameters the shapes vary, read from the seeded database itself: prefixes a user types
//! into a lookup box (the start of real account names, cut at a random length), account ids
//! for the lookup filter, name prefixes small enough for an aggregate, and words that occur in
//! no name (for `contains`).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Dataverse's limit on the rows an aggregate query reads (`AggregateQueryRecordLimit`).
pub(crate) const AGGREGATE_LIMIT: usize = 50_000;

/// Words `contains` looks for: none of them is in the seed's vocabulary, so each request
/// reads every name and finds nothing (checked against the data in [`sample`]).
const ABSENT_WORDS: &[&str] = &[
    "Robot", "Quantum", "Zephyr", "Nimbus", "Vertex", "Helix", "Quasar", "Orbit",
];

/// What the shapes draw their parameters from.
#[derive(Debug)]
pub(crate) struct Sample {
    /// Rows in `account`.
    pub(crate) accounts: usize,
    /// Rows in `contact`.
    pub(crate) contacts: usize,
    /// Type-ahead prefixes: at least 3 characters of a real name, at most its first two words.
    pub(crate) prefixes: Vec<String>,
    /// Whole first words (or first two words) of names, each matching between 1 and
    /// [`AGGREGATE_LIMIT`] accounts.
    pub(crate) group_prefixes: Vec<String>,
    /// Account ids (hyphenated, lower case) spread over the table.
    pub(crate) account_ids: Vec<String>,
    /// Words no account name contains.
    pub(crate) absent_words: Vec<String>,
}

/// SplitMix64, so the parameters are the same on every run over the same data.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

/// The first `words` words of `name` (all of it when it has fewer).
fn first_words(name: &str, words: usize) -> &str {
    match name.match_indices(' ').nth(words - 1) {
        Some((at, _)) => &name[..at],
        None => name,
    }
}

/// How many of `names` (lower case) start with each of `candidates`, keeping those that
/// match at least one and at most [`AGGREGATE_LIMIT`].
fn under_aggregate_limit(names: &[String], candidates: Vec<String>) -> Vec<String> {
    candidates
        .into_iter()
        .filter(|c| {
            let lower = c.to_lowercase();
            let n = names.iter().filter(|n| n.starts_with(&lower)).count();
            (1..=AGGREGATE_LIMIT).contains(&n)
        })
        .collect()
}

/// Reads the parameters from the database file at `db` (read-only).
pub(crate) fn sample(db: &Path) -> rusqlite::Result<Sample> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let contacts: i64 = conn.query_row("SELECT count(*) FROM contact", [], |r| r.get(0))?;
    let mut names = Vec::new();
    let mut ids = Vec::new();
    let mut statement = conn.prepare("SELECT accountid, name FROM account")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: Vec<u8> = row.get(0)?;
        ids.push(id);
        names.push(row.get::<_, Option<String>>(1)?.unwrap_or_default());
    }
    let accounts = names.len();
    assert!(accounts > 0, "no accounts in {}", db.display());
    let step = (accounts / 1_000).max(1);
    let account_ids = ids
        .iter()
        .step_by(step)
        .map(|b| {
            uuid::Uuid::from_slice(b)
                .expect("a 16-byte key")
                .to_string()
        })
        .collect();

    let mut rng = Rng(16);
    let mut prefixes = Vec::new();
    for name in names.iter().step_by((accounts / 512).max(1)) {
        let most = first_words(name, 2).chars().count();
        if most < 3 {
            continue;
        }
        let len = 3 + rng.below(most - 2);
        prefixes.push(name.chars().take(len).collect::<String>());
    }

    let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let by_words = |words: usize| {
        let distinct: BTreeMap<&str, ()> =
            names.iter().map(|n| (first_words(n, words), ())).collect();
        distinct.into_keys().map(str::to_owned).collect::<Vec<_>>()
    };
    let mut group_prefixes = under_aggregate_limit(&lower, by_words(1));
    if group_prefixes.is_empty() {
        group_prefixes = under_aggregate_limit(&lower, by_words(2));
    }
    assert!(
        !group_prefixes.is_empty(),
        "no name prefix matches at most {AGGREGATE_LIMIT} accounts"
    );

    let absent_words: Vec<String> = ABSENT_WORDS
        .iter()
        .filter(|w| {
            let w = w.to_lowercase();
            !lower.iter().any(|n| n.contains(&w))
        })
        .map(|w| (*w).to_owned())
        .collect();
    assert!(
        !absent_words.is_empty(),
        "every word of {ABSENT_WORDS:?} occurs in some name"
    );
    Ok(Sample {
        accounts,
        contacts: contacts as usize,
        prefixes,
        group_prefixes,
        account_ids,
        absent_words,
    })
}
