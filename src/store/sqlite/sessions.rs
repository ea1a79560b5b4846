//! Sessions (v2) on SQLite: logins, refresh-token rotation with reuse
//! detection, revocation and its numbered log, and the operator's account
//! changes (the store's `Sessions` operations).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::log::{self, Audience};
use super::users::{USER_COLUMNS, insert_user, user_by_id, user_from_row};
use crate::domain::{DisplayName, Timestamp, User};
use crate::error::{AppError, Result};
use crate::events::ChatEvent;
use crate::store::{
    Account, NewSession, NewUser, RefreshGrant, Refreshed, Renamed, SessionAuth, SessionRecord, Sessions,
    Then,
};

const SESSION_COLUMNS: &str =
    "id, user_id, device_name, user_agent, ip, created_at, last_used_at, refresh_expires_at";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        device_name: row.get(2)?,
        user_agent: row.get(3)?,
        ip: row.get(4)?,
        created_at: Timestamp(row.get(5)?),
        last_used_at: Timestamp(row.get(6)?),
        refresh_expires_at: Timestamp(row.get(7)?),
    })
}

fn session_by_id(conn: &Connection, id: i64) -> Result<SessionRecord> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"))?;
    stmt.query_row([id], session_from_row)
        .optional()?
        .ok_or_else(|| AppError::internal(format_args!("session {id} vanished")))
}

fn insert_session(
    conn: &Connection,
    user_id: i64,
    new: &NewSession,
    now: Timestamp,
) -> Result<SessionRecord> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO sessions (user_id, device_name, user_agent, ip, created_at, last_used_at,
                               refresh_hash, refresh_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        user_id,
        new.device_name,
        new.user_agent,
        new.ip,
        now.0,
        new.refresh.hash,
        new.refresh.expires_at.0
    ])?;
    Ok(SessionRecord {
        id: conn.last_insert_rowid(),
        user_id,
        device_name: new.device_name.clone(),
        user_agent: new.user_agent.clone(),
        ip: new.ip.clone(),
        created_at: now,
        last_used_at: now,
        refresh_expires_at: new.refresh.expires_at,
    })
}

/// Revokes the session if it is live, logging the revocation; true if it
/// was live.
fn revoke(conn: &Connection, session_id: i64, now: Timestamp) -> Result<bool> {
    let changed = conn
        .prepare_cached("UPDATE sessions SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")?
        .execute(params![now.0, session_id])?;
    if changed == 0 {
        return Ok(false);
    }
    conn.prepare_cached("INSERT INTO session_revocations (session_id, revoked_at) VALUES (?1, ?2)")?
        .execute(params![session_id, now.0])?;
    // A spent token of a revoked session is refused like any unknown one.
    conn.prepare_cached("DELETE FROM spent_refresh_tokens WHERE session_id = ?1")?
        .execute([session_id])?;
    Ok(true)
}

/// Revokes every live session of the user but `keep`; returns their ids.
fn revoke_all(conn: &Connection, user_id: i64, keep: Option<i64>, now: Timestamp) -> Result<Vec<i64>> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL")?
        .query_map([user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut revoked = Vec::with_capacity(ids.len());
    for id in ids.into_iter().filter(|id| Some(*id) != keep) {
        if revoke(conn, id, now)? {
            revoked.push(id);
        }
    }
    Ok(revoked)
}

fn user_by_name(conn: &Connection, username: &str) -> Result<User> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?;
    stmt.query_row([username], user_from_row)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no user named {username}")))
}

fn refresh(conn: &Connection, hash: &str, next: &RefreshGrant, now: Timestamp) -> Result<Refreshed> {
    let current = conn
        .prepare_cached(
            "SELECT s.id, s.user_id, s.revoked_at IS NOT NULL, s.refresh_expires_at, u.disabled_at IS NOT NULL
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.refresh_hash = ?1",
        )?
        .query_row([hash], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })
        .optional()?;
    let Some((session_id, user_id, revoked, expires_at, disabled)) = current else {
        let spent: Option<i64> = conn
            .prepare_cached("SELECT session_id FROM spent_refresh_tokens WHERE hash = ?1")?
            .query_row([hash], |r| r.get(0))
            .optional()?;
        return match spent {
            Some(session_id) if revoke(conn, session_id, now)? => Ok(Refreshed::Reused { session_id }),
            _ => Ok(Refreshed::Refused),
        };
    };
    if revoked || disabled || expires_at <= now.0 {
        return Ok(Refreshed::Refused);
    }
    conn.prepare_cached("INSERT INTO spent_refresh_tokens (hash, session_id, spent_at) VALUES (?1, ?2, ?3)")?
        .execute(params![hash, session_id, now.0])?;
    conn.prepare_cached(
        "UPDATE sessions SET refresh_hash = ?1, refresh_expires_at = ?2, last_used_at = ?3 WHERE id = ?4",
    )?
    .execute(params![next.hash, next.expires_at.0, now.0, session_id])?;
    let user = user_by_id(conn, user_id)?.ok_or_else(|| AppError::internal("a session's user vanished"))?;
    Ok(Refreshed::Rotated {
        user,
        session: session_by_id(conn, session_id)?,
    })
}

/// The users who share a chat with `user_id`, the user included.
fn audience(conn: &Connection, user_id: i64) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT other.user_id FROM chat_members mine
             JOIN chat_members other ON other.chat_id = mine.chat_id
             WHERE mine.user_id = ?1",
        )?
        .query_map([user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !ids.contains(&user_id) {
        ids.push(user_id);
    }
    Ok(ids)
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn register(&self, new: NewUser, session: NewSession) -> Result<(User, SessionRecord)> {
        self.db
            .write(move |conn| {
                let now = Timestamp::now();
                let user = insert_user(
                    conn,
                    new.username.as_str(),
                    new.display_name.as_str(),
                    &new.password_hash,
                    now,
                )?;
                let session = insert_session(conn, user.id, &session, now)?;
                Ok((user, session))
            })
            .await
    }

    async fn open_session(&self, user_id: i64, session: NewSession) -> Result<SessionRecord> {
        self.db
            .write(move |conn| insert_session(conn, user_id, &session, Timestamp::now()))
            .await
    }

    async fn session_auth(&self, session_id: i64) -> Result<Option<SessionAuth>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT user_id, revoked_at IS NOT NULL, last_used_at FROM sessions WHERE id = ?1",
                    )?
                    .query_row([session_id], |r| {
                        Ok(SessionAuth {
                            user_id: r.get(0)?,
                            revoked: r.get(1)?,
                            last_used_at: Timestamp(r.get(2)?),
                        })
                    })
                    .optional()?)
            })
            .await
    }

    async fn touch_session(&self, session_id: i64, at: Timestamp) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE sessions SET last_used_at = ?1 WHERE id = ?2 AND last_used_at < ?1",
                )?
                .execute(params![at.0, session_id])?;
                Ok(())
            })
            .await
    }

    async fn refresh(&self, hash: String, next: RefreshGrant) -> Result<Refreshed> {
        self.db
            .write(move |conn| refresh(conn, &hash, &next, Timestamp::now()))
            .await
    }

    async fn live_sessions(&self, user_id: i64) -> Result<Vec<SessionRecord>> {
        self.db
            .read(move |conn| {
                let now = Timestamp::now();
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions
                         WHERE user_id = ?1 AND revoked_at IS NULL AND refresh_expires_at > ?2
                         ORDER BY last_used_at DESC, id DESC"
                    ))?
                    .query_map(params![user_id, now.0], session_from_row)?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn revoke_session(&self, user_id: i64, session_id: i64) -> Result<()> {
        self.db
            .write(move |conn| {
                let owner: Option<i64> = conn
                    .prepare_cached("SELECT user_id FROM sessions WHERE id = ?1 AND revoked_at IS NULL")?
                    .query_row([session_id], |r| r.get(0))
                    .optional()?;
                if owner != Some(user_id) || !revoke(conn, session_id, Timestamp::now())? {
                    return Err(AppError::NotFound(format!("session {session_id} does not exist")));
                }
                Ok(())
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
        self.db
            .write(move |conn| {
                let now = Timestamp::now();
                let kept = conn
                    .prepare_cached(
                        "UPDATE sessions SET refresh_hash = ?1, refresh_expires_at = ?2, last_used_at = ?3
                         WHERE id = ?4 AND user_id = ?5 AND revoked_at IS NULL",
                    )?
                    .execute(params![refresh.hash, refresh.expires_at.0, now.0, keep, user_id])?;
                if kept == 0 {
                    return Err(AppError::Unauthorized("this session was revoked"));
                }
                conn.prepare_cached("UPDATE users SET password_hash = ?1 WHERE id = ?2")?
                    .execute(params![password_hash, user_id])?;
                let revoked = revoke_all(conn, user_id, Some(keep), now)?;
                Ok((session_by_id(conn, keep)?, revoked))
            })
            .await
    }

    async fn rename(&self, user_id: i64, name: DisplayName, then: Then<Renamed>) -> Result<Renamed> {
        self.db
            .write_then(
                move |conn| {
                    let changed = conn
                        .prepare_cached(
                            "UPDATE users SET display_name = ?1, display_lower = ?2
                             WHERE id = ?3 AND display_name <> ?1",
                        )?
                        .execute(params![name.as_str(), name.as_str().to_lowercase(), user_id])?
                        > 0;
                    let user = user_by_id(conn, user_id)?.ok_or(AppError::UserNotFound(user_id))?;
                    let events = if changed {
                        let to = audience(conn, user_id)?;
                        let updated = ChatEvent::UserUpdated(user.clone());
                        vec![log::record(conn, &updated, Audience::Users(&to))?]
                    } else {
                        Vec::new()
                    };
                    Ok(Renamed {
                        user,
                        changed,
                        events,
                    })
                },
                then,
            )
            .await
    }

    async fn revocations_after(&self, seq: i64) -> Result<Vec<(i64, i64)>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT seq, session_id FROM session_revocations WHERE seq > ?1 ORDER BY seq LIMIT 10000",
                    )?
                    .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn last_revocation(&self) -> Result<i64> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM session_revocations")?
                    .query_row([], |r| r.get(0))?)
            })
            .await
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        self.db
            .read(|conn| {
                let now = Timestamp::now();
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS}, disabled_at IS NOT NULL,
                                (SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id
                                   AND s.revoked_at IS NULL AND s.refresh_expires_at > ?1)
                         FROM users ORDER BY id"
                    ))?
                    .query_map([now.0], |r| {
                        Ok(Account {
                            user: user_from_row(r)?,
                            disabled: r.get(5)?,
                            live_sessions: r.get(6)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(User, Vec<i64>)> {
        let username = username.to_string();
        self.db
            .write(move |conn| {
                let now = Timestamp::now();
                let user = user_by_name(conn, &username)?;
                let at = disabled.then_some(now.0);
                conn.prepare_cached("UPDATE users SET disabled_at = ?1 WHERE id = ?2")?
                    .execute(params![at, user.id])?;
                let revoked = if disabled {
                    revoke_all(conn, user.id, None, now)?
                } else {
                    Vec::new()
                };
                Ok((user, revoked))
            })
            .await
    }

    async fn reset_password(&self, username: &str, password_hash: String) -> Result<(User, Vec<i64>)> {
        let username = username.to_string();
        self.db
            .write(move |conn| {
                let user = user_by_name(conn, &username)?;
                conn.prepare_cached("UPDATE users SET password_hash = ?1 WHERE id = ?2")?
                    .execute(params![password_hash, user.id])?;
                let revoked = revoke_all(conn, user.id, None, Timestamp::now())?;
                Ok((user, revoked))
            })
            .await
    }
}
