//! This node's view of sessions, so that the token check on every request
//! and socket connect needs no database read: the sessions seen live (with
//! when each was last recorded as used) and the sessions revoked lately.
//!
//! A session is looked up in the store once per node, the first time one of
//! its tokens arrives, and remembered as live; a revocation removes it and
//! remembers it as revoked. Revocations reach this view at once on the node
//! that made them, through Redis on the others (a [`RevocationBus`]), and
//! through the store's numbered log within a quarter of a second in any
//! case (the operator's CLI, a message lost while Redis was away). The
//! revoked set is what keeps a store read that raced a revocation from
//! putting the session back: a session once revoked is never admitted
//! again here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::Timestamp;

/// How often a session's `last_used_at` is written while it is in use.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// How long a live session unused on this node stays remembered.
const LIVE_IDLE: Duration = Duration::from_secs(60 * 60);
/// How long a revocation stays remembered here: far longer than any store
/// read it must win against; after it, the store says "revoked" itself.
const REVOKED_KEEP: Duration = Duration::from_secs(10 * 60);

/// What this node knows of a session, for a token naming `user_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Live; `touch`: time to record it as used.
    Live { touch: bool },
    /// Revoked, or not that user's.
    Refused,
    /// Not seen yet: ask the store.
    Unknown,
}

struct Entry {
    user_id: i64,
    /// Unix ms of the last `last_used_at` written (or seen).
    touched: AtomicI64,
    /// Unix ms of the last use on this node.
    used: AtomicI64,
}

#[derive(Default)]
struct Inner {
    live: HashMap<i64, Entry>,
    revoked: HashMap<i64, Instant>,
}

#[derive(Default)]
pub struct SessionCache {
    inner: RwLock<Inner>,
}

impl SessionCache {
    pub fn lookup(&self, session_id: i64, user_id: i64) -> Known {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match inner.live.get(&session_id) {
            Some(entry) if entry.user_id == user_id => {
                let now = Timestamp::now().0;
                entry.used.store(now, Ordering::Relaxed);
                let touched = entry.touched.load(Ordering::Relaxed);
                let due = now.saturating_sub(touched) >= TOUCH_EVERY.as_millis() as i64;
                // One request of many wins the touch.
                let touch = due
                    && entry
                        .touched
                        .compare_exchange(touched, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok();
                Known::Live { touch }
            }
            Some(_) => Known::Refused,
            None if inner.revoked.contains_key(&session_id) => Known::Refused,
            None => Known::Unknown,
        }
    }

    /// Remembers a session the store said is live (unless it was revoked
    /// meanwhile). `touched`: its `last_used_at` as read.
    pub fn admit(&self, session_id: i64, user_id: i64, touched: Timestamp) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.revoked.contains_key(&session_id) {
            return;
        }
        inner.live.entry(session_id).or_insert_with(|| Entry {
            user_id,
            touched: AtomicI64::new(touched.0),
            used: AtomicI64::new(Timestamp::now().0),
        });
    }

    /// When the session was last used on this node, if it is remembered
    /// (fresher than the store's `last_used_at`, which is written once a
    /// minute).
    pub fn last_used(&self, session_id: i64) -> Option<Timestamp> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .live
            .get(&session_id)
            .map(|e| Timestamp(e.used.load(Ordering::Relaxed)))
    }

    /// Whether the session is known revoked here.
    pub fn is_revoked(&self, session_id: i64) -> bool {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.revoked.contains_key(&session_id)
    }

    /// Marks sessions revoked; returns those this node did not know were.
    pub fn revoke(&self, session_ids: &[i64]) -> Vec<i64> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let mut news = Vec::new();
        for &id in session_ids {
            inner.live.remove(&id);
            if inner.revoked.insert(id, now).is_none() {
                news.push(id);
            }
        }
        news
    }

    /// Remembers a session the store said is revoked, so that its tokens
    /// cost no store read again (a revocation this node already applied,
    /// or one older than it remembers).
    pub fn remember_revoked(&self, session_id: i64) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.live.remove(&session_id);
        inner.revoked.entry(session_id).or_insert_with(Instant::now);
    }

    /// Forgets revocations past [`REVOKED_KEEP`] and sessions idle here for
    /// an hour (run now and then).
    pub fn forget_old(&self) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let idle_before = Timestamp::now().0 - LIVE_IDLE.as_millis() as i64;
        inner
            .live
            .retain(|_, e| e.used.load(Ordering::Relaxed) >= idle_before);
        inner.revoked.retain(|_, at| at.elapsed() < REVOKED_KEEP);
    }
}

/// Tells the other nodes of revocations made on this one. One node alone
/// has nobody to tell ([`NoBus`]); a cluster's nodes hear through Redis.
#[async_trait]
pub trait RevocationBus: Send + Sync {
    async fn announce(&self, session_ids: &[i64]);
}

/// The bus of a node alone.
pub struct NoBus;

#[async_trait]
impl RevocationBus for NoBus {
    async fn announce(&self, _session_ids: &[i64]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_session_is_never_admitted_again() {
        let cache = SessionCache::default();
        assert_eq!(cache.lookup(1, 10), Known::Unknown);
        cache.admit(1, 10, Timestamp::now());
        assert_eq!(cache.lookup(1, 10), Known::Live { touch: false });
        assert_eq!(cache.lookup(1, 11), Known::Refused, "another user's token");
        assert_eq!(cache.revoke(&[1, 2]), vec![1, 2]);
        assert_eq!(cache.revoke(&[1]), Vec::<i64>::new());
        cache.admit(1, 10, Timestamp::now());
        assert_eq!(cache.lookup(1, 10), Known::Refused);
        assert!(cache.is_revoked(2));
        cache.remember_revoked(3);
        assert_eq!(cache.lookup(3, 10), Known::Refused);
        assert_eq!(cache.revoke(&[3]), Vec::<i64>::new(), "known already");
    }

    #[test]
    fn a_session_is_touched_once_a_minute() {
        let cache = SessionCache::default();
        cache.admit(5, 1, Timestamp(Timestamp::now().0 - 61_000));
        assert_eq!(cache.lookup(5, 1), Known::Live { touch: true });
        assert_eq!(cache.lookup(5, 1), Known::Live { touch: false });
    }
}
