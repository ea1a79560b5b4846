//! Messages on PostgreSQL: insert, look-ups, history pages, catch-up, and
//! the store's `Messages` operations.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::PgStore;
use super::access::{check_target, resolve_target};
use super::attachments::insert_attachment;
use super::chats::{count_sent, touch_chat};
use super::rows::{self, MESSAGE_SELECT, row};
use crate::domain::{
    ChatKind, ChatTarget, ClientId, HistoryPage, Message, MessageKind, MessageText, Timestamp,
};
use crate::error::{AppError, Result};
use crate::store::{Messages, NewSend, Precheck, Sent, Then};

pub async fn message_by_id<C: GenericClient>(c: &C, id: i64) -> Result<Option<Message>> {
    let sql = format!("{MESSAGE_SELECT} WHERE m.id = $1");
    row(c, &sql, &[&id])
        .await?
        .as_ref()
        .map(rows::message)
        .transpose()
}

/// The message `sender` already stored under `client_id`, if any.
async fn earlier_send<C: GenericClient>(
    c: &C,
    sender: i64,
    client_id: Option<&ClientId>,
) -> Result<Option<Sent>> {
    let Some(client_id) = client_id else {
        return Ok(None);
    };
    let sql = format!("{MESSAGE_SELECT} WHERE m.sender_id = $1 AND m.client_id = $2");
    let found = row(c, &sql, &[&sender, &client_id.as_str()]).await?;
    Ok(found
        .as_ref()
        .map(rows::message)
        .transpose()?
        .map(|message| Sent {
            message,
            created: false,
            new_chat_members: None,
        }))
}

/// One page of a chat's history, oldest first, and whether more exist in
/// the direction of paging. Fetches one extra row to know.
pub async fn history_page<C: GenericClient>(
    c: &C,
    chat_id: i64,
    chat_kind: ChatKind,
    page: HistoryPage,
) -> Result<(Vec<Message>, bool)> {
    let (order, cursor, limit, newest_first) = match page {
        HistoryPage::Latest { limit } => ("m.id < $2 ORDER BY m.id DESC", i64::MAX, limit, true),
        HistoryPage::Before { id, limit } => ("m.id < $2 ORDER BY m.id DESC", id, limit, true),
        HistoryPage::After { id, limit } => ("m.id > $2 ORDER BY m.id ASC", id, limit, false),
    };
    let sql = format!(
        "SELECT m.id, m.chat_id, $3::text, m.sender_id, m.kind, m.text, m.client_id, m.created_at,
                a.id, a.filename, a.content_type, a.size, a.sha256
         FROM messages m LEFT JOIN attachments a ON a.id = m.attachment_id
         WHERE m.chat_id = $1 AND {order} LIMIT $4"
    );
    let fetch = i64::from(limit) + 1;
    let found = rows::rows(c, &sql, &[&chat_id, &cursor, &chat_kind.as_str(), &fetch]).await?;
    let mut messages = found.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok((messages, has_more))
}

#[async_trait]
impl Messages for PgStore {
    async fn send_message(&self, send: NewSend, then: Then<Sent>) -> Result<Sent> {
        self.writer
            .submit(
                Box::new(move |tx| {
                    Box::pin(async move {
                        let NewSend {
                            sender,
                            target,
                            client_id,
                            text,
                            file,
                        } = send;
                        if let Some(earlier) = earlier_send(tx, sender, client_id.as_ref()).await? {
                            return Ok(earlier);
                        }
                        let now = Timestamp::now();
                        let chat = resolve_target(tx, sender, target, now).await?;
                        let attachment = match &file {
                            Some(f) => Some(insert_attachment(tx, chat.id, sender, f, now).await?),
                            None => None,
                        };
                        let kind = if file.is_some() {
                            MessageKind::File
                        } else {
                            MessageKind::Text
                        };
                        let text = text.as_ref().map(MessageText::as_str);
                        let client_id = client_id.as_ref().map(ClientId::as_str);
                        let inserted = row(
                            tx,
                            "INSERT INTO messages (chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT last_seq + 1 FROM chats WHERE id = $1))
                             RETURNING id, seq",
                            &[
                                &chat.id,
                                &sender,
                                &kind.as_str(),
                                &text,
                                &attachment.as_ref().map(|a| a.id),
                                &client_id,
                                &now.0,
                            ],
                        )
                        .await?
                        .ok_or_else(|| AppError::internal("INSERT … RETURNING gave no row"))?;
                        let (id, seq): (i64, i64) = (rows::get(&inserted, 0)?, rows::get(&inserted, 1)?);
                        touch_chat(tx, chat.id, id, seq, now).await?;
                        count_sent(tx, chat.id, sender).await?;
                        Ok(Sent {
                            message: Message {
                                id,
                                chat_id: chat.id,
                                chat_kind: chat.kind,
                                sender_id: sender,
                                kind,
                                text: text.map(str::to_string),
                                attachment,
                                client_id: client_id.map(str::to_string),
                                created_at: now,
                            },
                            created: true,
                            new_chat_members: chat.created_with,
                        })
                    })
                }),
                then,
            )
            .await
    }

    async fn precheck_send(
        &self,
        sender: i64,
        target: ChatTarget,
        client_id: Option<ClientId>,
    ) -> Result<Precheck> {
        let c = self.client().await?;
        if let Some(earlier) = earlier_send(&c, sender, client_id.as_ref()).await? {
            return Ok(Precheck::Earlier(Box::new(earlier)));
        }
        check_target(&c, sender, target).await?;
        Ok(Precheck::Proceed)
    }

    async fn messages_since(&self, user_id: i64, after: i64, limit: u32) -> Result<(Vec<Message>, bool)> {
        let c = self.client().await?;
        let sql = format!(
            "{MESSAGE_SELECT}
             WHERE m.id > $2 AND m.chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = $1)
             ORDER BY m.id ASC LIMIT $3"
        );
        let fetch = i64::from(limit) + 1;
        let found = rows::rows(&c, &sql, &[&user_id, &after, &fetch]).await?;
        let mut messages = found.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        Ok((messages, has_more))
    }
}
