//! Sessions (v2) on PostgreSQL: logins, refresh-token rotation with reuse
//! detection, revocation and its numbered log, and the operator's account
//! changes (the store's `Sessions` operations). Every write goes through
//! the node's writer, under the ordering lock, so the log's numbers grow in
//! commit order across the cluster.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use super::log;
use super::rows::{self, USER_COLUMNS, execute, row};
use super::users::insert_user;
use super::writer::Work;
use crate::domain::{DisplayName, Timestamp, User};
use crate::error::{AppError, Result};
use crate::events::ChatEvent;
use crate::store::{
    Account, NewSession, NewUser, RefreshGrant, Refreshed, Renamed, SessionAuth, SessionRecord, Sessions,
    Then, nothing,
};

const SESSION_COLUMNS: &str =
    "id, user_id, device_name, user_agent, ip, created_at, last_used_at, refresh_expires_at";

fn session(r: &Row) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: rows::get(r, 0)?,
        user_id: rows::get(r, 1)?,
        device_name: rows::get(r, 2)?,
        user_agent: rows::get(r, 3)?,
        ip: rows::get(r, 4)?,
        created_at: Timestamp(rows::get(r, 5)?),
        last_used_at: Timestamp(rows::get(r, 6)?),
        refresh_expires_at: Timestamp(rows::get(r, 7)?),
    })
}

async fn session_by_id<C: GenericClient>(c: &C, id: i64) -> Result<SessionRecord> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    match row(c, &sql, &[&id]).await? {
        Some(r) => session(&r),
        None => Err(AppError::internal(format_args!("session {id} vanished"))),
    }
}

async fn insert_session<C: GenericClient>(
    c: &C,
    user_id: i64,
    new: &NewSession,
    now: Timestamp,
) -> Result<SessionRecord> {
    let sql = format!(
        "INSERT INTO sessions (user_id, device_name, user_agent, ip, created_at, last_used_at,
                               refresh_hash, refresh_expires_at)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7) RETURNING {SESSION_COLUMNS}"
    );
    let inserted = row(
        c,
        &sql,
        &[
            &user_id,
            &new.device_name,
            &new.user_agent,
            &new.ip,
            &now.0,
            &new.refresh.hash,
            &new.refresh.expires_at.0,
        ],
    )
    .await?
    .ok_or_else(|| AppError::internal("INSERT … RETURNING gave no row"))?;
    session(&inserted)
}

/// Revokes the session if it is live, logging the revocation; true if it
/// was live.
async fn revoke<C: GenericClient>(c: &C, session_id: i64, now: Timestamp) -> Result<bool> {
    let changed = execute(
        c,
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        &[&now.0, &session_id],
    )
    .await?;
    if changed == 0 {
        return Ok(false);
    }
    execute(
        c,
        "INSERT INTO session_revocations (session_id, revoked_at) VALUES ($1, $2)",
        &[&session_id, &now.0],
    )
    .await?;
    execute(
        c,
        "DELETE FROM spent_refresh_tokens WHERE session_id = $1",
        &[&session_id],
    )
    .await?;
    Ok(true)
}

/// Revokes every live session of the user but `keep`; returns their ids.
async fn revoke_all<C: GenericClient>(
    c: &C,
    user_id: i64,
    keep: Option<i64>,
    now: Timestamp,
) -> Result<Vec<i64>> {
    let found = rows::rows(
        c,
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
        &[&user_id],
    )
    .await?;
    let mut revoked = Vec::with_capacity(found.len());
    for r in &found {
        let id: i64 = rows::get(r, 0)?;
        if Some(id) != keep && revoke(c, id, now).await? {
            revoked.push(id);
        }
    }
    Ok(revoked)
}

async fn user_by_name<C: GenericClient>(c: &C, username: &str) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)");
    match row(c, &sql, &[&username]).await? {
        Some(r) => rows::user(&r),
        None => Err(AppError::NotFound(format!("no user named {username}"))),
    }
}

async fn refresh<C: GenericClient>(
    c: &C,
    hash: &str,
    next: &RefreshGrant,
    now: Timestamp,
) -> Result<Refreshed> {
    let current = row(
        c,
        "SELECT s.id, s.user_id, s.revoked_at IS NOT NULL, s.refresh_expires_at, u.disabled_at IS NOT NULL
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.refresh_hash = $1 FOR UPDATE OF s",
        &[&hash],
    )
    .await?;
    let Some(current) = current else {
        let spent = row(
            c,
            "SELECT session_id FROM spent_refresh_tokens WHERE hash = $1",
            &[&hash],
        )
        .await?;
        if let Some(spent) = spent {
            let session_id: i64 = rows::get(&spent, 0)?;
            if revoke(c, session_id, now).await? {
                return Ok(Refreshed::Reused { session_id });
            }
        }
        return Ok(Refreshed::Refused);
    };
    let session_id: i64 = rows::get(&current, 0)?;
    let user_id: i64 = rows::get(&current, 1)?;
    let revoked: bool = rows::get(&current, 2)?;
    let expires_at: i64 = rows::get(&current, 3)?;
    let disabled: bool = rows::get(&current, 4)?;
    if revoked || disabled || expires_at <= now.0 {
        return Ok(Refreshed::Refused);
    }
    execute(
        c,
        "INSERT INTO spent_refresh_tokens (hash, session_id, spent_at) VALUES ($1, $2, $3)",
        &[&hash, &session_id, &now.0],
    )
    .await?;
    execute(
        c,
        "UPDATE sessions SET refresh_hash = $1, refresh_expires_at = $2, last_used_at = $3 WHERE id = $4",
        &[&next.hash, &next.expires_at.0, &now.0, &session_id],
    )
    .await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let user = match row(c, &sql, &[&user_id]).await? {
        Some(r) => rows::user(&r)?,
        None => return Err(AppError::internal("a session's user vanished")),
    };
    Ok(Refreshed::Rotated {
        user,
        session: session_by_id(c, session_id).await?,
    })
}

impl PgStore {
    /// Runs `f` as one script job of the writer, its hook doing nothing.
    async fn script<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a deadpool_postgres::Transaction<'a>) -> crate::blobs::BoxFuture<'a, Result<T>>
            + Send
            + 'static,
    {
        self.writer
            .submit(Work::Script(Box::new(f)), nothing::<T>())
            .await
    }
}

#[async_trait]
impl Sessions for PgStore {
    async fn register(&self, new: NewUser, session: NewSession) -> Result<(User, SessionRecord)> {
        self.script(move |tx| {
            Box::pin(async move {
                let now = Timestamp::now();
                let user = insert_user(tx, &new, now).await?;
                let session = insert_session(tx, user.id, &session, now).await?;
                Ok((user, session))
            })
        })
        .await
    }

    async fn open_session(&self, user_id: i64, session: NewSession) -> Result<SessionRecord> {
        self.script(move |tx| {
            Box::pin(async move { insert_session(tx, user_id, &session, Timestamp::now()).await })
        })
        .await
    }

    async fn session_auth(&self, session_id: i64) -> Result<Option<SessionAuth>> {
        let c = self.client().await?;
        let found = row(
            &c,
            "SELECT user_id, revoked_at IS NOT NULL, last_used_at FROM sessions WHERE id = $1",
            &[&session_id],
        )
        .await?;
        found
            .map(|r| {
                Ok(SessionAuth {
                    user_id: rows::get(&r, 0)?,
                    revoked: rows::get(&r, 1)?,
                    last_used_at: Timestamp(rows::get(&r, 2)?),
                })
            })
            .transpose()
    }

    async fn touch_session(&self, session_id: i64, at: Timestamp) -> Result<()> {
        let call = Work::Call {
            sql: "UPDATE sessions SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1",
            params: vec![Box::new(at.0), Box::new(session_id)],
            parse: Box::new(|_| Ok(())),
            logs: None,
        };
        self.writer.submit(call, nothing::<()>()).await
    }

    async fn refresh(&self, hash: String, next: RefreshGrant) -> Result<Refreshed> {
        self.script(move |tx| Box::pin(async move { refresh(tx, &hash, &next, Timestamp::now()).await }))
            .await
    }

    async fn live_sessions(&self, user_id: i64) -> Result<Vec<SessionRecord>> {
        let c = self.client().await?;
        let now = Timestamp::now();
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND refresh_expires_at > $2
             ORDER BY last_used_at DESC, id DESC"
        );
        rows::rows(&c, &sql, &[&user_id, &now.0])
            .await?
            .iter()
            .map(session)
            .collect()
    }

    async fn revoke_session(&self, user_id: i64, session_id: i64) -> Result<()> {
        self.script(move |tx| {
            Box::pin(async move {
                let owner = row(
                    tx,
                    "SELECT user_id FROM sessions WHERE id = $1 AND revoked_at IS NULL",
                    &[&session_id],
                )
                .await?
                .map(|r| rows::get::<i64>(&r, 0))
                .transpose()?;
                if owner != Some(user_id) || !revoke(tx, session_id, Timestamp::now()).await? {
                    return Err(AppError::NotFound(format!("session {session_id} does not exist")));
                }
                Ok(())
            })
        })
        .await
    }

    async fn change_password(
        &self,
        user_id: i64,
        keep: i64,
        password_hash: String,
        refresh: RefreshGrant,
    ) -> Result<(SessionRecord, Vec<i64>)> {
        self.script(move |tx| {
            Box::pin(async move {
                let now = Timestamp::now();
                let kept = execute(
                    tx,
                    "UPDATE sessions SET refresh_hash = $1, refresh_expires_at = $2, last_used_at = $3
                     WHERE id = $4 AND user_id = $5 AND revoked_at IS NULL",
                    &[&refresh.hash, &refresh.expires_at.0, &now.0, &keep, &user_id],
                )
                .await?;
                if kept == 0 {
                    return Err(AppError::Unauthorized("this session was revoked"));
                }
                execute(
                    tx,
                    "UPDATE users SET password_hash = $1 WHERE id = $2",
                    &[&password_hash, &user_id],
                )
                .await?;
                let revoked = revoke_all(tx, user_id, Some(keep), now).await?;
                Ok((session_by_id(tx, keep).await?, revoked))
            })
        })
        .await
    }

    async fn rename(&self, user_id: i64, name: DisplayName, then: Then<Renamed>) -> Result<Renamed> {
        let work = Work::Script(Box::new(move |tx| {
            Box::pin(async move {
                let lower = name.as_str().to_lowercase();
                let changed = execute(
                    tx,
                    "UPDATE users SET display_name = $1, display_lower = $2
                     WHERE id = $3 AND display_name <> $1",
                    &[&name.as_str(), &lower, &user_id],
                )
                .await?
                    > 0;
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let user = match row(tx, &sql, &[&user_id]).await? {
                    Some(r) => rows::user(&r)?,
                    None => return Err(AppError::UserNotFound(user_id)),
                };
                let mut audience = Vec::new();
                let mut events = Vec::new();
                if changed {
                    let found = rows::rows(
                        tx,
                        "SELECT DISTINCT other.user_id FROM chat_members mine
                         JOIN chat_members other ON other.chat_id = mine.chat_id
                         WHERE mine.user_id = $1",
                        &[&user_id],
                    )
                    .await?;
                    for r in &found {
                        audience.push(rows::get::<i64>(r, 0)?);
                    }
                    if !audience.contains(&user_id) {
                        audience.push(user_id);
                    }
                    let updated = ChatEvent::UserUpdated(user.clone());
                    events.push(log::record(tx, &updated, log::Audience::Users(&audience)).await?);
                }
                Ok(Renamed {
                    user,
                    changed,
                    events,
                })
            })
        }));
        self.writer.submit(work, then).await
    }

    async fn revocations_after(&self, seq: i64) -> Result<Vec<(i64, i64)>> {
        let c = self.client().await?;
        rows::rows(
            &c,
            "SELECT seq, session_id FROM session_revocations WHERE seq > $1 ORDER BY seq LIMIT 10000",
            &[&seq],
        )
        .await?
        .iter()
        .map(|r| Ok((rows::get(r, 0)?, rows::get(r, 1)?)))
        .collect()
    }

    async fn last_revocation(&self) -> Result<i64> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM session_revocations",
            &[],
        )
        .await?
        .ok_or_else(|| AppError::internal("MAX gave no row"))?;
        rows::get(&r, 0)
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        let c = self.client().await?;
        let now = Timestamp::now();
        let sql = format!(
            "SELECT {USER_COLUMNS}, disabled_at IS NOT NULL,
                    (SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id
                       AND s.revoked_at IS NULL AND s.refresh_expires_at > $1)
             FROM users ORDER BY id"
        );
        rows::rows(&c, &sql, &[&now.0])
            .await?
            .iter()
            .map(|r| {
                Ok(Account {
                    user: rows::user(r)?,
                    disabled: rows::get(r, 5)?,
                    live_sessions: rows::get(r, 6)?,
                })
            })
            .collect()
    }

    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(User, Vec<i64>)> {
        let username = username.to_string();
        self.script(move |tx| {
            Box::pin(async move {
                let now = Timestamp::now();
                let user = user_by_name(tx, &username).await?;
                let at = disabled.then_some(now.0);
                execute(
                    tx,
                    "UPDATE users SET disabled_at = $1 WHERE id = $2",
                    &[&at, &user.id],
                )
                .await?;
                let revoked = if disabled {
                    revoke_all(tx, user.id, None, now).await?
                } else {
                    Vec::new()
                };
                Ok((user, revoked))
            })
        })
        .await
    }

    async fn reset_password(&self, username: &str, password_hash: String) -> Result<(User, Vec<i64>)> {
        let username = username.to_string();
        self.script(move |tx| {
            Box::pin(async move {
                let user = user_by_name(tx, &username).await?;
                execute(
                    tx,
                    "UPDATE users SET password_hash = $1 WHERE id = $2",
                    &[&password_hash, &user.id],
                )
                .await?;
                let revoked = revoke_all(tx, user.id, None, Timestamp::now()).await?;
                Ok((user, revoked))
            })
        })
        .await
    }
}
