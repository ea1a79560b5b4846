//! Search on PostgreSQL: the `search` tsvector of each live message
//! (migration 0005, GIN-indexed), written with the message by the same
//! statements, read newest first and joined with the caller's memberships.

use async_trait::async_trait;

use super::PgStore;
use super::access::member_chat;
use super::rows::{self, MESSAGE_JOINS, MESSAGE_TAIL};
use crate::domain::Message;
use crate::error::Result;
use crate::store::{Expect, Search, SearchRequest};

#[async_trait]
impl Search for PgStore {
    async fn search(&self, request: SearchRequest) -> Result<(Vec<Message>, bool)> {
        let c = self.client().await?;
        if let Some(chat_id) = request.chat_id {
            member_chat(&c, request.user_id, chat_id, Expect::AnyChat).await?;
        }
        let sql = format!(
            "SELECT m.id, m.chat_id, c.kind, {MESSAGE_TAIL}
             FROM messages m JOIN chats c ON c.id = m.chat_id {MESSAGE_JOINS}
             WHERE m.search @@ $1::text::tsquery AND m.id < $2
               AND m.chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = $3)
               AND ($4::bigint IS NULL OR m.chat_id = $4) AND m.deleted_at IS NULL
             ORDER BY m.id DESC LIMIT $5"
        );
        let fetch = i64::from(request.limit) + 1;
        let found = rows::rows(
            &c,
            &sql,
            &[
                &request.query.tsquery(),
                &request.before.unwrap_or(i64::MAX),
                &request.user_id,
                &request.chat_id,
                &fetch,
            ],
        )
        .await?;
        let mut messages = found.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        let has_more = messages.len() > request.limit as usize;
        messages.truncate(request.limit as usize);
        rows::fill_reactions(&c, &mut messages, Some(request.user_id)).await?;
        Ok((messages, has_more))
    }
}
