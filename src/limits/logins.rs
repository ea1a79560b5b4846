//! The failed-login throttle: after a few wrong passwords for one username,
//! or from one client address, within a window, further logins are refused
//! with `rate_limited` before any password is hashed.
//!
//! An attempt counts as a failure from the moment it starts, so that
//! concurrent guesses cannot all slip past the check; a login that succeeds
//! takes its own attempt back from the address, and clears its username's
//! count. A throttled attempt counts as nothing. Usernames are keyed as
//! typed, folded to lower case (they are unique without regard to case),
//! whether or not the account exists, so the answer tells nothing about it.
//! Per node for now, like the other limits.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{AppError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
}

/// Failures per username and per address, oldest first, each with the
/// ticket of the attempt that made it.
pub struct LoginThrottle {
    per_user: usize,
    per_ip: usize,
    window: Duration,
    failures: Mutex<HashMap<Key, VecDeque<(Instant, u64)>>>,
    next_ticket: AtomicU64,
}

/// A login in progress, counted as a failure unless it succeeds (then
/// handed back to `succeeded`). The cluster's throttle makes the same.
#[derive(Debug, Clone)]
pub struct LoginTicket {
    /// The username as typed, lower-cased.
    pub user: String,
    pub ip: IpAddr,
    /// Tells this attempt from the others in the address's count.
    pub token: u64,
}

impl LoginThrottle {
    /// `per_user` / `per_ip` of 0 turn that count off.
    pub fn new(per_user: u32, per_ip: u32, window: Duration) -> Self {
        LoginThrottle {
            per_user: per_user as usize,
            per_ip: per_ip as usize,
            window,
            failures: Mutex::default(),
            next_ticket: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, VecDeque<(Instant, u64)>>> {
        // Every update is a single step: the map is whole even after a panic.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a login for `username` from `ip`, or refuses it with how long
    /// to wait when either has failed too often within the window.
    pub fn begin(&self, username: &str, ip: IpAddr) -> Result<LoginTicket> {
        let now = Instant::now();
        let ticket = LoginTicket {
            user: username.to_lowercase(),
            ip,
            token: self.next_ticket.fetch_add(1, Ordering::Relaxed),
        };
        let user = Key::User(ticket.user.clone());
        let ip = Key::Ip(ip);
        let mut failures = self.lock();
        let mut wait = Duration::ZERO;
        for (key, limit) in [(&user, self.per_user), (&ip, self.per_ip)] {
            if limit == 0 {
                continue;
            }
            if let Some(times) = failures.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= limit
                    && let Some((oldest, _)) = times.get(times.len() - limit)
                {
                    wait = wait.max(self.window.saturating_sub(now.duration_since(*oldest)));
                }
            }
        }
        if !wait.is_zero() {
            metrics::counter!("chat_rate_limited_total", "limit" => "failed_logins").increment(1);
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        for (key, limit) in [(&user, self.per_user), (&ip, self.per_ip)] {
            if limit > 0 {
                failures
                    .entry(key.clone())
                    .or_default()
                    .push_back((now, ticket.token));
            }
        }
        Ok(ticket)
    }

    /// The password was right: the username's count starts over, and this
    /// attempt is taken back from the address's.
    pub fn succeeded(&self, ticket: &LoginTicket) {
        let mut failures = self.lock();
        failures.remove(&Key::User(ticket.user.clone()));
        let ip = Key::Ip(ticket.ip);
        if let Some(times) = failures.get_mut(&ip) {
            times.retain(|(_, token)| *token != ticket.token);
            if times.is_empty() {
                failures.remove(&ip);
            }
        }
    }

    /// Forgets failures older than the window (run now and then).
    pub fn forget_expired(&self) {
        let now = Instant::now();
        self.lock().retain(|_, times| {
            times.retain(|(t, _)| now.duration_since(*t) < self.window);
            !times.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn the_sixth_failure_for_a_user_is_refused_and_success_clears_it() {
        let t = LoginThrottle::new(5, 20, Duration::from_secs(60));
        for _ in 0..5 {
            let _failed = t.begin("Alice", ip(1)).unwrap();
        }
        assert!(matches!(
            t.begin("alice", ip(2)),
            Err(AppError::RateLimited { retry_after_secs }) if (59..=60).contains(&retry_after_secs)
        ));
        assert!(
            t.begin("bob", ip(1)).is_ok(),
            "another user from the same address"
        );

        let t = LoginThrottle::new(5, 20, Duration::from_secs(60));
        for _ in 0..4 {
            let _failed = t.begin("carol", ip(1)).unwrap();
        }
        let right = t.begin("carol", ip(1)).unwrap();
        t.succeeded(&right);
        for _ in 0..5 {
            let _failed = t.begin("carol", ip(1)).unwrap();
        }
        assert!(t.begin("carol", ip(1)).is_err());
    }

    #[test]
    fn an_address_is_refused_after_its_own_limit() {
        let t = LoginThrottle::new(5, 3, Duration::from_secs(60));
        for user in ["a1", "a2", "a3"] {
            let _failed = t.begin(user, ip(7)).unwrap();
        }
        assert!(t.begin("a4", ip(7)).is_err());
        assert!(t.begin("a4", ip(8)).is_ok());
    }

    #[test]
    fn the_window_passes() {
        let t = LoginThrottle::new(1, 0, Duration::from_millis(50));
        let _failed = t.begin("dave", ip(1)).unwrap();
        assert!(t.begin("dave", ip(1)).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.begin("dave", ip(1)).is_ok());
        t.forget_expired();
    }
}
