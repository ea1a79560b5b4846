//! Rate limits: per client IP on `/auth/*`, per user on sends (REST and
//! socket together), uploads and group creation. GCRA limiters from the
//! governor crate, one state per key; idle keys are forgotten every minute.
//! Failed logins have a throttle of their own (`logins`). Over a limit:
//! `rate_limited` with how long to wait (429 and `Retry-After` on REST, an
//! ack on the socket; the connection stays).
//!
//! The limits that guard accounts (auth requests per address, failed
//! logins) must hold across nodes: they sit behind [`SharedLimits`], kept
//! here for one node and in Redis for a cluster (`cluster::RedisLimits`).
//! The per-user limits on sends, uploads and groups stay per node (a user's
//! sockets usually share one, behind a sticky balancer).

mod logins;

pub use logins::{LoginThrottle, LoginTicket};

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{Config, IpRange};
use crate::error::{AppError, Result};
use crate::protection::PeerAddr;

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Send,
    Upload,
    CreateGroup,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Send => "send",
            Limit::Upload => "upload",
            Limit::CreateGroup => "create_group",
        }
    }
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// The limits that must hold across nodes.
#[async_trait]
pub trait SharedLimits: Send + Sync {
    /// Counts one `/auth/*` request from `ip`, or refuses it.
    async fn check_auth(&self, ip: IpAddr) -> Result<()>;
    /// Starts a login (counted as a failure until it succeeds), or refuses
    /// it when the username or the address failed too often lately.
    async fn begin_login(&self, username: &str, ip: IpAddr) -> Result<LoginTicket>;
    async fn login_succeeded(&self, ticket: LoginTicket);
    /// Forgets what has expired (run now and then).
    fn forget_idle(&self) {}
}

/// [`SharedLimits`] for one node, in memory.
pub struct LocalLimits {
    auth: Option<Keyed<IpAddr>>,
    failed_logins: LoginThrottle,
    clock: DefaultClock,
}

impl LocalLimits {
    pub fn from_config(c: &Config) -> Self {
        LocalLimits {
            auth: quota(c.auth_per_minute, Duration::from_secs(60), c.auth_burst)
                .filter(|_| !c.no_rate_limits)
                .map(Keyed::keyed),
            failed_logins: if c.no_rate_limits {
                LoginThrottle::new(0, 0, c.login_failure_window)
            } else {
                LoginThrottle::new(
                    c.login_failures_per_user,
                    c.login_failures_per_ip,
                    c.login_failure_window,
                )
            },
            clock: DefaultClock::default(),
        }
    }
}

#[async_trait]
impl SharedLimits for LocalLimits {
    async fn check_auth(&self, ip: IpAddr) -> Result<()> {
        refuse(&self.clock, &self.auth, &ip, "auth")
    }

    async fn begin_login(&self, username: &str, ip: IpAddr) -> Result<LoginTicket> {
        self.failed_logins.begin(username, ip)
    }

    async fn login_succeeded(&self, ticket: LoginTicket) {
        self.failed_logins.succeeded(&ticket);
    }

    fn forget_idle(&self) {
        if let Some(auth) = &self.auth {
            auth.retain_recent();
        }
        self.failed_logins.forget_expired();
    }
}

/// Counts one event for `key`, or refuses it with how long to wait.
fn refuse<K>(clock: &DefaultClock, limiter: &Option<Keyed<K>>, key: &K, name: &'static str) -> Result<()>
where
    K: std::hash::Hash + Eq + Clone,
{
    let Some(limiter) = limiter else { return Ok(()) };
    match limiter.check_key(key) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            metrics::counter!("chat_rate_limited_total", "limit" => name).increment(1);
            let wait = not_until.wait_time_from(clock.now());
            Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs() + 1,
            })
        }
    }
}

pub struct RateLimits {
    sends: Option<Keyed<i64>>,
    uploads: Option<Keyed<i64>>,
    groups: Option<Keyed<i64>>,
    /// Auth requests and failed logins: across nodes when clustered.
    pub shared: Arc<dyn SharedLimits>,
    clock: DefaultClock,
    /// Proxies whose X-Forwarded-For is believed.
    trusted_proxies: Vec<IpRange>,
}

/// `per` events per `period`, with bursts of up to `burst`.
fn quota(per: u32, period: Duration, burst: u32) -> Option<Quota> {
    let per = NonZeroU32::new(per)?;
    let burst = NonZeroU32::new(burst.max(1))?;
    Quota::with_period(period / per.get()).map(|q| q.allow_burst(burst))
}

impl RateLimits {
    /// The per-node limits from `c`, with `shared` for the rest.
    pub fn new(c: &Config, shared: Arc<dyn SharedLimits>) -> Self {
        let on = |q: Option<Quota>| q.filter(|_| !c.no_rate_limits);
        let minute = Duration::from_secs(60);
        RateLimits {
            sends: on(quota(c.sends_per_second, Duration::from_secs(1), c.sends_burst)).map(Keyed::keyed),
            uploads: on(quota(c.uploads_per_minute, minute, c.uploads_burst)).map(Keyed::keyed),
            groups: on(quota(c.groups_per_minute, minute, c.groups_burst)).map(Keyed::keyed),
            shared,
            clock: DefaultClock::default(),
            trusted_proxies: c.trusted_proxies.clone(),
        }
    }

    /// Everything kept on this node.
    pub fn from_config(c: &Config) -> Self {
        Self::new(c, Arc::new(LocalLimits::from_config(c)))
    }

    /// Counts one event of `limit` for `user`, or refuses it.
    pub fn check_user(&self, limit: Limit, user: i64) -> Result<()> {
        let limiter = match limit {
            Limit::Send => &self.sends,
            Limit::Upload => &self.uploads,
            Limit::CreateGroup => &self.groups,
        };
        refuse(&self.clock, limiter, &user, limit.name())
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy,
    /// then the nearest untrusted address it forwarded for.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|range| range.contains(*ip));
        if !trusted(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !trusted(ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }

    /// Drops the state of keys that have been idle long enough to be full.
    pub fn forget_idle(&self) {
        for limiter in [&self.sends, &self.uploads, &self.groups].into_iter().flatten() {
            limiter.retain_recent();
        }
        self.shared.forget_idle();
    }

    /// Runs `forget_idle` every minute for as long as the limits live.
    pub fn start_upkeep(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(limits) => limits.forget_idle(),
                    None => break,
                }
            }
        });
    }
}

/// Middleware for `/auth/*`: one event per request per client IP.
pub async fn auth_rate_limit(
    State(limits): State<Arc<RateLimits>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    request: Request,
    next: Next,
) -> std::result::Result<Response, AppError> {
    let ip = limits.client_ip(peer.ip(), request.headers());
    limits.shared.check_auth(ip).await?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> RateLimits {
        let mut config = Config::with_data_dir("/tmp").unwrap();
        config.trusted_proxies = trusted.iter().map(|s| s.parse().unwrap()).collect();
        config.sends_burst = 3;
        RateLimits::from_config(&config)
    }

    #[test]
    fn bursts_then_refuses_with_a_wait() {
        let l = limits(&[]);
        for _ in 0..3 {
            l.check_user(Limit::Send, 1).unwrap();
        }
        match l.check_user(Limit::Send, 1) {
            Err(AppError::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected rate_limited, got {other:?}"),
        }
        l.check_user(Limit::Send, 2).unwrap();
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            limits(&[]).client_ip(peer, &headers),
            peer,
            "anyone can send the header"
        );
        let behind = limits(&["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            behind.client_ip(peer, &headers),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let one_hop = limits(&["10.0.0.1"]);
        assert_eq!(
            one_hop.client_ip(peer, &headers),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        let block = limits(&["10.0.0.0/8"]);
        assert_eq!(
            block.client_ip(peer, &headers),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }
}
