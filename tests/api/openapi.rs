//! The OpenAPI document: every route of the contract is in it, every route
//! in it is served, and the docs page works offline.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

/// `/chats/:chatId` and `/chats/{chat_id}` both become `/chats/{}`.
fn normalize(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with(':') || seg.starts_with('{') {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The sections of `../shared/API-v2.md` this server implements so far;
/// each new one joins the list with its routes.
const V2_SECTIONS: &[&str] = &[
    "Sessions and accounts (v2)",
    "Messages: replies, edits, deletions, reactions (v2)",
    "Search (v2)",
    "Groups: rename, leave, remove, roles (v2)",
    "Catch-up without gaps (v2)",
];

/// The (method, path) pairs in the route tables of `text`, limited to the
/// `## ` sections `sections` names (all of them when `None`). A cell may
/// name several routes (`POST /a`, `POST /b`).
fn routes_in(text: &str, sections: Option<&[&str]>) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut included = sections.is_none();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            included = sections.is_none_or(|names| names.contains(&title.trim()));
            continue;
        }
        if !included {
            continue;
        }
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let cell = rest.split(" |").next().unwrap_or_default();
        for route in cell.split('`').step_by(2) {
            let Some((method, path)) = route.trim().split_once(' ') else {
                continue;
            };
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
                routes.insert((method.to_string(), normalize(path)));
            }
        }
    }
    routes
}

/// The routes of the contract: v1's REST table, and v2's built sections.
fn contract_routes() -> BTreeSet<(String, String)> {
    let read = |name: &str| {
        let path = format!("{}/../shared/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the contract at {path}: {e}"))
    };
    let v1 = routes_in(&read("API.md"), None);
    assert!(v1.len() >= 17, "parsed v1's REST table: {v1:?}");
    let v2 = routes_in(&read("API-v2.md"), Some(V2_SECTIONS));
    assert!(v2.len() >= 8, "parsed v2's sessions table: {v2:?}");
    v1.union(&v2).cloned().collect()
}

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), normalize(path)));
        }
    }
    routes
}

#[tokio::test]
async fn every_contract_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    let documented = documented_routes(&doc);

    let missing: Vec<_> = contract_routes().difference(&documented).cloned().collect();
    assert!(
        missing.is_empty(),
        "contract routes missing from /openapi.json: {missing:?}"
    );

    for (method, path) in &documented {
        let concrete = path.replace("{}", "1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = app.client.request(method.clone(), app.url(&concrete));
        if method == Method::POST {
            request = request.json(&serde_json::json!({}));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED || body.contains("no route for");
        assert!(
            !unrouted,
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
}

#[tokio::test]
async fn errors_and_security_are_described() {
    let app = spawn_app().await;
    let (_, doc) = app.get("/openapi.json", None).await;
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorResponse"];
    assert!(error.is_object(), "ErrorResponse schema");
    let send = &doc["paths"]["/chats/send-message"]["post"];
    for status in ["201", "200", "400", "401", "403", "404"] {
        assert!(
            send["responses"][status].is_object(),
            "send-message documents {status}"
        );
    }
    assert!(doc["paths"]["/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object());
}

#[tokio::test]
async fn the_v2_session_fields_are_described() {
    let app = spawn_app().await;
    let (_, doc) = app.get("/openapi.json", None).await;
    let schemas = &doc["components"]["schemas"];
    for field in [
        "id",
        "device_name",
        "user_agent",
        "ip",
        "created_at",
        "last_used_at",
        "current",
    ] {
        assert!(
            schemas["Session"]["properties"][field].is_object(),
            "Session.{field}"
        );
    }
    for field in [
        "user",
        "token",
        "expires_at",
        "refresh_token",
        "refresh_expires_at",
        "session",
    ] {
        assert!(
            schemas["AuthBody"]["properties"][field].is_object(),
            "AuthBody.{field}"
        );
    }
    for body in ["RegisterBody", "LoginBody"] {
        assert!(
            schemas[body]["properties"]["device_name"].is_object(),
            "{body}.device_name"
        );
    }
    let register = &doc["paths"]["/auth/register"]["post"]["responses"];
    assert!(
        register["403"]["description"]
            .as_str()
            .unwrap()
            .contains("registration_closed")
    );
    let login = &doc["paths"]["/auth/login"]["post"]["responses"];
    assert!(
        login["403"]["description"]
            .as_str()
            .unwrap()
            .contains("account_disabled")
    );
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI HTML");
    let config = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert!(config.text().await.unwrap().contains("/openapi.json"));
}
