//! What handlers and socket events share: one pointer to the server's
//! parts. Low in the crate: it imports no domain module, so every domain
//! can take it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::blobs::BlobStore;
use crate::config::Config;
use crate::credentials::{FileSigner, PasswordHasher, RevocationBus, SessionCache, Tokens};
use crate::events::Outbox;
use crate::limits::RateLimits;
use crate::presence::PresenceStore;
use crate::store::Store;

/// What every handler can reach: one pointer to the shared [`Services`], so
/// a clone per request or event is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The server's shared parts.
pub struct Services {
    pub config: Arc<Config>,
    /// Where the data lives (SQLite or PostgreSQL, behind one interface).
    pub store: Arc<dyn Store>,
    pub tokens: Arc<Tokens>,
    pub passwords: PasswordHasher,
    /// Who is online (this node's sockets, or the cluster's).
    pub presence: Arc<dyn PresenceStore>,
    /// Committed changes on their way to connected sockets.
    pub outbox: Outbox,
    /// Where file bytes are kept.
    pub blobs: Arc<dyn BlobStore>,
    /// Where uploads are staged while they are checked.
    pub staging_dir: PathBuf,
    /// Mints and checks signed file URLs.
    pub files: Arc<FileSigner>,
    /// Rate limits per IP and per user.
    pub limits: Arc<RateLimits>,
    /// Sessions seen live or revoked, so a token check needs no database read.
    pub sessions: SessionCache,
    /// Tells the other nodes of this node's revocations.
    pub revocations: Arc<dyn RevocationBus>,
}
