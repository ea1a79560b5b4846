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
];

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
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(newest)
}
