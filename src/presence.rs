//! Who is online, and how many sockets each user holds: an interface with
//! one implementation per deployment. [`LocalPresence`] counts this node's
//! sockets (one node); the cluster's (`cluster::RedisPresence`) counts
//! every node's in Redis, so that a user is online while any node holds a
//! socket of theirs and `--max-sockets-per-user` holds across nodes.
//! Sockets count themselves in and out (`realtime`); anything that sends a
//! user out marks them with [`decorate`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::domain::User;
use crate::error::Result;

/// What counting a new socket in did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The user's first socket anywhere: they just came online.
    First,
    /// The user had sockets already.
    Another,
    /// The user holds the most sockets allowed: refused, not counted.
    Full,
}

#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Counts a new socket of `user_id`, unless they hold `max` already.
    async fn connect(&self, user_id: i64, max: u32) -> Result<Admission>;
    /// Counts a socket out; true when it was the user's last anywhere.
    async fn disconnect(&self, user_id: i64) -> Result<bool>;
    /// Whether each of `user_ids` is online, in order.
    async fn online(&self, user_ids: &[i64]) -> Result<Vec<bool>>;
    /// Called every heartbeat: keeps this node counted and takes dead
    /// nodes' sockets off; returns the users that took offline.
    async fn upkeep(&self) -> Result<Vec<i64>> {
        Ok(Vec::new())
    }
    /// This node is going (graceful shutdown): forget its share.
    async fn leave_cluster(&self) {}
}

/// `users` with `online` filled in from presence (not the database). An
/// unanswered presence (Redis down) reads as offline rather than failing the
/// request.
pub async fn decorate(presence: &dyn PresenceStore, mut users: Vec<User>) -> Vec<User> {
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    match presence.online(&ids).await {
        Ok(online) => {
            for (user, online) in users.iter_mut().zip(online) {
                user.online = online;
            }
        }
        Err(e) => tracing::warn!(error = %e, "presence unavailable: users shown offline"),
    }
    users
}

/// One user, decorated.
pub async fn decorate_one(presence: &dyn PresenceStore, user: User) -> User {
    let mut decorated = decorate(presence, vec![user.clone()]).await;
    decorated.pop().unwrap_or(user)
}

/// A count of open sockets per user on this node.
#[derive(Clone, Default)]
pub struct LocalPresence {
    sockets: Arc<Mutex<HashMap<i64, u32>>>,
}

impl LocalPresence {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u32>> {
        // The map stays consistent even if a holder panicked: every update
        // is a single step.
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PresenceStore for LocalPresence {
    async fn connect(&self, user_id: i64, max: u32) -> Result<Admission> {
        let mut map = self.lock();
        let count = map.entry(user_id).or_insert(0);
        if *count >= max {
            if *count == 0 {
                map.remove(&user_id);
            }
            return Ok(Admission::Full);
        }
        *count += 1;
        Ok(if *count == 1 {
            Admission::First
        } else {
            Admission::Another
        })
    }

    async fn disconnect(&self, user_id: i64) -> Result<bool> {
        let mut map = self.lock();
        Ok(match map.get_mut(&user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                map.remove(&user_id);
                true
            }
            None => false,
        })
    }

    async fn online(&self, user_ids: &[i64]) -> Result<Vec<bool>> {
        let map = self.lock();
        Ok(user_ids.iter().map(|id| map.contains_key(id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_and_last_socket_and_the_cap() {
        let p = LocalPresence::default();
        assert_eq!(p.connect(1, 2).await.unwrap(), Admission::First);
        assert_eq!(p.connect(1, 2).await.unwrap(), Admission::Another);
        assert_eq!(p.connect(1, 2).await.unwrap(), Admission::Full);
        assert_eq!(p.online(&[1, 2]).await.unwrap(), [true, false]);
        assert!(!p.disconnect(1).await.unwrap());
        assert!(p.disconnect(1).await.unwrap());
        assert_eq!(p.online(&[1]).await.unwrap(), [false]);
        assert!(!p.disconnect(1).await.unwrap());
        assert_eq!(p.connect(3, 0).await.unwrap(), Admission::Full);
        assert_eq!(p.online(&[3]).await.unwrap(), [false]);
    }
}
