//! Running as one of several nodes (`--redis-url`): what each node shares
//! through Redis. socketioxide's Redis adapter carries every event to the
//! sockets of every node (over [`HealingDriver`], which survives a Redis
//! restart); presence and socket counts ([`RedisPresence`]) and the limits
//! that guard accounts ([`RedisLimits`]) are counted in Redis so that they
//! hold across nodes; revoked sessions are announced to every node
//! ([`RedisRevocations`]). Every key starts with the cluster's prefix
//! (`--redis-prefix`), so clusters (and test runs) can share one Redis.
//!
//! Without `--redis-url` none of this exists: one node keeps everything in
//! memory, as before.

mod driver;
mod limits;
mod presence;
pub mod revocations;

pub use driver::HealingDriver;
pub use limits::RedisLimits;
pub use presence::RedisPresence;
pub use revocations::RedisRevocations;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;
use crate::error::AppError;

/// A node's connection to the cluster.
pub struct Cluster {
    /// Commands (presence, limits); reconnects by itself.
    pub conn: ConnectionManager,
    /// For the adapter's pub/sub connection.
    pub client: redis::Client,
    /// Every key and channel starts with this.
    pub prefix: String,
    /// This node's id, new at every start.
    pub node: String,
    /// How often the node says it is alive; it is taken for dead after
    /// three missed beats.
    pub heartbeat: Duration,
}

/// A Redis failure, as clients see it.
pub fn redis_error(e: redis::RedisError) -> AppError {
    tracing::warn!(error = %e, "redis error");
    AppError::Unavailable("the cluster's Redis is unreachable; try again shortly")
}

/// A fresh node id: 16 hex digits.
fn node_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Cluster {
    /// Connects when `--redis-url` is set. The URL is given RESP3, which
    /// the adapter needs (Redis 7 or later).
    pub async fn connect(config: &Config) -> std::io::Result<Option<Cluster>> {
        let Some(url) = config
            .redis_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let url = if url.contains("protocol=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&protocol=resp3")
        } else {
            format!("{url}?protocol=resp3")
        };
        let io = |e: redis::RedisError| std::io::Error::other(format!("--redis-url: {e}"));
        let client = redis::Client::open(url.as_str()).map_err(io)?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), settings)
            .await
            .map_err(io)?;
        Ok(Some(Cluster {
            conn,
            client,
            prefix: config.redis_prefix.clone(),
            node: node_id()?,
            heartbeat: config.cluster_heartbeat,
        }))
    }
}
