//! Edits, deletions and reactions (v2) on PostgreSQL: each change one
//! script on the writer (under the ordering lock), with its access checks,
//! the message, its reactions, its attachment row and its search vector
//! changed together.

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::PgStore;
use super::access::membership;
use super::log::{self, Audience};
use super::messages::{message_by_id, message_for};
use super::rows::{self, execute, row};
use super::writer::Work;
use crate::domain::words::IndexedText;
use crate::domain::{Emoji, MAX_REACTIONS, Message, MessageText, Timestamp, edited_text};
use crate::error::{AppError, Result};
use crate::store::model::{change_event, check_delete, check_edit, check_react};
use crate::store::{Change, Changed, Changes, Effect, MessageChange, Then};

async fn change(tx: &Transaction<'_>, change: MessageChange) -> Result<Changed> {
    let MessageChange {
        user_id,
        message_id,
        change,
    } = change;
    let message = message_by_id(tx, message_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("message {message_id} does not exist")))?;
    let member = membership(tx, message.chat_id, user_id)
        .await?
        .ok_or(AppError::NotAMember(message.chat_id))?;
    let effect = match change {
        Change::Edit(raw) => edit(tx, &message, user_id, raw).await?,
        Change::Delete => {
            if check_delete(&message, user_id, member.role)? {
                None
            } else {
                Some(delete(tx, &message).await?)
            }
        }
        Change::React { emoji, add } => {
            let emoji = Emoji::parse(&emoji)?;
            check_react(&message)?;
            react(tx, &message, user_id, emoji, add).await?
        }
    };
    let seq = match &effect {
        Some(_) => {
            let seq = log::next_seq(tx).await?;
            execute(
                tx,
                "UPDATE messages SET change_seq = $1 WHERE id = $2",
                &[&seq, &message_id],
            )
            .await?;
            Some(seq)
        }
        None => None,
    };
    let message = message_for(tx, message_id, Some(user_id))
        .await?
        .ok_or_else(|| AppError::internal("a changed message vanished"))?;
    let events = match (&effect, seq) {
        (Some(effect), Some(seq)) => vec![
            log::record_at(
                tx,
                seq,
                &change_event(&message, effect),
                Audience::Chat(message.chat_id),
            )
            .await?,
        ],
        _ => Vec::new(),
    };
    Ok(Changed {
        message,
        effect,
        events,
    })
}

async fn edit(
    tx: &Transaction<'_>,
    message: &Message,
    user_id: i64,
    raw: Result<Option<String>>,
) -> Result<Option<Effect>> {
    check_edit(message, user_id)?;
    let text = edited_text(message.kind, raw?)?;
    let text = text.as_ref().map(MessageText::as_str);
    if text == message.text.as_deref() {
        return Ok(None);
    }
    let filename = message.attachment.as_ref().map(|a| a.filename.as_str());
    let vector = IndexedText::of(text, filename).tsvector();
    execute(
        tx,
        "UPDATE messages SET text = $1, edited_at = $2, search = $3::text::tsvector WHERE id = $4",
        &[&text, &Timestamp::now().0, &vector, &message.id],
    )
    .await?;
    Ok(Some(Effect::Edited))
}

/// Makes the message a tombstone; its attachment row goes with it (so its
/// bytes are no longer served), and its blob is named if nothing else
/// refers to it.
async fn delete(tx: &Transaction<'_>, message: &Message) -> Result<Effect> {
    execute(
        tx,
        "UPDATE messages SET text = NULL, attachment_id = NULL, reply_to_id = NULL, reaction_count = 0,
                             search = NULL, deleted_at = $1
         WHERE id = $2",
        &[&Timestamp::now().0, &message.id],
    )
    .await?;
    execute(tx, "DELETE FROM reactions WHERE message_id = $1", &[&message.id]).await?;
    let mut orphaned_blob = None;
    if let Some(attachment) = &message.attachment {
        execute(tx, "DELETE FROM attachments WHERE id = $1", &[&attachment.id]).await?;
        let still_used = row(
            tx,
            "SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1",
            &[&attachment.sha256],
        )
        .await?
        .is_some();
        if !still_used {
            orphaned_blob = Some(attachment.sha256.clone());
        }
    }
    Ok(Effect::Deleted { orphaned_blob })
}

async fn count(tx: &Transaction<'_>, message_id: i64, emoji: &str) -> Result<i64> {
    let found = row(
        tx,
        "SELECT COUNT(*) FROM reactions WHERE message_id = $1 AND emoji = $2",
        &[&message_id, &emoji],
    )
    .await?
    .ok_or_else(|| AppError::internal("COUNT gave no row"))?;
    rows::get(&found, 0)
}

async fn react(
    tx: &Transaction<'_>,
    message: &Message,
    user_id: i64,
    emoji: Emoji,
    add: bool,
) -> Result<Option<Effect>> {
    let emoji = emoji.as_str();
    if add {
        let mine = row(
            tx,
            "SELECT 1 FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
            &[&message.id, &emoji, &user_id],
        )
        .await?
        .is_some();
        if mine {
            return Ok(None);
        }
        if count(tx, message.id, emoji).await? == 0 {
            let distinct = row(
                tx,
                "SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = $1",
                &[&message.id],
            )
            .await?
            .ok_or_else(|| AppError::internal("COUNT gave no row"))?;
            if rows::get::<i64>(&distinct, 0)? >= MAX_REACTIONS as i64 {
                return Err(AppError::TooManyReactions(MAX_REACTIONS));
            }
        }
        execute(
            tx,
            "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4)",
            &[&message.id, &user_id, &emoji, &Timestamp::now().0],
        )
        .await?;
    } else {
        let removed = execute(
            tx,
            "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
            &[&message.id, &emoji, &user_id],
        )
        .await?;
        if removed == 0 {
            return Ok(None);
        }
    }
    let step: i64 = if add { 1 } else { -1 };
    execute(
        tx,
        "UPDATE messages SET reaction_count = reaction_count + $1 WHERE id = $2",
        &[&step, &message.id],
    )
    .await?;
    Ok(Some(Effect::Reacted {
        user_id,
        emoji: emoji.to_string(),
        count: count(tx, message.id, emoji).await?,
        added: add,
    }))
}

#[async_trait]
impl Changes for PgStore {
    async fn change_message(&self, request: MessageChange, then: Then<Changed>) -> Result<Changed> {
        self.writer
            .submit(
                Work::Script(Box::new(move |tx| {
                    Box::pin(async move { change(tx, request).await })
                })),
                then,
            )
            .await
    }
}
