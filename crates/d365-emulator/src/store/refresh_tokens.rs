//! Issued refresh tokens. Only a SHA-256 hash of each token is stored, so a copied database
//! file does not hand out sessions.

use rusqlite::{Connection, OptionalExtension, params};

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The user's object id.
    pub user_oid: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The resource it was first issued for.
    pub resource: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds of the last use (for inactivity expiry).
    pub last_used_at: i64,
    /// Revoked (sign-out, admin revoke).
    pub revoked: bool,
}

pub(super) fn create_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _entra_refresh_tokens (
            token_hash BLOB PRIMARY KEY,
            client_id TEXT NOT NULL,
            user_oid TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            resource TEXT NOT NULL,
            issued_at INTEGER NOT NULL,
            last_used_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS _entra_refresh_tokens_user ON _entra_refresh_tokens(user_oid);
        CREATE INDEX IF NOT EXISTS _entra_refresh_tokens_used ON _entra_refresh_tokens(last_used_at);",
    )
}

fn hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Stores a newly issued token, and forgets the tokens idle for longer than `max_idle_secs`
/// (the refresh grant refuses them as expired anyway).
pub(super) fn insert(
    conn: &Connection,
    token: &str,
    record: &RefreshTokenRecord,
    max_idle_secs: i64,
) -> rusqlite::Result<()> {
    prune(conn, record.issued_at, max_idle_secs)?;
    conn.execute(
        "INSERT INTO _entra_refresh_tokens
            (token_hash, client_id, user_oid, tenant_id, resource, issued_at, last_used_at, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            hash(token),
            record.client_id,
            record.user_oid,
            record.tenant_id,
            record.resource,
            record.issued_at,
            record.last_used_at,
            record.revoked
        ],
    )?;
    Ok(())
}

/// Forgets the tokens idle for longer than `max_idle_secs` at `now`; returns how many.
pub(super) fn prune(conn: &Connection, now: i64, max_idle_secs: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM _entra_refresh_tokens WHERE last_used_at < ?1",
        params![now.saturating_sub(max_idle_secs)],
    )
}

/// Looks a token up.
pub(super) fn find(conn: &Connection, token: &str) -> rusqlite::Result<Option<RefreshTokenRecord>> {
    conn.query_row(
        "SELECT client_id, user_oid, tenant_id, resource, issued_at, last_used_at, revoked
         FROM _entra_refresh_tokens WHERE token_hash = ?1",
        params![hash(token)],
        |r| {
            Ok(RefreshTokenRecord {
                client_id: r.get(0)?,
                user_oid: r.get(1)?,
                tenant_id: r.get(2)?,
                resource: r.get(3)?,
                issued_at: r.get(4)?,
                last_used_at: r.get(5)?,
                revoked: r.get(6)?,
            })
        },
    )
    .optional()
}

/// Records a use (sliding inactivity window).
pub(super) fn touch(conn: &Connection, token: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _entra_refresh_tokens SET last_used_at = ?2 WHERE token_hash = ?1",
        params![hash(token), now],
    )?;
    Ok(())
}

/// Revokes every refresh token of a user; returns how many.
pub(super) fn revoke_user(conn: &Connection, user_oid: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE _entra_refresh_tokens SET revoked = 1 WHERE user_oid = ?1 COLLATE NOCASE AND revoked = 0",
        params![user_oid],
    )
}

impl super::Store {
    /// Stores a newly issued refresh token (its `issued_at` is now), forgetting those idle
    /// for longer than `max_idle_secs`.
    pub async fn insert_refresh_token(
        &self,
        token: String,
        record: RefreshTokenRecord,
        max_idle_secs: i64,
    ) -> rusqlite::Result<()> {
        self.run(move |c| insert(c, &token, &record, max_idle_secs))
            .await
    }

    /// How many refresh tokens are stored (expired ones included, until pruned).
    pub async fn refresh_token_count(&self) -> rusqlite::Result<i64> {
        self.run(|c| {
            c.query_row("SELECT count(*) FROM _entra_refresh_tokens", [], |r| {
                r.get(0)
            })
        })
        .await
    }

    /// Looks a refresh token up.
    pub async fn find_refresh_token(
        &self,
        token: String,
    ) -> rusqlite::Result<Option<RefreshTokenRecord>> {
        self.run(move |c| find(c, &token)).await
    }

    /// Records a use of a refresh token.
    pub async fn touch_refresh_token(&self, token: String, now: i64) -> rusqlite::Result<()> {
        self.run(move |c| touch(c, &token, now)).await
    }

    /// Revokes every refresh token of a user.
    pub async fn revoke_user_refresh_tokens(&self, user_oid: String) -> rusqlite::Result<usize> {
        self.run(move |c| revoke_user(c, &user_oid)).await
    }
}
