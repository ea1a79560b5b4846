//! Messages on PostgreSQL: insert, look-ups, history pages, catch-up, and
//! the store's `Messages` operations.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::access::check_target;
use super::rows::{self, MESSAGE_JOINS, MESSAGE_SELECT, MESSAGE_TAIL, row};
use super::writer::{Params, Work};
use super::{PgStore, refusal};
use crate::domain::words::IndexedText;
use crate::domain::{
    Attachment, ChatKind, ChatTarget, ClientId, HistoryPage, Message, MessageKind, MessageText, ReplyTo,
    Timestamp,
};
use crate::error::{AppError, Result};
use crate::events::{ChatEvent, Logged};
use crate::store::{Messages, NewSend, Precheck, Sent, Then};

/// A message with its reactions (`me` for `viewer`).
pub async fn message_for<C: GenericClient>(c: &C, id: i64, viewer: Option<i64>) -> Result<Option<Message>> {
    let mut found = message_by_id(c, id).await?;
    if let Some(m) = found.as_mut() {
        rows::fill_reactions(c, std::slice::from_mut(m), viewer).await?;
    }
    Ok(found)
}

/// A message without its reactions.
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
    let Some(found) = found.as_ref().map(rows::message).transpose()? else {
        return Ok(None);
    };
    let mut message = [found];
    rows::fill_reactions(c, &mut message, Some(sender)).await?;
    let [message] = message;
    Ok(Some(Sent {
        message,
        created: false,
        new_chat_members: None,
        events: Vec::new(),
    }))
}

/// One page of a chat's history, oldest first, and whether more exist in
/// the direction of paging. Fetches one extra row to know.
pub async fn history_page<C: GenericClient>(
    c: &C,
    chat_id: i64,
    chat_kind: ChatKind,
    page: HistoryPage,
    viewer: i64,
) -> Result<(Vec<Message>, bool)> {
    let (order, cursor, limit, newest_first) = match page {
        HistoryPage::Latest { limit } => ("m.id < $2 ORDER BY m.id DESC", i64::MAX, limit, true),
        HistoryPage::Before { id, limit } => ("m.id < $2 ORDER BY m.id DESC", id, limit, true),
        HistoryPage::After { id, limit } => ("m.id > $2 ORDER BY m.id ASC", id, limit, false),
    };
    let sql = format!(
        "SELECT m.id, m.chat_id, $3::text, {MESSAGE_TAIL} FROM messages m {MESSAGE_JOINS}
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
    rows::fill_reactions(c, &mut messages, Some(viewer)).await?;
    Ok((messages, has_more))
}

/// What `chat_send` did: stored a new message, or found the one an earlier
/// send with the same `client_id` stored.
enum Stored {
    New(Box<Sent>),
    Earlier(i64),
}

#[async_trait]
impl Messages for PgStore {
    async fn send_message(&self, send: NewSend, then: Then<Sent>) -> Result<Sent> {
        let NewSend {
            sender,
            target,
            client_id,
            text,
            file,
            reply_to,
        } = send;
        let indexed = IndexedText::of(
            text.as_ref().map(MessageText::as_str),
            file.as_ref().map(|f| f.filename.as_str()),
        );
        let (to, chat, group) = match target {
            ChatTarget::User(id) => (Some(id), None, None),
            ChatTarget::Chat(id) => (None, Some(id), None),
            ChatTarget::Group(id) => (None, None, Some(id)),
        };
        let now = Timestamp::now();
        let text = text.map(|t| t.as_str().to_string());
        let client_id = client_id.map(|c| c.as_str().to_string());
        let params: Params = vec![
            Box::new(sender),
            Box::new(to),
            Box::new(chat),
            Box::new(group),
            Box::new(text.clone()),
            Box::new(client_id.clone()),
            Box::new(file.as_ref().map(|f| f.filename.as_str().to_string())),
            Box::new(file.as_ref().map(|f| f.content_type.to_string())),
            Box::new(file.as_ref().map(|f| f.size)),
            Box::new(file.as_ref().map(|f| f.sha256.clone())),
            Box::new(now.0),
            Box::new(reply_to),
            Box::new(indexed.tsvector()),
        ];
        let call = Work::Call {
            sql: "SELECT o_outcome, o_detail, o_message, o_chat, o_kind, o_attachment, o_new_chat,
                         o_reply_sender, o_reply_kind, o_reply_text, o_reply_deleted, o_event, o_members
                  FROM chat_send($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            params,
            parse: Box::new(move |answer| {
                let row = answer
                    .first()
                    .ok_or_else(|| AppError::internal("chat_send gave no row"))?;
                let outcome: String = rows::get(row, 0)?;
                match outcome.as_str() {
                    "earlier" => Ok(Stored::Earlier(rows::get(row, 2)?)),
                    "sent" => {
                        let chat_id: i64 = rows::get(row, 3)?;
                        let attachment = match (file, rows::get::<Option<i64>>(row, 5)?) {
                            (Some(f), Some(id)) => Some(Attachment {
                                id,
                                filename: f.filename.as_str().to_string(),
                                content_type: f.content_type.to_string(),
                                size: f.size,
                                sha256: f.sha256,
                                url: String::new(),
                            }),
                            _ => None,
                        };
                        let new_chat: bool = rows::get(row, 6)?;
                        let reply_to = match reply_to {
                            Some(id) => {
                                let deleted: bool = rows::get(row, 10)?;
                                Some(ReplyTo {
                                    id,
                                    sender_id: rows::get(row, 7)?,
                                    kind: MessageKind::from_db(rows::get(row, 8)?),
                                    text: if deleted { None } else { rows::get(row, 9)? },
                                    deleted,
                                })
                            }
                            None => None,
                        };
                        let mut members = vec![sender];
                        members.extend(to.filter(|peer| *peer != sender));
                        let seq: i64 = rows::get(row, 11)?;
                        let recipients: Vec<i64> = rows::get(row, 12)?;
                        let message = Message {
                            id: rows::get(row, 2)?,
                            chat_id,
                            chat_kind: ChatKind::from_db(rows::get(row, 4)?),
                            sender_id: sender,
                            kind: if attachment.is_some() {
                                MessageKind::File
                            } else {
                                MessageKind::Text
                            },
                            text,
                            attachment,
                            client_id,
                            created_at: now,
                            reply_to,
                            edited_at: None,
                            deleted_at: None,
                            reactions: Vec::new(),
                            reaction_rows: 0,
                            seq,
                        };
                        let event = ChatEvent::Message(message);
                        let logged = Logged::new(seq, &event, Some(chat_id), recipients);
                        let ChatEvent::Message(message) = event else {
                            unreachable!("built as a message above")
                        };
                        Ok(Stored::New(Box::new(Sent {
                            message,
                            created: true,
                            new_chat_members: new_chat.then_some(members),
                            events: vec![logged],
                        })))
                    }
                    other => Err(refusal(other, rows::get(row, 1)?)),
                }
            }),
            logs: Some(|stored: &Stored| match stored {
                Stored::New(sent) => sent.events.clone(),
                Stored::Earlier(_) => Vec::new(),
            }),
        };
        let stored = self
            .writer
            .submit(call, move |stored: &Stored| {
                if let Stored::New(sent) = stored {
                    then(sent);
                }
            })
            .await?;
        match stored {
            Stored::New(sent) => Ok(*sent),
            Stored::Earlier(id) => {
                let c = self.client().await?;
                let message = message_for(&c, id, Some(sender))
                    .await?
                    .ok_or_else(|| AppError::internal("an earlier message vanished"))?;
                Ok(Sent {
                    message,
                    created: false,
                    new_chat_members: None,
                    events: Vec::new(),
                })
            }
        }
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
        rows::fill_reactions(&c, &mut messages, Some(user_id)).await?;
        Ok((messages, has_more))
    }
}
