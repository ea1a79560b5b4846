//! Reading the SQLite store out, a page at a time, for `chat-server
//! migrate` (see `store::transfer`).

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::error::Result;
use crate::store::transfer::{
    AttachmentRecord, ChatRecord, MemberRecord, MessageRecord, Page, ReactionRecord, SessionRecord, Table,
    Tally, UserRecord,
};

fn page(conn: &Connection, table: Table, (a, b): (i64, i64), limit: u32) -> Result<Page> {
    Ok(match table {
        Table::Users => {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, username, display_name, display_lower, password_hash, last_seen_at, created_at,
                        disabled_at
                 FROM users WHERE id > ?1 ORDER BY id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([a], |r| {
                Ok(UserRecord {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    display_name: r.get(2)?,
                    display_lower: r.get(3)?,
                    password_hash: r.get(4)?,
                    last_seen_at: r.get(5)?,
                    created_at: r.get(6)?,
                    disabled_at: r.get(7)?,
                })
            })?;
            Page::Users(rows.collect::<rusqlite::Result<_>>()?)
        }
        Table::Chats => {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, kind, name, created_by, created_at, direct_lo, direct_hi, last_message_id,
                        last_activity_at, last_seq
                 FROM chats WHERE id > ?1 ORDER BY id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([a], |r| {
                Ok(ChatRecord {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    created_by: r.get(3)?,
                    created_at: r.get(4)?,
                    direct_lo: r.get(5)?,
                    direct_hi: r.get(6)?,
                    last_message_id: r.get(7)?,
                    last_activity_at: r.get(8)?,
                    last_seq: r.get(9)?,
                })
            })?;
            Page::Chats(rows.collect::<rusqlite::Result<_>>()?)
        }
        Table::Members => {
            let mut stmt = conn.prepare(&format!(
                "SELECT chat_id, user_id, role, joined_at, last_read_message_id, last_read_seq, sent_since_read,
                        joined_seq
                 FROM chat_members WHERE (chat_id, user_id) > (?1, ?2)
                 ORDER BY chat_id, user_id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map(params![a, b], |r| {
                Ok(MemberRecord {
                    chat_id: r.get(0)?,
                    user_id: r.get(1)?,
                    role: r.get(2)?,
                    joined_at: r.get(3)?,
                    last_read_message_id: r.get(4)?,
                    last_read_seq: r.get(5)?,
                    sent_since_read: r.get(6)?,
                    joined_seq: r.get(7)?,
                })
            })?;
            Page::Members(rows.collect::<rusqlite::Result<_>>()?)
        }
        Table::Attachments => {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, chat_id, uploader_id, filename, content_type, size, sha256, created_at
                 FROM attachments WHERE id > ?1 ORDER BY id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([a], |r| {
                Ok(AttachmentRecord {
                    id: r.get(0)?,
                    chat_id: r.get(1)?,
                    uploader_id: r.get(2)?,
                    filename: r.get(3)?,
                    content_type: r.get(4)?,
                    size: r.get(5)?,
                    sha256: r.get(6)?,
                    created_at: r.get(7)?,
                })
            })?;
            Page::Attachments(rows.collect::<rusqlite::Result<_>>()?)
        }
        Table::Messages => {
            let mut stmt = conn.prepare(&format!(
                "SELECT m.id, m.chat_id, m.sender_id, m.kind, m.text, m.attachment_id, m.client_id, m.created_at,
                        m.seq, m.reply_to_id, m.edited_at, m.deleted_at, m.reaction_count, a.filename,
                        m.change_seq
                 FROM messages m LEFT JOIN attachments a ON a.id = m.attachment_id
                 WHERE m.id > ?1 ORDER BY m.id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([a], |r| {
                Ok(MessageRecord {
                    id: r.get(0)?,
                    chat_id: r.get(1)?,
                    sender_id: r.get(2)?,
                    kind: r.get(3)?,
                    text: r.get(4)?,
                    attachment_id: r.get(5)?,
                    client_id: r.get(6)?,
                    created_at: r.get(7)?,
                    seq: r.get(8)?,
                    reply_to_id: r.get(9)?,
                    edited_at: r.get(10)?,
                    deleted_at: r.get(11)?,
                    reaction_count: r.get(12)?,
                    filename: r.get(13)?,
                    change_seq: r.get(14)?,
                })
            })?;
            Page::Messages(rows.collect::<rusqlite::Result<_>>()?)
        }
        Table::Reactions => {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, message_id, user_id, emoji, created_at
                 FROM reactions WHERE id > ?1 ORDER BY id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([a], |r| {
                Ok(ReactionRecord {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    user_id: r.get(2)?,
                    emoji: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })?;
            Page::Reactions(rows.collect::<rusqlite::Result<_>>()?)
        }
        Table::Sessions => {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, user_id, device_name, user_agent, ip, created_at, last_used_at, refresh_hash,
                        refresh_expires_at, revoked_at
                 FROM sessions WHERE id > ?1 ORDER BY id LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([a], |r| {
                Ok(SessionRecord {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    device_name: r.get(2)?,
                    user_agent: r.get(3)?,
                    ip: r.get(4)?,
                    created_at: r.get(5)?,
                    last_used_at: r.get(6)?,
                    refresh_hash: r.get(7)?,
                    refresh_expires_at: r.get(8)?,
                    revoked_at: r.get(9)?,
                })
            })?;
            Page::Sessions(rows.collect::<rusqlite::Result<_>>()?)
        }
    })
}

fn tally(conn: &Connection, table: Table) -> Result<Tally> {
    let key = if table == Table::Members { "chat_id" } else { "id" };
    let sql = format!("SELECT COUNT(*), COALESCE(SUM({key}), 0) FROM {}", table.name());
    Ok(conn.query_row(&sql, [], |r| {
        Ok(Tally {
            rows: r.get(0)?,
            key_sum: r.get(1)?,
        })
    })?)
}

impl SqliteStore {
    /// Up to `limit` rows of `table` after `cursor`, in key order.
    pub async fn export_page(&self, table: Table, cursor: (i64, i64), limit: u32) -> Result<Page> {
        self.db.read(move |conn| page(conn, table, cursor, limit)).await
    }

    pub async fn tally(&self, table: Table) -> Result<Tally> {
        self.db.read(move |conn| tally(conn, table)).await
    }

    /// The newest `seq` given out (events are not copied).
    pub async fn latest_event_seq(&self) -> Result<i64> {
        self.db
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT max(COALESCE((SELECT max(seq) FROM events), 0), pruned_through) FROM event_log",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
    }
}
