//! Messages after they are sent (v2): edits, deletions (tombstones) and
//! reactions. The operations live in `change` and are shared with
//! Socket.IO; the handlers here only translate between HTTP and them.

mod change;

pub use change::{delete, edit, react};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::chats::MessageResponse;
use crate::domain::{PathId, parse_id_str};
use crate::error::{ApiJson, AppError, ErrorResponse, Result};
use crate::respond::Reply;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(add_reaction, remove_reaction))
}

#[derive(Deserialize, ToSchema)]
struct EditBody {
    /// A text message's new text (the rules of a send), or a file's new
    /// caption (`""` removes it).
    #[schema(required = true, value_type = String, max_length = 4000, example = "hello, fixed")]
    text: Option<String>,
}

/// Edit one of your messages: a text message's text or a file's caption.
#[utoipa::path(patch, path = "/messages/{message_id}", tag = "Messages", security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "The message")), request_body = EditBody,
    responses(
        (status = 200, description = "The message as it is now (the same text again changes nothing)", body = MessageResponse),
        (status = 400, description = "`validation_failed`, `message_empty`, `message_too_long`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`, or `forbidden`: not the sender", body = ErrorResponse),
        (status = 404, description = "`not_found`: no such message, or it was deleted", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn edit_message(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(message_id): PathId,
    body: std::result::Result<ApiJson<EditBody>, AppError>,
) -> Result<Reply<MessageResponse>> {
    // A bad body is told only once the access checks have passed.
    let text = body.map(|ApiJson(body)| body.text);
    let message = edit(&state, caller.id, message_id, text).await?;
    Ok(Reply::ok(&state, caller.id, MessageResponse { message }))
}

/// Delete a message (yours; in a group, the owner and admins may delete
/// anyone's): it becomes a tombstone.
#[utoipa::path(delete, path = "/messages/{message_id}", tag = "Messages", security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "The message")),
    responses(
        (status = 200, description = "The tombstone (deleting twice answers it again)", body = MessageResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`, or `forbidden`", body = ErrorResponse),
        (status = 404, description = "`not_found`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn delete_message(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(message_id): PathId,
) -> Result<Reply<MessageResponse>> {
    let message = delete(&state, caller.id, message_id).await?;
    Ok(Reply::ok(&state, caller.id, MessageResponse { message }))
}

/// `/messages/{message_id}/reactions/{emoji}`: a positive id and the emoji
/// as sent (percent-decoded; checked after membership).
struct ReactionPath {
    message_id: i64,
    emoji: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ReactionPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((id, emoji)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state).await?;
        Ok(ReactionPath {
            message_id: parse_id_str(&id, "message_id")?,
            emoji,
        })
    }
}

/// React to a message with an emoji (or a short code such as `:thumbsup:`).
#[utoipa::path(put, path = "/messages/{message_id}/reactions/{emoji}", tag = "Messages",
    security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "The message"),
        ("emoji" = String, Path, description = "1-32 characters, no white space or control characters, percent-encoded")),
    responses(
        (status = 200, description = "The message with its reactions (adding one twice changes nothing)", body = MessageResponse),
        (status = 400, description = "`validation_failed`: a bad id or emoji", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`not_found`: no such message, or it was deleted", body = ErrorResponse),
        (status = 409, description = "`too_many_reactions`: 20 distinct emoji already", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn add_reaction(
    State(state): State<AppState>,
    caller: AuthUser,
    path: ReactionPath,
) -> Result<Reply<MessageResponse>> {
    let message = react(&state, caller.id, path.message_id, path.emoji, true).await?;
    Ok(Reply::ok(&state, caller.id, MessageResponse { message }))
}

/// Take back your reaction.
#[utoipa::path(delete, path = "/messages/{message_id}/reactions/{emoji}", tag = "Messages",
    security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "The message"),
        ("emoji" = String, Path, description = "1-32 characters, no white space or control characters, percent-encoded")),
    responses(
        (status = 200, description = "The message with its reactions (removing one you do not have changes nothing)", body = MessageResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`not_found`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn remove_reaction(
    State(state): State<AppState>,
    caller: AuthUser,
    path: ReactionPath,
) -> Result<Reply<MessageResponse>> {
    let message = react(&state, caller.id, path.message_id, path.emoji, false).await?;
    Ok(Reply::ok(&state, caller.id, MessageResponse { message }))
}
