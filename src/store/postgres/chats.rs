//! Chats on PostgreSQL: direct chats, membership, read markers, a chat as
//! one viewer sees it, and the store's `Chats` operations.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::IsolationLevel;

use super::access::member_chat;
use super::messages::{history_page, message_for};
use super::rows::{self, CHAT_COLUMNS, MEMBER_SELECT, MEMBERSHIP_COLUMNS, execute};
use super::writer::Work;
use super::{PgStore, refusal};
use crate::domain::{Chat, HistoryPage, Member, ReadMarker, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::events::{ChatEvent, Logged};
use crate::store::model::{ChatRow, Membership, unread_count};
use crate::store::{Chats, Expect, History, ReadMarked, Then};

pub async fn insert_member<C: GenericClient>(
    c: &C,
    chat_id: i64,
    user_id: i64,
    role: Role,
    now: Timestamp,
    joined_seq: i64,
) -> Result<()> {
    execute(
        c,
        "INSERT INTO chat_members (chat_id, user_id, role, joined_at, joined_seq) VALUES ($1, $2, $3, $4, $5)",
        &[&chat_id, &user_id, &role.as_str(), &now.0, &joined_seq],
    )
    .await
    .map(|_| ())
}

/// A chat's members, in the order they joined (the owner first).
pub async fn members<C: GenericClient>(c: &C, chat_id: i64) -> Result<Vec<Member>> {
    let sql = format!(
        "{MEMBER_SELECT} WHERE cm.chat_id = $1
         ORDER BY cm.joined_at, cm.role <> 'owner', cm.user_id"
    );
    rows::rows(c, &sql, &[&chat_id])
        .await?
        .iter()
        .map(rows::member)
        .collect()
}

/// The chat as `viewer` sees it: members, newest message, unread count
/// (`viewer` `None`: as events show it, no `me` in reactions).
pub async fn chat_view<C: GenericClient>(
    c: &C,
    chat: &ChatRow,
    marker: &Membership,
    viewer: Option<i64>,
) -> Result<Chat> {
    let last_message = match chat.last_message_id {
        Some(id) => message_for(c, id, viewer).await?,
        None => None,
    };
    Ok(Chat {
        id: chat.id,
        kind: chat.kind,
        name: chat.name.clone(),
        created_by: chat.created_by,
        created_at: chat.created_at,
        members: members(c, chat.id).await?,
        last_message,
        unread_count: unread_count(chat, marker),
    })
}

impl PgStore {
    /// A read-only snapshot for reads of several statements.
    async fn snapshot<'c>(
        &self,
        client: &'c mut deadpool_postgres::Client,
    ) -> Result<deadpool_postgres::Transaction<'c>> {
        Ok(client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?)
    }
}

#[async_trait]
impl Chats for PgStore {
    async fn chats_of(&self, user_id: i64) -> Result<Vec<Chat>> {
        let mut client = self.client().await?;
        let tx = self.snapshot(&mut client).await?;
        let sql = format!(
            "SELECT {CHAT_COLUMNS}, {MEMBERSHIP_COLUMNS}
             FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
             WHERE cm.user_id = $1
             ORDER BY c.last_activity_at DESC, c.last_message_id DESC NULLS LAST, c.id DESC"
        );
        let found = rows::rows(&tx, &sql, &[&user_id]).await?;
        let mut chats = Vec::with_capacity(found.len());
        for r in &found {
            let chat = rows::chat(r)?;
            let membership = rows::membership(r, 7)?;
            chats.push(chat_view(&tx, &chat, &membership, Some(user_id)).await?);
        }
        tx.commit().await?;
        Ok(chats)
    }

    async fn chat_ids_of(&self, user_id: i64) -> Result<Vec<i64>> {
        let c = self.client().await?;
        rows::rows(
            &c,
            "SELECT chat_id FROM chat_members WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|r| rows::get(r, 0))
        .collect()
    }

    async fn check_member(&self, user_id: i64, chat_id: i64, expect: Expect) -> Result<()> {
        let c = self.client().await?;
        member_chat(&c, user_id, chat_id, expect).await.map(|_| ())
    }

    async fn chat_for(&self, user_id: i64, chat_id: i64, expect: Expect) -> Result<Chat> {
        let mut client = self.client().await?;
        let tx = self.snapshot(&mut client).await?;
        let (chat, membership) = member_chat(&tx, user_id, chat_id, expect).await?;
        let view = chat_view(&tx, &chat, &membership, Some(user_id)).await?;
        tx.commit().await?;
        Ok(view)
    }

    async fn history(
        &self,
        user_id: i64,
        chat_id: i64,
        expect: Expect,
        page: HistoryPage,
    ) -> Result<History> {
        let mut client = self.client().await?;
        let tx = self.snapshot(&mut client).await?;
        let (chat, membership) = member_chat(&tx, user_id, chat_id, expect).await?;
        let (messages, has_more) = history_page(&tx, chat_id, chat.kind, page, user_id).await?;
        let chat = chat_view(&tx, &chat, &membership, Some(user_id)).await?;
        tx.commit().await?;
        Ok(History {
            chat,
            messages,
            has_more,
        })
    }

    async fn mark_read(
        &self,
        user_id: i64,
        chat_id: i64,
        message_id: i64,
        then: Then<ReadMarked>,
    ) -> Result<ReadMarked> {
        let call = Work::Call {
            sql: "SELECT o_outcome, o_detail, o_marker, o_moved, o_event, o_members
                  FROM chat_mark_read($1, $2, $3)",
            params: vec![Box::new(user_id), Box::new(chat_id), Box::new(message_id)],
            parse: Box::new(move |answer| {
                let row = answer
                    .first()
                    .ok_or_else(|| AppError::internal("chat_mark_read gave no row"))?;
                match rows::get::<String>(row, 0)?.as_str() {
                    "marked" => {
                        let moved: bool = rows::get(row, 3)?;
                        let events = if moved {
                            let read = ChatEvent::Read {
                                chat_id,
                                user_id,
                                message_id,
                            };
                            let members: Vec<i64> = rows::get(row, 5)?;
                            vec![Logged::new(rows::get(row, 4)?, &read, Some(chat_id), members)]
                        } else {
                            Vec::new()
                        };
                        Ok(ReadMarked {
                            marker: ReadMarker {
                                chat_id,
                                message_id: rows::get(row, 2)?,
                            },
                            moved,
                            events,
                        })
                    }
                    "message_not_in_chat" => Err(AppError::NotFound(format!(
                        "message {message_id} is not in chat {chat_id}"
                    ))),
                    other => Err(refusal(other, rows::get(row, 1)?)),
                }
            }),
            logs: Some(|marked: &ReadMarked| marked.events.clone()),
        };
        self.writer.submit(call, then).await
    }
}
