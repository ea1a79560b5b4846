//! The OpenAPI document and its docs page. The document is generated from
//! the handlers' own annotations as the router is built (utoipa-axum), so
//! a route cannot be served without being described. `/openapi.json` serves
//! it; `/docs` is Swagger UI, embedded in the binary (no network needed).

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "chat-server",
        description = "A self-hosted chat backend: REST here, real time over Socket.IO v4 on the same \
                       port (path /socket.io/; see the README for its events). Errors always have the \
                       body {\"error\": {\"code\", \"message\"}}.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "Health"), (name = "Auth"), (name = "Users"), (name = "Chats"),
        (name = "Groups"), (name = "Uploads"), (name = "Demo"), (name = "Docs"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme: `Authorization: Bearer <token>`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The finished document as JSON. The same for every server in a process:
/// it depends on the code only.
static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();

/// A router that starts with this crate's document info.
pub fn base() -> OpenApiRouter<AppState> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    OpenApiRouter::with_openapi(doc).routes(routes!(openapi_json))
}

/// Keeps the finished document for `/openapi.json`, and returns the docs
/// page that reads it.
pub fn publish(mut doc: OpenApi) -> Router<AppState> {
    // axum's catch-all `{*name}` is OpenAPI's plain `{name}`.
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    // Any status not listed (413, 415, 431, 500, 503…) still has the one
    // error body: say so once per operation.
    let any_error = ResponseBuilder::new()
        .description("Any other error, always with the contract's error body")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
            if operation
                .tags
                .as_ref()
                .is_some_and(|t| t.iter().any(|t| t == "Demo" || t == "Docs"))
            {
                continue;
            }
            operation
                .responses
                .responses
                .entry("default".into())
                .or_insert_with(|| any_error.clone().into());
        }
    }
    // The docs page is Swagger UI's own router; describe it by hand.
    let docs_page = OperationBuilder::new()
        .tag("Docs")
        .summary(Some("This API's docs page (Swagger UI, served from the binary)"))
        .response("200", ResponseBuilder::new().description("HTML").build())
        .build();
    doc.paths
        .add_path_operation("/docs/", vec![HttpMethod::Get], docs_page);
    DOCUMENT.get_or_init(|| serde_json::to_vec(&doc).unwrap_or_default());
    SwaggerUi::new("/docs")
        .config(Config::new(["/openapi.json"]))
        .into()
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "Docs",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> Response {
    let body = DOCUMENT.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
