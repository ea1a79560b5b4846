//! The store: where users, chats, members, messages and attachments' rows
//! live, as an interface of whole operations.
//!
//! Each method is one operation with its transaction and its access rules
//! inside (`send_message` checks membership, creates a direct chat on first
//! use, stores the attachment row and the message together); domain code
//! validates input, applies rate limits, calls one method, and publishes
//! what it returns. It never sees a connection, a transaction or a
//! dialect's error type. Two implementations: `sqlite` (the default, one
//! file under the data dir) and `postgres` (for several nodes).
//!
//! Write operations take a [`Then`] hook, run once the write has committed
//! and in commit order with every other write's: that is how broadcasts
//! leave in the order of message ids. A hook must be quick and must not
//! block (queue an event, no I/O).

pub(crate) mod model;
pub mod postgres;
pub mod sqlite;
pub mod transfer;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{Config, Database};
use crate::domain::{
    Attachment, Chat, ChatTarget, ClientId, DisplayName, FileName, GroupName, HistoryPage, Member, Message,
    MessageText, ReadMarker, Timestamp, User, Username,
};
use crate::error::Result;

/// Runs after a write has committed, in commit order (see the module docs).
pub type Then<T> = Box<dyn FnOnce(&T) + Send + 'static>;

/// A hook that does nothing, for writes nobody needs to hear about.
pub fn nothing<T>() -> Then<T> {
    Box::new(|_| {})
}

/// Whether a chat id may name any chat or must name a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    AnyChat,
    Group,
}

/// An account about to be created.
pub struct NewUser {
    pub username: Username,
    pub display_name: DisplayName,
    pub password_hash: String,
}

/// A page of the user directory: ids after `after`, optionally filtered by
/// a username or display-name prefix (case-insensitive), `fetch` at most.
pub struct UserQuery {
    pub prefix: Option<String>,
    pub after: i64,
    pub fetch: u32,
}

/// One page of a chat's history, with the chat as the caller sees it.
pub struct History {
    pub chat: Chat,
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// A file whose bytes are already in the blob store.
pub struct StoredFile {
    pub filename: FileName,
    pub content_type: &'static str,
    pub size: i64,
    pub sha256: String,
}

/// A message about to be stored: who sends it where, its idempotency key,
/// and what it carries (text, or a stored file with an optional caption).
pub struct NewSend {
    pub sender: i64,
    pub target: ChatTarget,
    pub client_id: Option<ClientId>,
    pub text: Option<MessageText>,
    pub file: Option<StoredFile>,
}

/// What a send did.
#[derive(Debug)]
pub struct Sent {
    pub message: Message,
    /// False when `client_id` matched an earlier message, which is returned
    /// instead and must not be broadcast again.
    pub created: bool,
    /// Set when this send created the direct chat: its members, whose
    /// sockets must join the chat's room before the message goes out.
    pub new_chat_members: Option<Vec<i64>>,
}

/// The answer to "may this sender send to that target?", asked before the
/// work of a send starts (a file's bytes).
pub enum Precheck {
    /// The `client_id` was used before: this is the message it stored.
    Earlier(Box<Sent>),
    /// Allowed (the send itself checks again, in its transaction).
    Proceed,
}

/// A read marker moved (or not).
pub struct ReadMarked {
    /// The marker in force afterwards (it never moves back).
    pub marker: ReadMarker,
    pub moved: bool,
}

/// A group about to be created: `members` exist and exclude the owner.
pub struct NewGroup {
    pub owner: i64,
    pub name: GroupName,
    pub members: Vec<i64>,
}

/// One user added to a group by another.
pub struct AddMember {
    pub actor: i64,
    pub group_id: i64,
    pub user_id: i64,
    /// The group may not grow past this.
    pub max_members: i64,
}

/// What adding a member did: the group as the actor sees it and as the new
/// member does, and the new member's entry.
pub struct MemberAdded {
    pub for_actor: Chat,
    pub for_new_member: Chat,
    pub member: Member,
}

#[async_trait]
pub trait Users: Send + Sync {
    /// `username_taken` if the name exists in any case.
    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn username_taken(&self, username: &str) -> Result<bool>;
    /// The user and their password hash, for login.
    async fn credentials(&self, username: &str) -> Result<Option<(User, String)>>;
    async fn user(&self, id: i64) -> Result<Option<User>>;
    async fn user_exists(&self, id: i64) -> Result<bool>;
    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>>;
    async fn set_last_seen(&self, user_id: i64, at: Timestamp) -> Result<()>;
}

#[async_trait]
pub trait Chats: Send + Sync {
    /// The user's chats as they see them, newest activity first.
    async fn chats_of(&self, user_id: i64) -> Result<Vec<Chat>>;
    /// Ids of every chat the user belongs to (for socket rooms).
    async fn chat_ids_of(&self, user_id: i64) -> Result<Vec<i64>>;
    /// `Ok` for a member; 404 for a chat that does not exist (or is not a
    /// group when one is expected), 403 `not_a_member` for an outsider.
    async fn check_member(&self, user_id: i64, chat_id: i64, expect: Expect) -> Result<()>;
    /// The chat as a member sees it (same errors as `check_member`).
    async fn chat_for(&self, user_id: i64, chat_id: i64, expect: Expect) -> Result<Chat>;
    async fn history(&self, user_id: i64, chat_id: i64, expect: Expect, page: HistoryPage)
    -> Result<History>;
    /// Moves the user's marker forward to `message_id`, a message of the
    /// chat (404 otherwise).
    async fn mark_read(
        &self,
        user_id: i64,
        chat_id: i64,
        message_id: i64,
        then: Then<ReadMarked>,
    ) -> Result<ReadMarked>;
}

#[async_trait]
pub trait Messages: Send + Sync {
    /// Stores a message (and its attachment row) in the target chat, after
    /// checking the sender may write there; a repeated `client_id` returns
    /// the earlier message instead.
    async fn send_message(&self, send: NewSend, then: Then<Sent>) -> Result<Sent>;
    /// The checks of a send that need no bytes, in the same order.
    async fn precheck_send(
        &self,
        sender: i64,
        target: ChatTarget,
        client_id: Option<ClientId>,
    ) -> Result<Precheck>;
    /// Messages of all the user's chats with an id above `after`, oldest
    /// first, and whether more exist.
    async fn messages_since(&self, user_id: i64, after: i64, limit: u32) -> Result<(Vec<Message>, bool)>;
}

#[async_trait]
pub trait Groups: Send + Sync {
    /// Creates the group with its owner and members (each must exist: 404
    /// `user_not_found`); returns it as every member sees it.
    async fn create_group(&self, new: NewGroup, then: Then<Chat>) -> Result<Chat>;
    /// The actor must be the owner or an admin.
    async fn add_member(&self, add: AddMember, then: Then<MemberAdded>) -> Result<MemberAdded>;
}

#[async_trait]
pub trait Files: Send + Sync {
    /// An attachment and its chat; with a viewer, only if they are a member.
    async fn attachment(&self, id: i64, viewer: Option<i64>) -> Result<Attachment>;
    /// Every blob key some attachment refers to.
    async fn referenced_blobs(&self) -> Result<HashSet<String>>;
}

/// Everything the server keeps in its database.
#[async_trait]
pub trait Store: Users + Chats + Messages + Groups + Files {
    /// Ready to serve? (`/healthz`)
    async fn health(&self) -> Result<()>;
    /// The token secret every node shares, kept in the database:
    /// `candidate` becomes it unless one is kept already. `None`: this
    /// store keeps none (SQLite: one node, the secret file in its data dir).
    async fn shared_secret(&self, _candidate: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Claims the database for this node, for as long as the process
    /// lives: refused (with who holds it) when another node uses it and
    /// either of them has no cluster to coordinate through (`clustered`:
    /// this node has `--redis-url`).
    async fn claim(&self, _node: &str, _clustered: bool) -> std::io::Result<()> {
        Ok(())
    }
    /// Called once at shutdown, after the last request: writes already
    /// queued are committed first.
    async fn close(&self) -> Result<()>;
}

/// Opens the store the configuration names (`--database-url`).
pub async fn open(config: &Config) -> std::io::Result<Arc<dyn Store>> {
    match config.database().map_err(std::io::Error::other)? {
        Database::Sqlite => {
            let options = sqlite::SqliteOptions::from_config(config);
            Ok(Arc::new(sqlite::SqliteStore::open(&config.db_path(), options)?))
        }
        Database::Postgres(url) => Ok(Arc::new(postgres::PgStore::open(&url).await?)),
    }
}
