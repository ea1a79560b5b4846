//! The PostgreSQL store, for several nodes on one database
//! (`--database-url postgres://…`).
//!
//! Reads take a connection from a deadpool pool. Writes go to one writer
//! task per node that batches whatever is queued into one transaction
//! (group commit), each job in its own savepoint, and holds
//! `pg_advisory_xact_lock(ORDER_LOCK)` for the batch: every node's writes
//! take that one lock, so ids (identity sequences hand values out in the
//! order of *requests*, not commits) are assigned in commit order across
//! the cluster, and a cursor that a client has passed never gets a new row
//! below it. The lock is paid once per batch, not once per message. Hooks
//! run in commit order after the batch commits, as on SQLite.
//!
//! While the database is unreachable every operation fails fast with 503
//! `unavailable` (a bounded wait for a connection, no retries inside), and
//! the pool reconnects by itself when it is back.

mod access;
mod attachments;
mod changes;
mod chats;
mod groups;
mod import;
mod log;
mod messages;
mod migrations;
mod nodes;
mod rows;
mod search;
mod sessions;
mod users;
mod writer;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::error::{AppError, Result};

/// How long an operation waits for a connection (or to connect) before it
/// answers `unavailable`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest one statement may run (a stuck database, a lock nobody lets go).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections per node: readers and the writer.
const POOL_SIZE: usize = 16;

const UNREACHABLE: &str = "the database is unreachable; try again shortly";

impl From<tokio_postgres::Error> for AppError {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(&e)
    }
}

/// What a PostgreSQL error means for clients: unreachable or overloaded is
/// `unavailable`, anything else internal.
pub(crate) fn classify(e: &tokio_postgres::Error) -> AppError {
    {
        if e.as_db_error().is_none() {
            // No answer from the server: a closed connection, a timeout, I/O.
            tracing::warn!(error = %e, "postgres connection error");
            AppError::Unavailable(UNREACHABLE)
        } else if e.code() == Some(&SqlState::QUERY_CANCELED) {
            AppError::Unavailable("the database took too long to answer")
        } else if e
            .code()
            .is_some_and(|c| c.code().starts_with("57") || c.code().starts_with("08"))
        {
            // Operator intervention (a restart) or a connection exception.
            AppError::Unavailable(UNREACHABLE)
        } else {
            AppError::internal(format_args!("postgres: {e}"))
        }
    }
}

impl From<deadpool_postgres::PoolError> for AppError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        tracing::warn!(error = %e, "no postgres connection");
        AppError::Unavailable(UNREACHABLE)
    }
}

/// The error a write function reported as its outcome (migration 0002).
fn refusal(outcome: &str, detail: Option<i64>) -> AppError {
    let id = detail.unwrap_or_default();
    match outcome {
        "user_not_found" => AppError::UserNotFound(id),
        "chat_not_found" => AppError::ChatNotFound(id),
        "group_not_found" => AppError::GroupNotFound(id),
        "not_a_member" => AppError::NotAMember(id),
        "reply_not_found" => AppError::NotFound(format!("message {id} does not exist")),
        "reply_other_chat" => AppError::validation("reply_to must name a message of the same chat"),
        other => AppError::internal(format_args!("postgres: {other}")),
    }
}

/// True when `e` is a UNIQUE violation.
fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The store's interface over one PostgreSQL database; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    writer: writer::WriterHandle,
    /// For the node lock's connection of its own.
    url: String,
    /// The task holding the node lock's connection (see `nodes`).
    node_lock: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Connections that hold blob locks (see `attachments`): a pool of
    /// their own, so that uploads waiting on their rows never starve the
    /// writer of connections.
    lock_pool: Pool,
    /// This node's blob locks, taken before the cluster's.
    blob_locks: std::sync::Arc<crate::store::model::BlobLocks>,
}

impl PgStore {
    /// Connects, applies the migrations (under an advisory lock, so several
    /// nodes may start at once) and starts the writer.
    pub async fn open(url: &str) -> std::io::Result<Self> {
        let pool = pool(url)?;
        migrations::apply(&pool)
            .await
            .map_err(|e| std::io::Error::other(format!("postgres at {}: {e}", redact(url))))?;
        let writer = writer::spawn(pool.clone());
        Ok(PgStore {
            pool,
            writer,
            url: url.to_string(),
            node_lock: std::sync::Arc::default(),
            lock_pool: pool_of(url, LOCK_POOL_SIZE)?,
            blob_locks: std::sync::Arc::default(),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }
}

/// Connections for blob locks (one per upload or removal in progress).
const LOCK_POOL_SIZE: usize = 4;

/// A pool for `url`; connections are made when first needed.
pub fn pool(url: &str) -> std::io::Result<Pool> {
    pool_of(url, POOL_SIZE)
}

fn pool_of(url: &str, size: usize) -> std::io::Result<Pool> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| std::io::Error::other(format!("--database-url: {e}")))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.keepalives_idle(Duration::from_secs(30));
    config.options(format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis()));
    if config.get_application_name().is_none() {
        config.application_name("chat-server");
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(CONNECT_TIMEOUT),
            create: Some(CONNECT_TIMEOUT),
            recycle: Some(CONNECT_TIMEOUT),
        })
        .build()
        .map_err(|e| std::io::Error::other(format!("postgres pool: {e}")))
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[async_trait::async_trait]
impl super::Store for PgStore {
    async fn health(&self) -> Result<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn shared_secret(&self, candidate: &[u8]) -> Result<Option<Vec<u8>>> {
        self.kept_secret(candidate).await.map(Some)
    }

    async fn claim(&self, node: &str, clustered: bool) -> std::io::Result<()> {
        self.claim_database(node, clustered).await
    }

    async fn close(&self) -> Result<()> {
        self.writer.drain().await;
        self.release_claim();
        self.pool.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://chat:s3cret@db.example:5432/chat"),
            "postgres://chat@db.example:5432/chat"
        );
        assert_eq!(redact("postgres://127.0.0.1/chat"), "postgres://127.0.0.1/chat");
    }
}
