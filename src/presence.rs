//! Who is online: a count of open sockets per user on this node. A user is
//! online from their first socket to their last. Sockets count themselves
//! in and out (`realtime`); anything that sends a user out marks them with
//! [`Presence::decorate`]. (With several nodes this map moves behind an
//! interface with a shared implementation; nothing else needs to change.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::User;

#[derive(Clone, Default)]
pub struct Presence {
    sockets: Arc<Mutex<HashMap<i64, u32>>>,
}

impl Presence {
    pub fn is_online(&self, user_id: i64) -> bool {
        self.lock().contains_key(&user_id)
    }

    /// A user as sent out: `online` comes from here, not the database.
    pub fn decorate(&self, mut user: User) -> User {
        user.online = self.is_online(user.id);
        user
    }

    /// Counts a new socket; true when it is the user's first.
    pub fn connect(&self, user_id: i64) -> bool {
        let mut map = self.lock();
        let count = map.entry(user_id).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Forgets a socket; true when it was the user's last.
    pub fn disconnect(&self, user_id: i64) -> bool {
        let mut map = self.lock();
        match map.get_mut(&user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                map.remove(&user_id);
                true
            }
            None => false,
        }
    }

    /// Sockets open for a user on this node.
    pub fn sockets_of(&self, user_id: i64) -> u32 {
        self.lock().get(&user_id).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u32>> {
        // The map stays consistent even if a holder panicked: every update
        // is a single step.
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_socket() {
        let p = Presence::default();
        assert!(p.connect(1));
        assert!(!p.connect(1));
        assert!(p.is_online(1));
        assert!(!p.disconnect(1));
        assert!(p.disconnect(1));
        assert!(!p.is_online(1));
        assert!(!p.disconnect(1));
    }
}
