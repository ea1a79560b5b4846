//! Moving a SQLite store to PostgreSQL (`chat-server migrate`): users
//! (disabled ones stay disabled), their sessions (so that tokens and
//! refresh tokens keep working; the memory of spent refresh tokens is not
//! moved),
//! chats, members with their read markers, attachments' rows, messages
//! (with their search vectors, made on the way) and reactions
//! are copied with their ids, in pages, in the order their references
//! need; identity sequences then continue after the copied ids; and every
//! table's count and id sum are compared on both sides. Rows already there
//! (same key) are left alone, so a run that was interrupted, or a second
//! one, is safe; a target that holds other data (a key with other
//! contents, or more rows) fails the check and is not overwritten.

use std::path::Path;

use super::postgres::PgStore;
use super::sqlite::{SqliteOptions, SqliteStore, SyncMode};

/// Rows copied per round trip.
pub const PAGE: u32 = 2000;

pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub display_lower: String,
    pub password_hash: String,
    pub last_seen_at: Option<i64>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

pub struct ChatRecord {
    pub id: i64,
    pub kind: String,
    pub name: Option<String>,
    pub created_by: i64,
    pub created_at: i64,
    pub direct_lo: Option<i64>,
    pub direct_hi: Option<i64>,
    pub last_message_id: Option<i64>,
    pub last_activity_at: i64,
    pub last_seq: i64,
}

pub struct MemberRecord {
    pub chat_id: i64,
    pub user_id: i64,
    pub role: String,
    pub joined_at: i64,
    pub last_read_message_id: i64,
    pub last_read_seq: i64,
    pub sent_since_read: i64,
    pub joined_seq: i64,
}

pub struct AttachmentRecord {
    pub id: i64,
    pub chat_id: i64,
    pub uploader_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: i64,
}

pub struct MessageRecord {
    pub id: i64,
    pub chat_id: i64,
    pub sender_id: i64,
    pub kind: String,
    pub text: Option<String>,
    pub attachment_id: Option<i64>,
    pub client_id: Option<String>,
    pub created_at: i64,
    pub seq: i64,
    pub reply_to_id: Option<i64>,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub reaction_count: i64,
    pub change_seq: i64,
    /// Its attachment's file name: not a column of `messages`, but what
    /// the search index needs beside the text.
    pub filename: Option<String>,
}

pub struct ReactionRecord {
    pub id: i64,
    pub message_id: i64,
    pub user_id: i64,
    pub emoji: String,
    pub created_at: i64,
}

pub struct SessionRecord {
    pub id: i64,
    pub user_id: i64,
    pub device_name: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub refresh_hash: String,
    pub refresh_expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A page of one table, after a cursor (the key of the last row copied).
pub enum Page {
    Users(Vec<UserRecord>),
    Chats(Vec<ChatRecord>),
    Members(Vec<MemberRecord>),
    Attachments(Vec<AttachmentRecord>),
    Messages(Vec<MessageRecord>),
    Reactions(Vec<ReactionRecord>),
    Sessions(Vec<SessionRecord>),
}

impl Page {
    pub fn len(&self) -> usize {
        match self {
            Page::Users(rows) => rows.len(),
            Page::Chats(rows) => rows.len(),
            Page::Members(rows) => rows.len(),
            Page::Attachments(rows) => rows.len(),
            Page::Messages(rows) => rows.len(),
            Page::Reactions(rows) => rows.len(),
            Page::Sessions(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cursor after this page: (first key, second key).
    fn last_key(&self) -> Option<(i64, i64)> {
        match self {
            Page::Users(rows) => rows.last().map(|r| (r.id, 0)),
            Page::Chats(rows) => rows.last().map(|r| (r.id, 0)),
            Page::Members(rows) => rows.last().map(|r| (r.chat_id, r.user_id)),
            Page::Attachments(rows) => rows.last().map(|r| (r.id, 0)),
            Page::Messages(rows) => rows.last().map(|r| (r.id, 0)),
            Page::Reactions(rows) => rows.last().map(|r| (r.id, 0)),
            Page::Sessions(rows) => rows.last().map(|r| (r.id, 0)),
        }
    }
}

/// The tables in the order references need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Users,
    Chats,
    Members,
    Attachments,
    Messages,
    Reactions,
    Sessions,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Users,
        Table::Chats,
        Table::Members,
        Table::Attachments,
        Table::Messages,
        Table::Reactions,
        Table::Sessions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Chats => "chats",
            Table::Members => "chat_members",
            Table::Attachments => "attachments",
            Table::Messages => "messages",
            Table::Reactions => "reactions",
            Table::Sessions => "sessions",
        }
    }
}

/// Row count and sum of the first key column of one table: what both sides
/// must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub rows: i64,
    pub key_sum: i64,
}

/// What one table's copy did.
pub struct Copied {
    pub table: Table,
    pub source: Tally,
    pub target: Tally,
    /// Rows whose key was in the target already, with other contents.
    pub differing: u64,
}

impl Copied {
    pub fn matches(&self) -> bool {
        self.source == self.target && self.differing == 0
    }
}

/// Copies the SQLite store at `sqlite_file` into the PostgreSQL database at
/// `url`; `progress` hears about each table as it is done.
pub async fn sqlite_to_postgres(
    sqlite_file: &Path,
    url: &str,
    mut progress: impl FnMut(&Copied),
) -> std::io::Result<Vec<Copied>> {
    if !sqlite_file.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no database at {}", sqlite_file.display()),
        ));
    }
    let source = SqliteStore::open(sqlite_file, SqliteOptions::new(SyncMode::Normal))?;
    let target = PgStore::open(url).await?;
    // The operator sees the cause of an internal error, which a client never does.
    let io = |e: crate::error::AppError| {
        std::io::Error::other(e.internal_cause().map_or_else(|| e.to_string(), str::to_string))
    };
    let mut report = Vec::new();
    for table in Table::ALL {
        let mut cursor = (0, 0);
        let mut differing = 0;
        loop {
            let page = source.export_page(table, cursor, PAGE).await.map_err(io)?;
            let Some(last) = page.last_key() else { break };
            differing += target.import_page(page).await.map_err(io)?;
            cursor = last;
        }
        let copied = Copied {
            table,
            source: source.tally(table).await.map_err(io)?,
            target: target.tally(table).await.map_err(io)?,
            differing,
        };
        progress(&copied);
        report.push(copied);
    }
    target.continue_identities().await.map_err(io)?;
    let latest = source.latest_event_seq().await.map_err(io)?;
    target.continue_events(latest).await.map_err(io)?;
    Ok(report)
}

/// Every table matched?
pub fn verified(report: &[Copied]) -> bool {
    report.iter().all(Copied::matches)
}
