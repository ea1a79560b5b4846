//! Reading rows into the API's objects, and the three ways SQL is run
//! (all through each connection's cache of prepared statements).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use crate::domain::{
    Attachment, ChatKind, Member, Message, MessageKind, Reaction, ReplyTo, Role, Timestamp, User,
};
use crate::error::{AppError, Result};
use crate::store::model::{ChatRow, Membership};

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub async fn rows<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

pub async fn row<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

pub async fn execute<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// Column `idx` of `row`; a type that does not match the schema is an
/// internal error, not a panic.
pub fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| AppError::internal(format_args!("postgres column {idx}: {e}")))
}

pub const USER_COLUMNS: &str = "id, username, display_name, last_seen_at, created_at";

pub fn user(row: &Row) -> Result<User> {
    Ok(User {
        id: get(row, 0)?,
        username: get(row, 1)?,
        display_name: get(row, 2)?,
        online: false,
        last_seen_at: get::<Option<i64>>(row, 3)?.map(Timestamp),
        created_at: Timestamp(get(row, 4)?),
    })
}

pub const CHAT_COLUMNS: &str =
    "c.id, c.kind, c.name, c.created_by, c.created_at, c.last_message_id, c.last_seq";

pub fn chat(row: &Row) -> Result<ChatRow> {
    Ok(ChatRow {
        id: get(row, 0)?,
        kind: ChatKind::from_db(get(row, 1)?),
        name: get(row, 2)?,
        created_by: get(row, 3)?,
        created_at: Timestamp(get(row, 4)?),
        last_message_id: get(row, 5)?,
        last_seq: get(row, 6)?,
    })
}

pub const MEMBERSHIP_COLUMNS: &str = "cm.role, cm.last_read_message_id, cm.last_read_seq, cm.sent_since_read";

/// A membership read from four columns starting at `at`.
pub fn membership(row: &Row, at: usize) -> Result<Membership> {
    Ok(Membership {
        role: Role::from_db(get(row, at)?),
        last_read_message_id: get(row, at + 1)?,
        last_read_seq: get(row, at + 2)?,
        sent_since_read: get(row, at + 3)?,
    })
}

pub const MEMBER_SELECT: &str = "SELECT cm.user_id, u.username, u.display_name, cm.role, cm.joined_at
     FROM chat_members cm JOIN users u ON u.id = cm.user_id";

pub fn member(row: &Row) -> Result<Member> {
    Ok(Member {
        user_id: get(row, 0)?,
        username: get(row, 1)?,
        display_name: get(row, 2)?,
        role: Role::from_db(get(row, 3)?),
        joined_at: Timestamp(get(row, 4)?),
    })
}

/// Every column a message is read from, after its id, chat id and chat
/// kind (see [`message`]), and the joins they need.
pub const MESSAGE_TAIL: &str = "m.sender_id, m.kind, m.text, m.client_id, m.created_at,
     a.id, a.filename, a.content_type, a.size, a.sha256,
     m.reply_to_id, r.sender_id, r.kind, left(r.text, 200), r.deleted_at,
     m.edited_at, m.deleted_at, m.reaction_count, m.change_seq";
pub const MESSAGE_JOINS: &str = "LEFT JOIN attachments a ON a.id = m.attachment_id
     LEFT JOIN messages r ON r.id = m.reply_to_id";

pub const MESSAGE_SELECT: &str =
    "SELECT m.id, m.chat_id, c.kind, m.sender_id, m.kind, m.text, m.client_id, m.created_at,
     a.id, a.filename, a.content_type, a.size, a.sha256,
     m.reply_to_id, r.sender_id, r.kind, left(r.text, 200), r.deleted_at,
     m.edited_at, m.deleted_at, m.reaction_count, m.change_seq
     FROM messages m JOIN chats c ON c.id = m.chat_id
     LEFT JOIN attachments a ON a.id = m.attachment_id
     LEFT JOIN messages r ON r.id = m.reply_to_id";

/// A message row; its reactions are filled by [`fill_reactions`].
pub fn message(row: &Row) -> Result<Message> {
    let attachment = match get::<Option<i64>>(row, 8)? {
        Some(id) => Some(Attachment {
            id,
            filename: get(row, 9)?,
            content_type: get(row, 10)?,
            size: get(row, 11)?,
            sha256: get(row, 12)?,
            url: String::new(),
        }),
        None => None,
    };
    let reply_to = match get::<Option<i64>>(row, 13)? {
        Some(id) => {
            let deleted = get::<Option<i64>>(row, 17)?.is_some();
            Some(ReplyTo {
                id,
                sender_id: get(row, 14)?,
                kind: MessageKind::from_db(get(row, 15)?),
                text: if deleted { None } else { get(row, 16)? },
                deleted,
            })
        }
        None => None,
    };
    Ok(Message {
        id: get(row, 0)?,
        chat_id: get(row, 1)?,
        chat_kind: ChatKind::from_db(get(row, 2)?),
        sender_id: get(row, 3)?,
        kind: MessageKind::from_db(get(row, 4)?),
        text: get(row, 5)?,
        attachment,
        client_id: get(row, 6)?,
        created_at: Timestamp(get(row, 7)?),
        reply_to,
        edited_at: get::<Option<i64>>(row, 18)?.map(Timestamp),
        deleted_at: get::<Option<i64>>(row, 19)?.map(Timestamp),
        reactions: Vec::new(),
        reaction_rows: get(row, 20)?,
        seq: get(row, 21)?,
    })
}

/// Reads the reactions of the messages that have any, with `me` for
/// `viewer` (none: as events show them): one query for the whole page.
pub async fn fill_reactions<C: GenericClient>(
    c: &C,
    messages: &mut [Message],
    viewer: Option<i64>,
) -> Result<()> {
    let ids: Vec<i64> = messages
        .iter()
        .filter(|m| m.reaction_rows > 0)
        .map(|m| m.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let found = rows(
        c,
        "SELECT message_id, emoji, COUNT(*), bool_or(user_id = $2) FROM reactions
         WHERE message_id = ANY($1) GROUP BY message_id, emoji ORDER BY message_id, MIN(id)",
        &[&ids, &viewer.unwrap_or(0)],
    )
    .await?;
    for r in &found {
        let message_id: i64 = get(r, 0)?;
        let reaction = Reaction {
            emoji: get(r, 1)?,
            count: get(r, 2)?,
            me: viewer.map(|_| get::<bool>(r, 3)).transpose()?,
        };
        if let Some(m) = messages.iter_mut().find(|m| m.id == message_id) {
            m.reactions.push(reaction);
        }
    }
    Ok(())
}
