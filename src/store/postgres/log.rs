//! The event log on PostgreSQL (v2): the same tables as SQLite's (see
//! migration 0006), `seq` from `event_seq` under the writer's ordering
//! lock; logging from scripts and from runs of calls, paging a user's
//! events in one statement, pruning (the store's `EventLog` operations).

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};

use super::PgStore;
use super::rows::{self, execute, row, rows};
use super::writer::Work;
use crate::domain::Timestamp;
use crate::error::{AppError, Result};
use crate::events::{ChatEvent, Logged};
use crate::store::{EventLog, EventPage, nothing};

/// Who receives an event.
pub enum Audience<'a> {
    /// The chat's members when it is logged.
    Chat(i64),
    /// These users.
    Users(&'a [i64]),
}

/// Events deleted by one prune job at most.
const PRUNE_CHUNK: i64 = 20_000;

/// The next `seq` (inside the writer's transaction, under its lock).
pub async fn next_seq<C: GenericClient>(c: &C) -> Result<i64> {
    let found = row(c, "SELECT nextval('event_seq')", &[])
        .await?
        .ok_or_else(|| AppError::internal("nextval gave no row"))?;
    rows::get(&found, 0)
}

/// A chat's members now, by id.
pub async fn member_ids<C: GenericClient>(c: &C, chat_id: i64) -> Result<Vec<i64>> {
    let found = rows(
        c,
        "SELECT user_id FROM chat_members WHERE chat_id = $1 ORDER BY user_id",
        &[&chat_id],
    )
    .await?;
    found.iter().map(|r| rows::get(r, 0)).collect()
}

/// Writes logged events (their seqs taken already), in one statement, and
/// the named recipients of those that have no chat.
pub async fn insert_logged<C: GenericClient>(
    c: &C,
    logged: &[Logged],
) -> std::result::Result<(), tokio_postgres::Error> {
    let now = Timestamp::now().0;
    let seqs: Vec<i64> = logged.iter().map(|e| e.seq).collect();
    let chats: Vec<Option<i64>> = logged.iter().map(|e| e.chat_id).collect();
    let kinds: Vec<&str> = logged.iter().map(|e| e.name.as_str()).collect();
    let data: Vec<String> = logged
        .iter()
        .map(|e| serde_json::to_string(&e.data).unwrap_or_else(|_| "null".into()))
        .collect();
    let statement = c
        .prepare_cached(
            "INSERT INTO events (seq, chat_id, kind, data, created_at)
             SELECT s, c, k, d, $5 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS t(s, c, k, d)",
        )
        .await?;
    c.execute(&statement, &[&seqs, &chats, &kinds, &data, &now])
        .await?;
    let mut users = Vec::new();
    let mut user_seqs = Vec::new();
    for event in logged.iter().filter(|e| e.chat_id.is_none()) {
        for &user in &event.recipients {
            users.push(user);
            user_seqs.push(event.seq);
        }
    }
    if !users.is_empty() {
        let statement = c
            .prepare_cached(
                "INSERT INTO event_recipients (user_id, seq) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
            )
            .await?;
        c.execute(&statement, &[&users, &user_seqs]).await?;
    }
    Ok(())
}

/// Logs `event` as `seq` for `audience` (in a script).
pub async fn record_at(
    tx: &Transaction<'_>,
    seq: i64,
    event: &ChatEvent,
    audience: Audience<'_>,
) -> Result<Logged> {
    let (chat_id, recipients) = match audience {
        Audience::Chat(chat_id) => (Some(chat_id), member_ids(tx, chat_id).await?),
        Audience::Users(users) => {
            let mut users = users.to_vec();
            users.sort_unstable();
            users.dedup();
            (None, users)
        }
    };
    let logged = Logged::new(seq, event, chat_id, recipients);
    insert_logged(tx, std::slice::from_ref(&logged)).await?;
    Ok(logged)
}

/// Logs `event` with the next `seq`.
pub async fn record(tx: &Transaction<'_>, event: &ChatEvent, audience: Audience<'_>) -> Result<Logged> {
    let seq = next_seq(tx).await?;
    record_at(tx, seq, event, audience).await
}

/// Ends a membership at `left_seq`, keeping the span the member heard.
pub async fn end_membership(tx: &Transaction<'_>, chat_id: i64, user_id: i64, left_seq: i64) -> Result<()> {
    execute(
        tx,
        "INSERT INTO member_spans (user_id, chat_id, joined_seq, left_seq)
         SELECT user_id, chat_id, joined_seq, $3 FROM chat_members WHERE chat_id = $1 AND user_id = $2
         ON CONFLICT DO NOTHING",
        &[&chat_id, &user_id, &left_seq],
    )
    .await?;
    execute(
        tx,
        "DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2",
        &[&chat_id, &user_id],
    )
    .await?;
    Ok(())
}

/// A user's events after `since`: each chat they are or were in is an
/// index range read `limit` at a time at most (LATERAL), merged by `seq`.
const EVENTS_FOR: &str = "
    WITH sources AS (
        SELECT chat_id, greatest($2, joined_seq - 1) AS after, $4::bigint AS until
        FROM chat_members WHERE user_id = $1
        UNION ALL
        SELECT chat_id, greatest($2, joined_seq - 1), left_seq
        FROM member_spans WHERE user_id = $1 AND left_seq > $2
    ), found AS (
        SELECT e.seq FROM sources s CROSS JOIN LATERAL (
            SELECT seq FROM events
            WHERE chat_id = s.chat_id AND seq > s.after AND seq <= s.until
            ORDER BY seq LIMIT $3
        ) e
        UNION ALL
        (SELECT seq FROM event_recipients WHERE user_id = $1 AND seq > $2 AND seq <= $4 ORDER BY seq LIMIT $3)
    )
    SELECT e.seq, e.kind, e.data FROM (SELECT DISTINCT seq FROM found ORDER BY seq LIMIT $3) f
    JOIN events e ON e.seq = f.seq ORDER BY e.seq";

#[async_trait]
impl EventLog for PgStore {
    async fn events_for(&self, user_id: i64, since: i64, limit: u32) -> Result<EventPage> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let state = row(
            &tx,
            "SELECT pruned_through, (SELECT COALESCE(max(seq), 0) FROM events) FROM event_log",
            &[],
        )
        .await?
        .ok_or_else(|| AppError::internal("event_log has no row"))?;
        let pruned: i64 = rows::get(&state, 0)?;
        let newest: i64 = rows::get(&state, 1)?;
        if since > 0 && since < pruned {
            return Err(AppError::CursorExpired(since));
        }
        let latest = newest.max(pruned);
        let want = i64::from(limit) + 1;
        let found = rows(&tx, EVENTS_FOR, &[&user_id, &since, &want, &latest]).await?;
        tx.commit().await?;
        let has_more = found.len() > limit as usize;
        let mut events = Vec::with_capacity(found.len().min(limit as usize));
        for r in found.iter().take(limit as usize) {
            let data: String = rows::get(r, 2)?;
            events.push(Logged {
                seq: rows::get(r, 0)?,
                name: rows::get(r, 1)?,
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

    async fn prune_events(&self, before: Timestamp) -> Result<i64> {
        let c = self.client().await?;
        let found = row(
            &c,
            "SELECT COALESCE((SELECT max(seq) FROM events WHERE created_at < $1), 0),
                    COALESCE((SELECT max(seq) FROM events), 0)",
            &[&before.0],
        )
        .await?
        .ok_or_else(|| AppError::internal("no row"))?;
        let old: i64 = rows::get(&found, 0)?;
        let newest: i64 = rows::get(&found, 1)?;
        drop(c);
        // The newest event stays, as on SQLite.
        let target = old.min(newest - 1);
        loop {
            let work = Work::Script(Box::new(move |tx| {
                Box::pin(async move {
                    let state = row(tx, "SELECT pruned_through FROM event_log", &[])
                        .await?
                        .ok_or_else(|| AppError::internal("event_log has no row"))?;
                    let from: i64 = rows::get(&state, 0)?;
                    let through = target.min(from + PRUNE_CHUNK);
                    if through <= from {
                        return Ok(from);
                    }
                    execute(tx, "DELETE FROM events WHERE seq <= $1", &[&through]).await?;
                    execute(tx, "DELETE FROM event_recipients WHERE seq <= $1", &[&through]).await?;
                    execute(tx, "DELETE FROM member_spans WHERE left_seq <= $1", &[&through]).await?;
                    execute(tx, "UPDATE event_log SET pruned_through = $1", &[&through]).await?;
                    Ok(through)
                })
            }));
            let done = self.writer.submit(work, nothing::<i64>()).await?;
            if done >= target {
                return Ok(done);
            }
        }
    }
}
