//! Revocations across nodes: a node that revokes sessions PUBLISHes their
//! ids on `<prefix>-revoked` before it answers, and every other node,
//! subscribed on the adapter's pub/sub connection, applies them to its view
//! of sessions and closes their sockets. A message lost while Redis is away
//! is made good by the store's revocation log, which every node also reads
//! (see `auth::watch_revocations`).

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use socketioxide_redis::drivers::Driver;

use super::HealingDriver;
use crate::credentials::RevocationBus;

fn channel(prefix: &str) -> String {
    format!("{prefix}-revoked")
}

/// On the wire: `node\nid,id,…`.
fn encode(node: &str, ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("{node}\n{}", ids.join(","))
}

fn decode(payload: &[u8]) -> Option<(&str, Vec<i64>)> {
    let (node, ids) = std::str::from_utf8(payload).ok()?.split_once('\n')?;
    let ids = ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<i64>, _>>()
        .ok()?;
    Some((node, ids))
}

/// The publishing side, on the node's command connection.
pub struct RedisRevocations {
    conn: ConnectionManager,
    channel: String,
    node: String,
}

impl RedisRevocations {
    pub fn new(conn: ConnectionManager, prefix: &str, node: &str) -> Self {
        RedisRevocations {
            conn,
            channel: channel(prefix),
            node: node.to_string(),
        }
    }
}

#[async_trait]
impl RevocationBus for RedisRevocations {
    async fn announce(&self, session_ids: &[i64]) {
        let published = self
            .conn
            .clone()
            .publish::<_, _, redis::Value>(&self.channel, encode(&self.node, session_ids))
            .await;
        if let Err(e) = published {
            // The other nodes read it from the store's log within moments.
            tracing::warn!(error = %e, "revocation not published; other nodes will read it from the store");
        }
    }
}

/// Publishes revocations for a process that is not a node (the operator's
/// CLI), on a connection of its own.
pub async fn announce_once(url: &str, prefix: &str, session_ids: &[i64]) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    conn.publish::<_, _, redis::Value>(channel(prefix), encode("cli", session_ids))
        .await?;
    Ok(())
}

/// Subscribes to the other nodes' revocations; `apply` runs for each
/// batch. Abort the returned task at shutdown.
pub async fn listen(
    driver: HealingDriver,
    prefix: &str,
    node: &str,
    apply: impl Fn(Vec<i64>) + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut incoming = driver
        .subscribe(channel(prefix), 1024)
        .await
        .map_err(|e| std::io::Error::other(format!("--redis-url (revocations): {e}")))?;
    let own = node.to_string();
    Ok(tokio::spawn(async move {
        while let Some((_, payload)) = incoming.next().await {
            match decode(&payload) {
                Some((from, ids)) if from != own => apply(ids),
                Some(_) => {}
                None => tracing::warn!("unreadable revocation message from redis"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let wire = encode("n1", &[3, 14]);
        assert_eq!(decode(wire.as_bytes()), Some(("n1", vec![3, 14])));
        assert_eq!(decode(b"n1\nx"), None);
    }
}
