//! Files: `POST /uploads` (multipart in), `GET /files/{id}/{filename}`
//! (bytes out, by signed URL or a member's token), and the signing of the
//! URLs that messages carry.

mod send;

pub use send::{FileUpload, precheck, send_file};

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, AuthUser};
use crate::blobs::{StagedFile, Staging};
use crate::chats::{MessageResponse, sent_reply};
use crate::domain::{ChatTarget, ClientId, FileName, MessageText, TargetFields, parse_id_str};
use crate::error::{ApiQuery, AppError, ErrorResponse, Result};
use crate::respond::Reply;
use crate::state::AppState;
use crate::store::Precheck;

/// Room for the multipart framing and the small fields around the file.
const MULTIPART_OVERHEAD: u64 = 1024 * 1024;
/// The largest text field of an upload (the caption is at most 4000
/// characters).
const MAX_TEXT_FIELD: usize = 64 * 1024;

pub fn router(max_upload_bytes: u64) -> OpenApiRouter<AppState> {
    let body_limit =
        usize::try_from(max_upload_bytes.saturating_add(MULTIPART_OVERHEAD)).unwrap_or(usize::MAX);
    OpenApiRouter::new()
        .routes(routes!(upload))
        // Our own byte counting enforces the file limit; this only bounds
        // the whole body, framing included.
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(OpenApiRouter::new().routes(routes!(download)))
}

/// The multipart form of `POST /uploads`, for the docs.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadRequest {
    /// The file: PDF, JPEG or PNG, decided by its first bytes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Exactly one of `to` (a user id), `chat_id`, `group_id`.
    to: Option<i64>,
    chat_id: Option<i64>,
    group_id: Option<i64>,
    /// Optional caption, at most 4000 characters.
    text: Option<String>,
    /// Optional idempotency key, 1–64 characters, unique per sender.
    client_id: Option<String>,
    /// v2: a message of the same chat this one answers.
    reply_to: Option<i64>,
}

fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge("the upload is larger than the limit".into())
    } else {
        AppError::validation(format!("multipart: {}", e.body_text()))
    }
}

async fn small_text(mut field: Field<'_>, name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_FIELD {
            return Err(AppError::validation(format!("{name} is too long")));
        }
    }
    String::from_utf8(bytes).map_err(|_| AppError::validation(format!("{name} must be UTF-8 text")))
}

/// The text fields of an upload form, as they arrive.
#[derive(Default)]
struct UploadForm {
    to: Option<String>,
    chat_id: Option<String>,
    group_id: Option<String>,
    text: Option<String>,
    client_id: Option<String>,
    reply_to: Option<String>,
}

impl UploadForm {
    fn has_target(&self) -> bool {
        self.to.is_some() || self.chat_id.is_some() || self.group_id.is_some()
    }

    fn target(&self) -> Result<ChatTarget> {
        let id = |raw: &Option<String>, field| -> Result<Option<i64>> {
            raw.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| parse_id_str(s.trim(), field))
                .transpose()
        };
        ChatTarget::parse(&TargetFields {
            to: id(&self.to, "to")?,
            chat_id: id(&self.chat_id, "chat_id")?,
            group_id: id(&self.group_id, "group_id")?,
        })
    }

    fn reply_to(&self) -> Result<Option<i64>> {
        self.reply_to
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_id_str(s.trim(), "reply_to"))
            .transpose()
    }

    /// Forms send empty fields for blank inputs: an empty key is no key.
    fn client_id(&self) -> Result<Option<ClientId>> {
        ClientId::parse(self.client_id.clone().filter(|s| !s.is_empty()))
    }
}

/// Send a file (PDF, JPEG, PNG) as a message.
#[utoipa::path(post, path = "/uploads", tag = "Uploads", security(("bearer" = [])),
    request_body(content = UploadRequest, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and broadcast as `receive_file`", body = MessageResponse),
        (status = 200, description = "A repeated client_id: the message stored the first time", body = MessageResponse),
        (status = 400, description = "`validation_failed`, `message_too_long`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`user_not_found`, `chat_not_found`, `group_not_found`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`: over the upload limit", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not PDF, JPEG or PNG, or not multipart", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn upload(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Reply<MessageResponse>> {
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(AppError::UnsupportedMediaType(
            "expected a multipart/form-data body".into(),
        ));
    }
    let mut multipart =
        multipart.map_err(|e| AppError::validation(format!("multipart: {}", e.body_text())))?;
    let mut form = UploadForm::default();
    let mut file: Option<(StagedFile, FileName)> = None;
    let mut prechecked = false;

    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(AppError::validation("send one file per upload"));
                }
                // Refuse what can be refused before reading the bytes, if
                // the target came first (as forms usually send it).
                if form.has_target() {
                    let target = form.target()?;
                    if let Precheck::Earlier(sent) =
                        precheck(&state, caller.id, target, form.client_id()?.as_ref()).await?
                    {
                        return Ok(sent_reply(&state, *sent));
                    }
                    prechecked = true;
                }
                let filename = FileName::clean(field.file_name());
                let staged = stage(&state, field).await?;
                file = Some((staged, filename));
            }
            "to" => form.to = Some(small_text(field, "to").await?),
            "chat_id" => form.chat_id = Some(small_text(field, "chat_id").await?),
            "group_id" => form.group_id = Some(small_text(field, "group_id").await?),
            "text" => form.text = Some(small_text(field, "text").await?),
            "client_id" => form.client_id = Some(small_text(field, "client_id").await?),
            "reply_to" => form.reply_to = Some(small_text(field, "reply_to").await?),
            _ => {
                small_text(field, "an unknown field").await?;
            }
        }
    }
    let (staged, filename) = file.ok_or_else(|| AppError::validation("file is required"))?;
    let target = form.target()?;
    if !prechecked
        && let Precheck::Earlier(sent) =
            precheck(&state, caller.id, target, form.client_id()?.as_ref()).await?
    {
        return Ok(sent_reply(&state, *sent));
    }
    let upload = FileUpload {
        target,
        filename,
        caption: MessageText::parse_caption(form.text.clone())?,
        client_id: form.client_id()?,
        reply_to: form.reply_to()?,
        staged,
    };
    let sent = send_file(&state, caller.id, upload, None).await?;
    Ok(sent_reply(&state, sent))
}

async fn stage(state: &AppState, mut field: Field<'_>) -> Result<StagedFile> {
    let mut staging = Staging::start(&state.staging_dir, state.config.max_upload_bytes).await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        staging.write(&chunk).await?;
    }
    staging.finish().await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FileQuery {
    /// The user the URL was signed for (it works while they are a member
    /// of the file's chat).
    u: Option<String>,
    /// Expiry of the signature, Unix seconds.
    exp: Option<String>,
    /// The signature, from `attachment.url`.
    sig: Option<String>,
}

/// RFC 5987 `attr-char`: what may stand unescaped in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `inline; filename="ascii fallback"; filename*=UTF-8''percent-encoded`.
fn content_disposition(filename: &str) -> HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "inline; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR_CHAR)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("inline"))
}

/// A file's bytes, by signed URL (as in `attachment.url`) or a member's token.
#[utoipa::path(get, path = "/files/{id}/{filename}", tag = "Uploads", security((), ("bearer" = [])),
    params(
        ("id" = i64, Path, description = "The attachment id"),
        ("filename" = String, Path, description = "Any name; the original one is in Content-Disposition"),
        FileQuery,
    ),
    responses(
        (status = 200, description = "The bytes, with the stored type", content(
            (Vec<u8> = "application/pdf"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"))),
        (status = 206, description = "A Range request's slice"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "`unauthorized`: bad or expired signature and no token", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`not_found`", body = ErrorResponse),
    ))]
async fn download(
    State(state): State<AppState>,
    Path((id, _filename)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<FileQuery>,
    request: Request,
) -> Result<Response> {
    let id = parse_id_str(&id, "id")?;
    let signed = state
        .files
        .verify(id, query.u.as_deref(), query.exp.as_deref(), query.sig.as_deref());
    let viewer = if let Some(user) = signed {
        user
    } else {
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::bearer_token)
            .ok_or(AppError::Unauthorized("missing, bad or expired file signature"))?;
        auth::authenticate(&state, token).await?.id
    };
    let attachment = state.store.attachment(id, Some(viewer)).await?;

    let etag = HeaderValue::from_str(&format!("\"{}\"", attachment.sha256)).map_err(AppError::internal)?;
    let not_modified = request.headers().get(header::IF_NONE_MATCH).is_some_and(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii() == etag.as_bytes() || t.trim_ascii() == b"*")
    });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        state
            .blobs
            .serve(&attachment.sha256, request)
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    AppError::NotFound(format!("the content of file {id} is missing"))
                } else {
                    AppError::internal(format_args!("serving blob: {e}"))
                }
            })?
    };
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&attachment.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(&attachment.filename),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    headers.insert(header::ETAG, etag);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_carries_both_names() {
        let v = content_disposition("résumé \"final\".pdf");
        assert_eq!(
            v.to_str().unwrap(),
            "inline; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
    }
}
