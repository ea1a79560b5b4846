//! The limits that guard accounts, across nodes, in Redis: a token bucket
//! per client address for `/auth/*`, and the failed-login counts per
//! username and per address (sorted sets of attempt times). Each check is
//! one Lua script. Same rules as `limits::LocalLimits`; while Redis cannot
//! be reached they let requests through (and say so in the log) rather than
//! lock everyone out.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::config::Config;
use crate::domain::Timestamp;
use crate::error::{AppError, Result};
use crate::limits::{LoginTicket, SharedLimits};

/// KEYS: the bucket. ARGV: tokens per ms, burst, now (ms). Returns 0 when
/// admitted, else the ms to wait.
const BUCKET: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
if tokens < 1 then return math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 't', tokens - 1, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return 0
";

/// KEYS: the username's attempts, the address's. ARGV: now (ms), window
/// (ms), per-user limit, per-address limit, this attempt's member. Returns
/// 0 when the attempt is counted, else the ms to wait.
const BEGIN_LOGIN: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[2 + i])
  if limit > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    local n = redis.call('ZCARD', KEYS[i])
    if n >= limit then
      local oldest = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
      wait = math.max(wait, tonumber(oldest[2]) + window - now)
    end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if tonumber(ARGV[2 + i]) > 0 then
    redis.call('ZADD', KEYS[i], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return 0
";

pub struct RedisLimits {
    conn: ConnectionManager,
    prefix: String,
    node: String,
    /// Tokens per ms and burst of the auth bucket; none: no limit.
    auth: Option<(f64, u32)>,
    per_user: u32,
    per_ip: u32,
    window: Duration,
    next_ticket: AtomicU64,
    bucket: Script,
    begin_login: Script,
}

fn wait_error(ms: i64) -> AppError {
    AppError::RateLimited {
        retry_after_secs: u64::try_from(ms).unwrap_or(0).div_ceil(1000).max(1),
    }
}

impl RedisLimits {
    pub fn new(conn: ConnectionManager, prefix: &str, node: &str, c: &Config) -> Self {
        let on = !c.no_rate_limits;
        RedisLimits {
            conn,
            prefix: prefix.to_string(),
            node: node.to_string(),
            auth: (on && c.auth_per_minute > 0)
                .then(|| (f64::from(c.auth_per_minute) / 60_000.0, c.auth_burst.max(1))),
            per_user: if on { c.login_failures_per_user } else { 0 },
            per_ip: if on { c.login_failures_per_ip } else { 0 },
            window: c.login_failure_window,
            next_ticket: AtomicU64::new(1),
            bucket: Script::new(BUCKET),
            begin_login: Script::new(BEGIN_LOGIN),
        }
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}:logins:user:{user}", self.prefix)
    }

    fn ip_key(&self, ip: IpAddr) -> String {
        format!("{}:logins:ip:{ip}", self.prefix)
    }

    fn member(&self, token: u64) -> String {
        format!("{}:{token}", self.node)
    }
}

#[async_trait]
impl SharedLimits for RedisLimits {
    async fn check_auth(&self, ip: IpAddr) -> Result<()> {
        let Some((rate, burst)) = self.auth else {
            return Ok(());
        };
        let wait: redis::RedisResult<i64> = self
            .bucket
            .key(format!("{}:auth:{ip}", self.prefix))
            .arg(rate)
            .arg(burst)
            .arg(Timestamp::now().0)
            .invoke_async(&mut self.conn.clone())
            .await;
        match wait {
            Ok(0) => Ok(()),
            Ok(ms) => {
                metrics::counter!("chat_rate_limited_total", "limit" => "auth").increment(1);
                Err(wait_error(ms))
            }
            Err(e) => {
                tracing::warn!(error = %e, "auth limit unchecked: redis unreachable");
                Ok(())
            }
        }
    }

    async fn begin_login(&self, username: &str, ip: IpAddr) -> Result<LoginTicket> {
        let ticket = LoginTicket {
            user: username.to_lowercase(),
            ip,
            token: self.next_ticket.fetch_add(1, Ordering::Relaxed),
        };
        if self.per_user == 0 && self.per_ip == 0 {
            return Ok(ticket);
        }
        let wait: redis::RedisResult<i64> = self
            .begin_login
            .key(self.user_key(&ticket.user))
            .key(self.ip_key(ip))
            .arg(Timestamp::now().0)
            .arg(u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX))
            .arg(self.per_user)
            .arg(self.per_ip)
            .arg(self.member(ticket.token))
            .invoke_async(&mut self.conn.clone())
            .await;
        match wait {
            Ok(0) => Ok(ticket),
            Ok(ms) => {
                metrics::counter!("chat_rate_limited_total", "limit" => "failed_logins").increment(1);
                Err(wait_error(ms))
            }
            Err(e) => {
                tracing::warn!(error = %e, "failed-login throttle unchecked: redis unreachable");
                Ok(ticket)
            }
        }
    }

    async fn login_succeeded(&self, ticket: LoginTicket) {
        let done: redis::RedisResult<()> = redis::pipe()
            .del(self.user_key(&ticket.user))
            .zrem(self.ip_key(ticket.ip), self.member(ticket.token))
            .query_async(&mut self.conn.clone())
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not clear a login's failures: redis unreachable");
        }
    }
}
