//! The server's secrets at work: login tokens (JWT), password hashes
//! (argon2id), signed file URLs (HMAC), refresh tokens, and the view of
//! sessions that keeps token checks off the database. Low in the crate: the
//! domains and the shared state use it, it uses none of them.

mod file_urls;
mod passwords;
mod sessions;
mod tokens;

pub use file_urls::{FileSigner, Signable, has_attachment};
pub use passwords::PasswordHasher;
pub use sessions::{Known, NoBus, RevocationBus, SessionCache, TOUCH_EVERY};
pub use tokens::{
    IssuedToken, TokenClaims, Tokens, flag_secret, load_or_create_secret, new_refresh_token, new_secret,
    refresh_hash, secret_file,
};
