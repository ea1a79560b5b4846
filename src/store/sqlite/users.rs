//! Accounts: the `users` table and the store's `Users` operations.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::domain::{Timestamp, User};
use crate::error::{AppError, Result};
use crate::store::{Credentials, NewUser, UserQuery, Users};

pub(super) const USER_COLUMNS: &str = "id, username, display_name, last_seen_at, created_at";

pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        online: false,
        last_seen_at: row.get::<_, Option<i64>>(3)?.map(Timestamp),
        created_at: Timestamp(row.get(4)?),
    })
}

/// Inserts a user; a taken username (any case) is `username_taken`.
pub(super) fn insert_user(
    conn: &Connection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    now: Timestamp,
) -> Result<User> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO users (username, display_name, display_lower, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let inserted = stmt.execute(params![
        username,
        display_name,
        display_name.to_lowercase(),
        password_hash,
        now.0
    ]);
    match inserted {
        Ok(_) => Ok(User {
            id: conn.last_insert_rowid(),
            username: username.to_string(),
            display_name: display_name.to_string(),
            online: false,
            last_seen_at: None,
            created_at: now,
        }),
        Err(e) if super::is_unique_violation(&e) => Err(AppError::UsernameTaken),
        Err(e) => Err(e.into()),
    }
}

fn username_exists(conn: &Connection, username: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM users WHERE username = ?1")?;
    Ok(stmt.exists([username])?)
}

pub(super) fn user_by_id(conn: &Connection, id: i64) -> Result<Option<User>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?;
    Ok(stmt.query_row([id], user_from_row).optional()?)
}

pub(super) fn user_exists(conn: &Connection, id: i64) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM users WHERE id = ?1")?;
    Ok(stmt.exists([id])?)
}

/// The user and their password hash, for login.
fn credentials_by_username(conn: &Connection, username: &str) -> Result<Option<Credentials>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, password_hash, disabled_at FROM users WHERE username = ?1"
    ))?;
    let found = stmt
        .query_row([username], |row| {
            Ok(Credentials {
                user: user_from_row(row)?,
                password_hash: row.get(5)?,
                disabled: row.get::<_, Option<i64>>(6)?.is_some(),
            })
        })
        .optional()?;
    Ok(found)
}

/// Users by id after `after`; with a prefix, only those whose username or
/// display name starts with it (case-insensitive). Returns up to `fetch`.
fn list_users(conn: &Connection, prefix: Option<&str>, after: i64, fetch: u32) -> Result<Vec<User>> {
    let rows = match prefix {
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT {fetch}"
            ))?;
            // A literal LIMIT: a bound one re-prepares on every call.
            stmt.query_map(params![after], user_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        Some(prefix) => {
            let pattern = format!("{}%", escape_like(prefix));
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                 WHERE id > ?1 AND (username LIKE ?2 ESCAPE '\\' OR display_lower LIKE ?2 ESCAPE '\\')
                 ORDER BY id LIMIT ?3"
            ))?;
            stmt.query_map(params![after, pattern, fetch], user_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(rows)
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn set_last_seen(conn: &Connection, user_id: i64, at: Timestamp) -> Result<()> {
    let mut stmt = conn.prepare_cached("UPDATE users SET last_seen_at = ?1 WHERE id = ?2")?;
    stmt.execute(params![at.0, user_id])?;
    Ok(())
}

#[async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.db
            .write(move |conn| {
                insert_user(
                    conn,
                    new.username.as_str(),
                    new.display_name.as_str(),
                    &new.password_hash,
                    Timestamp::now(),
                )
            })
            .await
    }

    async fn username_taken(&self, username: &str) -> Result<bool> {
        let username = username.to_string();
        self.db.read(move |conn| username_exists(conn, &username)).await
    }

    async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let username = username.to_string();
        self.db
            .read(move |conn| credentials_by_username(conn, &username))
            .await
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        self.db.read(move |conn| user_by_id(conn, id)).await
    }

    async fn user_exists(&self, id: i64) -> Result<bool> {
        self.db.read(move |conn| user_exists(conn, id)).await
    }

    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>> {
        self.db
            .read(move |conn| list_users(conn, query.prefix.as_deref(), query.after, query.fetch))
            .await
    }

    async fn set_last_seen(&self, user_id: i64, at: Timestamp) -> Result<()> {
        self.db.write(move |conn| set_last_seen(conn, user_id, at)).await
    }
}
