//! Schema migrations: numbered SQL files embedded in the binary, applied in
//! order at start inside one transaction each, tracked by
//! `PRAGMA user_version`. A migration, once released, is never edited: add
//! the next number instead.

use rusqlite::Connection;

/// (version, SQL). Version N brings the schema from N-1 to N.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_attachments.sql")),
    (3, include_str!("migrations/0003_unread_by_sequence.sql")),
    (4, include_str!("migrations/0004_sent_since_read.sql")),
    (5, include_str!("migrations/0005_sessions.sql")),
    (6, include_str!("migrations/0006_message_changes.sql")),
    (7, include_str!("migrations/0007_event_log.sql")),
];

/// Messages indexed between two progress lines in the log.
const PROGRESS_EVERY: i64 = 100_000;

/// Brings the database up to the newest schema. Refuses a database written
/// by a newer binary rather than guessing.
pub fn apply(conn: &mut Connection) -> rusqlite::Result<i64> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let newest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > newest {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {current} is newer than this binary ({newest})"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if *version == 6 {
            index_existing_messages(&tx)?;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(newest)
}

/// Fills the search index with the messages stored before it existed, in
/// the migration's transaction, logging progress for big databases.
fn index_existing_messages(conn: &Connection) -> rusqlite::Result<()> {
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
    if total == 0 {
        return Ok(());
    }
    tracing::info!(messages = total, "building the search index");
    let mut read = conn.prepare(
        "SELECT m.id, m.text, a.filename FROM messages m LEFT JOIN attachments a ON a.id = m.attachment_id",
    )?;
    let mut insert = conn.prepare("INSERT INTO message_search (rowid, body, name) VALUES (?1, ?2, ?3)")?;
    let mut rows = read.query([])?;
    let mut done = 0i64;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let text: Option<String> = row.get(1)?;
        let filename: Option<String> = row.get(2)?;
        let indexed = crate::domain::words::IndexedText::of(text.as_deref(), filename.as_deref());
        if !indexed.is_empty() {
            insert.execute(rusqlite::params![id, indexed.body, indexed.name])?;
        }
        done += 1;
        if done % PROGRESS_EVERY == 0 {
            tracing::info!(indexed = done, of = total, "building the search index");
        }
    }
    tracing::info!(indexed = done, "search index built");
    Ok(())
}
