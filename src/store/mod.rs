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
use crate::domain::words::SearchQuery;
use crate::domain::{
    Attachment, Chat, ChatTarget, ClientId, DisplayName, FileName, GroupName, HistoryPage, Member, Message,
    MessageText, ReadMarker, Role, Session, Timestamp, User, Username,
};
use crate::error::Result;
use crate::events::Logged;

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

/// What login needs to know of an account.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub disabled: bool,
}

/// An account as the operator's `users list` shows it.
pub struct Account {
    pub user: User,
    pub disabled: bool,
    /// Sessions neither revoked nor past their refresh expiry.
    pub live_sessions: i64,
}

/// A refresh token as stored: its hash and until when it may be spent.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub hash: String,
    pub expires_at: Timestamp,
}

/// A session about to be opened (a login), with its first refresh token.
pub struct NewSession {
    pub device_name: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub refresh: RefreshGrant,
}

/// A `sessions` row.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: i64,
    pub user_id: i64,
    pub device_name: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub refresh_expires_at: Timestamp,
}

impl SessionRecord {
    /// As the API shows it to the holder of session `current`.
    pub fn view(&self, current: i64) -> Session {
        Session {
            id: self.id,
            device_name: self.device_name.clone(),
            user_agent: self.user_agent.clone(),
            ip: self.ip.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            current: self.id == current,
        }
    }
}

/// What a token check needs of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionAuth {
    pub user_id: i64,
    pub revoked: bool,
    pub last_used_at: Timestamp,
}

/// What spending a refresh token did.
#[derive(Debug)]
pub enum Refreshed {
    /// It was the session's current one: the session now has `next`.
    Rotated { user: User, session: SessionRecord },
    /// It was spent already: someone holds a copy, and the session (live
    /// until now) was revoked.
    Reused { session_id: i64 },
    /// Unknown, expired, or of a revoked session or a disabled account.
    Refused,
}

/// A display name change: the user after it, whether anything changed, and
/// the event that tells the users sharing a chat (the user included).
pub struct Renamed {
    pub user: User,
    pub changed: bool,
    /// `user_updated`, when it changed.
    pub events: Vec<Logged>,
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
    /// A message of the same chat this one answers.
    pub reply_to: Option<i64>,
}

/// A change to a stored message (v2), by `user_id`.
pub struct MessageChange {
    pub user_id: i64,
    pub message_id: i64,
    pub change: Change,
}

pub enum Change {
    /// The new text as sent; checked (`edited_text`) once the access
    /// checks have passed, so a non-member hears `not_a_member` first.
    /// ([`crate::domain::Emoji`] likewise for reactions.)
    Edit(Result<Option<String>>),
    Delete,
    /// The emoji as sent.
    React {
        emoji: String,
        add: bool,
    },
}

/// What a change did.
#[derive(Debug)]
pub struct Changed {
    /// The message afterwards, as the actor sees it (`me` filled in).
    pub message: Message,
    /// What changed; `None` when nothing did (a repeat).
    pub effect: Option<Effect>,
    /// What tells the chat.
    pub events: Vec<Logged>,
}

#[derive(Debug, Clone)]
pub enum Effect {
    /// `message_updated` with the message.
    Edited,
    /// `message_deleted`; `orphaned_blob` names the file's bytes when no
    /// attachment refers to them any more.
    Deleted { orphaned_blob: Option<String> },
    /// `reaction_added` / `reaction_removed`, with the emoji's count after.
    Reacted {
        user_id: i64,
        emoji: String,
        count: i64,
        added: bool,
    },
}

/// A search over the caller's chats (optionally one), newest first, ids
/// below `before`.
pub struct SearchRequest {
    pub user_id: i64,
    pub query: SearchQuery,
    pub chat_id: Option<i64>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// Held while a blob is stored and its row committed, or while an
/// unreferenced blob is removed: the two never interleave, on any node.
pub struct BlobLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl BlobLock {
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        BlobLock(Box::new(guard))
    }
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
    /// `receive_message` / `receive_file` (none for a repeat).
    pub events: Vec<Logged>,
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
    /// `read`, when it moved.
    pub events: Vec<Logged>,
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
    pub member: Member,
    /// `member_added` to the members before, `added_to_group` to the new one.
    pub events: Vec<Logged>,
}

/// A created group as its owner sees it, and `group_created`.
pub struct GroupCreated {
    pub group: Chat,
    pub events: Vec<Logged>,
}

/// A change to a group (v2) by `actor`.
pub struct GroupChange {
    pub actor: i64,
    pub group_id: i64,
    pub action: GroupAction,
}

pub enum GroupAction {
    /// The new name as sent, checked once the actor is known to be a
    /// member (as edits are).
    Rename(Result<GroupName>),
    Leave,
    Remove {
        user_id: i64,
    },
    /// The role as sent (checked likewise).
    SetRole {
        user_id: i64,
        role: Result<Role>,
    },
}

/// What a group change did.
pub struct GroupChanged {
    /// The group as the actor sees it afterwards (`None` once they left).
    pub group: Option<Chat>,
    /// Who is out of the group now: their sockets leave its room.
    pub gone: Vec<i64>,
    /// What tells the members (none when nothing changed).
    pub events: Vec<Logged>,
}

/// One page of a user's event log.
pub struct EventPage {
    pub events: Vec<Logged>,
    pub has_more: bool,
    /// The newest `seq` when the page was read.
    pub latest_seq: i64,
}

#[async_trait]
pub trait Users: Send + Sync {
    /// `username_taken` if the name exists in any case.
    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn username_taken(&self, username: &str) -> Result<bool>;
    /// The user, their password hash and whether they are disabled, for login.
    async fn credentials(&self, username: &str) -> Result<Option<Credentials>>;
    async fn user(&self, id: i64) -> Result<Option<User>>;
    async fn user_exists(&self, id: i64) -> Result<bool>;
    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>>;
    async fn set_last_seen(&self, user_id: i64, at: Timestamp) -> Result<()>;
}

/// Sessions (v2) and what the operator does to accounts. Every method that
/// revokes sessions records each revocation in the numbered log that
/// [`Sessions::revocations_after`] reads, in the same transaction.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Creates the account and its first session in one transaction.
    async fn register(&self, new: NewUser, session: NewSession) -> Result<(User, SessionRecord)>;
    async fn open_session(&self, user_id: i64, session: NewSession) -> Result<SessionRecord>;
    /// Whose a session is and whether it is revoked; `None` if it never was.
    async fn session_auth(&self, session_id: i64) -> Result<Option<SessionAuth>>;
    async fn touch_session(&self, session_id: i64, at: Timestamp) -> Result<()>;
    /// Spends the refresh token hashed `hash`, replacing it with `next`.
    async fn refresh(&self, hash: String, next: RefreshGrant) -> Result<Refreshed>;
    /// The user's live sessions, most recently used first.
    async fn live_sessions(&self, user_id: i64) -> Result<Vec<SessionRecord>>;
    /// Revokes one of the user's live sessions (404 `not_found` for any
    /// other id).
    async fn revoke_session(&self, user_id: i64, session_id: i64) -> Result<()>;
    /// Sets the password hash, gives session `keep` the refresh token
    /// `refresh`, and revokes every other session of the user; returns the
    /// kept session and the revoked ids.
    async fn change_password(
        &self,
        user_id: i64,
        keep: i64,
        password_hash: String,
        refresh: RefreshGrant,
    ) -> Result<(SessionRecord, Vec<i64>)>;
    async fn rename(&self, user_id: i64, name: DisplayName, then: Then<Renamed>) -> Result<Renamed>;
    /// Revocations numbered above `seq`, in order: (number, session id).
    async fn revocations_after(&self, seq: i64) -> Result<Vec<(i64, i64)>>;
    /// The newest revocation's number (0: none yet).
    async fn last_revocation(&self) -> Result<i64>;
    /// Every account, by id.
    async fn accounts(&self) -> Result<Vec<Account>>;
    /// Disables (revoking every session) or enables the account named
    /// `username` (404 `not_found` if none); returns the revoked ids.
    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(User, Vec<i64>)>;
    /// Sets the password of `username` and revokes every session.
    async fn reset_password(&self, username: &str, password_hash: String) -> Result<(User, Vec<i64>)>;
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

/// Edits, deletions and reactions (v2). Membership is checked first (403
/// `not_a_member` whatever else is wrong), then who may act, then the
/// message's state, then the input.
#[async_trait]
pub trait Changes: Send + Sync {
    async fn change_message(&self, change: MessageChange, then: Then<Changed>) -> Result<Changed>;
}

#[async_trait]
pub trait Search: Send + Sync {
    /// Live messages of the caller's chats matching every term, newest
    /// first, and whether more exist (`chat_id` must be the caller's: 404
    /// `chat_not_found`, 403 `not_a_member`).
    async fn search(&self, request: SearchRequest) -> Result<(Vec<Message>, bool)>;
}

#[async_trait]
pub trait Groups: Send + Sync {
    /// Creates the group with its owner and members (each must exist: 404
    /// `user_not_found`); returns it as every member sees it.
    async fn create_group(&self, new: NewGroup, then: Then<GroupCreated>) -> Result<GroupCreated>;
    /// The actor must be the owner or an admin.
    async fn add_member(&self, add: AddMember, then: Then<MemberAdded>) -> Result<MemberAdded>;
    /// Rename, leave, remove, roles (v2), by the rules of
    /// [`model::check_group_change`].
    async fn change_group(&self, change: GroupChange, then: Then<GroupChanged>) -> Result<GroupChanged>;
}

/// The event log (v2): every chat event, kept for the retention period.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// The events `user_id` received after `since`, in `seq` order, at most
    /// `limit`, read in one snapshot with the latest `seq`; 410
    /// `cursor_expired` when events after `since` were pruned.
    async fn events_for(&self, user_id: i64, since: i64, limit: u32) -> Result<EventPage>;
    /// Drops the events logged before `before` (the newest is always kept,
    /// so `seq` never goes back); returns the `seq` pruned through.
    async fn prune_events(&self, before: Timestamp) -> Result<i64>;
}

#[async_trait]
pub trait Files: Send + Sync {
    /// An attachment and its chat; with a viewer, only if they are a member.
    async fn attachment(&self, id: i64, viewer: Option<i64>) -> Result<Attachment>;
    /// Every blob key some attachment refers to.
    async fn referenced_blobs(&self) -> Result<HashSet<String>>;
    /// Whether some attachment refers to the blob `key`.
    async fn blob_referenced(&self, key: &str) -> Result<bool>;
    /// Waits for the lock of blob `key` (see [`BlobLock`]).
    async fn lock_blob(&self, key: &str) -> Result<BlobLock>;
}

/// Everything the server keeps in its database.
#[async_trait]
pub trait Store: Users + Sessions + Chats + Messages + Changes + Search + Groups + EventLog + Files {
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
