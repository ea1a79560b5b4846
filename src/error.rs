//! The one error type of the crate and the extractors that produce it.
//!
//! `AppError` renders the contract's error body (`{"error":{"code","message"}}`)
//! for REST responses and Socket.IO acks alike. `code()` is the machine code,
//! `Display` the human message. Internal errors never show their cause to
//! the client; it is logged with what identifies the request or event: a
//! REST answer carries it in its extensions ([`InternalCause`]) to
//! `telemetry::record_request`, which logs it with the request id; a socket
//! handler logs it with the event, socket and user.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Result alias used across the crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Everything that can go wrong in a request or a socket event.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(String),
    #[error("text must not be empty or only white space")]
    MessageEmpty,
    #[error("text must be at most {0} characters")]
    MessageTooLong(usize),
    #[error("{0}")]
    InvalidCursor(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("you are not a member of chat {0}")]
    NotAMember(i64),
    #[error("{0}")]
    Forbidden(String),
    #[error("registration is closed on this server: ask its operator for an account")]
    RegistrationClosed,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("{0}")]
    NotFound(String),
    #[error("user {0} does not exist")]
    UserNotFound(i64),
    #[error("chat {0} does not exist")]
    ChatNotFound(i64),
    #[error("group {0} does not exist")]
    GroupNotFound(i64),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("user {user} is already a member of group {group}")]
    AlreadyMember { user: i64, group: i64 },
    #[error("a message carries at most {0} distinct reactions")]
    TooManyReactions(usize),
    #[error("events after seq {0} are no longer kept: reload with GET /chats and history")]
    CursorExpired(i64),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The server is shutting down, or the database cannot be reached.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    #[error("the request headers are larger than {0} bytes")]
    HeadersTooLarge(usize),
    /// The cause is logged, never sent.
    #[error("internal server error")]
    Internal(String),
}

/// What `unavailable` says when the server is on its way out.
pub const SHUTTING_DOWN: &str = "the server is shutting down";

impl AppError {
    /// The contract's machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::MessageEmpty => "message_empty",
            AppError::MessageTooLong(_) => "message_too_long",
            AppError::InvalidCursor(_) => "invalid_cursor",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::NotAMember(_) => "not_a_member",
            AppError::Forbidden(_) => "forbidden",
            AppError::RegistrationClosed => "registration_closed",
            AppError::AccountDisabled => "account_disabled",
            AppError::NotFound(_) => "not_found",
            AppError::UserNotFound(_) => "user_not_found",
            AppError::ChatNotFound(_) => "chat_not_found",
            AppError::GroupNotFound(_) => "group_not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::UsernameTaken => "username_taken",
            AppError::AlreadyMember { .. } => "already_member",
            AppError::TooManyReactions(_) => "too_many_reactions",
            AppError::CursorExpired(_) => "cursor_expired",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::Timeout(_) => "timeout",
            AppError::HeadersTooLarge(_) => "headers_too_large",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation(_)
            | AppError::MessageEmpty
            | AppError::MessageTooLong(_)
            | AppError::InvalidCursor(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::NotAMember(_)
            | AppError::Forbidden(_)
            | AppError::RegistrationClosed
            | AppError::AccountDisabled => StatusCode::FORBIDDEN,
            AppError::NotFound(_)
            | AppError::UserNotFound(_)
            | AppError::ChatNotFound(_)
            | AppError::GroupNotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::UsernameTaken | AppError::AlreadyMember { .. } | AppError::TooManyReactions(_) => {
                StatusCode::CONFLICT
            }
            AppError::CursorExpired(_) => StatusCode::GONE,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Shorthand for a `validation_failed` error.
    pub fn validation(message: impl Into<String>) -> Self {
        AppError::Validation(message.into())
    }

    /// Wraps an unexpected failure; the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        AppError::Internal(cause.to_string())
    }

    /// Logs the hidden cause of an internal error; other errors are the
    /// client's business and are not logged.
    pub fn log_if_internal(&self) {
        if let AppError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
    }

    /// The hidden cause of an internal error.
    pub fn internal_cause(&self) -> Option<&str> {
        match self {
            AppError::Internal(cause) => Some(cause),
            _ => None,
        }
    }

    /// The `{code, message}` pair, as sent in bodies and acks.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

/// The inner object of the contract's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `not_a_member`.
    #[schema(example = "not_a_member")]
    pub code: &'static str,
    /// What went wrong, for people.
    #[schema(example = "you are not a member of chat 42")]
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

/// The cause of a 500, carried in the response's extensions to the
/// middleware that logs it with the request's id.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(ErrorResponse { error: self.body() })).into_response();
        if let AppError::Internal(cause) = &self {
            response.extensions_mut().insert(InternalCause(cause.clone()));
        }
        if let AppError::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".into(),
            ),
            JsonRejection::JsonSyntaxError(e) => {
                AppError::validation(format!("request body is not valid JSON: {}", e.body_text()))
            }
            JsonRejection::JsonDataError(e) => AppError::validation(strip_axum_prefix(&e.body_text())),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::PayloadTooLarge("request body too large".into())
            }
            other => AppError::validation(other.body_text()),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::validation(strip_axum_prefix(&rejection.body_text()))
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::validation(strip_axum_prefix(&rejection.body_text()))
    }
}

/// axum's rejection texts start with a sentence about its own internals;
/// what follows the first colon names the field and the problem.
fn strip_axum_prefix(text: &str) -> String {
    match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("Failed to deserialize") => rest.to_string(),
        _ => text.to_string(),
    }
}

/// `axum::Json` whose rejection is an [`AppError`], so malformed JSON gets the
/// contract's error body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// Serializes into a buffer sized for a page of messages at once, rather
/// than growing one from 128 bytes by doubling (history pages are ~15 KB).
impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(16 * 1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => AppError::internal(format_args!("serializing a response: {e}")).into_response(),
        }
    }
}

/// `axum::extract::Query` with the contract's error body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}
