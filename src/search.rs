//! Search (v2): `GET /search` over the caller's own chats. The query is
//! parsed here into words and phrases (`domain::words`: no engine syntax
//! ever reaches the store), the store finds the messages, and the snippets
//! are cut and marked here, the same for both stores.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::words::SearchQuery;
use crate::domain::{Message, parse_cursor, parse_id_str};
use crate::error::{ApiQuery, AppError, ErrorResponse, Result};
use crate::respond::Reply;
use crate::signable_fields;
use crate::state::AppState;
use crate::store::SearchRequest;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// The raw query of a search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// 1–200 characters: words (all must match, whole words, case and
    /// accents ignored), `"quoted phrases"`; the last word also matches as
    /// a prefix. Anything else is a plain separator.
    #[param(required = true, value_type = String, min_length = 1, max_length = 200)]
    pub q: Option<String>,
    /// Only this chat (one of the caller's).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub chat_id: Option<String>,
    /// 1–100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Results older than this message id (the next page).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub before: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    pub message: Message,
    /// At most 200 characters of the text around the first match,
    /// HTML-escaped, matched words in `<mark>…</mark>`.
    pub snippet: String,
}
signable_fields!(SearchResult { message });

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
    pub has_more: bool,
}
signable_fields!(SearchResults { results });

fn parse_limit(raw: Option<&str>) -> Result<u32> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(AppError::validation(format!(
            "limit must be an integer from 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Runs a search for `user_id`: newest first, with snippets.
pub async fn run(state: &AppState, user_id: i64, params: &SearchParams) -> Result<SearchResults> {
    let query = SearchQuery::parse(params.q.as_deref())?;
    let chat_id = params
        .chat_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_id_str(s, "chat_id"))
        .transpose()?;
    let limit = parse_limit(params.limit.as_deref())?;
    let before = parse_cursor(params.before.as_deref(), "before", false)?;
    let request = SearchRequest {
        user_id,
        query: query.clone(),
        chat_id,
        before,
        limit,
    };
    let (messages, has_more) = state.store.search(request).await?;
    let results = messages
        .into_iter()
        .map(|message| SearchResult {
            snippet: query.snippet(
                message.text.as_deref(),
                message.attachment.as_ref().map(|a| a.filename.as_str()),
            ),
            message,
        })
        .collect();
    Ok(SearchResults { results, has_more })
}

/// Find messages in your chats, newest first.
#[utoipa::path(get, path = "/search", tag = "Search", params(SearchParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Matching messages with snippets", body = SearchResults),
        (status = 400, description = "`validation_failed` (no word to search for, a bad limit or chat_id), `invalid_cursor`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member` of `chat_id`", body = ErrorResponse),
        (status = 404, description = "`chat_not_found`", body = ErrorResponse),
    ))]
async fn search(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Reply<SearchResults>> {
    let results = run(&state, caller.id, &params).await?;
    Ok(Reply::ok(&state, caller.id, results))
}
