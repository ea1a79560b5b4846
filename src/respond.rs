//! The REST door's way out: JSON answers whose attachment URLs are minted
//! as they leave (`FileSigner::signed`), with their status. Every handler
//! that answers with data answers through [`Reply`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::credentials::Signable;
use crate::error::ApiJson;
use crate::state::AppState;

/// A signed JSON answer.
pub struct Reply<T>(StatusCode, T);

impl<T: Serialize + Signable> Reply<T> {
    /// 200 with `value`.
    pub fn ok(state: &AppState, value: T) -> Self {
        Self::with_status(StatusCode::OK, state, value)
    }

    /// 201 with `value`.
    pub fn created(state: &AppState, value: T) -> Self {
        Self::with_status(StatusCode::CREATED, state, value)
    }

    pub fn with_status(status: StatusCode, state: &AppState, value: T) -> Self {
        Reply(status, state.files.signed(value))
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (self.0, ApiJson(self.1)).into_response()
    }
}
