//! Presence and socket counts across nodes, in Redis.
//!
//! Keys under the cluster's prefix `P`:
//! - `P:sockets:{user}`: the user's open sockets on every node (the socket
//!   cap and "online" read this);
//! - `P:node:{node}:sockets`: this node's share of each user's count;
//! - `P:node:{node}:alive`: set every heartbeat, expiring after three;
//! - `P:nodes`: the nodes that ever registered.
//!
//! Every change is one Lua script, so it is atomic across nodes. A node
//! that dies stops its heartbeat; within a heartbeat of its `alive` key
//! expiring, the next node's upkeep takes its share off every user's count
//! and reports the users who went offline, whose contacts that node then
//! tells (so a dead node's users are offline within four heartbeats: 20 s
//! by default). Each node also keeps its own counts in memory, and writes
//! them back when it finds its keys gone (Redis restarted without data, or
//! the node was taken for dead during a long pause).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use super::redis_error;
use crate::error::Result;
use crate::presence::{Admission, PresenceStore};

const CONNECT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return -1 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return redis.call('INCR', KEYS[1])
";

const DISCONNECT: &str = r"
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
if left < 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return -1
end
if left == 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
local n = redis.call('DECR', KEYS[1])
if n <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
return n
";

/// KEYS: alive, nodes, this node's hash. ARGV: prefix, node, ttl (s), then
/// user, count pairs of this node's sockets.
const HEARTBEAT: &str = r"
local was = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], 1, 'EX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
if was == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  for i = 4, #ARGV, 2 do
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    redis.call('INCRBY', ARGV[1] .. ':sockets:' .. ARGV[i], ARGV[i + 1])
  end
  return 1
end
return 0
";

/// KEYS: nodes. ARGV: prefix. Returns the users a dead node's going took
/// offline.
const REAP: &str = r"
local offline = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. ':node:' .. node .. ':alive') == 0 then
    local hash = ARGV[1] .. ':node:' .. node .. ':sockets'
    local entries = redis.call('HGETALL', hash)
    for i = 1, #entries, 2 do
      local count = tonumber(entries[i + 1])
      if count > 0 then
        local key = ARGV[1] .. ':sockets:' .. entries[i]
        if redis.call('DECRBY', key, count) <= 0 then
          redis.call('DEL', key)
          table.insert(offline, entries[i])
        end
      end
    end
    redis.call('DEL', hash)
    redis.call('SREM', KEYS[1], node)
  end
end
return offline
";

pub struct RedisPresence {
    conn: ConnectionManager,
    prefix: String,
    node: String,
    heartbeat: Duration,
    /// This node's sockets per user, mirrored, to write back.
    local: Mutex<HashMap<i64, u32>>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    connect: Script,
    disconnect: Script,
    heartbeat: Script,
    reap: Script,
}

impl RedisPresence {
    pub fn new(conn: ConnectionManager, prefix: &str, node: &str, heartbeat: Duration) -> Self {
        RedisPresence {
            conn,
            prefix: prefix.to_string(),
            node: node.to_string(),
            heartbeat,
            local: Mutex::default(),
            scripts: Arc::new(Scripts {
                connect: Script::new(CONNECT),
                disconnect: Script::new(DISCONNECT),
                heartbeat: Script::new(HEARTBEAT),
                reap: Script::new(REAP),
            }),
        }
    }

    fn user_key(&self, user_id: i64) -> String {
        format!("{}:sockets:{user_id}", self.prefix)
    }

    fn node_key(&self, what: &str) -> String {
        format!("{}:node:{}:{what}", self.prefix, self.node)
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u32>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn connect(&self, user_id: i64, max: u32) -> Result<Admission> {
        let total: i64 = self
            .scripts
            .connect
            .key(self.user_key(user_id))
            .key(self.node_key("sockets"))
            .arg(user_id)
            .arg(max)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        if total < 0 {
            return Ok(Admission::Full);
        }
        *self.mirror().entry(user_id).or_insert(0) += 1;
        Ok(if total == 1 {
            Admission::First
        } else {
            Admission::Another
        })
    }

    async fn disconnect(&self, user_id: i64) -> Result<bool> {
        {
            let mut mirror = self.mirror();
            if let Some(count) = mirror.get_mut(&user_id) {
                *count -= 1;
                if *count == 0 {
                    mirror.remove(&user_id);
                }
            }
        }
        let left: i64 = self
            .scripts
            .disconnect
            .key(self.user_key(user_id))
            .key(self.node_key("sockets"))
            .arg(user_id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(left == 0)
    }

    async fn online(&self, user_ids: &[i64]) -> Result<Vec<bool>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = user_ids.iter().map(|&id| self.user_key(id)).collect();
        let counts: Vec<Option<i64>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(counts.into_iter().map(|c| c.unwrap_or(0) > 0).collect())
    }

    async fn upkeep(&self) -> Result<Vec<i64>> {
        let ttl = (self.heartbeat * 3).as_secs().max(1);
        let mut beat = self.scripts.heartbeat.prepare_invoke();
        beat.key(self.node_key("alive"))
            .key(format!("{}:nodes", self.prefix))
            .key(self.node_key("sockets"))
            .arg(&self.prefix)
            .arg(&self.node)
            .arg(ttl);
        for (user, count) in self.mirror().iter() {
            beat.arg(*user).arg(*count);
        }
        let rewritten: i64 = beat
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        if rewritten == 1 {
            tracing::info!(node = %self.node, "wrote this node's socket counts back to Redis");
        }
        let offline: Vec<i64> = self
            .scripts
            .reap
            .key(format!("{}:nodes", self.prefix))
            .arg(&self.prefix)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(offline)
    }

    async fn leave_cluster(&self) {
        let mut conn = self.conn.clone();
        let _: std::result::Result<(), _> = redis::pipe()
            .del(self.node_key("alive"))
            .del(self.node_key("sockets"))
            .srem(format!("{}:nodes", self.prefix), &self.node)
            .query_async(&mut conn)
            .await;
    }
}
