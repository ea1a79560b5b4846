//! The server's secrets at work: login tokens (JWT), password hashes
//! (argon2id), signed file URLs (HMAC), and the cache of users known to
//! exist that keeps token checks off the database. Low in the crate: the
//! domains and the shared state use it, it uses none of them.

mod file_urls;
mod passwords;
mod tokens;

pub use file_urls::{FileSigner, Signable};
pub use passwords::PasswordHasher;
pub use tokens::{IssuedToken, Tokens, flag_secret, load_or_create_secret, new_secret, secret_file};

/// Ids of users known to exist. Only grows: there is no way to delete an
/// account, so a user once seen stays valid.
#[derive(Default)]
pub struct KnownUsers(std::sync::RwLock<std::collections::HashSet<i64>>);

impl KnownUsers {
    pub fn contains(&self, id: i64) -> bool {
        self.0.read().map(|set| set.contains(&id)).unwrap_or(false)
    }

    pub fn insert(&self, id: i64) {
        if let Ok(mut set) = self.0.write() {
            set.insert(id);
        }
    }
}
