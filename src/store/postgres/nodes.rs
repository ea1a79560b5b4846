//! What the nodes on one database agree on: the token secret, and who may
//! use the database at all.
//!
//! Each node holds an advisory lock on a connection of its own for as long
//! as it lives (PostgreSQL lets go of it the moment that connection dies,
//! a `kill -9` included): shared for a node with a cluster to coordinate
//! through (`--redis-url`), exclusive for one without. So several clustered
//! nodes share the database, and a node without Redis never shares it
//! (its sockets would miss the others' events, and theirs its). The
//! refused node names the holders from `pg_stat_activity`.

use std::time::Duration;

use tokio_postgres::NoTls;

use super::PgStore;
use crate::error::{AppError, Result};

/// The lock that says "a node uses this database" ("node").
const NODES_LOCK: i64 = 0x6e6f_6465;
/// How often the holder checks its lock's connection, and takes the lock
/// again after it was lost (the database restarted).
const WATCH_EVERY: Duration = Duration::from_secs(5);

impl PgStore {
    pub(super) async fn kept_secret(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO settings (name, value) VALUES ('token_secret', $1) ON CONFLICT (name) DO NOTHING",
                &[&candidate],
            )
            .await?;
        let row = client
            .query_one("SELECT value FROM settings WHERE name = 'token_secret'", &[])
            .await?;
        row.try_get(0)
            .map_err(|e| AppError::internal(format_args!("postgres settings: {e}")))
    }

    pub(super) async fn claim_database(&self, node: &str, clustered: bool) -> std::io::Result<()> {
        let client = lock(&self.url, node, clustered).await?;
        let (url, node) = (self.url.clone(), node.to_string());
        // Keep the connection (and with it the lock) until the store closes,
        // and take the lock again if the database went away and came back.
        let watcher = tokio::spawn(async move {
            let mut held = client;
            loop {
                tokio::time::sleep(WATCH_EVERY).await;
                if !held.is_closed() {
                    continue;
                }
                match lock(&url, &node, clustered).await {
                    Ok(again) => {
                        tracing::info!("took the node lock again after losing its connection");
                        held = again;
                    }
                    Err(e) => tracing::warn!(error = %e, "node lock lost and not taken again"),
                }
            }
        });
        if let Some(earlier) = self
            .node_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(watcher)
        {
            earlier.abort();
        }
        Ok(())
    }

    /// Lets go of the node lock (at close): its connection ends with the
    /// task that holds it.
    pub(super) fn release_claim(&self) {
        if let Some(watcher) = self
            .node_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            watcher.abort();
        }
    }
}

/// Connects as `chat-server node <id>` and takes the lock, or says who
/// holds it.
async fn lock(url: &str, node: &str, clustered: bool) -> std::io::Result<tokio_postgres::Client> {
    let io = |e: tokio_postgres::Error| std::io::Error::other(format!("postgres (node lock): {e}"));
    let mut config: tokio_postgres::Config = url.parse().map_err(io)?;
    config.application_name(format!("chat-server node {node}"));
    config.connect_timeout(Duration::from_secs(2));
    let (client, connection) = config.connect(NoTls).await.map_err(io)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "node lock connection ended");
        }
    });
    let sql = if clustered {
        "SELECT pg_try_advisory_lock_shared($1)"
    } else {
        "SELECT pg_try_advisory_lock($1)"
    };
    let taken: bool = client.query_one(sql, &[&NODES_LOCK]).await.map_err(io)?.get(0);
    if taken {
        return Ok(client);
    }
    let holders: Vec<String> = client
        .query(
            "SELECT a.application_name || ' (' || coalesce(host(a.client_addr), 'local') || ', since '
                    || to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') || ')'
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid::text::bigint = $1
               AND l.granted AND a.pid <> pg_backend_pid()",
            &[&NODES_LOCK],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    let who = if holders.is_empty() {
        "another chat-server".to_string()
    } else {
        holders.join(", ")
    };
    Err(std::io::Error::other(if clustered {
        format!(
            "{who} uses this database without --redis-url: nodes without a cluster cannot share a database; \
             stop it, or give every node the same --redis-url"
        )
    } else {
        format!(
            "{who} already uses this database: several nodes need --redis-url (the same Redis) on each, \
             or their sockets miss each other's events"
        )
    }))
}
