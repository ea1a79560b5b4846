//! Schema migrations for PostgreSQL: numbered SQL files embedded in the
//! binary, each applied in its own transaction and recorded in
//! `schema_migrations`. Several nodes may start at once: the first takes a
//! session advisory lock and migrates, the others wait for it and then find
//! nothing to do. A migration, once released, is never edited.

use deadpool_postgres::Pool;

use crate::error::{AppError, Result};

/// (version, SQL). Version N brings the schema from N-1 to N.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_write_functions.sql")),
    (3, include_str!("migrations/0003_nodes.sql")),
    (4, include_str!("migrations/0004_sessions.sql")),
];

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
