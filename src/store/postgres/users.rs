//! Accounts: the store's `Users` operations on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{self, USER_COLUMNS, row};
use super::writer::Work;
use super::{PgStore, is_unique_violation};
use crate::domain::{Timestamp, User};
use crate::error::{AppError, Result};
use crate::store::{Credentials, NewUser, UserQuery, Users, nothing};

pub(super) async fn user_exists<C: GenericClient>(c: &C, id: i64) -> Result<bool> {
    Ok(row(c, "SELECT 1 FROM users WHERE id = $1", &[&id])
        .await?
        .is_some())
}

/// Inserts a user; a taken username (any case) is `username_taken`.
pub(super) async fn insert_user<C: GenericClient>(tx: &C, new: &NewUser, now: Timestamp) -> Result<User> {
    let display_lower = new.display_name.as_str().to_lowercase();
    let statement = tx
        .prepare_cached(
            "INSERT INTO users (username, display_name, display_lower, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .await?;
    let inserted = tx
        .query_one(
            &statement,
            &[
                &new.username.as_str(),
                &new.display_name.as_str(),
                &display_lower,
                &new.password_hash,
                &now.0,
            ],
        )
        .await;
    match inserted {
        Ok(r) => Ok(User {
            id: rows::get(&r, 0)?,
            username: new.username.as_str().to_string(),
            display_name: new.display_name.as_str().to_string(),
            online: false,
            last_seen_at: None,
            created_at: now,
        }),
        Err(e) if is_unique_violation(&e) => Err(AppError::UsernameTaken),
        Err(e) => Err(e.into()),
    }
}

/// `LIKE` pattern for a prefix: its wildcards escaped.
fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[async_trait]
impl Users for PgStore {
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.writer
            .submit(
                Work::Script(Box::new(move |tx| {
                    Box::pin(async move { insert_user(tx, &new, Timestamp::now()).await })
                })),
                |_: &User| {},
            )
            .await
    }

    async fn username_taken(&self, username: &str) -> Result<bool> {
        let c = self.client().await?;
        Ok(row(
            &c,
            "SELECT 1 FROM users WHERE lower(username) = lower($1)",
            &[&username],
        )
        .await?
        .is_some())
    }

    async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {USER_COLUMNS}, password_hash, disabled_at FROM users WHERE lower(username) = lower($1)"
        );
        match row(&c, &sql, &[&username]).await? {
            Some(r) => Ok(Some(Credentials {
                user: rows::user(&r)?,
                password_hash: rows::get(&r, 5)?,
                disabled: rows::get::<Option<i64>>(&r, 6)?.is_some(),
            })),
            None => Ok(None),
        }
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        let c = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        row(&c, &sql, &[&id]).await?.as_ref().map(rows::user).transpose()
    }

    async fn user_exists(&self, id: i64) -> Result<bool> {
        let c = self.client().await?;
        user_exists(&c, id).await
    }

    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>> {
        let c = self.client().await?;
        let fetch = i64::from(query.fetch);
        let found = match &query.prefix {
            None => {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
                rows::rows(&c, &sql, &[&query.after, &fetch]).await?
            }
            Some(prefix) => {
                let pattern = prefix_pattern(prefix);
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE id > $1 AND (lower(username) LIKE $2 ESCAPE '\\' OR display_lower LIKE $2 ESCAPE '\\')
                     ORDER BY id LIMIT $3"
                );
                rows::rows(&c, &sql, &[&query.after, &pattern, &fetch]).await?
            }
        };
        found.iter().map(rows::user).collect()
    }

    async fn set_last_seen(&self, user_id: i64, at: Timestamp) -> Result<()> {
        let call = Work::Call {
            sql: "UPDATE users SET last_seen_at = $1 WHERE id = $2",
            params: vec![Box::new(at.0), Box::new(user_id)],
            parse: Box::new(|_| Ok(())),
            logs: None,
        };
        self.writer.submit(call, nothing::<()>()).await
    }
}
