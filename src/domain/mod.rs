//! Values parsed once at the edge ("parse, don't validate"): once a
//! `Username`, `MessageText` or `ChatTarget` exists, it is valid, and nothing
//! past the handlers checks it again. Also the API objects (`User`, `Chat`,
//! `Message`, ...) as they go out on the wire.

mod account;
mod message;
mod paging;
mod session;
mod views;
pub mod words;

pub use account::{DisplayName, Password, Username};
pub use message::{
    ChatTarget, ClientId, Emoji, FileName, GroupName, MAX_REACTIONS, MAX_TEXT_CHARS, MessageText,
    TargetFields, edited_text,
};
pub(crate) use paging::parse_cursor;
pub use paging::{HistoryPage, Limit, PageQuery, SyncQuery, UserListQuery};
pub use session::{DeviceName, MAX_USER_AGENT_CHARS, Session, user_agent};
pub use views::{
    Attachment, Chat, ChatKind, Member, Message, MessageKind, Reaction, ReadMarker, ReplyTo, Role, Timestamp,
    User,
};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{AppError, Result};

/// A user, chat, group or message id as it comes in JSON: a positive integer.
pub fn parse_id(value: i64, field: &str) -> Result<i64> {
    if value >= 1 {
        Ok(value)
    } else {
        Err(AppError::validation(format!(
            "{field} must be a positive integer"
        )))
    }
}

/// A required id field of a JSON body.
pub fn required_id(value: Option<i64>, field: &str) -> Result<i64> {
    parse_id(
        value.ok_or_else(|| AppError::validation(format!("{field} is required")))?,
        field,
    )
}

/// An id that arrives as text (a path segment, a multipart field).
pub fn parse_id_str(raw: &str, field: &str) -> Result<i64> {
    let is_digits = !raw.is_empty() && raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<i64>() {
        Ok(n) if is_digits && n >= 1 => Ok(n),
        _ => Err(AppError::validation(format!(
            "{field} must be a positive integer"
        ))),
    }
}

/// Length in Unicode scalar values, which is what the contract's
/// "characters" means.
fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// A positive integer id taken from the path (`/chats/{chat_id}`); anything
/// else is `validation_failed`.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        parse_id_str(&raw, "id").map(PathId)
    }
}
