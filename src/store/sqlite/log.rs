//! The event log (v2): `events`, who hears each (the members of its chat
//! at its `seq`, through `chat_members.joined_seq` and `member_spans`, or
//! the users `event_recipients` names), paging a user's events, and
//! pruning them (the store's `EventLog` operations).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::domain::Timestamp;
use crate::error::{AppError, Result};
use crate::events::{ChatEvent, Logged};
use crate::store::{EventLog, EventPage};

/// Who receives an event.
pub enum Audience<'a> {
    /// The chat's members when it is logged.
    Chat(i64),
    /// These users.
    Users(&'a [i64]),
}

/// Events deleted by one prune job at most (the writer is not held long).
const PRUNE_CHUNK: i64 = 20_000;

/// The next `seq` (the writer is the only one to take one).
pub fn next_seq(conn: &Connection) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "SELECT max(COALESCE((SELECT max(seq) FROM events), 0), (SELECT pruned_through FROM event_log)) + 1",
    )?;
    Ok(stmt.query_row([], |r| r.get(0))?)
}

/// A chat's members now, by id.
pub fn member_ids(conn: &Connection, chat_id: i64) -> Result<Vec<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT user_id FROM chat_members WHERE chat_id = ?1 ORDER BY user_id")?;
    let rows = stmt.query_map([chat_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}

/// Logs `event` as `seq` (from [`next_seq`]) for `audience`.
pub fn record_at(conn: &Connection, seq: i64, event: &ChatEvent, audience: Audience<'_>) -> Result<Logged> {
    let (chat_id, recipients) = match audience {
        Audience::Chat(chat_id) => (Some(chat_id), member_ids(conn, chat_id)?),
        Audience::Users(users) => {
            let mut users = users.to_vec();
            users.sort_unstable();
            users.dedup();
            (None, users)
        }
    };
    let logged = Logged::new(seq, event, chat_id, recipients);
    insert_logged(conn, &logged)?;
    Ok(logged)
}

/// Writes an event whose `seq` and recipients are settled already (and,
/// when it has no chat, its named recipients).
pub fn insert_logged(conn: &Connection, logged: &Logged) -> Result<()> {
    let (seq, chat_id) = (logged.seq, logged.chat_id);
    let data = serde_json::to_string(&logged.data).map_err(AppError::internal)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (seq, chat_id, kind, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    insert.execute(params![seq, chat_id, logged.name, data, Timestamp::now().0])?;
    if chat_id.is_none() {
        let mut to = conn.prepare_cached("INSERT INTO event_recipients (user_id, seq) VALUES (?1, ?2)")?;
        for user in &logged.recipients {
            to.execute(params![user, seq])?;
        }
    }
    Ok(())
}

/// Logs `event` with the next `seq`.
pub fn record(conn: &Connection, event: &ChatEvent, audience: Audience<'_>) -> Result<Logged> {
    let seq = next_seq(conn)?;
    record_at(conn, seq, event, audience)
}

/// Ends `user_id`'s membership of `chat_id` at `left_seq` (their
/// `member_removed`), keeping the span they heard the chat for.
pub fn end_membership(conn: &Connection, chat_id: i64, user_id: i64, left_seq: i64) -> Result<()> {
    let mut span = conn.prepare_cached(
        "INSERT OR REPLACE INTO member_spans (user_id, chat_id, joined_seq, left_seq)
         SELECT user_id, chat_id, joined_seq, ?3 FROM chat_members WHERE chat_id = ?1 AND user_id = ?2",
    )?;
    span.execute(params![chat_id, user_id, left_seq])?;
    let mut delete = conn.prepare_cached("DELETE FROM chat_members WHERE chat_id = ?1 AND user_id = ?2")?;
    delete.execute(params![chat_id, user_id])?;
    Ok(())
}

fn pruned_through(conn: &Connection) -> Result<i64> {
    let mut stmt = conn.prepare_cached("SELECT pruned_through FROM event_log")?;
    Ok(stmt.query_row([], |r| r.get(0)).optional()?.unwrap_or(0))
}

/// The seqs of a user's events after `since`, the lowest `want` of them:
/// each source (a chat they are in, one they were in, events naming them)
/// is an index range, read `want` at a time at most.
fn seqs_for(conn: &Connection, user_id: i64, since: i64, latest: i64, want: usize) -> Result<Vec<i64>> {
    let mut sources: Vec<(i64, i64, i64)> = Vec::new();
    let mut current =
        conn.prepare_cached("SELECT chat_id, joined_seq FROM chat_members WHERE user_id = ?1")?;
    for row in current.query_map([user_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (chat_id, joined) = row?;
        sources.push((chat_id, since.max(joined - 1), latest));
    }
    let mut past = conn.prepare_cached(
        "SELECT chat_id, joined_seq, left_seq FROM member_spans WHERE user_id = ?1 AND left_seq > ?2",
    )?;
    for row in past.query_map(params![user_id, since], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })? {
        let (chat_id, joined, left) = row?;
        sources.push((chat_id, since.max(joined - 1), left));
    }
    let mut seqs: Vec<i64> = Vec::new();
    let limit = want as i64;
    let mut named = conn.prepare_cached(
        "SELECT seq FROM event_recipients WHERE user_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
    )?;
    for row in named.query_map(params![user_id, since, latest, limit], |r| r.get(0))? {
        seqs.push(row?);
    }
    let mut in_chat = conn.prepare_cached(
        "SELECT seq FROM events WHERE chat_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
    )?;
    for (chat_id, after, until) in sources {
        // Once `want` are found, only lower ones can still matter.
        let until = if seqs.len() >= want {
            until.min(seqs[want - 1])
        } else {
            until
        };
        if until <= after {
            continue;
        }
        for row in in_chat.query_map(params![chat_id, after, until, limit], |r| r.get(0))? {
            seqs.push(row?);
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.truncate(want);
    }
    seqs.sort_unstable();
    seqs.dedup();
    seqs.truncate(want);
    Ok(seqs)
}

fn events_for(conn: &Connection, user_id: i64, since: i64, limit: u32) -> Result<EventPage> {
    let pruned = pruned_through(conn)?;
    if since > 0 && since < pruned {
        return Err(AppError::CursorExpired(since));
    }
    let mut newest = conn.prepare_cached("SELECT COALESCE(max(seq), 0) FROM events")?;
    let latest = newest.query_row([], |r| r.get::<_, i64>(0))?.max(pruned);
    let want = limit as usize + 1;
    let mut seqs = seqs_for(conn, user_id, since, latest, want)?;
    let has_more = seqs.len() > limit as usize;
    seqs.truncate(limit as usize);
    let mut read = conn.prepare_cached("SELECT kind, data FROM events WHERE seq = ?1")?;
    let mut events = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let (name, data): (String, String) = read.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
        events.push(Logged {
            seq,
            name,
            data: serde_json::from_str(&data).map_err(AppError::internal)?,
            chat_id: None,
            recipients: vec![user_id],
        });
    }
    Ok(EventPage {
        events,
        has_more,
        latest_seq: latest,
    })
}

/// One prune step: through `target` at most, [`PRUNE_CHUNK`] events at a
/// time; returns how far it got.
fn prune_step(conn: &Connection, target: i64) -> Result<i64> {
    let from = pruned_through(conn)?;
    let through = target.min(from + PRUNE_CHUNK);
    if through <= from {
        return Ok(from);
    }
    conn.execute("DELETE FROM events WHERE seq <= ?1", [through])?;
    conn.execute("DELETE FROM event_recipients WHERE seq <= ?1", [through])?;
    conn.execute("DELETE FROM member_spans WHERE left_seq <= ?1", [through])?;
    conn.execute("UPDATE event_log SET pruned_through = ?1", [through])?;
    Ok(through)
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn events_for(&self, user_id: i64, since: i64, limit: u32) -> Result<EventPage> {
        self.db
            .read(move |conn| events_for(conn, user_id, since, limit))
            .await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<i64> {
        let target = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT COALESCE((SELECT max(seq) FROM events WHERE created_at < ?1), 0),
                            COALESCE((SELECT max(seq) FROM events), 0)",
                )?;
                let (old, newest): (i64, i64) = stmt.query_row([before.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
                // The newest event stays: `seq` must never come back.
                Ok(old.min(newest - 1))
            })
            .await?;
        loop {
            let done = self.db.write(move |conn| prune_step(conn, target)).await?;
            if done >= target {
                return Ok(done);
            }
        }
    }
}
