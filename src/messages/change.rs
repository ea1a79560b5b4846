//! Changing a stored message: one operation per kind of change (edit,
//! delete, react) behind both doors, REST and Socket.IO. Each checks the
//! sender's rate limit (the one sends count against), lets the store apply
//! the change with its rules in one transaction, and publishes what
//! changed once committed, in commit order with everything else; a repeat
//! that changed nothing publishes nothing. A deleted file's blob is removed
//! once nothing refers to it.

use crate::domain::Message;
use crate::error::Result;
use crate::limits::Limit;
use crate::state::AppState;
use crate::store::{Change, Changed, Effect, MessageChange};

/// Applies `change` to message `message_id` for `user_id` and tells the
/// chat; answers the message as the user sees it afterwards.
pub async fn change_message(
    state: &AppState,
    user_id: i64,
    message_id: i64,
    change: Change,
) -> Result<Message> {
    state.limits.check_user(Limit::Send, user_id)?;
    let outbox = state.outbox.clone();
    let changed = state
        .store
        .change_message(
            MessageChange {
                user_id,
                message_id,
                change,
            },
            Box::new(move |changed: &Changed| outbox.publish_logged(&changed.events, None)),
        )
        .await?;
    if let Some(Effect::Deleted {
        orphaned_blob: Some(key),
    }) = &changed.effect
    {
        remove_blob(state, key).await;
    }
    Ok(changed.message)
}

/// `text` is the body as it came: an unreadable one is refused once the
/// access checks have passed.
pub async fn edit(
    state: &AppState,
    user_id: i64,
    message_id: i64,
    text: Result<Option<String>>,
) -> Result<Message> {
    change_message(state, user_id, message_id, Change::Edit(text)).await
}

pub async fn delete(state: &AppState, user_id: i64, message_id: i64) -> Result<Message> {
    change_message(state, user_id, message_id, Change::Delete).await
}

pub async fn react(
    state: &AppState,
    user_id: i64,
    message_id: i64,
    emoji: String,
    add: bool,
) -> Result<Message> {
    change_message(state, user_id, message_id, Change::React { emoji, add }).await
}

/// Removes a blob no attachment referred to when its message was deleted,
/// under the key's lock and after looking again (an upload of the same
/// bytes holds the lock from storing them until its row commits, so the
/// two cannot interleave). A failure is logged: the next start's sweep
/// removes what is left.
async fn remove_blob(state: &AppState, key: &str) {
    let removed =
        async {
            let _lock = state.store.lock_blob(key).await?;
            if !state.store.blob_referenced(key).await? {
                state.blobs.remove(key).await.map_err(|e| {
                    crate::error::AppError::internal(format_args!("removing blob {key}: {e}"))
                })?;
            }
            Ok::<(), crate::error::AppError>(())
        }
        .await;
    if let Err(e) = removed {
        tracing::warn!(key, error = %e, "a deleted file's blob was not removed");
    }
}
