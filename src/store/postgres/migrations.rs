//! Schema migrations for PostgreSQL: numbered SQL files embedded in the
//! binary, each applied in its own transaction and recorded in
//! `schema_migrations`. Several nodes may start at once: the first takes a
//! session advisory lock and migrates, the others wait for it and then find
//! nothing to do. A migration, once released, is never edited.

use deadpool_postgres::{GenericClient, Pool};

use crate::error::{AppError, Result};

/// (version, SQL). Version N brings the schema from N-1 to N.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_write_functions.sql")),
    (3, include_str!("migrations/0003_nodes.sql")),
    (4, include_str!("migrations/0004_sessions.sql")),
    (5, include_str!("migrations/0005_message_changes.sql")),
    (6, include_str!("migrations/0006_event_log.sql")),
];

/// Messages given their search vector per statement while indexing.
const INDEX_PAGE: i64 = 5000;
/// Messages indexed between two progress lines in the log.
const PROGRESS_EVERY: i64 = 100_000;

/// The advisory lock held while migrating ("migr").
const MIGRATION_LOCK: i64 = 0x6d69_6772;

pub async fn apply(pool: &Pool) -> Result<i64> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = apply_locked(&mut client).await;
    // Unlock even when a migration failed; the session's end would too.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    outcome
}

async fn apply_locked(client: &mut deadpool_postgres::Client) -> Result<i64> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )
        .await?;
    let current: i64 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
        .await?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > newest {
        return Err(AppError::internal(format_args!(
            "database schema version {current} is newer than this binary ({newest})"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        if *version == 5 {
            index_messages(&tx).await?;
            tx.batch_execute("CREATE INDEX messages_search ON messages USING gin (search)")
                .await?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &crate::domain::Timestamp::now().0],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied schema migration (postgres)");
    }
    Ok(newest)
}

/// Gives every live message without one its search vector (the messages
/// stored before the index existed, or copied in by `migrate`), a page at
/// a time, logging progress for big databases.
pub async fn index_messages<C: GenericClient>(c: &C) -> Result<()> {
    let total: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM messages WHERE search IS NULL AND deleted_at IS NULL",
            &[],
        )
        .await?
        .get(0);
    if total == 0 {
        return Ok(());
    }
    tracing::info!(messages = total, "building the search index (postgres)");
    let (mut after, mut done) = (0i64, 0i64);
    loop {
        let page = c
            .query(
                "SELECT m.id, m.text, a.filename FROM messages m
                 LEFT JOIN attachments a ON a.id = m.attachment_id
                 WHERE m.id > $1 AND m.search IS NULL AND m.deleted_at IS NULL
                 ORDER BY m.id LIMIT $2",
                &[&after, &INDEX_PAGE],
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = last.try_get(0)?;
        let mut ids = Vec::with_capacity(page.len());
        let mut vectors = Vec::with_capacity(page.len());
        for row in &page {
            let text: Option<String> = row.try_get(1)?;
            let filename: Option<String> = row.try_get(2)?;
            let indexed = crate::domain::words::IndexedText::of(text.as_deref(), filename.as_deref());
            if let Some(vector) = indexed.tsvector() {
                ids.push(row.try_get::<_, i64>(0)?);
                vectors.push(vector);
            }
        }
        c.execute(
            "UPDATE messages m SET search = v.s::tsvector
             FROM unnest($1::bigint[], $2::text[]) AS v(id, s) WHERE m.id = v.id",
            &[&ids, &vectors],
        )
        .await?;
        let before = done / PROGRESS_EVERY;
        done += page.len() as i64;
        if done / PROGRESS_EVERY > before {
            tracing::info!(indexed = done, of = total, "building the search index (postgres)");
        }
    }
    tracing::info!(indexed = done, "search index built (postgres)");
    Ok(())
}
